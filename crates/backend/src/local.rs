//! The embedded default: the whole service on one machine, a data directory as the bucket
//! and in-process dispatch. `aws-exec serve` and the tests start it through [`LocalService`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::{app, AppState};
use crate::dispatch::LocalDispatch;
use crate::runner::rpc::Registry;
use crate::runner::{Runner, RunnerConfig};
use crate::store::{LocalStore, Store};

#[derive(Clone, Debug)]
pub struct LocalConfig {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// Jobs running at once.
    pub concurrency: usize,
    /// Jobs waiting for a slot before submissions are refused with 503.
    pub queue: usize,
    pub runner: RunnerConfig,
    pub public_url: Option<String>,
}

impl LocalConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        LocalConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: data_dir.into(),
            concurrency: 16,
            queue: 1024,
            runner: RunnerConfig::default(),
            public_url: None,
        }
    }
}

/// A running local service; [`LocalService::shutdown`] stops jobs and the server.
pub struct LocalService {
    addr: SocketAddr,
    store: Arc<LocalStore>,
    dispatch: Arc<LocalDispatch>,
    stop: CancellationToken,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl LocalService {
    pub async fn start(config: LocalConfig, registry: Registry) -> std::io::Result<Self> {
        let store = Arc::new(LocalStore::open(&config.data_dir).map_err(std::io::Error::other)?);
        let registry = Arc::new(registry);
        let runner = Arc::new(Runner::new(
            store.clone() as Arc<dyn Store>,
            registry.clone(),
            config.runner.clone(),
        ));
        let dispatch = Arc::new(LocalDispatch::new(runner, config.concurrency, config.queue));
        let state = AppState {
            store: store.clone(),
            dispatch: dispatch.clone(),
            registry,
            public_url: config.public_url.clone(),
        };
        let router = app(state).merge(store.clone().router());
        let listener = TcpListener::bind(config.addr).await?;
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let graceful = stop.clone().cancelled_owned();
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(graceful)
                .await
        });
        Ok(LocalService {
            addr,
            store,
            dispatch,
            stop,
            server,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn store(&self) -> Arc<LocalStore> {
        self.store.clone()
    }

    /// Cancels running jobs (each records its end), then stops serving.
    pub async fn shutdown(self) {
        self.dispatch.shutdown().await;
        self.stop.cancel();
        let _ = self.server.await;
    }
}
