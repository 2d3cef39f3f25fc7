//! Limits every part agrees on.

use std::time::Duration;

/// The log object never grows past this many of the job's bytes; the rest is dropped and
/// the job's meta says so (`truncated`).
pub const MAX_LOG_BYTES: usize = 32 * 1024 * 1024;

/// Largest accepted `POST /api/exec` body.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// Most argv entries a submission may carry.
pub const MAX_ARGV: usize = 4096;

/// Most bytes of `env` names and values together in one request.
pub const MAX_ENV_BYTES: usize = 64 * 1024;

/// Most input files one job may name.
pub const MAX_INPUTS: usize = 100;

/// Longest path of an input or artifact inside a job's directory.
pub const MAX_PATH_BYTES: usize = 512;

/// Largest input file the local service accepts (S3 takes up to 5 GiB in one presigned PUT).
pub const MAX_INPUT_BYTES: u64 = 1024 * 1024 * 1024;

/// How long an input upload URL stays valid.
pub const INPUT_URL_TTL: Duration = Duration::from_secs(3600);

/// How long an artifact URL handed out by `GET /api/artifacts` stays valid.
pub const ARTIFACT_URL_TTL: Duration = Duration::from_secs(3600);

/// Most files, and most bytes in all, kept as one job's artifacts (a Lambda's ephemeral
/// storage bounds what a job can leave anyway).
pub const MAX_ARTIFACTS: usize = 1000;
pub const MAX_ARTIFACT_BYTES: u64 = 1024 * 1024 * 1024;

/// Jobs in one page of `GET /api/jobs`: the default and the most a caller may ask for.
pub const DEFAULT_LIST: usize = 50;
pub const MAX_LIST: usize = 1000;

/// How long an `Idempotency-Key` keeps returning the same job.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);

/// Longest accepted `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// How often a runner elsewhere (Lambda) looks for a cancel request: one small GET a second.
pub const CANCEL_CHECK: Duration = Duration::from_secs(1);

/// Longest accepted URL (a push URL, presigned, is a few hundred bytes).
pub const MAX_URL_BYTES: usize = 8192;

/// How long a log URL handed out by `GET /api/exec` stays valid.
pub const LOG_URL_TTL: Duration = Duration::from_secs(60);

/// How long the URLs a client follows a job's segments with stay valid.
pub const FOLLOW_URL_TTL: Duration = Duration::from_secs(600);

/// The longest a job may run: Lambda's own ceiling.
pub const MAX_RUN_TIME: Duration = Duration::from_secs(15 * 60);

/// The longest an async invocation may wait in Lambda's queue before it runs: infra.yaml's
/// `MaximumEventAgeInSeconds` says the same, and a test holds the two together.
pub const MAX_EVENT_AGE: Duration = Duration::from_secs(3600);

/// Slack on top of every "cannot still be running" bound: clocks differ, writes take time.
pub const LOST_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Jobs a local service runs at once, by default.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// Jobs waiting for a slot at a local service, by default.
pub const DEFAULT_QUEUE: usize = 1024;

/// Longest secret name, largest secret value, and most secrets one job may ask for.
pub const MAX_SECRET_NAME: usize = 64;
pub const MAX_SECRET_BYTES: usize = 4096;
pub const MAX_SECRETS: usize = 64;

/// The most secrets one key keeps in the local store (the file holding them is rewritten
/// whole on each change).
pub const MAX_SECRETS_PER_KEY: usize = 1000;

/// The most a definition's state may hold, in bytes and in files.
pub const MAX_STATE_BYTES: u64 = 100 * 1024 * 1024;
pub const MAX_STATE_FILES: usize = 10_000;
