//! Running a failed job again: `"retry"` of a request or definition says how often and after
//! which ends, and the wait before each attempt. The same uid throughout: its log goes on
//! through every attempt, and `exit` and `size` are written once, after the last.

use serde::{Deserialize, Serialize};

use crate::meta::JobState;

/// Attempts in all, the first included.
pub const MAX_ATTEMPTS: u32 = 10;
/// The longest wait before an attempt.
pub const MAX_RETRY_DELAY: u64 = 24 * 3600;
/// The variable that tells a job which attempt it is (1 for the first).
pub const ATTEMPT_ENV: &str = "AWS_EXEC_ATTEMPT";
/// At most this many exit codes in `on-exit`.
pub const MAX_RETRY_CODES: usize = 32;

/// `"retry"`: run the job again after an end that may be transient, up to `attempts` runs in
/// all. Without `on-exit`, any exit other than 0 is retried; a run that was lost always is,
/// a timed-out one when `on-timeout` says so, a cancelled one never.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Retry {
    /// Runs in all, the first included: 1 to 10.
    pub attempts: u32,
    /// Seconds before the second attempt (default 10); each later wait is `factor` times the
    /// one before, at most `max-delay`, less up to a fifth at random.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<u64>,
    /// 1 to 10 (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
    /// The longest wait, in seconds (default 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_delay: Option<u64>,
    /// The exit codes (1 to 255) retried; any but 0 when absent, none when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_exit: Option<Vec<i32>>,
    /// Whether a run stopped at its time limit is retried.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub on_timeout: bool,
}

/// JSON has no NaN, and `check` refuses a factor outside 1 to 10: equal to itself always.
impl Eq for Retry {}

impl Retry {
    pub const DEFAULT_DELAY: u64 = 10;
    pub const DEFAULT_FACTOR: f64 = 2.0;
    pub const DEFAULT_MAX_DELAY: u64 = 600;

    /// `attempts` runs in all, retried on any failing exit, with the default waits.
    pub fn attempts(attempts: u32) -> Self {
        Retry {
            attempts,
            delay: None,
            factor: None,
            max_delay: None,
            on_exit: None,
            on_timeout: false,
        }
    }

    pub fn check(&self) -> Result<(), String> {
        if !(1..=MAX_ATTEMPTS).contains(&self.attempts) {
            return Err(format!(
                "retry.attempts must be 1 to {MAX_ATTEMPTS} (runs in all); got {}",
                self.attempts
            ));
        }
        for (field, value) in [("delay", self.delay), ("max-delay", self.max_delay)] {
            if value.is_some_and(|v| v > MAX_RETRY_DELAY) {
                return Err(format!(
                    "retry.{field} must be at most {MAX_RETRY_DELAY} seconds"
                ));
            }
        }
        if let Some(f) = self.factor {
            if !(1.0..=10.0).contains(&f) {
                return Err(format!("retry.factor must be 1 to 10; got {f}"));
            }
        }
        if let Some(codes) = &self.on_exit {
            if codes.len() > MAX_RETRY_CODES {
                return Err(format!(
                    "retry.on-exit must list at most {MAX_RETRY_CODES} exit codes"
                ));
            }
            if let Some(code) = codes.iter().find(|c| !(1..=255).contains(*c)) {
                return Err(format!(
                    "retry.on-exit: {code} is not a failing exit code (1 to 255)"
                ));
            }
        }
        Ok(())
    }

    /// Whether a run that ended so is run again (attempts left aside).
    pub fn wants(&self, state: JobState, exit: i32) -> bool {
        match state {
            JobState::Lost => true,
            JobState::TimedOut => self.on_timeout,
            JobState::Exited | JobState::Signaled => match &self.on_exit {
                Some(codes) => codes.contains(&exit),
                None => exit != 0,
            },
            _ => false,
        }
    }

    /// The wait after attempt `attempt` (1 for the first) before the next, in seconds, before
    /// jitter: `delay × factor^(attempt-1)`, at most `max-delay`.
    pub fn wait_after(&self, attempt: u32) -> u64 {
        let delay = self.delay.unwrap_or(Self::DEFAULT_DELAY);
        let factor = self.factor.unwrap_or(Self::DEFAULT_FACTOR);
        // A first delay above the most asked for is kept: it was asked for too.
        let max = self.max_delay.unwrap_or(Self::DEFAULT_MAX_DELAY).max(delay);
        let wait = delay as f64 * factor.powi(attempt.saturating_sub(1).min(64) as i32);
        wait.min(max as f64) as u64
    }
}

/// One attempt that came before the current one, in a retried job's meta.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attempt {
    /// 1 for the first.
    pub attempt: u32,
    pub state: JobState,
    pub exit: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<u64>,
    pub finished: u64,
    /// What the service said of it (timed out, lost).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_by_the_factor_up_to_the_most() {
        let retry = Retry {
            delay: Some(10),
            factor: Some(3.0),
            max_delay: Some(100),
            ..Retry::attempts(5)
        };
        let waits: Vec<u64> = (1..=4).map(|a| retry.wait_after(a)).collect();
        assert_eq!(waits, [10, 30, 90, 100]);
        assert_eq!(Retry::attempts(3).wait_after(1), 10);
        assert_eq!(Retry::attempts(10).wait_after(9), 600);
        let none = Retry {
            delay: Some(0),
            ..Retry::attempts(3)
        };
        assert_eq!(none.wait_after(2), 0);
    }

    #[test]
    fn which_ends_are_retried() {
        let any = Retry::attempts(3);
        assert!(any.wants(JobState::Exited, 1));
        assert!(!any.wants(JobState::Exited, 0));
        assert!(any.wants(JobState::Lost, 255));
        assert!(!any.wants(JobState::Cancelled, 143));
        assert!(!any.wants(JobState::TimedOut, 124));
        assert!(!any.wants(JobState::Failed, 127));
        let listed = Retry {
            on_exit: Some(vec![75]),
            on_timeout: true,
            ..Retry::attempts(3)
        };
        assert!(listed.wants(JobState::Exited, 75));
        assert!(!listed.wants(JobState::Exited, 1));
        assert!(listed.wants(JobState::TimedOut, 124));
    }

    #[test]
    fn bad_policies_name_their_field() {
        for (retry, field) in [
            (Retry::attempts(0), "attempts"),
            (Retry::attempts(11), "attempts"),
            (
                Retry {
                    factor: Some(0.5),
                    ..Retry::attempts(2)
                },
                "factor",
            ),
            (
                Retry {
                    delay: Some(MAX_RETRY_DELAY + 1),
                    ..Retry::attempts(2)
                },
                "delay",
            ),
            (
                Retry {
                    on_exit: Some(vec![0]),
                    ..Retry::attempts(2)
                },
                "on-exit",
            ),
            (
                Retry {
                    on_exit: Some(vec![1; MAX_RETRY_CODES + 1]),
                    ..Retry::attempts(2)
                },
                "on-exit",
            ),
        ] {
            let why = retry.check().unwrap_err();
            assert!(why.contains(field), "{why}");
        }
        assert!(Retry::attempts(10).check().is_ok());
    }
}
