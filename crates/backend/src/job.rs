//! A job as it travels from the API to a runner: in-process locally, as the Lambda
//! self-invocation payload on AWS. Every field checks itself when deserialized, so a job
//! event is as valid as a request the API accepted.

use aws_exec_protocol::keys::JobKeys;
use aws_exec_protocol::wire::Command;
use std::collections::BTreeSet;

use aws_exec_protocol::{AuthName, JobEnv, JobInputs, JobMeta, JobSecrets, Origin, PushUrls, Uid};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub owner: AuthName,
    pub uid: Uid,
    pub command: Command,
    #[serde(rename = "push-urls", default, skip_serializing_if = "Option::is_none")]
    pub push_urls: Option<PushUrls>,
    /// Seconds it may run, if it asked for a limit of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    #[serde(default, skip_serializing_if = "JobEnv::is_empty")]
    pub env: JobEnv,
    /// True when its standard input waits in the store (`stdin` beside its log).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stdin: bool,
    /// Uploaded files placed in its directory before it starts: path → key.
    #[serde(default, skip_serializing_if = "JobInputs::is_empty")]
    pub inputs: JobInputs,
    /// Those of its inputs placed executable.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub executable: BTreeSet<String>,
    /// The owner's secrets it gets, by name: the runner reads their values itself, so no
    /// value travels with a job.
    #[serde(default, skip_serializing_if = "JobSecrets::is_empty")]
    pub secrets: JobSecrets,
    /// Where the state of the definition that started it is kept, when it carries state
    /// (`schedules/OWNER/NAME/state/`): restored into `$AWS_EXEC_STATE` before it runs and
    /// saved after it exits 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Where its end is to be told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<aws_exec_protocol::Notify>,
    /// The schedule or trigger that started it, if no caller did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

impl Job {
    pub fn keys(&self) -> JobKeys {
        JobKeys::new(&self.owner, &self.uid)
    }

    /// Its metadata as of submit.
    pub fn queued_meta(&self) -> JobMeta {
        let mut meta = JobMeta::queued(
            self.uid.clone(),
            self.owner.clone(),
            self.command.clone(),
            self.push_urls.is_some(),
            self.timeout,
        );
        meta.notify = self.notify.clone();
        match &self.origin {
            Some(Origin::Schedule { name, .. }) => meta.schedule = Some(name.to_string()),
            Some(Origin::Trigger { name, .. }) => meta.trigger = Some(name.to_string()),
            None => {}
        }
        meta
    }
}
