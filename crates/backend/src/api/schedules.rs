//! `PUT/GET/DELETE /api/schedules[/NAME]` and `POST /api/schedules/NAME/run`: a caller's
//! schedules. The definition is stored first and then handed to the [`Scheduler`]
//! (`serve`'s clock, or EventBridge Scheduler on AWS); a definition the scheduler refuses is
//! put back as it was.
//!
//! [`Scheduler`]: crate::schedules::Scheduler

use aws_exec_protocol::keys::{input_prefix, DefKind};
use aws_exec_protocol::{
    AuthName, DefName, Deleted, ErrorBody, ExecRequest, ExecResponse, Schedule, ScheduleList,
    ScheduleSpec,
};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;

use super::caller::Caller;
use super::error::ApiError;
use super::NameInPath;
use super::{parse_json, AppState};
use crate::schedules::fire::{fire_schedule, Firing};
use crate::schedules::{definitions, last_run, read_json, write_json, CronSchedule};
use crate::time::now_unix;

const KIND: DefKind = DefKind::Schedule;

#[utoipa::path(
    get,
    path = "/api/schedules",
    tag = "schedules",
    responses(
        (status = 200, description = "The caller's schedules by name, with next and last runs", body = ScheduleList),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
    ),
    security(("auth" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ScheduleList>, ApiError> {
    let defs =
        definitions::<ScheduleSpec>(state.jobs.store.as_ref(), KIND, Some(&caller.name)).await?;
    let mut schedules = Vec::with_capacity(defs.len());
    for (owner, name, spec) in defs {
        schedules.push(view(&state, &owner, name, spec).await?);
    }
    Ok(Json(ScheduleList { schedules }))
}

#[utoipa::path(
    get,
    path = "/api/schedules/{name}",
    tag = "schedules",
    params(("name" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "1 to 64 of A-Z a-z 0-9 _ -")),
    responses(
        (status = 200, description = "The schedule, with its next and last runs", body = Schedule),
        (status = 400, description = "A malformed name", body = ErrorBody),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
        (status = 404, description = "No such schedule of the caller's", body = ErrorBody),
    ),
    security(("auth" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    NameInPath(name): NameInPath,
) -> Result<Json<Schedule>, ApiError> {
    let name = def_name(&name)?;
    let spec = load(&state, &caller.name, &name).await?;
    Ok(Json(view(&state, &caller.name, name, spec).await?))
}

#[utoipa::path(
    put,
    path = "/api/schedules/{name}",
    tag = "schedules",
    params(("name" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "1 to 64 of A-Z a-z 0-9 _ -")),
    request_body = ScheduleSpec,
    responses(
        (status = 200, description = "The schedule as stored, with its next run", body = Schedule),
        (status = 400, description = "A bad cron expression, time zone, name or job", body = ErrorBody),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
        (status = 404, description = "An unknown rpc, or an input that is not the caller's upload", body = ErrorBody),
        (status = 503, description = "Schedules are not set up on this deployment", body = ErrorBody),
    ),
    security(("auth" = []))
)]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    NameInPath(name): NameInPath,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Schedule>, ApiError> {
    let name = def_name(&name)?;
    let body = body.map_err(ApiError::body_rejected)?;
    let mut spec: ScheduleSpec = parse_json(&body)?;
    CronSchedule::parse(&spec.cron, &spec.tz).map_err(ApiError::BadRequest)?;
    check_job(&state, &caller.name, &spec.exec).await?;
    keep_inputs(&state, KIND, &caller.name, &name, &mut spec.exec).await?;
    let store = state.jobs.store.as_ref();
    let key = KIND.definition(&caller.name, &name);
    let before = store.get(&key).await?;
    write_json(store, &key, &spec).await?;
    if let Err(e) = state.scheduler.upsert(&caller.name, &name, &spec).await {
        let _ = match before {
            Some(old) => store.put(&key, old).await,
            None => store.delete(&key).await,
        };
        return Err(e.into());
    }
    drop_unused_inputs(&state, KIND, &caller.name, &name, &spec.exec).await?;
    tracing::info!(owner = %caller.name, %name, cron = spec.cron, tz = spec.tz, "schedule stored");
    Ok(Json(view(&state, &caller.name, name, spec).await?))
}

#[utoipa::path(
    delete,
    path = "/api/schedules/{name}",
    tag = "schedules",
    params(("name" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "1 to 64 of A-Z a-z 0-9 _ -")),
    responses(
        (status = 200, description = "The schedule no longer fires", body = Deleted),
        (status = 400, description = "A malformed name", body = ErrorBody),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
        (status = 404, description = "No such schedule of the caller's", body = ErrorBody),
        (status = 503, description = "Schedules are not set up on this deployment", body = ErrorBody),
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
    // The firing goes first: a definition that outlived its schedule is only untidy, a
    // schedule that outlived its definition would keep invoking the function.
    state.scheduler.remove(&caller.name, &name).await?;
    delete_definition(&state, KIND, &caller.name, &name).await?;
    Ok(Json(Deleted {
        deleted: name.to_string(),
    }))
}

#[utoipa::path(
    post,
    path = "/api/schedules/{name}/run",
    tag = "schedules",
    params(
        ("name" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "1 to 64 of A-Z a-z 0-9 _ -"),
        ("Idempotency-Key" = Option<String>, Header,
         description = "The same key again within 24 hours answers the same uid"),
    ),
    responses(
        (status = 200, description = "A run started now, as an ordinary job", body = ExecResponse),
        (status = 400, description = "A malformed name, or the job cannot start", body = ErrorBody),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
        (status = 404, description = "No such schedule of the caller's", body = ErrorBody),
    ),
    security(("auth" = []))
)]
pub async fn run(
    State(state): State<AppState>,
    caller: Caller,
    NameInPath(name): NameInPath,
    headers: HeaderMap,
) -> Result<Json<ExecResponse>, ApiError> {
    let name = def_name(&name)?;
    let key = super::idempotency::key(&headers)?.map(str::to_owned);
    let last = fire_schedule(
        &state.jobs,
        state.scheduler.as_ref(),
        &caller.name,
        &name,
        Firing::Manual(key),
    )
    .await?;
    match last.uid {
        Some(uid) => Ok(Json(ExecResponse::new(uid))),
        None => Err(ApiError::BadRequest(
            last.skipped
                .unwrap_or_else(|| "the schedule started nothing".into()),
        )),
    }
}

