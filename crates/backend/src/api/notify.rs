//! `GET/POST /api/notify/secret`: the key the caller's notifications are signed with, to
//! verify them by (made on first ask), and its replacement.

use aws_exec_protocol::{ErrorBody, NotifySecret};
use axum::extract::State;
use axum::Json;

use super::caller::Caller;
use super::error::ApiError;
use super::AppState;

#[utoipa::path(
    get,
    path = "/api/notify/secret",
    tag = "notify",
    responses(
        (status = 200, description = "The caller's signing secret (made on first ask)", body = NotifySecret),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
    ),
    security(("auth" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<NotifySecret>, ApiError> {
    let secret = crate::notify::signing_secret(state.jobs.store.as_ref(), &caller.name).await?;
    Ok(Json(NotifySecret { secret }))
}

#[utoipa::path(
    post,
    path = "/api/notify/secret",
    tag = "notify",
    responses(
        (status = 200, description = "A new signing secret; notifications are signed with it from now on", body = NotifySecret),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
    ),
    security(("auth" = []))
)]
pub async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<NotifySecret>, ApiError> {
    let secret = crate::notify::rotate_secret(state.jobs.store.as_ref(), &caller.name).await?;
    tracing::info!(owner = %caller.name, "notification signing secret replaced");
    Ok(Json(NotifySecret { secret }))
}
