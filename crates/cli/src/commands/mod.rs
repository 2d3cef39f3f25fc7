//! The service's own commands. Each file defines typed args and a function; one line in
//! `commands!` below makes it both a CLI subcommand (run here) and an rpc (run on the
//! service with `aws-exec rpc NAME JSON`). Copy `listdir.rs` to add one.

mod listdir;

use std::io::Write;

use aws_exec_backend::runner::log::LogWriter;
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
