//! The local store: a data directory laid out like the bucket.
//!
//! Whole-object writes go through a temp file and a rename, so `exit` and `size` are never
//! seen torn; logs grow by appending. Log URLs point at this service's `/_store/` route and
//! carry an HMAC over key and expiry, checked the way S3 checks a presigned URL.

use std::io::{ErrorKind, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::{Store, StoreError};
use crate::time::now_unix;

/// The route prefix under which signed object URLs are served.
pub const ROUTE: &str = "/_store/";

const TMP_DIR: &str = ".tmp";

pub struct LocalStore {
    root: PathBuf,
    secret: [u8; 32],
}

impl LocalStore {
    /// Opens (creating if needed) a data directory. Signed URLs are valid only for the life
    /// of this value: each start signs with a fresh secret.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        std::fs::create_dir_all(root.join(TMP_DIR)).map_err(|source| StoreError::Io {
            key: root.display().to_string(),
            source,
        })?;
        Ok(LocalStore {
            root,
            secret: rand::random(),
        })
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    fn signature(&self, key: &str, expires: u64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("any key length");
        mac.update(format!("GET\n{key}\n{expires}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    fn verify(&self, key: &str, expires: u64, sig: &str) -> bool {
        let Ok(sig) = hex::decode(sig) else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("any key length");
        mac.update(format!("GET\n{key}\n{expires}").as_bytes());
        mac.verify_slice(&sig).is_ok() && now_unix() <= expires
    }

    /// The route that answers signed URLs like an S3 GET: 200/206 with bytes, 416 past the
    /// end, 404 for a missing object, 403 for a bad or expired signature.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route(&format!("{ROUTE}{{*key}}"), get(serve_object))
            .with_state(self)
    }

    fn tmp_path(&self) -> PathBuf {
        self.root
            .join(TMP_DIR)
            .join(format!("{:016x}", rand::random::<u64>()))
    }
}

fn io_err(key: &str) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        key: key.to_owned(),
        source,
    }
}

/// Keys are relative, `/`-separated, with no empty, `.` or `..` segments.
fn check_key(key: &str) -> Result<(), StoreError> {
    let ok = !key.is_empty()
        && key.len() <= 1024
        && !key.contains(['\\', '\0'])
        && key
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != ".." && seg != TMP_DIR);
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadKey(key.chars().take(200).collect()))
    }
}

async fn ensure_parent(path: &Path, key: &str) -> Result<(), StoreError> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(io_err(key))?;
    }
    Ok(())
}

#[async_trait]
impl Store for LocalStore {
    async fn put(&self, key: &str, body: Bytes) -> Result<(), StoreError> {
        let path = self.path(key)?;
        ensure_parent(&path, key).await?;
        let tmp = self.tmp_path();
        tokio::fs::write(&tmp, &body).await.map_err(io_err(key))?;
        tokio::fs::rename(&tmp, &path).await.map_err(io_err(key))
    }

    async fn put_new(&self, key: &str, body: Bytes) -> Result<bool, StoreError> {
        let path = self.path(key)?;
        ensure_parent(&path, key).await?;
        let tmp = self.tmp_path();
        tokio::fs::write(&tmp, &body).await.map_err(io_err(key))?;
        // A hard link appears whole and fails if the name exists: atomic and exclusive.
        let linked = tokio::fs::hard_link(&tmp, &path).await;
        let _ = tokio::fs::remove_file(&tmp).await;
        match linked {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(io_err(key)(e)),
        }
    }

    fn appends(&self) -> bool {
        true
    }

    async fn append(&self, key: &str, tail: Bytes, offset: usize) -> Result<(), StoreError> {
        let path = self.path(key)?;
        ensure_parent(&path, key).await?;
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .await
            .map_err(io_err(key))?;
        // Bytes before `offset` are final; a reader of the growing file sees a prefix.
        file.set_len(offset as u64).await.map_err(io_err(key))?;
        file.seek(SeekFrom::Start(offset as u64))
            .await
            .map_err(io_err(key))?;
        file.write_all(&tail).await.map_err(io_err(key))?;
        file.flush().await.map_err(io_err(key))
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        let path = self.path(key)?;
        match tokio::fs::read(&path).await {
            Ok(body) => Ok(Some(body.into())),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(key)(e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        if prefix.contains("..") || prefix.contains('\\') {
            return Err(StoreError::BadKey(prefix.to_owned()));
        }
        // Walk only the deepest directory the prefix names.
        let dir_part = prefix[..prefix.rfind('/').unwrap_or(0)].to_owned();
        let root = self.root.clone();
        let prefix = prefix.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut keys = Vec::new();
            walk(&root, &root.join(&dir_part), &prefix, &mut keys).map_err(io_err(&prefix))?;
            keys.sort();
            Ok(keys)
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(key)(e)),
        }
    }

