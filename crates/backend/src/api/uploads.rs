//! `POST /api/uploads`: a presigned PUT URL for a file in the caller's inbox
//! (`inbox/NAME/PATH`). An upload there fires the caller's triggers whose prefix it is under.

use aws_exec_protocol::files::is_safe_relative_path;
use aws_exec_protocol::keys::inbox;
use aws_exec_protocol::limits::INPUT_URL_TTL;
use aws_exec_protocol::{ErrorBody, InputUpload, UploadRequest};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;

use super::caller::Caller;
use super::error::ApiError;
use super::{absolute_url, parse_json, AppState};
use crate::time::now_unix;

#[utoipa::path(
    post,
    path = "/api/uploads",
    tag = "files",
    request_body = UploadRequest,
    responses(
        (status = 200, description = "Where to PUT the file, and its key in the inbox", body = InputUpload),
        (status = 400, description = "A path that is not relative or leaves the inbox", body = ErrorBody),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
    ),
    security(("auth" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<InputUpload>, ApiError> {
    let body = body.map_err(ApiError::body_rejected)?;
    let request: UploadRequest = parse_json(&body)?;
    if !is_safe_relative_path(&request.path) {
        return Err(ApiError::BadRequest(format!(
            "path {:?} must be relative, without . or .. parts (photos/cat.jpg)",
            request.path.chars().take(200).collect::<String>()
        )));
    }
    let key = inbox(&caller.name, &request.path);
    let now = now_unix();
    let url = state.jobs.store.presign_put(&key, INPUT_URL_TTL).await?;
    Ok(Json(InputUpload {
        url: absolute_url(&url, state.public_url.as_deref(), &headers),
        key,
        expires: now + INPUT_URL_TTL.as_secs(),
    }))
}
