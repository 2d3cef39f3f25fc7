//! The built-in operations, one file each.

pub mod artifacts;
#[cfg(feature = "server")]
pub mod auth;
pub mod cancel;
pub mod completions;
pub mod exec;
#[cfg(feature = "server")]
pub mod lambda;
pub mod login;
pub mod ls;
pub mod man;
pub mod notify;
pub mod rerun;
pub mod rpc;
#[cfg(feature = "server")]
pub mod run_job;
pub mod schedule;
pub mod secret;
#[cfg(feature = "server")]
pub mod serve;
pub mod state;
pub mod status;
#[cfg(feature = "server")]
pub mod store;
pub mod tail;
pub mod trigger;
pub mod upload;
pub mod usage;
pub mod whoami;

use std::io::Write;

use crate::cli::{Cmd, ServiceCmd};

/// Runs a command that calls a service. Those that are the service itself come back
/// untouched, for `aws-exec-server` to run.
pub async fn call(command: Cmd) -> Result<anyhow::Result<i32>, ServiceCmd> {
    Ok(match command {
        Cmd::Exec(args) => exec::run(args).await,
        Cmd::Rpc(args) => rpc::run(args).await,
        Cmd::Tail(args) => tail::run(args).await,
        Cmd::Cancel(args) => cancel::run(args).await,
        Cmd::Rerun(args) => rerun::run(args).await,
        Cmd::Login(args) => login::login(args).await,
        Cmd::Logout(args) => login::logout(args),
        Cmd::Whoami(args) => whoami::run(args).await,
        Cmd::Completions(args) => completions::run(args),
        Cmd::Man(args) => man::run(args),
        Cmd::Ls(args) => ls::run(args).await,
        Cmd::Status(args) => status::run(args).await,
        Cmd::Usage(args) => usage::run(args).await,
        Cmd::Artifacts(args) => artifacts::run(args).await,
        Cmd::Schedule(args) => schedule::run(args).await,
        Cmd::Trigger(args) => trigger::run(args).await,
        Cmd::Secret(args) => secret::run(args).await,
        Cmd::Notify(args) => notify::run(args).await,
        Cmd::Upload(args) => upload::run(args).await,
        Cmd::Serve(args) => return Err(ServiceCmd::Serve(args)),
        Cmd::Auth(args) => return Err(ServiceCmd::Auth(args)),
        Cmd::RunJob(args) => return Err(ServiceCmd::RunJob(args)),
        #[cfg(feature = "server")]
        Cmd::User(command) => return Err(ServiceCmd::User(command)),
        #[cfg(not(feature = "server"))]
        Cmd::Service(_) => return Err(ServiceCmd::Other),
    })
}

/// A definition's last run in one cell: `UID state exit`, why it skipped, or `-`.
pub fn last_run(last: Option<&aws_exec_client::LastRun>) -> String {
    let Some(last) = last else {
        return "-".to_owned();
    };
    match (&last.uid, &last.skipped) {
        (Some(uid), _) => {
            let state = last.state.map_or("?", |s| s.as_str());
            let exit = last.exit.map_or(String::new(), |e| format!(" exit {e}"));
            format!("{uid} {state}{exit}")
        }
        (None, Some(why)) => format!("skipped: {why}"),
        (None, None) => "-".to_owned(),
    }
}

/// The exit code a followed job ended with, once what the service said of it (timed out,
/// cancelled, its log cut) is on stderr: stdout carries the job's bytes alone.
pub fn ended(ended: aws_exec_client::Ended) -> i32 {
    for note in &ended.notes {
        eprintln!("aws-exec: {note}");
    }
    ended.exit
}

/// The exit code of a command whose output's reader went away (`| head`), as a shell
/// reports a death by SIGPIPE.
pub const PIPE_CLOSED: i32 = 141;

/// Writes a job's raw log bytes to stdout as they arrive, until stdout cannot take them
/// (its reader closed the pipe, or a disk filled): then it writes nothing more, and the
/// returned [`Closed`] completes, for the command to stop following rather than read a log
/// nobody will see.
pub fn stdout_sink() -> (impl FnMut(&[u8]) + Send, Closed) {
    let closed = Closed::default();
    let signal = closed.clone();
    let mut open = true;
    let sink = move |bytes: &[u8]| {
        if !open {
            return;
        }
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
            open = false;
            signal.close(e);
        }
    };
    (sink, closed)
}

/// Completes once stdout was closed under a command; see [`stdout_sink`].
#[derive(Clone, Default)]
pub struct Closed {
    inner: std::sync::Arc<ClosedInner>,
}

#[derive(Default)]
struct ClosedInner {
    notify: tokio::sync::Notify,
    error: std::sync::Mutex<Option<std::io::Error>>,
}

impl Closed {
    fn close(&self, error: std::io::Error) {
        *self.inner.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
        self.inner.notify.notify_one();
    }

    /// Waits until stdout is closed; answers the exit code the command ends with: 141 for
    /// a closed pipe (said nothing of, as any command in a pipeline), else a CLI error,
    /// said on stderr.
    pub async fn wait(&self) -> i32 {
        self.inner.notify.notified().await;
        let error = self.inner.error.lock().unwrap_or_else(|p| p.into_inner());
        match error.as_ref() {
            Some(e) if e.kind() == std::io::ErrorKind::BrokenPipe => PIPE_CLOSED,
            Some(e) => {
                eprintln!("aws-exec: writing the job's output: {e}");
                crate::CLI_ERROR
            }
            None => crate::CLI_ERROR,
        }
    }
}
