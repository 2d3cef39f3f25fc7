//! Schedules on AWS: one EventBridge Scheduler schedule per definition, in the group
//! infra.yaml made, invoking this function with a payload that names the definition and the
//! planned time. AWS does the firing; [`super::fire`] starts the job when it arrives.

use std::sync::OnceLock;

use async_trait::async_trait;
use aws_exec_protocol::{AuthName, DefName, ScheduleSpec};
use aws_sdk_scheduler::error::ProvideErrorMetadata;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, ScheduleState, Target,
};
use aws_sdk_scheduler::Client;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{CronSchedule, Scheduler, SchedulerError};
use crate::on_first_call::OnFirstCall;

/// The key under which a scheduler's payload names its definition. Like the job event's,
/// HTTP events never carry it, so no HTTP caller can fire a schedule this way.
pub const SCHEDULE_EVENT_KEY: &str = "aws-exec-schedule";

/// The key of the payload of a one-shot schedule that wakes the function when attempts of
/// retried jobs are due: `{"aws-exec-retry": {"at": SECONDS}}`.
pub const RETRY_EVENT_KEY: &str = "aws-exec-retry";

/// What a retry wake-up delivers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryEvent {
    #[serde(rename = "aws-exec-retry")]
    pub retry: RetryWake,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryWake {
    /// When the attempts it was made for are due, seconds since the epoch.
    pub at: u64,
}

/// What EventBridge Scheduler delivers: `at` is its `<aws.scheduler.scheduled-time>`,
/// the same on every retry of one firing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleEvent {
    #[serde(rename = "aws-exec-schedule")]
    pub schedule: ScheduleFiring,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleFiring {
    pub owner: AuthName,
    pub name: DefName,
    /// RFC 3339, as the scheduler writes it (`2026-11-25T03:00:00Z`).
    pub at: String,
}

impl ScheduleFiring {
    /// The planned time in seconds since the epoch.
    pub fn at_unix(&self) -> Option<u64> {
        let at = chrono::DateTime::parse_from_rfc3339(&self.at).ok()?;
        u64::try_from(at.timestamp()).ok()
    }
}

pub struct EventBridgeScheduler {
    client: OnFirstCall<Client>,
    group: String,
    role_arn: String,
    /// This function's ARN, learnt from the first invocation's context.
    target: OnceLock<String>,
}

impl EventBridgeScheduler {
    pub fn new(client: Client, group: impl Into<String>, role_arn: impl Into<String>) -> Self {
        Self::on_first_call(OnFirstCall::ready(client), group, role_arn)
    }

    /// As [`EventBridgeScheduler::new`], with a client made on its first call.
    pub fn on_first_call(
        client: OnFirstCall<Client>,
        group: impl Into<String>,
        role_arn: impl Into<String>,
    ) -> Self {
        EventBridgeScheduler {
            client,
            group: group.into(),
            role_arn: role_arn.into(),
            target: OnceLock::new(),
        }
    }

    /// The function's ARN, which schedules invoke; the invocation context carries it.
    pub fn set_target(&self, function_arn: &str) {
        if !function_arn.is_empty() {
            let _ = self.target.set(function_arn.to_owned());
        }
    }

    fn target(&self, owner: &AuthName, name: &DefName) -> Result<Target, SchedulerError> {
        let payload = serde_json::json!({ SCHEDULE_EVENT_KEY: {
            "owner": owner,
            "name": name,
            "at": "<aws.scheduler.scheduled-time>",
        }});
        self.target_with(payload)
    }

    /// A target invoking this function with `payload`.
    fn target_with(&self, payload: serde_json::Value) -> Result<Target, SchedulerError> {
        let arn = self.target.get().ok_or_else(|| {
            SchedulerError::Backend("this function's ARN is not known yet".into())
        })?;
        Target::builder()
            .arn(arn)
            .role_arn(&self.role_arn)
            .input(payload.to_string())
            .build()
            .map_err(|e| SchedulerError::Backend(e.to_string()))
    }
}

/// A schedule's name in the group: `OWNER.NAME` when that fits the scheduler's 64
/// characters, else shortened parts and a hash of the whole.
pub fn schedule_name(owner: &AuthName, name: &DefName) -> String {
    let full = format!("{owner}.{name}");
    if full.len() <= 64 {
        return full;
    }
    let hash = hex::encode(&Sha256::digest(full.as_bytes())[..8]);
    let cut = |s: &str| s.chars().take(20).collect::<String>();
    format!("{}.{}.{hash}", cut(owner.as_str()), cut(name.as_str()))
}

