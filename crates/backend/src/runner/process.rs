//! Runs an argv as a subprocess in its own process group, its stdout and stderr read from
//! the one pipe they share, as raw bytes into the log, in the order they were written.

use std::ffi::OsString;
use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use aws_exec_protocol::schedules::{INPUT_ENV, INPUT_PATH_ENV};
use aws_exec_protocol::{JobEnv, ARTIFACTS_ENV};

use crate::runner::isolation;
use crate::runner::workspace::Workspace;
use bytes::Bytes;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::spawn::{Launch, Launched, Process};
use crate::log_sink::LogWriter;
use crate::usage::Rusage;

/// Variables a command must never inherit from the service: its AWS credentials and the
/// caller-facing auth key.
pub const SCRUBBED_ENV: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AUTH",
];

/// How a process run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessEnd {
    /// It exited by itself with this code.
    Exited(i32),
    /// A signal we did not send ended it; the code is 128+N.
    Signaled(i32),
    /// It could not be started (127 not found, 126 not executable).
    NotStarted(i32),
    /// We stopped it because `stop` fired; the code is what it ended with.
    Stopped(i32),
}

/// The shell convention: the exit code, or 128+N for death by signal N.
pub fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

/// What to start: the argv, variables added to the service's (scrubbed) environment, and
/// standard input (`/dev/null` without).
pub struct Spec<'a> {
    pub argv: &'a [String],
    pub env: &'a JobEnv,
    /// Variables the service adds: the secrets it asked for, `$AWS_EXEC_STATE`.
    pub added: &'a [(&'a str, &'a str)],
    pub stdin: Option<Bytes>,
    /// The job's uid, carried by its processes as [`isolation::JOB_TAG`].
    pub tag: &'a str,
    /// Its own directory: working directory, `HOME`, and `TMPDIR` below it.
    pub workspace: &'a Workspace,
    /// The user and group to run as, when the service runs as root.
    pub run_as: Option<(u32, u32)>,
    /// A trigger's upload: its place in the workspace and its path in the owner's inbox.
    pub input: Option<(String, String)>,
}

/// Runs the command until it exits or `stop` fires; then SIGTERM to its group, and SIGKILL
/// after `grace`. Whatever is left of its group when it exits is killed, and so is every
/// process it left elsewhere ([`isolation::kill_strays`]).
pub async fn run(
    spec: Spec<'_>,
    log: &LogWriter,
    stop: &CancellationToken,
    grace: Duration,
) -> (ProcessEnd, Option<Rusage>) {
    let argv = spec.argv;
    let Some(program) = argv.first() else {
        // Nothing to start; the API refuses an empty argv, so this is only a guard.
        log.note("empty command");
        return (ProcessEnd::NotStarted(127), None);
    };
    let mut launch = Launch {
        argv,
        env: job_environment(&spec),
        cwd: &spec.workspace.dir,
        piped_stdin: spec.stdin.is_some(),
        run_as: spec.run_as,
    };
    let since = isolation::now_ticks();
    let (launched, live) = match isolation::spawn_tagged(&mut launch, spec.tag) {
        Ok(spawned) => spawned,
        Err(e) => {
            let (code, why) = match e.kind() {
                ErrorKind::NotFound => (127, "command not found".to_owned()),
                ErrorKind::PermissionDenied => (126, "permission denied".to_owned()),
                _ => (126, e.to_string()),
            };
            log.note(format!("{program}: {why}"));
            return (ProcessEnd::NotStarted(code), None);
        }
    };
    let Launched {
        process: mut child,
        stdin,
        output,
    } = launched;
    let group = Pid::from_raw(child.id() as i32);
    // Fed from a task, so a command that never reads its input cannot block the job; a
    // command that exits early just closes the pipe.
    let feeder = match (stdin, spec.stdin) {
        (Some(mut pipe), Some(bytes)) => Some(tokio::spawn(async move {
            let _ = pipe.write_all(&bytes).await;
        })),
        _ => None,
    };
    let reader = tokio::spawn(pump(output, log.clone()));

    let end = tokio::select! {
        status = child.wait() => match status {
            Ok(status) if status.signal().is_some() => ProcessEnd::Signaled(exit_code(status)),
            Ok(status) => ProcessEnd::Exited(exit_code(status)),
            Err(_) => ProcessEnd::Exited(1),
        },
        _ = stop.cancelled() => ProcessEnd::Stopped(terminate(&mut child, group, grace).await),
    };
    let _ = killpg(group, Signal::SIGKILL);
    // Then whatever left the group (setsid, a double fork): with the service a child
    // subreaper, all of it was reparented here.
    drop(live);
    let killed = isolation::kill_strays(spec.tag, since).await;
    if killed > 0 {
        tracing::info!(
            uid = spec.tag,
            killed,
            "killed processes the job left behind"
        );
    }
    if let Some(feeder) = feeder {
        feeder.abort();
    }
    // Output still in the pipe is read to the end; a stray that escaped the group and
    // holds the pipe open cannot keep the job alive.
    let abort = reader.abort_handle();
    if tokio::time::timeout(Duration::from_secs(2), reader)
        .await
        .is_err()
    {
        abort.abort();
    }
    (end, child.usage())
}

