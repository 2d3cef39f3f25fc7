//! Where a job's log and end go: the service's own store ([`StoreSink`]) or the caller's
//! presigned PUT URLs ([`PushSink`]), each setting the pace of log writes, and the fence
//! that silences a runner which lost the job's end. Below both the runner and `lifecycle`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::store::StoreError;

mod push;
pub mod spool;
mod store;
mod writer;

pub use push::PushSink;
pub use spool::{Spool, Whole};
pub use store::StoreSink;
pub use writer::{LogReader, LogWriter, Notes, NotesSaid};

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

/// Whether anyone may read a job's log yet: a quiet job's is hidden until it is revealed
/// (`lifecycle::quiet`), and its segments are not worth writing before that.
#[async_trait]
pub trait Reveal: Send + Sync {
    async fn log_is_read(&self) -> bool;
}

/// A sink that drops every write once its [`Fence`] is closed (each dropped write counts as
/// done, so the log's shipping ends at once), and holds the pieces of a quiet job's log
/// until it is revealed.
pub struct FencedSink {
    inner: Arc<dyn Sink>,
    fence: Fence,
    quiet: Option<Arc<dyn Reveal>>,
}

impl FencedSink {
    pub fn new(inner: Arc<dyn Sink>, fence: Fence, quiet: Option<Arc<dyn Reveal>>) -> Self {
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
