//! Running a job again after a failing end (`"retry"`). The attempt that ended hands the job
//! back: `job.json` becomes the next attempt, meta says when it is due, and a due key
//! (`retry/pending/OWNER/UID/DUE`) outlives the runner. Whoever looks for due attempts
//! (`serve`'s loop; on Lambda a one-shot schedule's wake-up, and housekeeping) starts the
//! next one; its own run claim (`claim-N`) makes it start once.

use std::collections::HashSet;

use aws_exec_protocol::keys::{open_job, JobKeys};
use aws_exec_protocol::{Attempt, AuthName, JobMeta, JobState, Uid};
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::end::read_end;
use super::Jobs;
use crate::due::{job_prefix, DueKey};
use crate::job::{Job, Resume};
use crate::records::{load_meta, save_meta};
use crate::store::{Store, StoreError};
use crate::time::now_unix;

/// Attempts waiting for their time: `retry/pending/OWNER/UID/DUE`.
pub const PENDING_PREFIX: &str = "retry/pending/";

/// The seconds to wait before running `job` again after an attempt that ended so, or
/// `None` when it is not run again.
pub fn wait_before_next(job: &Job, state: JobState, exit: i32) -> Option<u64> {
    let retry = job.retry.as_ref()?;
    if job.attempt() >= retry.attempts || !retry.wants(state, exit) {
        return None;
    }
    let wait = retry.wait_after(job.attempt());
    // Up to a fifth less, so that many jobs failing at once do not come back at once.
    Some(wait - rand::random::<u64>() % (wait / 5 + 1))
}

/// Hands `job` back after an attempt that ended as `ended`: its next attempt, whose log goes
/// on from `resume`, is due in `wait` seconds. `meta` becomes the waiting job's. Answers
/// when the next attempt is due.
pub async fn hand_back(
    store: &dyn Store,
    job: &Job,
    meta: &mut JobMeta,
    ended: Attempt,
    resume: Resume,
    wait: u64,
) -> Result<u64, StoreError> {
    let due = now_unix() + wait;
    let mut next = job.clone();
    next.attempt = job.attempt() + 1;
    next.resume = Some(resume);
    let keys = job.keys();
    // The next attempt first, then the meta that announces it, then the key that starts
    // it: a failure between them leaves the job to housekeeping, never half handed back.
    let body = serde_json::to_vec(&next).expect("a job serializes");
    store.put(&keys.job(), body.into()).await?;
    tracing::info!(uid = %job.uid, attempt = ended.attempt, exit = ended.exit, wait, "job handed back for another attempt");
    // The waiting job's meta is made apart and becomes `meta` only once all of it is
    // written: a hand-back that fails leaves the attempt's meta as it was, for its end.
    let waiting = meta.handed_back(ended, next.attempt, due);
    save_meta(store, &waiting).await?;
    mark_due(store, &job.owner, &job.uid, due).await?;
    *meta = waiting;
    HANDED_BACK.notify_one();
    Ok(due)
}

/// Writes the key that starts job `uid`'s waiting attempt at `due`, the last of a
/// hand-back's writes.
pub async fn mark_due(
    store: &dyn Store,
    owner: &AuthName,
    uid: &Uid,
    due: u64,
) -> Result<(), StoreError> {
    let key = DueKey {
        owner: owner.clone(),
        uid: uid.clone(),
        due,
    };
    store.put(&key.key(PENDING_PREFIX), Bytes::new()).await
}

/// Whether job `uid` has a due key waiting.
pub async fn is_due(store: &dyn Store, owner: &AuthName, uid: &Uid) -> Result<bool, StoreError> {
    let prefix = job_prefix(PENDING_PREFIX, owner, uid);
    Ok(!store.list_page(&prefix, None, 1).await?.is_empty())
}

/// Keeps `job`, still queued when the service stops, for the service's next start: the job
/// as it is dispatched, its meta saying it waits, and a due key that starts it at the next
/// look for due work (`serve` looks at its start). Nothing of it ran, so its attempt stays;
/// a stop the service causes is not a caller's cancel. In this order, as a hand-back: a
/// failure between two writes leaves the job to housekeeping, never half kept.
pub async fn keep_for_restart(store: &dyn Store, job: &Job) -> Result<(), StoreError> {
    if let Some(quiet) = &job.quiet {
        // Nothing of a quiet job is stored yet: stored now, as its caller would see it.
        quiet.reveal().await?;
    }
    let keys = job.keys();
    let mut kept = job.clone();
    kept.requeued = true;
    let body = serde_json::to_vec(&kept).expect("a job serializes");
    store.put(&keys.job(), body.into()).await?;
    let mut meta = match load_meta(store, &keys).await? {
        Some(meta) => meta,
        None => job.queued_meta(),
    };
    let due = now_unix();
    meta.retry_at = Some(due);
    save_meta(store, &meta).await?;
    mark_due(store, &job.owner, &job.uid, due).await?;
    tracing::info!(uid = %job.uid, "queued job kept for the service's next start");
    Ok(())
}

