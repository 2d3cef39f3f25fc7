//! A firing becomes a job: a schedule at its planned time, a trigger on an upload. Both
//! start an ordinary job of the definition's owner through the same path as
//! `POST /api/exec`, with an idempotency key made from the firing, so a firing delivered
//! twice (EventBridge and S3 deliver at least once) still starts one job.

use aws_exec_protocol::keys::{parse_inbox, parse_open_job, DefKind, OPEN_PREFIX};
use aws_exec_protocol::schedules::Overlap;
use aws_exec_protocol::{AuthName, DefName, JobMeta, LastRun, Origin, ScheduleSpec, TriggerSpec};

use super::Scheduler;
use super::{definitions, read_json, write_json};
use crate::lifecycle::submit::{start, Submission};
use crate::lifecycle::{JobError, Jobs};
use crate::time::now_unix;

/// Why a schedule is fired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Firing {
    /// By its clock, for the time it was planned for (seconds since the epoch).
    Planned(u64),
    /// By its owner, now (`schedule run`): no overlap rule; the caller's Idempotency-Key,
    /// if it sent one.
    Manual(Option<String>),
}

/// Fires schedule `name` of `owner` and records the outcome as its last run.
pub async fn fire_schedule(
    jobs: &Jobs,
    scheduler: &dyn Scheduler,
    owner: &AuthName,
    name: &DefName,
    firing: Firing,
) -> Result<LastRun, JobError> {
    let store = jobs.store.as_ref();
    let kind = DefKind::Schedule;
    if !owner_remains(jobs, owner).await? {
        // Its key was removed while the scheduler (EventBridge, on AWS) still fired for it.
        for key in [kind.definition(owner, name), kind.last_run(owner, name)] {
            store.delete(&key).await?;
        }
        if let Err(e) = scheduler.remove(owner, name).await {
            tracing::warn!(%owner, %name, error = %e, "removing a removed key's schedule");
        }
        return Err(JobError::UnknownDefinition(format!(
            "schedule {name}: its owner's key was removed"
        )));
    }
    let spec: ScheduleSpec = read_json(store, &kind.definition(owner, name))
        .await?
        .ok_or_else(|| JobError::UnknownDefinition(format!("schedule {name}")))?;
    let last_key = kind.last_run(owner, name);
    let previous: Option<LastRun> = read_json(store, &last_key).await?;
    let (at, idempotency) = match firing {
        Firing::Planned(at) => {
            // The same firing again: what it did the first time stands.
            if let Some(previous) = previous.as_ref().filter(|p| p.at == at) {
                return Ok(previous.clone());
            }
            if spec.overlap == Overlap::Skip {
                if let Some(uid) = still_running(jobs, owner, name).await? {
                    let skipped =
                        LastRun::skipped(at, format!("the previous run {uid} was still running"));
                    write_json(store, &last_key, &skipped).await?;
                    tracing::info!(%owner, %name, at, "schedule skipped: previous run still running");
                    return Ok(skipped);
                }
            }
            // A space cannot be in an Idempotency-Key header, so no caller can take this key first.
            let key = format!("schedule {name} {at}");
            (
                at,
                Some((key, serde_json::to_vec(&spec.exec).unwrap_or_default())),
            )
        }
        Firing::Manual(key) => (
            now_unix(),
            key.map(|key| (key, serde_json::to_vec(&spec.exec).unwrap_or_default())),
        ),
    };
    let uid = start(
        jobs,
        Submission {
            owner: owner.clone(),
            request: spec.exec,
            origin: Some(Origin::Schedule {
                name: name.clone(),
                at,
            }),
            idempotency,
            state: spec.state.then(|| kind.state_prefix(owner, name)),
        },
    )
    .await;
    let last = outcome(at, uid)?;
    write_json(store, &last_key, &last).await?;
    tracing::info!(%owner, %name, at, uid = ?last.uid, "schedule fired");
    Ok(last)
}