pub(crate) fn def_name(name: &str) -> Result<DefName, ApiError> {
    name.parse()
        .map_err(|e: aws_exec_protocol::schedules::DefNameError| {
            ApiError::BadRequest(e.to_string())
        })
}

/// The job a definition starts must be one `POST /api/exec` would take now, and cannot
/// send its results to push-urls, which expire long before a schedule fires.
pub(crate) async fn check_job(
    state: &AppState,
    owner: &AuthName,
    request: &ExecRequest,
) -> Result<(), ApiError> {
    if request.push_urls.is_some() {
        return Err(ApiError::BadRequest(
            "exec.push-urls: a job started by a schedule or trigger keeps its results in the service".into(),
        ));
    }
    let (_, options) = crate::lifecycle::submit::check(&state.jobs, owner, request).await?;
    crate::secrets::check_stored(state.jobs.secrets.as_ref(), owner, &options.secrets.names())
        .await?;
    Ok(())
}

/// Gives a definition its own copy of each uploaded input it names, kept as long as it is:
/// the upload itself expires with the job retention, long before a schedule stops firing.
pub(crate) async fn keep_inputs(
    state: &AppState,
    kind: DefKind,
    owner: &AuthName,
    name: &DefName,
    request: &mut ExecRequest,
) -> Result<(), ApiError> {
    let Some(inputs) = request.inputs.as_mut() else {
        return Ok(());
    };
    let uploads = input_prefix(owner);
    for (path, key) in inputs.iter_mut() {
        let Some(id) = key.strip_prefix(&uploads) else {
            continue; // already the definition's (or an inbox file)
        };
        let copy = kind.input(owner, name, id);
        if !state.jobs.store.copy(key, &copy).await? {
            return Err(ApiError::UnknownInput {
                path: path.clone(),
                key: key.clone(),
            });
        }
        *key = copy;
    }
    Ok(())
}

/// Deletes the definition's copies of inputs it no longer names.
pub(crate) async fn drop_unused_inputs(
    state: &AppState,
    kind: DefKind,
    owner: &AuthName,
    name: &DefName,
    request: &ExecRequest,
) -> Result<(), ApiError> {
    let prefix = format!("{}inputs/", kind.def_prefix(owner, name));
    let used: Vec<&String> = request.inputs.iter().flat_map(|i| i.values()).collect();
    for key in state.jobs.store.list(&prefix).await? {
        if !used.contains(&&key) {
            state.jobs.store.delete(&key).await?;
        }
    }
    Ok(())
}

/// Deletes a definition with its last run and inputs.
pub(crate) async fn delete_definition(
    state: &AppState,
    kind: DefKind,
    owner: &AuthName,
    name: &DefName,
) -> Result<(), ApiError> {
    let store = state.jobs.store.as_ref();
    // The definition first: once it is gone nothing fires it, whatever else remains.
    store.delete(&kind.definition(owner, name)).await?;
    for key in store.list(&kind.def_prefix(owner, name)).await? {
        store.delete(&key).await?;
    }
    Ok(())
}

async fn load(
    state: &AppState,
    owner: &AuthName,
    name: &DefName,
) -> Result<ScheduleSpec, ApiError> {
    read_json(state.jobs.store.as_ref(), &KIND.definition(owner, name))
        .await?
        .ok_or_else(|| ApiError::UnknownDefinition(format!("schedule {name}")))
}

async fn view(
    state: &AppState,
    owner: &AuthName,
    name: DefName,
    spec: ScheduleSpec,
) -> Result<Schedule, ApiError> {
    let next = CronSchedule::parse(&spec.cron, &spec.tz)
        .ok()
        .and_then(|c| c.next_after(now_unix()));
    let last = last_run(state.jobs.store.as_ref(), KIND, owner, &name).await?;
    let ScheduleSpec {
        cron,
        tz,
        overlap,
        exec,
        state: carries_state,
    } = spec;
    Ok(Schedule {
        name,
        cron,
        tz,
        overlap,
        exec,
        state: carries_state,
        next,
        last,
    })
}
