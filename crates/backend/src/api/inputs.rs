//! `POST /api/inputs`: a presigned PUT URL for one input file, and the key a job names it
//! by in `"inputs"`. Keys live under the caller's own `inputs/NAME/`, so a job can place only
//! its owner's uploads (or, for a trigger's job, a file in its owner's inbox).

use aws_exec_protocol::keys::input;
use aws_exec_protocol::limits::INPUT_URL_TTL;
use aws_exec_protocol::{ErrorBody, InputUpload, Uid};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;

use super::caller::Caller;
use super::error::ApiError;
use super::{absolute_url, AppState};
use crate::time::now_unix;

#[utoipa::path(
    post,
    path = "/api/inputs",
    tag = "files",
    responses(
        (status = 200, description = "Where to PUT the file, and its key", body = InputUpload),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
    ),
    security(("auth" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Json<InputUpload>, ApiError> {
    let now = now_unix();
    let key = input(&caller.name, &Uid::new(now));
    let url = state.jobs.store.presign_put(&key, INPUT_URL_TTL).await?;
    Ok(Json(InputUpload {
        url: absolute_url(&url, state.public_url.as_deref(), &headers),
        key,
        expires: now + INPUT_URL_TTL.as_secs(),
    }))
}
