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
pub mod config;
pub mod progress;
pub mod put;
pub mod remote;
pub mod server;
pub mod show;
pub mod uids;

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

/// Makes a listing whose reader went away (`aws-exec ls | head -1`) end as any command in
/// a pipeline does, quietly with 141, instead of a panic: `println!` panics on a closed
/// stdout, and the commands that follow a job watch for it themselves (see
/// `builtin::stdout_sink`).
pub fn end_quietly_when_stdout_closes() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(builtin::PIPE_CLOSED);
        }
        report(info)
    }));
}

/// The process's exit code for what a command returned, its error printed.
pub fn exit_code(result: anyhow::Result<i32>) -> i32 {
    result.unwrap_or_else(|e| {
        eprintln!("aws-exec: error: {e:#}");
        CLI_ERROR
    })
}
