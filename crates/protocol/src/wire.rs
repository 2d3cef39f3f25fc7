//! Request and response bodies of the HTTP API, spelled as aws-exec spells them.
//!
//! Types that reach a runner ([`Command`], [`PushUrls`]) are valid by construction: they
//! check themselves when deserialized, so a job event cannot carry what the API would refuse.

use serde::{Deserialize, Serialize};

use std::collections::{BTreeMap, BTreeSet};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

use crate::files::JobInputs;
use crate::limits::{MAX_ARGV, MAX_ENV_BYTES, MAX_URL_BYTES};
use crate::meta::{JobMeta, JobState};
use crate::secrets::{JobSecrets, SecretName};

/// The header carrying the caller's auth key.
pub const AUTH_HEADER: &str = "auth";

/// `POST /api/exec` body: either `argv` or `rpc-name` (+ `rpc-args`). Zero values (`null`,
/// `""`) mean "absent", as aws-exec's own Go client sends every field. A field it does not
/// know is refused: a misspelt `timeout` must not start a job without one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
    #[serde(rename = "rpc-name", default, skip_serializing_if = "Option::is_none")]
    pub rpc_name: Option<String>,
    /// JSON text (a string holding JSON, as aws-exec sends it).
    #[serde(rename = "rpc-args", default, skip_serializing_if = "Option::is_none")]
    pub rpc_args: Option<String>,
    #[serde(rename = "push-urls", default, skip_serializing_if = "Option::is_none")]
    pub push_urls: Option<PushUrls>,
    /// Seconds the job may run before it is stopped (state `timed-out`, exit 124).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub timeout: Option<u64>,
    /// Variables added to the job's environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
    /// The job's standard input, base64 (standard alphabet, padded); `/dev/null` without.
    #[serde(
        rename = "stdin-base64",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub stdin_base64: Option<String>,
    /// Uploaded files to place in the job's directory: relative path → key from
    /// `POST /api/inputs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<BTreeMap<String, String>>,
    /// Paths among `inputs` placed executable (a script sent with its mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable: Option<Vec<String>>,
    /// Names of the caller's secrets (`PUT /api/secrets/NAME`), each given to the job as
    /// the variable of that name; values are read when the job starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Vec<String>>,
    /// Secrets placed as files readable by the job alone: relative path → secret name.
    #[serde(
        rename = "secret-files",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub secret_files: Option<BTreeMap<String, String>>,
    /// Where to POST a signed notification when the job ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<crate::notify::Notify>,
    /// Run it again after a failing end, up to a number of attempts in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<crate::retry::Retry>,
    /// `"fargate"`: run it as an ECS Fargate task, for hours if its timeout says so (a
    /// timeout over what Lambda can run asks for it too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<String>,
    /// The Fargate task's vCPUs (0.25 to 16); with `memory-mb`, the smallest size that
    /// holds both is picked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<crate::fargate::Vcpus>,
    /// The Fargate task's memory, in MiB.
    #[serde(rename = "memory-mb", default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u32>,
}

/// Variables for a job's environment: names `[A-Za-z_][A-Za-z0-9_]*`, no NUL anywhere,
/// at most [`MAX_ENV_BYTES`] in all. Checked when made and when deserialized.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    try_from = "BTreeMap<String, String>",
    into = "BTreeMap<String, String>"
)]
pub struct JobEnv(BTreeMap<String, String>);

impl TryFrom<BTreeMap<String, String>> for JobEnv {
    type Error = RequestError;

    fn try_from(vars: BTreeMap<String, String>) -> Result<Self, RequestError> {
        let mut total = 0;
        for (name, value) in &vars {
            let mut chars = name.chars();
            let name_ok = chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !name_ok {
                return Err(RequestError::BadEnvName(name.chars().take(64).collect()));
            }
            if value.contains('\0') {
                return Err(RequestError::NulInEnv(name.clone()));
            }
            total += name.len() + value.len();
        }
        if total > MAX_ENV_BYTES {
            return Err(RequestError::EnvTooLarge(total));
        }
        Ok(JobEnv(vars))
    }
}

impl From<JobEnv> for BTreeMap<String, String> {
    fn from(env: JobEnv) -> Self {
        env.0
    }
}

impl JobEnv {
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter()
    }
}

