//! The built-in operations, one file each.

pub mod auth;
pub mod exec;
pub mod lambda;
pub mod rpc;
pub mod serve;
pub mod tail;

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use aws_exec_backend::local::Storage;
use aws_exec_client::{service_url, Client};

use crate::cli::{Remote, StoreArgs};

impl Remote {
    pub fn client(&self) -> anyhow::Result<Client> {
        let auth = self.auth.clone().context(
            "no auth key: pass --auth or set AUTH (`aws-exec serve` prints one on first start)",
        )?;
        Ok(Client::new(service_url(self.url.as_deref()), auth)?)
    }
}

impl StoreArgs {
    pub fn storage(&self) -> Storage {
        match (&self.bucket, &self.data_dir) {
            (Some(bucket), None) if !bucket.is_empty() => Storage::Bucket(bucket.clone()),
            _ => Storage::Dir(self.data_dir()),
        }
    }

    fn data_dir(&self) -> PathBuf {
        if let Some(dir) = &self.data_dir {
            return dir.clone();
        }
        let env = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(dir) = env("AWS_EXEC_DATA_DIR") {
            return dir.into();
        }
        if let Some(dir) = env("XDG_DATA_HOME") {
            return PathBuf::from(dir).join("aws-exec");
        }
        match env("HOME") {
            Some(home) => PathBuf::from(home).join(".local/share/aws-exec"),
            None => PathBuf::from("aws-exec-data"),
        }
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
