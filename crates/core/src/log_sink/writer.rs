//! The writer a job's command writes its output into, cheap to clone, and the notes (a
//! stop, masking) kept beside the log. What is written and not yet taken by the log's
//! shipper is bounded: a command that prints faster than the log is stored waits on its
//! pipe, as it would on a slow terminal, and the service's memory does not grow with it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, Notify};

/// The most bytes written and not yet taken by the shipper before a waiting writer
/// ([`LogWriter::write_waiting`]) waits.
pub const MAX_BACKLOG: usize = 4 * 1024 * 1024;

/// Where a command's output goes. Cheap to clone.
#[derive(Clone, Debug)]
pub struct LogWriter {
    tx: mpsc::UnboundedSender<Bytes>,
    backlog: Arc<Backlog>,
    notes: Notes,
}

/// Bytes written and not yet taken, and the news that some were taken.
#[derive(Debug, Default)]
struct Backlog {
    bytes: AtomicUsize,
    taken: Notify,
}

/// What the shipper reads a log's writes from.
#[derive(Debug)]
pub struct LogReader {
    rx: mpsc::UnboundedReceiver<Bytes>,
    backlog: Arc<Backlog>,
}

impl LogReader {
    /// The next write, or `None` once every writer is gone.
    pub async fn recv(&mut self) -> Option<Bytes> {
        let data = self.rx.recv().await?;
        Some(self.taken(data))
    }

    /// The next write if one is waiting.
    pub fn try_recv(&mut self) -> Option<Bytes> {
        let data = self.rx.try_recv().ok()?;
        Some(self.taken(data))
    }

    fn taken(&self, data: Bytes) -> Bytes {
        self.backlog.bytes.fetch_sub(data.len(), Ordering::SeqCst);
        self.backlog.taken.notify_waiters();
        data
    }
}

impl Drop for LogReader {
    fn drop(&mut self) {
        // A writer waiting for room finds the log closed, and goes on.
        self.rx.close();
        self.backlog.taken.notify_waiters();
    }
}

impl LogWriter {
    pub fn channel() -> (Self, LogReader) {
        let (tx, rx) = mpsc::unbounded_channel();
        let backlog = Arc::new(Backlog::default());
        let notes = Notes::default();
        let reader = LogReader {
            rx,
            backlog: backlog.clone(),
        };
        (LogWriter { tx, backlog, notes }, reader)
    }

    /// Appends bytes to the log at once (the service's own short writes, an rpc's).
    /// Writes after the job ended are dropped.
    pub fn write(&self, data: impl Into<Bytes>) {
        let data = data.into();
        if !data.is_empty() {
            self.backlog.bytes.fetch_add(data.len(), Ordering::SeqCst);
            if self.tx.send(data.clone()).is_err() {
                self.backlog.bytes.fetch_sub(data.len(), Ordering::SeqCst);
            }
        }
    }

    /// Appends bytes to the log once the backlog is under [`MAX_BACKLOG`]: a command's
    /// output, read from its pipe, so that the command waits while the log falls behind.
    pub async fn write_waiting(&self, data: impl Into<Bytes>) {
        loop {
            let taken = self.backlog.taken.notified();
            if self.backlog.bytes.load(Ordering::SeqCst) < MAX_BACKLOG || self.tx.is_closed() {
                break;
            }
            taken.await;
        }
        self.write(data);
    }

    /// Records what the service has to say of the run (a stop, a file it could not
    /// place): kept in the job's meta beside the log, never in it, so the log holds the
    /// job's bytes alone.
    pub fn note(&self, text: impl Into<String>) {
        self.notes.add(text.into());
    }

    /// The notes of this log, which outlive its writers.
    pub fn notes(&self) -> Notes {
        self.notes.clone()
    }
}

/// What the service has to say of one run; see [`LogWriter::note`].
#[derive(Clone, Debug, Default)]
pub struct Notes(Arc<std::sync::Mutex<NotesSaid>>);

/// The notes of a run, and whether its log reached its cap.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotesSaid {
    pub lines: Vec<String>,
    pub truncated: bool,
}

impl Notes {
    pub fn add(&self, line: String) {
        tracing::debug!(note = %line, "job note");
        self.lock().lines.push(line);
    }

    pub fn truncated(&self, cap: u64) {
        let mut said = self.lock();
        if !said.truncated {
            said.truncated = true;
            said.lines.push(format!(
                "the log reached its cap of {cap} bytes; the rest of the output was dropped"
            ));
        }
    }

    /// What was said so far.
    pub fn said(&self) -> NotesSaid {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, NotesSaid> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `writeln!(ctx.log, ...)` works in rpc functions.
impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LogWriter::write(self, Bytes::copy_from_slice(buf));
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