/// The service's environment without [`SCRUBBED_ENV`], then the job's variables, its
/// directories, and a trigger's input.
fn job_environment(spec: &Spec<'_>) -> Vec<(OsString, OsString)> {
    let mut env: std::collections::BTreeMap<OsString, OsString> = std::env::vars_os()
        .filter(|(k, _)| !SCRUBBED_ENV.iter().any(|s| k == s))
        .collect();
    if let Some((user, group)) = spec.run_as {
        // The service's PATH may name directories its own user alone can enter (root's
        // ~/.cargo/bin): a search through them fails as "permission denied" rather than
        // "not found", so the job's user gets only those it can search.
        if let Some(path) = env.get(std::ffi::OsStr::new("PATH")) {
            env.insert("PATH".into(), recently_searchable_path(path, user, group));
        }
    }
    env.extend(spec.env.iter().map(|(k, v)| (k.into(), v.into())));
    env.extend(spec.added.iter().map(|&(k, v)| (k.into(), v.into())));
    let ws = spec.workspace;
    env.insert("HOME".into(), ws.dir.clone().into());
    env.insert("TMPDIR".into(), ws.tmp().into());
    env.insert(ARTIFACTS_ENV.into(), ws.artifacts().into());
    if let Some((file, path)) = &spec.input {
        env.insert(INPUT_ENV.into(), ws.dir.join(file).into());
        env.insert(INPUT_PATH_ENV.into(), path.into());
    }
    env.into_iter().collect()
}

/// [`searchable_path`], checked again once a second at most rather than at every job:
/// with a usual PATH that is some 45 `stat` calls, a tenth of the service's own work for a
/// short job. The answer only spares a job a misleading error, so a second's lag is fine.
fn recently_searchable_path(path: &std::ffi::OsStr, user: u32, group: u32) -> OsString {
    struct Checked {
        at: std::time::Instant,
        path: OsString,
        ids: (u32, u32),
        kept: OsString,
    }
    static LAST: std::sync::Mutex<Option<Checked>> = std::sync::Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    match &*last {
        Some(c) if c.path == path && c.ids == (user, group) && c.at.elapsed().as_secs() < 1 => {
            c.kept.clone()
        }
        _ => {
            let kept = searchable_path(path, user, group);
            *last = Some(Checked {
                at: std::time::Instant::now(),
                path: path.to_owned(),
                ids: (user, group),
                kept: kept.clone(),
            });
            kept
        }
    }
}

/// The directories of `path` that user `user` (group `group`) may search, in order;
/// the usual system directories when none is left.
pub fn searchable_path(path: &std::ffi::OsStr, user: u32, group: u32) -> OsString {
    use std::os::unix::ffi::OsStrExt;
    let kept: Vec<&[u8]> = path
        .as_bytes()
        .split(|&b| b == b':')
        .filter(|dir| {
            let dir = std::path::Path::new(std::ffi::OsStr::from_bytes(dir));
            dir.is_absolute() && searchable(dir, user, group)
        })
        .collect();
    match kept.is_empty() {
        true => OsString::from("/usr/local/bin:/usr/bin:/bin"),
        false => OsString::from(std::ffi::OsStr::from_bytes(&kept.join(&b':'))),
    }
}

/// Whether `user` may enter `dir` and every directory above it, by their modes (a
/// directory that is not there cannot hide a command, so it does not count).
fn searchable(dir: &std::path::Path, user: u32, group: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    dir.ancestors().all(|d| match std::fs::metadata(d) {
        Ok(m) if m.uid() == user => m.mode() & 0o100 != 0,
        Ok(m) if m.gid() == group => m.mode() & 0o010 != 0,
        Ok(m) => m.mode() & 0o001 != 0,
        Err(_) => false,
    })
}

async fn terminate(child: &mut Process, group: Pid, grace: Duration) -> i32 {
    let _ = killpg(group, Signal::SIGTERM);
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => status.map(exit_code).unwrap_or(1),
        Err(_) => {
            let _ = killpg(group, Signal::SIGKILL);
            let _ = child.start_kill();
            child.wait().await.map(exit_code).unwrap_or(128 + 9)
        }
    }
}

async fn pump(mut from: impl AsyncRead + Unpin, log: LogWriter) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            // The job waits on its pipe while the log falls behind.
            Ok(n) => log.write_waiting(Bytes::copy_from_slice(&buf[..n])).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_jobs_path_keeps_only_what_its_user_can_search() {
        let base = tempfile::tempdir().unwrap();
        let closed = base.path().join("closed");
        let open = base.path().join("open");
        std::fs::create_dir_all(closed.join("bin")).unwrap();
        std::fs::create_dir_all(&open).unwrap();
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!(
            "{}/bin:{}:relative:/usr/bin",
            closed.display(),
            open.display()
        );
        // Someone who owns none of it: only what others may enter is kept.
        let kept = searchable_path(OsStr::new(&path), 4_000_001, 4_000_001);
        assert_eq!(kept, OsString::from(format!("{}:/usr/bin", open.display())));
        let none = searchable_path(
            OsStr::new(&format!("{}/bin", closed.display())),
            4_000_001,
            4_000_001,
        );
        assert_eq!(none, OsString::from("/usr/local/bin:/usr/bin:/bin"));
    }

    #[test]
    fn a_remembered_path_answers_only_for_the_same_path_and_user() {
        use std::os::unix::fs::MetadataExt;
        let base = tempfile::tempdir().unwrap();
        let closed = base.path().join("closed");
        std::fs::create_dir_all(&closed).unwrap();
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("{}:/usr/bin", closed.display());
        let owner = std::fs::metadata(&closed).unwrap().uid();
        let stranger = recently_searchable_path(OsStr::new(&path), 4_000_001, 4_000_001);
        assert_eq!(stranger, OsString::from("/usr/bin"));
        // Another user, or another PATH, is checked afresh at once.
        let theirs = recently_searchable_path(OsStr::new(&path), owner, owner);
        assert_eq!(theirs, OsString::from(&path));
        let other = recently_searchable_path(OsStr::new("/usr/bin"), 4_000_001, 4_000_001);
        assert_eq!(other, OsString::from("/usr/bin"));
    }
}
