//! The `aws-exec` command as a library: the CLI definition, the built-in operations, and the
//! service's own commands (`commands`), which tests and other binaries can register too.
//!
//! Two binaries share it. `aws-exec` runs the commands that call a service and links
//! neither the backend nor the AWS SDK, so it starts in about a millisecond; for `serve`,
//! `auth`, the service's own commands and Lambda mode it becomes `aws-exec-server`.

pub mod builtin;
pub mod cli;
#[cfg(feature = "server")]
pub mod commands;
pub mod server;

/// The exit code for the CLI's own failures; a job's code passes through untouched.
pub const CLI_ERROR: i32 = 255;

/// Logs to stderr, filtered by `$AWS_EXEC_LOG` or else `default`.
pub fn init_logging(default: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AWS_EXEC_LOG")
                .unwrap_or_else(|_| default.into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// The process's exit code for what a command returned, its error printed.
pub fn exit_code(result: anyhow::Result<i32>) -> i32 {
    result.unwrap_or_else(|e| {
        eprintln!("aws-exec: error: {e:#}");
        CLI_ERROR
    })
}
