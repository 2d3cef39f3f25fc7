//! A job's log shipped: what its command writes ([`LogWriter`]) goes through the spool and
//! is stored piece by piece as it grows, as soon as its sink's pace allows: at once where the store appends in place, about once a second
//! to S3 (the first bytes after a quiet spell at once), less often to push-urls.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::mask::Masker;
use crate::log_sink::spool::MAX_PIECE;
use crate::log_sink::{LogReader, Notes, Sink, Spool};
use crate::store::StoreError;

/// How long a failed write waits before it is tried again, at least.
const RETRY_AFTER: Duration = Duration::from_millis(250);

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
    mut rx: LogReader,
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
                while let Some(data) = rx.try_recv() {
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

/// Adds a command's output to the spool, masked first when the job has secrets (not once
/// the spool is full: what comes then is dropped, and masking it would be work for nothing).
fn take_in(spool: &mut Spool, masker: Option<&mut Masker>, data: &[u8]) -> std::io::Result<()> {
    if spool.truncated() {
        return Ok(());
    }
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
