//! `aws-exec serve`, the embedded default: the whole service on one machine with in-process
//! dispatch, storing in a data directory (or, with `--bucket`, in S3). The CLI and the tests
//! start it through [`LocalService`]; its Lambda counterpart is [`crate::lambda_edge`].

use crate::secrets::{LocalSecrets, Secrets};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aws_exec_protocol::Uid;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::{app, AppState};
use crate::dispatch::fargate::FargateConfig;
use crate::dispatch::{Dispatch, FargateDispatch, FargateTasks, LocalDispatch};
use crate::rpc::Registry;
use aws_exec_protocol::limits::{DEFAULT_CONCURRENCY, DEFAULT_QUEUE, MAX_RUN_TIME};

use crate::housekeeping::{sweep, LostRule};
use crate::job_events::JobEvents;
use crate::lifecycle::Jobs;
use crate::runner::{Runner, RunnerConfig};
use crate::schedules::fire::fire_upload;
use crate::schedules::LocalScheduler;
use crate::store::{LocalStore, Store, StoreError};

/// Where the service keeps jobs and keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    Dir(PathBuf),
    Bucket(String),
}

impl StoreLocation {
    /// The bucket's name, for a store that is one.
    pub fn bucket_name(&self) -> Option<&str> {
        match self {
            StoreLocation::Bucket(name) => Some(name),
            StoreLocation::Dir(_) => None,
        }
    }
}

/// A data directory's owner: one `serve` at a time holds this lock on `DIR/.serve.lock`
/// (released by the kernel however the process ends), so a second one cannot close the
/// first one's running jobs as lost or write beside them.
pub struct DataDirLock {
    _file: std::fs::File,
}

impl DataDirLock {
    pub fn take(dir: &std::path::Path) -> std::io::Result<Self> {
        use rustix::fs::{flock, FlockOperation};
        use std::io::{Read, Seek, Write};
        std::fs::create_dir_all(dir)?;
        let path = dir.join(".serve.lock");
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)?;
        if let Err(e) = flock(&file, FlockOperation::NonBlockingLockExclusive) {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => String::new(),
                pid => format!(" (pid {pid})"),
            };
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!(
                    "another aws-exec serve{holder} owns the data directory {}: stop it first, or give this one --data-dir of its own ({e})",
                    dir.display()
                ),
            ));
        }
        file.set_len(0)?;
        file.rewind()?;
        write!(file, "{}", std::process::id())?;
        Ok(DataDirLock { _file: file })
    }
}

impl StoreLocation {
    /// Opens the store; a data directory is also handed back as itself, whose signed URLs
    /// this service answers.
    pub async fn open(&self) -> Result<(Arc<dyn Store>, Option<Arc<LocalStore>>), StoreError> {
        Ok(match self {
            StoreLocation::Dir(dir) => {
                let store = Arc::new(LocalStore::open(dir)?);
                (store.clone() as Arc<dyn Store>, Some(store))
            }
            #[cfg(feature = "aws")]
            StoreLocation::Bucket(bucket) => (
                Arc::new(crate::store::S3Store::from_env(bucket).await?),
                None,
            ),
            #[cfg(not(feature = "aws"))]
            StoreLocation::Bucket(_) => {
                return Err(StoreError::Config(format!(
                    "--bucket: {}",
                    crate::WITHOUT_AWS
                )))
            }
        })
    }
}

impl StoreLocation {
    /// Where secrets are kept beside this store: the data directory's `.secrets/`, or
    /// SSM Parameter Store under `SECRETS_PREFIX` (default [`DEFAULT_SECRETS_PREFIX`]) with
    /// a bucket.
    pub async fn secrets(&self) -> std::io::Result<Arc<dyn Secrets>> {
        Ok(match self {
            StoreLocation::Dir(dir) => Arc::new(LocalSecrets::open(dir)?),
            #[cfg(feature = "aws")]
            StoreLocation::Bucket(_) => {
                Arc::new(crate::secrets::SsmSecrets::from_env(secrets_prefix()).await)
            }
            #[cfg(not(feature = "aws"))]
            StoreLocation::Bucket(_) => {
                return Err(std::io::Error::other(format!(
                    "secrets on a bucket: {}",
                    crate::WITHOUT_AWS
                )))
            }
        })
    }
}

