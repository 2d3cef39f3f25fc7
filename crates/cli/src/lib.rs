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
    log_format(default).with_writer(std::io::stderr).init();
}

/// Log lines a long-running service may hold while its stderr is not read: about 1 MiB.
#[cfg(feature = "server")]
const QUEUED_LOG_LINES: usize = 4096;

/// As [`init_logging`], with the writing done by a thread of its own: a stderr nobody reads
/// (a supervisor's pipe left full) then costs the lines past [`QUEUED_LOG_LINES`] instead
/// of stalling every thread that logs. Dropping the guard writes what is queued, waiting
/// at most a second.
#[cfg(feature = "server")]
pub fn init_logging_unblocked(default: &str) -> tracing_appender::non_blocking::WorkerGuard {
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUED_LOG_LINES)
        .thread_name("aws-exec-log")
        .finish(std::io::stderr());
    log_format(default).with_writer(writer).init();
    guard
}

/// The most any log level may show of the libraries that see requests whole.
const LOG_CAPS: [&str; 7] = [
    "lambda_runtime=info",
    "lambda_runtime_api_client=info",
    "lambda_http=info",
    "aws_smithy=info",
    "aws_sdk=info",
    "hyper=info",
    "reqwest=info",
];

/// The filter `spec` (`AWS_EXEC_LOG`) asks for, `default` when it does not parse, with
/// [`LOG_CAPS`] on top: whatever it says, below those levels the Lambda runtime logs whole
/// events (keys in their headers, a secret's value in its PUT), and the AWS SDK and HTTP
/// stacks whole requests and answers.
fn log_filter(spec: &str, default: &str) -> tracing_subscriber::EnvFilter {
    let mut filter = tracing_subscriber::EnvFilter::try_new(spec)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    for cap in LOG_CAPS {
        filter = filter.add_directive(cap.parse().expect("a valid directive"));
    }
    filter
}

fn log_format(
    default: &str,
) -> tracing_subscriber::fmt::SubscriberBuilder<
    tracing_subscriber::fmt::format::DefaultFields,
    tracing_subscriber::fmt::format::Format,
    tracing_subscriber::EnvFilter,
> {
    use std::io::IsTerminal;
    // Colours only for a person at a terminal: a file, a pipe or CloudWatch would show
    // the escape codes as text.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let spec = std::env::var("AWS_EXEC_LOG").unwrap_or_else(|_| default.to_owned());
    tracing_subscriber::fmt()
        .with_env_filter(log_filter(&spec, default))
        .with_ansi(colour)
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

#[cfg(test)]
mod tests {
    use tracing::Level;

    /// `AWS_EXEC_LOG=trace` shows the service's own trace, and nothing below `info` of the
    /// libraries that see requests whole (the Lambda runtime would log each event).
    #[test]
    fn at_trace_level_the_libraries_that_see_requests_whole_stay_at_info() {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(super::log_filter("trace", "info"));
        tracing::subscriber::with_default(subscriber, || {
            assert!(tracing::enabled!(target: "aws_exec_backend::runner", Level::TRACE));
            assert!(!tracing::enabled!(target: "lambda_runtime::layers::trace", Level::DEBUG));
            assert!(!tracing::enabled!(target: "lambda_runtime_api_client", Level::TRACE));
            assert!(!tracing::enabled!(target: "aws_smithy_runtime::client", Level::DEBUG));
            assert!(!tracing::enabled!(target: "aws_sdk_ssm", Level::TRACE));
            assert!(!tracing::enabled!(target: "hyper_util::client", Level::TRACE));
            assert!(tracing::enabled!(target: "lambda_runtime", Level::INFO));
        });
    }
}
