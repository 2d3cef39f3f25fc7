//! Housekeeping: jobs whose runner died (a crashed `serve`, a Lambda that never ran the
//! async event, or died mid-job) would leave pollers waiting forever. A sweep ends each such
//! job as `lost`: a note in its log, `exit` 255 and `size`, so every reader stops.
//!
//! Its cost follows the number of unfinished jobs, not of jobs kept: it lists only the
//! `open/` markers that submit writes and the end of a job removes.

use std::sync::Arc;
use std::time::Duration;

use aws_exec_protocol::keys::{
    parse_job_index, parse_open_job, JobKeys, INDEX_PREFIX, INPUTS_PREFIX, OPEN_PREFIX,
};
use aws_exec_protocol::limits::{LOST_MARGIN, MAX_EVENT_AGE, MAX_RUN_TIME};
use aws_exec_protocol::{Attempt, AuthName, JobEnd, JobMeta, JobState, Uid};
use serde::Serialize;

use crate::dispatch::fargate::{FargateTasks, TaskState};
use crate::job::{Job, Resume};
use crate::lifecycle::end::{
    claim_end, read_end, record_end, Marker, CANCELLED_BEFORE_START_EXIT, CANCEL_CLAIM,
};
use crate::lifecycle::marker::{self, Lost};
use crate::lifecycle::retry;
use crate::log_objects::{stored_log, stored_log_and_next};
use crate::log_sink::{Sink, StoreSink};
use crate::records::load_meta;
use crate::store::{get_number, Store, StoreError};
use crate::time::now_unix;

pub use crate::lifecycle::end::LOST_EXIT;

/// When an unfinished job counts as lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LostRule {
    /// Every unfinished job: nothing else can be running them (a data directory's own
    /// `serve`, at start).
    AllOpen,
    /// Only jobs that can no longer be running anywhere: queued past the longest wait of
    /// an async event, or started longer ago than the run-time limit, each plus a margin.
    PastDeadlines { run_limit: Duration },
    /// Every unfinished job the one process that runs them (a data directory's `serve`,
    /// while it runs) is not running: one whose end could not be written (a failed write,
    /// a full disk) is closed instead of staying `running` for ever ([`sweep_here`]).
    NotRunningHere,
}

impl Default for LostRule {
    fn default() -> Self {
        LostRule::PastDeadlines {
            run_limit: MAX_RUN_TIME,
        }
    }
}

#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Unfinished jobs looked at.
    pub open: usize,
    pub lost: Vec<String>,
    /// Jobs whose end was claimed but not fully written, or that a cancel claimed before
    /// they started and did not end, now completed.
    pub completed: Vec<String>,
    /// Jobs whose runner was lost, handed back for another attempt.
    pub retried: Vec<String>,
    /// Jobs that could not be looked at or closed this time (a store error).
    pub failed: Vec<String>,
}

/// Closes the jobs `rule` finds lost. `tasks`, where long jobs run on Fargate, is asked
/// about their tasks: one that stopped without an end is lost at once, with ECS's reason.
pub async fn sweep(
    store: &Arc<dyn Store>,
    rule: LostRule,
    tasks: Option<&FargateTasks>,
) -> Result<Report, StoreError> {
    sweep_with(store, rule, tasks, None).await
}

/// Whether this process runs (or holds queued) the job with this uid.
pub type RunsHere = dyn Fn(&Uid) -> bool + Send + Sync;

/// The sweep of a data directory while its `serve` runs ([`LostRule::NotRunningHere`]):
/// `runs_here` says which jobs that process is running or holds queued.
pub async fn sweep_here(
    store: &Arc<dyn Store>,
    runs_here: &RunsHere,
) -> Result<Report, StoreError> {
    sweep_with(store, LostRule::NotRunningHere, None, Some(runs_here)).await
}

