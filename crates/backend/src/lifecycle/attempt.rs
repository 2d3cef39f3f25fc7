//! What follows an attempt whose command ended: the job runs again (handed back, due later)
//! or ends, and the writes that make it so. The runner reports how its command ended and
//! what it stored of the log; the decisions are made here.

use aws_exec_protocol::{Attempt, JobEnd, JobMeta, JobState};
use bytes::Bytes;

use super::end::{claim_end, record_end, Marker};
use super::retry;
use crate::job::{Job, Resume};
use crate::log_sink::{NotesSaid, Sink};
use crate::store::{Store, StoreError};
use crate::time::now_unix;

/// How an attempt's command ended, as its runner saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ran {
    pub exit: i32,
    pub state: JobState,
}

/// What follows an attempt, decided when its command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// The job runs again after this many seconds: this attempt claims no end.
    Again { wait: u64 },
    /// The job ends so.
    End(JobEnd),
}

impl Next {
    /// Decides what follows `ran`: another attempt when the job's retry policy asks for one
    /// and no caller cancelled it (a cancel is final, even one that came too late to stop
    /// the command), otherwise the end the command came to. Whether a caller cancelled is
    /// asked only where the job would run again.
    pub async fn after(
        job: &Job,
        ran: Ran,
        cancelled_by_caller: impl std::future::Future<Output = bool>,
    ) -> Next {
        let again = retry::wait_before_next(job, ran.state, ran.exit);
        let cancelled = match again {
            Some(_) => cancelled_by_caller.await,
            None => false,
        };
        match again {
            Some(wait) if !cancelled => Next::Again { wait },
            again => Next::End(JobEnd {
                exit: ran.exit,
                state: match again {
                    Some(_) => JobState::Cancelled,
                    None => ran.state,
                },
                finished: now_unix(),
            }),
        }
    }

    /// The state the attempt ended in.
    pub fn state(&self, ran: Ran) -> JobState {
        match self {
            Next::Again { .. } => ran.state,
            Next::End(end) => end.state,
        }
    }
}

/// An attempt whose command ended and whose log is stored, as far as it could be.
pub struct Ended<'a> {
    pub job: &'a Job,
    pub ran: Ran,
    pub next: Next,
    /// The end's claim, taken before the log's last writes (none when the job runs
    /// again or ends quietly): whoever holds it owns every write of the end.
    pub claimed: Option<Result<bool, StoreError>>,
    /// A quiet job that ends so: nobody else knows of it, it has no open marker.
    pub quietly: bool,
    /// What readers can read of the log; `None` when it could not be stored in full (the
    /// attempt then ends `failed`, and is not run again).
    pub stored: Result<Resume, u64>,
    /// What the service has to say of the attempt (in its meta, never in the log).
    pub notes: NotesSaid,
}

/// Where the job went after the attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// Its next attempt is due at this time.
    HandedBack { due: u64 },
    /// Its end is written (`true`), or someone else had ended it first (`false`).
    Ended {
        end: JobEnd,
        size: u64,
        recorded: bool,
    },
}

