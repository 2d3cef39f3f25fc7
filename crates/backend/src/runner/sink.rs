//! Where a job's objects go: the service's own store, or the caller's presigned PUT URLs
//! (`push-urls`). Each sets the pace of log writes: a store that appends in place takes
//! every write at once; S3 takes immutable segments about once a second and `log.txt`
//! whole at the end; a push URL takes the whole log, less often as it grows.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_exec_protocol::keys::JobKeys;
use aws_exec_protocol::PushUrls;
use bytes::Bytes;

use super::log::{Spool, Whole};
use crate::job_events::JobEvents;
use crate::lifecycle::quiet::Quiet;
use crate::push_guard::PushPolicy;
use crate::store::{Store, StoreError};

#[async_trait]
pub trait Sink: Send + Sync + 'static {
    /// The least time between the starts of two log writes while the log grows, given
    /// how much is stored and how much waits.
    fn pace(&self, stored: u64, waiting: u64) -> Duration;
    /// True when the whole log must be kept until the end (to be written whole).
    fn keeps_whole(&self) -> bool {
        false
    }
    /// True when each write carries the whole log so far, not only its new bytes.
    fn whole_pieces(&self) -> bool {
        false
    }
    /// True when its objects are in the service's store (housekeeping can finish them),
    /// false when they are the caller's (push-urls).
    fn in_store(&self) -> bool {
        true
    }
    /// Stores piece `seq` of the log: its bytes from `offset` on (the whole log so far for
    /// a sink of [`Sink::whole_pieces`]). A piece that failed comes again, the same.
    async fn piece(&self, seq: u64, offset: u64, body: Bytes) -> Result<(), StoreError>;
    /// Once every piece is stored: whatever else makes the log whole for its readers.
    async fn complete(&self, spool: &mut Spool) -> Result<(), StoreError>;
    async fn exit(&self, code: i32) -> Result<(), StoreError>;
    /// Written last: its presence tells readers the log is complete.
    async fn size(&self, size: u64) -> Result<(), StoreError>;
}

/// The service's own store. One that appends writes `log.txt` in place as output comes;
/// one that cannot (S3) writes numbered segments beside it, which new clients follow, and
/// `log.txt` whole at the end.
pub struct StoreSink {
    pub store: Arc<dyn Store>,
    pub keys: JobKeys,
    /// The steady pace of segment writes (the first after a quiet spell goes at once).
    pub segment_pace: Duration,
    /// Told of each write, for polls waiting in this process.
    pub events: Option<Arc<JobEvents>>,
}

impl StoreSink {
    fn news(&self) {
        if let Some(events) = &self.events {
            events.publish(self.keys.uid());
        }
    }
}

#[async_trait]
impl Sink for StoreSink {
    fn pace(&self, _stored: u64, _waiting: u64) -> Duration {
        match self.store.appends() {
            true => Duration::ZERO,
            false => self.segment_pace,
        }
    }
    fn keeps_whole(&self) -> bool {
        !self.store.appends()
    }
    async fn piece(&self, seq: u64, offset: u64, body: Bytes) -> Result<(), StoreError> {
        if self.store.appends() {
            self.store
                .append(&self.keys.log(), body, offset as usize)
                .await?;
        } else {
            self.store.put(&self.keys.segment(seq), body).await?;
        }
        self.news();
        Ok(())
    }
    async fn complete(&self, spool: &mut Spool) -> Result<(), StoreError> {
        if self.store.appends() {
            return Ok(());
        }
        let whole = spool
            .whole_for_upload()
            .map_err(|e| StoreError::Backend(format!("log spool: {e}")))?;
        match whole {
            Whole::File(file) => self.store.upload(&self.keys.log(), file).await,
            Whole::Bytes(all) => self.store.put(&self.keys.log(), all).await,
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
            .await?;
        self.news();
        Ok(())
    }
}

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

/// Closed once this runner has lost the job's end to someone else: from then on none of
/// its writes reach the job's objects.
#[derive(Clone, Debug, Default)]
pub struct Fence(Arc<std::sync::atomic::AtomicBool>);

impl Fence {
    pub fn close(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn is_closed(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A sink that drops every write once its [`Fence`] is closed (each dropped write counts as
/// done, so the log's shipping ends at once), and holds the pieces of a quiet job's log
/// until it is revealed.
pub struct FencedSink {
    inner: Arc<dyn Sink>,
    fence: Fence,
    quiet: Option<Arc<Quiet>>,
}

impl FencedSink {
    pub fn new(inner: Arc<dyn Sink>, fence: Fence, quiet: Option<Arc<Quiet>>) -> Self {
        FencedSink {
            inner,
            fence,
            quiet,
        }
    }
}

#[async_trait]
impl Sink for FencedSink {
    fn pace(&self, stored: u64, waiting: u64) -> Duration {
        self.inner.pace(stored, waiting)
    }
    fn keeps_whole(&self) -> bool {
        self.inner.keeps_whole()
    }
    fn whole_pieces(&self) -> bool {
        self.inner.whole_pieces()
    }
    fn in_store(&self) -> bool {
        self.inner.in_store()
    }
    async fn piece(&self, seq: u64, offset: u64, body: Bytes) -> Result<(), StoreError> {
        // Nobody reads a quiet job's segments: they are written once it is revealed, and
        // not at all if it ends quietly (its whole log is written at its end).
        if let (Some(quiet), true) = (&self.quiet, self.inner.keeps_whole()) {
            if !quiet.log_is_read().await {
                return Ok(());
            }
        }
        match self.fence.is_closed() {
            true => Ok(()),
            false => self.inner.piece(seq, offset, body).await,
        }
    }
    async fn complete(&self, spool: &mut Spool) -> Result<(), StoreError> {
        // An empty log is whole in the store already: its submit (or a quiet job's reveal)
        // wrote it empty; a job ending quiet gets it from its runner.
        let stored_empty = spool.is_empty() && self.inner.in_store() && self.inner.keeps_whole();
        match self.fence.is_closed() || stored_empty {
            true => Ok(()),
            false => self.inner.complete(spool).await,
        }
    }
    async fn exit(&self, code: i32) -> Result<(), StoreError> {
        match self.fence.is_closed() {
            true => Ok(()),
            false => self.inner.exit(code).await,
        }
    }
    async fn size(&self, size: u64) -> Result<(), StoreError> {
        match self.fence.is_closed() {
            true => Ok(()),
            false => self.inner.size(size).await,
        }
    }
}
