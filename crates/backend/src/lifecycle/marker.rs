//! The marks beside a job that stop its runner, typed, each under a key of its own so that
//! neither writer can overwrite the other's: a caller's cancel (`cancel`, written only by
//! the cancel call: final, never undone by anything the service writes), and the service's
//! word that the job or one of its attempts was taken for lost (`lost`, written only by
//! housekeeping: the runner of that attempt, if it is still alive, fences its writes).

use aws_exec_protocol::keys::JobKeys;
use bytes::Bytes;

use crate::store::{Store, StoreError};
use crate::time::now_unix;

/// What housekeeping says of a job it took for lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lost {
    /// The whole job: it was closed `lost`.
    Job,
    /// That attempt: the job was handed to the next one.
    Attempt(u32),
}

impl Lost {
    fn encode(self) -> Bytes {
        match self {
            Lost::Job => Bytes::from_static(b"lost"),
            Lost::Attempt(n) => Bytes::from(format!("lost-attempt {n}")),
        }
    }

    /// What a `lost` object (or, from before the two were apart, a `cancel` object) says;
    /// `None` for anything else.
    pub fn parse(body: &[u8]) -> Option<Lost> {
        let text = std::str::from_utf8(body).ok()?.trim();
        match text {
            "lost" => Some(Lost::Job),
            _ => text
                .strip_prefix("lost-attempt ")?
                .parse()
                .ok()
                .map(Lost::Attempt),
        }
    }

    /// Whether the runner of `attempt` is to stop and write nothing more.
    pub fn ends(self, attempt: u32) -> bool {
        match self {
            Lost::Job => true,
            // An attempt before this one was taken for lost: not this one's business.
            Lost::Attempt(lost) => lost >= attempt,
        }
    }
}

/// Records a caller's cancel: final for every attempt to come.
pub async fn cancel(store: &dyn Store, keys: &JobKeys) -> Result<(), StoreError> {
    store
        .put(&keys.cancel(), Bytes::from(now_unix().to_string()))
        .await
}

/// Whether a caller cancelled the job. A `cancel` object written by an older service to say
/// the job was lost does not count.
pub async fn cancelled(store: &dyn Store, keys: &JobKeys) -> Result<bool, StoreError> {
    Ok(store
        .get(&keys.cancel())
        .await?
        .is_some_and(|body| Lost::parse(&body).is_none()))
}

/// Records what housekeeping took for lost; a caller's cancel beside it is untouched.
pub async fn mark_lost(store: &dyn Store, keys: &JobKeys, lost: Lost) -> Result<(), StoreError> {
    store.put(&keys.lost(), lost.encode()).await
}

/// What housekeeping said of the job, if anything.
pub async fn lost(store: &dyn Store, keys: &JobKeys) -> Result<Option<Lost>, StoreError> {
    Ok(store
        .get(&keys.lost())
        .await?
        .as_deref()
        .and_then(Lost::parse))
}

/// What stops a job's runner, as the two marks say, a caller's cancel first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    Cancelled,
    Lost(Lost),
}

/// Reads both marks (two small GETs): what, if anything, stops a runner. An older
/// service's `cancel` saying the job was lost counts as the `lost` mark.
pub async fn read(store: &dyn Store, keys: &JobKeys) -> Result<Option<Mark>, StoreError> {
    if let Some(body) = store.get(&keys.cancel()).await? {
        return Ok(Some(match Lost::parse(&body) {
            Some(lost) => Mark::Lost(lost),
            None => Mark::Cancelled,
        }));
    }
    Ok(lost(store, keys).await?.map(Mark::Lost))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_mark_reads_back_as_written_and_a_callers_cancel_is_none_of_them() {
        for lost in [Lost::Job, Lost::Attempt(1), Lost::Attempt(12)] {
            assert_eq!(Lost::parse(&lost.encode()), Some(lost));
        }
        assert_eq!(Lost::parse(b"1796428887"), None);
        assert_eq!(Lost::parse(b"lost-attempt x"), None);
        assert!(Lost::Attempt(2).ends(2) && !Lost::Attempt(1).ends(2) && Lost::Job.ends(9));
    }
}
