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
    /// Nothing answered at `url` (refused, or no connection within the deadline).
    #[error("cannot reach {url}: {why}")]
    Unreachable { url: String, why: String },
    /// The host took the connection and sent nothing back within the deadline (a stopped
    /// or overloaded service, or something else listening there). Not retried: a submit
    /// it did receive may still run once it wakes.
    #[error("{url} took the connection but did not answer the {what} within {}s: is the service stopped or overloaded?", .within.as_secs())]
    NoAnswer {
        url: String,
        what: &'static str,
        within: std::time::Duration,
    },
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

    /// A connection failure in one line: the host once, and the deepest reason (the
    /// error's own text names the whole URL at every level of its chain).
    pub(crate) fn unreachable(error: &reqwest::Error) -> Self {
        let url = error
            .url()
            .map_or_else(String::new, |u| u.origin().ascii_serialization());
        let mut why = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            why = cause.to_string();
            source = cause.source();
        }
        if error.is_timeout() {
            why = "no connection within the deadline".to_owned();
        }
        // "Connection refused (os error 111)": the number says nothing more to a person.
        if let Some(at) = why.find(" (os error") {
            why.truncate(at);
        }
        ClientError::Unreachable {
            url,
            why: why.to_lowercase(),
        }
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
