//! The Lambda edge. One function receives three kinds of event and tells them apart here:
//! HTTP (API Gateway REST v1, HTTP API v2, function URL, ALB) goes through the same axum
//! router as `serve`; a job event, which only this function's own async self-invoke sends,
//! runs the runner; a scheduled event runs housekeeping.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Service};
use lambda_runtime::{service_fn, LambdaEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;

use crate::job::Job;
use crate::runner::Runner;
use crate::store::Store;

/// The key under which a self-invoked payload carries its job. API Gateway and function-URL
/// events are shaped by AWS and never have it, so HTTP callers cannot start the runner.
pub const JOB_EVENT_KEY: &str = "aws-exec-job";

/// Time kept back from the invocation's deadline to stop the command and write exit and size.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

#[derive(Debug, Serialize, Deserialize)]
pub struct JobEvent {
    #[serde(rename = "aws-exec-job")]
    pub job: Job,
}

/// What an invocation carries.
#[derive(Debug)]
pub enum Event {
    Job(Box<Job>),
    Scheduled,
    Http(Box<LambdaRequest>),
}

impl Event {
    pub fn classify(payload: Value) -> Result<Self, serde_json::Error> {
        if payload.get(JOB_EVENT_KEY).is_some() {
            let JobEvent { job } = serde_json::from_value(payload)?;
            return Ok(Event::Job(Box::new(job)));
        }
        // An EventBridge rule's schedule, as infra.yaml sets up.
        if payload.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") {
            return Ok(Event::Scheduled);
        }
        serde_json::from_value(payload).map(|r| Event::Http(Box::new(r)))
    }
}

pub struct LambdaApp {
    pub router: Router,
    pub runner: Arc<Runner>,
    pub store: Arc<dyn Store>,
}

impl LambdaApp {
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
        let LambdaEvent { payload, context } = event;
        match Event::classify(payload)? {
            Event::Http(request) => {
                let mut adapter = Adapter::from(self.router.clone());
                let Ok(response) = adapter.call(LambdaEvent::new(*request, context)).await;
                Ok(serde_json::to_value(response)?)
            }
            Event::Job(job) => {
                let deadline = deadline_of(&context).map(|d| {
                    // Keep the margin, but never more than a quarter of the time there is.
                    let left = d.saturating_duration_since(Instant::now());
                    tracing::info!(uid = %job.uid, left_ms = left.as_millis(), "running job");
                    d - DEADLINE_MARGIN.min(left / 4)
                });
                let outcome = self.runner.run(&job, deadline).await?;
                Ok(serde_json::json!({
                    "uid": job.uid,
                    "ran": outcome.is_some(),
                    "exit": outcome.map(|o| o.exit),
                }))
            }
            Event::Scheduled => {
                let report = crate::housekeeping::sweep(
                    self.store.as_ref(),
                    crate::housekeeping::LOST_AFTER,
                )
                .await?;
                Ok(serde_json::to_value(report)?)
            }
        }
    }

    /// Serves events from the Lambda Runtime API until the sandbox is shut down.
    pub async fn run(self) -> Result<(), lambda_runtime::Error> {
        let app = Arc::new(self);
        lambda_runtime::run(service_fn(move |event| {
            let app = app.clone();
            async move { app.handle(event).await }
        }))
        .await
    }
}

/// API Gateway REST APIs put the stage in the path (`/prod/api/exec`); lambda_http keeps it
/// unless told otherwise. The routes live at the root, so Lambda mode drops it. Call before
/// any threads start: it sets a process environment variable.
pub fn ignore_stage_in_path() {
    if std::env::var_os("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH").is_none() {
        std::env::set_var("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true");
    }
}

/// The invocation's deadline as an `Instant`, from the epoch milliseconds Lambda sends.
/// A deadline already past when the invocation starts is not a real one (a runtime emulator
/// may send a duration instead); the job then runs under its own run-time limit.
fn deadline_of(context: &lambda_runtime::Context) -> Option<Instant> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis() as u64;
    if context.deadline <= now_ms {
        tracing::warn!(
            deadline_ms = context.deadline,
            now_ms,
            "ignoring a deadline in the past"
        );
        return None;
    }
    Some(Instant::now() + Duration::from_millis(context.deadline - now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_and_schedule_events_are_told_apart_from_http() {
        let job = serde_json::json!({ JOB_EVENT_KEY: {
            "owner": "alice",
            "uid": "1700000000.3f2b1c3e-8d6e-4f0a-9b1e-0c1d2e3f4a5b",
            "command": {"kind": "argv", "argv": ["true"]},
        }});
        assert!(matches!(Event::classify(job), Ok(Event::Job(_))));
        let schedule = serde_json::json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
        assert!(matches!(Event::classify(schedule), Ok(Event::Scheduled)));
        assert!(Event::classify(serde_json::json!({"hello": 1})).is_err());
        let bad_job = serde_json::json!({ JOB_EVENT_KEY: {"owner": "../x"} });
        assert!(Event::classify(bad_job).is_err());
    }
}
