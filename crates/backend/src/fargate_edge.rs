//! The Fargate container's entry, as thin as the Lambda edge: `aws-exec-server run-job OWNER
//! UID` reads that job from the bucket (`PROJECT_BUCKET`), runs it with the same runner as
//! Lambda and exits once its end is written. SIGTERM (StopTask, ECS retiring the task) stops
//! the job, whose end is still written well inside ECS's stop timeout.

use std::sync::Arc;
use std::time::Duration;

use aws_exec_protocol::keys::JobKeys;
use aws_exec_protocol::{AuthName, Uid};

use crate::job::Job;
use crate::push_guard::PushPolicy;
use crate::rpc::Registry;
use crate::runner::stop::StopReason;
use crate::runner::{RunAs, Runner, RunnerConfig};
use crate::secrets::SsmSecrets;
use crate::store::{S3Store, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RunJobError {
    #[error("PROJECT_BUCKET is not set")]
    NoBucket,
    #[error("{0}")]
    BadJob(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs job `uid` of `owner` to its end; answers 0 once its end is written (or it was
/// claimed elsewhere). `rpc_process` runs rpcs in processes of their own.
pub async fn run_job(
    registry: Registry,
    rpc_process: Option<Vec<String>>,
    owner: &str,
    uid: &str,
) -> Result<i32, RunJobError> {
    let owner: AuthName = owner
        .parse()
        .map_err(|e| RunJobError::BadJob(format!("owner: {e}")))?;
    let uid: Uid = uid
        .parse()
        .map_err(|e| RunJobError::BadJob(format!("uid: {e}")))?;
    let bucket = std::env::var("PROJECT_BUCKET")
        .ok()
        .filter(|b| !b.is_empty())
        .ok_or(RunJobError::NoBucket)?;
    let store: Arc<dyn Store> = Arc::new(S3Store::from_env(bucket).await?);
    let keys = JobKeys::new(&owner, &uid);
    let body = store
        .get(&keys.job())
        .await?
        .ok_or_else(|| RunJobError::BadJob(format!("no job {uid} of {owner} in the bucket")))?;
    let job: Job = serde_json::from_slice(&body)
        .map_err(|e| RunJobError::BadJob(format!("the stored job does not read: {e}")))?;
    if job.owner != owner || job.uid != uid {
        return Err(RunJobError::BadJob(
            "the stored job is another's".to_owned(),
        ));
    }
    crate::runner::isolation::harden_process();
    let long_max = std::env::var("LONG_MAX_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(aws_exec_protocol::fargate::DEFAULT_LONG_MAX_TIMEOUT);
    let config = RunnerConfig {
        // A container runs as root unless its image says otherwise: the job runs as nobody,
        // so it cannot read this process's environment (the task role's credentials' path).
        run_as: match nix::unistd::geteuid().is_root() {
            true => RunAs::Fixed {
                user: 65534,
                group: 65534,
            },
            false => RunAs::Service,
        },
        max_run_time: Duration::from_secs(long_max),
        cost: job.fargate.map(crate::usage::CostModel::fargate),
        rpc_process,
        push_policy: PushPolicy {
            s3_https_only: true,
            ..PushPolicy::default()
        },
        ..RunnerConfig::default()
    };
    let secrets = Arc::new(SsmSecrets::from_env(crate::serve::secrets_prefix()).await);
    let runner =
        Arc::new(Runner::new(store.clone(), Arc::new(registry), config).with_secrets(secrets));
    let stopping = {
        let runner = runner.clone();
        tokio::spawn(async move {
            let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            else {
                return;
            };
            term.recv().await;
            tracing::warn!("SIGTERM: stopping the job");
            runner.shutdown_for(StopReason::TaskStopped);
        })
    };
    let outcome = runner.run(&job, None).await;
    stopping.abort();
    match outcome? {
        Some(outcome) => {
            tracing::info!(uid = %job.uid, exit = outcome.exit, state = %outcome.state, "job ran")
        }
        None => tracing::info!(uid = %job.uid, "the job was claimed elsewhere (run or cancelled)"),
    }
    // On the stack the API function sends its notification (and starts its next attempt):
    // this task's role reaches no owner's signing key. Elsewhere (`serve --bucket`) it goes
    // now, briefly; the rest waits for housekeeping.
    if let Some(api) = std::env::var("API_FUNCTION").ok().filter(|a| !a.is_empty()) {
        let api = crate::dispatch::LambdaDispatch::from_env(api).await;
        if let Err(e) = api.after_job().await {
            tracing::warn!(error = %e, "telling the API function of the job's end");
        }
        return Ok(0);
    }
    let policy = PushPolicy::default().for_notifications();
    let http = policy.client();
    let sent = tokio::time::timeout(
        crate::notify::ATTEMPT_TIMEOUT + Duration::from_secs(5),
        crate::notify::deliver_due(store.as_ref(), &http, &policy, 16),
    )
    .await;
    if let Ok(Err(e)) = sent {
        tracing::warn!(error = %e, "delivering notifications");
    }
    Ok(0)
}
