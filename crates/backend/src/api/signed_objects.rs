//! The route that answers the local store's signed URLs like S3 answers presigned ones: a
//! GET gets 200/206 with bytes, 416 past the end, 404 for a missing object; a PUT (an input
//! upload) stores the body whole or not at all, 413 past the size limit; both get 403 for a
//! bad or expired signature. A stored upload under `inbox/` is announced, so `serve` can
//! fire triggers as the bucket's notification does on AWS.

use std::io::{ErrorKind, SeekFrom};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use aws_exec_protocol::keys::INBOX_PREFIX;
use aws_exec_protocol::limits::MAX_INPUT_BYTES;

use crate::store::local::ROUTE;
use crate::store::LocalStore;

/// Told the key of every upload stored under `inbox/`: `serve` fires triggers from it.
pub type UploadSender = tokio::sync::mpsc::UnboundedSender<String>;

#[derive(Clone)]
struct Signed {
    store: Arc<LocalStore>,
    uploaded: Option<UploadSender>,
}

pub fn routes(store: Arc<LocalStore>, uploaded: Option<UploadSender>) -> Router {
    Router::new()
        .route(
            &format!("{ROUTE}{{*key}}"),
            get(serve_object).put(receive_object),
        )
        .with_state(Signed { store, uploaded })
}

#[derive(Deserialize)]
struct SignedQuery {
    expires: u64,
    sig: String,
}

async fn serve_object(
    State(Signed { store, .. }): State<Signed>,
    UrlPath(key): UrlPath<String>,
    headers: HeaderMap,
    query: Result<Query<SignedQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return plain(StatusCode::FORBIDDEN, "missing signature");
    };
    let path = match store.object_path(&key) {
        Ok(path) if store.verify("GET", &key, q.expires, &q.sig) => path,
        _ => {
            return plain(
                StatusCode::FORBIDDEN,
                "signature does not match or has expired",
            )
        }
    };
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
    // A suffix range (the last N bytes, as a page opening a large log at its end asks) is
    // the range from there to the end.
    let range = range.map(|range| match range {
        ByteRange::From(start, last) => (start, last),
        ByteRange::Last(n) => (len.saturating_sub(n), None),
    });
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

async fn receive_object(
    State(Signed { store, uploaded }): State<Signed>,
    UrlPath(key): UrlPath<String>,
    headers: HeaderMap,
    query: Result<Query<SignedQuery>, QueryRejection>,
    body: Body,
) -> Response {
    let signed = query.is_ok_and(|Query(q)| store.verify("PUT", &key, q.expires, &q.sig));
    if !signed {
        return plain(
            StatusCode::FORBIDDEN,
            "signature does not match or has expired",
        );
    }
    let too_large = || {
        plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("an input may hold at most {MAX_INPUT_BYTES} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_INPUT_BYTES) {
        return too_large();
    }
    match store
        .put_stream(&key, body.into_data_stream(), MAX_INPUT_BYTES)
        .await
    {
        Ok(true) => {
            if let Some(uploaded) = uploaded.filter(|_| key.starts_with(INBOX_PREFIX)) {
                let _ = uploaded.send(key);
            }
            StatusCode::OK.into_response()
        }
        Ok(false) => too_large(),
        Err(crate::StoreError::Backend(e)) => plain(StatusCode::BAD_REQUEST, &e),
        Err(crate::StoreError::Io { source, .. }) if file_and_folder_clash(&source) => plain(
            StatusCode::CONFLICT,
            "a file and a folder cannot have the same name here: \
             this path, or a folder above it, is already the other one",
        ),
        Err(e) => {
            tracing::error!(key, error = %e, "storing an upload");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "cannot store the object")
        }
    }
}

/// Whether a local write failed because the key needs a folder where a file is, or a file
/// where a folder is: S3 keeps `a` and `a/b` side by side, a file system cannot.
fn file_and_folder_clash(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    // A file met where a folder is made comes back as "already exists" from
    // `create_dir_all`, or as "not a directory" deeper down.
    matches!(
        e.kind(),
        ErrorKind::NotADirectory | ErrorKind::IsADirectory | ErrorKind::AlreadyExists
    )
}

/// What a `Range` header asks for.
#[derive(Debug, PartialEq)]
enum ByteRange {
    /// `bytes=N-` or `bytes=N-M`.
    From(u64, Option<u64>),
    /// `bytes=-N`: the last N bytes.
    Last(u64),
}

/// `bytes=N-`, `bytes=N-M` or `bytes=-N`; anything else is ignored as S3 ignores it.
fn parse_range(value: &str) -> Option<ByteRange> {
    let spec = value.trim().strip_prefix("bytes=")?;
    let (start, end) = spec.split_once('-')?;
    if start.trim().is_empty() {
        return end.trim().parse().ok().map(ByteRange::Last);
    }
    let start = start.trim().parse().ok()?;
    let end = match end.trim() {
        "" => None,
        e => Some(e.parse().ok()?),
    };
    match end {
        Some(e) if e < start => None,
        _ => Some(ByteRange::From(start, end)),
    }
}

fn plain(status: StatusCode, msg: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": msg }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_like_s3() {
        assert_eq!(parse_range("bytes=5-"), Some(ByteRange::From(5, None)));
        assert_eq!(parse_range("bytes=0-9"), Some(ByteRange::From(0, Some(9))));
        assert_eq!(parse_range("bytes=9-0"), None);
        assert_eq!(parse_range("items=1-"), None);
        assert_eq!(parse_range("bytes=-5"), Some(ByteRange::Last(5)));
        assert_eq!(parse_range("bytes=-x"), None);
    }
}
