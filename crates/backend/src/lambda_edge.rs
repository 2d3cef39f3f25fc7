//! The Lambda edge, the counterpart of [`crate::serve`]. The stack deploys the binary as two
//! functions ([`Part`]), and each takes only its own events, told apart here. The API
//! function takes HTTP (API Gateway REST v1, HTTP API v2, function URL, ALB) through the
//! same axum router as `serve`, a schedule's firing (EventBridge Scheduler) and an upload
//! (the bucket's notification), which start jobs, housekeeping, and the jobs function's word
//! that a job's end left work; it never runs a job. The jobs function runs the jobs the API
//! function sends it, each owner's in execution environments of their own (the owner is the
//! invocation's tenant id), and nothing else. [`LambdaApp::from_env`] wires either.

use crate::secrets::{Secrets, SsmSecrets};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{Request, Uri};
use axum::Router;
use lambda_http::request::{LambdaRequest, RequestContext};
use lambda_http::{Adapter, Service};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use tokio::time::Instant;
use tower::ServiceExt;

use aws_lambda_events::s3::S3Event;

use crate::api::{app, AppState};
use crate::dispatch::fargate::FargateConfig;
use crate::dispatch::{Dispatch, FargateDispatch, FargateTasks, LambdaDispatch};
use crate::housekeeping::{sweep, LostRule};
use crate::job::{AfterJobEvent, Job, JobEvent, AFTER_JOB_EVENT_KEY, JOB_EVENT_KEY};
use crate::lifecycle::Jobs;
use crate::on_first_call::OnFirstCall;
use crate::push_guard::PushPolicy;
use crate::rpc::Registry;
use crate::runner::{Runner, RunnerConfig};
use crate::schedules::eventbridge::{
    RetryEvent, ScheduleEvent, ScheduleFiring, RETRY_EVENT_KEY, SCHEDULE_EVENT_KEY,
};
use crate::schedules::fire::{fire_schedule, fire_upload, Firing};
use crate::schedules::{EventBridgeScheduler, Scheduler, Unconfigured};
use crate::store::{S3Store, Store, StoreError};

/// Time kept back from the invocation's deadline to stop the command and write exit and size.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

/// What an invocation carries.
#[derive(Debug)]
pub enum Event {
    Job(Box<Job>),
    Schedule(ScheduleFiring),
    Upload(Box<S3Event>),
    Scheduled,
    /// A one-shot schedule: attempts of retried jobs are due.
    RetryDue,
    /// The jobs function: a job ended with a notification to send or an attempt to start.
    AfterJob,
    Http(Box<LambdaRequest>),
}

impl Event {
    pub fn classify(payload: Value) -> Result<Self, serde_json::Error> {
        if payload.get(JOB_EVENT_KEY).is_some() {
            let JobEvent { job } = serde_json::from_value(payload)?;
            return Ok(Event::Job(Box::new(job)));
        }
        if payload.get(AFTER_JOB_EVENT_KEY).is_some() {
            let AfterJobEvent { .. } = serde_json::from_value(payload)?;
            return Ok(Event::AfterJob);
        }
        if payload.get(RETRY_EVENT_KEY).is_some() {
            let RetryEvent { .. } = serde_json::from_value(payload)?;
            return Ok(Event::RetryDue);
        }
        if payload.get(SCHEDULE_EVENT_KEY).is_some() {
            let ScheduleEvent { schedule } = serde_json::from_value(payload)?;
            return Ok(Event::Schedule(schedule));
        }
        let from_s3 = payload
            .pointer("/Records/0/eventSource")
            .and_then(Value::as_str)
            == Some("aws:s3");
        if from_s3 {
            return Ok(Event::Upload(Box::new(serde_json::from_value(payload)?)));
        }
        // An EventBridge rule's schedule, as infra.yaml sets up.
        if payload.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") {
            return Ok(Event::Scheduled);
        }
        serde_json::from_value(payload).map(|r| Event::Http(Box::new(r)))
    }

    /// What kind of event it is, for a refusal to name.
    fn kind(&self) -> &'static str {
        match self {
            Event::Job(_) => "a job",
            Event::Schedule(_) => "a schedule's firing",
            Event::Upload(_) => "an upload",
            Event::Scheduled => "housekeeping",
            Event::RetryDue => "a retry's wake-up",
            Event::AfterJob => "a job's end",
            Event::Http(_) => "an HTTP request",
        }
    }
}

