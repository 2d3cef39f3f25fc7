//! A job its caller waits for (`POST /api/exec?wait=`, run by this process) stays quiet:
//! nothing of it is stored before its end unless it outlives [`REVEAL_AFTER`] or its caller
//! stops waiting first. Until then nobody else can know its uid (a submit repeated with the
//! same idempotency key is answered only once the job is stored), so it needs none of the
//! marks that let others find, claim, cancel or close a job; a short job costs only the
//! writes of its end. Once revealed, it is an ordinary job from that moment on.

use std::sync::Arc;
use std::time::Duration;

use aws_exec_protocol::keys::open_job;
use aws_exec_protocol::JobMeta;
use bytes::Bytes;
use tokio::sync::watch;

use crate::records::save_meta;
use crate::store::{Store, StoreError};

/// How long a quiet job may run before it is stored as any job is: the moment its meta
/// would have said `running` anyway.
pub const REVEAL_AFTER: Duration = Duration::from_millis(200);

/// Where a quiet job is in its life, as those waiting on it see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settled {
    /// Nobody else knows of it yet.
    Quiet,
    /// Stored as any job: its caller reads it as usual.
    Revealed,
    /// Its runner is writing its end, never having revealed it.
    Ending,
    /// Ended without ever being revealed, its end written (or given up on): how it ended.
    Ended {
        exit: i32,
        size: u64,
        notes: Vec<String>,
    },
}

/// One quiet job, shared by the submit that waits for it and the runner that runs it.
pub struct Quiet {
    store: Arc<dyn Store>,
    /// Its meta as it would be stored now (queued, then running), and its run claim once
    /// it started; held while it is revealed or its end begins, so that one of the two wins.
    meta: tokio::sync::Mutex<(JobMeta, Option<String>)>,
    /// Which instance queued it (the open marker's holder).
    holder: String,
    stage: watch::Sender<Settled>,
}

impl std::fmt::Debug for Quiet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quiet")
            .field("stage", &*self.stage.borrow())
            .finish_non_exhaustive()
    }
}

impl Quiet {
    /// Keeps job `meta` quiet; `holder` is the instance that runs it (its open marker's).
    pub fn hold(store: Arc<dyn Store>, meta: JobMeta, holder: String) -> Arc<Quiet> {
        Arc::new(Quiet {
            store,
            meta: tokio::sync::Mutex::new((meta, None)),
            holder,
            stage: watch::channel(Settled::Quiet).0,
        })
    }

    fn stage(&self) -> Settled {
        self.stage.borrow().clone()
    }

    async fn until(&self, reached: impl Fn(&Settled) -> bool) -> Settled {
        let mut rx = self.stage.subscribe();
        let stage = rx.wait_for(|s| reached(s)).await.map(|s| s.clone());
        stage.unwrap_or(Settled::Revealed)
    }

    /// Stores the job as submit would have, had it not been quiet: its run claim (when it
    /// has started), an empty log, its meta and its open marker. Waits for a job that is
    /// ending quietly to be written instead.
    pub async fn reveal(&self) -> Result<(), StoreError> {
        let state = self.meta.lock().await;
        match self.stage() {
            Settled::Quiet => {}
            Settled::Ending => {
                drop(state);
                self.until(|s| matches!(s, Settled::Ended { .. })).await;
                return Ok(());
            }
            Settled::Revealed | Settled::Ended { .. } => return Ok(()),
        }
        let (meta, claim) = &*state;
        let keys = aws_exec_protocol::keys::JobKeys::new(&meta.owner, &meta.uid);
        let store = self.store.as_ref();
        // The claim first: once anything else is readable, a cancel or a sweep finds the
        // job started, as it is.
        if let Some(claim) = claim {
            store
                .put_new(&keys.claim(), Bytes::from(claim.clone()))
                .await?;
        }
        // Not over a log the local store already appends to.
        store.put_new(&keys.log(), Bytes::new()).await?;
        save_meta(store, meta).await?;
        store
            .put(
                &open_job(&meta.owner, &meta.uid),
                Bytes::from(self.holder.clone()),
            )
            .await?;
        self.stage.send_replace(Settled::Revealed);
        Ok(())
    }

    /// The runner starts the job: `true` while it is quiet (no claim is stored: nobody
    /// else can start it), `false` once revealed (the runner claims it as usual).
    pub async fn start(&self, claim: &str, running: &JobMeta) -> bool {
        let mut state = self.meta.lock().await;
        if self.stage() != Settled::Quiet {
            return false;
        }
        *state = (running.clone(), Some(claim.to_owned()));
        true
    }

    /// The runner ends the job: `true` while it is quiet, and then it stays so (nobody
    /// else can end it, so its end is not claimed, and it has no open marker to drop).
    pub async fn end_quietly(&self) -> bool {
        let _state = self.meta.lock().await;
        if self.stage() != Settled::Quiet {
            return false;
        }
        self.stage.send_replace(Settled::Ending);
        true
    }

    /// Tells those waiting how a job that ended quietly ended, once that is written.
    pub fn ended(&self, exit: i32, size: u64, notes: Vec<String>) {
        self.stage
            .send_replace(Settled::Ended { exit, size, notes });
    }

    /// Waits until the job is revealed or has ended, or `deadline` passes (then reveals
    /// it: its caller is about to learn its uid). Dropped before that (its caller hung
    /// up), it reveals the job all the same, so that a repeat of the request finds it.
    pub async fn settle_by(
        self: &Arc<Self>,
        deadline: tokio::time::Instant,
    ) -> Result<Settled, StoreError> {
        let mut unless_settled = RevealOnDrop(Some(self.clone()));
        let settled = |s: &Settled| matches!(s, Settled::Revealed | Settled::Ended { .. });
        let outcome = match tokio::time::timeout_at(deadline, self.until(settled)).await {
            Ok(settled) => Ok(settled),
            Err(_) => self.reveal().await.map(|()| self.stage()),
        };
        unless_settled.0 = None;
        outcome
    }

    /// Waits until the job is revealed (never, for one that ends quietly).
    pub async fn revealed(&self) {
        self.until(|s| *s == Settled::Revealed).await;
    }

    /// Waits until what is written of the job's log can be read by others: `true` once it
    /// is revealed, `false` when it ends quietly (its whole log is written at its end).
    pub async fn log_is_read(&self) -> bool {
        let stage = self.until(|s| !matches!(s, Settled::Quiet)).await;
        stage == Settled::Revealed
    }
}

#[async_trait::async_trait]
impl crate::log_sink::Reveal for Quiet {
    async fn log_is_read(&self) -> bool {
        Quiet::log_is_read(self).await
    }
}

/// Reveals a job still quiet when its waiting caller goes away: nobody would learn its
/// uid otherwise until it runs, and a repeat of the request would find only its key.
struct RevealOnDrop(Option<Arc<Quiet>>);

impl Drop for RevealOnDrop {
    fn drop(&mut self) {
        let Some(quiet) = self.0.take() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            if let Err(e) = quiet.reveal().await {
                tracing::warn!(error = %e, "storing a job its caller stopped waiting for");
            }
        });
    }
}
