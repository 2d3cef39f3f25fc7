//! `aws-exec`: parses the command line, sets up logging, and hands off to one operation.

use aws_exec::builtin;
use aws_exec::cli::{Cli, Cmd};
use clap::Parser;

/// The exit code for the CLI's own failures; a job's code passes through untouched.
const CLI_ERROR: i32 = 255;

fn main() {
    let lambda = builtin::lambda::enabled();
    let cli = (!lambda).then(Cli::parse);
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AWS_EXEC_LOG")
                // The AWS SDK's own retries of missing settings (IMDS) would print screens
                // of warnings; a missing setting is reported once, by the store.
                .unwrap_or_else(|_| "info,aws_config=error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("aws-exec: cannot start: {e}");
            std::process::exit(CLI_ERROR);
        }
    };
    let code = runtime.block_on(async {
        let Some(cli) = cli else {
            return builtin::lambda::run().await.unwrap_or_else(|e| {
                eprintln!("aws-exec: error: {e:#}");
                CLI_ERROR
            });
        };
        let result = match cli.command {
            Cmd::Exec(args) => builtin::exec::run(args).await,
            Cmd::Rpc(args) => builtin::rpc::run(args).await,
            Cmd::Tail(args) => builtin::tail::run(args).await,
            Cmd::Cancel(args) => builtin::cancel::run(args).await,
            Cmd::Ls(args) => builtin::ls::run(args).await,
            Cmd::Status(args) => builtin::status::run(args).await,
            Cmd::Artifacts(args) => builtin::artifacts::run(args).await,
            Cmd::Schedule(args) => builtin::schedule::run(args).await,
            Cmd::Trigger(args) => builtin::trigger::run(args).await,
            Cmd::Upload(args) => builtin::upload::run(args).await,
            Cmd::Serve(args) => builtin::serve::run(args).await,
            Cmd::Auth(args) => builtin::auth::run(args).await,
            Cmd::User(command) => Ok(command.run_here().await),
        };
        result.unwrap_or_else(|e| {
            eprintln!("aws-exec: error: {e:#}");
            CLI_ERROR
        })
    });
    // Jobs' stray tasks must not hold the process open after it has its answer.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    std::process::exit(code);
}