async fn sweep_with(
    store: &Arc<dyn Store>,
    rule: LostRule,
    tasks: Option<&FargateTasks>,
    runs_here: Option<&RunsHere>,
) -> Result<Report, StoreError> {
    let shared = store;
    let store = shared.as_ref();
    let mut report = Report::default();
    for marker in store.list(OPEN_PREFIX).await? {
        let Some((owner, uid)) = parse_open_job(&marker) else {
            tracing::warn!(marker, "unreadable open-job marker; leaving it");
            continue;
        };
        report.open += 1;
        // One job's failure (a store error at the worst moment) leaves the others to be
        // swept, and that one to the next sweep.
        // On the heap: one job's look is a large future, and the Lambda handler holding a
        // sweep would otherwise nest it deeper than the compiler lays out by default.
        let swept = Box::pin(sweep_one(
            shared,
            rule,
            tasks,
            runs_here,
            &marker,
            &owner,
            &uid,
            &mut report,
        ))
        .await;
        if let Err(e) = swept {
            tracing::warn!(%uid, error = %e, "housekeeping could not close a job; the next sweep tries again");
            report.failed.push(uid.to_string());
        }
    }
    Ok(report)
}

/// Looks at one unfinished job, and closes it if `rule` says it is lost.
#[allow(clippy::too_many_arguments)]
async fn sweep_one(
    shared: &Arc<dyn Store>,
    rule: LostRule,
    tasks: Option<&FargateTasks>,
    runs_here: Option<&RunsHere>,
    marker: &str,
    owner: &AuthName,
    uid: &Uid,
    report: &mut Report,
) -> Result<(), StoreError> {
    let store = shared.as_ref();
    if let Some(runs_here) = runs_here {
        // A job the process runs is its own to end. One it no longer runs has either ended
        // (its marker goes before the process lets go of it) or could not record its end.
        if runs_here(uid) || store.head(marker).await?.is_none() {
            return Ok(());
        }
    }
    let keys = JobKeys::new(owner, uid);
    let Some(mut meta) = load_meta(store, &keys).await? else {
        // The job itself is gone (deleted, or never fully submitted).
        store.delete(marker).await?;
        return Ok(());
    };
    let sink = StoreSink {
        store: shared.clone(),
        keys: keys.clone(),
        segment_pace: Default::default(),
        events: None,
    };
    let sink = (!meta.pushed).then_some(&sink as &dyn Sink);
    if let Some(end) = read_end(store, &keys).await? {
        // Someone ended it and stopped before writing everything: finish their work. The
        // end is claimed before the log's last writes, so without `size` the log may lack
        // its end, and says so.
        let size = match (get_number::<u64>(store, &keys.size()).await?, meta.pushed) {
            (Some(size), _) => size,
            (None, true) => 0,
            (None, false) => {
                meta.notes.push(
                    "the runner stopped while writing the job's end; the log may be incomplete"
                        .to_owned(),
                );
                whole_log(store, &keys).await?
            }
        };
        record_end(store, sink, &mut meta, end, size, Marker::Open).await?;
        report.completed.push(uid.to_string());
        return Ok(());
    }
    let now = now_unix();
    // Some(time) when a runner claimed it; Some(None) when a sweep did.
    let claim = store.get(&keys.claim_of(meta.attempt())).await?;
    let cancel_claimed = claim.as_deref() == Some(CANCEL_CLAIM);
    let claim_text = claim
        .as_deref()
        .and_then(|body| std::str::from_utf8(body).ok())
        .map(str::to_owned);
    let claimed_at: Option<Option<u64>> = claim_text
        .as_deref()
        .map(|text| text.split(' ').next().and_then(|t| t.parse().ok()));
    let started = meta.started.or(claimed_at.flatten());
    // A job on Fargate: ECS says whether its task still runs.
    // (Not while it waits for another attempt: the task it names ran the one before.)
    let task = match (tasks, meta.task_size, meta.retry_at) {
        (Some(tasks), Some(_), None) => task_verdict(store, tasks, &keys, &meta, now).await?,
        _ => TaskVerdict::Ask,
    };
    // Its own timeout may be longer than the run-time limit (on Fargate).
    let rule = match rule {
        LostRule::PastDeadlines { run_limit } => LostRule::PastDeadlines {
            run_limit: run_limit.max(Duration::from_secs(meta.timeout.unwrap_or(0))),
        },
        all => all,
    };
    // Handed back (or kept over a restart) and overdue, with no due key to start it: the
    // writer stopped between the meta and the key. The key is written again, and whoever
    // looks for due work starts it.
    if let (Some(due), None) = (meta.retry_at, &claimed_at) {
        if due + DUE_KEY_MARGIN.as_secs() < now && !retry::is_due(store, owner, uid).await? {
            retry::mark_due(store, owner, uid, due).await?;
            tracing::warn!(%uid, "a waiting job had lost its due key; written again");
            report.retried.push(uid.to_string());
            return Ok(());
        }
    }
    // Handed back for another attempt, which has not started: it is lost only once that
    // attempt is overdue as a queued job would be (`serve` starts it after a restart).
    let waiting = meta.retry_at.filter(|_| claimed_at.is_none());
    let lost = match (rule, waiting) {
        _ if matches!(task, TaskVerdict::Gone(_)) => true,
        _ if matches!(task, TaskVerdict::Live) => false,
        (LostRule::AllOpen, Some(_)) => false,
        (LostRule::PastDeadlines { .. }, Some(due)) => {
            due + MAX_EVENT_AGE.as_secs() + LOST_MARGIN.as_secs() < now
        }
        (LostRule::AllOpen, None) => true,
        // Waiting for another attempt: the due loop starts it.
        (LostRule::NotRunningHere, Some(_)) => false,
        // Claimed, and not running: its runner could not write its end. Not claimed: lost
        // once it has had time to reach the dispatcher, which holds every job it accepted.
        (LostRule::NotRunningHere, None) => {
            claimed_at.is_some() || meta.submitted + UNHELD_MARGIN.as_secs() < now
        }
        (LostRule::PastDeadlines { run_limit }, None) => {
            let past = match started {
                Some(t) => t + run_limit.as_secs() + LOST_MARGIN.as_secs() < now,
                // A claim without a time was made by a sweep that then failed: lost.
                None if claimed_at.is_some() => true,
                None => meta.submitted + MAX_EVENT_AGE.as_secs() + LOST_MARGIN.as_secs() < now,
            };
            // Or its runner was a process of this machine that is no longer running: named
            // by the run claim, or, before one, by the open marker of the one that queued it.
            past || match claim_text.as_deref() {
                Some(text) => text
                    .split_once(' ')
                    .is_some_and(|(_, instance)| instance_is_gone(instance)),
                None => store.get(marker).await?.is_some_and(|holder| {
                    std::str::from_utf8(&holder).is_ok_and(|h| !h.is_empty() && instance_is_gone(h))
                }),
            }
        }
    };
    if !lost {
        return Ok(());
    }
    // Claiming a job that never started keeps a late runner from starting it now.
    let never_started = claimed_at.is_none()
        && store
            .put_new(&keys.claim_of(meta.attempt()), "lost".into())
            .await?;
    if claimed_at.is_none() && !never_started && rule != LostRule::AllOpen {
        return Ok(()); // its runner claimed it this instant: it is running after all
    }
    // A cancel that claimed the job before it started, and stopped before ending it; or a
    // caller's cancel that its runner did not live to record. Either is final: never run
    // again.
    let callers = marker::cancelled(store, &keys).await?;
    let cancelled = (claimed_at.is_some() && cancel_claimed) || callers;
    let note = if claimed_at.is_some() && cancel_claimed {
        "cancelled before it started".to_owned()
    } else if callers {
        "cancelled; its runner stopped before recording the end".to_owned()
    } else if let TaskVerdict::Gone(why) = &task {
        format!("{why}; job lost")
    } else if never_started {
        "this job never started; it was lost".to_owned()
    } else if rule == LostRule::NotRunningHere {
        "its end could not be recorded (a store write failed); job lost".to_owned()
    } else {
        "the runner stopped without recording an end; job lost".to_owned()
    };
    let note = note.as_str();
    // A job that asked for retries runs again, its log going on.
    if !cancelled && hand_back_lost(store, &keys, &mut meta, note).await? {
        report.retried.push(uid.to_string());
        return Ok(());
    }
    let end = match cancelled {
        true => JobEnd {
            exit: CANCELLED_BEFORE_START_EXIT,
            state: JobState::Cancelled,
            finished: now,
        },
        false => JobEnd {
            exit: LOST_EXIT,
            state: JobState::Lost,
            finished: now,
        },
    };
    // A runner still alive (a hung one, or one a clock misjudged) learns from the
    // cancel marker that the job is closed, and fences its log.
    if claimed_at.flatten().is_some() {
        marker::mark_lost(store, &keys, Lost::Job).await?;
    }
    if !claim_end(store, &keys, &end).await? {
        return Ok(()); // its runner ended it meanwhile
    }
    meta.notes.push(note.to_owned());
    if meta.retry.is_some() {
        meta.attempts.push(Attempt {
            attempt: meta.attempt(),
            state: end.state,
            exit: end.exit,
            started: meta.started,
            finished: now,
            notes: vec![note.to_owned()],
        });
    }
    let size = if meta.pushed {
        0
    } else {
        whole_log(store, &keys).await?
    };
    record_end(store, sink, &mut meta, end, size, Marker::Open).await?;
    if cancelled {
        report.completed.push(uid.to_string());
    } else {
        tracing::warn!(uid = %meta.uid, owner = %meta.owner, "job lost");
        report.lost.push(uid.to_string());
    }
    Ok(())
}

