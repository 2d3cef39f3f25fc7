//! Runs one job to its end: claim it, run the argv or rpc, ship the log, then end it through
//! [`crate::lifecycle::end`]. The same runner serves the local dispatcher and the Lambda event.

mod cancel_watch;
pub mod files;
mod held;
pub mod isolation;
pub mod log;
pub mod mask;
pub mod process;
pub mod spawn;
pub mod state;
pub mod stop;
pub mod users;
pub mod workspace;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_exec_protocol::limits::{MAX_LOG_BYTES, MAX_RUN_TIME};
use aws_exec_protocol::wire::Command;
use aws_exec_protocol::{JobMeta, JobState, Origin, SecretName, Uid, ATTEMPT_ENV, STATE_ENV};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::job::{Job, Resume};
use crate::lifecycle::attempt::{self, Closed, Ended, Next, Ran};
use crate::lifecycle::end::claim_end;
use crate::lifecycle::retry;
use crate::log_sink::{Fence, FencedSink, LogWriter, PushSink, Sink, StoreSink};
use crate::push_guard::PushPolicy;
use crate::records::load_meta;
use crate::rpc::{Registry, RpcContext};
use crate::runner::workspace::{ScratchSnapshot, Workspaces};
use crate::secrets::{Secrets, SecretsError};
use crate::store::{Store, StoreError};
use crate::time::now_unix;
use crate::usage::CostModel;
use crate::usage::Rusage;
use aws_exec_protocol::keys::JobKeys;
use mask::Masker;
use process::ProcessEnd;

use crate::job_events::JobEvents;
use cancel_watch::watch_for_cancel;
pub use held::Slot;
use held::{Held, Leftovers, RunningNote};
use state::remove_staging;
use stop::{Stop, StopReason};
pub use users::RunAs;

#[derive(Clone, Debug)]
pub struct RunnerConfig {
    /// How often a growing log is written to a store that cannot append (S3) while output
    /// streams; the first bytes after a quiet spell go at once.
    pub segment_pace: Duration,
    /// The longest a job may run before it is stopped.
    pub max_run_time: Duration,
    /// Time a stopped command gets between SIGTERM and SIGKILL.
    pub grace: Duration,
    pub max_log_bytes: usize,
    /// Where each job gets its own directory.
    pub work_root: PathBuf,
    /// Who jobs run as: a user of their own each when the service runs as root.
    pub run_as: RunAs,
    /// A scratch directory shared by every job in turn (`/tmp` on Lambda): whatever a job
    /// adds to it is removed after the job.
    pub clean_scratch: Option<PathBuf>,
    /// Where push-urls may point.
    pub push_policy: PushPolicy,
    /// How to run an rpc in a process of its own, as an argv job is run: the program and
    /// its first arguments, to which `NAME ARGS-JSON` are added (the service's own binary
    /// and [`rpc::RPC_PROCESS_ARG`]). `None` runs rpcs inside this process (tests that
    /// register functions of their own).
    pub rpc_process: Option<Vec<String>>,
    /// This runner's process ([`crate::housekeeping::this_instance`]), written into each
    /// run claim so that a restart on the same machine knows which jobs died with it.
    pub instance: Option<String>,
    /// How a run here is billed (Lambda), for the estimate in each job's usage.
    pub cost: Option<CostModel>,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            segment_pace: Duration::from_millis(1200),
            max_run_time: MAX_RUN_TIME,
            grace: Duration::from_secs(2),
            max_log_bytes: MAX_LOG_BYTES,
            // One root per user: another user's serve never shares (or pre-creates) it.
            work_root: std::env::temp_dir()
                .join(format!("aws-exec-jobs-{}", nix::unistd::geteuid())),
            run_as: RunAs::Service,
            clean_scratch: None,
            push_policy: PushPolicy::default(),
            rpc_process: None,
            instance: None,
            cost: None,
        }
    }
}

/// How a job ended, as recorded in `exit` and its meta.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub exit: i32,
    pub state: JobState,
    pub size: u64,
    /// False when the job had already been ended elsewhere (housekeeping): this run's end
    /// was not recorded.
    pub recorded: bool,
    /// When the job's next attempt is due, if this one handed it back.
    pub next_attempt: Option<u64>,
}

