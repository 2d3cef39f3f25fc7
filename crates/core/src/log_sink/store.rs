//! The service's own store as a sink: `log.txt` appended in place where the store can,
//! numbered segments and `log.txt` whole at the end where it cannot (S3).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_exec_protocol::keys::JobKeys;
use bytes::Bytes;

use super::{Sink, Spool, Whole};
use crate::job_events::JobEvents;
use crate::store::{Store, StoreError};

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
