//! Submitting a job: the request checked as `POST /api/exec` checks it, its idempotency
//! key taken, its objects written (stdin, an empty log, meta in its listing entry, its open
//! marker) and the job handed to a runner. The API and every firing start jobs here.

use aws_exec_protocol::keys::{open_job, OPEN_PREFIX};
use aws_exec_protocol::wire::Command;
use aws_exec_protocol::{AuthName, ExecRequest, JobOptions, Origin, Uid};
use bytes::Bytes;

use std::sync::Arc;

use super::quiet::Quiet;
use super::{idempotency, JobError, Jobs};
use crate::job::Job;
use crate::records::save_meta;
use crate::secrets::check_stored;

/// A job to start, from a caller or from a schedule or trigger of its owner's.
pub struct Submission {
    pub owner: AuthName,
    pub request: ExecRequest,
    pub origin: Option<Origin>,
    /// An idempotency key and the bytes that must match when it is used again.
    pub idempotency: Option<(String, Vec<u8>)>,
    /// Where its definition's state is kept, when it carries state.
    pub state: Option<String>,
}

/// What `POST /api/exec` refuses, checked: the command, its options, that an rpc exists
/// and takes its args, that inputs are the owner's uploads, where push-urls point. That
/// its secrets are set is checked apart ([`check_stored`]): a firing's are not.
pub async fn check(
    jobs: &Jobs,
    owner: &AuthName,
    request: &ExecRequest,
) -> Result<(Command, JobOptions), JobError> {
    let command = request
        .command()
        .map_err(|e| JobError::BadRequest(e.to_string()))?;
    let options = request
        .options(&jobs.limits())
        .map_err(|e| JobError::BadRequest(e.to_string()))?;
    if let Command::Rpc { name, args } = &command {
        jobs.registry.check(name, args)?;
    }
    super::inputs::check(jobs.store.as_ref(), owner, &options.inputs).await?;
    if let Some(notify) = &request.notify {
        jobs.push_policy
            .for_notifications()
            .check_url(&notify.url)
            .await
            .map_err(|why| JobError::BadRequest(format!("notify.url: {why}")))?;
    }
    if let Some(urls) = &request.push_urls {
        jobs.push_policy
            .check(urls)
            .await
            .map_err(JobError::BadRequest)?;
    }
    Ok((command, options))
}

/// Checks a request the way `POST /api/exec` does, queues its job and answers its uid (or,
/// for a repeated idempotency key, the first job's).
pub async fn start(jobs: &Jobs, submission: Submission) -> Result<String, JobError> {
    Ok(start_job(jobs, submission, false).await?.0)
}

/// As [`start`], for a caller that waits for the job's end: where this process runs it,
/// the job is kept [`quiet`](super::quiet) and its handle answered beside the uid.
pub async fn start_awaited(
    jobs: &Jobs,
    submission: Submission,
) -> Result<(String, Option<Arc<Quiet>>), JobError> {
    start_job(jobs, submission, true).await
}

