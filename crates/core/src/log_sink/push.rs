//! The caller's presigned PUT URLs (`push-urls`) as a sink: every write is the whole log,
//! less often as it grows, through the push guard's client.

use std::time::Duration;

use async_trait::async_trait;
use aws_exec_protocol::PushUrls;
use bytes::Bytes;

use super::{Sink, Spool};
use crate::push_guard::PushPolicy;
use crate::store::StoreError;

pub struct PushSink {
    http: reqwest::Client,
    urls: PushUrls,
    policy: PushPolicy,
}

/// Below this, a pushed log is PUT whole at most once a second.
const PUSH_SMALL: u64 = 64 * 1024;
/// Above it, once it has grown by a quarter, or at the latest after this.
const PUSH_SLOW: Duration = Duration::from_secs(30);

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
            let put = self
                .http
                .put(url)
                .timeout(crate::deadlines::push(body.len()));
            match put.body(body.clone()).send().await {
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
    /// The caller's object must be whole, so every write is the whole log: at most once a
    /// second, and past 64 KiB only once it grew by a quarter (or 30 s passed), which keeps
    /// the bytes PUT to at most about five times the log plus one PUT per 30 s.
    fn pace(&self, stored: u64, waiting: u64) -> Duration {
        if stored < PUSH_SMALL || waiting >= stored / 4 {
            Duration::from_secs(1)
        } else {
            PUSH_SLOW
        }
    }
    fn keeps_whole(&self) -> bool {
        true
    }
    fn whole_pieces(&self) -> bool {
        true
    }
    fn in_store(&self) -> bool {
        false
    }
    async fn piece(&self, _seq: u64, _offset: u64, body: Bytes) -> Result<(), StoreError> {
        self.put("log", &self.urls.log, body).await
    }
    async fn complete(&self, spool: &mut Spool) -> Result<(), StoreError> {
        // An empty log is still PUT once, so the object exists for readers.
        if spool.is_empty() {
            return self.put("log", &self.urls.log, Bytes::new()).await;
        }
        Ok(())
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