/// The checked options of a request besides its command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobOptions {
    pub timeout: Option<u64>,
    pub env: JobEnv,
    pub stdin: Option<Vec<u8>>,
    pub inputs: JobInputs,
    /// Those of `inputs` placed executable.
    pub executable: BTreeSet<String>,
    pub secrets: JobSecrets,
    /// The Fargate task it runs as, when it runs as one.
    pub fargate: Option<crate::fargate::TaskSize>,
}

/// Caller-owned presigned PUT URLs that receive a job's objects instead of the service's
/// store. Each is an http(s) URL, checked when deserialized.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "PushUrlsRepr")]
pub struct PushUrls {
    pub log: String,
    pub exit: String,
    pub size: String,
}

#[derive(Deserialize)]
struct PushUrlsRepr {
    log: String,
    exit: String,
    size: String,
}

impl TryFrom<PushUrlsRepr> for PushUrls {
    type Error = RequestError;

    fn try_from(r: PushUrlsRepr) -> Result<Self, RequestError> {
        PushUrls::new(r.log, r.exit, r.size)
    }
}

impl PushUrls {
    pub fn new(
        log: impl Into<String>,
        exit: impl Into<String>,
        size: impl Into<String>,
    ) -> Result<Self, RequestError> {
        let urls = PushUrls {
            log: log.into(),
            exit: exit.into(),
            size: size.into(),
        };
        for (name, url) in urls.named() {
            let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
            if !scheme_ok || url.len() > MAX_URL_BYTES {
                return Err(RequestError::BadPushUrl(name));
            }
        }
        Ok(urls)
    }

    /// Each URL with the name of the object it receives.
    pub fn named(&self) -> [(&'static str, &str); 3] {
        [
            ("log", &self.log),
            ("exit", &self.exit),
            ("size", &self.size),
        ]
    }
}

/// What a job runs. Only [`Command::argv`] and [`Command::rpc`] make one (deserializing
/// goes through them too), so every `Command` has a program or a name and valid args.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CommandRepr", into = "CommandRepr")]
pub enum Command {
    Argv { argv: Vec<String> },
    Rpc { name: String, args: String },
}

/// The serialized shape of [`Command`], checked on the way in.
#[derive(Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case", tag = "kind")]
#[schema(as = Command)]
pub(crate) enum CommandRepr {
    Argv {
        argv: Vec<String>,
    },
    Rpc {
        #[serde(rename = "rpc-name")]
        name: String,
        /// JSON text; `null` when the caller sent none.
        #[serde(rename = "rpc-args")]
        args: String,
    },
}

impl TryFrom<CommandRepr> for Command {
    type Error = RequestError;

    fn try_from(r: CommandRepr) -> Result<Self, RequestError> {
        match r {
            CommandRepr::Argv { argv } => Command::argv(argv),
            CommandRepr::Rpc { name, args } => Command::rpc(name, &args),
        }
    }
}

impl From<Command> for CommandRepr {
    fn from(c: Command) -> Self {
        match c {
            Command::Argv { argv } => CommandRepr::Argv { argv },
            Command::Rpc { name, args } => CommandRepr::Rpc { name, args },
        }
    }
}

impl Command {
    /// A subprocess: a non-empty program name, at most [`MAX_ARGV`] entries, no NUL bytes.
    pub fn argv(argv: Vec<String>) -> Result<Self, RequestError> {
        match argv.first() {
            None => return Err(RequestError::EmptyArgv),
            Some(program) if program.is_empty() => return Err(RequestError::EmptyProgram),
            Some(_) => {}
        }
        if argv.len() > MAX_ARGV {
            return Err(RequestError::TooManyArgs(argv.len()));
        }
        if argv.iter().any(|a| a.contains('\0')) {
            return Err(RequestError::NulInArgv);
        }
        Ok(Command::Argv { argv })
    }

    /// A named function; `args` is JSON text, and empty means `null`.
    pub fn rpc(name: String, args: &str) -> Result<Self, RequestError> {
        if name.is_empty() {
            return Err(RequestError::EmptyRpcName);
        }
        let args = if args.is_empty() {
            "null".to_owned()
        } else {
            serde_json::from_str::<serde_json::Value>(args)
                .map_err(|e| RequestError::BadRpcArgs(e.to_string()))?;
            args.to_owned()
        };
        Ok(Command::Rpc { name, args })
    }

