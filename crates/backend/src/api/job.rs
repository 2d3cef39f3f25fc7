//! `GET /api/job?uid=UID`: a job's metadata (command, state, times, exit), and
//! `GET /api/whoami`: the name behind the caller's key. The page uses them to sign in and
//! to title a re-attached run.

use aws_exec_protocol::keys::JobKeys;
use aws_exec_protocol::{JobMeta, Uid};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;

use super::caller::Caller;
use super::error::ApiError;
use super::AppState;

#[derive(Deserialize)]
pub struct JobQuery {
    uid: String,
}

pub async fn meta(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<JobQuery>, QueryRejection>,
) -> Result<Json<JobMeta>, ApiError> {
    let Query(query) = query.map_err(ApiError::query_rejected)?;
    let uid: Uid = query.uid.parse()?;
    let body = state
        .store
        .get(&JobKeys::new(&caller.name, &uid).meta())
        .await?
        .ok_or_else(|| ApiError::UnknownJob(uid.to_string()))?;
    serde_json::from_slice(&body)
        .map(Json)
        .map_err(|e| crate::StoreError::Backend(format!("meta.json of {uid}: {e}")).into())
}

pub async fn whoami(caller: Caller) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "name": caller.name }))
}
