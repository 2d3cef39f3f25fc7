//! `DELETE /api/exec?uid=UID`: cancel a job ([`crate::lifecycle::cancel`]).

use aws_exec_protocol::{CancelResponse, ErrorBody, Uid, UidQuery};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;

use super::caller::Caller;
use super::error::ApiError;
use super::AppState;

#[utoipa::path(
    delete,
    path = "/api/exec",
    tag = "jobs",
    params(UidQuery),
    responses(
        (status = 200, description = "The job's state after the request", body = CancelResponse),
        (status = 400, description = "A malformed uid", body = ErrorBody),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
        (status = 404, description = "No such job of the caller's", body = ErrorBody),
    ),
    security(("auth" = []))
)]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<UidQuery>, QueryRejection>,
) -> Result<Json<CancelResponse>, ApiError> {
    let Query(query) = query.map_err(ApiError::query_rejected)?;
    let uid: Uid = query.uid.parse()?;
    let state = crate::lifecycle::cancel::cancel(&state.jobs, &caller.name, &uid).await?;
    Ok(Json(CancelResponse {
        uid: uid.to_string(),
        state,
    }))
}
