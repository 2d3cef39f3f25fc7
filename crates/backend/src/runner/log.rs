//! A job's log: the writer commands write into, the spool that caps it and holds what is
//! not stored yet, and the shipper that stores it piece by piece as it grows, as soon as
//! its sink's pace allows: at once where the store appends in place, about once a second
//! to S3 (the first bytes after a quiet spell at once), less often to push-urls.

use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::mask::Masker;
use super::sink::Sink;
use crate::store::StoreError;

/// The most one write carries, so a burst of output is stored in bounded pieces.
pub const MAX_PIECE: usize = 8 * 1024 * 1024;

/// How long a failed write waits before it is tried again, at least.
const RETRY_AFTER: Duration = Duration::from_millis(250);

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
    pub(crate) fn add(&self, line: String) {
        tracing::debug!(note = %line, "job note");
        self.lock().lines.push(line);
    }

    fn truncated(&self, cap: u64) {
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

/// The log's bytes, never more than `cap`. A sink that needs
/// the whole log again (S3's final `log.txt`, push-urls) gets it from a file that is never
/// linked into any directory, and its pieces are read back from there too: memory then
/// holds no more than the piece in flight, however far storage falls behind. Otherwise
/// memory holds what is not stored yet.
#[derive(Debug)]
pub struct Spool {
    /// Bytes from `base` on that are not stored yet.
    pending: Vec<u8>,
    base: u64,
    len: u64,
    cap: u64,
    truncated: bool,
    whole: Option<std::fs::File>,
    /// The whole log is kept in `pending` instead (from 0, never released): the file
    /// could not be written (a full disk, Lambda's `/tmp`).
    whole_in_memory: bool,
    /// The log so far ends inside a line.
    mid_line: bool,
}

/// The whole log, to be stored in one write.
pub enum Whole {
    /// Streamed from the spool's file.
    File(tokio::fs::File),
    /// Held in memory, where the file could not be written.
    Bytes(Bytes),
}

impl Spool {
    pub fn new(cap: usize, keep_whole: bool) -> std::io::Result<Self> {
        let file = match keep_whole {
            true => Some(tempfile::tempfile()?),
            false => None,
        };
        Ok(Self::with_file(cap, file))
    }

    /// A spool keeping the whole log in `file`, if given.
    fn with_file(cap: usize, file: Option<std::fs::File>) -> Self {
        Spool {
            pending: Vec::new(),
            base: 0,
            len: 0,
            cap: cap as u64,
            truncated: false,
            whole: file,
            whole_in_memory: false,
            mid_line: false,
        }
    }

    /// A spool that goes on from where the attempts before left the log: `bytes` of it
    /// stored already, `prior` (those bytes) for a spool that keeps the whole log.
    pub fn resume(
        cap: usize,
        keep_whole: bool,
        bytes: u64,
        prior: Option<&[u8]>,
        mid_line: bool,
    ) -> std::io::Result<Self> {
        let mut spool = Spool::new(cap, keep_whole)?;
        match (keep_whole, prior) {
            (true, Some(prior)) => spool.keep(prior)?,
            _ => {
                spool.base = bytes;
                spool.len = bytes;
            }
        }
        spool.truncated = spool.len >= spool.cap;
        spool.mid_line = mid_line;
        Ok(spool)
    }

    /// The log so far ends inside a line.
    pub fn mid_line(&self) -> bool {
        self.mid_line
    }

    pub fn push(&mut self, data: &[u8]) -> std::io::Result<()> {
        if self.truncated {
            return Ok(());
        }
        if self.len + data.len() as u64 <= self.cap {
            return self.keep(data);
        }
        let take = self.cap.saturating_sub(self.len) as usize;
        self.keep(&data[..take])?;
        self.truncated = true;
        Ok(())
    }

    fn keep(&mut self, data: &[u8]) -> std::io::Result<()> {
        if let Some(file) = &mut self.whole {
            if let Err(e) = file.write_all(data) {
                // Cut back what part of it went in: pieces are read from here by offset,
                // and must not shift. Then the whole log moves to memory (at most the
                // log's cap), so no byte is lost to a full disk.
                let _ = file.set_len(self.len);
                tracing::warn!(error = %e, "the log's spool file cannot be written; keeping the log in memory");
                use std::os::unix::fs::FileExt;
                let mut all = vec![0; self.len as usize];
                file.read_exact_at(&mut all, 0)?;
                self.pending = all;
                self.base = 0;
                self.whole = None;
                self.whole_in_memory = true;
            }
        }
        if self.whole.is_none() {
            self.pending.extend_from_slice(data);
        }
        if let Some(last) = data.last() {
            self.mid_line = *last != b'\n';
        }
        self.len += data.len() as u64;
        Ok(())
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Bytes `from..to` of the log; `from` must not be stored and released yet.
    pub fn range(&self, from: u64, to: u64) -> std::io::Result<Bytes> {
        if let Some(file) = &self.whole {
            use std::os::unix::fs::FileExt;
            let mut piece = vec![0; (to - from) as usize];
            file.read_exact_at(&mut piece, from)?;
            return Ok(piece.into());
        }
        let start = (from - self.base) as usize;
        let end = (to - self.base) as usize;
        Ok(Bytes::copy_from_slice(&self.pending[start..end]))
    }

    /// Forgets (in memory) everything before `upto`, which is stored.
    pub fn release(&mut self, upto: u64) {
        if self.whole_in_memory {
            return;
        }
        let n = (upto.saturating_sub(self.base) as usize).min(self.pending.len());
        self.pending.drain(..n);
        self.base += n as u64;
        if self.pending.capacity() > 4 * MAX_PIECE.max(self.pending.len()) {
            self.pending.shrink_to_fit();
        }
    }

    /// The whole log so far, read back from its file; only for a spool that keeps it.
    pub fn whole(&mut self) -> std::io::Result<Bytes> {
        if self.whole_in_memory {
            return Ok(Bytes::copy_from_slice(&self.pending));
        }
        let file = self
            .whole
            .as_mut()
            .ok_or_else(|| std::io::Error::other("this log is not kept whole"))?;
        let mut all = Vec::with_capacity(self.len as usize);
        file.seek(SeekFrom::Start(0))?;
        file.read_to_end(&mut all)?;
        file.seek(SeekFrom::End(0))?;
        Ok(all.into())
    }

    /// The whole log for one write: its file, opened anew from its start, to be streamed,
    /// or its bytes where it is kept in memory.
    pub fn whole_for_upload(&mut self) -> std::io::Result<Whole> {
        match self.whole_in_memory {
            true => Ok(Whole::Bytes(self.whole()?)),
            false => self.whole_file().map(Whole::File),
        }
    }

    /// The file holding the whole log, opened anew from its start, to be streamed.
    fn whole_file(&self) -> std::io::Result<tokio::fs::File> {
        let file = self
            .whole
            .as_ref()
            .ok_or_else(|| std::io::Error::other("this log is not kept whole"))?;
        let mut copy = file.try_clone()?;
        copy.flush()?;
        // A dup shares the offset: reopen through /proc so the stream reads from 0 alone.
        let fresh = reopen(&copy)?;
        copy.seek(SeekFrom::End(0))?;
        Ok(tokio::fs::File::from_std(fresh))
    }
}

fn reopen(file: &std::fs::File) -> std::io::Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    std::fs::File::open(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

/// One write in flight: where in the log the piece ends.
struct Flight {
    end: u64,
    task: tokio::task::JoinHandle<Result<(), StoreError>>,
}

/// Stores the log through `sink` as it grows, one write in flight at a time so the command
/// is never slowed by storage. A failed piece is sent again with exactly the same bytes (a
/// reader may have seen it). Once `finish` fires, it drains what was written, stores the
/// rest and completes the log, and returns where it ended; if that fails after the sink's
/// own retries, the size of what was stored before and the error. A later attempt's log
/// goes on from `start`.
pub async fn ship(
    mut rx: mpsc::UnboundedReceiver<Bytes>,
    sink: Arc<dyn Sink>,
    cap: usize,
    finish: CancellationToken,
    notes: Notes,
    mut masker: Option<Masker>,
    start: Start,
) -> Result<Shipped, (u64, StoreError)> {
    let spool = Spool::resume(
        cap,
        sink.keeps_whole(),
        start.bytes,
        start.prior.as_deref(),
        start.mid_line,
    );
    let mut spool = match spool {
        Ok(spool) => spool,
        Err(e) => return Err((start.bytes, StoreError::Backend(format!("log spool: {e}")))),
    };
    let mut stored = spool.len();
    let mut seq = start.segment;
    let mut flight: Option<Flight> = None;
    // A piece that failed, by its end: resent as it was.
    let mut resend: Option<u64> = None;
    // When the last write started, and the earliest the next may (after a failure).
    let mut last_start: Option<Instant> = None;
    let mut not_before = Instant::now();
    let mut spool_error = None;
    loop {
        // The pace is asked again as output comes: a sink may go faster as more waits.
        let due = (flight.is_none() && spool.len() > stored).then(|| {
            let paced = last_start.map_or_else(Instant::now, |t| {
                t + sink.pace(stored, spool.len() - stored)
            });
            paced.max(not_before)
        });
        if let Some(due) = due {
            if due <= Instant::now() || spool.len() - stored >= MAX_PIECE as u64 {
                flight = Some(start_piece(&sink, &mut spool, seq, stored, resend.take()));
                last_start = Some(Instant::now());
            }
        }
        let wake = (flight.is_none() && spool.len() > stored)
            .then_some(due)
            .flatten();
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(data) => {
                    if let Err(e) = take_in(&mut spool, masker.as_mut(), &data) {
                        spool_error.get_or_insert(e);
                    }
                }
                None => break,
            },
            _ = finish.cancelled() => {
                while let Ok(data) = rx.try_recv() {
                    if let Err(e) = take_in(&mut spool, masker.as_mut(), &data) {
                        spool_error.get_or_insert(e);
                    }
                }
                break;
            }
            done = async { (&mut flight.as_mut().expect("guarded").task).await }, if flight.is_some() => {
                let Flight { end, .. } = flight.take().expect("guarded");
                match done {
                    Ok(Ok(())) => {
                        stored = end;
                        seq += 1;
                        spool.release(stored);
                    }
                    failed => {
                        let why = failed.map_or_else(|e| e.to_string(), |r| r.err().map(|e| e.to_string()).unwrap_or_default());
                        tracing::warn!(error = why, "log write failed; sending the same piece again");
                        resend = Some(end);
                        not_before = Instant::now() + RETRY_AFTER;
                    }
                }
            }
            _ = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {}
        }
    }
    if let Some(masker) = masker.as_mut() {
        if let Err(e) = spool.push(&masker.finish()) {
            spool_error.get_or_insert(e);
        }
    }
    if spool.truncated() {
        notes.truncated(cap as u64);
    }
    if let Some(e) = spool_error {
        return Err((stored, StoreError::Backend(format!("log spool: {e}"))));
    }
    // The end: what is in flight lands, then the rest goes now, each piece once more if
    // it fails (the store's client has retried it already).
    let mut attempts_left = 3;
    loop {
        if let Some(Flight { end, task, .. }) = flight.take() {
            match task.await {
                Ok(Ok(())) => {
                    stored = end;
                    seq += 1;
                    spool.release(stored);
                }
                Ok(Err(e)) if attempts_left == 0 => return Err((stored, e)),
                Err(e) if attempts_left == 0 => {
                    return Err((stored, StoreError::Backend(e.to_string())))
                }
                _ => {
                    attempts_left -= 1;
                    resend = Some(end);
                }
            }
        }
        if stored >= spool.len() {
            break;
        }
        flight = Some(start_piece(&sink, &mut spool, seq, stored, resend.take()));
    }
    let len = spool.len();
    if let Err(e) = sink.complete(&mut spool).await {
        return Err((stored, e));
    }
    Ok(Shipped {
        size: len,
        segment: seq,
        mid_line: spool.mid_line(),
    })
}

/// Where a log begins: at 0 for a job's first attempt; after what the attempts before it
/// stored for a later one.
#[derive(Debug, Default)]
pub struct Start {
    pub bytes: u64,
    /// The number of the next segment (on S3).
    pub segment: u64,
    /// The bytes stored so far, for a sink that writes the whole log at the end.
    pub prior: Option<Bytes>,
    pub mid_line: bool,
}

/// Where a stored log ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shipped {
    pub size: u64,
    /// The number the next segment would have.
    pub segment: u64,
    pub mid_line: bool,
}

