//! Hands a submitted job to a runner: in this process ([`LocalDispatch`]) or, on AWS, by
//! invoking this same function asynchronously.

use async_trait::async_trait;

use aws_exec_protocol::Uid;

use crate::job::Job;

pub mod fair;
pub mod lambda;
pub mod local;

pub use lambda::LambdaDispatch;
pub use local::LocalDispatch;

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// Every slot is busy and the queue is full; the caller may retry later.
    #[error("the service is busy: {running} jobs running and {queued} queued; retry later")]
    Busy { running: usize, queued: usize },
    #[error("the service is shutting down; retry later")]
    ShuttingDown,
    #[error("could not start the job: {0}")]
    Failed(String),
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

    /// The process that will run what it dispatches, when that is this one (`serve`): kept
    /// in each job's open marker, so that a restart here closes the jobs a killed process
    /// held queued. `None` where runners are elsewhere (Lambda).
    fn instance(&self) -> Option<&str> {
        None
    }
}
