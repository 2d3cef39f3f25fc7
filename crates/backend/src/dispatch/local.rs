//! In-process dispatch: each job is a task, at most `concurrency` run at once and up to
//! `queue` more wait their turn in submit order. One owner holds at most its share of all
//! that (`per_user` running and `queue_per_user` waiting): its flood is refused to it alone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio_util::task::TaskTracker;

use super::fair::FairSlots;
use super::{Dispatch, DispatchError};
use aws_exec_protocol::Uid;

use crate::job::Job;
use crate::runner::stop::StopReason;
use crate::runner::Runner;

pub struct LocalDispatch {
    runner: Arc<Runner>,
    slots: Arc<FairSlots>,
    concurrency: usize,
    max_queue: usize,
    /// Jobs accepted and not yet finished (running + queued).
    pending: Arc<AtomicUsize>,
    /// The same, by owner.
    by_owner: Arc<Mutex<HashMap<String, usize>>>,
    /// The most jobs one owner may have accepted and not finished.
    owner_limit: usize,
    tasks: TaskTracker,
}

/// One accepted job's place in the counts, given back when it is dropped (its task ended,
/// or it was kept for the next start).
struct Pending {
    total: Arc<AtomicUsize>,
    by_owner: Arc<Mutex<HashMap<String, usize>>>,
    owner: String,
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.total.fetch_sub(1, Ordering::SeqCst);
        let mut owners = self.by_owner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = owners.get_mut(&self.owner) {
            *n -= 1;
            if *n == 0 {
                owners.remove(&self.owner);
            }
        }
    }
}

impl LocalDispatch {
    /// `concurrency` jobs at once, at most `per_user` of them one user's (see
    /// [`FairSlots`]), and `max_queue` more waiting, at most `queue_per_user` of them one
    /// user's.
    pub fn new(
        runner: Arc<Runner>,
        concurrency: usize,
        per_user: usize,
        max_queue: usize,
        queue_per_user: usize,
    ) -> Self {
        let concurrency = concurrency.max(1);
        let per_user = per_user.clamp(1, concurrency);
        LocalDispatch {
            runner,
            slots: FairSlots::new(concurrency, per_user),
            concurrency,
            max_queue,
            pending: Arc::new(AtomicUsize::new(0)),
            by_owner: Default::default(),
            owner_limit: per_user + queue_per_user.min(max_queue),
            tasks: TaskTracker::new(),
        }
    }

    /// Counts `owner`'s new job in, unless it would pass the owner's share or the queue.
    fn admit(&self, owner: &str) -> Result<Pending, DispatchError> {
        {
            let mut owners = self.by_owner.lock().unwrap_or_else(|p| p.into_inner());
            let mine = owners.entry(owner.to_owned()).or_default();
            if *mine >= self.owner_limit {
                return Err(DispatchError::OwnerFull {
                    owner: owner.to_owned(),
                    pending: *mine,
                });
            }
            *mine += 1;
        }
        self.pending.fetch_add(1, Ordering::SeqCst);
        let counted = Pending {
            total: self.pending.clone(),
            by_owner: self.by_owner.clone(),
            owner: owner.to_owned(),
        };
        if self.pending.load(Ordering::SeqCst) > self.concurrency + self.max_queue {
            return Err(DispatchError::Busy {
                running: self.concurrency,
                queued: self.max_queue,
            });
        }
        Ok(counted)
    }

    /// Whether job `uid` is queued or running here.
    pub fn holds(&self, uid: &Uid) -> bool {
        self.runner.holds(uid)
    }

    /// Jobs accepted and not yet finished.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    /// Refuses new jobs, then stops every running one (each still writes its exit and
    /// size) and waits for all of them.
    pub async fn shutdown(&self) {
        self.tasks.close();
        self.runner.shutdown();
        self.tasks.wait().await;
    }
}

#[async_trait]
impl Dispatch for LocalDispatch {
    async fn dispatch(&self, job: Job) -> Result<(), DispatchError> {
        if self.tasks.is_closed() {
            return Err(DispatchError::ShuttingDown);
        }
        // The owner's share first: one owner's flood is refused to it, not to the others.
        let counted = self.admit(job.owner.as_str())?;
        let runner = self.runner.clone();
        // Registered now, so a cancel or shutdown reaches the job while it waits its turn.
        let stop = runner.register(&job.uid);
        // In line now, so a user's jobs start in the order they were submitted.
        let place = self.slots.acquire(job.owner.as_str());
        self.tasks.spawn(async move {
            let slot = tokio::select! {
                slot = place => Some(slot),
                // Cancelled while queued: it ends at once without a slot and never starts.
                _ = stop.token().cancelled() => None,
            };
            // Its turn had not come when the service began to stop: kept for the next start,
            // not ended (a stop the service causes is not a caller's cancel).
            if slot.is_none() && stop.reason() == Some(StopReason::Shutdown) {
                match runner.keep_for_restart(&job).await {
                    Ok(()) => {
                        drop(counted);
                        return;
                    }
                    Err(e) => {
                        tracing::error!(uid = %job.uid, error = %e, "keeping a queued job for the next start; ending it");
                    }
                }
            }
            let slot = slot.map(|s| Box::new(s) as crate::runner::Slot);
            if let Err(e) = runner.run_with(&job, stop, None, slot).await {
                tracing::error!(uid = %job.uid, error = %e, "job failed to record its end");
            }
            drop(counted);
        });
        Ok(())
    }

    fn cancel(&self, uid: &Uid) -> bool {
        self.runner.stop(uid, StopReason::Cancelled)
    }

    fn instance(&self) -> Option<&str> {
        self.runner.instance()
    }
}
