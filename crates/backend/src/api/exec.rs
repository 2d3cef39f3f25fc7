//! `POST /api/exec` starts a job; `GET /api/exec` says where to read its log or, once it
//! is all read, its exit code.

use aws_exec_protocol::keys::{job_index, open_job, JobKeys};
use aws_exec_protocol::limits::LOG_URL_TTL;
use aws_exec_protocol::wire::Command;
use aws_exec_protocol::{
    AuthName, ErrorBody, ExecRequest, ExecResponse, JobMeta, JobOptions, Origin, PollQuery,
    PollResponse, Uid,
};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;

use super::caller::Caller;
use super::error::ApiError;
use super::{absolute_url, parse_json, AppState};
use super::{idempotency, inputs};
use crate::finish::save_meta;
use crate::job::Job;
use crate::store::get_number;
use crate::time::now_unix;

#[utoipa::path(
    post,
    path = "/api/exec",
    tag = "jobs",
    request_body = ExecRequest,
    params(
        ("Idempotency-Key" = Option<String>, Header,
         description = "The same key and body again within 24 hours answer the same uid"),
    ),
    responses(
        (status = 200, description = "The job was queued", body = ExecResponse),
        (status = 400, description = "A malformed body, naming the field at fault", body = ErrorBody),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
        (status = 404, description = "An unknown rpc, or an input that is not the caller's upload", body = ErrorBody),
        (status = 409, description = "The same Idempotency-Key is still being handled", body = ErrorBody),
        (status = 413, description = "A body over 1 MiB", body = ErrorBody),
        (status = 422, description = "The Idempotency-Key was used with another body", body = ErrorBody),
        (status = 503, description = "The queue is full or the service is stopping", body = ErrorBody),
    ),
    security(("auth" = []))
)]
pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ExecResponse>, ApiError> {
    let body = body.map_err(ApiError::body_rejected)?;
    let request: ExecRequest = parse_json(&body)?;
    let uid = start(
        &state,
        Submission {
            owner: caller.name,
            request,
            origin: None,
            idempotency: idempotency::key(&headers)?.map(|key| (key.to_owned(), body.to_vec())),
        },
    )
    .await?;
    Ok(Json(ExecResponse { uid }))
}

/// A job to start, from a caller or from a schedule or trigger of its owner's.
pub(crate) struct Submission {
    pub owner: AuthName,
    pub request: ExecRequest,
    pub origin: Option<Origin>,
    /// An idempotency key and the bytes that must match when it is used again.
    pub idempotency: Option<(String, Vec<u8>)>,
}

/// What `POST /api/exec` refuses, checked: the command, its options, that an rpc exists
/// and takes its args, that inputs are the owner's uploads, where push-urls point.
pub(crate) async fn check(
    state: &AppState,
    owner: &AuthName,
    request: &ExecRequest,
) -> Result<(Command, JobOptions), ApiError> {
    let command = request
        .command()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let options = request
        .options(state.max_timeout.as_secs())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if let Command::Rpc { name, args } = &command {
        state.registry.check(name, args)?;
    }
    inputs::check(state.store.as_ref(), owner, &options.inputs).await?;
    if let Some(urls) = &request.push_urls {
        state
            .push_policy
            .check(urls)
            .await
            .map_err(ApiError::BadRequest)?;
    }
    Ok((command, options))
}

/// Checks a request the way `POST /api/exec` does, queues its job and answers its uid (or,
/// for a repeated idempotency key, the first job's).
pub(crate) async fn start(state: &AppState, submission: Submission) -> Result<String, ApiError> {
    let Submission {
        owner,
        request,
        origin,
        idempotency,
    } = submission;
    let (command, options) = check(state, &owner, &request).await?;
    let uid = Uid::new(now_unix());
    let idempotency = match &idempotency {
        Some((key, body)) => {
            let claim = idempotency::Claim::new(&owner, key, body, &uid);
            match claim.take(state.store.as_ref()).await? {
                idempotency::Taken::Fresh => Some(claim),
                idempotency::Taken::Repeat(uid) => return Ok(uid),
            }
        }
        None => None,
    };
    let job = Job {
        owner,
        uid,
        command,
        push_urls: request.push_urls,
        timeout: options.timeout,
        env: options.env,
        stdin: options.stdin.is_some(),
        inputs: options.inputs,
        origin,
    };
    let created = create(state, &job, options.stdin).await;
    if let Err(e) = created {
        let keys = job.keys();
        // A dispatch that failed may still have been delivered (an invoke that timed out):
        // taking the run claim first either stops that runner from ever starting the job
        // or shows that it already has, and then the job is the caller's after all.
        if let Ok(false) = state
            .store
            .put_new(&keys.claim(), Bytes::from_static(b"aborted"))
            .await
        {
            tracing::warn!(uid = %job.uid, error = %e, "dispatch reported failure but the job runs");
            return Ok(job.uid.to_string());
        }
        // The caller never learns this uid; leave no half-made job behind.
        for key in [
            keys.meta(),
            keys.log(),
            keys.stdin(),
            open_job(&job.owner, &job.uid),
            job_index(&job.owner, &job.uid),
        ] {
            let _ = state.store.delete(&key).await;
        }
        if let Some(claim) = idempotency {
            claim.release(state.store.as_ref()).await;
        }
        return Err(e);
    }
    tracing::info!(uid = %job.uid, owner = %job.owner, "job submitted");
    Ok(job.uid.to_string())
}

/// Writes a new job's objects (stdin first: a runner may start the moment it is
/// dispatched) and hands it to a runner.
async fn create(state: &AppState, job: &Job, stdin: Option<Vec<u8>>) -> Result<(), ApiError> {
    let store = state.store.as_ref();
    if let Some(stdin) = stdin {
        store.put(&job.keys().stdin(), stdin.into()).await?;
    }
    // An empty log from the start: clients written for aws-exec take a missing log (404)
    // for an error, and a job may print nothing for a long time.
    if job.push_urls.is_none() {
        store.put(&job.keys().log(), Bytes::new()).await?;
    }
    save_meta(store, &job.queued_meta()).await?;
    store
        .put(&open_job(&job.owner, &job.uid), Bytes::new())
        .await?;
    store
        .put(&job_index(&job.owner, &job.uid), Bytes::new())
        .await?;
    state.dispatch.dispatch(job.clone()).await?;
    Ok(())
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
