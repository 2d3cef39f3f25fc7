//! Work of a job's due at a time (a notification to send, an attempt to start), kept as an
//! empty object `PREFIX/OWNER/UID/DUE`: the key says all of it, so whoever looks for what is
//! due reads a listing alone, and it survives any restart.

use std::future::Future;
use std::time::Duration;

use aws_exec_protocol::{AuthName, Uid};
use tokio_util::sync::CancellationToken;

use crate::store::{Store, StoreError};
use crate::time::now_unix;

/// One piece of due work, as its key names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueKey {
    pub owner: AuthName,
    pub uid: Uid,
    /// When it is due, seconds since the epoch.
    pub due: u64,
}

impl DueKey {
    /// Its key under `prefix` (which ends in `/`); zero-padded, so a listing sorts by job
    /// and then by time.
    pub fn key(&self, prefix: &str) -> String {
        format!(
            "{}{:020}",
            job_prefix(prefix, &self.owner, &self.uid),
            self.due
        )
    }

    /// Reads a key under `prefix` back; `None` for one that is not such a key.
    pub fn parse(prefix: &str, key: &str) -> Option<DueKey> {
        let mut parts = key.strip_prefix(prefix)?.split('/');
        let due = DueKey {
            owner: parts.next()?.parse().ok()?,
            uid: parts.next()?.parse().ok()?,
            due: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(due)
    }
}

/// Where the due work of one job is kept under `prefix`.
pub fn job_prefix(prefix: &str, owner: &AuthName, uid: &Uid) -> String {
    format!("{prefix}{owner}/{uid}/")
}

/// Deletes every key under `prefix` (which ends in `/`): a job's due work once done, or a
/// removed owner's.
pub async fn delete_all(store: &dyn Store, prefix: &str) -> Result<(), StoreError> {
    for key in store.list(prefix).await? {
        store.delete(&key).await?;
    }
    Ok(())
}

/// A loop doing due work until `stop`. Each `pass` does what is due, at most `batch`, and
/// answers how much it did and when the next is due. The next pass comes at once after a
/// full batch, when `woken` (work was added in this process), when the next is due, and at
/// the latest a minute after the last (others may share a bucket). Not every second: on a
/// bucket each pass is a LIST request.
pub async fn work_until<F, Fut>(
    what: &str,
    batch: usize,
    woken: &tokio::sync::Notify,
    stop: CancellationToken,
    mut pass: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(usize, Option<u64>), StoreError>>,
{
    loop {
        let mut wait = Duration::from_secs(60);
        match pass().await {
            Ok((done, _)) if done >= batch => wait = Duration::ZERO,
            Ok((_, Some(due))) => {
                wait = wait.min(Duration::from_secs(due.saturating_sub(now_unix())));
            }
            Ok((_, None)) => {}
            Err(e) => {
                tracing::warn!(error = %e, "{what}");
                wait = Duration::from_secs(5);
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = woken.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_back_and_others_do_not() {
        let due = DueKey {
            owner: "alice".parse().unwrap(),
            uid: Uid::now(),
            due: 1_800_000_000,
        };
        let key = due.key("p/");
        assert!(key.ends_with("/00000000001800000000"));
        assert_eq!(DueKey::parse("p/", &key), Some(due));
        for bad in ["p/alice", "q/alice/x/1", "p/alice/not-a-uid/1"] {
            assert_eq!(DueKey::parse("p/", bad), None, "{bad}");
        }
        assert_eq!(DueKey::parse("p/", &format!("{key}/more")), None);
    }
}
