//! A job as it travels from the API to a runner: in-process locally, as the Lambda
//! self-invocation payload on AWS. Every field checks itself when deserialized, so a job
//! event is as valid as a request the API accepted.

use aws_exec_protocol::keys::JobKeys;
use aws_exec_protocol::wire::Command;
use std::collections::BTreeSet;

use aws_exec_protocol::{
    AuthName, JobEnv, JobInputs, JobMeta, JobSecrets, Origin, PushUrls, Retry, TaskSize, Uid,
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
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
    /// How it is run again after a failing end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    /// Which attempt this is: 1 (or 0, as older events say) for the first.
    #[serde(default, skip_serializing_if = "is_first")]
    pub attempt: u32,
    /// Where this attempt's log goes on from, after the attempts before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<Resume>,
    /// The Fargate task it runs as, when it runs as one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fargate: Option<TaskSize>,
    /// Set while it is kept quiet for the caller waiting on it; it never leaves this process.
    #[serde(skip)]
    pub quiet: Option<std::sync::Arc<crate::lifecycle::quiet::Quiet>>,
    /// It was queued when the service stopped, and kept for its next start
    /// ([`crate::lifecycle::retry::keep_for_restart`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub requeued: bool,
}

/// Where a later attempt's log begins: the bytes the attempts before it stored, and the
/// number of the next log segment (on S3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    pub bytes: u64,
    pub segment: u64,
    /// The log so far ends inside a line.
    #[serde(default, rename = "mid-line")]
    pub mid_line: bool,
}

fn is_first(attempt: &u32) -> bool {
    *attempt <= 1
}

impl Job {
    pub fn keys(&self) -> JobKeys {
        JobKeys::new(&self.owner, &self.uid)
    }

    /// Which attempt this is: 1 for the first.
    pub fn attempt(&self) -> u32 {
        self.attempt.max(1)
    }

    /// Its metadata as of submit.
    /// What it was given beside its command, as a request spells it, for running it again.
    fn rerun(&self) -> aws_exec_protocol::Rerun {
        let owned = |(k, v): (&String, &String)| (k.clone(), v.clone());
        aws_exec_protocol::Rerun {
            env: self.env.iter().map(owned).collect(),
            inputs: self.inputs.iter().map(owned).collect(),
            executable: self.executable.iter().cloned().collect(),
            secrets: self.secrets.env.iter().map(|n| n.to_string()).collect(),
            secret_files: (self.secrets.files.iter())
                .map(|(path, name)| (path.clone(), name.to_string()))
                .collect(),
            stdin: self.stdin,
        }
    }

    pub fn queued_meta(&self) -> JobMeta {
        let mut meta = JobMeta::queued(
            self.uid.clone(),
            self.owner.clone(),
            self.command.clone(),
            self.push_urls.is_some(),
            self.timeout,
        );
        meta.notify = self.notify.clone();
        meta.rerun = self.rerun();
        if let Some(size) = self.fargate {
            meta.runner = Some(aws_exec_protocol::fargate::FARGATE.to_owned());
            meta.task_size = Some(size);
        }
        if self.retry.is_some() {
            meta.retry = self.retry.clone();
            meta.attempt = Some(self.attempt());
        }
        match &self.origin {
            Some(Origin::Schedule { name, .. }) => meta.schedule = Some(name.to_string()),
            Some(Origin::Trigger { name, .. }) => meta.trigger = Some(name.to_string()),
            None => {}
        }
        meta
    }
}

#[cfg(test)]
impl Job {
    /// Alice's `true`, attempt 1, asking for `retry`: the unit tests' job.
    pub fn for_tests(retry: Option<aws_exec_protocol::Retry>) -> Job {
        Job {
            owner: "alice".parse().unwrap(),
            uid: aws_exec_protocol::Uid::now(),
            command: aws_exec_protocol::wire::Command::argv(vec!["true".into()]).unwrap(),
            push_urls: None,
            timeout: None,
            env: Default::default(),
            stdin: false,
            inputs: Default::default(),
            executable: Default::default(),
            secrets: Default::default(),
            state: None,
            notify: None,
            origin: None,
            retry,
            attempt: 1,
            resume: None,
            fargate: None,
            quiet: None,
            requeued: false,
        }
    }
}

/// The key under which an invocation of the jobs function carries its job. API Gateway and
/// function-URL events are shaped by AWS and never have it, so HTTP callers cannot start the
/// runner.
pub const JOB_EVENT_KEY: &str = "aws-exec-job";

/// The key of the jobs function's word to the API function that a job ended with work left
/// for it ([`AfterJobEvent`]).
pub const AFTER_JOB_EVENT_KEY: &str = "aws-exec-after-job";

/// What the jobs function sends the API function when a job's end leaves a notification to
/// send or an attempt to start: it names nothing, the API function looks at what is due.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct AfterJobEvent {
    #[serde(rename = "aws-exec-after-job")]
    pub after_job: serde_json::Map<String, serde_json::Value>,
}

/// The payload of the API function's invocation of the jobs function (Lambda dispatch).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct JobEvent {
    #[serde(rename = "aws-exec-job")]
    pub job: Job,
}
