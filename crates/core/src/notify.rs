//! Telling a caller's URL that a job ended: a POST of `{"type": "job.ended", "timestamp",
//! "data": META}` signed as Standard Webhooks specifies (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,BASE64(HMAC-SHA256(key, "id.timestamp.body"))`) with the owner's
//! `whsec_` secret. The end writes a pending delivery into the store; a deliverer (`serve`'s
//! own, or Lambda's housekeeping and the runner's invocation) sends what is due, so a
//! delivery never delays a job's end and survives a restart.

use std::sync::Arc;
use std::time::Duration;

use aws_exec_protocol::keys::JobKeys;
use aws_exec_protocol::{AuthName, Delivery, JobMeta, Uid};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

use crate::due::DueKey;
use crate::push_guard::PushPolicy;
use crate::records::{load_meta, save_meta};
use crate::store::{Store, StoreError};
use crate::time::now_unix;

/// Where owners' signing secrets live: `notify/secrets/OWNER`.
const SECRETS_PREFIX: &str = "notify/secrets/";
/// Deliveries still to make: `notify/pending/OWNER/UID/DUE` ([`DueKey`]).
const PENDING_PREFIX: &str = "notify/pending/";

/// How long one attempt may take before it counts as no answer.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);

/// The waits before each attempt after the first: seconds at first, then minutes and
/// hours, about a day in all.
const BACKOFF: [u64; 12] = [
    1,
    2,
    5,
    15,
    60,
    300,
    900,
    1800,
    3600,
    3 * 3600,
    6 * 3600,
    10 * 3600,
];

fn job_prefix(owner: &AuthName, uid: &Uid) -> String {
    crate::due::job_prefix(PENDING_PREFIX, owner, uid)
}

/// The owner's signing secret; made (`whsec_` and 32 random bytes) on first ask.
pub async fn signing_secret(store: &dyn Store, owner: &AuthName) -> Result<String, StoreError> {
    let key = format!("{SECRETS_PREFIX}{owner}");
    if let Some(secret) = store.get(&key).await? {
        return Ok(String::from_utf8_lossy(&secret).into_owned());
    }
    let made = new_secret();
    // Two first asks at once keep one secret: the one stored first.
    if !store.put_new(&key, Bytes::from(made.clone())).await? {
        if let Some(secret) = store.get(&key).await? {
            return Ok(String::from_utf8_lossy(&secret).into_owned());
        }
    }
    Ok(made)
}

/// Replaces the owner's signing secret; answers the new one.
pub async fn rotate_secret(store: &dyn Store, owner: &AuthName) -> Result<String, StoreError> {
    let made = new_secret();
    store
        .put(
            &format!("{SECRETS_PREFIX}{owner}"),
            Bytes::from(made.clone()),
        )
        .await?;
    Ok(made)
}

fn new_secret() -> String {
    format!("whsec_{}", BASE64.encode(rand::random::<[u8; 32]>()))
}

/// Deletes a removed user's signing secret and pending deliveries.
pub async fn forget(store: &dyn Store, owner: &AuthName) -> Result<(), StoreError> {
    store.delete(&format!("{SECRETS_PREFIX}{owner}")).await?;
    crate::due::delete_all(store, &format!("{PENDING_PREFIX}{owner}/")).await
}

/// Called with a job's end recorded: if it asked to be told of this end, a delivery is
/// due now. Once only: an end recorded again (by housekeeping) adds nothing.
pub async fn enqueue(store: &dyn Store, meta: &JobMeta) -> Result<(), StoreError> {
    let Some(notify) = &meta.notify else {
        return Ok(());
    };
    if !notify.wants(meta.state) || meta.notified.is_some() {
        return Ok(());
    }
    if !store
        .list(&job_prefix(&meta.owner, &meta.uid))
        .await?
        .is_empty()
    {
        return Ok(());
    }
    let pending = DueKey {
        owner: meta.owner.clone(),
        uid: meta.uid.clone(),
        due: now_unix(),
    };
    store
        .put_new(&pending.key(PENDING_PREFIX), Bytes::new())
        .await?;
    ENQUEUED.notify_one();
    Ok(())
}

