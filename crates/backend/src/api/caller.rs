//! Who is calling: the `auth` header checked against the store on every `/api/` request.

use aws_exec_protocol::{AuthKey, AuthName, AUTH_HEADER};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::ApiError;
use super::AppState;

/// The authenticated caller; jobs are namespaced by its name.
#[derive(Clone, Debug)]
pub struct Caller {
    pub name: AuthName,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = parts
            .headers
            .get(AUTH_HEADER)
            .ok_or(ApiError::MissingAuth)?
            .to_str()
            .map_err(|_| ApiError::BadAuth)?
            .trim();
        if key.is_empty() {
            return Err(ApiError::MissingAuth);
        }
        crate::auth::lookup(state.jobs.store.as_ref(), &AuthKey::new(key))
            .await?
            .map(|name| Caller { name })
            .ok_or(ApiError::BadAuth)
    }
}
