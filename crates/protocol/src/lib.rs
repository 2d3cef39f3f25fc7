//! The aws-exec protocol: what travels on the wire and where objects live.
//!
//! Shared by the service, the client library and the CLI. Nothing here does I/O, so every
//! rule about names, UIDs, keys and limits is checked the same way on both sides.

pub mod auth;
pub mod fargate;
pub mod files;
pub mod keys;
pub mod limits;
pub mod meta;
pub mod notify;
pub mod retry;
pub mod schedules;
pub mod secrets;
pub mod uid;
pub mod wire;

pub use auth::{AuthKey, AuthName};
pub use fargate::{RunLimits, TaskSize, Vcpus};
pub use files::{Artifact, ArtifactList, InputUpload, JobInputs, ARTIFACTS_ENV, STATE_ENV};
pub use meta::{JobEnd, JobMeta, JobState, Phase, Rerun, Usage};
pub use notify::{Delivery, Notify, NotifySecret};
pub use retry::{Attempt, Retry, ATTEMPT_ENV};
pub use schedules::{
    DefName, Deleted, LastRun, Origin, Overlap, Schedule, ScheduleList, ScheduleSpec, StateInfo,
    Trigger, TriggerList, TriggerSpec, UploadRequest,
};
pub use secrets::{JobSecrets, PutSecret, SecretInfo, SecretList, SecretName};
pub use uid::Uid;
pub use wire::{
    CancelResponse, ErrorBody, ExecQuery, ExecRequest, ExecResponse, Follow, JobEnv, JobList,
    JobOptions, ListQuery, PollQuery, PollResponse, PushUrls, UidQuery, WhoAmI, AUTH_HEADER,
    IDEMPOTENCY_HEADER,
};
