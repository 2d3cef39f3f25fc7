//! `GET /api/artifacts?uid=UID`: the files a job left under `$AWS_EXEC_ARTIFACTS`, each with
//! a presigned GET URL. One read of the job's `artifacts.json`, written when they were
//! stored, then one signature per file: no listing.

use aws_exec_protocol::keys::JobKeys;
use aws_exec_protocol::limits::ARTIFACT_URL_TTL;
use aws_exec_protocol::{ArtifactList, ErrorBody, Uid, UidQuery};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;

use super::caller::Caller;
use super::error::ApiError;
use super::{absolute_url, AppState};

#[utoipa::path(
    get,
    path = "/api/artifacts",
    tag = "files",
    params(UidQuery),
    responses(
        (status = 200, description = "The job's artifacts (none until it has ended)", body = ArtifactList),
        (status = 400, description = "A malformed uid", body = ErrorBody),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
        (status = 404, description = "No such job of the caller's", body = ErrorBody),
    ),
    security(("auth" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<UidQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Json<ArtifactList>, ApiError> {
    let Query(query) = query.map_err(ApiError::query_rejected)?;
    let uid: Uid = query.uid.parse()?;
    let keys = JobKeys::new(&caller.name, &uid);
    let store = state.jobs.store.as_ref();
    let Some(manifest) = store.get(&keys.artifacts_manifest()).await? else {
        return match store.head(&keys.meta()).await? {
            Some(_) => Ok(Json(ArtifactList::default())),
            None => Err(ApiError::UnknownJob(uid.to_string())),
        };
    };
    let mut list: ArtifactList = serde_json::from_slice(&manifest)
        .map_err(|e| crate::StoreError::Backend(format!("{}: {e}", keys.artifacts_manifest())))?;
    for artifact in &mut list.artifacts {
        let name = artifact.path.rsplit('/').next().unwrap_or(&artifact.path);
        let url = store
            .presign_download(&keys.artifact(&artifact.path), name, ARTIFACT_URL_TTL)
            .await?;
        artifact.url = absolute_url(&url, state.public_url.as_deref(), &headers);
    }
    Ok(Json(list))
}
