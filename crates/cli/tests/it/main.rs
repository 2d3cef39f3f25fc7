//! The command line's integration tests, one binary for all (each file a module): the
//! backend and the AWS SDK are linked once instead of once per file. nextest still runs
//! every test in a process of its own.

mod api;
mod aws;
mod binaries;
mod cli;
mod exec;
mod fargate;
mod files;
mod go_client;
mod isolation;
mod job_control;
mod lambda_watch;
mod log_transport;
mod login;
mod notify;
mod quiet_jobs;
mod readme;
mod retry;
mod schedules;
mod secrets;
mod state;
mod trust;
mod usage;
