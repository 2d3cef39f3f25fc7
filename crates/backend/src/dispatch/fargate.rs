//! Long jobs on ECS Fargate: a job with a task size is started as a task (RunTask, launch
//! type FARGATE, its `clientToken` from the job, so a repeated dispatch starts one task)
//! whose command override is `aws-exec-server run-job OWNER UID`: the container reads the
//! job from the store (`job.json`) and runs it with the same runner as Lambda. Every other
//! job goes to the dispatcher this one wraps. Housekeeping asks it whether a task stopped
//! without an end ([`FargateTasks::state`]). Here: what the environment says and what a task
//! runs; the ECS calls are in `ecs.rs`, built with the `aws` feature.

use std::time::Duration;

use crate::job::Job;

#[cfg(not(feature = "aws"))]
mod absent;
#[cfg(feature = "aws")]
mod ecs;
#[cfg(not(feature = "aws"))]
pub use absent::{FargateDispatch, FargateTasks};
#[cfg(feature = "aws")]
pub use ecs::{FargateDispatch, FargateTasks};

/// The container command that runs a stored job: `aws-exec-server run-job OWNER UID`.
pub const RUN_JOB: &str = "run-job";

/// Where long jobs run, as the environment says: `ECS_CLUSTER`, `ECS_TASK_DEFINITION`,
/// `ECS_SUBNETS` and `ECS_SECURITY_GROUPS` (comma-separated), `ECS_CONTAINER` (default
/// `runner`), `ECS_ASSIGN_PUBLIC_IP` (default `ENABLED`: a public subnet pulls the image
/// without a NAT gateway), `LONG_MAX_TIMEOUT` (seconds, default 12 h).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FargateConfig {
    pub cluster: String,
    pub task_definition: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub container: String,
    pub assign_public_ip: bool,
    /// The bucket the task reads its job from and writes its objects to.
    pub bucket: String,
    pub max_timeout: Duration,
}

impl FargateConfig {
    /// `Ok(None)` when `ECS_CLUSTER` is not set (no long runner); an error naming what is
    /// missing when it is set only in part.
    pub fn from_env(bucket: &str) -> Result<Option<Self>, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let Some(cluster) = var("ECS_CLUSTER") else {
            return Ok(None);
        };
        if cfg!(not(feature = "aws")) {
            return Err(format!("ECS_CLUSTER is set, but {}", crate::WITHOUT_AWS));
        }
        let need = |name: &str| {
            var(name).ok_or_else(|| format!("ECS_CLUSTER is set, so {name} must be too"))
        };
        let list = |name: &str| -> Result<Vec<String>, String> {
            Ok(need(name)?
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect())
        };
        let max_timeout = match var("LONG_MAX_TIMEOUT") {
            None => aws_exec_protocol::fargate::DEFAULT_LONG_MAX_TIMEOUT,
            Some(text) => text
                .parse()
                .ok()
                .filter(|&s: &u64| s > 0)
                .ok_or("LONG_MAX_TIMEOUT must be a number of seconds")?,
        };
        Ok(Some(FargateConfig {
            cluster,
            task_definition: need("ECS_TASK_DEFINITION")?,
            subnets: list("ECS_SUBNETS")?,
            security_groups: list("ECS_SECURITY_GROUPS")?,
            container: var("ECS_CONTAINER").unwrap_or_else(|| "runner".to_owned()),
            assign_public_ip: var("ECS_ASSIGN_PUBLIC_IP")
                .is_none_or(|v| v.eq_ignore_ascii_case("ENABLED")),
            bucket: bucket.to_owned(),
            max_timeout: Duration::from_secs(max_timeout),
        }))
    }
}

/// What housekeeping learns of a job's task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// Starting or running.
    Live { started: bool },
    /// Stopped: ECS's stop code, reason and the container's exit code, in words.
    Stopped(String),
    /// ECS does not know it (long gone).
    Unknown,
}

/// The container's command: `run-job OWNER UID`, the job itself being in the store.
pub fn command(job: &Job) -> Vec<String> {
    vec![
        RUN_JOB.to_owned(),
        job.owner.to_string(),
        job.uid.to_string(),
    ]
}
