//! How a job's log lies in the store. Where the store appends in place (a data directory)
//! it is `log.txt`, growing. On S3 it is numbered, immutable segments under `log/` while it
//! grows (each written once, so a write costs what is new, not the whole log), and `log.txt`
//! whole once it ended; old clients that read `log.txt` while it grows are given
//! `partial.txt`, the segments joined, remade only as the log doubles.

use aws_exec_protocol::keys::JobKeys;
use bytes::{Bytes, BytesMut};

use crate::store::{Store, StoreError};

/// `partial.txt` is remade for old clients once the log has grown past twice its length,
/// and whenever it is shorter than this.
const PARTIAL_FLOOR: u64 = 64 * 1024;

/// The segments stored so far, in order.
pub async fn segments(store: &dyn Store, keys: &JobKeys) -> Result<Vec<String>, StoreError> {
    // Zero-padded numbers: the listing's order is the log's.
    store.list(&keys.segments_prefix()).await
}

/// The log as stored: its segments joined, or `log.txt` where there are none.
pub async fn stored_log(store: &dyn Store, keys: &JobKeys) -> Result<Bytes, StoreError> {
    Ok(stored_log_and_next(store, keys).await?.0)
}

/// As [`stored_log`], with the number the next segment would have (0 without segments).
pub async fn stored_log_and_next(
    store: &dyn Store,
    keys: &JobKeys,
) -> Result<(Bytes, u64), StoreError> {
    let pieces = segments(store, keys).await?;
    let next = pieces
        .last()
        .and_then(|key| key.rsplit('/').next()?.parse::<u64>().ok())
        .map_or(0, |last| last + 1);
    if pieces.is_empty() {
        return Ok((store.get(&keys.log()).await?.unwrap_or_default(), next));
    }
    let mut all = BytesMut::new();
    for key in pieces {
        all.extend_from_slice(&store.get(&key).await?.unwrap_or_default());
    }
    Ok((all.freeze(), next))
}

/// Makes sure `partial.txt` holds more than `from` bytes when the segments do, remaking it
/// only when the log has doubled since (or is small): a bounded cost paid only while an old
/// client follows a running job on S3. Answers the key old clients should read.
pub async fn partial_for(
    store: &dyn Store,
    keys: &JobKeys,
    from: u64,
) -> Result<String, StoreError> {
    let partial = keys.partial_log();
    let have = store.head(&partial).await?.unwrap_or(0);
    if have > from {
        return Ok(partial);
    }
    let pieces = segments(store, keys).await?;
    if pieces.is_empty() {
        return Ok(keys.log());
    }
    let mut total = 0;
    for key in &pieces {
        total += store.head(key).await?.unwrap_or(0);
    }
    if total > from && (total >= 2 * have || have < PARTIAL_FLOOR) {
        let all = stored_log(store, keys).await?;
        store.put(&partial, all).await?;
    }
    Ok(partial)
}