    /// How the command reads to a person: the argv joined, or `rpc NAME ARGS`.
    pub fn display(&self) -> String {
        match self {
            Command::Argv { argv } => argv.join(" "),
            Command::Rpc { name, args } => format!("rpc {name} {args}"),
        }
    }
}

/// Why a request body cannot become a [`Command`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("request needs either \"argv\" or \"rpc-name\"")]
    NoCommand,
    #[error("request has both \"argv\" and \"rpc-name\"; send one")]
    BothCommands,
    #[error("\"argv\" is empty")]
    EmptyArgv,
    #[error("\"argv\"[0] is an empty string")]
    EmptyProgram,
    #[error("\"argv\" has {0} entries; the limit is {MAX_ARGV}")]
    TooManyArgs(usize),
    #[error("\"argv\" entries cannot contain NUL bytes")]
    NulInArgv,
    #[error("\"rpc-name\" is empty")]
    EmptyRpcName,
    #[error("\"rpc-args\" is not valid JSON text: {0}")]
    BadRpcArgs(String),
    #[error("push-urls.{0} must be an http(s) URL of at most {MAX_URL_BYTES} bytes")]
    BadPushUrl(&'static str),
    #[error("\"timeout\" must be 1 to {max} seconds; got {got}")]
    BadTimeout { got: u64, max: u64 },
    #[error("\"env\" name {0:?} is not [A-Za-z_][A-Za-z0-9_]*")]
    BadEnvName(String),
    #[error("\"env\" value of {0} contains a NUL byte")]
    NulInEnv(String),
    #[error("\"env\" holds {0} bytes; the limit is {MAX_ENV_BYTES}")]
    EnvTooLarge(usize),
    #[error("\"stdin-base64\" is not valid base64: {0}")]
    BadStdin(String),
    #[error("inputs: {0:?} is not a relative path inside the job's directory (no \"..\", no leading \"/\", not under tmp/ or artifacts/)")]
    BadInputPath(String),
    #[error("inputs: {0} files; the limit is {max}", max = crate::limits::MAX_INPUTS)]
    TooManyInputs(usize),
    #[error("executable: {0:?} is not one of the inputs")]
    UnknownExecutable(String),
    #[error("{field}: {error}")]
    BadSecret {
        field: &'static str,
        error: crate::secrets::SecretError,
    },
    #[error("secret-files: {0:?} is not a relative path inside the job's directory, or is also an input")]
    BadSecretFile(String),
    #[error("secrets: {0} names; the limit is {max}", max = crate::limits::MAX_SECRETS)]
    TooManySecrets(usize),
    #[error("secrets: {0} is also set in \"env\"; a variable comes from one of them")]
    SecretInEnv(String),
    #[error("{0}")]
    BadNotify(String),
    #[error("{0}")]
    BadRetry(String),
    #[error("{0}")]
    BadRunner(String),
}

impl ExecRequest {
    pub fn argv<I: IntoIterator<Item = S>, S: Into<String>>(argv: I) -> Self {
        ExecRequest {
            argv: Some(argv.into_iter().map(Into::into).collect()),
            ..Default::default()
        }
    }

    pub fn rpc(name: impl Into<String>, args_json: impl Into<String>) -> Self {
        ExecRequest {
            rpc_name: Some(name.into()),
            rpc_args: Some(args_json.into()),
            ..Default::default()
        }
    }

    /// Adds a timeout in seconds.
    pub fn timeout(mut self, seconds: u64) -> Self {
        self.timeout = Some(seconds);
        self
    }

    /// Adds a variable to the job's environment.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env
            .get_or_insert_with(BTreeMap::new)
            .insert(name.into(), value.into());
        self
    }

    /// Places the uploaded file `key` at `path` in the job's directory.
    pub fn input(mut self, path: impl Into<String>, key: impl Into<String>) -> Self {
        self.inputs
            .get_or_insert_with(BTreeMap::new)
            .insert(path.into(), key.into());
        self
    }

    /// Marks input `path` (added with [`ExecRequest::input`]) to be placed executable.
    pub fn executable(mut self, path: impl Into<String>) -> Self {
        self.executable
            .get_or_insert_with(Vec::new)
            .push(path.into());
        self
    }

