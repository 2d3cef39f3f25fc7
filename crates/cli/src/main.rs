//! `aws-exec`: parses the command line and runs a command that calls a service; the
//! service's own commands (`serve`, `auth`, ...) and Lambda mode go to `aws-exec-server`.

use aws_exec::cli::Cli;
use aws_exec::{builtin, exit_code, server, CLI_ERROR};

/// For the static build: see Cargo.toml.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

fn main() {
    if server::lambda_mode() {
        fail(server::become_server());
    }
    aws_exec::end_quietly_when_stdout_closes();
    let cli = Cli::from_args();
    // Calls log only their retries, at debug level: a subscriber is made when asked for.
    if std::env::var_os("AWS_EXEC_LOG").is_some() {
        aws_exec::init_logging("info");
    }
    // One thread: a call waits on the network, and a thread pool would cost more to
    // start than the whole call.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(e.into()));
    let code = runtime.block_on(async {
        match builtin::call(cli.command).await {
            Ok(result) => exit_code(result),
            Err(_service) => fail(server::become_server()),
        }
    });
    std::process::exit(code);
}

fn fail(error: anyhow::Error) -> ! {
    eprintln!("aws-exec: {error:#}");
    std::process::exit(CLI_ERROR);
}
