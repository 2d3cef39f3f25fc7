//! The built-in operations, one file each.

pub mod artifacts;
pub mod auth;
pub mod cancel;
pub mod exec;
pub mod lambda;
pub mod ls;
pub mod rpc;
pub mod schedule;
pub mod serve;
pub mod status;
pub mod tail;
pub mod trigger;
pub mod upload;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use aws_exec_backend::serve::StoreLocation;
use aws_exec_client::{service_url, Client};

use crate::cli::{Cmd, Remote, ServiceCmd, StoreArgs};

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
        Cmd::User(command) => return Err(ServiceCmd::User(command)),
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

impl StoreArgs {
    /// Where to keep data, by the rule `--help` gives: flags beat variables.
    pub fn location(&self) -> StoreLocation {
        let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        self.location_with(&env)
    }

    fn location_with(&self, env: &dyn Fn(&str) -> Option<OsString>) -> StoreLocation {
        if let Some(dir) = &self.data_dir {
            return StoreLocation::Dir(dir.clone());
        }
        if let Some(bucket) = self.bucket.as_ref().filter(|b| !b.is_empty()) {
            return StoreLocation::Bucket(bucket.clone());
        }
        if let Some(dir) = env("AWS_EXEC_DATA_DIR") {
            return StoreLocation::Dir(dir.into());
        }
        if let Some(bucket) = env("PROJECT_BUCKET") {
            return StoreLocation::Bucket(bucket.to_string_lossy().into_owned());
        }
        StoreLocation::Dir(match (env("XDG_DATA_HOME"), env("HOME")) {
            (Some(data), _) => PathBuf::from(data).join("aws-exec"),
            (None, Some(home)) => PathBuf::from(home).join(".local/share/aws-exec"),
            (None, None) => PathBuf::from("aws-exec-data"),
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(
        data_dir: Option<&str>,
        bucket: Option<&str>,
        vars: &[(&str, &str)],
    ) -> StoreLocation {
        let args = StoreArgs {
            data_dir: data_dir.map(PathBuf::from),
            bucket: bucket.map(str::to_owned),
        };
        let vars: Vec<(String, OsString)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.into()))
            .collect();
        args.location_with(&|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn flags_beat_variables() {
        let both = [
            ("PROJECT_BUCKET", "prod-bucket"),
            ("AWS_EXEC_DATA_DIR", "/env-dir"),
        ];
        let dir = |d: &str| StoreLocation::Dir(d.into());
        let bucket = |b: &str| StoreLocation::Bucket(b.into());
        assert_eq!(resolve(Some("/flag"), None, &both), dir("/flag"));
        assert_eq!(
            resolve(None, Some("flag-bucket"), &both),
            bucket("flag-bucket")
        );
        assert_eq!(resolve(None, None, &both), dir("/env-dir"));
        assert_eq!(resolve(None, None, &both[..1]), bucket("prod-bucket"));
        assert_eq!(
            resolve(None, None, &[("HOME", "/home/u")]),
            dir("/home/u/.local/share/aws-exec")
        );
    }
}
