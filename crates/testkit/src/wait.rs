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
