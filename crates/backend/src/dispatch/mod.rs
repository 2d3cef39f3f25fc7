//! Hands a submitted job to a runner: in this process ([`LocalDispatch`]), on AWS by
//! invoking this same function asynchronously ([`LambdaDispatch`]), and long jobs as ECS
//! Fargate tasks ([`FargateDispatch`], wrapping either).

use async_trait::async_trait;

use aws_exec_protocol::keys::JobKeys;
use aws_exec_protocol::Uid;

use crate::job::Job;

pub mod fair;
pub mod fargate;
#[cfg(feature = "aws")]
pub mod lambda;
pub mod local;

pub use fargate::{FargateDispatch, FargateTasks};
#[cfg(feature = "aws")]
pub use lambda::LambdaDispatch;
pub use local::LocalDispatch;

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// Every slot is busy and the queue is full; the caller may retry later.
    #[error("the service is busy: {running} jobs running and {queued} queued; retry later")]
    Busy { running: usize, queued: usize },
    #[error("the service is shutting down; retry later")]
    ShuttingDown,
    /// This owner's jobs fill its share of the queue; other owners' are still taken.
    #[error("{owner} already has {pending} jobs running or waiting here, its share of the queue (serve --queue-per-user); retry when some have ended")]
    OwnerFull { owner: String, pending: usize },
    #[error("could not start the job: {0}")]
    Failed(String),
}

impl DispatchError {
    /// Whether the job surely went nowhere: refused here, before any runner could have it
    /// (a failed invoke may still have been delivered).
    pub fn refused_here(&self) -> bool {
        matches!(
            self,
            DispatchError::Busy { .. }
                | DispatchError::ShuttingDown
                | DispatchError::OwnerFull { .. }
        )
    }
}

#[async_trait]
pub trait Dispatch: Send + Sync + 'static {
    /// Starts `job` without waiting for it to finish.
    async fn dispatch(&self, job: Job) -> Result<(), DispatchError>;

    /// Stops job `uid` at once if this dispatcher runs it here; `false` if it does not (a
    /// runner elsewhere then learns of the cancel from the store within a second).
    fn cancel(&self, uid: &Uid) -> bool {
        let _ = uid;
        false
    }

    /// Stops what runs the job elsewhere, once it was cancelled (a Fargate task, which
    /// would otherwise be billed until its runner notices).
    async fn stop(&self, keys: &JobKeys) {
        let _ = keys;
    }

    /// The Fargate tasks it starts, for housekeeping to look at.
    fn tasks(&self) -> Option<&FargateTasks> {
        None
    }

    /// The process that will run what it dispatches, when that is this one (`serve`): kept
    /// in each job's open marker, so that a restart here closes the jobs a killed process
    /// held queued. `None` where runners are elsewhere (Lambda).
    fn instance(&self) -> Option<&str> {
        None
    }
}
