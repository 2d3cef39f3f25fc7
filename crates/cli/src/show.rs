//! How the command line shows things to people: a command quoted as a shell would take it
//! back, and times as a glance reads them (`5m ago`, `in 2h`).

use aws_exec_client::JobMeta;
use aws_exec_protocol::wire::Command;

/// The command as a shell would read it back: each word quoted where it needs to be.
pub fn command(command: &Command) -> String {
    match command {
        Command::Argv { argv } => quoted(argv.iter().map(String::as_str)),
        Command::Rpc { name, args } => quoted(["rpc", name.as_str(), args.as_str()]),
    }
}

fn quoted<'a>(words: impl IntoIterator<Item = &'a str>) -> String {
    words
        .into_iter()
        .map(|word| match shlex::try_quote(word) {
            Ok(word) => word.into_owned(),
            // Only a NUL byte cannot be quoted, and no command holds one.
            Err(_) => format!("{word:?}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How far from now `at` (epoch seconds) is, ahead: `in 5m`, or `now` once it has come.
pub fn ahead(at: u64) -> String {
    match at.saturating_sub(now()) {
        0 => "now".to_owned(),
        secs => format!("in {}", short(secs)),
    }
}

/// How long ago `since` (epoch seconds) was, in the largest whole unit: 42s, 5m, 3h, 2d.
pub fn age(since: u64) -> String {
    short(now().saturating_sub(since))
}

/// A moment as people read it, in UTC: `2026-12-04 02:30:00 UTC`.
pub fn moment(at: u64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(at);
    let mut text = humantime::format_rfc3339_seconds(time).to_string();
    text = text.replace('T', " ").replace('Z', " UTC");
    text
}

/// How long the job ran (or has been running); `-` before it started.
pub fn duration(job: &JobMeta) -> String {
    match job.started {
        Some(started) => short(job.finished.unwrap_or_else(now).saturating_sub(started)),
        None => "-".to_owned(),
    }
}

pub fn short(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 2 * 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(short(5), "5s");
        assert_eq!(short(600), "10m");
        assert_eq!(short(5 * 3600), "5h");
        assert_eq!(short(3 * 86400), "3d");
        assert_eq!(moment(0), "1970-01-01 00:00:00 UTC");
    }

    #[test]
    fn commands_read_back_as_a_shell_would() {
        let argv = |words: &[&str]| Command::Argv {
            argv: words.iter().map(|w| w.to_string()).collect(),
        };
        assert_eq!(command(&argv(&["echo", "hi"])), "echo hi");
        assert_eq!(
            command(&argv(&["sh", "-c", "echo $HOME; ls"])),
            "sh -c 'echo $HOME; ls'"
        );
        assert_eq!(command(&argv(&["printf", ""])), "printf ''");
        assert_eq!(command(&argv(&["echo", "it's"])), r#"echo "it's""#);
    }
}

/// A size as people read it: 512 B, 1.5 KiB, 208 MiB, 2.0 GiB.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    match value < 10.0 {
        true => format!("{value:.1} {}", UNITS[unit]),
        false => format!("{value:.0} {}", UNITS[unit]),
    }
}

/// Milliseconds as seconds: 0.004 s, 1.11 s, 96.2 s.
pub fn seconds(ms: u64) -> String {
    let s = ms as f64 / 1000.0;
    match s {
        s if s < 1.0 => format!("{s:.3} s"),
        s if s < 10.0 => format!("{s:.2} s"),
        s => format!("{s:.1} s"),
    }
}

/// Billionths of a dollar as dollars, to the last digit that is not zero: $0.0000135.
pub fn usd(nano: u64) -> String {
    let text = format!("{:.9}", nano as f64 / 1e9);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("${text}")
}

/// One run's usage on a line: wall time, CPU (user and system), peak memory, log size.
pub fn usage(u: &aws_exec_protocol::Usage) -> String {
    format!(
        "{} wall, {} CPU ({} user, {} system), {} peak memory, {} of log",
        seconds(u.wall_ms),
        seconds(u.cpu_user_ms + u.cpu_system_ms),
        seconds(u.cpu_user_ms),
        seconds(u.cpu_system_ms),
        bytes(u.peak_memory_bytes),
        bytes(u.log_bytes)
    )
}

#[cfg(test)]
mod usage_tests {
    use super::*;

    #[test]
    fn sizes_times_and_money_read_as_people_write_them() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(217_948_160), "208 MiB");
        assert_eq!(seconds(4), "0.004 s");
        assert_eq!(seconds(1110), "1.11 s");
        assert_eq!(usd(13_533), "$0.000013533");
        assert_eq!(usd(2_000_000_000), "$2");
    }
}
