//! The service's own commands. Each file defines typed args and a function; one line in
//! `commands!` below makes it both a CLI subcommand (run here) and an rpc (run on the
//! service with `aws-exec rpc NAME JSON`). Copy `listdir.rs` to add one.

mod listdir;

use std::io::Write;

use aws_exec_backend::log_sink::LogWriter;
use aws_exec_backend::{Registry, Rpc, RpcContext};
use tokio_util::sync::CancellationToken;

macro_rules! commands {
    ($($(#[$doc:meta])* $variant:ident => $ty:ty),* $(,)?) => {
        #[derive(Debug, clap::Subcommand)]
        pub enum UserCommand {
            $($(#[$doc])* $variant($ty),)*
        }

        /// Every command, callable as an rpc.
        pub fn registry() -> Registry {
            let mut registry = Registry::new();
            $(registry.add::<$ty>();)*
            registry
        }

        impl UserCommand {
            /// Runs the command in this process, its log going to stdout.
            pub async fn run_here(self) -> i32 {
                match self {
                    $(UserCommand::$variant(command) => run_here(command).await,)*
                }
            }
        }
    };
}

commands! {
    /// List a directory's entries (directories end in /)
    Listdir => listdir::Listdir,
}

async fn run_here<R: Rpc>(command: R) -> i32 {
    let (log, mut rx) = LogWriter::channel();
    let printer = tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&bytes).and_then(|()| out.flush());
        }
    });
    let ctx = RpcContext::new(log, CancellationToken::new());
    let code = match command.run(ctx).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("aws-exec: {}: {e}", R::NAME);
            1
        }
    };
    let _ = printer.await;
    code
}

/// How the service runs each rpc in a process of its own: this binary, with
/// [`RPC_PROCESS_ARG`](aws_exec_backend::rpc::RPC_PROCESS_ARG).
pub fn rpc_process() -> Option<Vec<String>> {
    let me = std::env::current_exe().ok()?;
    Some(vec![
        me.to_str()?.to_owned(),
        aws_exec_backend::rpc::RPC_PROCESS_ARG.to_owned(),
    ])
}

/// `aws-exec-server __rpc NAME ARGS-JSON`: one rpc as the whole process (the runner starts
/// it so); `None` when the arguments are not that.
pub fn run_rpc_process(args: &[String]) -> Option<i32> {
    let [_, word, name, rpc_args] = args else {
        return None;
    };
    if word != aws_exec_backend::rpc::RPC_PROCESS_ARG {
        return None;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    let grace = aws_exec_backend::RunnerConfig::default().grace;
    Some(runtime.block_on(aws_exec_backend::rpc::run_as_process(
        &registry(),
        name,
        rpc_args,
        grace,
    )))
}