/// Where secrets live in Parameter Store when `SECRETS_PREFIX` is not set: infra.yaml's
/// `/secrets/PROJECT` for the project's default name. The project's name is not the first
/// part, since Parameter Store refuses every name whose first part starts with "aws".
pub const DEFAULT_SECRETS_PREFIX: &str = "/secrets/aws-exec";

/// The SSM path secrets live under: `SECRETS_PREFIX`, as infra.yaml sets it.
pub fn secrets_prefix() -> String {
    std::env::var("SECRETS_PREFIX")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_SECRETS_PREFIX.to_owned())
}

impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Dir(dir) => write!(f, "data in {}", dir.display()),
            StoreLocation::Bucket(bucket) => write!(f, "data in s3://{bucket}"),
        }
    }
}

/// What shutdown allows beyond the jobs' grace for their ends to be written.
const SHUTDOWN_MARGIN: Duration = Duration::from_secs(5);

/// How long finished jobs are kept, by default.
pub const DEFAULT_KEEP: Duration = Duration::from_secs(7 * 86400);

#[derive(Clone, Debug)]
pub struct LocalConfig {
    pub addr: SocketAddr,
    pub storage: StoreLocation,
    /// Jobs running at once.
    pub concurrency: usize,
    /// Of those, at most this many one user's (`None`: as many as there are); free places
    /// go to users in turn either way.
    pub per_user: Option<usize>,
    /// Jobs waiting for a slot before submissions are refused with 503.
    pub queue: usize,
    /// Of those, the most one owner's jobs may take (default a quarter of `queue`); past
    /// it that owner's submissions are refused with 429, and nobody else's.
    pub queue_per_user: Option<usize>,
    /// Jobs one user may have queued or running at once; more are refused with 429.
    pub max_jobs_per_user: Option<usize>,
    pub runner: RunnerConfig,
    pub public_url: Option<String>,
    /// Finished jobs older than this are deleted (at start and hourly); `None` keeps all.
    pub keep: Option<Duration>,
}

impl LocalConfig {
    pub fn new(storage: StoreLocation) -> Self {
        LocalConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            storage,
            concurrency: DEFAULT_CONCURRENCY,
            per_user: None,
            queue: DEFAULT_QUEUE,
            queue_per_user: None,
            max_jobs_per_user: None,
            runner: RunnerConfig::default(),
            public_url: None,
            keep: Some(DEFAULT_KEEP),
        }
    }
}

/// A running local service; [`LocalService::shutdown`] stops jobs and the server.
pub struct LocalService {
    addr: SocketAddr,
    store: Arc<dyn Store>,
    dispatch: Arc<LocalDispatch>,
    stop: CancellationToken,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    /// How long shutdown waits for running jobs to record their end.
    shutdown_grace: Duration,
    _lock: Option<DataDirLock>,
}

