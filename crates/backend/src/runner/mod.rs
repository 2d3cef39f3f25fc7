//! Runs one job to its end: claim it, run the argv or rpc, ship the log, then write `exit`
//! and, last, `size`. The same runner serves the local dispatcher and the Lambda event.

pub mod log;
pub mod process;
pub mod rpc;
pub mod sink;

use std::sync::Arc;
use std::time::Duration;

use aws_exec_protocol::limits::{MAX_LOG_BYTES, MAX_RUN_TIME};
use aws_exec_protocol::wire::Command;
use aws_exec_protocol::{JobMeta, JobState};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::job::Job;
use crate::store::{Store, StoreError};
use crate::time::now_unix;
use log::LogWriter;
use process::ProcessEnd;
use rpc::{Registry, RpcContext};
use sink::{PushSink, Sink, StoreSink};

#[derive(Clone, Debug)]
pub struct RunnerConfig {
    /// How often a growing log is copied to its destination.
    pub flush_interval: Duration,
    /// The longest a job may run before it is stopped.
    pub max_run_time: Duration,
    /// Time a stopped command gets between SIGTERM and SIGKILL.
    pub grace: Duration,
    pub max_log_bytes: usize,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            flush_interval: Duration::from_millis(100),
            max_run_time: MAX_RUN_TIME,
            grace: Duration::from_secs(2),
            max_log_bytes: MAX_LOG_BYTES,
        }
    }
}

/// How a job ended, as recorded in `exit` and `meta.json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub exit: i32,
    pub state: JobState,
    pub size: u64,
}

pub struct Runner {
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    config: RunnerConfig,
    shutdown: CancellationToken,
    /// For push URLs.
    http: reqwest::Client,
}

impl Runner {
    pub fn new(store: Arc<dyn Store>, registry: Arc<Registry>, config: RunnerConfig) -> Self {
        Runner {
            store,
            registry,
            config,
            shutdown: CancellationToken::new(),
            http: reqwest::Client::new(),
        }
    }

    /// Cancels every running job; each still writes its log, exit and size.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Runs `job` unless another runner claimed it first (`Ok(None)`). `deadline` is when
    /// the caller must be done (a Lambda invocation's end); the command is stopped early
    /// enough to write what must be written.
    pub async fn run(
        &self,
        job: &Job,
        deadline: Option<Instant>,
    ) -> Result<Option<Outcome>, StoreError> {
        let keys = job.keys();
        if !self
            .store
            .put_new(&keys.claim(), now_unix().to_string().into())
            .await?
        {
            tracing::info!(uid = %job.uid, "job already claimed; not running it twice");
            return Ok(None);
        }
        let mut meta = self.load_meta(job).await;
        meta.state = JobState::Running;
        meta.started = Some(now_unix());
        self.save_meta(&meta).await;

        let sink: Arc<dyn Sink> = match &job.push_urls {
            Some(urls) => Arc::new(PushSink::new(self.http.clone(), urls.clone())),
            None => Arc::new(StoreSink {
                store: self.store.clone(),
                keys: keys.clone(),
            }),
        };
        let (log, rx) = LogWriter::channel();
        let finish = CancellationToken::new();
        let shipper = tokio::spawn(log::ship(
            rx,
            sink.clone(),
            self.config.flush_interval,
            self.config.max_log_bytes,
            finish.clone(),
        ));

        let stop = self.shutdown.child_token();
        let limit = Instant::now() + self.config.max_run_time;
        let stop_at = deadline.map_or(limit, |d| d.min(limit));
        let timer = {
            let stop = stop.clone();
            tokio::spawn(async move {
                tokio::time::sleep_until(stop_at).await;
                stop.cancel();
            })
        };
        let exit = match &job.command {
            Command::Argv { argv } => {
                match process::run(argv, &log, &stop, self.config.grace).await {
                    ProcessEnd::Exited(code) => (code, None),
                    ProcessEnd::Signaled(code) => (code, Some(JobState::Signaled)),
                    ProcessEnd::NotStarted(code) => (code, Some(JobState::Failed)),
                    ProcessEnd::Stopped(code) => (code, Some(JobState::Cancelled)),
                }
            }
            Command::Rpc { name, args } => {
                let ctx = RpcContext::new(log.clone(), stop.clone());
                let code = self.registry.run(name, args, ctx, self.config.grace).await;
                (code, stop.is_cancelled().then_some(JobState::Cancelled))
            }
        };
        timer.abort();
        let (code, mut state) = exit;
        if state == Some(JobState::Cancelled) && !self.shutdown.is_cancelled() {
            state = Some(JobState::TimedOut);
            let limit = if deadline.is_some_and(|d| d < limit) {
                "the invocation's deadline"
            } else {
                "its run-time limit"
            };
            log.write(format!("\naws-exec: stopped: the job reached {limit}\n"));
        } else if state == Some(JobState::Cancelled) {
            log.write("\naws-exec: cancelled: the service is shutting down\n");
        }
        let state = state.unwrap_or(JobState::Exited);

        finish.cancel();
        drop(log);
        let size = shipper
            .await
            .map_err(|e| StoreError::Backend(format!("log shipper failed: {e}")))??;
        sink.exit(code).await?;
        sink.size(size).await?;

        meta.state = state;
        meta.exit = Some(code);
        meta.finished = Some(now_unix());
        self.save_meta(&meta).await;
        Ok(Some(Outcome {
            exit: code,
            state,
            size,
        }))
    }

    async fn load_meta(&self, job: &Job) -> JobMeta {
        let stored = match self.store.get(&job.keys().meta()).await {
            Ok(Some(body)) => serde_json::from_slice(&body).ok(),
            _ => None,
        };
        stored.unwrap_or_else(|| JobMeta {
            uid: job.uid.clone(),
            owner: job.owner.clone(),
            command: job.command.clone(),
            state: JobState::Queued,
            submitted: job.uid.unix_seconds(),
            started: None,
            finished: None,
            exit: None,
            pushed: job.push_urls.is_some(),
        })
    }

    /// Metadata is advisory (the protocol objects are `log`, `exit`, `size`), so a failed
    /// write is logged, not fatal.
    async fn save_meta(&self, meta: &JobMeta) {
        let keys = aws_exec_protocol::keys::JobKeys::new(&meta.owner, &meta.uid);
        let body = serde_json::to_vec(meta).expect("meta serializes");
        if let Err(e) = self.store.put(&keys.meta(), body.into()).await {
            tracing::warn!(uid = %meta.uid, error = %e, "writing meta.json");
        }
    }
}
