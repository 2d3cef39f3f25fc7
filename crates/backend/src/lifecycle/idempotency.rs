//! Idempotency keys of submits (`Idempotency-Key` on `POST /api/exec`, and each firing's): the same caller sending the same key again within
//! 24 hours gets the first job's uid and no second job; the same key with another body is
//! refused (422). The record is taken with a conditional write, so two racing requests
//! cannot both create a job; a repeat is answered with the uid only once that job exists
//! (409 "retry" before), so a uid handed out is always one that can be followed.

use std::time::Duration;

use aws_exec_protocol::keys::{idempotency, JobKeys, IDEMPOTENCY_PREFIX};
use aws_exec_protocol::limits::IDEMPOTENCY_TTL;
use aws_exec_protocol::{AuthName, Uid};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::JobError;
use crate::store::Store;
use crate::time::now_unix;

#[derive(Serialize, Deserialize)]
struct Record {
    uid: String,
    /// SHA-256 of the request body, so a different body under the same key is told apart.
    body: String,
    created: u64,
}

/// A record older than this whose job never appeared belongs to a request that failed
/// without freeing its key (its process died): the key is taken over.
const ABANDONED: Duration = Duration::from_secs(60);

pub struct Claim {
    owner: AuthName,
    object: String,
    record: Record,
}

pub enum Taken {
    /// This request is the first with its key: go on and create the job.
    Fresh,
    /// An earlier request with this key and body made this job.
    Repeat(String),
}

impl Claim {
    pub fn new(owner: &AuthName, key: &str, body: &[u8], uid: &Uid) -> Self {
        Claim {
            owner: owner.clone(),
            object: idempotency(owner, &hex::encode(Sha256::digest(key.as_bytes()))),
            record: Record {
                uid: uid.to_string(),
                body: hex::encode(Sha256::digest(body)),
                created: now_unix(),
            },
        }
    }

    pub async fn take(&self, store: &dyn Store) -> Result<Taken, JobError> {
        let body = serde_json::to_vec(&self.record).expect("record serializes");
        if store.put_new(&self.object, body.clone().into()).await? {
            return Ok(Taken::Fresh);
        }
        let earlier: Option<Record> = store
            .get(&self.object)
            .await?
            .and_then(|b| serde_json::from_slice(&b).ok());
        match earlier {
            Some(e) if e.created + IDEMPOTENCY_TTL.as_secs() >= self.record.created => {
                if e.body != self.record.body {
                    return Err(JobError::Unprocessable(
                        "this Idempotency-Key was used with a different request body".into(),
                    ));
                }
                let made = match e.uid.parse::<Uid>() {
                    Ok(uid) => store
                        .get(&JobKeys::new(&self.owner, &uid).meta())
                        .await?
                        .is_some(),
                    Err(_) => false,
                };
                if made {
                    Ok(Taken::Repeat(e.uid))
                } else if e.created + ABANDONED.as_secs() >= self.record.created {
                    Err(JobError::Conflict(
                        "a request with this Idempotency-Key is still being handled; retry shortly"
                            .into(),
                    ))
                } else {
                    // Taken over the way it was first taken: of two racing retries, one wins.
                    store.delete(&self.object).await?;
                    match store.put_new(&self.object, body.into()).await? {
                        true => Ok(Taken::Fresh),
                        false => Err(JobError::Conflict(
                            "a request with this Idempotency-Key is still being handled; retry shortly"
                                .into(),
                        )),
                    }
                }
            }
            // Expired (or unreadable): the key is free again.
            _ => {
                store.put(&self.object, body.into()).await?;
                Ok(Taken::Fresh)
            }
        }
    }

    /// Frees the key after the job could not be created, so a retry can make it.
    pub async fn release(self, store: &dyn Store) {
        if let Err(e) = store.delete(&self.object).await {
            tracing::warn!(error = %e, "releasing an idempotency key");
        }
    }
}

/// Deletes the records older than the 24 hours a key holds, as the bucket's lifecycle rule
/// does on AWS; returns how many.
pub async fn expire(store: &dyn Store) -> Result<usize, crate::StoreError> {
    let cutoff = now_unix().saturating_sub(IDEMPOTENCY_TTL.as_secs());
    let mut deleted = 0;
    for key in store.list(IDEMPOTENCY_PREFIX).await? {
        let record: Option<Record> = store
            .get(&key)
            .await?
            .and_then(|b| serde_json::from_slice(&b).ok());
        if record.is_none_or(|r| r.created < cutoff) {
            store.delete(&key).await?;
            deleted += 1;
        }
    }
    Ok(deleted)
}