/// Adds a command's output to the spool, masked first when the job has secrets.
fn take_in(spool: &mut Spool, masker: Option<&mut Masker>, data: &[u8]) -> std::io::Result<()> {
    match masker {
        Some(masker) => spool.push(&masker.feed(data)),
        None => spool.push(data),
    }
}

fn start_piece(
    sink: &Arc<dyn Sink>,
    spool: &mut Spool,
    seq: u64,
    stored: u64,
    resend: Option<u64>,
) -> Flight {
    let end = resend.unwrap_or_else(|| spool.len().min(stored + MAX_PIECE as u64));
    let body = if sink.whole_pieces() {
        spool.whole().map(|b| b.slice(..end as usize))
    } else {
        spool.range(stored, end)
    };
    let sink = sink.clone();
    let task = tokio::spawn(async move {
        let body = body.map_err(|e| StoreError::Backend(format!("log spool: {e}")))?;
        sink.piece(seq, stored, body).await
    });
    Flight { end, task }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spool_file_that_cannot_be_written_loses_no_byte() {
        // /dev/full fails every write with ENOSPC, as a full /tmp does.
        let full = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/full")
            .unwrap();
        let mut spool = Spool::with_file(1 << 20, Some(full));
        spool.push(b"first ").unwrap();
        spool.push(b"second").unwrap();
        spool.release(6);
        assert_eq!(spool.len(), 12);
        assert_eq!(&spool.range(6, 12).unwrap()[..], b"second");
        assert_eq!(&spool.whole().unwrap()[..], b"first second");
        match spool.whole_for_upload().unwrap() {
            Whole::Bytes(all) => assert_eq!(&all[..], b"first second"),
            Whole::File(_) => panic!("the log is in memory"),
        }
    }

    #[test]
    fn spool_caps_at_the_jobs_own_bytes_and_counts_exactly() {
        let cap = 10;
        let mut log = Spool::new(cap, true).unwrap();
        log.push(b"12345").unwrap();
        log.push(b"67890abc").unwrap();
        assert!(log.truncated());
        assert_eq!(log.len(), cap as u64);
        assert_eq!(
            &log.whole().unwrap()[..],
            b"1234567890",
            "no marker of ours"
        );
        log.push(b"more").unwrap();
        assert_eq!(log.len(), cap as u64, "nothing is added after truncation");
    }

    #[test]
    fn spool_releases_what_is_stored_and_keeps_the_rest() {
        for keep_whole in [true, false] {
            let mut log = Spool::new(1024, keep_whole).unwrap();
            let all: Vec<u8> = (0..=255u8).collect();
            log.push(&all).unwrap();
            assert_eq!(&log.range(0, 256).unwrap()[..], &all[..]);
            log.release(100);
            assert_eq!(&log.range(100, 256).unwrap()[..], &all[100..]);
            log.push(b"x").unwrap();
            assert_eq!(
                &log.range(250, 257).unwrap()[..],
                b"\xfa\xfb\xfc\xfd\xfe\xffx"
            );
            match keep_whole {
                // Read back from the file: nothing of the log waits in memory.
                true => {
                    assert!(log.pending.is_empty());
                    assert_eq!(log.whole().unwrap().len(), 257, "the file keeps everything");
                    log.push(b"y").unwrap();
                    assert_eq!(log.whole().unwrap().len(), 258, "and goes on after a read");
                    assert_eq!(&log.range(256, 258).unwrap()[..], b"xy");
                }
                false => assert_eq!(log.pending.len(), 157, "what is not stored yet"),
            }
        }
    }
}
