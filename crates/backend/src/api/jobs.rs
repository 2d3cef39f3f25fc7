//! `GET /api/jobs?state=&limit=&before=`: the caller's jobs, newest first, a page at a time.
//!
//! Jobs are found through the `index/NAME/` listing, ordered newest first by its key names,
//! so a page costs one listing request of the index from `before` on plus one read of
//! each listed job's meta (its entry): it follows the page size, not the number of jobs kept. A
//! state filter reads further until the page is full, at most [`SCAN_LIMIT`] jobs a page.

use aws_exec_protocol::keys::{job_index, job_index_prefix, parse_job_index, JobKeys};
use aws_exec_protocol::limits::{DEFAULT_LIST, MAX_LIST};
use aws_exec_protocol::{ErrorBody, JobList, ListQuery, Uid};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use futures_util::stream::{self, StreamExt};

use super::caller::Caller;
use super::error::ApiError;
use super::AppState;
use crate::records::load_meta;

/// Most index entries one page reads while filtering by state.
pub const SCAN_LIMIT: usize = 5000;

/// Metas read at once.
const READ_AHEAD: usize = 16;

#[utoipa::path(
    get,
    path = "/api/jobs",
    tag = "jobs",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of the caller's jobs, newest first", body = JobList),
        (status = 400, description = "A malformed state, limit or uid", body = ErrorBody),
        (status = 401, description = "A missing or unknown key", body = ErrorBody),
    ),
    security(("auth" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<JobList>, ApiError> {
    let Query(query) = query.map_err(ApiError::query_rejected)?;
    let limit = query.limit.unwrap_or(DEFAULT_LIST);
    if limit == 0 || limit > MAX_LIST {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1 to {MAX_LIST}; got {limit}"
        )));
    }
    let mut after = match query.before.as_deref().filter(|b| !b.is_empty()) {
        Some(before) => Some(job_index(&caller.name, &before.parse::<Uid>()?)),
        None => None,
    };
    let prefix = job_index_prefix(&caller.name);
    let store = state.jobs.store.as_ref();
    let owner = &caller.name;
    let mut jobs = Vec::new();
    let mut scanned = 0;
    let mut next = None;
    while jobs.len() < limit && scanned < SCAN_LIMIT {
        let want = if query.state.is_some() {
            MAX_LIST
        } else {
            limit - jobs.len()
        };
        let keys = store.list_page(&prefix, after.as_deref(), want).await?;
        let Some(last) = keys.last() else {
            next = None;
            break;
        };
        after = Some(last.clone());
        let full_page = keys.len() == want;
        let uids: Vec<Uid> = keys.iter().filter_map(|k| parse_job_index(k)).collect();
        let mut metas = stream::iter(uids)
            .map(|uid| async move { load_meta(store, &JobKeys::new(owner, &uid)).await })
            .buffered(READ_AHEAD);
        next = None;
        while let Some(meta) = metas.next().await {
            scanned += 1;
            // A job deleted by retention between the listing and the read is skipped.
            let Some(meta) = meta? else { continue };
            if query.state.is_none_or(|s| s == meta.state) {
                next = Some(meta.uid.to_string());
                jobs.push(meta);
                if jobs.len() == limit {
                    break;
                }
            }
        }
        if !full_page {
            if jobs.len() < limit {
                next = None;
            }
            break;
        }
        if jobs.len() < limit {
            // Filtering: continue the listing from where this page ended.
            next = after
                .as_deref()
                .and_then(parse_job_index)
                .map(|u| u.to_string());
        }
    }
    Ok(Json(JobList { jobs, next }))
}
