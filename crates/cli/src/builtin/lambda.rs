//! Lambda mode: with `AWS_LAMBDA_RUNTIME_API` set, the binary serves Lambda events instead
//! of parsing a command line. It stores in `PROJECT_BUCKET` and dispatches jobs by invoking
//! itself (`AWS_LAMBDA_FUNCTION_NAME`).

use std::sync::Arc;

use anyhow::Context;
use aws_exec_backend::dispatch::LambdaDispatch;
use aws_exec_backend::lambda::LambdaApp;
use aws_exec_backend::store::{S3Store, Store};
use aws_exec_backend::{app, AppState, Runner, RunnerConfig};

pub fn enabled() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

pub async fn run() -> anyhow::Result<i32> {
    let bucket = std::env::var("PROJECT_BUCKET").context("PROJECT_BUCKET is not set")?;
    let function =
        std::env::var("AWS_LAMBDA_FUNCTION_NAME").context("AWS_LAMBDA_FUNCTION_NAME is not set")?;
    let store: Arc<dyn Store> = Arc::new(S3Store::from_env(bucket).await);
    let registry = Arc::new(crate::commands::registry());
    let config = RunnerConfig {
        flush_interval: std::time::Duration::from_millis(500),
        ..RunnerConfig::default()
    };
    let runner = Arc::new(Runner::new(store.clone(), registry.clone(), config));
    let router = app(AppState {
        store: store.clone(),
        dispatch: Arc::new(LambdaDispatch::from_env(function).await),
        registry,
        public_url: None,
    });
    LambdaApp {
        router,
        runner,
        store,
    }
    .run()
    .await
    .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))?;
    Ok(0)
}
