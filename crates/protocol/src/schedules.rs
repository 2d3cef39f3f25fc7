//! Jobs that start themselves: schedules (a cron expression in a time zone) and triggers
//! (an upload under a prefix of the owner's inbox). Their definitions, how they are named,
//! and what a listing shows; checking a cron expression is the service's (it needs a parser).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::files::is_safe_relative_path;
use crate::meta::JobState;
use crate::wire::ExecRequest;

/// The name of a schedule or trigger: 1 to 64 of `A-Z a-z 0-9 _ -`, unique per owner.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DefName(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid name {0:?}: use 1 to 64 of A-Z a-z 0-9 _ -")]
pub struct DefNameError(pub String);

impl DefName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for DefName {
    type Err = DefNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(DefName(s.to_owned()))
        } else {
            Err(DefNameError(s.chars().take(80).collect()))
        }
    }
}

impl TryFrom<String> for DefName {
    type Error = DefNameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<DefName> for String {
    fn from(n: DefName) -> String {
        n.0
    }
}

impl fmt::Display for DefName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a schedule does when it fires while its previous run is still queued or running.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Overlap {
    /// Skip this firing and record that it was skipped.
    #[default]
    Skip,
    /// Start another run anyway.
    Allow,
}

impl FromStr for Overlap {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "skip" => Ok(Overlap::Skip),
            "allow" => Ok(Overlap::Allow),
            _ => Err(format!("unknown overlap {s:?}; one of skip, allow")),
        }
    }
}

/// The time zone a schedule's cron expression is read in when it names none.
pub const DEFAULT_TZ: &str = "UTC";

fn default_tz() -> String {
    DEFAULT_TZ.to_owned()
}

/// `PUT /api/schedules/NAME` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// Five fields (minute hour day-of-month month day-of-week), as crontab reads them.
    /// `serve` also takes a leading seconds field; EventBridge Scheduler does not.
    pub cron: String,
    /// An IANA time zone (`Europe/Berlin`); `UTC` when absent.
    #[serde(default = "default_tz")]
    pub tz: String,
    #[serde(default)]
    pub overlap: Overlap,
    /// The job each firing starts, as `POST /api/exec` takes it (without `push-urls`).
    pub exec: ExecRequest,
    /// Each run finds in `$AWS_EXEC_STATE` what the last run that exited 0 left there.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub state: bool,
}

/// `PUT /api/triggers/NAME` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    /// Uploads whose path in the owner's inbox starts with this fire the trigger; empty
    /// matches every upload.
    #[serde(default)]
    pub prefix: String,
    /// The job each upload starts; the uploaded file is placed in its directory and its
    /// path is in `$AWS_EXEC_INPUT`.
    pub exec: ExecRequest,
    /// Each run finds in `$AWS_EXEC_STATE` what the last run that exited 0 left there.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub state: bool,
}

/// Whether `prefix` stays inside an inbox: relative, no `.` or `..` parts (it may end in `/`).
pub fn is_safe_prefix(prefix: &str) -> bool {
    let body = prefix.strip_suffix('/').unwrap_or(prefix);
    prefix.is_empty() || is_safe_relative_path(body)
}

/// The last time a schedule or trigger fired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LastRun {
    /// When it fired (seconds since the epoch; for a schedule, the planned time).
    pub at: u64,
    /// The job it started; absent when it skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Why it started nothing (the previous run still running, or an error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// The job's state and exit code, read when listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<JobState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<i32>,
}

impl LastRun {
    /// A firing at `at` that started job `uid`.
    pub fn started(at: u64, uid: String) -> Self {
        LastRun {
            at,
            uid: Some(uid),
            skipped: None,
            state: None,
            exit: None,
        }
    }

    /// A firing at `at` that started nothing, and why.
    pub fn skipped(at: u64, why: String) -> Self {
        LastRun {
            at,
            uid: None,
            skipped: Some(why),
            state: None,
            exit: None,
        }
    }
}

