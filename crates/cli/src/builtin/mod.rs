//! The built-in operations, one file each.

pub mod artifacts;
#[cfg(feature = "server")]
pub mod auth;
pub mod cancel;
pub mod exec;
#[cfg(feature = "server")]
pub mod lambda;
pub mod ls;
pub mod rpc;
pub mod schedule;
#[cfg(feature = "server")]
pub mod serve;
pub mod status;
#[cfg(feature = "server")]
pub mod store;
pub mod tail;
pub mod trigger;
pub mod upload;

use std::io::Write;

use anyhow::Context;
use aws_exec_client::{service_url, Client};

use crate::cli::{Cmd, Remote, ServiceCmd};

/// Runs a command that calls a service. Those that are the service itself come back
/// untouched, for `aws-exec-server` to run.
pub async fn call(command: Cmd) -> Result<anyhow::Result<i32>, ServiceCmd> {
    Ok(match command {
        Cmd::Exec(args) => exec::run(args).await,
        Cmd::Rpc(args) => rpc::run(args).await,
        Cmd::Tail(args) => tail::run(args).await,
        Cmd::Cancel(args) => cancel::run(args).await,
        Cmd::Ls(args) => ls::run(args).await,
        Cmd::Status(args) => status::run(args).await,
        Cmd::Artifacts(args) => artifacts::run(args).await,
        Cmd::Schedule(args) => schedule::run(args).await,
        Cmd::Trigger(args) => trigger::run(args).await,
        Cmd::Upload(args) => upload::run(args).await,
        Cmd::Serve(args) => return Err(ServiceCmd::Serve(args)),
        Cmd::Auth(args) => return Err(ServiceCmd::Auth(args)),
        #[cfg(feature = "server")]
        Cmd::User(command) => return Err(ServiceCmd::User(command)),
        #[cfg(not(feature = "server"))]
        Cmd::Service(_) => return Err(ServiceCmd::Other),
    })
}

impl Remote {
    pub fn client(&self) -> anyhow::Result<Client> {
        let auth = self.auth.clone().context(
            "no auth key: pass --auth or set AUTH (`aws-exec serve` prints one on first start)",
        )?;
        Ok(Client::new(service_url(self.url.as_deref()), auth)?)
    }
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

/// Writes a job's raw log bytes to stdout as they arrive.
pub fn stdout_sink() -> impl FnMut(&[u8]) + Send {
    |bytes: &[u8]| {
        let mut out = std::io::stdout().lock();
        // A closed stdout (`| head`) must not kill the wait for the exit code.
        let _ = out.write_all(bytes).and_then(|()| out.flush());
    }
}