pub struct Runner {
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    config: RunnerConfig,
    /// Fired once the service shuts down: jobs stop, and none starts after.
    shutdown: CancellationToken,
    /// The stop handle of every job running in this process.
    running: Mutex<HashMap<Uid, Stop>>,
    /// Where each job gets its directory.
    workspaces: Arc<Workspaces>,
    /// For push URLs; made on first use (a client reads its trusted roots when made, which
    /// a Lambda cold start need not pay for jobs that never push).
    http: std::sync::OnceLock<reqwest::Client>,
    /// Where news of a job's log goes, for polls that wait in this process.
    events: Option<Arc<JobEvents>>,
    /// Where the values of a job's secrets are read from, as it starts.
    secrets: Option<Arc<dyn Secrets>>,
}

/// The values of a job's secrets, by name.
type SecretValues = Vec<(SecretName, String)>;

impl Runner {
    /// Tells `events` of every job's log writes and end.
    pub fn with_events(mut self, events: Arc<JobEvents>) -> Self {
        self.events = Some(events);
        self
    }

    /// Reads the secrets jobs ask for from `secrets`.
    pub fn with_secrets(mut self, secrets: Arc<dyn Secrets>) -> Self {
        self.secrets = Some(secrets);
        self
    }

    pub fn new(store: Arc<dyn Store>, registry: Arc<Registry>, config: RunnerConfig) -> Self {
        let workspaces = Workspaces::new(&config.work_root, config.clean_scratch.is_none());
        Runner {
            workspaces: Arc::new(workspaces),
            store,
            registry,
            config,
            shutdown: CancellationToken::new(),
            running: Mutex::new(HashMap::new()),
            http: std::sync::OnceLock::new(),
            events: None,
            secrets: None,
        }
    }

    /// This runner's process, as its run claims name it.
    pub fn instance(&self) -> Option<&str> {
        self.config.instance.as_deref()
    }

    /// Stops every running job; each still writes its log, exit and size.
    pub fn shutdown(&self) {
        self.shutdown_for(StopReason::Shutdown);
    }

    /// As [`Runner::shutdown`], saying why.
    pub fn shutdown_for(&self, reason: StopReason) {
        self.shutdown.cancel();
        self.workspaces.close();
        for stop in self.running.lock().expect("running jobs").values() {
            stop.request(reason);
        }
    }

    /// Keeps `job`, which never started, for the service's next start instead of ending it
    /// ([`retry::keep_for_restart`]); its stop handle is dropped.
    pub async fn keep_for_restart(&self, job: &Job) -> Result<(), StoreError> {
        let kept = retry::keep_for_restart(self.store.as_ref(), job).await;
        if kept.is_ok() {
            self.running.lock().expect("running jobs").remove(&job.uid);
        }
        kept
    }

    /// Whether a caller asked to cancel the job: through this process, or by its marker.
    async fn cancelled_by_caller(&self, stop: &Stop, keys: &JobKeys) -> bool {
        stop.reason() == Some(StopReason::Cancelled)
            || crate::lifecycle::marker::cancelled(self.store.as_ref(), keys)
                .await
                .unwrap_or(false)
    }

    /// Whether job `uid` is registered here: queued for a slot, running, or ending.
    pub fn holds(&self, uid: &Uid) -> bool {
        self.running.lock().expect("running jobs").contains_key(uid)
    }

    /// Asks job `uid` to stop, if it runs in this process; `false` otherwise.
    pub fn stop(&self, uid: &Uid, reason: StopReason) -> bool {
        match self.running.lock().expect("running jobs").get(uid) {
            Some(stop) => {
                stop.request(reason);
                true
            }
            None => false,
        }
    }

    /// A stop handle for job `uid`, registered so that [`Runner::stop`] and shutdown reach
    /// it from now on, queued or running.
    pub fn register(&self, uid: &Uid) -> Stop {
        let stop = Stop::new();
        if self.shutdown.is_cancelled() {
            stop.request(StopReason::Shutdown);
        }
        self.running
            .lock()
            .expect("running jobs")
            .insert(uid.clone(), stop.clone());
        stop
    }