/// How long past its time a waiting job may go before its due key is looked for: a loop
/// that looks for due work every few seconds has started it well before.
const DUE_KEY_MARGIN: Duration = Duration::from_secs(60);

/// How long a job a data directory's `serve` does not hold may be just submitted, between
/// its objects being written and the dispatcher taking it.
const UNHELD_MARGIN: Duration = Duration::from_secs(60);

/// What ECS says of a job's task.
enum TaskVerdict {
    /// It runs, or is starting within the bound: the job is not lost.
    Live,
    /// It stopped without the job's end (or never started in time, and was stopped).
    Gone(String),
    /// Nothing known: the job's deadlines decide.
    Ask,
}

/// How long a Fargate task may take to start before its job is lost (they take 30 to 60 s;
/// an image that cannot be pulled keeps a task pending).
const TASK_START_BOUND: Duration = Duration::from_secs(15 * 60);

async fn task_verdict(
    store: &dyn Store,
    tasks: &FargateTasks,
    keys: &JobKeys,
    meta: &JobMeta,
    now: u64,
) -> Result<TaskVerdict, StoreError> {
    let Some(arn) = store.get(&keys.task()).await? else {
        return Ok(TaskVerdict::Ask);
    };
    let arn = String::from_utf8_lossy(&arn).into_owned();
    Ok(match tasks.state(&arn).await {
        Ok(TaskState::Stopped(why)) => TaskVerdict::Gone(format!(
            "its Fargate task stopped without recording an end: {why}"
        )),
        Ok(TaskState::Live { started: false })
            if meta.submitted + TASK_START_BOUND.as_secs() < now =>
        {
            let why = format!(
                "its Fargate task did not start within {} minutes, and was stopped",
                TASK_START_BOUND.as_secs() / 60
            );
            if let Err(e) = tasks.stop(&arn, &why).await {
                tracing::warn!(task = %arn, error = %e, "stopping a task that did not start");
            }
            TaskVerdict::Gone(why)
        }
        Ok(TaskState::Live { .. }) => TaskVerdict::Live,
        Ok(TaskState::Unknown) => TaskVerdict::Ask,
        Err(e) => {
            tracing::warn!(task = %arn, error = %e, "asking ECS about a job's task");
            TaskVerdict::Ask
        }
    })
}