/// A schedule as `GET /api/schedules` shows it: its definition's fields beside its name and
/// runs (spelled out, not flattened, so the definition can refuse unknown fields).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Schedule {
    #[schema(value_type = String)]
    pub name: DefName,
    pub cron: String,
    pub tz: String,
    pub overlap: Overlap,
    pub exec: ExecRequest,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub state: bool,
    /// The next firing, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<LastRun>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScheduleList {
    pub schedules: Vec<Schedule>,
}

/// A trigger as `GET /api/triggers` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Trigger {
    #[schema(value_type = String)]
    pub name: DefName,
    pub prefix: String,
    pub exec: ExecRequest,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub state: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<LastRun>,
}

/// `GET /api/schedules/NAME/state` (and a trigger's) answer: the state the next run
/// starts from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StateInfo {
    /// Its version: the number of saves and resets so far; 0 before the first.
    pub version: u64,
    /// The size of its archive (a tar of the directory), 0 when it is empty.
    pub size: u64,
    /// A URL to GET the archive from (presigned, a few minutes), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TriggerList {
    pub triggers: Vec<Trigger>,
}

/// `DELETE /api/schedules/NAME` and `/api/triggers/NAME` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Deleted {
    pub deleted: String,
}

/// `POST /api/uploads` body: where in the caller's inbox a file goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    /// A relative path (`photos/cat.jpg`).
    pub path: String,
}

/// The variable holding the absolute path of the upload that started a trigger's job.
pub const INPUT_ENV: &str = "AWS_EXEC_INPUT";
/// The variable holding that upload's path in the owner's inbox (`photos/cat.jpg`).
pub const INPUT_PATH_ENV: &str = "AWS_EXEC_INPUT_PATH";

/// What started a job that no caller submitted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Origin {
    /// A schedule's firing planned for `at`.
    Schedule { name: DefName, at: u64 },
    /// A trigger, by the upload at `path` in the owner's inbox.
    Trigger { name: DefName, path: String },
}

impl Origin {
    /// Where a trigger's upload is placed in its job's directory: its file name, kept out
    /// of the directories the service makes there.
    pub fn input_file(&self) -> Option<String> {
        let Origin::Trigger { path, .. } = self else {
            return None;
        };
        let file = path.rsplit('/').next().unwrap_or(path);
        Some(match crate::files::RESERVED_DIRS.contains(&file) {
            true => format!("input-{file}"),
            false => file.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_prefixes_stay_in_bounds() {
        assert!("nightly_backup-2".parse::<DefName>().is_ok());
        for bad in ["", "a/b", "..", "a b", &"x".repeat(65)] {
            assert!(bad.parse::<DefName>().is_err(), "{bad:?}");
        }
        for good in ["", "photos/", "photos", "a/b/"] {
            assert!(is_safe_prefix(good), "{good:?}");
        }
        for bad in ["/etc", "../bob/", "a/../b", "a//", "./", "//"] {
            assert!(!is_safe_prefix(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_trigger_input_never_takes_a_reserved_name() {
        let name: DefName = "t".parse().unwrap();
        let origin = |path: &str| Origin::Trigger {
            name: name.clone(),
            path: path.into(),
        };
        assert_eq!(origin("photos/cat.jpg").input_file().unwrap(), "cat.jpg");
        assert_eq!(origin("x/tmp").input_file().unwrap(), "input-tmp");
        assert_eq!(origin("artifacts").input_file().unwrap(), "input-artifacts");
    }

    #[test]
    fn a_spec_reads_with_defaults() {
        let spec: ScheduleSpec =
            serde_json::from_str(r#"{"cron": "0 3 * * *", "exec": {"argv": ["true"]}}"#).unwrap();
        assert_eq!(spec.tz, "UTC");
        assert_eq!(spec.overlap, Overlap::Skip);
        assert!(
            serde_json::from_str::<ScheduleSpec>(r#"{"cron": "x", "exec": {}, "cronn": 1}"#)
                .is_err()
        );
    }
}
