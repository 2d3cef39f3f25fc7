//! Ending a job, in one place for the runner and housekeeping alike. Whoever claims `end`
//! first decides how the job ended; the other backs off. The winner then writes
//! its meta (so the state is final before anyone can read the exit code), `exit`, `size`
//! (last: its presence means the log is complete), and drops the job's open marker.

use aws_exec_protocol::keys::{open_job, JobKeys};
use aws_exec_protocol::{JobEnd, JobMeta};

use crate::log_sink::Sink;
use crate::records::save_meta;
use crate::store::{Store, StoreError};

/// The exit code of a job cancelled before it started, as if SIGTERM had reached it.
pub const CANCELLED_BEFORE_START_EXIT: i32 = 128 + 15;

/// The exit code of a lost job: its runner died, or the service stopped it.
pub const LOST_EXIT: i32 = 255;

/// What a cancel writes into a job's run claim, so that no runner starts it; housekeeping
/// finishes such a job as cancelled if the cancel stopped before ending it.
pub const CANCEL_CLAIM: &[u8] = b"cancelled";

/// Claims the job's end; `false` when someone else ended it first.
pub async fn claim_end(
    store: &dyn Store,
    keys: &JobKeys,
    end: &JobEnd,
) -> Result<bool, StoreError> {
    let body = serde_json::to_vec(end).expect("end serializes");
    store.put_new(&keys.end(), body.into()).await
}

/// The end someone claimed, if any.
pub async fn read_end(store: &dyn Store, keys: &JobKeys) -> Result<Option<JobEnd>, StoreError> {
    Ok(match store.get(&keys.end()).await? {
        Some(body) => serde_json::from_slice(&body).ok(),
        None => None,
    })
}

/// Whether a job being ended has an open marker to remove.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    Open,
    /// A job that ends [quiet](super::quiet) never had one.
    None,
}

/// Writes a claimed end: meta, then exit and size through `sink` (none for a job whose
/// objects went to push-urls that are no longer known), then removes the open marker.
pub async fn record_end(
    store: &dyn Store,
    sink: Option<&dyn Sink>,
    meta: &mut JobMeta,
    end: JobEnd,
    size: u64,
    marker: Marker,
) -> Result<(), StoreError> {
    meta.end(end);
    persist("the meta", STORE_ATTEMPTS, || save_meta(store, meta)).await?;
    let written = match sink {
        Some(sink) => {
            // A push-url's PUTs are retried by the push sink itself.
            let attempts = if sink.in_store() { STORE_ATTEMPTS } else { 1 };
            match persist("exit", attempts, || sink.exit(end.exit)).await {
                Ok(()) => persist("size", attempts, || sink.size(size)).await,
                Err(e) => Err(e),
            }
        }
        None => Ok(()),
    };
    match (&written, sink) {
        // In the service's own store the marker stays until exit and size are written,
        // so housekeeping finishes what failed here.
        (Err(_), Some(sink)) if sink.in_store() => return written,
        // A push-url's objects are the caller's: nothing is left for housekeeping to do.
        _ => {}
    }
    // Before the open marker goes: should this fail, housekeeping ends the job again and
    // the delivery is written then.
    let ended: &JobMeta = meta;
    persist("the notification", STORE_ATTEMPTS, || {
        crate::notify::enqueue(store, ended)
    })
    .await?;
    if marker == Marker::Open {
        let marker = open_job(&meta.owner, &meta.uid);
        persist("the open marker", STORE_ATTEMPTS, || store.delete(&marker)).await?;
    }
    written
}

/// How often a write of a job's end to the store is tried: the store's client retries
/// too; this outlasts a longer outage of a few seconds.
const STORE_ATTEMPTS: u32 = 4;

/// A write of what the protocol promises, tried again over a transient error.
async fn persist<F, Fut>(what: &str, attempts: u32, mut write: F) -> Result<(), StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), StoreError>>,
{
    let mut wait = std::time::Duration::from_millis(250);
    for attempt in 1.. {
        match write().await {
            Ok(()) => return Ok(()),
            Err(e @ StoreError::BadKey(_)) => return Err(e),
            Err(e) if attempt >= attempts => return Err(e),
            Err(e) => {
                tracing::warn!(what, attempt, error = %e, "writing a job's end; trying again");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
    }
    unreachable!("the loop returns")
}