impl LocalService {
    pub async fn start(mut config: LocalConfig, registry: Registry) -> std::io::Result<Self> {
        crate::runner::isolation::harden_process();
        // Run claims name this process, so a restart here closes the jobs it left at once.
        config.runner.instance = Some(crate::housekeeping::this_instance());
        // Before anything is read: the sweep below would close another serve's jobs.
        let lock = match &config.storage {
            StoreLocation::Dir(dir) => Some(DataDirLock::take(dir)?),
            StoreLocation::Bucket(_) => None,
        };
        let (store, local) = config.storage.open().await.map_err(std::io::Error::other)?;
        // In a data directory only this process runs jobs, so any job still unfinished was
        // cut off when a previous serve stopped. A bucket may be shared with live runners:
        // only jobs past their deadlines, or whose runner was a process here that is gone.
        let rule = match config.storage {
            StoreLocation::Dir(_) => LostRule::AllOpen,
            // Runners elsewhere (Lambda) may share the bucket: use the longest limit.
            StoreLocation::Bucket(_) => LostRule::PastDeadlines {
                run_limit: config.runner.max_run_time.max(MAX_RUN_TIME),
            },
        };
        // Long jobs go to Fargate when the environment says where (on a bucket only: a task
        // reads its job from the store).
        let fargate = FargateConfig::from_env(config.storage.bucket_name().unwrap_or_default())
            .map_err(std::io::Error::other)?;
        let tasks = match (&config.storage, fargate) {
            (_, None) => None,
            (StoreLocation::Dir(_), Some(_)) => {
                return Err(std::io::Error::other(
                    "ECS_CLUSTER is set, but long jobs on Fargate need the store to be a bucket (--bucket)",
                ))
            }
            (StoreLocation::Bucket(_), Some(fargate)) => {
                Some(Arc::new(FargateTasks::from_config(fargate).await))
            }
        };
        match sweep(&store, rule, tasks.as_deref()).await {
            Ok(report) if !report.lost.is_empty() => {
                tracing::warn!(
                    lost = report.lost.len(),
                    "closed jobs left unfinished by a previous run"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "housekeeping at start failed"),
        }
        let stop = CancellationToken::new();
        if let StoreLocation::Bucket(_) = config.storage {
            // Runners elsewhere may die at any time, and a sweep may meet a store error:
            // a bucket is swept again every minute.
            let (store, tasks) = (store.clone(), tasks.clone());
            tokio::spawn(sweep_every(SWEEP_EVERY, stop.clone(), move || {
                let (store, tasks) = (store.clone(), tasks.clone());
                async move { sweep(&store, rule, tasks.as_deref()).await }
            }));
        }
        let registry = Arc::new(registry);
        let events = Arc::new(JobEvents::default());
        let secrets = config.storage.secrets().await?;
        let runner = Arc::new(
            Runner::new(store.clone(), registry.clone(), config.runner.clone())
                .with_events(events.clone())
                .with_secrets(secrets.clone()),
        );
        let per_user = config.per_user.unwrap_or(config.concurrency);
        // One owner's share of the queue: a quarter of it unless set, so that a flood from
        // one key is refused to that key while three more could flood before anyone else is.
        let queue_per_user = config.queue_per_user.unwrap_or(config.queue / 4).max(1);
        let dispatch = Arc::new(LocalDispatch::new(
            runner,
            config.concurrency,
            per_user,
            config.queue,
            queue_per_user,
        ));
        let scheduler = Arc::new(LocalScheduler::default());
        let long_max_timeout = tasks.as_ref().map(|t| t.config().max_timeout);
        let jobs_dispatch: Arc<dyn Dispatch> = match tasks {
            Some(tasks) => Arc::new(FargateDispatch::new(tasks, store.clone(), dispatch.clone())),
            None => dispatch.clone(),
        };
        let jobs = Jobs {
            store: store.clone(),
            dispatch: jobs_dispatch,
            registry,
            // Locally the run-time limit is the longest timeout a job may ask for.
            max_timeout: config.runner.max_run_time,
            long_max_timeout,
            push_policy: config.runner.push_policy.clone(),
            events: Some(events),
            max_jobs_per_user: config.max_jobs_per_user,
            secrets,
        };
        let state = AppState {
            jobs: jobs.clone(),
            public_url: config.public_url.clone(),
            scheduler: scheduler.clone(),
            page_reads_from: reads_from(store.as_ref()).await,
        };
        if let StoreLocation::Dir(_) = config.storage {
            // This process runs every job of its data directory: one it no longer runs but
            // that is not ended (its end's write failed) is closed by a sweep, often.
            let (store, held) = (store.clone(), dispatch.clone());
            tokio::spawn(sweep_every(SWEEP_HERE_EVERY, stop.clone(), move || {
                let (store, held) = (store.clone(), held.clone());
                async move {
                    let holds = move |uid: &aws_exec_protocol::Uid| held.holds(uid);
                    crate::housekeeping::sweep_here(&store, &holds).await
                }
            }));
        }
        let mut router = app(state.clone());
        if let Some(local) = local {
            let (uploaded, uploads) = tokio::sync::mpsc::unbounded_channel();
            router = router.merge(crate::api::signed_objects::routes(local, Some(uploaded)));
            tokio::spawn(fire_triggers(jobs.clone(), uploads, stop.clone()));
        }
        tokio::spawn(crate::notify::deliver_until(
            store.clone(),
            config.runner.push_policy.for_notifications(),
            stop.clone(),
        ));
        tokio::spawn(crate::lifecycle::retry::start_until(
            jobs.clone(),
            stop.clone(),
        ));
        tokio::spawn(scheduler.run(jobs, stop.clone()));
        if let Some(keep) = config.keep {
            tokio::spawn(expire_every_hour(store.clone(), keep, stop.clone()));
        }
        let listener = TcpListener::bind(config.addr).await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(crate::http_server::serve(
            listener,
            router,
            crate::http_server::Limits::for_this_process(),
            stop.clone(),
        ));
        Ok(LocalService {
            addr,
            store,
            dispatch,
            stop,
            server,
            shutdown_grace: config.runner.grace + SHUTDOWN_MARGIN,
            _lock: lock,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Stops taking connections and jobs, then stops running jobs (each records its end)
    /// and waits for them and for open requests, within the jobs' grace and a margin
    /// whatever a peer does: a job that has not recorded its end by then keeps its open
    /// marker, and the next start closes it as lost.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let grace = self.shutdown_grace;
        if tokio::time::timeout(grace, self.dispatch.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                left = self.dispatch.pending(),
                "jobs did not record their end within {grace:?} of shutdown; the next start closes them as lost"
            );
        }
        let _ = tokio::time::timeout(SHUTDOWN_MARGIN, self.server).await;
    }
}

/// Fires triggers on each upload to an inbox, as the bucket's notification does on AWS.
async fn fire_triggers(
    jobs: Jobs,
    mut uploads: tokio::sync::mpsc::UnboundedReceiver<String>,
    stop: CancellationToken,
) {
    loop {
        let key = tokio::select! {
            _ = stop.cancelled() => return,
            key = uploads.recv() => match key {
                Some(key) => key,
                None => return,
            },
        };
        // Each upload is its own event: a new uid names it.
        let event = Uid::new(crate::time::now_unix()).to_string();
        let jobs = jobs.clone();
        tokio::spawn(async move {
            if let Err(e) = fire_upload(&jobs, &key, &event).await {
                tracing::warn!(key, error = %e, "triggers could not fire");
            }
        });
    }
}

/// The origin of the store's presigned reads when it is neither this service (a data
/// directory) nor AWS's S3: a bucket on another S3 endpoint, which the page must be let read.
async fn reads_from(store: &dyn Store) -> Option<String> {
    let url = store
        .presign_get("page-probe", None, Duration::from_secs(60))
        .await
        .ok()?;
    let url = reqwest::Url::parse(&url).ok()?;
    let host = url.host_str()?;
    if !url.scheme().starts_with("http") || host.ends_with(".amazonaws.com") {
        return None;
    }
    Some(url.origin().ascii_serialization())
}

/// How often `serve` on a data directory looks for jobs it no longer runs but that did not
/// end: it lists only the markers of unfinished jobs.
const SWEEP_HERE_EVERY: Duration = Duration::from_secs(10);

/// How often `serve` on a bucket sweeps it for lost jobs.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Runs `sweep` every `every` until `stop`, saying what it closed.
async fn sweep_every<F, Fut>(every: Duration, stop: CancellationToken, sweep: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<crate::housekeeping::Report, StoreError>>,
{
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match sweep().await {
            Ok(report) if !report.lost.is_empty() || !report.completed.is_empty() => {
                tracing::warn!(
                    lost = report.lost.len(),
                    completed = report.completed.len(),
                    "closed jobs that were not ended"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
        }
    }
}

/// Retention for a data directory, as the bucket's lifecycle rule does it on AWS.
async fn expire_every_hour(store: Arc<dyn Store>, keep: Duration, stop: CancellationToken) {
    loop {
        match crate::housekeeping::expire(store.as_ref(), keep).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "deleted finished jobs past retention"),
            Err(e) => tracing::warn!(error = %e, "retention sweep failed"),
        }
        match crate::housekeeping::expire_inputs(store.as_ref(), keep).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "deleted input files past retention"),
            Err(e) => tracing::warn!(error = %e, "input retention sweep failed"),
        }
        match crate::lifecycle::idempotency::expire(store.as_ref()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "deleted expired idempotency keys"),
            Err(e) => tracing::warn!(error = %e, "idempotency key sweep failed"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
    }
}