    /// Gives the job the caller's secret `name` as the variable of that name.
    pub fn secret(mut self, name: impl Into<String>) -> Self {
        self.secrets.get_or_insert_with(Vec::new).push(name.into());
        self
    }

    /// POSTs a signed notification to `url` when the job ends (on any end state).
    pub fn notify(mut self, url: impl Into<String>) -> Self {
        self.notify = Some(crate::notify::Notify {
            url: url.into(),
            on: Vec::new(),
        });
        self
    }

    /// Places the caller's secret `name` as a file at `path` in the job's directory.
    pub fn secret_file(mut self, path: impl Into<String>, name: impl Into<String>) -> Self {
        self.secret_files
            .get_or_insert_with(BTreeMap::new)
            .insert(path.into(), name.into());
        self
    }

    /// Sets the job's standard input.
    pub fn stdin(mut self, bytes: impl AsRef<[u8]>) -> Self {
        self.stdin_base64 = Some(BASE64.encode(bytes));
        self
    }

    /// Checks timeout (up to `max_timeout` seconds), env and stdin.
    pub fn options(&self, limits: &crate::fargate::RunLimits) -> Result<JobOptions, RequestError> {
        let fargate = self.fargate(limits)?;
        let max_timeout = match fargate {
            Some(_) => limits.long_max_timeout.unwrap_or(limits.max_timeout),
            None => limits.max_timeout,
        };
        if let Some(t) = self.timeout {
            if t == 0 || t > max_timeout {
                return Err(RequestError::BadTimeout {
                    got: t,
                    max: max_timeout,
                });
            }
        }
        let env = JobEnv::try_from(self.env.clone().unwrap_or_default())?;
        let stdin = match self.stdin_base64.as_deref() {
            None => None,
            Some(text) => Some(
                BASE64
                    .decode(text)
                    .map_err(|e| RequestError::BadStdin(e.to_string()))?,
            ),
        };
        let inputs = JobInputs::try_from(self.inputs.clone().unwrap_or_default())?;
        let executable: BTreeSet<String> = self.executable.iter().flatten().cloned().collect();
        if let Some(path) = executable.iter().find(|p| !inputs.contains(p)) {
            return Err(RequestError::UnknownExecutable(
                path.chars().take(200).collect(),
            ));
        }
        let secrets = self.job_secrets(&env, &inputs)?;
        if let Some(notify) = &self.notify {
            notify.check().map_err(RequestError::BadNotify)?;
        }
        if let Some(retry) = &self.retry {
            retry.check().map_err(RequestError::BadRetry)?;
            if self.push_urls.is_some() {
                return Err(RequestError::BadRetry(
                    "retry cannot be used with push-urls: the log of every attempt must be kept in the service's store".to_owned(),
                ));
            }
        }
        Ok(JobOptions {
            timeout: self.timeout,
            env,
            stdin,
            inputs,
            executable,
            secrets,
            fargate,
        })
    }

    /// The Fargate task the job runs as, if it asks for one (by `runner`, or a timeout over
    /// what runs elsewhere) and the service has the long runner.
    fn fargate(
        &self,
        limits: &crate::fargate::RunLimits,
    ) -> Result<Option<crate::fargate::TaskSize>, RequestError> {
        use crate::fargate::{TaskSize, FARGATE};
        let asked = match self.runner.as_deref() {
            None => false,
            Some(FARGATE) => true,
            Some(other) => {
                return Err(RequestError::BadRunner(format!(
                    "unknown \"runner\" {:?}; the one to ask for is \"{FARGATE}\" (leave it out to run where jobs run by default)",
                    other.chars().take(40).collect::<String>()
                )))
            }
        };
        let long = asked || self.timeout.is_some_and(|t| t > limits.max_timeout);
        let sized = self.cpu.is_some() || self.memory_mb.is_some();
        if !long {
            if sized {
                return Err(RequestError::BadRunner(
                    "\"cpu\" and \"memory-mb\" size a Fargate task: add \"runner\": \"fargate\""
                        .to_owned(),
                ));
            }
            return Ok(None);
        }
        if limits.long_max_timeout.is_none() && limits.serve && !asked {
            return Err(RequestError::BadRunner(format!(
                "timeout: at most {} s here; the service's operator can raise it with `serve --max-timeout`, or run long jobs on ECS Fargate (ECS_CLUSTER, ECS_TASK_DEFINITION, ECS_SUBNETS and ECS_SECURITY_GROUPS, with --bucket)",
                limits.max_timeout
            )));
        }
        if limits.long_max_timeout.is_none() {
            let why = match asked {
                true => "\"runner\": \"fargate\"".to_owned(),
                false => format!("a timeout over {} s", limits.max_timeout),
            };
            return Err(RequestError::BadRunner(format!(
                "{why} needs this service's long runner (ECS Fargate), which is not set up: set ECS_CLUSTER, ECS_TASK_DEFINITION, ECS_SUBNETS and ECS_SECURITY_GROUPS (infra.yaml's LongRunner parameters)"
            )));
        }
        if self.push_urls.is_some() {
            return Err(RequestError::BadRunner(
                "a Fargate job keeps its objects in the service's store: push-urls cannot be used"
                    .to_owned(),
            ));
        }
        TaskSize::fit(self.cpu.map(|c| c.0), self.memory_mb)
            .map(Some)
            .map_err(RequestError::BadRunner)
    }