/// The Standard Webhooks signature of `body`: `v1,` and the base64 of the HMAC-SHA256, under
/// the secret's key, of `id.timestamp.body`.
pub fn sign(secret: &str, id: &str, timestamp: u64, body: &[u8]) -> String {
    let key = secret
        .strip_prefix("whsec_")
        .and_then(|k| BASE64.decode(k).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

/// Sends the deliveries that are due, at most `max`, side by side (each at most
/// [`ATTEMPT_TIMEOUT`]); answers how many were tried, and when the next of the others is
/// due. What one owner's receivers do (never answer, say) holds up at most
/// [`PER_OWNER`] of its own deliveries, and nobody else's.
pub async fn deliver_due(
    store: &dyn Store,
    http: &reqwest::Client,
    policy: &PushPolicy,
    max: usize,
) -> Result<(usize, Option<u64>), StoreError> {
    let (picked, next) = pick_due(store, max).await?;
    let tried = picked.len();
    send(store, http, policy, picked).await;
    Ok((tried, next))
}

/// One owner's deliveries under way at once, in this process.
pub const PER_OWNER: usize = 4;
/// All owners' deliveries under way at once, in this process.
const SIDE_BY_SIDE: usize = 32;

/// The deliveries under way in this process: by key (so a pass never picks one twice)
/// and how many of each owner's.
#[derive(Default)]
struct UnderWay {
    keys: std::collections::HashSet<String>,
    by_owner: std::collections::HashMap<String, usize>,
}

static UNDER_WAY: std::sync::LazyLock<std::sync::Mutex<UnderWay>> =
    std::sync::LazyLock::new(Default::default);

fn under_way<T>(f: impl FnOnce(&mut UnderWay) -> T) -> T {
    f(&mut UNDER_WAY.lock().unwrap_or_else(|p| p.into_inner()))
}

/// A delivery taken for sending: released from [`UnderWay`] when dropped.
struct Picked {
    key: String,
    pending: DueKey,
}

impl Drop for Picked {
    fn drop(&mut self) {
        under_way(|w| {
            w.keys.remove(&self.key);
            let owner = self.pending.owner.to_string();
            if let Some(n) = w.by_owner.get_mut(&owner) {
                *n -= 1;
                if *n == 0 {
                    w.by_owner.remove(&owner);
                }
            }
        });
    }
}

/// Takes the due deliveries not under way, owners in turn (one each, round after round),
/// within [`PER_OWNER`], [`SIDE_BY_SIDE`] and `max`; answers them and when the next of
/// the others is due.
async fn pick_due(store: &dyn Store, max: usize) -> Result<(Vec<Picked>, Option<u64>), StoreError> {
    let now = now_unix();
    let mut next: Option<u64> = None;
    let mut by_owner: std::collections::BTreeMap<
        String,
        std::collections::VecDeque<(String, DueKey)>,
    > = Default::default();
    for key in store.list(PENDING_PREFIX).await? {
        let Some(pending) = DueKey::parse(PENDING_PREFIX, &key) else {
            tracing::warn!(key, "dropping an unreadable pending notification");
            store.delete(&key).await?;
            continue;
        };
        if pending.due > now {
            next = Some(next.map_or(pending.due, |n| n.min(pending.due)));
            continue;
        }
        let owner = pending.owner.to_string();
        by_owner.entry(owner).or_default().push_back((key, pending));
    }
    let picked = under_way(|w| {
        let mut picked = Vec::new();
        loop {
            let mut took = false;
            for (owner, queue) in by_owner.iter_mut() {
                if picked.len() >= max || w.keys.len() >= SIDE_BY_SIDE {
                    return picked;
                }
                if w.by_owner.get(owner).copied().unwrap_or(0) >= PER_OWNER {
                    continue;
                }
                while let Some((key, pending)) = queue.pop_front() {
                    if w.keys.insert(key.clone()) {
                        *w.by_owner.entry(owner.clone()).or_default() += 1;
                        picked.push(Picked { key, pending });
                        took = true;
                        break;
                    }
                }
            }
            if !took {
                return picked;
            }
        }
    });
    // What is due but was not taken (its owner's deliveries, or all, are under way) is
    // taken by the pass that the end of one under way starts.
    Ok((picked, next))
}

/// Sends `picked` side by side; a failure to record one attempt is logged, and the
/// delivery stays due.
async fn send(store: &dyn Store, http: &reqwest::Client, policy: &PushPolicy, picked: Vec<Picked>) {
    let sends = picked.into_iter().map(|picked| async move {
        let sent = attempt(store, http, policy, &picked.key, picked.pending.clone()).await;
        if let Err(e) = sent {
            tracing::warn!(key = picked.key, error = %e, "recording a notification's attempt");
        }
        drop(picked);
    });
    futures_util::future::join_all(sends).await;
}

/// One attempt at one delivery, and what it leaves: done (`None`), or due again then.
async fn attempt(
    store: &dyn Store,
    http: &reqwest::Client,
    policy: &PushPolicy,
    key: &str,
    mut pending: DueKey,
) -> Result<Option<u64>, StoreError> {
    let keys = JobKeys::new(&pending.owner, &pending.uid);
    let Some(mut meta) = load_meta(store, &keys).await? else {
        // The job is gone (retention, or its owner removed): nothing left to tell.
        store.delete(key).await?;
        return Ok(None);
    };
    let Some(notify) = meta.notify.clone() else {
        store.delete(key).await?;
        return Ok(None);
    };
    let mut delivery = meta.notified.clone().unwrap_or_else(|| Delivery {
        id: format!("msg_{}", meta.uid),
        ..Delivery::default()
    });
    let timestamp = now_unix();
    let mut data = meta.clone();
    data.notified = None;
    let body = serde_json::to_vec(&serde_json::json!({
        "type": "job.ended",
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "data": data,
    }))
    .expect("the notification serializes");
    let secret = signing_secret(store, &pending.owner).await?;
    let answer = match policy.check_before_put(&notify.url) {
        Err(why) => Err(why),
        Ok(()) => {
            let sent = http
                .post(&notify.url)
                .timeout(ATTEMPT_TIMEOUT)
                .header("content-type", "application/json")
                .header("webhook-id", &delivery.id)
                .header("webhook-timestamp", timestamp.to_string())
                .header(
                    "webhook-signature",
                    sign(&secret, &delivery.id, timestamp, &body),
                )
                .body(body)
                .send()
                .await;
            match sent {
                Ok(resp) => Ok(resp.status().as_u16()),
                Err(e) if e.is_timeout() => {
                    Err(format!("no answer within {}s", ATTEMPT_TIMEOUT.as_secs()))
                }
                Err(e) => Err(format!("could not connect: {}", root_cause(&e))),
            }
        }
    };
    delivery.attempts += 1;
    delivery.last = Some(match &answer {
        Ok(status) => format!("HTTP {status}"),
        Err(why) => why.clone(),
    });
    let done = match answer {
        Ok(200..=299) => {
            delivery.delivered = true;
            true
        }
        Ok(410) => {
            delivery.stopped = Some("the receiver answered 410 Gone".to_owned());
            true
        }
        _ => match BACKOFF.get(delivery.attempts as usize - 1) {
            Some(wait) => {
                // Up to a fifth more or less, so many retries do not come at once.
                let jitter = rand::random::<u64>() % (wait / 5 + 1);
                pending.due = now_unix() + wait + jitter;
                false
            }
            None => {
                delivery.stopped = Some(format!("gave up after {} attempts", delivery.attempts));
                true
            }
        },
    };
    delivery.next = (!done).then_some(pending.due);
    meta.notified = Some(delivery);
    save_meta(store, &meta).await?;
    // The next attempt's key first: a failure between the two sends it twice (with the
    // same id, which receivers deduplicate), never not at all.
    if !done {
        store
            .put(&pending.key(PENDING_PREFIX), Bytes::new())
            .await?;
    }
    store.delete(key).await?;
    Ok((!done).then_some(pending.due))
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Wakes `serve`'s deliverer when an end in this process writes a delivery.
static ENQUEUED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// `serve`'s deliverer, until `stop`: it looks at start (deliveries left by a previous run),
/// when an end here writes one, and when the next known one is due
/// ([`crate::due::work_until`]).
pub async fn deliver_until(store: Arc<dyn Store>, policy: PushPolicy, stop: CancellationToken) {
    let http = policy.client();
    crate::due::work_until(
        "delivering notifications",
        usize::MAX,
        &ENQUEUED,
        stop,
        || {
            let (store, http, policy) = (store.clone(), http.clone(), policy.clone());
            async move {
                // Each pass's deliveries go on by themselves: a pass never waits for a slow
                // receiver, and the next one takes whatever else is due meanwhile.
                let (picked, next) = pick_due(store.as_ref(), 64).await?;
                let tried = picked.len();
                if tried > 0 {
                    tokio::spawn(async move {
                        send(store.as_ref(), &http, &policy, picked).await;
                        ENQUEUED.notify_one();
                    });
                }
                Ok((tried, next))
            }
        },
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification.
    #[test]
    fn signs_as_the_specification_example_does() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
