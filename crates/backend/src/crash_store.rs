//! A store that stops writing from its Nth write on, as a process that died there would:
//! every sequence of writes a job's life makes is tried with a crash before each of them,
//! and whatever is left must be finished by a sweep on the store as it stands.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::store::{Store, StoreError};

pub struct CrashAt {
    inner: Arc<dyn Store>,
    /// Writes made so far, failed ones included.
    writes: AtomicUsize,
    /// The first write that fails (1-based); every one after it fails too.
    at: usize,
    /// Only that write fails: a passing fault, not a death.
    once: bool,
}

impl CrashAt {
    pub fn new(inner: Arc<dyn Store>, at: usize) -> Self {
        CrashAt {
            inner,
            writes: AtomicUsize::new(0),
            at,
            once: false,
        }
    }

    /// A store whose `at`th write fails and every other one succeeds.
    pub fn fails_once(inner: Arc<dyn Store>, at: usize) -> Self {
        CrashAt {
            once: true,
            ..CrashAt::new(inner, at)
        }
    }

    /// Whether the process had died by now.
    pub fn crashed(&self) -> bool {
        self.writes.load(Ordering::SeqCst) >= self.at
    }

    fn write(&self, key: &str) -> Result<(), StoreError> {
        let n = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
        match n == self.at || (n > self.at && !self.once) {
            true => Err(StoreError::Backend(format!("{key}: the writer died"))),
            false => Ok(()),
        }
    }
}

#[async_trait]
impl Store for CrashAt {
    async fn put(&self, key: &str, body: Bytes) -> Result<(), StoreError> {
        self.write(key)?;
        self.inner.put(key, body).await
    }
    async fn put_new(&self, key: &str, body: Bytes) -> Result<bool, StoreError> {
        self.write(key)?;
        self.inner.put_new(key, body).await
    }
    fn appends(&self) -> bool {
        self.inner.appends()
    }
    async fn append(&self, key: &str, tail: Bytes, offset: usize) -> Result<(), StoreError> {
        self.write(key)?;
        self.inner.append(key, tail, offset).await
    }
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        self.inner.get(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner.list(prefix).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.write(key)?;
        self.inner.delete(key).await
    }
    async fn copy(&self, from: &str, to: &str) -> Result<bool, StoreError> {
        self.write(to)?;
        self.inner.copy(from, to).await
    }
    async fn head(&self, key: &str) -> Result<Option<u64>, StoreError> {
        self.inner.head(key).await
    }
    async fn download(&self, key: &str, path: &Path) -> Result<bool, StoreError> {
        self.inner.download(key, path).await
    }
    async fn upload(&self, key: &str, file: tokio::fs::File) -> Result<(), StoreError> {
        self.write(key)?;
        self.inner.upload(key, file).await
    }
    async fn presign_put(&self, key: &str, ttl: Duration) -> Result<String, StoreError> {
        self.inner.presign_put(key, ttl).await
    }
    async fn presign_get(
        &self,
        key: &str,
        range_start: Option<u64>,
        ttl: Duration,
    ) -> Result<String, StoreError> {
        self.inner.presign_get(key, range_start, ttl).await
    }
}
