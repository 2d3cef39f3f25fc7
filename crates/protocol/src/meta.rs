//! A job's metadata object, kept as its entry in the listing (`index/`).
//!
//! Written at submit, at start and at the end (before `exit` and `size`, so whoever can read
//! the exit code sees a final state); `exit` and `size` keep their meanings, this only adds
//! what they cannot say (state, times, what ran).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::wire::Command;
use crate::{Attempt, AuthName, Uid};

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum JobState {
    Queued,
    Running,
    /// The command ended by itself; `exit` is its code.
    Exited,
    /// The command was ended by a signal; `exit` is 128+N.
    Signaled,
    /// The command reached its time limit (its own timeout, the run-time limit or the
    /// invocation's deadline) and was stopped; `exit` is 124, as `timeout(1)` answers.
    TimedOut,
    /// A caller or the service's shutdown stopped the job; `exit` is what it ended with.
    Cancelled,
    /// The command could not be started (not found, not executable, bad rpc args).
    Failed,
    /// The runner died without recording an end; found and closed by housekeeping.
    Lost,
}

impl JobState {
    pub const ALL: [JobState; 8] = [
        JobState::Queued,
        JobState::Running,
        JobState::Exited,
        JobState::Signaled,
        JobState::TimedOut,
        JobState::Cancelled,
        JobState::Failed,
        JobState::Lost,
    ];

    pub fn is_final(self) -> bool {
        !matches!(self, JobState::Queued | JobState::Running)
    }

    /// The name on the wire (`timed-out`).
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Exited => "exited",
            JobState::Signaled => "signaled",
            JobState::TimedOut => "timed-out",
            JobState::Cancelled => "cancelled",
            JobState::Failed => "failed",
            JobState::Lost => "lost",
        }
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for JobState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        JobState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<_> = JobState::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown state {s:?}; one of {}", known.join(", "))
            })
    }
}

/// How a job ended, as its `end` object records it. Whoever writes `end` first decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobEnd {
    pub exit: i32,
    pub state: JobState,
    pub finished: u64,
}

/// Where a job is in its life, with what belongs there and nothing else ([`JobMeta::phase`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting to start its `attempt`: for a slot, or until `due` (another attempt).
    Queued { attempt: u32, due: Option<u64> },
    /// Its `attempt` runs, since `started`.
    Running { attempt: u32, started: u64 },
    /// It ended so, for good.
    Ended(JobEnd),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobMeta {
    #[schema(value_type = String)]
    pub uid: Uid,
    #[schema(value_type = String)]
    pub owner: AuthName,
    #[schema(value_type = crate::wire::CommandRepr)]
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
    /// The job's own time limit in seconds, if it asked for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// The schedule that started it, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// The trigger that started it, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// What the service has to say of the run (timed out, cancelled, a file it could not
    /// place, the log cut at its cap): never in the log, which holds the job's bytes alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The log reached its cap and the rest of the output was dropped.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// What the run used, once it has ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Where its end is to be told, as the request asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<crate::notify::Notify>,
    /// How telling it is going, once it has ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notified: Option<crate::notify::Delivery>,
    /// How it is run again after a failing end, as the request asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<crate::retry::Retry>,
    /// The attempt running or next to run (1 for the first), for a job with `retry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// The attempts before it, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<crate::retry::Attempt>,
    /// When the next attempt is due (seconds since the epoch), while the job waits for it.
    #[serde(rename = "retry-at", default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<u64>,
    /// Where it runs when not where jobs run by default: `fargate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<String>,
    /// Its Fargate task's size, and the task's ARN once it was started.
    #[serde(rename = "task-size", default, skip_serializing_if = "Option::is_none")]
    pub task_size: Option<crate::fargate::TaskSize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// What it was given beside its command and options, for running it again.
    #[serde(default, skip_serializing_if = "Rerun::is_empty")]
    pub rerun: Rerun,
}

/// What a job was given beside its command and options, kept with it so that running it
/// again (`aws-exec rerun`) sends the same request: its variables, its inputs by key (while
/// the service keeps them), its secrets by name, never a value. Its standard input is not
/// kept; `stdin` says it had some.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct Rerun {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Relative path in its directory -> the key of the upload placed there.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub executable: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secret_files: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stdin: bool,
}

impl Rerun {
    pub fn is_empty(&self) -> bool {
        *self == Rerun::default()
    }
}

/// What one run used: its command's wall time, the CPU time of its whole process tree, the
/// largest resident set among its processes, its log, and where it ran on AWS an estimate
/// of what it cost.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct Usage {
    /// From the command's start to its end, in milliseconds.
    pub wall_ms: u64,
    /// CPU time in user and in kernel mode, in milliseconds.
    pub cpu_user_ms: u64,
    pub cpu_system_ms: u64,
    /// The largest resident set of any one of its processes, in bytes.
    pub peak_memory_bytes: u64,
    /// The bytes of its log.
    pub log_bytes: u64,
    /// On Lambda: the run's duration as billed (the runner's whole run, storing included),
    /// in milliseconds, and its estimated cost in billionths of a US dollar (the function's
    /// memory at the public on-demand price of its architecture, plus the request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billed_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_nano_usd: Option<u64>,
}

