//! `PUT/GET/DELETE /api/secrets[/NAME]`: a caller's secrets. Values go in and never come
//! out: the listing has names and times, and only a runner reads a value, for a job that
//! asked for it by name.

use aws_exec_protocol::secrets::check_value;
use aws_exec_protocol::{Deleted, ErrorBody, PutSecret, SecretInfo, SecretList, SecretName};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::Json;

use super::caller::Caller;
use super::error::ApiError;
use super::NameInPath;
use super::{parse_json, AppState};
use crate::time::now_unix;

#[utoipa::path(
    get,
    path = "/api/secrets",
    tag = "secrets",
    responses(
        (status = 200, description = "The caller's secrets by name: names and times, never values", body = SecretList),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
    ),
    security(("auth" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<SecretList>, ApiError> {
    let secrets = state.jobs.secrets.list(&caller.name).await?;
    Ok(Json(SecretList { secrets }))
}

#[utoipa::path(
    put,
    path = "/api/secrets/{name}",
    tag = "secrets",
    params(("name" = String, Path, pattern = "^[A-Z_][A-Z0-9_]{0,63}$", description = "A-Z, 0-9 and _, not starting with a digit")),
    request_body = PutSecret,
    responses(
        (status = 200, description = "Stored (the value is not answered)", body = SecretInfo),
        (status = 400, description = "A bad name, or a value that is empty, holds NUL or is over 4 KiB", body = ErrorBody),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
    ),
    security(("auth" = []))
)]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    NameInPath(name): NameInPath,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<SecretInfo>, ApiError> {
    let name = secret_name(&name)?;
    let body = body.map_err(ApiError::body_rejected)?;
    let put: PutSecret = parse_json(&body)?;
    check_value(&put.value).map_err(|e| ApiError::BadRequest(format!("value: {e}")))?;
    state
        .jobs
        .secrets
        .put(&caller.name, &name, &put.value)
        .await?;
    tracing::info!(owner = %caller.name, %name, "secret set");
    Ok(Json(SecretInfo {
        name,
        updated: now_unix(),
    }))
}

#[utoipa::path(
    delete,
    path = "/api/secrets/{name}",
    tag = "secrets",
    params(("name" = String, Path, pattern = "^[A-Z_][A-Z0-9_]{0,63}$", description = "A-Z, 0-9 and _, not starting with a digit")),
    responses(
        (status = 200, description = "Deleted: jobs that ask for it from now on fail", body = Deleted),
        (status = 400, description = "A bad name", body = ErrorBody),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
        (status = 404, description = "No such secret of the caller's", body = ErrorBody),
    ),
    security(("auth" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    NameInPath(name): NameInPath,
) -> Result<Json<Deleted>, ApiError> {
    let name = secret_name(&name)?;
    if !state.jobs.secrets.delete(&caller.name, &name).await? {
        return Err(ApiError::UnknownDefinition(format!("secret {name}")));
    }
    tracing::info!(owner = %caller.name, %name, "secret deleted");
    Ok(Json(Deleted {
        deleted: name.to_string(),
    }))
}

fn secret_name(name: &str) -> Result<SecretName, ApiError> {
    SecretName::new(name).map_err(|e| ApiError::BadRequest(e.to_string()))
}