    /// The secrets asked for, checked: names, paths apart from the inputs', no variable
    /// from both `env` and `secrets`.
    fn job_secrets(&self, env: &JobEnv, inputs: &JobInputs) -> Result<JobSecrets, RequestError> {
        let bad = |field| move |error| RequestError::BadSecret { field, error };
        let names = self.secrets.iter().flatten();
        let env_names = names
            .map(|n| SecretName::new(n.as_str()).map_err(bad("secrets")))
            .collect::<Result<BTreeSet<_>, _>>()?;
        if let Some(clash) = env_names.iter().find(|n| env.contains(n.as_str())) {
            return Err(RequestError::SecretInEnv(clash.to_string()));
        }
        let mut files = BTreeMap::new();
        for (path, name) in self.secret_files.iter().flatten() {
            files.insert(
                path.clone(),
                SecretName::new(name.as_str()).map_err(bad("secret-files"))?,
            );
        }
        // Paths are checked as inputs' are, together with them: none may be another's
        // directory, or the same file.
        let mut all: BTreeMap<String, String> =
            inputs.iter().map(|(p, k)| (p.clone(), k.clone())).collect();
        for path in files.keys() {
            if all.insert(path.clone(), String::new()).is_some() {
                return Err(RequestError::BadSecretFile(
                    path.chars().take(200).collect(),
                ));
            }
        }
        if !files.is_empty() {
            JobInputs::try_from(all).map_err(|e| match e {
                RequestError::BadInputPath(p) => RequestError::BadSecretFile(p),
                other => other,
            })?;
        }
        let secrets = JobSecrets {
            env: env_names,
            files,
        };
        if secrets.too_many() {
            return Err(RequestError::TooManySecrets(secrets.names().len()));
        }
        Ok(secrets)
    }

    /// Checks the request's shape and returns what it asks to run.
    pub fn command(&self) -> Result<Command, RequestError> {
        let rpc_name = self.rpc_name.as_deref().filter(|n| !n.is_empty());
        match (&self.argv, rpc_name) {
            (Some(_), Some(_)) => Err(RequestError::BothCommands),
            (None, None) => Err(RequestError::NoCommand),
            (Some(argv), None) => Command::argv(argv.clone()),
            (None, Some(name)) => {
                Command::rpc(name.to_owned(), self.rpc_args.as_deref().unwrap_or(""))
            }
        }
    }
}

/// `POST /api/exec` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExecResponse {
    pub uid: String,
    /// When the request asked to `wait`: what `GET /api/exec` answers for the start of
    /// the log (with `segment` 0), so that a short job is run and read in one request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<PollResponse>,
}

impl ExecResponse {
    pub fn new(uid: String) -> Self {
        ExecResponse { uid, poll: None }
    }
}

/// `POST /api/exec` query.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExecQuery {
    /// Seconds to wait, after queuing the job, for its first news (output or its end),
    /// at most 20; the answer then carries `poll`. The service answers at once where it
    /// cannot watch the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(maximum = 20)]
    pub wait: Option<u64>,
    /// With `wait`: the most log bytes `poll` may carry inline ([`PollResponse::Inline`]),
    /// at most [`MAX_INLINE_LOG`], for a job that ended within the wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<u64>,
}