    /// Runs `job` unless another runner claimed it first (`Ok(None)`). `deadline` is when
    /// the caller must be done (a Lambda invocation's end); the command is stopped early
    /// enough to write what must be written.
    pub async fn run(
        &self,
        job: &Job,
        deadline: Option<Instant>,
    ) -> Result<Option<Outcome>, StoreError> {
        let stop = self.register(&job.uid);
        self.run_with(job, stop, deadline, None).await
    }

    /// As [`Runner::run`], with a stop handle from [`Runner::register`]; `slot` (a place
    /// among the jobs running at once) is dropped as soon as the command has ended.
    pub async fn run_with(
        &self,
        job: &Job,
        stop: Stop,
        deadline: Option<Instant>,
        slot: Option<Slot>,
    ) -> Result<Option<Outcome>, StoreError> {
        let ran = self.claim_and_run(job, &stop, deadline, slot).await;
        self.running.lock().expect("running jobs").remove(&job.uid);
        ran
    }

    async fn claim_and_run(
        &self,
        job: &Job,
        stop: &Stop,
        deadline: Option<Instant>,
        slot: Option<Slot>,
    ) -> Result<Option<Outcome>, StoreError> {
        let began = Instant::now();
        let keys = job.keys();
        let claim = match &self.config.instance {
            Some(instance) => format!("{} {instance}", now_unix()),
            None => now_unix().to_string(),
        };
        // A quiet job is the runner's alone until it is revealed: no claim is stored.
        let quiet = match &job.quiet {
            Some(quiet) => {
                let mut running = job.queued_meta();
                running.state = JobState::Running;
                running.started = Some(now_unix());
                quiet.start(&claim, &running).await.then(|| quiet.clone())
            }
            None => None,
        };
        if quiet.is_none()
            && !self
                .store
                .put_new(&keys.claim_of(job.attempt()), claim.into())
                .await?
        {
            tracing::info!(uid = %job.uid, attempt = job.attempt(), "job already claimed (run or cancelled); not running it");
            return Ok(None);
        }
        // What the API wrote at submit, which nothing changes before the claim; for a later
        // attempt, or one kept over a restart, what is stored (the attempts so far).
        let mut meta = match job.attempt() {
            1 if !job.requeued => job.queued_meta(),
            _ => {
                if let Err(e) = retry::started(self.store.as_ref(), job).await {
                    tracing::warn!(uid = %job.uid, error = %e, "dropping a started attempt's due key");
                }
                load_meta(self.store.as_ref(), &keys)
                    .await?
                    .unwrap_or_else(|| job.queued_meta())
            }
        };
        meta.state = JobState::Running;
        meta.started = Some(now_unix());
        meta.retry_at = None;
        if job.fargate.is_some() {
            // The task it runs in, as its dispatcher recorded it.
            if let Ok(Some(arn)) = self.store.get(&keys.task()).await {
                meta.task = Some(String::from_utf8_lossy(&arn).into_owned());
            }
        }
        let running = RunningNote::later(self.store.clone(), &meta, quiet.clone());
        let fence = Fence::default();
        // A cancel asked for before the claim, or from another process (the API on Lambda,
        // housekeeping closing the job), arrives as an object beside the log: looked for
        // now and once a second.
        let watcher = tokio::spawn(watch_for_cancel(
            self.store.clone(),
            keys.clone(),
            job.attempt(),
            stop.clone(),
            fence.clone(),
            quiet.clone(),
        ));
        let held = Held {
            running,
            slot,
            fence,
            began,
            quiet,
        };
        // On the heap: a job's run is one large future, which every caller (the Lambda
        // handler among them) would otherwise hold inline, nested deeper than the compiler
        // lays out by default.
        let ended = Box::pin(self.run_started(job, &mut meta, stop, deadline, held)).await;
        watcher.abort();
        ended
    }

