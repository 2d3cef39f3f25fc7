//! Test support shared by the workspace's tests and benchmarks: real S3-protocol servers on
//! loopback (and a counting, fault-injecting proxy before them), the real local service on
//! port 0, `aws-exec serve` as a process, the static builds, a clean
//! environment for child processes, and waiting on a condition instead of sleeping.

pub mod ecs;
pub mod env;
pub mod s3;
pub mod s3_proxy;
pub mod service;
pub mod static_build;
pub mod terminal;
pub mod wait;

pub use ecs::LongRunner;
pub use s3::S3Server;
pub use s3_proxy::S3Proxy;
pub use service::{
    finished_job_printing, json_of, output_with_stdin, run_argv, run_request, run_sh, submit_sh,
    LocalServe, ServeProcess, Service,
};
pub use wait::{until_running, wait_until};