    async fn presign_get(
        &self,
        key: &str,
        _range_start: Option<u64>,
        ttl: Duration,
    ) -> Result<String, StoreError> {
        check_key(key)?;
        let expires = now_unix() + ttl.as_secs().max(1);
        Ok(format!(
            "{ROUTE}{key}?expires={expires}&sig={}",
            self.signature(key, expires)
        ))
    }
}

fn walk(root: &Path, dir: &Path, prefix: &str, out: &mut Vec<String>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let Ok(rel) = path.strip_prefix(root) else {
            continue;
        };
        let Some(rel) = rel.to_str() else { continue };
        if rel == TMP_DIR {
            continue;
        }
        if entry.file_type()?.is_dir() {
            let as_dir = format!("{rel}/");
            if as_dir.starts_with(prefix) || prefix.starts_with(&as_dir) {
                walk(root, &path, prefix, out)?;
            }
        } else if rel.starts_with(prefix) {
            out.push(rel.to_owned());
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct SignedQuery {
    expires: u64,
    sig: String,
}

async fn serve_object(
    State(store): State<Arc<LocalStore>>,
    UrlPath(key): UrlPath<String>,
    headers: HeaderMap,
    query: Result<Query<SignedQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return plain(StatusCode::FORBIDDEN, "missing signature");
    };
    if check_key(&key).is_err() || !store.verify(&key, q.expires, &q.sig) {
        return plain(
            StatusCode::FORBIDDEN,
            "signature does not match or has expired",
        );
    }
    let path = store.root.join(&key);
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return plain(StatusCode::NOT_FOUND, "no such key")
        }
        Err(e) => {
            tracing::error!(key, error = %e, "reading object");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "cannot read object");
        }
    };
    let len = match file.metadata().await {
        Ok(m) => m.len(),
        Err(_) => return plain(StatusCode::INTERNAL_SERVER_ERROR, "cannot read object"),
    };
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_range);
    let (status, start, end) = match range {
        None => (StatusCode::OK, 0, len),
        Some((start, _)) if start >= len => {
            let mut resp = plain(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable");
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return resp;
        }
        Some((start, last)) => {
            let end = last.map_or(len, |l| l.saturating_add(1).min(len));
            (StatusCode::PARTIAL_CONTENT, start, end)
        }
    };
    if start > 0 && file.seek(SeekFrom::Start(start)).await.is_err() {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "cannot read object");
    }
    // The file may still be growing: serve exactly the bytes `len` promised.
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file.take(end - start)));
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{len}", end - 1)) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    resp
}

/// `bytes=N-` or `bytes=N-M`; anything else is ignored as S3 ignores it.
fn parse_range(value: &str) -> Option<(u64, Option<u64>)> {
    let spec = value.trim().strip_prefix("bytes=")?;
    let (start, end) = spec.split_once('-')?;
    let start = start.trim().parse().ok()?;
    let end = match end.trim() {
        "" => None,
        e => Some(e.parse().ok()?),
    };
    match end {
        Some(e) if e < start => None,
        _ => Some((start, end)),
    }
}

fn plain(status: StatusCode, msg: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": msg }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_the_data_dir() {
        for bad in [
            "", "../x", "a/../b", "/abs", "a//b", "a/./b", ".tmp/x", "a\\b",
        ] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
        assert!(check_key("jobs/alice/1.x/log.txt").is_ok());
    }

    #[test]
    fn ranges_parse_like_s3() {
        assert_eq!(parse_range("bytes=5-"), Some((5, None)));
        assert_eq!(parse_range("bytes=0-9"), Some((0, Some(9))));
        assert_eq!(parse_range("bytes=9-0"), None);
        assert_eq!(parse_range("items=1-"), None);
        assert_eq!(parse_range("bytes=-5"), None);
    }
}
