//! Fargate in a build without the `aws` feature: the same names, none of which can have a
//! value ([`FargateConfig::from_env`] refuses `ECS_CLUSTER` there), so `serve` reads the same.

use std::convert::Infallible;
use std::sync::Arc;

use async_trait::async_trait;

use super::{FargateConfig, TaskState};
use crate::dispatch::{Dispatch, DispatchError};
use crate::job::Job;
use crate::store::Store;

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