/// Which of the two functions this is (`AWS_EXEC_PART`: `api` or `jobs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The API, schedules, uploads and housekeeping; never a job.
    Api,
    /// Jobs, and nothing else.
    Jobs,
}

impl Part {
    pub fn from_env() -> Result<Self, LambdaSetupError> {
        match std::env::var("AWS_EXEC_PART").as_deref() {
            Ok("api") => Ok(Part::Api),
            Ok("jobs") => Ok(Part::Jobs),
            Ok(_) => Err(LambdaSetupError::Invalid("AWS_EXEC_PART", "api or jobs")),
            Err(_) => Err(LambdaSetupError::Missing("AWS_EXEC_PART")),
        }
    }
}

/// The function, as one of its two parts.
pub enum LambdaApp {
    Api(ApiFunction),
    Jobs(JobsFunction),
}

/// The API function: never runs a job, hands each to the jobs function.
pub struct ApiFunction {
    router: Router,
    state: AppState,
    /// Learns the function's ARN from the invocations, for the schedules it creates.
    eventbridge: Option<Arc<EventBridgeScheduler>>,
}

/// The jobs function: runs the jobs it is sent, and nothing else.
pub struct JobsFunction {
    runner: Arc<Runner>,
    /// The API function, told when a job's end leaves it work.
    api: LambdaDispatch,
}

/// What Lambda mode needs from the environment that infra.yaml sets.
#[derive(Debug, thiserror::Error)]
pub enum LambdaSetupError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{0} must be {1}")]
    Invalid(&'static str, &'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the long runner: {0}")]
    LongRunner(String),
}

