//! A job's log: the writer commands write into, the capped buffer, and the shipper that
//! copies the buffer to its destination as it grows.

use std::sync::Arc;
use std::time::Duration;

use aws_exec_protocol::limits::truncation_marker;
use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::sink::Sink;
use crate::store::StoreError;

/// Where a command's output goes. Cheap to clone; writes never block.
#[derive(Clone, Debug)]
pub struct LogWriter {
    tx: mpsc::UnboundedSender<Bytes>,
}

impl LogWriter {
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<Bytes>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (LogWriter { tx }, rx)
    }

    /// Appends bytes to the log. Writes after the job ended are dropped.
    pub fn write(&self, data: impl Into<Bytes>) {
        let data = data.into();
        if !data.is_empty() {
            let _ = self.tx.send(data);
        }
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

/// The log's bytes, never more than `cap` including the truncation marker.
#[derive(Debug)]
pub struct LogBuffer {
    buf: Vec<u8>,
    cap: usize,
    truncated: bool,
    discarded: u64,
}

impl LogBuffer {
    pub fn new(cap: usize) -> Self {
        LogBuffer {
            buf: Vec::new(),
            cap,
            truncated: false,
            discarded: 0,
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        if self.truncated {
            self.discarded += data.len() as u64;
            return;
        }
        let marker = truncation_marker();
        let room = self.cap.saturating_sub(marker.len());
        if self.buf.len() + data.len() <= room {
            self.buf.extend_from_slice(data);
            return;
        }
        let take = room.saturating_sub(self.buf.len());
        self.buf.extend_from_slice(&data[..take]);
        self.discarded += (data.len() - take) as u64;
        let marker = &marker.as_bytes()[..marker.len().min(self.cap - self.buf.len())];
        self.buf.extend_from_slice(marker);
        self.truncated = true;
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn truncated(&self) -> bool {
        self.truncated
    }

    pub fn snapshot(&self) -> Bytes {
        self.bytes_from(0)
    }

    /// A copy of the log from byte `offset` on.
    pub fn bytes_from(&self, offset: usize) -> Bytes {
        Bytes::copy_from_slice(&self.buf[offset.min(self.buf.len())..])
    }
}

/// Copies the log to `sink` at most once per `interval` while it grows, with one write in
/// flight at a time so the command is never slowed by storage. Once `finish` fires, it
/// drains what was written, stores the final log and returns its size; if that last write
/// fails after the sink's own retries, the size of what was stored before and the error.
pub async fn ship(
    mut rx: mpsc::UnboundedReceiver<Bytes>,
    sink: Arc<dyn Sink>,
    interval: Duration,
    cap: usize,
    finish: CancellationToken,
) -> Result<u64, (u64, StoreError)> {
    let mut log = LogBuffer::new(cap);
    let appends = sink.appends();
    let mut stored = 0usize;
    let mut inflight: Option<tokio::task::JoinHandle<Result<usize, StoreError>>> = None;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(data) => log.push(&data),
                None => break,
            },
            _ = finish.cancelled() => {
                while let Ok(data) = rx.try_recv() {
                    log.push(&data);
                }
                break;
            }
            _ = tick.tick() => {
                if inflight.as_ref().is_some_and(|h| !h.is_finished()) {
                    continue;
                }
                if let Some(done) = inflight.take() {
                    stored = settle(done, stored).await;
                }
                if log.len() > stored {
                    // An appending sink gets only what is new; others the whole log.
                    let offset = if appends { stored } else { 0 };
                    let (sink, body, len) = (sink.clone(), log.bytes_from(offset), log.len());
                    inflight = Some(tokio::spawn(async move {
                        sink.log(body, offset).await.map(|()| len)
                    }));
                }
            }
        }
    }
    if let Some(done) = inflight.take() {
        stored = settle(done, stored).await;
    }
    // An empty log is still written once, so the object exists for readers.
    if log.len() > stored || log.is_empty() {
        let offset = if appends { stored } else { 0 };
        if let Err(e) = sink.log(log.bytes_from(offset), offset).await {
            return Err((stored as u64, e));
        }
    }
    Ok(log.len() as u64)
}

async fn settle(done: tokio::task::JoinHandle<Result<usize, StoreError>>, stored: usize) -> usize {
    match done.await {
        Ok(Ok(len)) => len,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "log upload failed; retrying at the next tick");
            stored
        }
        Err(e) => {
            tracing::warn!(error = %e, "log upload task failed");
            stored
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_caps_with_marker_and_counts_exactly() {
        let marker = truncation_marker();
        let cap = marker.len() + 10;
        let mut log = LogBuffer::new(cap);
        log.push(b"12345");
        log.push(b"67890abc");
        assert!(log.truncated());
        assert_eq!(log.len(), cap);
        let snap = log.snapshot();
        assert_eq!(&snap[..10], b"1234567890");
        assert_eq!(&snap[10..], marker.as_bytes());
        log.push(b"more");
        assert_eq!(log.len(), cap, "nothing is added after truncation");
    }

    #[test]
    fn buffer_keeps_every_byte_below_the_cap() {
        let mut log = LogBuffer::new(1024);
        let all: Vec<u8> = (0..=255u8).collect();
        log.push(&all);
        assert_eq!(&log.snapshot()[..], &all[..]);
        assert!(!log.truncated());
    }
}
