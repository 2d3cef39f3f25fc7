//! The watch a running job keeps on the store: a caller's cancel stops it, and a sign that
//! someone else ended the job (or took this attempt for lost) fences its writes.

use std::sync::Arc;

use aws_exec_protocol::keys::JobKeys;
use aws_exec_protocol::limits::CANCEL_CHECK;

use super::stop::{Stop, StopReason};
use crate::lifecycle::quiet::Quiet;
use crate::log_sink::Fence;
use crate::store::Store;

/// Requests a stop once a caller's cancel marker exists: checked at once, then every
/// [`CANCEL_CHECK`]. When someone else has also claimed the job's end, the log is fenced
/// first: nothing more of it is written. Housekeeping's word that this attempt (or the job)
/// was taken for lost is looked for as often, and fences it too: two small GETs a look while
/// neither is there.
pub(super) async fn watch_for_cancel(
    store: Arc<dyn Store>,
    keys: JobKeys,
    attempt: u32,
    stop: Stop,
    fence: Fence,
    quiet: Option<Arc<Quiet>>,
) {
    // Nobody can cancel a job they cannot name: a quiet one is looked at once revealed.
    if let Some(quiet) = quiet {
        quiet.revealed().await;
    }
    use crate::lifecycle::marker::{self, Mark};
    loop {
        match marker::read(store.as_ref(), &keys).await {
            Ok(Some(Mark::Cancelled)) => {
                if let Ok(Some(_)) = crate::lifecycle::end::read_end(store.as_ref(), &keys).await {
                    fence.close();
                }
                stop.request(StopReason::Cancelled);
                return;
            }
            // Nothing more of this attempt reaches the job's objects.
            Ok(Some(Mark::Lost(lost))) if lost.ends(attempt) => {
                fence.close();
                stop.request(StopReason::Cancelled);
                return;
            }
            _ => {}
        }
        tokio::time::sleep(CANCEL_CHECK).await;
    }
}
