//! A job's metadata object, `meta.json`, kept beside its log.
//!
//! Written at submit, at start and at the end; `exit` and `size` keep their meanings, this
//! only adds what they cannot say (state, times, what ran).

use serde::{Deserialize, Serialize};

use crate::wire::Command;
use crate::{AuthName, Uid};

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobState {
    Queued,
    Running,
    /// The command ended by itself; `exit` is its code.
    Exited,
    /// The command was ended by a signal; `exit` is 128+N.
    Signaled,
    /// The command ran past its deadline and was stopped.
    TimedOut,
    /// A caller or shutdown cancelled the job.
    Cancelled,
    /// The command could not be started (not found, not executable, bad rpc args).
    Failed,
    /// The runner died without recording an end; found and closed by housekeeping.
    Lost,
}

impl JobState {
    pub fn is_final(self) -> bool {
        !matches!(self, JobState::Queued | JobState::Running)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMeta {
    pub uid: Uid,
    pub owner: AuthName,
    pub command: Command,
    pub state: JobState,
    /// Seconds since the epoch, as with every time here.
    pub submitted: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<i32>,
    /// True when the job's objects go to the caller's push URLs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pushed: bool,
}
