//! Where the last lines of a log start, read from its end by a suffix range (`tail -n`):
//! a large log costs what its last lines weigh, not its size.

use aws_exec_protocol::limits::MAX_LOG_BYTES;
use reqwest::{header, StatusCode};

use crate::{policy, Client, ClientError, PollResponse};

/// The first read from the end; each next one reads four times as far back.
const FIRST_READ: u64 = 64 * 1024;

impl Client {
    /// The byte offset in job `uid`'s log where its last `lines` lines start (0 when it
    /// has fewer); hand it to [`Client::tail_from`]. While the job runs this is as of the
    /// log the service can show now; what follows is read by the follow itself.
    pub async fn start_of_last_lines(&self, uid: &str, lines: u64) -> Result<u64, ClientError> {
        let url = match self.poll(uid, 0).await? {
            PollResponse::Url { url, .. } => url,
            PollResponse::Exit { .. } | PollResponse::Inline { .. } => return Ok(0),
        };
        let mut want = FIRST_READ;
        loop {
            let sent = self
                .retry
                .run("read the log's end", |_| {
                    let req = self
                        .http
                        .get(&url)
                        .header(header::RANGE, format!("bytes=-{want}"));
                    policy::send(req, policy::ANSWER_WITHIN)
                })
                .await;
            let resp = match sent {
                Ok(resp) => resp,
                Err(ClientError::Api { status, .. }) if policy::log_not_ready(status) => {
                    return Ok(0)
                }
                Err(e) => return Err(e),
            };
            // A server that ignores suffix ranges sends it all, from byte 0.
            let start = match resp.status() {
                StatusCode::PARTIAL_CONTENT => resp
                    .headers()
                    .get(header::CONTENT_RANGE)
                    .and_then(|v| range_start(v.to_str().ok()?))
                    .ok_or_else(|| ClientError::Protocol {
                        status: 206,
                        why: "a partial answer without a Content-Range".into(),
                    })?,
                _ => 0,
            };
            let body = resp.bytes().await.map_err(ClientError::Http)?;
            if let Some(at) = start_of_last(&body, lines) {
                return Ok(start + at as u64);
            }
            if start == 0 || want >= MAX_LOG_BYTES as u64 {
                return Ok(start);
            }
            want *= 4;
        }
    }
}

/// `bytes START-END/TOTAL` → START.
fn range_start(content_range: &str) -> Option<u64> {
    let range = content_range.trim().strip_prefix("bytes ")?;
    range.split_once('-')?.0.trim().parse().ok()
}

/// Where the last `lines` lines of `text` start, if it holds that many whole ones after
/// some line break (a last line without its break counts as one).
fn start_of_last(text: &[u8], lines: u64) -> Option<usize> {
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    if lines == 0 {
        return Some(text.len());
    }
    let mut seen = 0;
    for (at, byte) in body.iter().enumerate().rev() {
        if *byte == b'\n' {
            seen += 1;
            if seen == lines {
                return Some(at + 1);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_lines_start_after_a_break() {
        assert_eq!(start_of_last(b"a\nb\nc\n", 1), Some(4));
        assert_eq!(start_of_last(b"a\nb\nc\n", 2), Some(2));
        assert_eq!(start_of_last(b"a\nb\nc", 1), Some(4));
        assert_eq!(start_of_last(b"a\nb\nc\n", 3), None, "more may be before");
        assert_eq!(start_of_last(b"a\nb\nc\n", 0), Some(6));
        assert_eq!(start_of_last(b"", 1), None);
        assert_eq!(range_start("bytes 100-199/200"), Some(100));
        assert_eq!(range_start("bytes */200"), None);
    }
}