async fn start_job(
    jobs: &Jobs,
    submission: Submission,
    awaited: bool,
) -> Result<(String, Option<Arc<Quiet>>), JobError> {
    let Submission {
        owner,
        request,
        origin,
        idempotency,
        state,
    } = submission;
    let (command, options) = check(jobs, &owner, &request).await?;
    // A caller hears at once of a secret it has not set. A firing runs its job anyway:
    // a secret deleted since its definition was stored fails that run, with a note.
    if origin.is_none() {
        check_stored(jobs.secrets.as_ref(), &owner, &options.secrets.names()).await?;
    }
    let uid = Uid::now();
    let idempotency = match &idempotency {
        Some((key, body)) => {
            let claim = idempotency::Claim::new(&owner, key, body, &uid);
            match claim.take(jobs.store.as_ref()).await? {
                idempotency::Taken::Fresh => Some(claim),
                // Only once the job is stored (a quiet one: once revealed or ended); before,
                // the repeat is told to retry shortly (409).
                idempotency::Taken::Repeat(uid) => return Ok((uid, None)),
            }
        }
        None => None,
    };
    // After the idempotency key: a repeated submit answers its job whatever the count.
    if let Some(limit) = jobs.max_jobs_per_user {
        // One page of the owner's open markers: each is a job not yet ended.
        let open = format!("{OPEN_PREFIX}{owner}/");
        if jobs.store.list_page(&open, None, limit).await?.len() >= limit {
            if let Some(claim) = idempotency {
                claim.release(jobs.store.as_ref()).await;
            }
            return Err(JobError::TooManyJobs {
                owner: owner.to_string(),
                limit,
            });
        }
    }
    let mut job = Job {
        owner,
        uid,
        command,
        push_urls: request.push_urls,
        timeout: options.timeout,
        env: options.env,
        stdin: options.stdin.is_some(),
        inputs: options.inputs,
        executable: options.executable,
        secrets: options.secrets,
        notify: request.notify.clone(),
        state,
        origin,
        retry: request.retry.clone(),
        attempt: 1,
        resume: None,
        fargate: options.fargate,
        quiet: None,
        requeued: false,
    };
    // Only a job this process runs and nothing outside it follows can stay quiet: not one
    // writing to push-urls, run again after a failure, or run as a Fargate task.
    let may_be_quiet = awaited
        && jobs.events.is_some()
        && job.push_urls.is_none()
        && job.retry.is_none()
        && job.fargate.is_none();
    if may_be_quiet {
        let holder = jobs.dispatch.instance().unwrap_or_default().to_owned();
        job.quiet = Some(Quiet::hold(jobs.store.clone(), job.queued_meta(), holder));
    }
    let quiet = job.quiet.clone();
    let created = create(jobs, &job, options.stdin).await;
    if let Err(e) = created {
        let keys = job.keys();
        // A dispatch that failed may still have been delivered (an invoke that timed out):
        // taking the run claim first either stops that runner from ever starting the job
        // or shows that it already has, and then the job is the caller's after all. One
        // refused here went nowhere, and leaves nothing behind, its claim included.
        let refused_here = matches!(&e, JobError::Dispatch(d) if d.refused_here());
        if !refused_here {
            let claimed = jobs
                .store
                .put_new(&keys.claim(), Bytes::from_static(b"aborted"))
                .await;
            if let Ok(false) = claimed {
                tracing::warn!(uid = %job.uid, error = %e, "dispatch reported failure but the job runs");
                return Ok((job.uid.to_string(), quiet));
            }
        }
        // The caller never learns this uid; leave no half-made job behind.
        for key in [
            keys.meta(),
            keys.log(),
            keys.stdin(),
            keys.job(),
            open_job(&job.owner, &job.uid),
        ] {
            let _ = jobs.store.delete(&key).await;
        }
        if let Some(claim) = idempotency {
            claim.release(jobs.store.as_ref()).await;
        }
        return Err(e);
    }
    tracing::info!(uid = %job.uid, owner = %job.owner, quiet = quiet.is_some(), "job submitted");
    Ok((job.uid.to_string(), quiet))
}

/// Writes a new job's objects (stdin first: a runner may start the moment it is
/// dispatched) and hands it to a runner.
async fn create(jobs: &Jobs, job: &Job, stdin: Option<Vec<u8>>) -> Result<(), JobError> {
    let store = jobs.store.as_ref();
    if let Some(stdin) = stdin {
        store.put(&job.keys().stdin(), stdin.into()).await?;
    }
    // A quiet job is stored when it is revealed, or by its end.
    if job.quiet.is_some() {
        jobs.dispatch.dispatch(job.clone()).await?;
        return Ok(());
    }
    // An empty log from the start: clients written for aws-exec take a missing log (404)
    // for an error, and a job may print nothing for a long time.
    if job.push_urls.is_none() {
        store.put(&job.keys().log(), Bytes::new()).await?;
    }
    // A job that may be run again is kept as it is dispatched: whoever finds its next
    // attempt due (housekeeping after a lost run included) starts it from this. A Fargate
    // task reads its job from here too (a task's overrides hold 8 KiB at most).
    if job.retry.is_some() || job.fargate.is_some() {
        let body = serde_json::to_vec(job).expect("a job serializes");
        store.put(&job.keys().job(), body.into()).await?;
    }
    save_meta(store, &job.queued_meta()).await?;
    // Names the process that holds it queued, where that is this one (a Fargate task is
    // held by ECS: a restart here loses nothing of it).
    let holder = match job.fargate {
        Some(_) => String::new(),
        None => jobs.dispatch.instance().unwrap_or_default().to_owned(),
    };
    store
        .put(&open_job(&job.owner, &job.uid), Bytes::from(holder))
        .await?;
    jobs.dispatch.dispatch(job.clone()).await?;
    Ok(())
}
