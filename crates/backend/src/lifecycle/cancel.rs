//! Cancelling a job. A queued job never starts (ended here, by claiming its start); a
//! running one is stopped (here at once, or by its runner elsewhere, which finds the cancel
//! marker within a second); a finished one is left as it is.

use std::sync::Arc;
use std::time::Duration;

use aws_exec_protocol::keys::JobKeys;
use aws_exec_protocol::{AuthName, JobEnd, JobMeta, JobState, Uid};
use bytes::Bytes;

use super::end::{claim_end, record_end, Marker, CANCELLED_BEFORE_START_EXIT, CANCEL_CLAIM};
use super::{JobError, Jobs};
use crate::log_sink::{Sink, StoreSink};
use crate::records::load_meta;
use crate::store::{Store, StoreError};
use crate::time::now_unix;

/// How long the answer waits for a stopped job to record its end.
const SETTLE: Duration = Duration::from_secs(5);

/// Cancels `owner`'s job `uid`; answers its state after the request (final in the usual
/// case: a stopped job is given a few seconds to record its end).
pub async fn cancel(jobs: &Jobs, owner: &AuthName, uid: &Uid) -> Result<JobState, JobError> {
    let keys = JobKeys::new(owner, uid);
    let store = jobs.store.as_ref();
    let meta = load_meta(store, &keys)
        .await?
        .ok_or_else(|| JobError::UnknownJob(uid.to_string()))?;
    if meta.state.is_final() {
        return Ok(meta.state);
    }
    // A task of its own (Fargate) is stopped too, once the job has ended.
    let in_a_task = meta.task_size.is_some();
    if cancel_in_store(&jobs.store, &keys, meta).await? == Cancelled::BeforeStart {
        // Polls waiting on it in this process hear of its end: no runner will tell them.
        if let Some(events) = &jobs.events {
            events.publish(keys.uid());
        }
        // A local dispatcher frees its queue slot at once; a task not started yet is
        // stopped before it is billed for running nothing.
        jobs.dispatch.cancel(uid);
        if in_a_task {
            jobs.dispatch.stop(&keys).await;
        }
        return Ok(JobState::Cancelled);
    }
    jobs.dispatch.cancel(uid);
    // Give the runner a moment to stop it and record the end, so the answer is final in
    // the usual case.
    let deadline = tokio::time::Instant::now() + SETTLE;
    let state = loop {
        let now = load_meta(store, &keys).await?.map(|m| m.state);
        match now {
            Some(s) if s.is_final() || tokio::time::Instant::now() >= deadline => break s,
            None => return Err(JobError::UnknownJob(uid.to_string())),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    // Its end written (or the runner given its time): what runs it elsewhere goes.
    if in_a_task {
        jobs.dispatch.stop(&keys).await;
    }
    Ok(state)
}

/// What a cancel found in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cancelled {
    /// It had not started: the cancel claimed its start, and ended it.
    BeforeStart,
    /// A runner holds it: the cancel mark stops it.
    WhileRunning,
}

/// A cancel's writes, in an order a sweep can finish from any point: the caller's mark
/// first (final: nothing overwrites it), then the run claim that keeps every runner away,
/// then the end of a job that never started.
pub async fn cancel_in_store(
    store: &Arc<dyn Store>,
    keys: &JobKeys,
    meta: JobMeta,
) -> Result<Cancelled, StoreError> {
    super::marker::cancel(store.as_ref(), keys).await?;
    let claim = keys.claim_of(meta.attempt());
    if !store
        .put_new(&claim, Bytes::from_static(CANCEL_CLAIM))
        .await?
    {
        return Ok(Cancelled::WhileRunning);
    }
    end_unstarted(store, keys, meta).await?;
    Ok(Cancelled::BeforeStart)
}

/// Ends a job that never started: the cancel claimed its start, so no runner will.
async fn end_unstarted(
    store: &Arc<dyn Store>,
    keys: &JobKeys,
    mut meta: JobMeta,
) -> Result<(), StoreError> {
    let end = JobEnd {
        exit: CANCELLED_BEFORE_START_EXIT,
        state: JobState::Cancelled,
        finished: now_unix(),
    };
    if !claim_end(store.as_ref(), keys, &end).await? {
        return Ok(());
    }
    let sink = StoreSink {
        store: store.clone(),
        keys: keys.clone(),
        segment_pace: Default::default(),
        events: None,
    };
    let store = store.as_ref();
    // A job writing to push-urls has its log elsewhere; its meta still records the end.
    let sink = (!meta.pushed).then_some(&sink as &dyn Sink);
    // It never ran: its log is empty, and its meta says why. One waiting for another
    // attempt keeps the log of those before, whole in `log.txt`.
    let size = match (sink.is_some(), meta.attempt()) {
        (false, _) => 0,
        (true, 1) => {
            store.put(&keys.log(), Bytes::new()).await?;
            0
        }
        (true, _) => store.head(&keys.log()).await?.unwrap_or(0),
    };
    meta.notes.push(match meta.attempt() {
        1 => "cancelled before it started".to_owned(),
        n => format!("cancelled while waiting for attempt {n}"),
    });
    record_end(store, sink, &mut meta, end, size, Marker::Open).await?;
    let _ = store.delete(&keys.stdin()).await;
    Ok(())
}
