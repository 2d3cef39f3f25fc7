//! The aws-exec service: HTTP API, auth, the runner, and the two seams that let the same code
//! run on one machine or on AWS: [`store::Store`] (a data directory or a bucket) and
//! [`dispatch::Dispatch`] (in-process or Lambda self-invocation).

pub mod api;
pub mod auth;
pub mod deadlines;
pub mod dispatch;
pub mod due;
#[cfg(feature = "aws")]
pub mod fargate_edge;
pub mod housekeeping;
pub mod job;
pub mod job_events;
#[cfg(feature = "aws")]
pub mod lambda_edge;
pub mod lifecycle;
pub mod log_objects;
pub mod log_sink;
mod made_ahead;
pub mod notify;
#[cfg(feature = "aws")]
pub mod on_first_call;
pub mod push_guard;
pub mod records;
pub mod rpc;
pub mod runner;
pub mod schedules;
pub mod secrets;
pub mod serve;
pub mod store;
mod time;
pub mod tree;
pub mod usage;
#[cfg(not(feature = "aws"))]
mod without_aws;
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
