//! `listdir`: the example command. Copy this file, rename the type, and add one line to
//! `commands!` in `mod.rs`.

use std::io::Write;
use std::path::PathBuf;

use aws_exec_backend::rpc::RpcError;
use aws_exec_backend::{Rpc, RpcContext};
use serde::{Deserialize, Serialize};

/// Args come from the command line (`aws-exec listdir PATH`) or from JSON
/// (`aws-exec rpc listdir '{"path": "."}'`).
#[derive(Debug, clap::Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listdir {
    /// The directory to list
    #[arg(default_value = ".")]
    #[serde(default = "current_dir")]
    pub path: PathBuf,
}

fn current_dir() -> PathBuf {
    PathBuf::from(".")
}

impl Rpc for Listdir {
    const NAME: &'static str = "listdir";

    async fn run(self, mut ctx: RpcContext) -> Result<i32, RpcError> {
        let mut dir = tokio::fs::read_dir(&self.path)
            .await
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        let mut names = Vec::new();
        while let Some(entry) = dir.next_entry().await? {
            if ctx.is_cancelled() {
                return Ok(130);
            }
            let mut name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().await.is_ok_and(|t| t.is_dir()) {
                name.push('/');
            }
            names.push(name);
        }
        names.sort();
        for name in names {
            writeln!(ctx.log, "{name}")?;
        }
        Ok(0)
    }
}