    async fn run_started(
        &self,
        job: &Job,
        meta: &mut JobMeta,
        stop: &Stop,
        deadline: Option<Instant>,
        held: Held,
    ) -> Result<Option<Outcome>, StoreError> {
        let Held {
            running,
            slot,
            fence,
            began,
            quiet,
        } = held;
        let keys = job.keys();
        let sink: Arc<dyn Sink> = match &job.push_urls {
            Some(urls) => Arc::new(PushSink::new(
                self.http
                    .get_or_init(|| self.config.push_policy.client())
                    .clone(),
                urls.clone(),
                self.config.push_policy.clone(),
            )),
            None => Arc::new(StoreSink {
                store: self.store.clone(),
                keys: keys.clone(),
                segment_pace: self.config.segment_pace,
                events: self.events.clone(),
            }),
        };
        let sink: Arc<dyn Sink> = Arc::new(FencedSink::new(
            sink,
            fence.clone(),
            quiet.clone().map(|q| q as Arc<dyn crate::log_sink::Reveal>),
        ));
        // Read before the log starts: its values are masked from its first byte.
        let secrets = self.secret_values(job).await;
        let masker = match &secrets {
            Ok(values) => Masker::new(values.iter().map(|(_, v)| v.as_str())),
            Err(_) => None,
        };
        let (log, rx) = LogWriter::channel();
        let notes = log.notes();
        let finish = CancellationToken::new();
        // A later attempt's log goes on from the attempts before it.
        let start = self.log_start(job, sink.as_ref()).await;
        let resumed = start.is_ok();
        let shipper = tokio::spawn(log::ship(
            rx,
            sink.clone(),
            self.config.max_log_bytes,
            finish.clone(),
            notes.clone(),
            masker,
            start.unwrap_or_default(),
        ));
        if let (Some(resume), Some(retry)) = (&job.resume, &job.retry) {
            let gap = if resume.mid_line { "\n" } else { "" };
            log.write(format!(
                "{gap}[aws-exec] attempt {} of {}\n",
                job.attempt(),
                retry.attempts
            ));
        }

        let now = Instant::now();
        let mut stop_at = (now + self.config.max_run_time, StopReason::RunLimit);
        if let Some(t) = job.timeout {
            stop_at = stop_at.min((now + Duration::from_secs(t), StopReason::Timeout));
        }
        if let Some(d) = deadline {
            stop_at = stop_at.min((d, StopReason::Deadline));
        }
        let (stop_at, why) = stop_at;
        let timer = {
            let stop = stop.clone();
            tokio::spawn(async move {
                tokio::time::sleep_until(stop_at).await;
                stop.request(why);
            })
        };
        let mut leftovers = Leftovers::new(&self.config.work_root);
        // The command's wall time and what the kernel counted for it, once it has run.
        let mut ran = None;
        let process_argv = match &job.command {
            Command::Argv { argv } => Some(argv.clone()),
            Command::Rpc { name, args } => self.config.rpc_process.clone().map(|mut argv| {
                argv.extend([name.clone(), args.clone()]);
                argv
            }),
        };
        // Each arm decides the state where the command ended: a stop asked for after that
        // (its timeout passing while artifacts are stored, a late cancel) changes nothing.
        let (code, state) = match &job.command {
            // Stopped before it started (cancelled while queued, or at shutdown): it never
            // runs, and ends as if SIGTERM had reached it at once.
            _ if stop.reason().is_some() => stopped(stop, 128 + 15, &log),
            // A secret it asks for is gone (deleted after its schedule was stored): it
            // does not run without it.
            _ if secrets.is_err() => {
                log.note(secrets.as_ref().err().cloned().unwrap_or_default());
                (126, JobState::Failed)
            }
            // The log of the attempts before could not be read: this one would lose it.
            _ if !resumed => {
                log.note("the log of the attempts before this one could not be read; the job did not run again");
                (126, JobState::Failed)
            }
            Command::Rpc { name, args } if process_argv.is_none() => {
                // An rpc is a function of this process: `env` and stdin are the argv's.
                let ctx = RpcContext::new(log.clone(), stop.token().clone());
                let code = self.registry.run(name, args, ctx, self.config.grace).await;
                timer.abort();
                match stop.reason() {
                    Some(_) => stopped(stop, code, &log),
                    None => (code, JobState::Exited),
                }
            }
            // A process: the argv, or an rpc run as the service's own binary.
            _ => {
                let argv = process_argv.as_deref().unwrap_or_default();
                let secrets = secrets.as_deref().unwrap_or_default();
                self.run_argv(
                    job,
                    argv,
                    secrets,
                    &log,
                    stop,
                    &timer,
                    &mut leftovers,
                    &mut ran,
                )
                .await
            }
        };
        timer.abort();
        // What holds a place among the jobs running at once is given back with the command
        // ended: writing the end waits on storage (or a caller's push-url), not on a slot.
        drop(slot);

        // The end is claimed before the log's last writes: whoever claims it owns every
        // write from here on. A runner that finds it taken (housekeeping closed the job)
        // writes nothing more, so the log and `size` never disagree.
        running.settle().await;
        // Fenced by the cancel watcher: housekeeping ended the job, or took this attempt for
        // lost and handed the job to the next. This runner writes nothing more, neither an
        // end nor a hand-back.
        if fence.is_closed() {
            finish.cancel();
            drop(log);
            let _ = shipper.await;
            let _ = tokio::task::spawn_blocking(move || drop(leftovers)).await;
            tracing::warn!(uid = %job.uid, attempt = job.attempt(), "the job was ended or handed on elsewhere; leaving it as it is");
            return Ok(Some(Outcome {
                exit: code,
                state,
                size: 0,
                recorded: false,
                next_attempt: None,
            }));
        }
        // How the command ended is reported; what follows is lifecycle's to decide.
        let how = Ran { exit: code, state };
        let next = Next::after(job, how, self.cancelled_by_caller(stop, &keys)).await;
        if next.state(how) == JobState::Cancelled && state != JobState::Cancelled {
            log.note("cancelled: not run again");
        }
        // An attempt after which the job runs again claims no end: the job goes on. A job
        // still quiet claims none either: nobody else knows of it to end it.
        let quietly = match &quiet {
            Some(quiet) => quiet.end_quietly().await,
            None => false,
        };
        let claimed = match next {
            Next::Again { .. } => None,
            Next::End(_) if quietly => Some(Ok(true)),
            Next::End(end) => Some(claim_end(self.store.as_ref(), &keys, &end).await),
        };
        if claimed.as_ref().is_some_and(|c| !matches!(c, Ok(true))) {
            fence.close();
        }
        finish.cancel();
        drop(log);
        // A job whose log could not be stored in full still ends (never stuck running),
        // as failed, with the size of what readers can find.
        let stored = match shipper.await {
            Ok(Ok(shipped)) => Ok(Resume {
                bytes: shipped.size,
                segment: shipped.segment,
                mid_line: shipped.mid_line,
            }),
            Ok(Err((stored, e))) => {
                tracing::error!(uid = %job.uid, error = %e, "storing the end of the log");
                // The storage error stays in the service's logs: it may name its insides.
                notes.add(format!(
                    "the log could not be stored in full; it holds its first {stored} bytes"
                ));
                Err(stored)
            }
            Err(e) => {
                tracing::error!(uid = %job.uid, error = %e, "log shipper failed");
                notes.add("the log could not be stored".to_owned());
                Err(0)
            }
        };
        let size = match &stored {
            Ok(resume) => resume.bytes,
            Err(stored) => *stored,
        };
        let billed = self.config.cost.map(|model| (model, began.elapsed()));
        let used = crate::usage::usage(ran, size, billed);
        meta.usage = Some(crate::usage::add(meta.usage.take(), used));
        let ended = Ended {
            job,
            ran: how,
            next,
            claimed,
            quietly,
            stored,
            notes: notes.said(),
        };
        // The next attempt works in the same directory (`root/UID`): this one's is gone
        // before the job is handed back, or removing it could pull the directory from
        // under an attempt that starts at once (`--retry-delay 0`).
        let leftovers = match next {
            Next::Again { .. } => {
                let _ = tokio::task::spawn_blocking(move || drop(leftovers)).await;
                None
            }
            Next::End(_) => Some(leftovers),
        };
        let closed = attempt::close(self.store.as_ref(), sink.as_ref(), meta, ended).await;
        if let (true, Some(quiet)) = (quietly, &quiet) {
            quiet.ended(code, size, meta.notes.clone());
        }
        // Once the end is readable: nothing of the job runs any more. On another thread, so
        // that a caller waiting for the end (woken on this one) is answered first.
        let _ = tokio::task::spawn_blocking(move || drop(leftovers)).await;
        Ok(Some(match closed? {
            Closed::HandedBack { due } => Outcome {
                exit: code,
                state: JobState::Queued,
                size,
                recorded: true,
                next_attempt: Some(due),
            },
            Closed::Ended {
                end,
                size,
                recorded,
            } => Outcome {
                exit: code,
                state: end.state,
                size,
                recorded,
                next_attempt: None,
            },
        }))
    }
}

