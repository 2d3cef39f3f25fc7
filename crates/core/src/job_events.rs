//! News of jobs running in this process (their log grew, they ended), for polls that wait
//! for it (`GET /api/exec?wait=`). Only `serve` has them: on Lambda the runner is another
//! invocation, and clients follow S3 directly instead.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

#[derive(Debug, Default)]
pub struct JobEvents {
    jobs: Mutex<HashMap<String, watch::Sender<u64>>>,
}

impl JobEvents {
    /// A receiver that changes at the job's next news. Take it before looking at the
    /// store, so news between the look and the wait is not missed.
    pub fn subscribe(&self, uid: &str) -> watch::Receiver<u64> {
        let mut jobs = self.jobs.lock().expect("job events lock");
        jobs.entry(uid.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Tells whoever waits on `uid` that there is news.
    pub fn publish(&self, uid: &str) {
        let jobs = self.jobs.lock().expect("job events lock");
        if let Some(tx) = jobs.get(uid) {
            tx.send_modify(|n| *n += 1);
        }
    }

    /// Forgets `uid` once nobody waits on it any more.
    pub fn release(&self, uid: &str) {
        let mut jobs = self.jobs.lock().expect("job events lock");
        if jobs.get(uid).is_some_and(|tx| tx.receiver_count() == 0) {
            jobs.remove(uid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiter_hears_news_and_is_forgotten_after() {
        let events = JobEvents::default();
        events.publish("a"); // nobody waits: nothing kept
        assert!(events.jobs.lock().unwrap().is_empty());
        let mut rx = events.subscribe("a");
        events.publish("a");
        rx.changed().await.unwrap();
        drop(rx);
        events.release("a");
        assert!(events.jobs.lock().unwrap().is_empty());
    }
}
