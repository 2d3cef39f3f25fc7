//! What a started job holds until its end is written: the note that it runs, its place
//! among the jobs running at once, the fence of its writes, and what it leaves on this
//! machine, each let go in its turn.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use aws_exec_protocol::JobMeta;
use tokio_util::sync::CancellationToken;

use super::users::JobUser;
use super::workspace::{ScratchSnapshot, Workspace};
use crate::lifecycle::quiet::Quiet;
use crate::log_sink::Fence;
use crate::records::save_meta;
use crate::store::Store;

/// What a started job holds until its end: the running note to settle, its place among
/// the jobs running at once, and the fence of its writes.
pub(super) struct Held {
    pub(super) running: RunningNote,
    pub(super) slot: Option<Slot>,
    pub(super) fence: Fence,
    /// When the run began (its claim): what Lambda bills from.
    pub(super) began: Instant,
    /// Set while the job is quiet ([`crate::lifecycle::quiet`]).
    pub(super) quiet: Option<Arc<Quiet>>,
}

/// A place among the jobs running at once, held by the runner until the command ends.
pub type Slot = Box<dyn std::any::Any + Send>;

/// What a job leaves on this machine, removed once its end is recorded (or when the run
/// is dropped before that).
pub(super) struct Leftovers {
    pub(super) workspace: Option<Workspace>,
    pub(super) scratch: Option<ScratchSnapshot>,
    pub(super) work_root: PathBuf,
    /// The user it ran as, given back last: nothing of the job's is left to reach by then.
    pub(super) user: Option<JobUser>,
}

impl Leftovers {
    pub(super) fn new(work_root: &std::path::Path) -> Self {
        Leftovers {
            workspace: None,
            scratch: None,
            work_root: work_root.to_owned(),
            user: None,
        }
    }
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        // The directory first: the scratch's clean-up keeps the work root.
        self.workspace.take();
        if let Some(scratch) = self.scratch.take() {
            scratch.clean(&self.work_root);
        }
        self.user.take();
    }
}

/// How long a job runs before its meta says so: one that ends sooner goes from queued
/// straight to its end, a write fewer (a PUT fewer on S3). No reader can tell a job that
/// started this moment from one about to; the run claim holds the start for housekeeping.
const RUNNING_NOTE_DELAY: Duration = crate::lifecycle::quiet::REVEAL_AFTER;

/// The running state, written to its meta once the job has run [`RUNNING_NOTE_DELAY`]
/// unless [`RunningNote::settle`] (or a drop) came first.
pub(super) struct RunningNote {
    ended: CancellationToken,
    write: tokio::task::JoinHandle<()>,
}

impl RunningNote {
    /// For a quiet job, the note is its reveal: it is stored as any job from then on.
    pub(super) fn later(store: Arc<dyn Store>, meta: &JobMeta, quiet: Option<Arc<Quiet>>) -> Self {
        let ended = CancellationToken::new();
        let write = tokio::spawn({
            let (ended, meta) = (ended.clone(), meta.clone());
            async move {
                tokio::select! {
                    biased;
                    () = ended.cancelled() => {}
                    () = tokio::time::sleep(RUNNING_NOTE_DELAY) => {
                        // Advisory until the end (the protocol objects are log, exit and
                        // size), so a failed write is logged, not fatal.
                        let written = match quiet {
                            Some(quiet) => quiet.reveal().await,
                            None => save_meta(store.as_ref(), &meta).await,
                        };
                        if let Err(e) = written {
                            tracing::warn!(uid = %meta.uid, error = %e, "writing the job's meta");
                        }
                    }
                }
            }
        });
        RunningNote { ended, write }
    }

    /// Called before the end is written: a note not yet begun is never written, and one
    /// being written is waited for, so it cannot land over the end.
    pub(super) async fn settle(mut self) {
        self.ended.cancel();
        let _ = (&mut self.write).await;
    }
}

impl Drop for RunningNote {
    fn drop(&mut self) {
        self.ended.cancel();
    }
}