impl Runner {
    /// Where this attempt's log begins: after what the attempts before it stored, read
    /// back when the sink writes the whole log at the end (S3's `log.txt`, which the attempt
    /// before completed). `Err` when that cannot be read.
    async fn log_start(&self, job: &Job, sink: &dyn Sink) -> Result<log::Start, StoreError> {
        let Some(resume) = job.resume else {
            return Ok(log::Start::default());
        };
        let prior = match sink.keeps_whole() {
            true => {
                let mut prior = self.store.get(&job.keys().log()).await?.unwrap_or_default();
                if (prior.len() as u64) < resume.bytes {
                    tracing::error!(uid = %job.uid, have = prior.len(), want = resume.bytes, "the log of the attempts before is short");
                    return Err(StoreError::Backend("the log so far is short".into()));
                }
                prior.truncate(resume.bytes as usize);
                Some(prior)
            }
            false => None,
        };
        Ok(log::Start {
            bytes: resume.bytes,
            segment: resume.segment,
            prior,
            mid_line: resume.mid_line,
        })
    }

    /// The values of the secrets `job` asks for, or the note that says why it cannot
    /// have them (the store's own error stays in the service's log).
    async fn secret_values(&self, job: &Job) -> Result<SecretValues, String> {
        let names = job.secrets.names();
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let Some(secrets) = &self.secrets else {
            return Err("this service keeps no secrets; the job did not run".to_owned());
        };
        match secrets.values(&job.owner, &names).await {
            Ok(values) => {
                let total: usize = values.iter().map(|(_, v)| v.len()).sum();
                if total > mask::MAX_MASKED_BYTES {
                    return Err(format!(
                        "the secrets it asks for hold {total} bytes in all; a job may have {} (they are masked in its log); the job did not run",
                        mask::MAX_MASKED_BYTES
                    ));
                }
                Ok(values)
            }
            Err(SecretsError::Missing(name)) => Err(format!(
                "secret {name} is not set (deleted since this was defined?); the job did not run: aws-exec secret set {name}"
            )),
            Err(e) => {
                tracing::error!(uid = %job.uid, error = %e, "reading the job's secrets");
                Err("the job's secrets could not be read; the job did not run".to_owned())
            }
        }
    }

