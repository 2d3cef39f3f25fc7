//! `PUT/GET/DELETE /api/triggers[/NAME]`: a caller's triggers, each a prefix of their inbox
//! and the job an upload under it starts. Nothing is set up per trigger: uploads fire them
//! (the bucket's notification on AWS, `serve`'s own upload route locally).

use aws_exec_protocol::keys::DefKind;
use aws_exec_protocol::schedules::is_safe_prefix;
use aws_exec_protocol::{AuthName, DefName, Deleted, ErrorBody, Trigger, TriggerList, TriggerSpec};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::Json;

use super::caller::Caller;
use super::error::ApiError;
use super::schedules::{check_job, def_name, delete_definition, drop_unused_inputs, keep_inputs};
use super::NameInPath;
use super::{parse_json, AppState};
use crate::schedules::{definitions, last_run, read_json, write_json};

const KIND: DefKind = DefKind::Trigger;

#[utoipa::path(
    get,
    path = "/api/triggers",
    tag = "schedules",
    responses(
        (status = 200, description = "The caller's triggers by name, with their last runs", body = TriggerList),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
    ),
    security(("auth" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<TriggerList>, ApiError> {
    let defs =
        definitions::<TriggerSpec>(state.jobs.store.as_ref(), KIND, Some(&caller.name)).await?;
    let mut triggers = Vec::with_capacity(defs.len());
    for (owner, name, spec) in defs {
        triggers.push(view(&state, &owner, name, spec).await?);
    }
    Ok(Json(TriggerList { triggers }))
}

#[utoipa::path(
    get,
    path = "/api/triggers/{name}",
    tag = "schedules",
    params(("name" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "1 to 64 of A-Z a-z 0-9 _ -")),
    responses(
        (status = 200, description = "The trigger, with its last run", body = Trigger),
        (status = 400, description = "A malformed name", body = ErrorBody),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
        (status = 404, description = "No such trigger of the caller's", body = ErrorBody),
    ),
    security(("auth" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    NameInPath(name): NameInPath,
) -> Result<Json<Trigger>, ApiError> {
    let name = def_name(&name)?;
    let spec = load(&state, &caller.name, &name).await?;
    Ok(Json(view(&state, &caller.name, name, spec).await?))
}

#[utoipa::path(
    put,
    path = "/api/triggers/{name}",
    tag = "schedules",
    params(("name" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "1 to 64 of A-Z a-z 0-9 _ -")),
    request_body = TriggerSpec,
    responses(
        (status = 200, description = "The trigger as stored", body = Trigger),
        (status = 400, description = "A prefix outside the caller's inbox, a bad name or job", body = ErrorBody),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
        (status = 404, description = "An unknown rpc, or an input that is not the caller's upload", body = ErrorBody),
    ),
    security(("auth" = []))
)]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    NameInPath(name): NameInPath,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Trigger>, ApiError> {
    let name = def_name(&name)?;
    let body = body.map_err(ApiError::body_rejected)?;
    let mut spec: TriggerSpec = parse_json(&body)?;
    if !is_safe_prefix(&spec.prefix) {
        return Err(ApiError::BadRequest(format!(
            "prefix {:?} is not inside your inbox: give a relative path such as photos/",
            spec.prefix.chars().take(200).collect::<String>()
        )));
    }
    check_job(&state, &caller.name, &spec.exec).await?;
    keep_inputs(&state, KIND, &caller.name, &name, &mut spec.exec).await?;
    write_json(
        state.jobs.store.as_ref(),
        &KIND.definition(&caller.name, &name),
        &spec,
    )
    .await?;
    drop_unused_inputs(&state, KIND, &caller.name, &name, &spec.exec).await?;
    tracing::info!(owner = %caller.name, %name, prefix = spec.prefix, "trigger stored");
    Ok(Json(view(&state, &caller.name, name, spec).await?))
}

#[utoipa::path(
    delete,
    path = "/api/triggers/{name}",
    tag = "schedules",
    params(("name" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "1 to 64 of A-Z a-z 0-9 _ -")),
    responses(
        (status = 200, description = "The trigger no longer fires", body = Deleted),
        (status = 400, description = "A malformed name", body = ErrorBody),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
        (status = 404, description = "No such trigger of the caller's", body = ErrorBody),
    ),
    security(("auth" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    NameInPath(name): NameInPath,
) -> Result<Json<Deleted>, ApiError> {
    let name = def_name(&name)?;
    load(&state, &caller.name, &name).await?;
    delete_definition(&state, KIND, &caller.name, &name).await?;
    Ok(Json(Deleted {
        deleted: name.to_string(),
    }))
}

async fn load(state: &AppState, owner: &AuthName, name: &DefName) -> Result<TriggerSpec, ApiError> {
    read_json(state.jobs.store.as_ref(), &KIND.definition(owner, name))
        .await?
        .ok_or_else(|| ApiError::UnknownDefinition(format!("trigger {name}")))
}

async fn view(
    state: &AppState,
    owner: &AuthName,
    name: DefName,
    spec: TriggerSpec,
) -> Result<Trigger, ApiError> {
    let last = last_run(state.jobs.store.as_ref(), KIND, owner, &name).await?;
    let TriggerSpec {
        prefix,
        exec,
        state: carries_state,
    } = spec;
    Ok(Trigger {
        name,
        prefix,
        exec,
        state: carries_state,
        last,
    })
}
