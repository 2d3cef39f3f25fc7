//! The writer a job's command writes its output into: never blocks, cheap to clone, and
//! carries the notes (truncation, masking) that end up at the foot of the log.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

/// Where a command's output goes. Cheap to clone; writes never block.
#[derive(Clone, Debug)]
pub struct LogWriter {
    tx: mpsc::UnboundedSender<Bytes>,
    notes: Notes,
}

impl LogWriter {
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<Bytes>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let notes = Notes::default();
        (LogWriter { tx, notes }, rx)
    }

    /// Appends bytes to the log. Writes after the job ended are dropped.
    pub fn write(&self, data: impl Into<Bytes>) {
        let data = data.into();
        if !data.is_empty() {
            let _ = self.tx.send(data);
        }
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
