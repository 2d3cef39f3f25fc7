//! Progress bars for uploads and downloads a person waits on: drawn on a terminal's stderr
//! for transfers of a few MiB or more, and nothing at all on a pipe or for small files.

use std::io::IsTerminal;
use std::sync::{Arc, OnceLock};

use aws_exec_client::{Progress, Transfer};
use indicatif::{ProgressBar, ProgressStyle};

/// Transfers smaller than this are over before a bar would say anything.
const WORTH_A_BAR: u64 = 4 << 20;

/// A progress callback drawing a bar labelled `label`, or `None` where none is drawn.
pub fn bar(label: String) -> Option<Progress> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar: OnceLock<Option<ProgressBar>> = OnceLock::new();
    Some(Arc::new(move |Transfer { done, total }| {
        let Some(bar) = bar.get_or_init(|| (total >= WORTH_A_BAR).then(|| new_bar(&label, total)))
        else {
            return;
        };
        bar.set_position(done);
        if done >= total {
            bar.finish();
        }
    }))
}

fn new_bar(label: &str, total: u64) -> ProgressBar {
    let style = ProgressStyle::with_template(
        "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    let bar = ProgressBar::new(total).with_style(style);
    bar.set_message(label.to_owned());
    bar
}
