//! `aws-exec-server`: the service in one binary. Lambda mode when `AWS_LAMBDA_RUNTIME_API`
//! is set; otherwise the whole `aws-exec` command line, `serve` and `auth` included.

use aws_exec::builtin;
use aws_exec::cli::{Cli, ServiceCmd};
use aws_exec::{exit_code, CLI_ERROR};
use clap::Parser;

/// For the static build (`LAMBDA_STATIC=1` in env.sh): see Cargo.toml.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // An rpc the runner started in a process of its own, before anything else is read.
    let args: Vec<String> = std::env::args().collect();
    if let Some(code) = aws_exec::commands::run_rpc_process(&args) {
        std::process::exit(code);
    }
    let lambda = aws_exec::server::lambda_mode();
    if !lambda {
        aws_exec::end_quietly_when_stdout_closes();
    }
    let cli = (!lambda).then(Cli::parse);
    // The AWS SDK's own retries of missing settings (IMDS) would print screens of
    // warnings; a missing setting is reported once, by the store. Lambda reads its log
    // pipe itself, and a thread there would only lengthen the cold start.
    const LOG: &str = "info,aws_config=error";
    let log = match lambda {
        true => {
            aws_exec::init_logging(LOG);
            None
        }
        false => Some(aws_exec::init_logging_unblocked(LOG)),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("aws-exec: cannot start: {e}");
            std::process::exit(CLI_ERROR);
        }
    };
    let code = runtime.block_on(async {
        let Some(cli) = cli else {
            return exit_code(erased(builtin::lambda::run()).await);
        };
        exit_code(match builtin::call(cli.command).await {
            Ok(result) => result,
            // Boxed: the service's wiring is a large future.
            Err(ServiceCmd::Serve(args)) => erased(builtin::serve::run(args)).await,
            Err(ServiceCmd::Auth(args)) => builtin::auth::run(args).await,
            Err(ServiceCmd::RunJob(args)) => erased(builtin::run_job::run(args)).await,
            Err(ServiceCmd::User(command)) => Ok(command.run_here().await),
        })
    });
    // Jobs' stray tasks must not hold the process open after it has its answer.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    drop(log);
    std::process::exit(code);
}

/// A future behind a pointer, its type erased: the service's wiring nests too deep for the
/// compiler to lay it out inline in `main`'s.
fn erased<'a, T>(
    future: impl std::future::Future<Output = T> + 'a,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + 'a>> {
    Box::pin(future)
}
