//! `POST /api/inputs`: a presigned PUT URL for one input file, and the key a job names it
//! by in `"inputs"`. Keys live under the caller's own `inputs/NAME/`, so a job can place only
//! its owner's uploads (or, for a trigger's job, a file in its owner's inbox).

use aws_exec_protocol::keys::{input, input_prefix, parse_inbox, DefKind};
use aws_exec_protocol::limits::INPUT_URL_TTL;
use aws_exec_protocol::{AuthName, ErrorBody, InputUpload, JobInputs, Uid};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;

use super::caller::Caller;
use super::error::ApiError;
use super::{absolute_url, AppState};
use crate::store::Store;
use crate::time::now_unix;

#[utoipa::path(
    post,
    path = "/api/inputs",
    tag = "files",
    responses(
        (status = 200, description = "Where to PUT the file, and its key", body = InputUpload),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
    ),
    security(("auth" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Json<InputUpload>, ApiError> {
    let now = now_unix();
    let key = input(&caller.name, &Uid::new(now));
    let url = state.store.presign_put(&key, INPUT_URL_TTL).await?;
    Ok(Json(InputUpload {
        url: absolute_url(&url, state.public_url.as_deref(), &headers),
        key,
        expires: now + INPUT_URL_TTL.as_secs(),
    }))
}

/// At submit: every input is the caller's and was uploaded, so a job never fails later for
/// a file it could not have had (404 naming the path otherwise).
pub async fn check(
    store: &dyn Store,
    owner: &AuthName,
    inputs: &JobInputs,
) -> Result<(), ApiError> {
    let mine = input_prefix(owner);
    for (path, key) in inputs.iter() {
        // A trigger's job takes its upload straight from the owner's inbox.
        let owned = key
            .strip_prefix(&mine)
            .is_some_and(|id| id.parse::<Uid>().is_ok())
            || parse_inbox(key).is_some_and(|(who, _)| &who == owner)
            // A schedule's or trigger's own copy, which its runs use.
            || [DefKind::Schedule, DefKind::Trigger]
                .iter()
                .any(|kind| kind.input_owner(key).as_ref() == Some(owner));
        if !owned || store.head(key).await?.is_none() {
            return Err(ApiError::UnknownInput {
                path: path.clone(),
                key: key.chars().take(200).collect(),
            });
        }
    }
    Ok(())
}
