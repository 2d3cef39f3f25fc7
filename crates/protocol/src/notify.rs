//! Notifications of a job's end: a POST to the caller's URL, signed as Standard Webhooks
//! specifies with the owner's `whsec_` signing secret, retried until delivered.

use serde::{Deserialize, Serialize};

use crate::limits::MAX_URL_BYTES;
use crate::meta::JobState;

/// `"notify"` of a request or definition: where to POST when the job ends, and on which
/// end states (every end when absent or empty).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// An http(s) URL, at most 8192 bytes, that resolves to a public address.
    pub url: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on: Vec<JobState>,
}

impl Notify {
    /// Whether a job that ended in `state` is told of.
    pub fn wants(&self, state: JobState) -> bool {
        self.on.is_empty() || self.on.contains(&state)
    }

    /// The URL's shape (its address is checked by the service).
    pub fn check(&self) -> Result<(), String> {
        let url = self.url.as_str();
        let ok = url.len() <= MAX_URL_BYTES
            && (url.starts_with("https://") || url.starts_with("http://"));
        if !ok {
            return Err(format!(
                "notify.url must be an http(s) URL of at most {MAX_URL_BYTES} bytes"
            ));
        }
        if let Some(state) = self.on.iter().find(|s| !s.is_final()) {
            return Err(format!("notify.on: {state} is not an end state"));
        }
        Ok(())
    }
}

/// `GET/POST /api/notify/secret` answer: the key notifications are signed with.
#[derive(Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NotifySecret {
    /// `whsec_` and the base64 of 32 random bytes.
    pub secret: String,
}

/// How the notification of a job's end is going, in its meta.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    /// Its `webhook-id`, the same at every attempt.
    pub id: String,
    pub attempts: u32,
    /// What the last attempt got: an HTTP status, or why there was none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delivered: bool,
    /// Why no more attempts are made, when they stopped undelivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// When the next attempt is due (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
}
