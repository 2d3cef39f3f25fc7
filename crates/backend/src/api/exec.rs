//! `POST /api/exec` starts a job (and, asked to wait, answers its first poll too); `GET
//! /api/exec` says where to read its log or, once it is all read, its exit code.

use aws_exec_protocol::keys::JobKeys;
use std::time::Duration;

use aws_exec_protocol::limits::{FOLLOW_URL_TTL, LOG_URL_TTL};
use aws_exec_protocol::wire::{MAX_INLINE_LOG, MAX_POLL_WAIT};
use aws_exec_protocol::{
    ErrorBody, ExecQuery, ExecRequest, ExecResponse, Follow, JobMeta, PollQuery, PollResponse, Uid,
};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use base64::Engine as _;

use super::caller::Caller;
use super::error::ApiError;
use super::idempotency;
use super::{absolute_url, parse_json, AppState};
use crate::lifecycle::quiet::Settled;
use crate::lifecycle::submit::{start, start_awaited, Submission};
use crate::log_objects::partial_for;
use crate::records::load_meta;
use crate::store::get_number;
use crate::time::now_unix;

#[utoipa::path(
    post,
    path = "/api/exec",
    tag = "jobs",
    request_body = ExecRequest,
    params(
        ExecQuery,
        ("Idempotency-Key" = Option<String>, Header,
         description = "The same key and body again within 24 hours answer the same uid"),
    ),
    responses(
        (status = 200, description = "The job was queued", body = ExecResponse),
        (status = 400, description = "A malformed body, naming the field at fault, or a bad `wait`", body = ErrorBody),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
        (status = 404, description = "An unknown rpc, or an input that is not the caller's upload", body = ErrorBody),
        (status = 409, description = "The same Idempotency-Key is still being handled", body = ErrorBody),
        (status = 413, description = "A body over 1 MiB", body = ErrorBody),
        (status = 422, description = "The Idempotency-Key was used with another body", body = ErrorBody),
        (status = 429, description = "The caller has as many jobs queued or running as one key may, or its share of the queue", body = ErrorBody),
        (status = 503, description = "The queue is full or the service is stopping", body = ErrorBody),
    ),
    security(("auth" = []))
)]
pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ExecQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ExecResponse>, ApiError> {
    let Query(query) = query.map_err(ApiError::query_rejected)?;
    check_wait(query.wait)?;
    let body = body.map_err(ApiError::body_rejected)?;
    let request: ExecRequest = parse_json(&body)?;
    let pushed = request.push_urls.is_some();
    let submission = Submission {
        owner: caller.name.clone(),
        request,
        origin: None,
        idempotency: idempotency::key(&headers)?.map(|key| (key.to_owned(), body.to_vec())),
        state: None,
    };
    // A caller that waits may have its job kept quiet: nothing stored until its end, or
    // until it has run a moment or the wait is over (then the caller is answered as usual).
    let (uid, quiet) = match (query.wait, pushed) {
        (Some(wait), false) if wait > 0 => start_awaited(&state.jobs, submission).await?,
        _ => (start(&state.jobs, submission).await?, None),
    };
    let mut response = ExecResponse::new(uid);
    if let (Some(quiet), Some(wait)) = (quiet, query.wait) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
        if let Settled::Ended { exit, size, notes } = quiet.settle_by(deadline).await? {
            // Its end is known here; its log, if the caller takes it inline, is one read.
            let inline = query.inline.unwrap_or(0).min(MAX_INLINE_LOG);
            let keys = JobKeys::new(&caller.name, &response.uid.parse()?);
            let log = match size {
                0 => Some(Bytes::new()),
                _ if size <= inline => state.jobs.store.get(&keys.log()).await?,
                _ => None,
            };
            response.poll = match log {
                Some(log) if log.is_empty() => Some(PollResponse::Exit { exit, notes }),
                Some(log) => Some(PollResponse::Inline {
                    exit,
                    notes,
                    log_base64: base64::engine::general_purpose::STANDARD.encode(&log),
                }),
                None => None,
            };
            if response.poll.is_some() {
                return Ok(Json(response));
            }
        }
    }
    // A pushed job's log is not here to point at. The job is queued whatever the look
    // finds: a failed look leaves the caller to poll as usual.
    if let (Some(wait), false) = (query.wait, pushed) {
        let first = PollQuery {
            uid: response.uid.clone(),
            range_start: 0,
            wait: Some(wait),
            segment: Some(0),
        };
        let uid: Uid = response.uid.parse()?;
        let keys = JobKeys::new(&caller.name, &uid);
        response.poll = answer(&state, &keys, &first, &headers).await.ok();
    }
    Ok(Json(response))
}

