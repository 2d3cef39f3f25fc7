//! A job's description (`meta.json`) read and written: below `lifecycle`, which decides
//! what goes in it, and the readers beside it (notifications, housekeeping, the API).

use aws_exec_protocol::keys::JobKeys;
use aws_exec_protocol::JobMeta;
use bytes::Bytes;

use crate::store::{Store, StoreError};

/// Writes `meta` over the job's description.
pub async fn save_meta(store: &dyn Store, meta: &JobMeta) -> Result<(), StoreError> {
    // Every transition makes a consistent meta; the tests (debug builds) hold them to it.
    debug_assert!(
        meta.phase().is_ok(),
        "an inconsistent meta: {:?}",
        meta.phase()
    );
    let keys = JobKeys::new(&meta.owner, &meta.uid);
    let body = serde_json::to_vec(meta).expect("meta serializes");
    store.put(&keys.meta(), Bytes::from(body)).await
}

/// The job's description, or `None` when it has none (or none this version reads).
pub async fn load_meta(store: &dyn Store, keys: &JobKeys) -> Result<Option<JobMeta>, StoreError> {
    Ok(match store.get(&keys.meta()).await? {
        Some(body) => serde_json::from_slice(&body).ok(),
        None => None,
    })
}