/// Hands the job back for its next attempt, or writes its end through `sink`.
pub async fn close(
    store: &dyn Store,
    sink: &dyn Sink,
    meta: &mut JobMeta,
    ended: Ended<'_>,
) -> Result<Closed, StoreError> {
    let Ended {
        job,
        ran,
        next,
        claimed,
        quietly,
        stored,
        notes,
    } = ended;
    let (size, state) = match &stored {
        Ok(resume) => (resume.bytes, next.state(ran)),
        Err(size) => (*size, JobState::Failed),
    };
    let finished = match next {
        Next::End(end) => end.finished,
        Next::Again { .. } => now_unix(),
    };
    let this_attempt = Attempt {
        attempt: job.attempt(),
        state,
        exit: ran.exit,
        started: meta.started,
        finished,
        notes: notes.lines.clone(),
    };
    if let (Next::Again { wait }, Ok(resume)) = (next, &stored) {
        let handed = retry::hand_back(store, job, meta, this_attempt.clone(), *resume, wait);
        match handed.await {
            Ok(due) => return Ok(Closed::HandedBack { due }),
            // Not handed back: this attempt's end is the job's.
            Err(e) => {
                tracing::error!(uid = %job.uid, error = %e, "handing a job back for another attempt; ending it");
            }
        }
    }
    let end = JobEnd {
        exit: ran.exit,
        state,
        finished,
    };
    let claimed = match claimed {
        Some(claimed) => claimed,
        None => claim_end(store, &job.keys(), &end).await,
    };
    meta.notes = notes.lines;
    meta.truncated = notes.truncated;
    if job.retry.is_some() {
        meta.attempts.push(this_attempt);
    }
    let recorded = claimed?;
    // A quiet job's log was never made empty at submit, and an empty log is not written at
    // the end (the sink's `complete`): it is made here.
    if quietly && size == 0 {
        store.put_new(&job.keys().log(), Bytes::new()).await?;
    }
    if recorded {
        let marker = match quietly {
            true => Marker::None,
            false => Marker::Open,
        };
        record_end(store, Some(sink), meta, end, size, marker).await?;
    } else {
        tracing::warn!(uid = %job.uid, "job was already ended elsewhere; leaving its end as it is");
    }
    Ok(Closed::Ended {
        end,
        size,
        recorded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_exec_protocol::Retry;
    use std::future::ready;

    fn job(retry: Option<Retry>) -> Job {
        Job::for_tests(retry)
    }

    /// A hand-back whose last write (the due key) failed ends the job instead: as the
    /// attempt that ran, listed once. It used to end it saying it was at the next
    /// attempt, with the attempt that ran listed twice.
    #[tokio::test]
    async fn a_failed_hand_back_ends_the_job_as_the_attempt_that_ran() {
        use crate::crash_store::CrashAt;
        use crate::log_sink::StoreSink;
        use crate::records::{load_meta, save_meta};
        use crate::store::local::LocalStore;
        use aws_exec_protocol::keys::open_job;
        use std::sync::Arc;

        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(LocalStore::open(dir.path()).unwrap());
        let job = job(Some(Retry::attempts(3)));
        let keys = job.keys();
        let mut meta = job.queued_meta();
        meta.state = JobState::Running;
        meta.started = Some(now_unix());
        save_meta(store.as_ref(), &meta).await.unwrap();
        let open = open_job(&job.owner, &job.uid);
        store.put(&open, Bytes::new()).await.unwrap();
        // A hand-back writes the next attempt, its meta, then its due key: the third fails.
        let faulty: Arc<dyn Store> = Arc::new(CrashAt::fails_once(store.clone(), 3));
        let sink = StoreSink {
            store: faulty.clone(),
            keys: keys.clone(),
            segment_pace: std::time::Duration::from_secs(1),
            events: None,
        };
        let next = Next::after(&job, FAILED, ready(false)).await;
        assert!(matches!(next, Next::Again { .. }), "{next:?}");
        let ended = Ended {
            job: &job,
            ran: FAILED,
            next,
            claimed: None,
            quietly: false,
            stored: Ok(Resume::default()),
            notes: NotesSaid::default(),
        };
        let closed = close(faulty.as_ref(), &sink, &mut meta, ended)
            .await
            .unwrap();
        assert!(
            matches!(closed, Closed::Ended { recorded: true, .. }),
            "{closed:?}"
        );
        let stored = load_meta(store.as_ref(), &keys).await.unwrap().unwrap();
        assert_eq!(
            (
                stored.state,
                stored.exit,
                stored.attempt(),
                stored.attempts.len()
            ),
            (JobState::Exited, Some(1), 1, 1),
            "{stored:?}"
        );
        assert_eq!(stored.retry_at, None);
        assert!(store.get(&open).await.unwrap().is_none());
    }

    const FAILED: Ran = Ran {
        exit: 1,
        state: JobState::Exited,
    };

    #[tokio::test]
    async fn a_failed_attempt_runs_again_while_attempts_are_left() {
        let next = Next::after(&job(Some(Retry::attempts(2))), FAILED, ready(false)).await;
        assert!(matches!(next, Next::Again { .. }), "{next:?}");
        let next = Next::after(&job(None), FAILED, ready(false)).await;
        assert!(matches!(
            next,
            Next::End(JobEnd {
                exit: 1,
                state: JobState::Exited,
                ..
            })
        ));
    }

    /// A cancel that lands while an attempt is ending (storing its artifacts) came too late
    /// to stop the command, and still keeps the job from running again.
    #[tokio::test]
    async fn a_callers_cancel_while_an_attempt_ends_is_final() {
        let next = Next::after(&job(Some(Retry::attempts(3))), FAILED, ready(true)).await;
        let Next::End(end) = next else {
            panic!("handed back after a cancel: {next:?}")
        };
        assert_eq!((end.state, end.exit), (JobState::Cancelled, 1));
        assert_eq!(next.state(FAILED), JobState::Cancelled);
    }

    /// A cancel only matters where the job would run again: one that came after a success
    /// leaves the success as it is.
    #[tokio::test]
    async fn a_cancel_after_a_success_leaves_it_exited() {
        let ok = Ran {
            exit: 0,
            state: JobState::Exited,
        };
        let next = Next::after(&job(Some(Retry::attempts(3))), ok, ready(true)).await;
        assert!(matches!(
            next,
            Next::End(JobEnd {
                exit: 0,
                state: JobState::Exited,
                ..
            })
        ));
    }
}
