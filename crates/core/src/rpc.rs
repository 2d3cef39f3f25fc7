//! Named Rust functions callable as jobs ("rpc"): typed JSON args, a log writer and a
//! cancellation signal. A command registers itself with one line: `registry.add::<T>()`.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::log_sink::LogWriter;

/// Any error an rpc function returns; it is written to the log and the job exits 1.
pub type RpcError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What an rpc function is handed besides its args.
#[derive(Clone, Debug)]
pub struct RpcContext {
    /// The job's log: `ctx.log.write(bytes)` or `writeln!(ctx.log, ...)`.
    pub log: LogWriter,
    cancel: CancellationToken,
}

impl RpcContext {
    pub fn new(log: LogWriter, cancel: CancellationToken) -> Self {
        RpcContext { log, cancel }
    }

    /// Resolves when the job is cancelled or reaches its deadline. A function that does not
    /// return soon after is dropped at its next `.await`.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

/// A function callable by name. Its args are the type itself, parsed from `rpc-args`.
pub trait Rpc: DeserializeOwned + Send + 'static {
    /// The `rpc-name` that calls it.
    const NAME: &'static str;

    /// Runs the function; `Ok(code)` is the job's exit code.
    fn run(self, ctx: RpcContext) -> impl Future<Output = Result<i32, RpcError>> + Send;
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<i32, RpcError>> + Send>>;

struct Entry {
    check: fn(&str) -> Result<(), String>,
    call: fn(&str, RpcContext) -> Result<BoxFuture, String>,
}

/// Why an rpc could not be started.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RpcLookupError {
    #[error("no rpc named {name:?}; known: {known}")]
    Unknown { name: String, known: String },
    #[error("bad args for rpc {name:?}: {why}")]
    BadArgs { name: String, why: String },
}

/// The rpc functions a service offers.
#[derive(Default)]
pub struct Registry {
    entries: BTreeMap<&'static str, Entry>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes `R` callable as `R::NAME`.
    pub fn add<R: Rpc>(&mut self) -> &mut Self {
        self.entries.insert(
            R::NAME,
            Entry {
                check: |args| {
                    serde_json::from_str::<R>(args)
                        .map(drop)
                        .map_err(|e| e.to_string())
                },
                call: |args, ctx| {
                    let r: R = serde_json::from_str(args).map_err(|e| e.to_string())?;
                    Ok(Box::pin(r.run(ctx)))
                },
            },
        );
        self
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.entries.keys().copied()
    }

    /// Checks at submit time that the rpc exists and its args parse, so a bad call is a 4xx
    /// answer instead of a failed job.
    pub fn check(&self, name: &str, args: &str) -> Result<(), RpcLookupError> {
        let entry = self.entry(name)?;
        (entry.check)(args).map_err(|why| RpcLookupError::BadArgs {
            name: name.to_owned(),
            why,
        })
    }

    fn entry(&self, name: &str) -> Result<&Entry, RpcLookupError> {
        self.entries
            .get(name)
            .ok_or_else(|| RpcLookupError::Unknown {
                name: name.to_owned(),
                known: self.names().collect::<Vec<_>>().join(", "),
            })
    }

    /// Runs an rpc to its end and returns the exit code; errors and panics become a log
    /// line and exit 1. After cancellation it gets `grace` to return before it is dropped.
    pub async fn run(&self, name: &str, args: &str, ctx: RpcContext, grace: Duration) -> i32 {
        let log = ctx.log.clone();
        let cancel = ctx.cancel.clone();
        let fut = match self
            .entry(name)
            .map_err(|e| e.to_string())
            .and_then(|e| (e.call)(args, ctx))
        {
            Ok(fut) => fut,
            Err(why) => {
                log.write(format!("rpc {name}: {why}\n"));
                return 2;
            }
        };
        let mut task = tokio::spawn(fut);
        let outcome = tokio::select! {
            joined = &mut task => joined,
            _ = async { cancel.cancelled().await; tokio::time::sleep(grace).await } => {
                task.abort();
                log.note(format!("rpc {name} did not stop when cancelled; dropped"));
                return 130;
            }
        };
        match outcome {
            Ok(Ok(code)) => code,
            Ok(Err(e)) => {
                log.write(format!("rpc {name} failed: {e}\n"));
                1
            }
            Err(e) => {
                log.write(format!("rpc {name} panicked: {e}\n"));
                1
            }
        }
    }
}

/// The command-line word that makes the service's binary run one rpc and exit:
/// `aws-exec-server __rpc NAME ARGS-JSON` (see [`run_as_process`]).
pub const RPC_PROCESS_ARG: &str = "__rpc";

/// Runs one rpc as the whole of this process: its log goes to stdout, SIGTERM cancels it
/// (with `grace` to return), and the answer is its exit code. The runner starts it as it
/// starts an argv job, so an rpc has an argv job's reach and no more: its user, its own
/// directory, none of the service's credentials, nothing left behind.
pub async fn run_as_process(registry: &Registry, name: &str, args: &str, grace: Duration) -> i32 {
    use tokio::io::AsyncWriteExt;
    let (log, mut rx) = LogWriter::channel();
    let cancel = CancellationToken::new();
    let writer = tokio::spawn(async move {
        let mut out = tokio::io::stdout();
        while let Some(bytes) = rx.recv().await {
            if out.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = out.flush().await;
    });
    let on_term = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            if let Ok(mut term) = signal(SignalKind::terminate()) {
                term.recv().await;
                cancel.cancel();
            }
        })
    };
    let code = registry
        .run(name, args, RpcContext::new(log, cancel), grace)
        .await;
    on_term.abort();
    let _ = writer.await;
    code
}