/// A crontab expression as EventBridge writes it: `cron(MIN HOUR DOM MONTH DOW YEAR)`, one of
/// the two day fields `?`, and days of the week counted from 1 (Sunday).
pub fn eventbridge_expression(cron: &str) -> Result<String, SchedulerError> {
    let fields: Vec<&str> = cron.split_whitespace().collect();
    let [minute, hour, dom, month, dow] = fields[..] else {
        return Err(SchedulerError::Unsupported(
            "EventBridge Scheduler fires at most once a minute: give 5 fields, without seconds"
                .into(),
        ));
    };
    let (dom, dow) = match (dom, dow) {
        (dom, "*" | "?") => (dom.to_owned(), "?".to_owned()),
        ("*" | "?", dow) => ("?".to_owned(), weekdays(dow)?),
        _ => {
            return Err(SchedulerError::Unsupported(
                "EventBridge Scheduler cannot fire on a day of the month and a day of the week at once; set one of them to *".into(),
            ))
        }
    };
    Ok(format!("cron({minute} {hour} {dom} {month} {dow} *)"))
}

const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// A crontab day-of-week field (0 or 7 is Sunday, names, ranges, steps) as the list of
/// day names it stands for, which reads the same in EventBridge.
fn weekdays(field: &str) -> Result<String, SchedulerError> {
    let bad = || {
        SchedulerError::Unsupported(format!(
            "day of week {field:?} cannot be given to EventBridge Scheduler"
        ))
    };
    let day = |s: &str| -> Result<usize, SchedulerError> {
        if let Some(i) = DAYS.iter().position(|d| d.eq_ignore_ascii_case(s)) {
            return Ok(i);
        }
        match s.parse::<usize>() {
            Ok(n @ 0..=7) => Ok(n % 7),
            _ => Err(bad()),
        }
    };
    let mut on = [false; 7];
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (
                range,
                step.parse::<usize>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(bad)?,
            ),
            None => (item, 1),
        };
        let (from, to) = match range {
            "*" => (0, 6),
            _ => match range.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (day(a)?, day(b)?);
                    // `5-7` is Friday to Sunday: 7 closes the week.
                    let b = if b == 0 && a > 0 { 7 } else { b };
                    if b < a {
                        return Err(bad());
                    }
                    (a, b)
                }
                None => {
                    let a = day(range)?;
                    (a, if step > 1 { 6 } else { a })
                }
            },
        };
        for d in (from..=to).step_by(step) {
            on[d % 7] = true;
        }
    }
    let names: Vec<&str> = (0..7).filter(|d| on[*d]).map(|d| DAYS[d]).collect();
    Ok(names.join(","))
}

