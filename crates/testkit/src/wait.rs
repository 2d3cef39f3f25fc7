//! Waiting for a condition with a deadline, instead of a fixed sleep that is either too
//! short on a loaded machine or wastes time on an idle one.

use std::future::Future;
use std::time::Duration;

/// Polls `check` every 20 ms until it returns `Some`, and returns that; panics with `what`
/// if `timeout` passes first.
pub async fn wait_until<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits up to 15 s for job `uid` to be running.
pub async fn until_running(client: &aws_exec_client::Client, uid: &str) {
    wait_until(Duration::from_secs(15), "the job running", || {
        let (client, uid) = (client.clone(), uid.to_owned());
        async move {
            let state = client.status(&uid).await.unwrap().state;
            (state == aws_exec_client::JobState::Running).then_some(())
        }
    })
    .await;
}
