//! The aws-exec service: HTTP API, auth, the runner, and the two seams that let the same code
//! run on one machine or on AWS: [`store::Store`] (a data directory or a bucket) and
//! [`dispatch::Dispatch`] (in-process or Lambda self-invocation).

pub mod api;
pub mod auth;
#[cfg(test)]
mod crash_store;
pub mod dispatch;
#[cfg(feature = "aws")]
pub mod fargate_edge;
pub mod housekeeping;
pub mod http_server;
pub mod job;
#[cfg(feature = "aws")]
pub mod lambda_edge;
pub mod lifecycle;
pub mod runner;
pub mod schedules;
pub mod serve;
#[cfg(not(feature = "aws"))]
mod without_aws;

// What the service keeps and sends lives in aws-exec-core, under the same names as before.
#[cfg(feature = "aws")]
pub use aws_exec_core::on_first_call;
pub use aws_exec_core::{
    deadlines, due, job_events, log_objects, log_sink, notify, push_guard, records, rpc, secrets,
    store, tree, usage,
};
use aws_exec_core::{made_ahead, time};
#[cfg(not(feature = "aws"))]
pub use without_aws::{fargate_edge, lambda_edge};

/// What a build without the `aws` feature answers where one of its AWS parts is asked for.
pub const WITHOUT_AWS: &str =
    "this aws-exec-server was built without its AWS parts (build it with `--features aws`)";

pub use api::{app, AppState};
pub use job::Job;
pub use rpc::{Registry, Rpc, RpcContext};
pub use runner::{Runner, RunnerConfig};
pub use store::{Store, StoreError};
