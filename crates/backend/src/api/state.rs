//! `GET/DELETE /api/schedules/NAME/state` and `/api/triggers/NAME/state`: the state a
//! definition's next run starts from, to read (a presigned URL of its archive) or to reset.

use aws_exec_protocol::keys::DefKind;
use aws_exec_protocol::limits::ARTIFACT_URL_TTL;
use aws_exec_protocol::{AuthName, DefName, ErrorBody, StateInfo};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;

use super::caller::Caller;
use super::error::ApiError;
use super::schedules::def_name;
use super::NameInPath;
use super::{absolute_url, AppState};
use crate::runner::state;

#[utoipa::path(
    get,
    path = "/api/schedules/{name}/state",
    tag = "schedules",
    params(("name" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "1 to 64 of A-Z a-z 0-9 _ -")),
    responses(
        (status = 200, description = "The state the next run starts from", body = StateInfo),
        (status = 400, description = "A malformed name", body = ErrorBody),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
        (status = 404, description = "No such schedule of the caller's", body = ErrorBody),
    ),
    security(("auth" = []))
)]
pub async fn schedule(
    State(app): State<AppState>,
    caller: Caller,
    NameInPath(name): NameInPath,
    headers: HeaderMap,
) -> Result<Json<StateInfo>, ApiError> {
    show(&app, DefKind::Schedule, &caller.name, &name, &headers).await
}

#[utoipa::path(
    get,
    path = "/api/triggers/{name}/state",
    tag = "schedules",
    params(("name" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "1 to 64 of A-Z a-z 0-9 _ -")),
    responses(
        (status = 200, description = "The state the next run starts from", body = StateInfo),
        (status = 400, description = "A malformed name", body = ErrorBody),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
        (status = 404, description = "No such trigger of the caller's", body = ErrorBody),
    ),
    security(("auth" = []))
)]
pub async fn trigger(
    State(app): State<AppState>,
    caller: Caller,
    NameInPath(name): NameInPath,
    headers: HeaderMap,
) -> Result<Json<StateInfo>, ApiError> {
    show(&app, DefKind::Trigger, &caller.name, &name, &headers).await
}

#[utoipa::path(
    delete,
    path = "/api/schedules/{name}/state",
    tag = "schedules",
    params(("name" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "1 to 64 of A-Z a-z 0-9 _ -")),
    responses(
        (status = 200, description = "Reset: the next run starts from an empty state", body = StateInfo),
        (status = 400, description = "A malformed name", body = ErrorBody),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
        (status = 404, description = "No such schedule of the caller's", body = ErrorBody),
    ),
    security(("auth" = []))
)]
pub async fn reset_schedule(
    State(app): State<AppState>,
    caller: Caller,
    NameInPath(name): NameInPath,
) -> Result<Json<StateInfo>, ApiError> {
    reset(&app, DefKind::Schedule, &caller.name, &name).await
}

#[utoipa::path(
    delete,
    path = "/api/triggers/{name}/state",
    tag = "schedules",
    params(("name" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "1 to 64 of A-Z a-z 0-9 _ -")),
    responses(
        (status = 200, description = "Reset: the next run starts from an empty state", body = StateInfo),
        (status = 400, description = "A malformed name", body = ErrorBody),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
        (status = 404, description = "No such trigger of the caller's", body = ErrorBody),
    ),
    security(("auth" = []))
)]
pub async fn reset_trigger(
    State(app): State<AppState>,
    caller: Caller,
    NameInPath(name): NameInPath,
) -> Result<Json<StateInfo>, ApiError> {
    reset(&app, DefKind::Trigger, &caller.name, &name).await
}

/// The definition's name, once it is known to be one of the caller's.
async fn existing(
    app: &AppState,
    kind: DefKind,
    owner: &AuthName,
    name: &str,
) -> Result<DefName, ApiError> {
    let name = def_name(name)?;
    let what = match kind {
        DefKind::Schedule => "schedule",
        DefKind::Trigger => "trigger",
    };
    match app.jobs.store.head(&kind.definition(owner, &name)).await? {
        Some(_) => Ok(name),
        None => Err(ApiError::UnknownDefinition(format!("{what} {name}"))),
    }
}

async fn show(
    app: &AppState,
    kind: DefKind,
    owner: &AuthName,
    name: &str,
    headers: &HeaderMap,
) -> Result<Json<StateInfo>, ApiError> {
    let name = existing(app, kind, owner, name).await?;
    let store = app.jobs.store.as_ref();
    let (version, key) = state::newest(store, &kind.state_prefix(owner, &name)).await?;
    let Some(key) = key else {
        return Ok(Json(StateInfo {
            version,
            size: 0,
            url: None,
        }));
    };
    let size = store.head(&key).await?.unwrap_or(0);
    let url = match size {
        0 => None,
        _ => {
            let file = format!("{name}-state-{version}.tar");
            let url = store
                .presign_download(&key, &file, ARTIFACT_URL_TTL)
                .await?;
            Some(absolute_url(&url, app.public_url.as_deref(), headers))
        }
    };
    Ok(Json(StateInfo { version, size, url }))
}

async fn reset(
    app: &AppState,
    kind: DefKind,
    owner: &AuthName,
    name: &str,
) -> Result<Json<StateInfo>, ApiError> {
    let name = existing(app, kind, owner, name).await?;
    let prefix = kind.state_prefix(owner, &name);
    let version = state::reset(app.jobs.store.as_ref(), &prefix).await?;
    tracing::info!(%owner, %name, version, "state reset");
    Ok(Json(StateInfo {
        version,
        size: 0,
        url: None,
    }))
}