/// What a firing at `at` records: the job it started, or why it started none. A definition
/// that no longer starts (its input was deleted, say) says so where its owner looks, and
/// firing goes on; only the service's own failures are errors.
fn outcome(at: u64, started: Result<String, JobError>) -> Result<LastRun, JobError> {
    match started {
        Ok(uid) => Ok(LastRun::started(at, uid)),
        Err(e) if e.is_callers_mistake() => Ok(LastRun::skipped(at, e.to_string())),
        Err(e) => Err(e),
    }
}

/// A run of schedule `name` that has not ended, found among the owner's unfinished jobs
/// (their `open/` markers), whatever the last firing recorded.
async fn still_running(
    jobs: &Jobs,
    owner: &AuthName,
    name: &DefName,
) -> Result<Option<String>, JobError> {
    let store = jobs.store.as_ref();
    let open = store.list(&format!("{OPEN_PREFIX}{owner}/")).await?;
    // Newest first: a run still going is most likely the latest.
    for marker in open.iter().rev() {
        let Some((_, uid)) = parse_open_job(marker) else {
            continue;
        };
        let keys = aws_exec_protocol::keys::JobKeys::new(owner, &uid);
        let meta: Option<JobMeta> = read_json(store, &keys.meta()).await?;
        if meta.is_some_and(|m| !m.state.is_final() && m.schedule.as_deref() == Some(name.as_str()))
        {
            return Ok(Some(uid.to_string()));
        }
    }
    Ok(None)
}

/// Whether the owner of a definition still has a key: a removed key's definitions start
/// nothing.
async fn owner_remains(jobs: &Jobs, owner: &AuthName) -> Result<bool, JobError> {
    crate::auth::has_key(jobs.store.as_ref(), owner)
        .await
        .map_err(|e| match e {
            crate::auth::AuthError::Store(e) => JobError::Store(e),
            other => JobError::Store(crate::store::StoreError::Backend(other.to_string())),
        })
}

/// Starts one job for each of the owner's triggers whose prefix the uploaded `key` is
/// under. `event` names this upload (S3's sequencer), so a repeated delivery starts nothing
/// new. Answers the uids started; a key outside any inbox starts nothing.
pub async fn fire_upload(jobs: &Jobs, key: &str, event: &str) -> Result<Vec<String>, JobError> {
    let Some((owner, path)) = parse_inbox(key) else {
        tracing::warn!(key, "an upload outside any inbox fires nothing");
        return Ok(Vec::new());
    };
    let store = jobs.store.as_ref();
    if !owner_remains(jobs, &owner).await? {
        tracing::warn!(%owner, key, "an upload of a removed key fires nothing");
        return Ok(Vec::new());
    }
    let triggers: Vec<(AuthName, DefName, TriggerSpec)> =
        definitions(store, DefKind::Trigger, Some(&owner)).await?;
    let mut started = Vec::new();
    for (_, name, spec) in triggers {
        if !path.starts_with(&spec.prefix) {
            continue;
        }
        let origin = Origin::Trigger {
            name: name.clone(),
            path: path.to_owned(),
        };
        let mut request = spec.exec.clone();
        let file = origin
            .input_file()
            .expect("a trigger's origin names a file");
        request
            .inputs
            .get_or_insert_with(Default::default)
            .insert(file, key.to_owned());
        let idem = format!("trigger {name} {event} {key}");
        let body = serde_json::to_vec(&request).unwrap_or_default();
        let at = now_unix();
        let state = spec
            .state
            .then(|| DefKind::Trigger.state_prefix(&owner, &name));
        let fired = start(
            jobs,
            Submission {
                owner: owner.clone(),
                request,
                origin: Some(origin),
                idempotency: Some((idem, body)),
                state,
            },
        )
        .await;
        let last = outcome(at, fired)?;
        started.extend(last.uid.clone());
        write_json(store, &DefKind::Trigger.last_run(&owner, &name), &last).await?;
        tracing::info!(%owner, %name, key, uid = ?last.uid, "trigger fired");
    }
    Ok(started)
}
