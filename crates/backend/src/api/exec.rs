//! `POST /api/exec` starts a job; `GET /api/exec` says where to read its log or, once it
//! is all read, its exit code.

use aws_exec_protocol::keys::{open_job, JobKeys};
use aws_exec_protocol::limits::LOG_URL_TTL;
use aws_exec_protocol::wire::Command;
use aws_exec_protocol::{ExecRequest, ExecResponse, JobMeta, PollQuery, PollResponse, Uid};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::Json;

use super::caller::Caller;
use super::error::ApiError;
use super::AppState;
use crate::finish::save_meta;
use crate::job::Job;
use crate::store::get_number;
use crate::time::now_unix;

pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ExecResponse>, ApiError> {
    let body = body.map_err(ApiError::body_rejected)?;
    let request: ExecRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("malformed JSON body: {e}")))?;
    let command = request
        .command()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if let Command::Rpc { name, args } = &command {
        state.registry.check(name, args)?;
    }
    let job = Job {
        owner: caller.name,
        uid: Uid::new(now_unix()),
        command,
        push_urls: request.push_urls,
    };
    let meta_key = job.keys().meta();
    let open_key = open_job(&job.owner, &job.uid);
    save_meta(state.store.as_ref(), &job.queued_meta()).await?;
    state.store.put(&open_key, Bytes::new()).await?;
    if let Err(e) = state.dispatch.dispatch(job.clone()).await {
        // The caller never learns this uid; leave no half-made job behind.
        let _ = state.store.delete(&meta_key).await;
        let _ = state.store.delete(&open_key).await;
        return Err(e.into());
    }
    tracing::info!(uid = %job.uid, owner = %job.owner, "job submitted");
    Ok(Json(ExecResponse {
        uid: job.uid.to_string(),
    }))
}

pub async fn poll(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<PollQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Json<PollResponse>, ApiError> {
    let Query(query) = query.map_err(ApiError::query_rejected)?;
    let uid: Uid = query.uid.parse()?;
    let keys = JobKeys::new(&caller.name, &uid);
    let store = state.store.as_ref();
    match get_number::<u64>(store, &keys.size()).await? {
        Some(size) if query.range_start == size => {
            let exit = get_number::<i32>(store, &keys.exit())
                .await?
                .ok_or_else(|| crate::StoreError::Backend(format!("{uid}: size without exit")))?;
            return Ok(Json(PollResponse::Exit { exit }));
        }
        Some(size) if query.range_start > size => {
            return Err(ApiError::BadRequest(format!(
                "range-start {} is past the end of the log ({size} bytes)",
                query.range_start
            )));
        }
        Some(_) => {}
        None => {
            let meta = store
                .get(&keys.meta())
                .await?
                .ok_or_else(|| ApiError::UnknownJob(uid.to_string()))?;
            if serde_json::from_slice::<JobMeta>(&meta).is_ok_and(|m| m.pushed) {
                return Err(ApiError::BadRequest(format!(
                    "job {uid} writes to its push-urls; read its objects there"
                )));
            }
        }
    }
    let url = store
        .presign_get(&keys.log(), Some(query.range_start), LOG_URL_TTL)
        .await?;
    Ok(Json(PollResponse::Url {
        url: absolute_url(&url, state.public_url.as_deref(), &headers),
    }))
}

/// Resolves a store URL relative to this service (the local store's) against the address
/// the caller used to reach us.
fn absolute_url(url: &str, public_url: Option<&str>, headers: &HeaderMap) -> String {
    if !url.starts_with('/') {
        return url.to_owned();
    }
    if let Some(base) = public_url {
        return format!("{}{url}", base.trim_end_matches('/'));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    format!("{scheme}://{host}{url}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_urls_resolve_against_the_callers_host() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(
            absolute_url("/_store/k", None, &h),
            "http://127.0.0.1:9000/_store/k"
        );
        assert_eq!(
            absolute_url("/_store/k", Some("https://x.dev/"), &h),
            "https://x.dev/_store/k"
        );
        assert_eq!(absolute_url("https://s3/x", None, &h), "https://s3/x");
    }
}