/// The most log bytes a submit's answer carries inline.
pub const MAX_INLINE_LOG: u64 = 256 << 10;

/// `GET /api/job` and `DELETE /api/exec` query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UidQuery {
    /// The job's uid, `UNIXSECONDS.UUID`.
    #[param(
        pattern = r"^[0-9]{1,19}\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    )]
    pub uid: String,
}

/// `GET /api/whoami` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WhoAmI {
    /// The name the caller's key belongs to.
    pub name: String,
}

/// `GET /api/exec` query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PollQuery {
    /// The job's uid, `UNIXSECONDS.UUID`.
    #[param(
        pattern = r"^[0-9]{1,19}\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    )]
    pub uid: String,
    /// The byte of the log to read from: how much of it the caller has.
    #[serde(rename = "range-start", default)]
    pub range_start: u64,
    /// Seconds to wait for news (new bytes or the end) before answering, at most 20;
    /// the service answers at once where it cannot watch the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(maximum = 20)]
    pub wait: Option<u64>,
    /// The log segment the caller reads next (0 at the start): asks for `follow`, URLs
    /// to read the log's segments and the job's end from storage without asking here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<u64>,
}

/// The longest `wait` a poll may ask for.
pub const MAX_POLL_WAIT: u64 = 20;

/// `GET /api/exec` answer: where to read more log, or the exit code once all is read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum PollResponse {
    /// A job that ended within a submit's `wait`, with its whole log: only in the answer
    /// to a submit that asked for `inline` bytes of it.
    Inline {
        exit: i32,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        notes: Vec<String>,
        /// The log, whole.
        #[serde(rename = "log-base64")]
        log_base64: String,
    },
    Url {
        url: String,
        /// Where a log kept as segments (on S3, while it runs) can be followed from storage.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        follow: Option<Follow>,
    },
    Exit {
        exit: i32,
        /// What the service has to say of the run (as the job's meta has it): the log
        /// holds the job's bytes alone.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        notes: Vec<String>,
    },
}

impl PollResponse {
    /// The answer once the whole log is read, without notes.
    pub fn exit(exit: i32) -> Self {
        PollResponse::Exit {
            exit,
            notes: Vec::new(),
        }
    }

    /// An answer that is only a log URL, as aws-exec gives it.
    pub fn url(url: String) -> Self {
        PollResponse::Url { url, follow: None }
    }
}

/// Presigned GET URLs that let a client follow a job from storage: segment `first`,
/// `first + 1`, ... of the log (each immutable once it exists, 404 or 403 until then),
/// `size` and `exit` (which exist once it ended), and the whole `log` (whole once `size`
/// exists; read it by range from the byte the segments brought you to), and the job's
/// `meta` (its `notes` once it ended). Valid until `expires` (seconds since the epoch);
/// ask `GET /api/exec` again for more.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Follow {
    pub first: u64,
    pub segments: Vec<String>,
    pub size: String,
    pub exit: String,
    pub log: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<String>,
    pub expires: u64,
}

/// `GET /api/jobs` query: the caller's jobs, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only jobs in this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<JobState>,
    /// Jobs per page, 1 to 1000 (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// Only jobs older than this uid (the `next` of the previous page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(
        pattern = r"^$|^[0-9]{1,19}\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    )]
    pub before: Option<String>,
}

/// `GET /api/jobs` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobList {
    pub jobs: Vec<JobMeta>,
    /// Pass as `before` for the next page; `null` on the last.
    pub next: Option<String>,
}

/// `DELETE /api/exec` answer: the job's state after the cancel request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CancelResponse {
    pub uid: String,
    pub state: JobState,
}