impl LambdaApp {
    /// The service as a Lambda function, the part `AWS_EXEC_PART` names: S3 store on
    /// `PROJECT_BUCKET`; the API function hands jobs to `JOBS_FUNCTION`, the jobs function
    /// tells `API_FUNCTION` what a job's end leaves to do. `rpc_process` runs each rpc in a
    /// process of its own (see [`RunnerConfig::rpc_process`]).
    pub async fn from_env(
        registry: Registry,
        rpc_process: Option<Vec<String>>,
    ) -> Result<Self, LambdaSetupError> {
        let var = |name: &'static str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or(LambdaSetupError::Missing(name))
        };
        let part = Part::from_env()?;
        let bucket = var("PROJECT_BUCKET")?;
        let store: Arc<dyn Store> = Arc::new(S3Store::from_env(bucket.clone()).await?);
        let registry = Arc::new(registry);
        crate::runner::isolation::harden_process();
        let secrets: Arc<dyn Secrets> =
            Arc::new(SsmSecrets::from_env(crate::serve::secrets_prefix()).await);
        let push_policy = PushPolicy {
            s3_https_only: true,
            ..PushPolicy::default()
        };
        if part == Part::Jobs {
            // Lambda's one writable directory; `AWS_EXEC_SCRATCH` moves it (a test beside
            // others on one machine must not clean the machine's /tmp).
            let scratch = std::path::PathBuf::from(
                std::env::var("AWS_EXEC_SCRATCH").unwrap_or_else(|_| "/tmp".into()),
            );
            let config = RunnerConfig {
                // The sandbox, /tmp included, is reused by the owner's later invocations.
                work_root: scratch.join("aws-exec-jobs"),
                clean_scratch: Some(scratch),
                rpc_process,
                cost: crate::usage::CostModel::lambda_from_env(),
                push_policy,
                ..RunnerConfig::default()
            };
            let runner = Arc::new(Runner::new(store, registry, config).with_secrets(secrets));
            let api = LambdaDispatch::from_env(var("API_FUNCTION")?).await;
            return Ok(LambdaApp::jobs(runner, api));
        }
        let shared = crate::deadlines::aws_config().await;
        let eventbridge = match (var("SCHEDULE_GROUP"), var("SCHEDULER_ROLE_ARN")) {
            (Ok(group), Ok(role)) => {
                let shared = shared.clone();
                Some(Arc::new(EventBridgeScheduler::on_first_call(
                    OnFirstCall::new(move || aws_sdk_scheduler::Client::new(&shared)),
                    group,
                    role,
                )))
            }
            _ => None,
        };
        let scheduler: Arc<dyn Scheduler> = match (&eventbridge, var("SCHEDULE_GROUP")) {
            (Some(eventbridge), _) => eventbridge.clone(),
            (None, Err(_)) => Arc::new(Unconfigured("SCHEDULE_GROUP")),
            (None, Ok(_)) => Arc::new(Unconfigured("SCHEDULER_ROLE_ARN")),
        };
        let lambda: Arc<dyn Dispatch> =
            Arc::new(LambdaDispatch::from_env(var("JOBS_FUNCTION")?).await);
        // Long jobs go to Fargate when infra.yaml set up the long runner.
        let fargate = FargateConfig::from_env(&bucket).map_err(LambdaSetupError::LongRunner)?;
        let long_max_timeout = fargate.as_ref().map(|f| f.max_timeout);
        let dispatch: Arc<dyn Dispatch> = match fargate {
            Some(fargate) => Arc::new(FargateDispatch::new(
                Arc::new(FargateTasks::from_config(fargate).await),
                store.clone(),
                lambda,
            )),
            None => lambda,
        };
        let jobs = Jobs {
            store,
            dispatch,
            registry,
            // A job's own timeout must end before the invocation's deadline does.
            max_timeout: aws_exec_protocol::limits::MAX_RUN_TIME - DEADLINE_MARGIN,
            long_max_timeout,
            push_policy,
            events: None,
            max_jobs_per_user: match std::env::var("MAX_JOBS_PER_USER") {
                Ok(n) if !n.is_empty() => Some(n.parse().map_err(|_| {
                    LambdaSetupError::Invalid("MAX_JOBS_PER_USER", "a positive number")
                })?)
                .filter(|&n: &usize| n > 0),
                _ => None,
            },
            secrets,
        };
        let state = AppState {
            jobs,
            public_url: None,
            scheduler,
            page_reads_from: None,
        };
        Ok(LambdaApp::api(state, eventbridge))
    }

    /// The API function from its parts; `eventbridge`, when schedules are set up, is the
    /// scheduler in `state` as its own type.
    pub fn api(state: AppState, eventbridge: Option<Arc<EventBridgeScheduler>>) -> Self {
        LambdaApp::Api(ApiFunction {
            router: app(state.clone()),
            state,
            eventbridge,
        })
    }

    /// The jobs function from its parts: its runner, and the API function it tells.
    pub fn jobs(runner: Arc<Runner>, api: LambdaDispatch) -> Self {
        LambdaApp::Jobs(JobsFunction { runner, api })
    }

    /// Handles one event, if it is this part's; another part's is refused (an error, which
    /// the caller sees, and which a direct invoke gets back).
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
        let LambdaEvent { payload, context } = event;
        let refused = match (self, Event::classify(payload)?) {
            (LambdaApp::Jobs(jobs), Event::Job(job)) => return jobs.run(&job, &context).await,
            (LambdaApp::Api(_), event @ Event::Job(_)) => {
                ("the API function never runs a job", event)
            }
            (LambdaApp::Api(api), event) => return api.handle(event, context).await,
            (LambdaApp::Jobs(_), event) => ("the jobs function runs jobs and nothing else", event),
        };
        let (why, event) = refused;
        tracing::warn!(event = event.kind(), "{why}: event refused");
        Err(format!("{why}: {} was refused", event.kind()).into())
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