/// Hands a lost job back for another attempt when it asked for retries and has attempts
/// left; `false` when it does not run again.
async fn hand_back_lost(
    store: &dyn Store,
    keys: &JobKeys,
    meta: &mut JobMeta,
    note: &str,
) -> Result<bool, StoreError> {
    // A caller's cancel is final: a cancelled job whose runner died is not run again.
    if meta.retry.is_none() || marker::cancelled(store, keys).await? {
        return Ok(false);
    }
    let job = match store.get(&keys.job()).await? {
        Some(body) => serde_json::from_slice::<Job>(&body).ok(),
        None => None,
    };
    let Some(job) = job.filter(|job| job.attempt() == meta.attempt()) else {
        return Ok(false);
    };
    let Some(wait) = retry::wait_before_next(&job, JobState::Lost, LOST_EXIT) else {
        return Ok(false);
    };
    // A runner of that attempt still alive (hung, or misjudged by a clock) learns from the
    // cancel marker that its attempt is over, and fences its writes before the log so far
    // is read; the next attempt ignores the marker.
    marker::mark_lost(store, keys, Lost::Attempt(job.attempt())).await?;
    let (log, segment) = match store.appends() {
        true => (store.get(&keys.log()).await?.unwrap_or_default(), 0),
        false => {
            let (log, next) = stored_log_and_next(store, keys).await?;
            // The next attempt reads the log so far from `log.txt`.
            store.put(&keys.log(), log.clone()).await?;
            (log, next)
        }
    };
    let resume = Resume {
        bytes: log.len() as u64,
        segment: job.resume.map_or(segment, |r| r.segment.max(segment)),
        mid_line: log.last().is_some_and(|b| *b != b'\n'),
    };
    let ended = Attempt {
        attempt: job.attempt(),
        state: JobState::Lost,
        exit: LOST_EXIT,
        started: meta.started,
        finished: now_unix(),
        notes: vec![note.to_owned()],
    };
    retry::hand_back(store, &job, meta, ended, resume, wait).await?;
    Ok(true)
}

