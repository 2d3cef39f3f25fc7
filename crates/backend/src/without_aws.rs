//! What a build without the `aws` feature has in place of its AWS parts: the same names,
//! each answering that this build lacks them, so the command line and `serve` read the same
//! in both builds. No value of these types can exist: nothing here runs a job elsewhere.

use std::convert::Infallible;
use std::sync::Arc;

use async_trait::async_trait;

use crate::dispatch::fargate::{FargateConfig, TaskState};
use crate::dispatch::{Dispatch, DispatchError};
use crate::job::Job;
use crate::store::Store;
use crate::WITHOUT_AWS;

/// No Fargate task can be started here ([`FargateConfig::from_env`] refuses `ECS_CLUSTER`).
pub enum FargateTasks {}

impl FargateTasks {
    pub async fn from_config(config: FargateConfig) -> Self {
        let _ = config;
        unreachable!("FargateConfig::from_env makes no config in a build without aws")
    }

    pub fn config(&self) -> &FargateConfig {
        match *self {}
    }

    pub async fn stop(&self, _arn: &str, _reason: &str) -> Result<(), String> {
        match *self {}
    }

    pub async fn state(&self, _arn: &str) -> Result<TaskState, String> {
        match *self {}
    }
}

pub struct FargateDispatch(Infallible);

impl FargateDispatch {
    pub fn new(
        tasks: Arc<FargateTasks>,
        _store: Arc<dyn Store>,
        _inner: Arc<dyn Dispatch>,
    ) -> Self {
        match *tasks {}
    }
}

#[async_trait]
impl Dispatch for FargateDispatch {
    async fn dispatch(&self, _job: Job) -> Result<(), DispatchError> {
        match self.0 {}
    }
}

/// Lambda mode's entry, absent.
pub mod lambda_edge {
    use super::WITHOUT_AWS;
    use crate::runner::rpc::Registry;

    pub enum LambdaApp {}

    #[derive(Debug, thiserror::Error)]
    #[error("Lambda mode: {WITHOUT_AWS}")]
    pub struct LambdaSetupError;

    impl LambdaApp {
        pub async fn from_env(
            _registry: Registry,
            _rpc_process: Option<Vec<String>>,
        ) -> Result<Self, LambdaSetupError> {
            Err(LambdaSetupError)
        }

        pub async fn run(self) -> Result<(), super::Infallible> {
            match self {}
        }
    }
}

/// The Fargate container's entry, absent.
pub mod fargate_edge {
    use super::WITHOUT_AWS;
    use crate::runner::rpc::Registry;

    #[derive(Debug, thiserror::Error)]
    #[error("run-job: {WITHOUT_AWS}")]
    pub struct RunJobError;

    pub async fn run_job(
        _registry: Registry,
        _rpc_process: Option<Vec<String>>,
        _owner: &str,
        _uid: &str,
    ) -> Result<i32, RunJobError> {
        Err(RunJobError)
    }
}