#[async_trait]
impl Scheduler for EventBridgeScheduler {
    async fn upsert(
        &self,
        owner: &AuthName,
        name: &DefName,
        spec: &ScheduleSpec,
    ) -> Result<(), SchedulerError> {
        let checked =
            CronSchedule::parse(&spec.cron, &spec.tz).map_err(SchedulerError::Unsupported)?;
        if checked.with_seconds() {
            return Err(SchedulerError::Unsupported(
                "EventBridge Scheduler fires at most once a minute: give 5 fields, without seconds"
                    .into(),
            ));
        }
        let expression = eventbridge_expression(&spec.cron)?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| SchedulerError::Backend(e.to_string()))?;
        let target = self.target(owner, name)?;
        let schedule = schedule_name(owner, name);
        let description = format!("aws-exec schedule {name} of {owner}");
        let created = self
            .client
            .create_schedule()
            .name(&schedule)
            .group_name(&self.group)
            .schedule_expression(&expression)
            .schedule_expression_timezone(&spec.tz)
            .flexible_time_window(window.clone())
            .target(target.clone())
            .state(ScheduleState::Enabled)
            .description(&description)
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ConflictException") => self
                .client
                .update_schedule()
                .name(&schedule)
                .group_name(&self.group)
                .schedule_expression(&expression)
                .schedule_expression_timezone(&spec.tz)
                .flexible_time_window(window)
                .target(target)
                .state(ScheduleState::Enabled)
                .description(&description)
                .send()
                .await
                .map(drop)
                .map_err(|e| SchedulerError::Backend(aws_error(&e))),
            Err(e) => Err(SchedulerError::Backend(aws_error(&e))),
        }
    }

    /// A one-shot schedule per second that attempts are due at, named by that second (so
    /// jobs due together share one), deleted by EventBridge once it has fired.
    async fn wake_at(&self, at: u64) -> Result<(), SchedulerError> {
        let when = chrono::DateTime::from_timestamp(at as i64, 0)
            .ok_or_else(|| SchedulerError::Backend(format!("no such time: {at}")))?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| SchedulerError::Backend(e.to_string()))?;
        let target = self.target_with(serde_json::json!({ RETRY_EVENT_KEY: { "at": at } }))?;
        let created = self
            .client
            .create_schedule()
            .name(format!("aws-exec-retry-{at}"))
            .group_name(&self.group)
            .schedule_expression(format!("at({})", when.format("%Y-%m-%dT%H:%M:%S")))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .target(target)
            .action_after_completion(ActionAfterCompletion::Delete)
            .description("aws-exec: attempts of retried jobs are due")
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            // Another job due at the same second made it first.
            Err(e) if e.code() == Some("ConflictException") => Ok(()),
            Err(e) => Err(SchedulerError::Backend(aws_error(&e))),
        }
    }

    async fn remove(&self, owner: &AuthName, name: &DefName) -> Result<(), SchedulerError> {
        let deleted = self
            .client
            .delete_schedule()
            .name(schedule_name(owner, name))
            .group_name(&self.group)
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            // Already gone: what a delete wants.
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(()),
            Err(e) => Err(SchedulerError::Backend(aws_error(&e))),
        }
    }
}

fn aws_error<E: ProvideErrorMetadata + std::fmt::Display>(e: &E) -> String {
    match (e.code(), e.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crontab_reads_as_eventbridge() {
        let ok = |c: &str| eventbridge_expression(c).unwrap();
        assert_eq!(ok("0 3 * * *"), "cron(0 3 * * ? *)");
        assert_eq!(ok("*/5 * 1 * *"), "cron(*/5 * 1 * ? *)");
        assert_eq!(ok("0 9 * * 1-5"), "cron(0 9 ? * MON,TUE,WED,THU,FRI *)");
        assert_eq!(ok("0 9 * * 0"), "cron(0 9 ? * SUN *)");
        assert_eq!(ok("0 9 * * 7"), "cron(0 9 ? * SUN *)");
        assert_eq!(ok("0 9 * * 5-7"), "cron(0 9 ? * SUN,FRI,SAT *)");
        assert_eq!(ok("0 9 * * sat,sun"), "cron(0 9 ? * SUN,SAT *)");
        assert_eq!(ok("0 9 * * */2"), "cron(0 9 ? * SUN,TUE,THU,SAT *)");
        assert_eq!(ok("0 9 * JAN *"), "cron(0 9 * JAN ? *)");
        for bad in ["0 9 1 * 1", "* * * * * *", "0 9 * * 8", "0 9 * * 5L"] {
            assert!(
                matches!(
                    eventbridge_expression(bad),
                    Err(SchedulerError::Unsupported(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn names_fit_the_scheduler() {
        let owner: AuthName = "alice".parse().unwrap();
        let name: DefName = "nightly".parse().unwrap();
        assert_eq!(schedule_name(&owner, &name), "alice.nightly");
        let long_owner: AuthName = "a".repeat(64).parse().unwrap();
        let long: DefName = "n".repeat(64).parse().unwrap();
        let other: DefName = format!("{}x", "n".repeat(63)).parse().unwrap();
        let (a, b) = (
            schedule_name(&long_owner, &long),
            schedule_name(&long_owner, &other),
        );
        assert!(a.len() <= 64 && b.len() <= 64);
        assert_ne!(a, b, "the hash keeps long names apart");
    }

    #[test]
    fn a_delivered_firing_reads_its_time() {
        let event: ScheduleEvent = serde_json::from_value(serde_json::json!({
            SCHEDULE_EVENT_KEY: {"owner": "alice", "name": "nightly", "at": "2026-11-25T03:00:00Z"}
        }))
        .unwrap();
        assert_eq!(event.schedule.at_unix(), Some(1_795_575_600));
    }
}
