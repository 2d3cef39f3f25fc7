//! Why a running job is being stopped, recorded where the stop is asked for (its timeout,
//! the run-time limit, the invocation's deadline, a cancel, the service's shutdown) and
//! carried to its end state, instead of being guessed afterwards.

use std::sync::{Arc, OnceLock};

use aws_exec_protocol::JobState;
use tokio_util::sync::CancellationToken;

/// The exit code of a job stopped for time, as `timeout(1)` answers.
pub const TIMED_OUT_EXIT: i32 = 124;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum StopReason {
    /// The job's own `timeout`.
    Timeout,
    /// The service's run-time limit.
    RunLimit,
    /// The Lambda invocation's deadline (less the margin to write the end).
    Deadline,
    /// A caller cancelled it.
    Cancelled,
    /// The service is shutting down.
    Shutdown,
    /// The Fargate task running it was asked to stop (SIGTERM from ECS).
    TaskStopped,
}

impl StopReason {
    /// A caller's cancel is `cancelled`; a stop the service causes (its shutdown, its
    /// Fargate task retired) is `lost`, as a runner that died is, and so run again when the
    /// job asked for retries.
    pub fn state(self) -> JobState {
        match self {
            StopReason::Timeout | StopReason::RunLimit | StopReason::Deadline => JobState::TimedOut,
            StopReason::Cancelled => JobState::Cancelled,
            StopReason::Shutdown | StopReason::TaskStopped => JobState::Lost,
        }
    }

    /// The exit code to record, given what the process ended with.
    pub fn exit(self, process_exit: i32) -> i32 {
        match self.state() {
            JobState::TimedOut => TIMED_OUT_EXIT,
            JobState::Lost => crate::lifecycle::end::LOST_EXIT,
            _ => process_exit,
        }
    }

    /// What the job's notes say of the stop.
    pub fn note(self) -> &'static str {
        match self {
            StopReason::Timeout => "timed out: the job reached its timeout",
            StopReason::RunLimit => "timed out: the job reached the run-time limit",
            StopReason::Deadline => "timed out: the job reached the invocation's deadline",
            StopReason::Cancelled => "cancelled",
            StopReason::Shutdown => {
                "lost: the service stopped it as it shut down (run it again, or ask for --retry)"
            }
            StopReason::TaskStopped => "lost: its Fargate task was asked to stop (SIGTERM)",
        }
    }
}

/// A request to stop one job: the first reason given wins.
#[derive(Clone, Debug, Default)]
pub struct Stop {
    token: CancellationToken,
    reason: Arc<OnceLock<StopReason>>,
}

impl Stop {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn request(&self, reason: StopReason) {
        let _ = self.reason.set(reason);
        self.token.cancel();
    }

    /// Why the job was asked to stop; `None` while nobody asked.
    pub fn reason(&self) -> Option<StopReason> {
        self.reason.get().copied()
    }

    /// Fires when a stop is requested; only [`Stop::request`] fires it.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_reason_is_kept() {
        let stop = Stop::new();
        assert_eq!(stop.reason(), None);
        stop.request(StopReason::Cancelled);
        stop.request(StopReason::Shutdown);
        assert!(stop.token().is_cancelled());
        assert_eq!(stop.reason(), Some(StopReason::Cancelled));
        assert_eq!(StopReason::Cancelled.exit(143), 143);
        assert_eq!(StopReason::RunLimit.exit(143), TIMED_OUT_EXIT);
        assert_eq!(StopReason::Deadline.state(), JobState::TimedOut);
    }
}