/// This process, as run claims name it: `HOST BOOT-ID PID START-TICKS`.
pub fn this_instance() -> String {
    let pid = std::process::id() as i32;
    let start = crate::runner::isolation::process_start(pid).unwrap_or(0);
    format!("{} {} {pid} {start}", host(), boot_id())
}

/// Whether a run claim's `instance` was a process of this machine that has ended (a
/// process elsewhere cannot be told, and is left to the deadlines).
fn instance_is_gone(instance: &str) -> bool {
    let parts: Vec<&str> = instance.split(' ').collect();
    let [claim_host, claim_boot, pid, start] = parts[..] else {
        return false;
    };
    if claim_host != host() {
        return false;
    }
    if claim_boot != boot_id() {
        return true; // this machine has restarted since
    }
    let (Ok(pid), Ok(start)) = (pid.parse::<i32>(), start.parse::<u64>()) else {
        return false;
    };
    crate::runner::isolation::process_start(pid) != Some(start)
}

fn host() -> &'static str {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| kernel_text("/proc/sys/kernel/hostname"))
}

fn boot_id() -> &'static str {
    static BOOT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BOOT.get_or_init(|| kernel_text("/proc/sys/kernel/random/boot_id"))
}

fn kernel_text(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|t| t.trim().replace(' ', "_"))
        .unwrap_or_else(|_| "unknown".into())
}

/// Deletes every finished job submitted more than `keep` ago, with all its objects and
/// its index entry, as the bucket's lifecycle rule does on AWS; returns how many. Unfinished
/// jobs are left to [`sweep`].
pub async fn expire(store: &dyn Store, keep: Duration) -> Result<usize, StoreError> {
    let cutoff = now_unix().saturating_sub(keep.as_secs());
    let mut deleted = 0;
    for entry in store.list(INDEX_PREFIX).await? {
        let Some(uid) = parse_job_index(&entry) else {
            continue;
        };
        if uid.unix_seconds() >= cutoff {
            continue;
        }
        let Some(owner) = entry
            .strip_prefix(INDEX_PREFIX)
            .and_then(|rest| rest.split('/').next())
            .and_then(|name| name.parse().ok())
        else {
            continue;
        };
        let keys = JobKeys::new(&owner, &uid);
        if store.get(&keys.size()).await?.is_none() && store.get(&keys.end()).await?.is_none() {
            continue;
        }
        for key in store.list(keys.prefix()).await? {
            store.delete(&key).await?;
        }
        store.delete(&entry).await?;
        deleted += 1;
    }
    Ok(deleted)
}

