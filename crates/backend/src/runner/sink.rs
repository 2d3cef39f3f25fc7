//! Where a job's objects go: the service's own store, or (later) the caller's push URLs.

use std::sync::Arc;

use async_trait::async_trait;
use aws_exec_protocol::keys::JobKeys;
use bytes::Bytes;

use crate::store::{Store, StoreError};

#[async_trait]
pub trait Sink: Send + Sync + 'static {
    /// The log's whole body so far; the first `stored_len` bytes were stored already.
    async fn log(&self, whole: Bytes, stored_len: usize) -> Result<(), StoreError>;
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
    async fn log(&self, whole: Bytes, stored_len: usize) -> Result<(), StoreError> {
        self.store
            .put_grown(&self.keys.log(), whole, stored_len)
            .await
    }
    async fn exit(&self, code: i32) -> Result<(), StoreError> {
        self.store
            .put(&self.keys.exit(), code.to_string().into())
            .await
    }
    async fn size(&self, size: u64) -> Result<(), StoreError> {
        self.store
            .put(&self.keys.size(), size.to_string().into())
            .await
    }
}
