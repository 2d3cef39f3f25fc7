//! Where a job's objects go: the service's own store, or the caller's presigned PUT URLs
//! (`push-urls`), each PUT carrying the whole object with its Content-Length.

use std::sync::Arc;

use async_trait::async_trait;
use std::time::Duration;

use aws_exec_protocol::keys::JobKeys;
use aws_exec_protocol::PushUrls;
use bytes::Bytes;

use crate::push_guard::PushPolicy;
use crate::store::{Store, StoreError};

#[async_trait]
pub trait Sink: Send + Sync + 'static {
    /// True when [`Sink::log`] may be given only the bytes not yet stored.
    fn appends(&self) -> bool {
        false
    }
    /// Stores the log's bytes from `offset` on; `offset` is 0 unless the sink appends.
    async fn log(&self, body: Bytes, offset: usize) -> Result<(), StoreError>;
    async fn exit(&self, code: i32) -> Result<(), StoreError>;
    /// Written last: its presence tells readers the log is complete.
    async fn size(&self, size: u64) -> Result<(), StoreError>;
}

pub struct StoreSink {
    pub store: Arc<dyn Store>,
    pub keys: JobKeys,
}

#[async_trait]
impl Sink for StoreSink {
    fn appends(&self) -> bool {
        self.store.appends()
    }
    async fn log(&self, body: Bytes, offset: usize) -> Result<(), StoreError> {
        if self.store.appends() {
            self.store.append(&self.keys.log(), body, offset).await
        } else {
            self.store.put(&self.keys.log(), body).await
        }
    }
    /// Conditional: `exit` is written once. Finding it already there means an earlier
    /// attempt at this same end got that far, so it is not an error.
    async fn exit(&self, code: i32) -> Result<(), StoreError> {
        self.store
            .put_new(&self.keys.exit(), code.to_string().into())
            .await
            .map(drop)
    }
    async fn size(&self, size: u64) -> Result<(), StoreError> {
        self.store
            .put(&self.keys.size(), size.to_string().into())
            .await
    }
}

pub struct PushSink {
    http: reqwest::Client,
    urls: PushUrls,
    policy: PushPolicy,
}

impl PushSink {
    /// `http` must be [`PushPolicy::client`]'s: it refuses inward addresses and redirects.
    pub fn new(http: reqwest::Client, urls: PushUrls, policy: PushPolicy) -> Self {
        PushSink { http, urls, policy }
    }

    /// PUTs `body` to `url`, retrying connection errors and 5xx a few times.
    async fn put(&self, what: &str, url: &str, body: Bytes) -> Result<(), StoreError> {
        self.policy
            .check_before_put(url)
            .map_err(|why| StoreError::Backend(format!("push of {what} refused: {why}")))?;
        const ATTEMPTS: u32 = 4;
        let mut wait = Duration::from_millis(200);
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            match self.http.put(url).body(body.clone()).send().await {
                Ok(resp) if resp.status().is_success() => return Ok(()),
                Ok(resp) if resp.status().is_client_error() => {
                    return Err(StoreError::Backend(format!(
                        "push of {what} refused: HTTP {}",
                        resp.status()
                    )))
                }
                Ok(resp) => last = format!("HTTP {}", resp.status()),
                Err(e) => last = e.to_string(),
            }
            if attempt < ATTEMPTS {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
        Err(StoreError::Backend(format!(
            "push of {what} failed: {last}"
        )))
    }
}

#[async_trait]
impl Sink for PushSink {
    async fn log(&self, body: Bytes, _offset: usize) -> Result<(), StoreError> {
        self.put("log", &self.urls.log, body).await
    }
    async fn exit(&self, code: i32) -> Result<(), StoreError> {
        self.put("exit", &self.urls.exit, code.to_string().into())
            .await
    }
    async fn size(&self, size: u64) -> Result<(), StoreError> {
        self.put("size", &self.urls.size, size.to_string().into())
            .await
    }
}
