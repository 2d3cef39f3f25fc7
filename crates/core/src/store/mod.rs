//! Object storage behind one small trait: the local data directory or an S3 bucket.
//!
//! Keys follow [`aws_exec_protocol::keys`]. Readers of a job's log never touch the store
//! directly; they get a short-lived signed URL from [`Store::presign_get`].

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

mod listings;
pub mod local;
#[cfg(feature = "aws")]
pub mod s3;
mod spares;

pub use local::LocalStore;
#[cfg(feature = "aws")]
pub use s3::S3Store;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid object key {0:?}")]
    BadKey(String),
    #[error("storage I/O on {key:?}: {source}")]
    Io {
        key: String,
        #[source]
        source: std::io::Error,
    },
    #[error("storage backend: {0}")]
    Backend(String),
    /// The store cannot be opened as configured (a missing AWS setting, say).
    #[error("{0}")]
    Config(String),
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Writes an object whole; readers see the old or the new body, never a mix.
    async fn put(&self, key: &str, body: Bytes) -> Result<(), StoreError>;

    /// Writes an object only if none exists; `Ok(false)` when one already did.
    async fn put_new(&self, key: &str, body: Bytes) -> Result<bool, StoreError>;

    /// True when [`Store::append`] writes in place, so a growing log need not be rewritten
    /// whole on every flush (a file can; an S3 object cannot).
    fn appends(&self) -> bool {
        false
    }

    /// Writes `tail` at byte `offset` of the object, dropping whatever stood from there on.
    /// Only for stores whose [`Store::appends`] is true.
    async fn append(&self, key: &str, tail: Bytes, offset: usize) -> Result<(), StoreError> {
        let _ = (tail, offset);
        Err(StoreError::Backend(format!(
            "{key}: this store cannot append"
        )))
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError>;

    /// Keys under `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;

    /// Up to `max` keys under `prefix` that sort after `start_after`, sorted: one page of a
    /// listing, which S3 answers with a single request.
    async fn list_page(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max: usize,
    ) -> Result<Vec<String>, StoreError> {
        let keys = self.list(prefix).await?;
        Ok(local::page_of(keys, start_after, max))
    }

    /// Deletes an object; deleting a missing one is not an error.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;

    /// Copies object `from` to `to` within the store (on S3 without the bytes passing
    /// through the service); `Ok(false)` when `from` does not exist.
    async fn copy(&self, from: &str, to: &str) -> Result<bool, StoreError>;

    /// The object's size, or `None` when it does not exist.
    async fn head(&self, key: &str) -> Result<Option<u64>, StoreError>;

    /// Writes the object into a new file at `path`, streamed (inputs may be large);
    /// `Ok(false)` when it does not exist.
    async fn download(&self, key: &str, path: &Path) -> Result<bool, StoreError>;

    /// Stores what `file` holds, from its start, as object `key`, streamed. Taking an open
    /// file rather than a path lets the caller decide what it opens (no symlinks).
    async fn upload(&self, key: &str, file: tokio::fs::File) -> Result<(), StoreError>;

    /// A URL to which a plain HTTP client can PUT the object's bytes until `ttl` passes;
    /// it may be relative to the service's own address.
    async fn presign_put(&self, key: &str, ttl: Duration) -> Result<String, StoreError>;

    /// As [`Store::presign_get`], for a browser to save as `filename` (S3 signs a
    /// `Content-Disposition` into the URL; the local route's links say it themselves).
    async fn presign_download(
        &self,
        key: &str,
        filename: &str,
        ttl: Duration,
    ) -> Result<String, StoreError> {
        let _ = filename;
        self.presign_get(key, None, ttl).await
    }

    /// A URL from which a plain HTTP client can GET the object until `ttl` passes. With
    /// `range_start`, the reader sends `Range: bytes=N-` with that N (a store may sign it
    /// into the URL). The URL may be relative to the service's own address.
    async fn presign_get(
        &self,
        key: &str,
        range_start: Option<u64>,
        ttl: Duration,
    ) -> Result<String, StoreError>;
}

/// Reads an object holding decimal text, such as `exit` or `size`.
pub async fn get_number<T: std::str::FromStr>(
    store: &dyn Store,
    key: &str,
) -> Result<Option<T>, StoreError> {
    match store.get(key).await? {
        None => Ok(None),
        Some(body) => std::str::from_utf8(&body)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map(Some)
            .ok_or_else(|| StoreError::Backend(format!("{key} does not hold a number"))),
    }
}
