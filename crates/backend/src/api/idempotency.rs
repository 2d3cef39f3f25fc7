//! The `Idempotency-Key` header of `POST /api/exec` and `POST /api/schedules/NAME/run`;
//! what a key does is [`crate::lifecycle::idempotency`]'s.

use aws_exec_protocol::limits::MAX_IDEMPOTENCY_KEY;
use aws_exec_protocol::IDEMPOTENCY_HEADER;
use axum::http::HeaderMap;

use super::error::ApiError;

pub use crate::lifecycle::idempotency::expire;

/// The header's value, checked: 1 to 255 visible ASCII characters.
pub fn key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_HEADER) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::BadRequest(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
        ))
    };
    let key = value.to_str().map_err(|_| bad())?;
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(bad());
    }
    Ok(Some(key))
}