impl JobsFunction {
    async fn run(
        &self,
        job: &Job,
        context: &lambda_runtime::Context,
    ) -> Result<Value, lambda_runtime::Error> {
        let deadline = deadline_of(context);
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        tracing::info!(uid = %job.uid, owner = %job.owner, left_ms = left.map(|l| l.as_millis()), "running job");
        // Keep the margin, but never more than a quarter of the time there is.
        let deadline = deadline
            .zip(left)
            .map(|(d, left)| d - DEADLINE_MARGIN.min(left / 4));
        let outcome = self.runner.run(job, deadline).await?;
        // Handed back for another attempt, or ended with a notification to send: the API
        // function does that (this one may reach neither schedules nor webhook keys).
        // Should the word not arrive, housekeeping does it later.
        // A job that asked for notifications tells it whatever its outcome here (a cancel
        // that came first ends it elsewhere, with a notification all the same).
        let left = outcome.is_some_and(|o| o.next_attempt.is_some()) || job.notify.is_some();
        if left {
            if let Err(e) = self.api.after_job().await {
                tracing::warn!(uid = %job.uid, error = %e, "telling the API function of the job's end");
            }
        }
        Ok(serde_json::json!({
            "uid": job.uid,
            "ran": outcome.is_some(),
            "exit": outcome.filter(|o| o.recorded && o.next_attempt.is_none()).map(|o| o.exit),
            "next-attempt": outcome.and_then(|o| o.next_attempt),
        }))
    }
}

impl ApiFunction {
    async fn handle(
        &self,
        event: Event,
        context: lambda_runtime::Context,
    ) -> Result<Value, lambda_runtime::Error> {
        if let Some(eventbridge) = &self.eventbridge {
            eventbridge.set_target(&context.invoked_function_arn);
        }
        match event {
            Event::Http(request) => {
                // Before routing: a layer on the Router itself would run after the match.
                let service = self.router.clone().map_request(strip_stage);
                let mut adapter = Adapter::from(service);
                let Ok(response) = adapter.call(LambdaEvent::new(*request, context)).await;
                Ok(serde_json::to_value(response)?)
            }
            Event::Job(_) => Err("the API function never runs a job".into()),
            Event::AfterJob => {
                self.wake_for_attempts().await;
                self.deliver_notifications(deadline_of(&context)).await;
                Ok(serde_json::json!({ "after-job": "done" }))
            }
            Event::Schedule(firing) => {
                let at = firing
                    .at_unix()
                    .ok_or_else(|| format!("a schedule event with a bad time {:?}", firing.at))?;
                let fired = fire_schedule(
                    &self.state.jobs,
                    self.state.scheduler.as_ref(),
                    &firing.owner,
                    &firing.name,
                    Firing::Planned(at),
                )
                .await;
                match fired {
                    Ok(last) => Ok(serde_json::to_value(last)?),
                    // A firing of a definition deleted since: retrying cannot help.
                    Err(e) if e.is_callers_mistake() => {
                        tracing::warn!(owner = %firing.owner, name = %firing.name, error = %e, "firing dropped");
                        Ok(serde_json::json!({ "dropped": e.to_string() }))
                    }
                    // The store failed: an error makes the scheduler deliver it again.
                    Err(e) => Err(e.to_string().into()),
                }
            }
            Event::Upload(event) => {
                let mut started = Vec::new();
                for record in &event.records {
                    let Some(key) = record.s3.object.key.as_deref().map(s3_event_key) else {
                        continue;
                    };
                    // S3 gives each change of a key its own sequencer; a redelivered event
                    // carries the same one.
                    let id = record
                        .s3
                        .object
                        .sequencer
                        .clone()
                        .or_else(|| record.s3.object.e_tag.clone())
                        .unwrap_or_default();
                    let uids = fire_upload(&self.state.jobs, &key, &id)
                        .await
                        .map_err(|e| e.to_string())?;
                    started.extend(uids);
                }
                Ok(serde_json::json!({ "started": started }))
            }
            Event::RetryDue => {
                self.wake_for_attempts().await;
                Ok(serde_json::json!({ "retries": "started" }))
            }
            Event::Scheduled => {
                let jobs = &self.state.jobs;
                let report = sweep(&jobs.store, LostRule::default(), jobs.dispatch.tasks()).await?;
                // Attempts whose wait is over, and a wake-up for the next (a lost run handed
                // back just now included).
                self.wake_for_attempts().await;
                self.deliver_notifications(deadline_of(&context)).await;
                Ok(serde_json::to_value(report)?)
            }
        }
    }

