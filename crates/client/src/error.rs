//! What can go wrong talking to the service.

use aws_exec_protocol::ErrorBody;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Config(String),
    /// The service answered with an error; `message` is its `{"error": ...}`.
    #[error("{message} (HTTP {status})")]
    Api { status: u16, message: String },
    #[error("HTTP request failed: {0}")]
    Http(#[source] reqwest::Error),
    #[error("unexpected answer (HTTP {status}): {why}")]
    Protocol { status: u16, why: String },
    /// Following a job saw nothing new for [`crate::PollPolicy::give_up_after`].
    #[error("gave up after {silent:?} without progress ({why}); the job may still finish: follow it again with its uid")]
    NoProgress {
        silent: std::time::Duration,
        why: String,
    },
    #[error("gave up on {what} after {attempts} attempts: {last}")]
    GaveUp {
        what: &'static str,
        attempts: u32,
        #[source]
        last: Box<ClientError>,
    },
}

impl ClientError {
    pub(crate) async fn from_response(resp: reqwest::Response) -> Self {
        let status = resp.status().as_u16();
        let body = resp.bytes().await.unwrap_or_default();
        let message = serde_json::from_slice::<ErrorBody>(&body)
            .map(|b| b.error)
            .unwrap_or_else(|_| {
                let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
                if text.trim().is_empty() {
                    format!("HTTP {status}")
                } else {
                    text
                }
            });
        ClientError::Api { status, message }
    }

    /// The HTTP status of an API error, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            ClientError::GaveUp { last, .. } => last.status(),
            _ => None,
        }
    }
}
