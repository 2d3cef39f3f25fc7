//! The ECS side of long jobs: RunTask, StopTask and DescribeTasks through the AWS SDK.

use std::sync::Arc;

use async_trait::async_trait;
use aws_exec_protocol::keys::JobKeys;
use aws_exec_protocol::{TaskSize, Uid};
use aws_sdk_ecs::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerOverride, KeyValuePair, LaunchType,
    NetworkConfiguration, TaskOverride,
};
use aws_sdk_ecs::Client;
use bytes::Bytes;

use super::{command, FargateConfig, TaskState};
use crate::dispatch::{Dispatch, DispatchError};
use crate::job::Job;
use crate::on_first_call::OnFirstCall;
use crate::store::Store;

/// The ECS calls long jobs need: start, stop and look at tasks.
pub struct FargateTasks {
    client: OnFirstCall<Client>,
    config: FargateConfig,
}

impl FargateTasks {
    pub async fn from_config(config: FargateConfig) -> Self {
        let shared = crate::deadlines::aws_config().await;
        FargateTasks {
            client: OnFirstCall::new(move || Client::new(&shared)),
            config,
        }
    }

    pub fn new(client: Client, config: FargateConfig) -> Self {
        FargateTasks {
            client: OnFirstCall::ready(client),
            config,
        }
    }

    pub fn config(&self) -> &FargateConfig {
        &self.config
    }

    /// Starts `job` as a task of `size`; answers the task's ARN.
    async fn run(&self, job: &Job, size: TaskSize) -> Result<String, DispatchError> {
        let failed = |e: String| DispatchError::Failed(format!("ECS RunTask: {e}"));
        let vpc = AwsVpcConfiguration::builder()
            .set_subnets(Some(self.config.subnets.clone()))
            .set_security_groups(Some(self.config.security_groups.clone()))
            .assign_public_ip(match self.config.assign_public_ip {
                true => AssignPublicIp::Enabled,
                false => AssignPublicIp::Disabled,
            })
            .build()
            .map_err(|e| failed(e.to_string()))?;
        let container = ContainerOverride::builder()
            .name(&self.config.container)
            .set_command(Some(command(job)))
            .environment(
                KeyValuePair::builder()
                    .name("PROJECT_BUCKET")
                    .value(&self.config.bucket)
                    .build(),
            )
            .environment(
                KeyValuePair::builder()
                    .name("LONG_MAX_TIMEOUT")
                    .value(self.config.max_timeout.as_secs().to_string())
                    .build(),
            )
            .build();
        let overrides = TaskOverride::builder()
            .cpu(size.cpu.to_string())
            .memory(size.memory_mb.to_string())
            .container_overrides(container)
            .build();
        let out = self
            .client
            .run_task()
            .cluster(&self.config.cluster)
            .task_definition(&self.config.task_definition)
            .launch_type(LaunchType::Fargate)
            .count(1)
            .network_configuration(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(vpc)
                    .build(),
            )
            .overrides(overrides)
            .client_token(client_token(job))
            .started_by("aws-exec")
            .send()
            .await
            .map_err(|e| failed(DisplayErrorContext(e).to_string()))?;
        if let Some(f) = out.failures().first() {
            return Err(failed(format!(
                "{} {}",
                f.reason().unwrap_or("failed"),
                f.detail().unwrap_or_default()
            )));
        }
        out.tasks()
            .first()
            .and_then(|t| t.task_arn())
            .map(str::to_owned)
            .ok_or_else(|| failed("no task in the answer".to_owned()))
    }

    /// Asks ECS to stop task `arn` (SIGTERM to its container, SIGKILL after the stop
    /// timeout); one already stopped or gone is not an error.
    pub async fn stop(&self, arn: &str, reason: &str) -> Result<(), String> {
        let stopped = self
            .client
            .stop_task()
            .cluster(&self.config.cluster)
            .task(arn)
            .reason(reason)
            .send()
            .await;
        match stopped {
            Ok(_) => Ok(()),
            // What ECS answers for a task it no longer knows.
            Err(e) if e.code() == Some("InvalidParameterException") => Ok(()),
            Err(e) => Err(DisplayErrorContext(&e).to_string()),
        }
    }

    /// How task `arn` is doing.
    pub async fn state(&self, arn: &str) -> Result<TaskState, String> {
        let out = self
            .client
            .describe_tasks()
            .cluster(&self.config.cluster)
            .tasks(arn)
            .send()
            .await
            .map_err(|e| DisplayErrorContext(e).to_string())?;
        let Some(task) = out.tasks().first() else {
            return Ok(TaskState::Unknown);
        };
        if task.last_status() != Some("STOPPED") {
            return Ok(TaskState::Live {
                started: task.started_at().is_some(),
            });
        }
        let mut why = vec![format!(
            "ECS stopped its task ({})",
            task.stop_code().map_or("no stop code", |c| c.as_str())
        )];
        if let Some(reason) = task.stopped_reason() {
            why.push(reason.to_owned());
        }
        for c in task.containers() {
            match (c.exit_code(), c.reason()) {
                (Some(code), _) => why.push(format!(
                    "container {} exited {code}",
                    c.name().unwrap_or("?")
                )),
                (None, Some(reason)) => {
                    why.push(format!("container {}: {reason}", c.name().unwrap_or("?")))
                }
                (None, None) => {}
            }
        }
        Ok(TaskState::Stopped(why.join("; ")))
    }
}

/// One task per job attempt, however often it is dispatched (ECS keeps a token a while).
fn client_token(job: &Job) -> String {
    format!("{}-{}", job.uid, job.attempt())
}

/// Dispatches jobs with a task size to Fargate, the others to `inner`.
pub struct FargateDispatch {
    tasks: Arc<FargateTasks>,
    store: Arc<dyn Store>,
    inner: Arc<dyn Dispatch>,
}

impl FargateDispatch {
    pub fn new(tasks: Arc<FargateTasks>, store: Arc<dyn Store>, inner: Arc<dyn Dispatch>) -> Self {
        FargateDispatch {
            tasks,
            store,
            inner,
        }
    }
}

#[async_trait]
impl Dispatch for FargateDispatch {
    async fn dispatch(&self, job: Job) -> Result<(), DispatchError> {
        let Some(size) = job.fargate else {
            return self.inner.dispatch(job).await;
        };
        let arn = self.tasks.run(&job, size).await?;
        tracing::info!(uid = %job.uid, task = %arn, cpu = size.cpu, memory_mb = size.memory_mb, "job started as a Fargate task");
        // Where cancel and housekeeping find the task; the runner copies it into meta.
        self.store
            .put(&job.keys().task(), Bytes::from(arn))
            .await
            .map_err(|e| DispatchError::Failed(format!("recording the task: {e}")))
    }

    fn cancel(&self, uid: &Uid) -> bool {
        self.inner.cancel(uid)
    }

    async fn stop(&self, keys: &JobKeys) {
        let Ok(Some(arn)) = self.store.get(&keys.task()).await else {
            return;
        };
        let arn = String::from_utf8_lossy(&arn);
        if let Err(e) = self.tasks.stop(&arn, "cancelled through aws-exec").await {
            tracing::warn!(task = %arn, error = %e, "stopping a cancelled job's task");
        }
    }

    fn instance(&self) -> Option<&str> {
        self.inner.instance()
    }

    fn tasks(&self) -> Option<&FargateTasks> {
        Some(&self.tasks)
    }
}
