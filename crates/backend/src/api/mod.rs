//! The HTTP API as one function, [`app`]: the local server and the Lambda adapter both
//! serve it, and tests drive it directly.

use std::sync::Arc;

use aws_exec_protocol::limits::MAX_REQUEST_BYTES;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderMap, Uri};
use axum::routing::get;
use axum::Router;

use crate::lifecycle::Jobs;
use crate::schedules::Scheduler;

pub mod artifacts;
pub mod caller;
pub mod cancel;
pub mod error;
pub mod exec;
pub mod health;
pub mod idempotency;
pub mod inputs;
pub mod job;
pub mod jobs;
pub mod notify;
pub mod openapi;
mod openapi_strict;
pub mod schedules;
pub mod secrets;
pub mod signed_objects;
pub mod state;
pub mod triggers;
pub mod uploads;
pub mod web;

use error::ApiError;

#[derive(Clone)]
pub struct AppState {
    /// Where jobs are submitted, run, cancelled and ended.
    pub jobs: Jobs,
    /// The address callers reach this service at, when it cannot be told from the request.
    pub public_url: Option<String>,
    /// What makes stored schedules fire.
    pub scheduler: Arc<dyn Scheduler>,
    /// Where the page reads logs from besides this origin and AWS's S3: a store on another
    /// S3 endpoint (`serve --bucket` with `AWS_ENDPOINT_URL`), by the origin of its URLs.
    pub page_reads_from: Option<String>,
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .route(
            "/api/exec",
            get(exec::poll)
                .post(exec::submit)
                .delete(cancel::cancel)
                .fallback(not_allowed("GET, POST, DELETE")),
        )
        .route("/api/job", get(job::meta).fallback(not_allowed("GET")))
        .route(
            "/api/inputs",
            axum::routing::post(inputs::create).fallback(not_allowed("POST")),
        )
        .route(
            "/api/artifacts",
            get(artifacts::list).fallback(not_allowed("GET")),
        )
        .route("/api/jobs", get(jobs::list).fallback(not_allowed("GET")))
        .route(
            "/api/uploads",
            axum::routing::post(uploads::create).fallback(not_allowed("POST")),
        )
        .route(
            "/api/schedules",
            get(schedules::list).fallback(not_allowed("GET")),
        )
        .route(
            "/api/schedules/{name}",
            get(schedules::get)
                .put(schedules::put)
                .delete(schedules::delete)
                .fallback(not_allowed("GET, PUT, DELETE")),
        )
        .route(
            "/api/schedules/{name}/run",
            axum::routing::post(schedules::run).fallback(not_allowed("POST")),
        )
        .route(
            "/api/schedules/{name}/state",
            get(state::schedule)
                .delete(state::reset_schedule)
                .fallback(not_allowed("GET, DELETE")),
        )
        .route(
            "/api/triggers/{name}/state",
            get(state::trigger)
                .delete(state::reset_trigger)
                .fallback(not_allowed("GET, DELETE")),
        )
        .route(
            "/api/triggers",
            get(triggers::list).fallback(not_allowed("GET")),
        )
        .route(
            "/api/triggers/{name}",
            get(triggers::get)
                .put(triggers::put)
                .delete(triggers::delete)
                .fallback(not_allowed("GET, PUT, DELETE")),
        )
        .route(
            "/api/secrets",
            get(secrets::list).fallback(not_allowed("GET")),
        )
        .route(
            "/api/secrets/{name}",
            axum::routing::put(secrets::put)
                .delete(secrets::delete)
                .fallback(not_allowed("PUT, DELETE")),
        )
        .route(
            "/api/notify/secret",
            get(notify::get)
                .post(notify::rotate)
                .fallback(not_allowed("GET, POST")),
        )
        .route("/api/whoami", get(job::whoami).fallback(not_allowed("GET")))
        .route(
            "/api/health",
            get(health::health).fallback(not_allowed("GET")),
        )
        .route(
            "/api/openapi.json",
            get(openapi::document).fallback(not_allowed("GET")),
        )
        .merge(web::routes(state.page_reads_from.clone()))
        .fallback(|uri: Uri| async move { ApiError::NoRoute(uri.path().to_owned()) })
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(state)
}

/// The answer to a method a path does not have: 405 naming those it has.
fn not_allowed(allow: &'static str) -> impl Fn() -> std::future::Ready<ApiError> + Clone {
    move || std::future::ready(ApiError::MethodNotAllowed { allow })
}

/// A JSON body read into `T`; the error names the field at fault ("timeout", "env.A",
/// "exec.argv").
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(body)).map_err(|e| {
        match e.path().to_string().as_str() {
            "." => ApiError::BadRequest(format!("malformed JSON body: {}", e.inner())),
            path => ApiError::BadRequest(format!("malformed JSON body: {path}: {}", e.inner())),
        }
    })
}

/// The name in a path such as `/api/schedules/{name}`, refused as every bad request is (a
/// JSON 400) when it does not decode to UTF-8; axum's own refusal is plain text.
pub struct NameInPath(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for NameInPath {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(name)| NameInPath(name))
            .map_err(|r| ApiError::BadRequest(format!("bad name in the path: {}", r.body_text())))
    }
}

/// Resolves a store URL relative to this service (the local store's) against the address
/// the caller used to reach us.
pub(crate) fn absolute_url(url: &str, public_url: Option<&str>, headers: &HeaderMap) -> String {
    if !url.starts_with('/') {
        return url.to_owned();
    }
    if let Some(base) = public_url {
        return format!("{}{url}", base.trim_end_matches('/'));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    format!("{scheme}://{host}{url}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;

    #[test]
    fn relative_urls_resolve_against_the_callers_host() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(
            absolute_url("/_store/k", None, &h),
            "http://127.0.0.1:9000/_store/k"
        );
        assert_eq!(
            absolute_url("/_store/k", Some("https://x.dev/"), &h),
            "https://x.dev/_store/k"
        );
        assert_eq!(absolute_url("https://s3/x", None, &h), "https://s3/x");
    }
}