impl JobMeta {
    /// The metadata of a job just submitted: the one place a new job's meta is made.
    pub fn queued(
        uid: Uid,
        owner: AuthName,
        command: Command,
        pushed: bool,
        timeout: Option<u64>,
    ) -> Self {
        JobMeta {
            submitted: uid.unix_seconds(),
            uid,
            owner,
            command,
            state: JobState::Queued,
            started: None,
            finished: None,
            exit: None,
            pushed,
            timeout,
            schedule: None,
            trigger: None,
            notes: Vec::new(),
            truncated: false,
            usage: None,
            notify: None,
            notified: None,
            retry: None,
            attempt: None,
            attempts: Vec::new(),
            retry_at: None,
            runner: None,
            task_size: None,
            rerun: Rerun::default(),
            task: None,
        }
    }

    /// Records how the job ended.
    pub fn end(&mut self, end: JobEnd) {
        self.state = end.state;
        self.exit = Some(end.exit);
        self.finished = Some(end.finished);
        self.retry_at = None;
    }

    /// The meta of the job handed back after attempt `ended`: its attempt `next` waits until
    /// `due`, the attempt that ended is listed, and nothing of that run stays in the job's
    /// own fields. A new value: the caller's meta is unchanged until it is written.
    pub fn handed_back(&self, ended: Attempt, next: u32, due: u64) -> JobMeta {
        let mut waiting = self.clone();
        waiting.attempts.push(ended);
        waiting.attempt = Some(next);
        waiting.state = JobState::Queued;
        waiting.started = None;
        waiting.finished = None;
        waiting.exit = None;
        waiting.notes.clear();
        waiting.retry_at = Some(due);
        waiting
    }

    /// Where the job is in its life, read from its fields; an error names a combination no
    /// transition makes (a job both waiting and started, ended without a code, ...).
    pub fn phase(&self) -> Result<Phase, String> {
        let attempt = self.attempt();
        let fields = (self.started, self.exit, self.finished, self.retry_at);
        match (self.state, fields) {
            (JobState::Queued, (None, None, None, due)) => Ok(Phase::Queued { attempt, due }),
            (JobState::Running, (Some(started), None, None, None)) => {
                Ok(Phase::Running { attempt, started })
            }
            (state, (_, Some(exit), Some(finished), None)) if state.is_final() => {
                Ok(Phase::Ended(JobEnd {
                    exit,
                    state,
                    finished,
                }))
            }
            (state, _) => Err(format!(
                "a {state} job with started {:?}, exit {:?}, finished {:?}, retry-at {:?}",
                self.started, self.exit, self.finished, self.retry_at
            )),
        }
    }

    /// The attempt running or next to run: 1 for the first (and for a job without retry).
    pub fn attempt(&self) -> u32 {
        self.attempt.unwrap_or(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each transition makes a meta whose phase reads back; a half-made one does not.
    #[test]
    fn every_transition_makes_a_consistent_meta() {
        let uid = Uid::now();
        let command = Command::argv(vec!["true".into()]).unwrap();
        let queued = JobMeta::queued(uid, "alice".parse().unwrap(), command, false, None);
        assert_eq!(
            queued.phase(),
            Ok(Phase::Queued {
                attempt: 1,
                due: None
            })
        );
        let mut running = queued.clone();
        running.state = JobState::Running;
        running.started = Some(100);
        assert_eq!(
            running.phase(),
            Ok(Phase::Running {
                attempt: 1,
                started: 100
            })
        );
        let ran = Attempt {
            attempt: 1,
            state: JobState::Exited,
            exit: 1,
            started: Some(100),
            finished: 110,
            notes: Vec::new(),
        };
        let waiting = running.handed_back(ran, 2, 130);
        assert_eq!(
            waiting.phase(),
            Ok(Phase::Queued {
                attempt: 2,
                due: Some(130)
            })
        );
        assert_eq!(
            running.attempt(),
            1,
            "the meta handed back from is left as it was"
        );
        let end = JobEnd {
            exit: 1,
            state: JobState::Exited,
            finished: 110,
        };
        let mut ended = running.clone();
        ended.end(end);
        assert_eq!(ended.phase(), Ok(Phase::Ended(end)));
        // What a hand-back that failed halfway used to leave: waiting, and started.
        let mut half = waiting.clone();
        half.started = Some(100);
        assert!(half.phase().is_err());
        running.exit = Some(0);
        assert!(running.phase().is_err(), "running with an exit code");
    }

    #[test]
    fn states_read_and_print_as_on_the_wire() {
        for state in JobState::ALL {
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{state}\""));
            assert_eq!(state.as_str().parse::<JobState>(), Ok(state));
        }
        assert!("done"
            .parse::<JobState>()
            .unwrap_err()
            .contains("timed-out"));
    }
}