    /// Runs a subprocess in its own directory, then kills whatever it left behind. Its
    /// directory (and what it added to the shared scratch) goes into `leftovers`.
    #[allow(clippy::too_many_arguments)]
    async fn run_argv(
        &self,
        job: &Job,
        argv: &[String],
        secrets: &[(SecretName, String)],
        log: &LogWriter,
        stop: &Stop,
        timer: &tokio::task::JoinHandle<()>,
        leftovers: &mut Leftovers,
        ran: &mut Option<(Duration, Option<Rusage>)>,
    ) -> (i32, JobState) {
        // A stop that came before the command started ends it as that stop says.
        let not_started = |code: i32| match stop.reason() {
            Some(_) => stopped(stop, 128 + 15, log),
            None => (code, JobState::Failed),
        };
        let uid = job.uid.to_string();
        leftovers.scratch = self
            .config
            .clean_scratch
            .as_deref()
            .map(ScratchSnapshot::take);
        let workspace = match self.workspaces.take(&uid) {
            Ok(w) => leftovers.workspace.insert(w),
            Err(e) => {
                log.note(format!("cannot make the job's directory: {e}"));
                return not_started(126);
            }
        };
        // Given back after the directory is removed (see `Leftovers`), and so after
        // every process of the job is gone.
        let user = match self.config.run_as.take_async().await {
            Ok(user) => leftovers.user.insert(user).ids(),
            Err(e) => {
                log.note(format!("{e}; the job did not run"));
                return not_started(126);
            }
        };
        let placed = files::place_inputs(self.store.as_ref(), job, workspace, stop.token()).await;
        if let Err(why) = placed {
            log.note(why);
            return not_started(126);
        }
        if let Err(why) = files::place_secret_files(job, workspace, secrets) {
            log.note(why);
            return not_started(126);
        }
        // The state is unpacked apart, in a directory only the service can reach (whose
        // entries are given to the job's user as they are made), and moved into the job's
        // directory after the hand-over: nothing of any job's can redirect those writes,
        // and the hand-over's walk stays bounded by the inputs.
        let state_dir = workspace.dir.join("state");
        let staging = self.config.work_root.join(format!(".state-{uid}"));
        let state_from = match &job.state {
            Some(prefix) => match self.restore_state(job, prefix, &staging, user).await {
                Ok(version) => Some((prefix, version)),
                Err(why) => {
                    remove_staging(&staging);
                    log.note(why);
                    return not_started(126);
                }
            },
            None => None,
        };
        let filled = !job.inputs.is_empty() || !job.secrets.files.is_empty();
        if let Err(e) = workspace.hand_over(user, filled) {
            remove_staging(&staging);
            log.note(format!("cannot give the job its directory: {e}"));
            return not_started(126);
        }
        if state_from.is_some() {
            // A rename never follows a link at its destination, and the job's directory
            // cannot itself be swapped: its parent is the service's.
            let moved = std::fs::rename(&staging, &state_dir).and_then(|()| match user {
                Some((user, group)) => {
                    std::os::unix::fs::lchown(&state_dir, Some(user), Some(group))
                }
                None => Ok(()),
            });
            if let Err(e) = moved {
                remove_staging(&staging);
                log.note(format!("cannot place $AWS_EXEC_STATE: {e}"));
                return not_started(126);
            }
        }
        let stdin = match job.stdin {
            true => match self.store.get(&job.keys().stdin()).await {
                Ok(Some(stdin)) => Some(stdin),
                Ok(None) | Err(_) => {
                    log.note("cannot read the job's standard input");
                    return not_started(126);
                }
            },
            false => None,
        };
        let state_path = state_dir.to_string_lossy();
        let mut env: Vec<(&str, &str)> = secrets
            .iter()
            .filter(|(name, _)| job.secrets.env.contains(name))
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        if state_from.is_some() {
            env.push((STATE_ENV, &state_path));
        }
        let attempt = job.attempt().to_string();
        if job.retry.is_some() {
            env.push((ATTEMPT_ENV, &attempt));
        }
        let spec = process::Spec {
            argv,
            env: &job.env,
            added: &env,
            stdin,
            tag: &uid,
            workspace,
            run_as: user,
            input: match &job.origin {
                Some(origin @ Origin::Trigger { path, .. }) => {
                    origin.input_file().map(|file| (file, path.clone()))
                }
                _ => None,
            },
        };
        let started = Instant::now();
        let (end, rusage) = process::run(spec, log, stop.token(), self.config.grace).await;
        *ran = Some((started.elapsed(), rusage));
        let ended = match end {
            ProcessEnd::Exited(code) => (code, JobState::Exited),
            ProcessEnd::Signaled(code) => (code, JobState::Signaled),
            ProcessEnd::NotStarted(code) => not_started(code),
            ProcessEnd::Stopped(code) => stopped(stop, code, log),
        };
        // Decided: the time limit no longer applies to storing what it left.
        timer.abort();
        let mut kept_apart = Vec::new();
        if let Some((prefix, version)) = state_from {
            if ended == (0, JobState::Exited) {
                kept_apart.extend(
                    self.save_state(prefix, version, &state_dir, user, log)
                        .await,
                );
            }
        }
        // Pushed jobs keep nothing in the service's store: their caller owns their objects.
        if job.push_urls.is_none() {
            let owner = users::owner_of(user);
            files::keep_artifacts(
                self.store.as_ref(),
                &job.keys(),
                &workspace.artifacts(),
                owner,
                log,
                kept_apart,
            )
            .await;
        }
        ended
    }
}

/// The end of a command that was asked to stop: the stop's line closes the log, and its
/// reason names the state (`code` is what the command ended with).
fn stopped(stop: &Stop, code: i32, log: &LogWriter) -> (i32, JobState) {
    let reason = stop.reason().unwrap_or(StopReason::Cancelled);
    log.note(reason.note());
    (reason.exit(code), reason.state())
}
