//! Lambda dispatch: the API function invokes the jobs function asynchronously
//! (InvocationType Event) with the job as payload and its owner as tenant id, so that each
//! owner's jobs run in execution environments of their own; AWS queues it and answers 202
//! at once. The jobs function uses the same client to hand the API function what a job's
//! end leaves to do ([`LambdaDispatch::after_job`]).

use async_trait::async_trait;
use aws_sdk_lambda::error::DisplayErrorContext;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use aws_sdk_lambda::Client;

use super::{Dispatch, DispatchError};
use crate::job::{AfterJobEvent, Job, JobEvent};
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
        let tenant = job.owner.to_string();
        let payload = serde_json::to_vec(&JobEvent { job }).expect("job serializes");
        self.invoke(payload, Some(tenant)).await
    }
}

impl LambdaDispatch {
    /// Tells the API function that a job ended with work left for it: a notification to
    /// send, or an attempt to start or wake up for.
    pub async fn after_job(&self) -> Result<(), DispatchError> {
        let payload = serde_json::to_vec(&AfterJobEvent::default()).expect("serializes");
        self.invoke(payload, None).await
    }

    async fn invoke(&self, payload: Vec<u8>, tenant: Option<String>) -> Result<(), DispatchError> {
        let out = self
            .client
            .invoke()
            .function_name(&self.function)
            .invocation_type(InvocationType::Event)
            .set_tenant_id(tenant)
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
