//! What a build without the `aws` feature has in place of its AWS parts: the same names,
//! each answering that this build lacks them, so the command line and `serve` read the same
//! in both builds. No value of these types can exist. (Fargate's is `dispatch::fargate::absent`.)

use std::convert::Infallible;

use crate::WITHOUT_AWS;

/// Lambda mode's entry, absent.
pub mod lambda_edge {
    use super::WITHOUT_AWS;
    use crate::rpc::Registry;

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
    use crate::rpc::Registry;

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
