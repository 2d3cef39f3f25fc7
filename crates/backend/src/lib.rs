//! The aws-exec service: HTTP API, auth, the runner, and the two seams that let the same code
//! run on one machine or on AWS: [`store::Store`] (a data directory or a bucket) and
//! [`dispatch::Dispatch`] (in-process or Lambda self-invocation).

pub mod api;
pub mod auth;
pub mod deadlines;
pub mod dispatch;
pub mod due;
pub mod fargate_edge;
pub mod housekeeping;
pub mod isolation;
pub mod job;
pub mod job_events;
pub mod lambda_edge;
pub mod lifecycle;
pub mod log_objects;
mod made_ahead;
pub mod notify;
pub mod on_first_call;
pub mod push_guard;
pub mod runner;
pub mod schedules;
pub mod secrets;
pub mod serve;
pub mod store;
mod time;
pub mod tree;
pub mod usage;

pub use api::{app, AppState};
pub use job::Job;
pub use runner::rpc::{Registry, Rpc, RpcContext};
pub use runner::{Runner, RunnerConfig};
pub use store::{Store, StoreError};
