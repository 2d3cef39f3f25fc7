//! Every error the API answers with, mapped to a status and a JSON `{"error": ...}` body in
//! one place. Client mistakes are 4xx and say what is wrong; the service's own failures are
//! 5xx with a generic message and a request id, the details going to the service's log.

use aws_exec_protocol::ErrorBody;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::dispatch::DispatchError;
use crate::lifecycle::JobError;
use crate::rpc::RpcLookupError;
use crate::schedules::SchedulerError;
use crate::secrets::SecretsError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing \"auth\" header")]
    MissingAuth,
    #[error("auth key not recognised")]
    BadAuth,
    #[error("{0}")]
    BadRequest(String),
    #[error("request body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("no job {0} for this auth key")]
    UnknownJob(String),
    #[error(
        "inputs.{path}: no uploaded input {key:?} for this auth key (POST /api/inputs gives one)"
    )]
    UnknownInput { path: String, key: String },
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Rpc(#[from] RpcLookupError),
    #[error("no {0} for this auth key")]
    UnknownDefinition(String),
    #[error(transparent)]
    Scheduler(#[from] SchedulerError),
    #[error("no such endpoint: {0}")]
    NoRoute(String),
    #[error("method not allowed; this path takes {allow}")]
    MethodNotAllowed { allow: &'static str },
    #[error("{owner} already has {limit} jobs queued or running, as many as one key may (MAX_JOBS_PER_USER); retry when some have ended")]
    TooManyJobs { owner: String, limit: usize },
    #[error(transparent)]
    Dispatch(#[from] DispatchError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MissingAuth | ApiError::BadAuth => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnknownJob(_)
            | ApiError::UnknownInput { .. }
            | ApiError::UnknownDefinition(_)
            | ApiError::NoRoute(_) => StatusCode::NOT_FOUND,
            ApiError::Scheduler(SchedulerError::Unsupported(_)) => StatusCode::BAD_REQUEST,
            ApiError::Scheduler(SchedulerError::NotConfigured(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Scheduler(SchedulerError::Backend(_)) => StatusCode::BAD_GATEWAY,
            ApiError::Rpc(RpcLookupError::Unknown { .. }) => StatusCode::NOT_FOUND,
            ApiError::Rpc(RpcLookupError::BadArgs { .. }) => StatusCode::BAD_REQUEST,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooManyJobs { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Dispatch(DispatchError::Busy { .. } | DispatchError::ShuttingDown) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Dispatch(DispatchError::OwnerFull { .. }) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Dispatch(DispatchError::Failed(_)) => StatusCode::BAD_GATEWAY,
            ApiError::Secrets(SecretsError::Missing(_) | SecretsError::Refused(_)) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Secrets(SecretsError::Unconfigured(_)) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Secrets(SecretsError::Misconfigured(_)) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Secrets(SecretsError::Backend(_)) => StatusCode::BAD_GATEWAY,
            ApiError::Store(StoreError::BadKey(_)) => StatusCode::BAD_REQUEST,
            ApiError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn body_rejected(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(aws_exec_protocol::limits::MAX_REQUEST_BYTES)
        } else {
            ApiError::BadRequest(format!(
                "cannot read request body: {}",
                rejection.body_text()
            ))
        }
    }

    pub fn query_rejected(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(format!("bad query string: {}", rejection.body_text()))
    }
}

impl From<JobError> for ApiError {
    fn from(e: JobError) -> Self {
        match e {
            JobError::BadRequest(why) => ApiError::BadRequest(why),
            JobError::UnknownJob(uid) => ApiError::UnknownJob(uid),
            JobError::UnknownInput { path, key } => ApiError::UnknownInput { path, key },
            JobError::UnknownDefinition(what) => ApiError::UnknownDefinition(what),
            JobError::Unprocessable(why) => ApiError::Unprocessable(why),
            JobError::Conflict(why) => ApiError::Conflict(why),
            JobError::TooManyJobs { owner, limit } => ApiError::TooManyJobs { owner, limit },
            JobError::Rpc(e) => ApiError::Rpc(e),
            JobError::Dispatch(e) => ApiError::Dispatch(e),
            JobError::Secrets(e) => ApiError::Secrets(e),
            JobError::Store(e) => ApiError::Store(e),
        }
    }
}

impl From<aws_exec_protocol::uid::UidError> for ApiError {
    fn from(e: aws_exec_protocol::uid::UidError) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let error = if status.is_server_error() {
            // Internal details (bucket names, paths, SDK messages) stay in the log.
            let request_id = format!("{:016x}", rand::random::<u64>());
            tracing::error!(error = %self, request_id, "request failed");
            match &self {
                ApiError::Dispatch(DispatchError::Busy { .. } | DispatchError::ShuttingDown)
                | ApiError::Scheduler(SchedulerError::NotConfigured(_))
                | ApiError::Secrets(
                    SecretsError::Unconfigured(_) | SecretsError::Misconfigured(_),
                ) => self.to_string(),
                _ => format!(
                    "the service failed to answer (request id {request_id}); retry, or report the id"
                ),
            }
        } else {
            self.to_string()
        };
        let mut response = (status, Json(ErrorBody { error })).into_response();
        if let ApiError::MethodNotAllowed { allow } = self {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}
