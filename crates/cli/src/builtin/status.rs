//! `aws-exec status UID`: one job's metadata, for a person or as JSON.

use aws_exec_client::JobMeta;

use crate::cli::StatusArgs;

pub async fn run(args: StatusArgs) -> anyhow::Result<i32> {
    let client = args.remote.client()?;
    let job = client.status(&args.uid).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&job)?);
        return Ok(0);
    }
    println!("uid:       {}", job.uid.as_str());
    println!("command:   {}", job.command.display());
    println!("state:     {}", job.state);
    if let Some(exit) = job.exit {
        println!("exit:      {exit}");
    }
    println!("submitted: {} ago", age(job.submitted));
    println!("duration:  {}", duration(&job));
    if let Some(timeout) = job.timeout {
        println!("timeout:   {timeout}s");
    }
    if let Some(schedule) = &job.schedule {
        println!("schedule:  {schedule}");
    }
    if let Some(trigger) = &job.trigger {
        println!("trigger:   {trigger}");
    }
    Ok(0)
}

fn now() -> u64 {
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

/// How long the job ran (or has been running); `-` before it started.
pub fn duration(job: &JobMeta) -> String {
    match job.started {
        Some(started) => short(job.finished.unwrap_or_else(now).saturating_sub(started)),
        None => "-".to_owned(),
    }
}

fn short(secs: u64) -> String {
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
    }
}