/// The header that makes a repeated `POST /api/exec` return the first one's uid.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// Every error answer of the API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_aws_exec() {
        let req: ExecRequest =
            serde_json::from_str(r#"{"rpc-name":"listdir","rpc-args":"{\"path\":\".\"}"}"#)
                .unwrap();
        assert_eq!(
            req.command().unwrap(),
            Command::Rpc {
                name: "listdir".into(),
                args: r#"{"path":"."}"#.into()
            }
        );
        let poll: PollResponse = serde_json::from_str(r#"{"exit":3}"#).unwrap();
        assert_eq!(poll, PollResponse::exit(3));
        let poll: PollResponse = serde_json::from_str(r#"{"url":"http://x"}"#).unwrap();
        assert_eq!(poll, PollResponse::url("http://x".into()));
        // An old answer reads as one without `follow`, and a new one says nothing more.
        assert_eq!(
            serde_json::to_string(&PollResponse::url("http://x".into())).unwrap(),
            r#"{"url":"http://x"}"#
        );
        let q: PollQuery = serde_json::from_str(r#"{"uid":"u","range-start":5}"#).unwrap();
        assert_eq!(q.range_start, 5);
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        assert_eq!(
            ExecRequest::default().command(),
            Err(RequestError::NoCommand)
        );
        assert_eq!(
            ExecRequest::argv(Vec::<String>::new()).command(),
            Err(RequestError::EmptyArgv)
        );
        assert_eq!(
            ExecRequest::argv([""]).command(),
            Err(RequestError::EmptyProgram)
        );
        assert_eq!(
            ExecRequest::argv(["a\0b"]).command(),
            Err(RequestError::NulInArgv)
        );
        let both = ExecRequest {
            rpc_name: Some("x".into()),
            ..ExecRequest::argv(["ls"])
        };
        assert_eq!(both.command(), Err(RequestError::BothCommands));
        assert!(matches!(
            ExecRequest::rpc("x", "{nope").command(),
            Err(RequestError::BadRpcArgs(_))
        ));
        // What aws-exec's Go client sends: every field, zero values meaning absent.
        let go: ExecRequest = serde_json::from_str(
            r#"{"argv":["true"],"rpc-name":"","rpc-args":"","push-urls":null}"#,
        )
        .unwrap();
        assert!(matches!(go.command(), Ok(Command::Argv { .. })));
        assert_eq!(
            ExecRequest::rpc("x", "").command().unwrap(),
            Command::Rpc {
                name: "x".into(),
                args: "null".into()
            }
        );
    }

    #[test]
    fn options_are_checked_and_name_their_field() {
        let ok = ExecRequest::argv(["cat"])
            .timeout(5)
            .env("A_1", "x y")
            .stdin([0u8, 255]);
        let opts = ok.options(&crate::RunLimits::short(900)).unwrap();
        assert_eq!(opts.timeout, Some(5));
        assert_eq!(opts.stdin.as_deref(), Some(&[0u8, 255][..]));
        for (req, field) in [
            (ExecRequest::argv(["x"]).timeout(0), "timeout"),
            (ExecRequest::argv(["x"]).timeout(901), "timeout"),
            (ExecRequest::argv(["x"]).env("1A", "v"), "env"),
            (ExecRequest::argv(["x"]).env("A-B", "v"), "env"),
            (ExecRequest::argv(["x"]).env("A", "a\0b"), "env"),
            (ExecRequest::argv(["x"]).env("A", "v".repeat(70_000)), "env"),
            (
                ExecRequest {
                    stdin_base64: Some("!!".into()),
                    ..ExecRequest::argv(["x"])
                },
                "stdin-base64",
            ),
        ] {
            let err = req
                .options(&crate::RunLimits::short(900))
                .unwrap_err()
                .to_string();
            assert!(err.contains(field), "{err}");
        }
    }

    #[test]
    fn a_command_is_valid_however_it_arrives() {
        for bad in [
            r#"{"kind":"argv","argv":[]}"#,
            r#"{"kind":"argv","argv":[""]}"#,
            r#"{"kind":"rpc","rpc-name":"","rpc-args":"null"}"#,
            r#"{"kind":"rpc","rpc-name":"x","rpc-args":"{nope"}"#,
        ] {
            assert!(serde_json::from_str::<Command>(bad).is_err(), "{bad}");
        }
        let c = Command::argv(vec!["ls".into(), "-l".into()]).unwrap();
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(text, r#"{"kind":"argv","argv":["ls","-l"]}"#);
        assert_eq!(serde_json::from_str::<Command>(&text).unwrap(), c);
        let bad_push = r#"{"log":"file:///etc/passwd","exit":"http://x","size":"http://x"}"#;
        let err = serde_json::from_str::<PushUrls>(bad_push).unwrap_err();
        assert!(err.to_string().contains("push-urls.log"), "{err}");
    }
}
