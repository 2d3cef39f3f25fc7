//! Jobs that start themselves. Definitions live in the store; what makes a schedule fire
//! sits behind [`Scheduler`]: `serve`'s own clock ([`local`]) or EventBridge Scheduler on AWS
//! ([`eventbridge`]). Either way a firing ends in [`fire`], which starts one ordinary job.

use async_trait::async_trait;
use aws_exec_protocol::keys::DefKind;
use aws_exec_protocol::{AuthName, DefName, LastRun, ScheduleSpec};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::store::{Store, StoreError};

pub mod cron;
#[cfg(feature = "aws")]
pub mod eventbridge;
pub mod fire;
pub mod local;

pub use cron::CronSchedule;
#[cfg(feature = "aws")]
pub use eventbridge::EventBridgeScheduler;
pub use local::LocalScheduler;

/// Why a schedule could not be set up to fire.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// The definition is valid but this scheduler cannot run it (a seconds field on AWS).
    #[error("{0}")]
    Unsupported(String),
    /// The function was deployed without what it needs to create schedules.
    #[error("schedules are not set up here: {0} not set (infra.yaml sets them)")]
    NotConfigured(&'static str),
    #[error("scheduler failed: {0}")]
    Backend(String),
}

/// Makes stored schedule definitions fire. Called after the definition is written (and
/// before it is deleted), so whatever fires always finds its definition.
#[async_trait]
pub trait Scheduler: Send + Sync + 'static {
    async fn upsert(
        &self,
        owner: &AuthName,
        name: &DefName,
        spec: &ScheduleSpec,
    ) -> Result<(), SchedulerError>;
    async fn remove(&self, owner: &AuthName, name: &DefName) -> Result<(), SchedulerError>;

    /// Makes sure this service looks for due attempts of retried jobs at `at` (seconds since
    /// the epoch). `serve` looks by itself ([`crate::lifecycle::retry::start_until`]), so by
    /// default there is nothing to do; on AWS a one-shot schedule invokes the function.
    async fn wake_at(&self, at: u64) -> Result<(), SchedulerError> {
        let _ = at;
        Ok(())
    }
}

/// Reads a stored JSON object; one that no longer parses is treated as absent.
pub(crate) async fn read_json<T: DeserializeOwned>(
    store: &dyn Store,
    key: &str,
) -> Result<Option<T>, StoreError> {
    Ok(store.get(key).await?.and_then(|bytes| {
        serde_json::from_slice(&bytes)
            .inspect_err(|e| tracing::warn!(key, error = %e, "unreadable definition"))
            .ok()
    }))
}

pub(crate) async fn write_json<T: Serialize>(
    store: &dyn Store,
    key: &str,
    value: &T,
) -> Result<(), StoreError> {
    let body = serde_json::to_vec(value).expect("definitions serialize");
    store.put(key, Bytes::from(body)).await
}

/// Every definition of one kind: of `owner`, or of everyone.
pub(crate) async fn definitions<T: DeserializeOwned>(
    store: &dyn Store,
    kind: DefKind,
    owner: Option<&AuthName>,
) -> Result<Vec<(AuthName, DefName, T)>, StoreError> {
    let prefix = match owner {
        Some(owner) => kind.owner_prefix(owner),
        None => kind.prefix().to_owned(),
    };
    let mut out = Vec::new();
    for key in store.list(&prefix).await? {
        let Some((owner, name)) = kind.parse_definition(&key) else {
            continue;
        };
        if let Some(spec) = read_json(store, &key).await? {
            out.push((owner, name, spec));
        }
    }
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    Ok(out)
}

/// The record of a definition's last firing, with its job's state and exit read now.
pub(crate) async fn last_run(
    store: &dyn Store,
    kind: DefKind,
    owner: &AuthName,
    name: &DefName,
) -> Result<Option<LastRun>, StoreError> {
    let Some(mut last) = read_json::<LastRun>(store, &kind.last_run(owner, name)).await? else {
        return Ok(None);
    };
    if let Some(uid) = last.uid.as_deref().and_then(|u| u.parse().ok()) {
        let keys = aws_exec_protocol::keys::JobKeys::new(owner, &uid);
        if let Some(meta) = read_json::<aws_exec_protocol::JobMeta>(store, &keys.meta()).await? {
            last.state = Some(meta.state);
            last.exit = meta.exit;
        }
    }
    Ok(Some(last))
}

/// The scheduler a deployment without one answers with.
pub struct Unconfigured(pub &'static str);

#[async_trait]
impl Scheduler for Unconfigured {
    async fn upsert(
        &self,
        _: &AuthName,
        _: &DefName,
        _: &ScheduleSpec,
    ) -> Result<(), SchedulerError> {
        Err(SchedulerError::NotConfigured(self.0))
    }
    async fn remove(&self, _: &AuthName, _: &DefName) -> Result<(), SchedulerError> {
        Err(SchedulerError::NotConfigured(self.0))
    }
}
