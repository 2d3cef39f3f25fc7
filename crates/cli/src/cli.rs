//! The command line, as clap reads it; each command's help is its doc comment.

use std::path::PathBuf;

use aws_exec_backend::serve;
use clap::{Args, Parser, Subcommand};

use crate::commands::UserCommand;

/// Run commands asynchronously on AWS Lambda or a local service, and follow their output.
#[derive(Debug, Parser)]
#[command(name = "aws-exec", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run a command on the service, stream its output, exit with its code.
    Exec(ExecArgs),
    /// Call a named function on the service with JSON args.
    Rpc(RpcArgs),
    /// Follow a job by uid from the start of its log to its exit code.
    Tail(TailArgs),
    /// Run the service locally: API, runner and web page on one machine.
    Serve(ServeArgs),
    /// Manage auth keys (stored as hashes beside the jobs).
    Auth(AuthArgs),
    #[command(flatten)]
    User(UserCommand),
}

/// How to reach the service.
#[derive(Debug, Args)]
pub struct Remote {
    /// Service URL [default: $PROJECT_URL, else https://$PROJECT_DOMAIN, else http://127.0.0.1:8080]
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Auth key
    #[arg(long, env = "AUTH", hide_env_values = true, value_name = "KEY")]
    pub auth: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// Print the job's uid to stderr before its output
    #[arg(long)]
    pub print_uid: bool,
    /// The command and its arguments (put them after `--`)
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub argv: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RpcArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// The function's name
    pub name: String,
    /// Its args as JSON text
    #[arg(default_value = "null")]
    pub args: String,
}

#[derive(Debug, Args)]
pub struct TailArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// The job's uid, as `exec --print-uid` or the web page shows it
    pub uid: String,
}

/// Where jobs and auth keys are kept: a data directory, or an S3 bucket. Flags beat
/// variables: --data-dir, else --bucket, else $AWS_EXEC_DATA_DIR, else $PROJECT_BUCKET,
/// else ~/.local/share/aws-exec.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Data directory [env: AWS_EXEC_DATA_DIR; default: ~/.local/share/aws-exec]
    #[arg(long, global = true, value_name = "DIR", conflicts_with = "bucket")]
    pub data_dir: Option<PathBuf>,
    /// Keep everything in this S3 bucket, AWS settings from the environment [env: PROJECT_BUCKET; a --data-dir or $AWS_EXEC_DATA_DIR wins over the variable]
    #[arg(long, global = true, value_name = "NAME")]
    pub bucket: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: std::net::SocketAddr,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Jobs that may run at once
    #[arg(long, default_value_t = serve::DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    /// Jobs that may wait for a free slot before submissions are refused (503)
    #[arg(long, default_value_t = serve::DEFAULT_QUEUE)]
    pub queue: usize,
    /// The URL callers reach this service at, if not the one they connect to (a proxy)
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct AuthArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(subcommand)]
    pub command: AuthCmd,
}

#[derive(Debug, Subcommand)]
pub enum AuthCmd {
    /// Create a key for NAME and print it (the only time it is shown)
    New { name: String },
    /// List key names and when they were created
    Ls,
    /// Remove NAME's key; its jobs stay
    Rm { name: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn store_flags_work_after_the_subcommand() {
        let cli =
            Cli::try_parse_from(["aws-exec", "auth", "new", "bob", "--data-dir", "/d"]).unwrap();
        let Cmd::Auth(args) = cli.command else {
            panic!("not auth")
        };
        assert_eq!(
            args.store.data_dir.as_deref(),
            Some(std::path::Path::new("/d"))
        );
        assert!(Cli::try_parse_from([
            "aws-exec",
            "auth",
            "ls",
            "--data-dir",
            "/d",
            "--bucket",
            "b"
        ])
        .is_err());
    }

    #[test]
    fn exec_takes_everything_after_the_separator() {
        let cli = Cli::try_parse_from(["aws-exec", "exec", "--", "bash", "-c", "exit 3"]).unwrap();
        let Cmd::Exec(args) = cli.command else {
            panic!("not exec")
        };
        assert_eq!(args.argv, ["bash", "-c", "exit 3"]);
    }
}
