//! Lambda dispatch: the function invokes itself asynchronously (InvocationType Event) with
//! the job as payload; AWS queues it and answers 202 at once.

use async_trait::async_trait;
use aws_sdk_lambda::error::DisplayErrorContext;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use aws_sdk_lambda::Client;

use super::{Dispatch, DispatchError};
use crate::job::{Job, JobEvent};
use crate::on_first_call::OnFirstCall;

pub struct LambdaDispatch {
    client: OnFirstCall<Client>,
    function: String,
}

impl LambdaDispatch {
    /// Configured from the standard AWS settings; `AWS_ENDPOINT_URL_LAMBDA` (or
    /// `AWS_ENDPOINT_URL`) points it at another Invoke endpoint.
    pub async fn from_env(function: impl Into<String>) -> Self {
        let shared = crate::deadlines::aws_config().await;
        LambdaDispatch {
            client: OnFirstCall::new(move || Client::new(&shared)),
            function: function.into(),
        }
    }

    pub fn new(client: Client, function: impl Into<String>) -> Self {
        LambdaDispatch {
            client: OnFirstCall::ready(client),
            function: function.into(),
        }
    }
}

#[async_trait]
impl Dispatch for LambdaDispatch {
    async fn dispatch(&self, job: Job) -> Result<(), DispatchError> {
        let payload = serde_json::to_vec(&JobEvent { job }).expect("job serializes");
        let out = self
            .client
            .invoke()
            .function_name(&self.function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|e| DispatchError::Failed(DisplayErrorContext(e).to_string()))?;
        match out.status_code() {
            200..=299 => Ok(()),
            code => Err(DispatchError::Failed(format!(
                "invoke of {} answered {code}",
                self.function
            ))),
        }
    }
}
