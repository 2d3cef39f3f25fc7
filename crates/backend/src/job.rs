//! A job as it travels from the API to a runner: in-process locally, as the Lambda
//! self-invocation payload on AWS.

use aws_exec_protocol::keys::JobKeys;
use aws_exec_protocol::wire::Command;
use aws_exec_protocol::{AuthName, PushUrls, Uid};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub owner: AuthName,
    pub uid: Uid,
    pub command: Command,
    #[serde(rename = "push-urls", default, skip_serializing_if = "Option::is_none")]
    pub push_urls: Option<PushUrls>,
}

impl Job {
    pub fn keys(&self) -> JobKeys {
        JobKeys::new(&self.owner, &self.uid)
    }
}
