//! `serve`'s HTTP/1 server: a connection that does not send a whole request head within
//! [`HEAD_DEADLINE`] (a fresh one, a half-sent one, or one idle between requests) is
//! closed, and at most [`Limits::connections`] are open at once; past that, new ones wait
//! in the kernel's backlog. A stop closes idle connections and lets requests finish.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// How long a connection may take to send a request's head, counted from when the server
/// waits for one: longer than any client here pauses between requests it keeps a
/// connection for (a long poll waits in the answer, not here).
pub const HEAD_DEADLINE: Duration = Duration::from_secs(20);

/// What one `serve` allows its callers.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections open at once.
    pub connections: usize,
    pub head_deadline: Duration,
}

impl Limits {
    /// Raises this process's open-file limit to the most it may have, and allows half of
    /// that in connections (the rest is for jobs' logs, the store and the spool), within
    /// 64 and 16384.
    pub fn for_this_process() -> Limits {
        let files = raise_open_files();
        Limits {
            connections: (files / 2).clamp(64, 16384) as usize,
            head_deadline: HEAD_DEADLINE,
        }
    }
}

/// Raises the soft limit of open files to the hard one; answers the limit in force.
fn raise_open_files() -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 1024;
    };
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return hard;
    }
    soft
}

/// Serves `router` on `listener` until `stop`, then waits for the requests under way.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let open = Arc::new(Semaphore::new(limits.connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.head_deadline);
    loop {
        let permit = tokio::select! {
            () = stop.cancelled() => break,
            permit = open.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let tcp = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of descriptors, or a connection reset before it was taken: the
                    // listener stays, and tries again shortly.
                    tracing::warn!(error = %e, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Answers are small and awaited: without this, Nagle's algorithm holds the last
        // piece of one until the client's delayed ACK, some 40 ms.
        let _ = tcp.set_nodelay(true);
        // One router shared by every connection (a clone shares its route table).
        let service = TowerToHyperService::new(router.clone());
        let connection = http.serve_connection(TokioIo::new(tcp), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