    /// Starts the attempts of retried jobs that are due now (each in an invocation of its
    /// own), and makes sure the function is woken when the next of those waiting is due.
    async fn wake_for_attempts(&self) {
        let jobs = &self.state.jobs;
        let next =
            match crate::lifecycle::retry::start_due(jobs, 256, &mut Default::default()).await {
                Ok((_, waiting)) => waiting,
                Err(e) => {
                    tracing::warn!(error = %e, "starting due attempts; housekeeping tries again");
                    return;
                }
            };
        if let Some(at) = next {
            // Should this fail, housekeeping starts the attempt, later than asked.
            if let Err(e) = self.state.scheduler.wake_at(at).await {
                tracing::warn!(at, error = %e, "setting a wake-up for a retried job");
            }
        }
    }

    /// Sends the notifications that are due, stopping well before `deadline`.
    async fn deliver_notifications(&self, deadline: Option<Instant>) {
        let policy = self.state.jobs.push_policy.for_notifications();
        let http = policy.client();
        let store = self.state.jobs.store.as_ref();
        let budget = deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or(crate::notify::ATTEMPT_TIMEOUT * 2)
            .saturating_sub(crate::notify::ATTEMPT_TIMEOUT + Duration::from_secs(2));
        let sent = tokio::time::timeout(
            budget,
            crate::notify::deliver_due(store, &http, &policy, 16),
        )
        .await;
        if let Ok(Err(e)) = sent {
            tracing::warn!(error = %e, "delivering notifications");
        }
    }
}

/// A key as S3 event notifications write it: URL-encoded, with `+` for a space.
fn s3_event_key(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// API Gateway puts a named stage in the path (`/prod/api/exec`) and lambda_http keeps it;
/// the routes live at the root, so Lambda mode takes it off again, reading the stage from
/// the request context (no process environment involved).
fn strip_stage<B>(mut request: Request<B>) -> Request<B> {
    let stage = match request.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV1(c)) => c.stage.clone(),
        Some(RequestContext::ApiGatewayV2(c)) => c.stage.clone(),
        _ => None,
    };
    let Some(stage) = stage.filter(|s| !s.is_empty() && s != "$default") else {
        return request;
    };
    let prefix = format!("/{stage}");
    let Some(pq) = request.uri().path_and_query() else {
        return request;
    };
    let Some(rest) = pq.as_str().strip_prefix(&prefix) else {
        return request;
    };
    if !(rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')) {
        return request;
    }
    let rest = if rest.starts_with('/') {
        rest.to_owned()
    } else {
        format!("/{rest}")
    };
    let mut parts = request.uri().clone().into_parts();
    match rest.parse() {
        Ok(pq) => parts.path_and_query = Some(pq),
        Err(_) => return request,
    }
    if let Ok(uri) = Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
    request
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
        let firing = serde_json::json!({ SCHEDULE_EVENT_KEY: {
            "owner": "alice", "name": "nightly", "at": "2026-11-25T03:00:00Z"
        }});
        assert!(matches!(Event::classify(firing), Ok(Event::Schedule(_))));
        let bad_firing = serde_json::json!({ SCHEDULE_EVENT_KEY: {
            "owner": "alice", "name": "../x", "at": "2026-11-25T03:00:00Z"
        }});
        assert!(Event::classify(bad_firing).is_err());
    }

    #[test]
    fn s3_event_keys_are_decoded() {
        assert_eq!(
            s3_event_key("inbox/alice/my+cat%2B1.jpg"),
            "inbox/alice/my cat+1.jpg"
        );
    }
}
