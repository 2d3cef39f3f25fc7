//! `GET /api/openapi.json`: an OpenAPI 3 description of the whole HTTP API, generated from
//! the handlers' annotations and the protocol's types, so it cannot drift from the code.
//! CI fuzzes the running service against it.

use aws_exec_protocol::{
    Artifact, ArtifactList, CancelResponse, Deleted, ErrorBody, ExecRequest, ExecResponse,
    InputUpload, JobList, JobMeta, JobState, LastRun, Overlap, PollResponse, PushUrls, Schedule,
    ScheduleList, ScheduleSpec, Trigger, TriggerList, TriggerSpec, UploadRequest, WhoAmI,
};
use aws_exec_protocol::{
    Delivery, Notify, NotifySecret, PutSecret, SecretInfo, SecretList, StateInfo, Usage,
};
use axum::extract::State;
use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::AppState;
use super::{
    artifacts, cancel, exec, health, inputs, job, jobs, notify, schedules, secrets, state,
    triggers, uploads,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "aws-exec",
        description = "Run a command asynchronously; follow its log and exit code."
    ),
    paths(
        exec::submit,
        exec::poll,
        cancel::cancel,
        job::meta,
        jobs::list,
        job::whoami,
        inputs::create,
        artifacts::list,
        uploads::create,
        schedules::list,
        schedules::get,
        schedules::put,
        schedules::delete,
        schedules::run,
        triggers::list,
        triggers::get,
        triggers::put,
        triggers::delete,
        state::schedule,
        state::reset_schedule,
        state::trigger,
        state::reset_trigger,
        notify::get,
        notify::rotate,
        secrets::list,
        secrets::put,
        secrets::delete,
        health::health,
        document,
    ),
    components(schemas(
        ExecRequest,
        PutSecret,
        StateInfo,
        Notify,
        NotifySecret,
        Delivery,
        Usage,
        SecretInfo,
        SecretList,
        PushUrls,
        ExecResponse,
        PollResponse,
        CancelResponse,
        JobList,
        JobMeta,
        JobState,
        WhoAmI,
        InputUpload,
        Artifact,
        ArtifactList,
        UploadRequest,
        ScheduleSpec,
        Overlap,
        Schedule,
        ScheduleList,
        TriggerSpec,
        Trigger,
        TriggerList,
        LastRun,
        Deleted,
        ErrorBody,
    )),
    modifiers(&AuthHeader)
)]
pub struct ApiDoc;

/// Every call but health and this document carries the key in an `auth` header.
struct AuthHeader;

impl Modify for AuthHeader {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "auth",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("auth"))),
        );
    }
}

#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "service",
    responses((status = 200, description = "This document", content_type = "application/json"))
)]
pub async fn document(State(state): State<AppState>) -> Json<serde_json::Value> {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    let jobs = &state.jobs;
    let service = super::openapi_strict::Service {
        rpc_names: jobs.registry.names().collect(),
        max_timeout: jobs.long_max_timeout.unwrap_or(jobs.max_timeout).as_secs(),
        long_runner: jobs.long_max_timeout.is_some(),
    };
    super::openapi_strict::tighten(&mut doc, &service);
    Json(doc)
}
