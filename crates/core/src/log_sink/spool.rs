//! The spool a job's log waits in until it is stored: capped at the job's limit, in memory
//! or, when the whole log is needed again at the end, in an unlinked file.

use std::io::{Read, Seek, SeekFrom, Write};

use bytes::Bytes;

/// The most one write carries, so a burst of output is stored in bounded pieces.
pub const MAX_PIECE: usize = 8 * 1024 * 1024;

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
