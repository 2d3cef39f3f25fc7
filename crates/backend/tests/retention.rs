//! Retention (`serve --keep`): finished jobs past it are deleted whole; others stay.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_exec_backend::housekeeping::expire;
use aws_exec_backend::store::{LocalStore, Store};
use aws_exec_protocol::keys::{job_index, JobKeys};
use aws_exec_protocol::{AuthName, Uid};

async fn job(store: &dyn Store, age: u64, finished: bool) -> (JobKeys, String) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let owner: AuthName = "alice".parse().unwrap();
    let uid = Uid::new(now - age);
    let keys = JobKeys::new(&owner, &uid);
    store.put(&keys.meta(), "{}".into()).await.unwrap();
    store.put(&keys.log(), "log".into()).await.unwrap();
    if finished {
        store.put(&keys.size(), "3".into()).await.unwrap();
    }
    let index = job_index(&owner, &uid);
    store.put(&index, "".into()).await.unwrap();
    (keys, index)
}

#[tokio::test]
async fn finished_jobs_past_retention_are_deleted_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    let week = Duration::from_secs(7 * 86400);
    let (old, old_index) = job(&store, 8 * 86400, true).await;
    let (old_running, _) = job(&store, 8 * 86400, false).await;
    let (young, _) = job(&store, 86400, true).await;
    assert_eq!(expire(&store, week).await.unwrap(), 1);
    assert!(store.list(old.prefix()).await.unwrap().is_empty());
    assert!(store.get(&old_index).await.unwrap().is_none());
    assert!(
        store.get(&old_running.log()).await.unwrap().is_some(),
        "unfinished: kept"
    );
    assert!(
        store.get(&young.log()).await.unwrap().is_some(),
        "young: kept"
    );
    assert_eq!(expire(&store, week).await.unwrap(), 0);
}

#[tokio::test]
async fn idempotency_keys_past_24_hours_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let record = |created: u64| format!(r#"{{"uid": "u", "body": "b", "created": {created}}}"#);
    let old = "idempotency/alice/old";
    let young = "idempotency/alice/young";
    store
        .put(old, record(now - 25 * 3600).into())
        .await
        .unwrap();
    store.put(young, record(now - 3600).into()).await.unwrap();
    assert_eq!(
        aws_exec_backend::api::idempotency::expire(&store)
            .await
            .unwrap(),
        1
    );
    assert!(store.get(old).await.unwrap().is_none());
    assert!(store.get(young).await.unwrap().is_some());
}
