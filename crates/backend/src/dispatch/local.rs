//! In-process dispatch: each job is a task, at most `concurrency` run at once and up to
//! `queue` more wait their turn in submit order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

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
    tasks: TaskTracker,
}

impl LocalDispatch {
    /// `concurrency` jobs at once, at most `per_user` of them one user's (see
    /// [`FairSlots`]), and `max_queue` more waiting.
    pub fn new(runner: Arc<Runner>, concurrency: usize, per_user: usize, max_queue: usize) -> Self {
        let concurrency = concurrency.max(1);
        LocalDispatch {
            runner,
            slots: FairSlots::new(concurrency, per_user),
            concurrency,
            max_queue,
            pending: Arc::new(AtomicUsize::new(0)),
            tasks: TaskTracker::new(),
        }
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
        let before = self.pending.fetch_add(1, Ordering::SeqCst);
        if before >= self.concurrency + self.max_queue {
            self.pending.fetch_sub(1, Ordering::SeqCst);
            return Err(DispatchError::Busy {
                running: self.concurrency,
                queued: self.max_queue,
            });
        }
        let (runner, pending) = (self.runner.clone(), self.pending.clone());
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
                        pending.fetch_sub(1, Ordering::SeqCst);
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
            pending.fetch_sub(1, Ordering::SeqCst);
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
