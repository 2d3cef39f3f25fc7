//! A job's life below the HTTP layer: [`submit`] it, start it (the runner, through the
//! dispatcher), [`cancel`] it, and [`end`] it. The API, schedule firings and uploads,
//! housekeeping and the Lambda edge all come here; whoever claims a job's end fences every
//! other writer ([`end::claim_end`]).

use std::sync::Arc;
use std::time::Duration;

use crate::dispatch::{Dispatch, DispatchError};
use crate::job_events::JobEvents;
use crate::push_guard::PushPolicy;
use crate::rpc::{Registry, RpcLookupError};
use crate::secrets::{Secrets, SecretsError};
use crate::store::{Store, StoreError};

pub mod attempt;
pub mod cancel;
pub mod end;
pub mod idempotency;
pub mod inputs;
pub mod marker;
pub mod quiet;
pub mod retry;
pub mod submit;

/// What a job's life needs of the service: where jobs are stored and run, and the limits
/// a submit is checked against.
#[derive(Clone)]
pub struct Jobs {
    pub store: Arc<dyn Store>,
    pub dispatch: Arc<dyn Dispatch>,
    pub registry: Arc<Registry>,
    /// The largest `timeout` a job may ask for where jobs run by default.
    pub max_timeout: Duration,
    /// The largest on Fargate, when the service has that long runner.
    pub long_max_timeout: Option<Duration>,
    /// Where push-urls may point.
    pub push_policy: PushPolicy,
    /// News of jobs whose runner is in this process, for polls that wait (`serve`).
    pub events: Option<Arc<JobEvents>>,
    /// Jobs one user may have queued or running at once (`MAX_JOBS_PER_USER`).
    pub max_jobs_per_user: Option<usize>,
    /// Where the owners' secrets are kept (names are checked at submit).
    pub secrets: Arc<dyn Secrets>,
}

impl Jobs {
    /// How long the jobs submitted here may run.
    pub fn limits(&self) -> aws_exec_protocol::RunLimits {
        aws_exec_protocol::RunLimits {
            max_timeout: self.max_timeout.as_secs(),
            long_max_timeout: self.long_max_timeout.map(|d| d.as_secs()),
            serve: self.events.is_some(),
        }
    }
}

/// Why a job could not be submitted, cancelled or fired. The API answers each with its
/// status ([`crate::api::error`]); a firing records a caller's mistake as a skipped run.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{0}")]
    BadRequest(String),
    #[error("no job {0} for this auth key")]
    UnknownJob(String),
    #[error(
        "inputs.{path}: no uploaded input {key:?} for this auth key (POST /api/inputs gives one)"
    )]
    UnknownInput { path: String, key: String },
    #[error("no {0} for this auth key")]
    UnknownDefinition(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{owner} already has {limit} jobs queued or running, as many as one key may (MAX_JOBS_PER_USER); retry when some have ended")]
    TooManyJobs { owner: String, limit: usize },
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Rpc(#[from] RpcLookupError),
    #[error(transparent)]
    Dispatch(#[from] DispatchError),
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
}

impl JobError {
    /// True for a mistake of the caller's (or of a definition's), which a retry cannot mend.
    pub fn is_callers_mistake(&self) -> bool {
        !matches!(
            self,
            JobError::Dispatch(_)
                | JobError::Secrets(SecretsError::Backend(_) | SecretsError::Misconfigured(_))
                | JobError::Store(
                    StoreError::Backend(_) | StoreError::Io { .. } | StoreError::Config(_)
                )
        )
    }
}
