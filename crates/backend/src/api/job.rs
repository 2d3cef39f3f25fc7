//! `GET /api/job?uid=UID`: a job's metadata (command, state, times, exit), and
//! `GET /api/whoami`: the name behind the caller's key. The page uses them to sign in and
//! to title a re-attached run.

use aws_exec_protocol::keys::JobKeys;
use aws_exec_protocol::{ErrorBody, JobMeta, Uid, UidQuery, WhoAmI};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;

use super::caller::Caller;
use super::error::ApiError;
use super::AppState;

#[utoipa::path(
    get,
    path = "/api/job",
    tag = "jobs",
    params(UidQuery),
    responses(
        (status = 200, description = "The job's metadata", body = JobMeta),
        (status = 400, description = "A malformed uid", body = ErrorBody),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
        (status = 404, description = "No such job of the caller's", body = ErrorBody),
    ),
    security(("auth" = []))
)]
pub async fn meta(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<UidQuery>, QueryRejection>,
) -> Result<Json<JobMeta>, ApiError> {
    let Query(query) = query.map_err(ApiError::query_rejected)?;
    let uid: Uid = query.uid.parse()?;
    let body = state
        .jobs
        .store
        .get(&JobKeys::new(&caller.name, &uid).meta())
        .await?
        .ok_or_else(|| ApiError::UnknownJob(uid.to_string()))?;
    serde_json::from_slice(&body)
        .map(Json)
        .map_err(|e| crate::StoreError::Backend(format!("the meta of {uid}: {e}")).into())
}

#[utoipa::path(
    get,
    path = "/api/whoami",
    tag = "keys",
    responses(
        (status = 200, description = "The name behind the caller's key", body = WhoAmI),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
    ),
    security(("auth" = []))
)]
pub async fn whoami(caller: Caller) -> Json<WhoAmI> {
    Json(WhoAmI {
        name: caller.name.to_string(),
    })
}
