//! `DELETE /api/exec?uid=UID`: cancel a job. A queued job never starts (ended here, by
//! claiming its start); a running one is stopped (here at once, or by its runner elsewhere,
//! which finds the cancel marker within a second); a finished one is left as it is.

use std::time::Duration;

use aws_exec_protocol::keys::JobKeys;
use aws_exec_protocol::{CancelResponse, ErrorBody, JobEnd, JobState, Uid, UidQuery};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use bytes::Bytes;

use super::caller::Caller;
use super::error::ApiError;
use super::AppState;
use crate::finish::{claim_end, load_meta, record_end, CANCELLED_BEFORE_START_EXIT, CANCEL_CLAIM};
use crate::runner::sink::{Sink, StoreSink};

use crate::time::now_unix;

/// How long the answer waits for a stopped job to record its end.
const SETTLE: Duration = Duration::from_secs(5);

#[utoipa::path(
    delete,
    path = "/api/exec",
    tag = "jobs",
    params(UidQuery),
    responses(
        (status = 200, description = "The job's state after the request", body = CancelResponse),
        (status = 400, description = "A malformed uid", body = ErrorBody),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
        (status = 404, description = "No such job of the caller's", body = ErrorBody),
    ),
    security(("auth" = []))
)]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<UidQuery>, QueryRejection>,
) -> Result<Json<CancelResponse>, ApiError> {
    let Query(query) = query.map_err(ApiError::query_rejected)?;
    let uid: Uid = query.uid.parse()?;
    let keys = JobKeys::new(&caller.name, &uid);
    let store = state.store.as_ref();
    let meta = load_meta(store, &keys)
        .await?
        .ok_or_else(|| ApiError::UnknownJob(uid.to_string()))?;
    let answer = |state: JobState| {
        Json(CancelResponse {
            uid: uid.to_string(),
            state,
        })
    };
    if meta.state.is_final() {
        return Ok(answer(meta.state));
    }
    store
        .put(&keys.cancel(), Bytes::from(now_unix().to_string()))
        .await?;
    if store
        .put_new(&keys.claim(), Bytes::from_static(CANCEL_CLAIM))
        .await?
    {
        end_unstarted(&state, &keys, meta).await?;
        // A local dispatcher frees its queue slot at once.
        state.dispatch.cancel(&uid);
        return Ok(answer(JobState::Cancelled));
    }
    state.dispatch.cancel(&uid);
    // Give the runner a moment to stop it and record the end, so the answer is final in
    // the usual case.
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let now = load_meta(store, &keys).await?.map(|m| m.state);
        match now {
            Some(s) if s.is_final() || tokio::time::Instant::now() >= deadline => {
                return Ok(answer(s))
            }
            None => return Err(ApiError::UnknownJob(uid.to_string())),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Ends a job that never started: the cancel claimed its start, so no runner will.
async fn end_unstarted(
    state: &AppState,
    keys: &JobKeys,
    mut meta: aws_exec_protocol::JobMeta,
) -> Result<(), ApiError> {
    let store = state.store.as_ref();
    let end = JobEnd {
        exit: CANCELLED_BEFORE_START_EXIT,
        state: JobState::Cancelled,
        finished: now_unix(),
    };
    if !claim_end(store, keys, &end).await? {
        return Ok(());
    }
    let note = b"aws-exec: cancelled before it started\n";
    let sink = StoreSink {
        store: state.store.clone(),
        keys: keys.clone(),
        segment_pace: Default::default(),
        events: None,
    };
    // A job writing to push-urls has its log elsewhere; its meta still records the end.
    let sink = (!meta.pushed).then_some(&sink as &dyn Sink);
    if sink.is_some() {
        // It never ran, so nothing else was written: the note is the whole log.
        store.put(&keys.log(), Bytes::from_static(note)).await?;
    }
    let size = if meta.pushed { 0 } else { note.len() as u64 };
    record_end(store, sink, &mut meta, end, size).await?;
    // Polls waiting on it in this process hear of its end: no runner will tell them.
    if let Some(events) = &state.events {
        events.publish(keys.uid());
    }
    let _ = store.delete(&keys.stdin()).await;
    Ok(())
}