#[utoipa::path(
    get,
    path = "/api/exec",
    tag = "jobs",
    params(PollQuery),
    responses(
        (status = 200, description = "Where to read the log from `range-start`, or the exit code once it is all read", body = PollResponse),
        (status = 400, description = "A malformed uid or range", body = ErrorBody),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
        (status = 404, description = "No such job of the caller's", body = ErrorBody),
    ),
    security(("auth" = []))
)]
pub async fn poll(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<PollQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Json<PollResponse>, ApiError> {
    let Query(query) = query.map_err(ApiError::query_rejected)?;
    let uid: Uid = query.uid.parse()?;
    check_wait(query.wait)?;
    let keys = JobKeys::new(&caller.name, &uid);
    answer(&state, &keys, &query, &headers).await.map(Json)
}

fn check_wait(wait: Option<u64>) -> Result<(), ApiError> {
    match wait {
        Some(wait) if wait > MAX_POLL_WAIT => Err(ApiError::BadRequest(format!(
            "wait must be at most {MAX_POLL_WAIT} seconds; got {wait}"
        ))),
        _ => Ok(()),
    }
}

/// What a poll answers: at once, or, where this process runs the job, once there is news
/// (or `wait` has passed) instead of the caller asking again and again.
async fn answer(
    state: &AppState,
    keys: &JobKeys,
    query: &PollQuery,
    headers: &HeaderMap,
) -> Result<PollResponse, ApiError> {
    let wait = query.wait.unwrap_or(0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    let events = state.jobs.events.as_ref().filter(|_| wait > 0);
    loop {
        let mut news = events.map(|e| e.subscribe(keys.uid()));
        let answer = look(state, keys, query, headers).await;
        let waiting = matches!(answer, Ok(Looked::NothingNew(_)));
        if let (true, Some(rx)) = (waiting, news.as_mut()) {
            let woke = tokio::time::timeout_at(deadline, rx.changed()).await;
            if matches!(woke, Ok(Ok(()))) {
                continue;
            }
        }
        drop(news);
        if let Some(events) = events {
            events.release(keys.uid());
        }
        return answer.map(Looked::into_response);
    }
}

/// What a poll found.
enum Looked {
    /// The answer, whatever comes later.
    Now(PollResponse),
    /// A log URL with nothing past `range-start` yet: worth waiting for news.
    NothingNew(PollResponse),
}

impl Looked {
    fn into_response(self) -> PollResponse {
        match self {
            Looked::Now(r) | Looked::NothingNew(r) => r,
        }
    }
}

async fn look(
    state: &AppState,
    keys: &JobKeys,
    query: &PollQuery,
    headers: &HeaderMap,
) -> Result<Looked, ApiError> {
    let store = state.jobs.store.as_ref();
    let uid = keys.uid();
    let log_url = |url: String| absolute_url(&url, state.public_url.as_deref(), headers);
    match get_number::<u64>(store, &keys.size()).await? {
        Some(size) if query.range_start == size => {
            let exit = get_number::<i32>(store, &keys.exit())
                .await?
                .ok_or_else(|| crate::StoreError::Backend(format!("{uid}: size without exit")))?;
            // What the service says of the run travels with its end, not in the log.
            let notes = load_meta(store, keys)
                .await?
                .map(|meta| meta.notes)
                .unwrap_or_default();
            return Ok(Looked::Now(PollResponse::Exit { exit, notes }));
        }
        Some(size) if query.range_start > size => {
            return Err(ApiError::BadRequest(format!(
                "range-start {} is past the end of the log ({size} bytes)",
                query.range_start
            )));
        }
        Some(_) => {
            let url = store
                .presign_get(&keys.log(), Some(query.range_start), LOG_URL_TTL)
                .await?;
            return Ok(Looked::Now(PollResponse::url(log_url(url))));
        }
        None => {
            let meta = store
                .get(&keys.meta())
                .await?
                .ok_or_else(|| ApiError::UnknownJob(uid.to_owned()))?;
            if serde_json::from_slice::<JobMeta>(&meta).is_ok_and(|m| m.pushed) {
                return Err(ApiError::BadRequest(format!(
                    "job {uid} writes to its push-urls; read its objects there"
                )));
            }
        }
    }
    if store.appends() {
        // The log grows in place: one URL serves every reader.
        let url = store
            .presign_get(&keys.log(), Some(query.range_start), LOG_URL_TTL)
            .await?;
        let grown = store.head(&keys.log()).await?.unwrap_or(0) > query.range_start;
        let answer = PollResponse::url(log_url(url));
        return Ok(match grown {
            true => Looked::Now(answer),
            false => Looked::NothingNew(answer),
        });
    }
    // Segments while it runs. A client that says which segment it reads next gets URLs
    // for those to come; one that does not (aws-exec's own) reads partial.txt by range.
    // A follower of segments reads them from storage: partial.txt, which old clients read,
    // is not looked at or remade for it (a HEAD, a LIST and more per answer).
    let partial = match query.segment {
        Some(_) => keys.partial_log(),
        None => partial_for(store, keys, query.range_start).await?,
    };
    let url = store
        .presign_get(&partial, Some(query.range_start), LOG_URL_TTL)
        .await?;
    let follow = match query.segment {
        Some(first) => Some(follow_urls(state, keys, first, headers).await?),
        None => None,
    };
    Ok(Looked::Now(PollResponse::Url {
        url: log_url(url),
        follow,
    }))
}

/// How many segment URLs one answer carries: at the steady pace, about a minute of log.
const FOLLOW_SEGMENTS: u64 = 64;

async fn follow_urls(
    state: &AppState,
    keys: &JobKeys,
    first: u64,
    headers: &HeaderMap,
) -> Result<Follow, ApiError> {
    let store = state.jobs.store.as_ref();
    let sign = |key: String| async move {
        let url = store.presign_get(&key, None, FOLLOW_URL_TTL).await?;
        Ok::<_, ApiError>(absolute_url(&url, state.public_url.as_deref(), headers))
    };
    let mut segments = Vec::with_capacity(FOLLOW_SEGMENTS as usize);
    for seq in first..first.saturating_add(FOLLOW_SEGMENTS) {
        segments.push(sign(keys.segment(seq)).await?);
    }
    Ok(Follow {
        first,
        segments,
        size: sign(keys.size()).await?,
        exit: sign(keys.exit()).await?,
        log: sign(keys.log()).await?,
        meta: Some(sign(keys.meta()).await?),
        expires: now_unix() + FOLLOW_URL_TTL.as_secs(),
    })
}