/// Deletes input files uploaded more than `keep` ago (each is named by the uid made at its
/// upload), as the bucket's lifecycle rule does on AWS; returns how many.
pub async fn expire_inputs(store: &dyn Store, keep: Duration) -> Result<usize, StoreError> {
    let cutoff = now_unix().saturating_sub(keep.as_secs());
    let mut deleted = 0;
    for key in store.list(INPUTS_PREFIX).await? {
        let uploaded = key
            .rsplit('/')
            .next()
            .and_then(|id| id.parse::<Uid>().ok())
            .map(|uid| uid.unix_seconds());
        if uploaded.is_none_or(|t| t < cutoff) {
            store.delete(&key).await?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// Makes `log.txt` whole from what a runner that died stored (on S3, its segments) and
/// answers its size: the job's bytes alone, what the service says being in its meta.
async fn whole_log(store: &dyn Store, keys: &JobKeys) -> Result<u64, StoreError> {
    if store.appends() {
        return Ok(store.head(&keys.log()).await?.unwrap_or(0));
    }
    let log = stored_log(store, keys).await?;
    let size = log.len() as u64;
    store.put(&keys.log(), log).await?;
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::marker;
    use crate::records::save_meta;
    use crate::store::local::LocalStore;
    use aws_exec_protocol::keys::open_job;
    use aws_exec_protocol::Retry;
    use bytes::Bytes;

    /// A job that asked for three attempts, running attempt 1 for a runner that died.
    async fn running_with_retries(store: &Arc<dyn Store>) -> Job {
        running(store, Some(Retry::attempts(3))).await
    }

    /// A job running attempt 1 for a runner that died.
    async fn running(store: &Arc<dyn Store>, retry: Option<Retry>) -> Job {
        let job = Job::for_tests(retry);
        let keys = job.keys();
        let store = store.as_ref();
        store
            .put(&keys.job(), serde_json::to_vec(&job).unwrap().into())
            .await
            .unwrap();
        let mut meta = job.queued_meta();
        meta.state = JobState::Running;
        meta.started = Some(now_unix());
        save_meta(store, &meta).await.unwrap();
        store
            .put(&keys.log(), Bytes::from_static(b"up\n"))
            .await
            .unwrap();
        let claim = format!("{} gone-host gone-boot 1 1", now_unix());
        store.put(&keys.claim_of(1), claim.into()).await.unwrap();
        store
            .put(&open_job(&job.owner, &job.uid), Bytes::new())
            .await
            .unwrap();
        job
    }

    fn local() -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(LocalStore::open(dir.path()).unwrap());
        (dir, store)
    }

    /// A caller cancelled, then the runner died: housekeeping took the attempt for lost and
    /// wrote its mark over the cancel, and the job ran again. The cancel is final now.
    #[tokio::test]
    async fn a_cancelled_job_whose_runner_died_is_never_run_again() {
        let (_dir, store) = local();
        let job = running_with_retries(&store).await;
        let keys = job.keys();
        marker::cancel(store.as_ref(), &keys).await.unwrap();
        let report = sweep(&store, LostRule::AllOpen, None).await.unwrap();
        assert!(report.retried.is_empty(), "{report:?}");
        let meta = load_meta(store.as_ref(), &keys).await.unwrap().unwrap();
        assert_eq!(meta.state, JobState::Cancelled, "{meta:?}");
        assert!(marker::cancelled(store.as_ref(), &keys).await.unwrap());
        assert!(store.list(retry::PENDING_PREFIX).await.unwrap().is_empty());
    }

    /// Housekeeping takes an attempt for lost and hands the job on; a caller's cancel that
    /// comes after stays what it is, and the lost mark stays the attempt's.
    #[tokio::test]
    async fn a_lost_attempts_mark_and_a_callers_cancel_never_overwrite_each_other() {
        let (_dir, store) = local();
        let job = running_with_retries(&store).await;
        let keys = job.keys();
        let report = sweep(&store, LostRule::AllOpen, None).await.unwrap();
        assert_eq!(report.retried.len(), 1, "{report:?}");
        assert_eq!(
            marker::lost(store.as_ref(), &keys).await.unwrap(),
            Some(marker::Lost::Attempt(1))
        );
        marker::cancel(store.as_ref(), &keys).await.unwrap();
        assert!(marker::cancelled(store.as_ref(), &keys).await.unwrap());
        assert_eq!(
            marker::lost(store.as_ref(), &keys).await.unwrap(),
            Some(marker::Lost::Attempt(1)),
            "the next attempt is not fenced by the first one's mark"
        );
    }

    /// A hand-back writes the next attempt, then the meta saying when it is due, then the
    /// key that starts it. A writer stopped between the last two left the job waiting for
    /// ever: nothing looks for due work but through its key. A sweep writes the key again.
    #[tokio::test]
    async fn a_crash_between_a_retrys_meta_and_its_due_key_is_finished_by_a_sweep() {
        let (_dir, store) = local();
        let mut job = running_with_retries(&store).await;
        let keys = job.keys();
        job.attempt = 2;
        let s = store.as_ref();
        s.put(&keys.job(), serde_json::to_vec(&job).unwrap().into())
            .await
            .unwrap();
        let mut meta = load_meta(s, &keys).await.unwrap().unwrap();
        meta.state = JobState::Queued;
        meta.started = None;
        meta.attempt = Some(2);
        let due = now_unix() - 120;
        meta.retry_at = Some(due);
        save_meta(s, &meta).await.unwrap();
        // ... and the writer stopped here, before the due key.
        let nothing_here = |_: &Uid| false;
        for rule in [LostRule::AllOpen, LostRule::NotRunningHere] {
            let report = match rule {
                LostRule::NotRunningHere => sweep_here(&store, &nothing_here).await,
                rule => sweep(&store, rule, None).await,
            }
            .unwrap();
            assert_eq!(
                report.retried,
                [job.uid.to_string()],
                "{rule:?}: {report:?}"
            );
            let keys_due = s.list(retry::PENDING_PREFIX).await.unwrap();
            assert_eq!(keys_due.len(), 1, "{keys_due:?}");
            assert!(keys_due[0].ends_with(&format!("{due:020}")));
            let meta = load_meta(s, &keys).await.unwrap().unwrap();
            assert_eq!(meta.state, JobState::Queued, "not closed: {meta:?}");
            crate::due::delete_all(s, retry::PENDING_PREFIX)
                .await
                .unwrap();
        }
    }

    /// Sweeps the store a writer died in (at its write `at`), and checks that the job ended
    /// as `expected` (state, exit), its meta, `exit` and `size` agreeing, no open marker left.
    async fn swept_to_its_end(
        store: &Arc<dyn Store>,
        job: &Job,
        expected: (JobState, i32),
        at: usize,
    ) {
        let keys = job.keys();
        sweep(store, LostRule::AllOpen, None).await.unwrap();
        let meta = load_meta(store.as_ref(), &keys).await.unwrap().unwrap();
        assert_eq!(
            (meta.state, meta.exit),
            (expected.0, Some(expected.1)),
            "crash at write {at}: {meta:?}"
        );
        let exit = store.get(&keys.exit()).await.unwrap();
        let code = Bytes::from(expected.1.to_string());
        assert_eq!(exit, Some(code), "crash at write {at}");
        let size = store.get(&keys.size()).await.unwrap();
        assert!(size.is_some(), "crash at write {at}: no size");
        let open = store.get(&open_job(&job.owner, &job.uid)).await.unwrap();
        assert!(
            open.is_none(),
            "crash at write {at}: the open marker is left"
        );
    }

    /// A runner ending a job dies before its Nth write, for every N that its end makes:
    /// whatever it left, a sweep finishes. The job ends as the runner decided once its end
    /// was claimed (`exited` 0 here), and `lost` before that; either way with its meta,
    /// `exit` and `size` agreeing, and no open marker left to look at again.
    #[tokio::test]
    async fn a_crash_before_any_write_of_a_jobs_end_is_finished_by_a_sweep() {
        use crate::crash_store::CrashAt;
        use crate::lifecycle::end::{claim_end, record_end, Marker};
        use crate::log_sink::StoreSink;
        use aws_exec_protocol::JobEnd;

        async fn crash_at(at: usize) -> (usize, bool) {
            let (_dir, store) = local();
            let job = running(&store, None).await;
            let keys = job.keys();
            let crash = Arc::new(CrashAt::new(store.clone(), at));
            let dying: Arc<dyn Store> = crash.clone();
            let sink = StoreSink {
                store: dying.clone(),
                keys: keys.clone(),
                segment_pace: Duration::from_secs(1),
                events: None,
            };
            let mut meta = load_meta(store.as_ref(), &keys).await.unwrap().unwrap();
            let end = JobEnd {
                exit: 0,
                state: JobState::Exited,
                finished: now_unix(),
            };
            // The runner's end, as it writes it: its claim, then the end's objects.
            let claimed = claim_end(dying.as_ref(), &keys, &end)
                .await
                .unwrap_or(false);
            if claimed {
                let ended =
                    record_end(dying.as_ref(), Some(&sink), &mut meta, end, 3, Marker::Open);
                let _ = ended.await;
            }
            let crashed = crash.crashed();
            let expected = match at {
                1 => (JobState::Lost, LOST_EXIT),
                _ => (JobState::Exited, 0),
            };
            swept_to_its_end(&store, &job, expected, at).await;
            (at, crashed)
        }

        // Every write of the end, then one past the last (no crash at all).
        let runs = futures_util::future::join_all((1..=6).map(crash_at)).await;
        let crashed: Vec<_> = runs.iter().filter(|(_, c)| *c).map(|(at, _)| *at).collect();
        assert_eq!(
            crashed,
            (1..=5).collect::<Vec<_>>(),
            "the end makes five writes (its claim, meta, exit, size, the open marker's removal): {runs:?}"
        );
    }

    /// A caller's cancel of a queued job stops before its Nth write, for every N it makes:
    /// a sweep ends the job `cancelled` once the caller's mark is written (the mark is
    /// first, and final), and as any other unfinished job (`lost`) before that.
    #[tokio::test]
    async fn a_crash_before_any_write_of_a_cancel_is_finished_by_a_sweep() {
        use crate::crash_store::CrashAt;
        use crate::lifecycle::cancel::{cancel_in_store, Cancelled};
        use crate::lifecycle::end::CANCELLED_BEFORE_START_EXIT;

        async fn crash_at(at: usize) -> (usize, bool) {
            let (_dir, store) = local();
            let job = running(&store, None).await;
            let keys = job.keys();
            // Queued: not yet claimed by any runner.
            store.delete(&keys.claim_of(1)).await.unwrap();
            let mut meta = load_meta(store.as_ref(), &keys).await.unwrap().unwrap();
            meta.state = JobState::Queued;
            meta.started = None;
            save_meta(store.as_ref(), &meta).await.unwrap();
            let crash = Arc::new(CrashAt::new(store.clone(), at));
            let dying: Arc<dyn Store> = crash.clone();
            if let Ok(found) = cancel_in_store(&dying, &keys, meta).await {
                assert_eq!(found, Cancelled::BeforeStart, "crash at write {at}");
            }
            let crashed = crash.crashed();
            let expected = match at {
                1 => (JobState::Lost, LOST_EXIT),
                _ => (JobState::Cancelled, CANCELLED_BEFORE_START_EXIT),
            };
            swept_to_its_end(&store, &job, expected, at).await;
            (at, crashed)
        }

        let runs = futures_util::future::join_all((1..=10).map(crash_at)).await;
        let crashed: Vec<_> = runs.iter().filter(|(_, c)| *c).map(|(at, _)| *at).collect();
        assert_eq!(
            crashed,
            (1..=9).collect::<Vec<_>>(),
            "a cancel makes nine writes (mark, run claim, end claim, log, meta, exit, size, \
             the open marker's and stdin's removal): {runs:?}"
        );
    }

    /// Two sweeps at once end a dead job once: one claims its end, the other at most
    /// finishes writing that same end; neither hands it on.
    #[tokio::test]
    async fn two_sweeps_at_once_end_a_job_once() {
        let (_dir, store) = local();
        let job = running_with_retries(&store).await;
        let keys = job.keys();
        marker::cancel(store.as_ref(), &keys).await.unwrap();
        let (a, b) = tokio::join!(
            sweep(&store, LostRule::AllOpen, None),
            sweep(&store, LostRule::AllOpen, None)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(a.retried.is_empty() && b.retried.is_empty(), "{a:?} {b:?}");
        assert!(a.lost.is_empty() && b.lost.is_empty(), "{a:?} {b:?}");
        let end = read_end(store.as_ref(), &keys).await.unwrap().unwrap();
        assert_eq!(end.state, JobState::Cancelled);
        let meta = load_meta(store.as_ref(), &keys).await.unwrap().unwrap();
        assert_eq!(
            (meta.state, meta.exit),
            (JobState::Cancelled, Some(end.exit))
        );
        let exit = store.get(&keys.exit()).await.unwrap().unwrap();
        assert_eq!(exit, end.exit.to_string());
        assert!(store.get(&keys.size()).await.unwrap().is_some());
    }
}
