//! Housekeeping: jobs whose runner died (a crashed `serve`, a Lambda that never ran the
//! async event) would leave pollers waiting forever. A sweep ends each such job as `lost`:
//! a note in its log, `exit` 255 and `size`, so every reader stops.

use std::collections::HashSet;
use std::time::Duration;

use aws_exec_protocol::keys::{JobKeys, JOBS_PREFIX};
use aws_exec_protocol::limits::MAX_RUN_TIME;
use aws_exec_protocol::{JobMeta, JobState};
use serde::Serialize;

use crate::store::{Store, StoreError};
use crate::time::now_unix;

/// A job unfinished this long after submit cannot still be running on Lambda.
pub const LOST_AFTER: Duration = Duration::from_secs(MAX_RUN_TIME.as_secs() + 5 * 60);

/// The exit code recorded for a lost job.
pub const LOST_EXIT: i32 = 255;

#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub jobs: usize,
    pub lost: Vec<String>,
}

/// Ends every job submitted more than `older_than` ago that has no `size`.
pub async fn sweep(store: &dyn Store, older_than: Duration) -> Result<Report, StoreError> {
    let keys = store.list(JOBS_PREFIX).await?;
    let finished: HashSet<&str> = keys.iter().filter_map(|k| k.strip_suffix("size")).collect();
    let cutoff = now_unix().saturating_sub(older_than.as_secs());
    let mut report = Report::default();
    for key in &keys {
        let Some(prefix) = key.strip_suffix("meta.json") else {
            continue;
        };
        report.jobs += 1;
        if finished.contains(prefix) {
            continue;
        }
        let Some(body) = store.get(key).await? else {
            continue;
        };
        let Ok(mut meta) = serde_json::from_slice::<JobMeta>(&body) else {
            tracing::warn!(key, "unreadable meta.json; leaving it");
            continue;
        };
        if meta.pushed || meta.state.is_final() || meta.submitted > cutoff {
            continue;
        }
        let job = JobKeys::new(&meta.owner, &meta.uid);
        // Claiming first keeps a late runner from starting it after it was declared lost.
        let never_started = store.put_new(&job.claim(), "lost".into()).await?;
        let mut log = store.get(&job.log()).await?.unwrap_or_default().to_vec();
        log.extend_from_slice(if never_started {
            b"\naws-exec: this job never started; it was lost\n".as_slice()
        } else {
            b"\naws-exec: the runner stopped without recording an end; job lost\n".as_slice()
        });
        store.put(&job.log(), log.clone().into()).await?;
        store.put(&job.exit(), LOST_EXIT.to_string().into()).await?;
        store.put(&job.size(), log.len().to_string().into()).await?;
        meta.state = JobState::Lost;
        meta.exit = Some(LOST_EXIT);
        meta.finished = Some(now_unix());
        store
            .put(&job.meta(), serde_json::to_vec(&meta).expect("meta").into())
            .await?;
        tracing::warn!(uid = %meta.uid, owner = %meta.owner, "job lost");
        report.lost.push(meta.uid.to_string());
    }
    Ok(report)
}