/// Called once an attempt after the first, or one kept over a restart, has taken its run
/// claim: its due key is done.
pub async fn started(store: &dyn Store, job: &Job) -> Result<(), StoreError> {
    if job.attempt() <= 1 && !job.requeued {
        return Ok(());
    }
    crate::due::delete_all(store, &job_prefix(PENDING_PREFIX, &job.owner, &job.uid)).await
}

/// Drops the attempts a removed user's jobs were waiting for.
pub async fn forget(
    store: &dyn Store,
    owner: &aws_exec_protocol::AuthName,
) -> Result<(), StoreError> {
    crate::due::delete_all(store, &format!("{PENDING_PREFIX}{owner}/")).await
}

/// Starts every attempt that is due, at most `max`, skipping the due keys in `handed` (those
/// this process dispatched already, and whose runner has not claimed them yet). Answers how
/// many it started and when the next of the others is due.
pub async fn start_due(
    jobs: &Jobs,
    max: usize,
    handed: &mut HashSet<String>,
) -> Result<(usize, Option<u64>), StoreError> {
    let store = jobs.store.as_ref();
    let now = now_unix();
    let mut started = 0;
    let mut next: Option<u64> = None;
    let listed = store.list(PENDING_PREFIX).await?;
    handed.retain(|key| listed.contains(key));
    for key in listed {
        let Some(due) = DueKey::parse(PENDING_PREFIX, &key) else {
            tracing::warn!(key, "dropping an unreadable due attempt");
            store.delete(&key).await?;
            continue;
        };
        if handed.contains(&key) {
            continue;
        }
        if due.due > now || started >= max {
            next = Some(next.map_or(due.due, |n| n.min(due.due)));
            continue;
        }
        if start_one(jobs, &key, &due).await? {
            started += 1;
            handed.insert(key);
        }
    }
    Ok((started, next))
}

/// Starts the attempt `key` names; `false` when there is none to start (and the key is
/// gone) or the dispatcher is busy (and it waits for the next look).
async fn start_one(jobs: &Jobs, key: &str, due: &DueKey) -> Result<bool, StoreError> {
    let store = jobs.store.as_ref();
    let keys = JobKeys::new(&due.owner, &due.uid);
    let job = match store.get(&keys.job()).await? {
        Some(body) => serde_json::from_slice::<Job>(&body).ok(),
        None => None,
    };
    // Ended while it waited (cancelled), gone (retention, its owner removed), or its
    // attempt started already (a runner that stopped before dropping the key).
    let done = match &job {
        None => true,
        Some(job) => {
            read_end(store, &keys).await?.is_some()
                || store.head(&keys.claim_of(job.attempt())).await?.is_some()
        }
    };
    let Some(job) = job.filter(|_| !done) else {
        store.delete(key).await?;
        return Ok(false);
    };
    // The open marker names the process that holds it queued, where that is this one (a
    // Fargate task is held by ECS).
    if let Some(instance) = jobs.dispatch.instance().filter(|_| job.fargate.is_none()) {
        store
            .put(
                &open_job(&job.owner, &job.uid),
                Bytes::from(instance.to_owned()),
            )
            .await?;
    }
    let uid = job.uid.clone();
    match jobs.dispatch.dispatch(job).await {
        Ok(()) => Ok(true),
        Err(e) => {
            tracing::warn!(%uid, error = %e, "starting an attempt; trying again later");
            Ok(false)
        }
    }
}

/// Wakes `serve`'s loop when an attempt in this process hands its job back.
static HANDED_BACK: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// `serve`'s loop, until `stop`: it looks at start (attempts a previous run left waiting),
/// when a job here is handed back, and when the next known attempt is due
/// ([`crate::due::work_until`]).
pub async fn start_until(jobs: Jobs, stop: CancellationToken) {
    let handed = tokio::sync::Mutex::new(HashSet::new());
    crate::due::work_until("starting due attempts", 64, &HANDED_BACK, stop, || async {
        start_due(&jobs, 64, &mut *handed.lock().await).await
    })
    .await;
}
