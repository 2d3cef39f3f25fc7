//! The command line, as clap reads it; each command's help is its doc comment.

use std::ffi::OsString;
use std::path::PathBuf;

use aws_exec_protocol::limits::{DEFAULT_CONCURRENCY, DEFAULT_QUEUE};
use clap::{Args, Parser, Subcommand};

#[cfg(feature = "server")]
use crate::commands::UserCommand;

/// Run commands asynchronously on AWS Lambda or a local service, and follow their output.
#[derive(Debug, Parser)]
#[command(name = "aws-exec", version, propagate_version = true)]
#[cfg_attr(
    not(feature = "server"),
    command(
        after_help = "Other commands (the service's own: `aws-exec-server --help` \
                          lists them) are handed to aws-exec-server."
    )
)]
pub struct Cli {
    /// Given before the command; clap hands the values to the command's own.
    #[command(flatten)]
    pub remote: Remote,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run a command on the service, stream its output, exit with its code.
    Exec(ExecArgs),
    /// Call a named function on the service with JSON args.
    Rpc(RpcArgs),
    /// Follow a job by uid from the start of its log to its exit code.
    Tail(TailArgs),
    /// Cancel jobs: a queued one never starts, a running one is stopped.
    Cancel(CancelArgs),
    /// Run a job's command again as a new job, and follow it.
    Rerun(RerunArgs),
    /// Keep a service's URL and key in a profile, so commands need neither.
    Login(crate::builtin::login::LoginArgs),
    /// Forget a saved profile.
    Logout(crate::builtin::login::LogoutArgs),
    /// Who the key in use belongs to, at which service, and where both came from.
    Whoami(crate::builtin::whoami::WhoamiArgs),
    /// Print a completion script for a shell (bash, zsh, fish, elvish, powershell).
    Completions(crate::builtin::completions::CompletionsArgs),
    /// Print the manual page (roff) of the whole command or of one command, or write
    /// every page to a directory.
    Man(crate::builtin::man::ManArgs),
    /// List your jobs, newest first.
    Ls(LsArgs),
    /// Show one job: command, state, times, exit code, what it used.
    Status(StatusArgs),
    /// What your jobs used, per day: runs, wall and CPU time, peak memory, log, cost.
    Usage(crate::builtin::usage::UsageArgs),
    /// List the files a job left in $AWS_EXEC_ARTIFACTS, or download them.
    Artifacts(ArtifactsArgs),
    /// Jobs that start on a clock: add, ls, run, rm.
    Schedule(ScheduleArgs),
    /// Jobs that start when a file is uploaded to your inbox: add, ls, rm.
    Trigger(TriggerArgs),
    /// Values jobs get by name, never shown again: set, ls, rm.
    Secret(crate::builtin::secret::SecretArgs),
    /// The key your jobs' end notifications (--notify URL) are signed with.
    Notify(crate::builtin::notify::NotifyArgs),
    /// Upload a file to your inbox, firing the triggers whose prefix it is under.
    Upload(UploadArgs),
    /// Run the service locally: API, runner and web page on one machine.
    Serve(ServeArgs),
    /// Manage auth keys (stored as hashes beside the jobs).
    Auth(AuthArgs),
    /// Run a stored job to its end: the command of a Fargate task.
    #[command(hide = true)]
    RunJob(RunJobArgs),
    #[cfg(feature = "server")]
    #[command(flatten)]
    User(UserCommand),
    /// Built without the service (`--no-default-features`), the CLI hands every other
    /// command, the service's own ones among them, to `aws-exec-server`.
    #[cfg(not(feature = "server"))]
    #[command(external_subcommand)]
    Service(Vec<OsString>),
}

impl Cli {
    /// This process's command line. `exec`, run most often and for the shortest jobs, is
    /// first read by a parser that knows it alone: clap builds every command's arguments
    /// before it parses, which takes longer than a short job runs. Whatever that parser
    /// refuses (`--help` too) is read again by the whole one, so every answer and error is
    /// the whole parser's.
    pub fn from_args() -> Cli {
        let args: Vec<OsString> = std::env::args_os().collect();
        match Self::exec_alone(&args) {
            Some(cli) => cli,
            None => Cli::parse_from(args),
        }
    }

    fn exec_alone(args: &[OsString]) -> Option<Cli> {
        if args.get(1).is_none_or(|command| command != "exec") {
            return None;
        }
        let ExecAlone::Exec(args) = ExecOnly::try_parse_from(args).ok()?.command;
        // As the whole parser has it: the command's flags, seen from the top too.
        Some(Cli {
            remote: args.remote.clone(),
            command: Cmd::Exec(args),
        })
    }
}

/// The command line with `exec` alone (see [`Cli::from_args`]), with the whole one's flags.
#[derive(Debug, Parser)]
#[command(name = "aws-exec", version, propagate_version = true)]
struct ExecOnly {
    #[command(subcommand)]
    command: ExecAlone,
}

#[derive(Debug, Subcommand)]
enum ExecAlone {
    Exec(ExecArgs),
}

/// The commands that are the service rather than calls to one: they run in
/// `aws-exec-server`, the binary that holds the backend (see [`crate::server`]).
#[derive(Debug)]
pub enum ServiceCmd {
    Serve(ServeArgs),
    Auth(AuthArgs),
    RunJob(RunJobArgs),
    #[cfg(feature = "server")]
    User(UserCommand),
    /// A command the static build does not know; `aws-exec-server` reads it from the
    /// process's own arguments.
    #[cfg(not(feature = "server"))]
    Other,
}

/// How to reach the service. Global: given before the command (`aws-exec --profile work
/// ls`) or after it. The variables are read in [`Remote::resolve`], where a flag that
/// names a profile can win over them.
#[derive(Clone, Debug, Default, Args)]
pub struct Remote {
    /// Service URL [default: --profile's, else $PROJECT_URL, else https://$PROJECT_DOMAIN,
    /// else $AWS_EXEC_PROFILE's or the default profile's, else http://127.0.0.1:8080]
    #[arg(long, global = true, value_name = "URL")]
    pub url: Option<String>,
    /// Auth key [default: --profile's, else $AUTH, else $AWS_EXEC_PROFILE's or the default
    /// profile's]
    #[arg(long, global = true, value_name = "KEY")]
    pub auth: Option<String>,
    /// The saved profile (`aws-exec login`) to use: its URL and key win over $PROJECT_URL
    /// and $AUTH [default: $AWS_EXEC_PROFILE, else "default" if saved]
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
}

/// Ctrl-C cancels the job and waits for its end (a second Ctrl-C leaves it running and
/// prints its uid). Piped standard input becomes the job's (a terminal's does not).
#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// Print the job's uid to stderr before its output
    #[arg(long)]
    pub print_uid: bool,
    /// Print the uid and return at once instead of following the job
    #[arg(long)]
    pub detach: bool,
    /// Never send standard input, even when it is piped (as ssh -n)
    #[arg(short = 'n', long)]
    pub no_stdin: bool,
    /// Once the job ends, download what it left in $AWS_EXEC_ARTIFACTS into DIR
    #[arg(long = "get", value_name = "DIR")]
    pub get: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub job: JobArgs,
}

/// What a job runs and with what: shared by `exec` and the schedules and triggers that
/// start jobs later.
#[derive(Debug, Args)]
pub struct JobArgs {
    /// Stop the job after this long (30s, 5m, 1h; a fraction of a second rounds up):
    /// state timed-out, exit 124
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<std::time::Duration>,
    /// Add NAME=VALUE to the job's environment (repeatable)
    #[arg(short = 'e', long = "env", value_name = "NAME=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// Give the job your secret NAME (`aws-exec secret set NAME`) as the variable NAME;
    /// its value is masked as *** in the log (repeatable)
    #[arg(long = "secret", value_name = "NAME")]
    pub secrets: Vec<aws_exec_protocol::SecretName>,
    /// Place your secret NAME as a file at PATH in the job's directory, readable by the
    /// job alone (repeatable)
    #[arg(long = "secret-file", value_name = "PATH=NAME", value_parser = parse_secret_file)]
    pub secret_files: Vec<(String, aws_exec_protocol::SecretName)>,
    /// When the job ends, POST a signed notification to URL (see `aws-exec notify secret`)
    #[arg(long, value_name = "URL")]
    pub notify: Option<String>,
    /// Only for these end states (comma-separated: exited,failed,timed-out,...)
    #[arg(
        long,
        value_name = "STATES",
        value_delimiter = ',',
        requires = "notify"
    )]
    pub notify_on: Vec<aws_exec_protocol::JobState>,
    /// Run the job up to N times in all while it fails (1-10); the log goes on through
    /// every attempt and the exit code is the last one's
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10))]
    pub retry: Option<u32>,
    /// Only after these exit codes, and after a timeout if `timeout` is listed
    /// (comma-separated) [default: any exit but 0]
    #[arg(
        long,
        value_name = "CODES",
        value_delimiter = ',',
        requires = "retry",
        value_parser = parse_retry_on
    )]
    pub retry_on: Vec<RetryOn>,
    /// Wait this long before the second attempt, twice as long before each next, at most
    /// 10 minutes (or this, if longer) [default: 10s]
    #[arg(long, value_name = "DURATION", requires = "retry", value_parser = parse_duration)]
    pub retry_delay: Option<std::time::Duration>,
    /// Run it as an ECS Fargate task (`fargate`), for hours if --timeout says so; a timeout
    /// over what Lambda can run asks for it too
    #[arg(long, value_name = "RUNNER")]
    pub runner: Option<String>,
    /// The Fargate task's vCPUs (0.25-16)
    #[arg(long, value_name = "VCPUS")]
    pub cpu: Option<f64>,
    /// The Fargate task's memory in MiB; the smallest size Fargate offers that holds both
    /// is picked
    #[arg(long, value_name = "MIB")]
    pub memory: Option<u32>,
    /// Send a file for the job, placed in its directory under its own name or at PATH
    /// (relative) before it starts, executable if it is here; a directory sends every file
    /// under it (repeatable)
    #[arg(long = "put", value_name = "FILE[:PATH]", value_parser = parse_put)]
    pub puts: Vec<(std::path::PathBuf, String)>,
    /// The command and its arguments. It starts at `--` or at the first word that is not
    /// an option; every word after it is the command's, options too
    #[arg(required = true, trailing_var_arg = true, value_name = "CMD")]
    pub argv: Vec<String>,
}

/// `run-job OWNER UID`: what a Fargate task runs.
#[derive(Debug, Args)]
pub struct RunJobArgs {
    pub owner: String,
    pub uid: String,
}

/// One entry of `--retry-on`: an exit code, or `timeout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryOn {
    Exit(i32),
    Timeout,
}

fn parse_retry_on(text: &str) -> Result<RetryOn, String> {
    match text.trim() {
        "timeout" | "timed-out" => Ok(RetryOn::Timeout),
        code => match code.parse::<i32>() {
            Ok(code @ 1..=255) => Ok(RetryOn::Exit(code)),
            _ => Err(format!(
                "{code:?} is neither an exit code 1-255 nor \"timeout\""
            )),
        },
    }
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    #[command(flatten)]
    pub remote: Remote,
    #[command(subcommand)]
    pub command: ScheduleCmd,
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCmd {
    /// Create or replace a schedule: NAME runs CMD at every time CRON names
    Add {
        /// 1 to 64 of A-Z a-z 0-9 _ -
        name: String,
        /// minute hour day-of-month month day-of-week, as crontab reads them ('0 3 * * *')
        #[arg(long)]
        cron: String,
        /// The time zone CRON is read in (an IANA name: Europe/Berlin)
        #[arg(long, default_value = aws_exec_protocol::schedules::DEFAULT_TZ)]
        tz: String,
        /// When the previous run is still going: skip this firing, or run anyway
        #[arg(long, default_value = "skip", value_parser = ["skip", "allow"])]
        overlap: String,
        /// Carry $AWS_EXEC_STATE from each run that exits 0 to the next
        #[arg(long)]
        state: bool,
        #[command(flatten)]
        job: Box<JobArgs>,
    },
    /// List your schedules: cron, time zone, next run, last run's uid, state and exit
    Ls {
        /// Print them as JSON
        #[arg(long)]
        json: bool,
    },
    /// Run a schedule now, as an ordinary job, and print its uid
    Run { name: String },
    /// Show, fetch or reset the state its runs carry (--state)
    State(crate::builtin::state::StateArgs),
    /// Delete a schedule; the jobs it started stay
    Rm { name: String },
}

#[derive(Debug, Args)]
pub struct TriggerArgs {
    #[command(flatten)]
    pub remote: Remote,
    #[command(subcommand)]
    pub command: TriggerCmd,
}

#[derive(Debug, Subcommand)]
pub enum TriggerCmd {
    /// Create or replace a trigger: each upload under PREFIX of your inbox runs CMD, with
    /// the file in its directory and its path in $AWS_EXEC_INPUT
    Add {
        /// 1 to 64 of A-Z a-z 0-9 _ -
        name: String,
        /// Uploads whose path starts with this fire it (photos/); every upload when empty
        #[arg(long, default_value = "")]
        prefix: String,
        /// Carry $AWS_EXEC_STATE from each run that exits 0 to the next
        #[arg(long)]
        state: bool,
        #[command(flatten)]
        job: Box<JobArgs>,
    },
    /// List your triggers with their last runs
    Ls {
        /// Print them as JSON
        #[arg(long)]
        json: bool,
    },
    /// Show, fetch or reset the state its runs carry (--state)
    State(crate::builtin::state::StateArgs),
    /// Delete a trigger
    Rm { name: String },
}

#[derive(Debug, Args)]
pub struct UploadArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// Where in your inbox (photos/cat.jpg): triggers under its prefix fire
    pub path: String,
    /// The local file
    pub file: std::path::PathBuf,
}

#[derive(Debug, Args)]
pub struct RpcArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// The function's name
    pub name: String,
    /// Its args as JSON text
    #[arg(default_value = "null")]
    pub args: String,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).multiple(true).args(["uids", "all", "state"])))]
pub struct CancelArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// The jobs: uids, unique starts of them, or `last`
    pub uids: Vec<String>,
    /// Every job of yours that is queued or running
    #[arg(long)]
    pub all: bool,
    /// Every job of yours in this state (queued or running)
    #[arg(long, value_name = "STATE", value_parser = live_state)]
    pub state: Option<aws_exec_protocol::JobState>,
}

/// `PATH=NAME` of `--secret-file`.
fn parse_secret_file(text: &str) -> Result<(String, aws_exec_protocol::SecretName), String> {
    let (path, name) = text
        .rsplit_once('=')
        .ok_or_else(|| format!("{text:?} is not PATH=NAME"))?;
    let name = name.parse().map_err(|e| format!("{e}"))?;
    Ok((path.to_owned(), name))
}

/// A state a job can be cancelled in.
fn live_state(text: &str) -> Result<aws_exec_protocol::JobState, String> {
    let state: aws_exec_protocol::JobState = text.parse()?;
    if state.is_final() {
        return Err(format!(
            "a {state} job has ended; cancel takes queued or running"
        ));
    }
    Ok(state)
}

#[derive(Debug, Args)]
pub struct RerunArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// The job: its uid, a unique start of it, or `last`
    pub uid: String,
    /// Print the new job's uid and return at once instead of following it
    #[arg(long)]
    pub detach: bool,
    /// Never send standard input, even when it is piped, and rerun a job that had input
    /// without it
    #[arg(short = 'n', long)]
    pub no_stdin: bool,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// Only jobs in this state (queued, running, exited, signaled, timed-out, cancelled, failed, lost)
    #[arg(long)]
    pub state: Option<aws_exec_protocol::JobState>,
    /// How many jobs to show
    #[arg(short = 'n', long, default_value_t = 20)]
    pub limit: usize,
    /// Print the jobs as JSON, one array
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// The job: its uid, a unique start of it, or `last`
    pub uid: String,
    /// Print the job's metadata as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ArtifactsArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// The job: its uid, a unique start of it, or `last`
    pub uid: String,
    /// Download them into DIR, keeping their tree, instead of listing them
    #[arg(long, value_name = "DIR", conflicts_with = "json")]
    pub get: Option<std::path::PathBuf>,
    /// Print the list as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TailArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// The job: its uid, a unique start of it, or `last`
    pub uid: String,
    /// Start at the last N lines instead of the first
    #[arg(short = 'n', long = "lines", value_name = "N")]
    pub lines: Option<u64>,
    /// Follow a running job to its end (the default)
    #[arg(short = 'f', long, overrides_with = "no_follow")]
    pub follow: bool,
    /// Print what the log holds now and stop, even while the job runs
    #[arg(long)]
    pub no_follow: bool,
}

/// Where jobs and auth keys are kept: a data directory, or an S3 bucket. Flags beat
/// variables: --data-dir, else --bucket, else $AWS_EXEC_DATA_DIR, else $PROJECT_BUCKET,
/// else ~/.local/share/aws-exec.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Data directory [env: AWS_EXEC_DATA_DIR; default: ~/.local/share/aws-exec]
    #[arg(long, global = true, value_name = "DIR", conflicts_with = "bucket")]
    pub data_dir: Option<PathBuf>,
    /// Keep everything in this S3 bucket, AWS settings from the environment [env: PROJECT_BUCKET; a --data-dir or $AWS_EXEC_DATA_DIR wins over the variable]
    #[arg(long, global = true, value_name = "NAME")]
    pub bucket: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: std::net::SocketAddr,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Jobs that may run at once
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    /// Of those, the most one user's jobs may take [default: all]; free slots go to users
    /// with jobs waiting in turn either way
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub per_user: Option<u64>,
    /// Jobs that may wait for a free slot before submissions are refused (503)
    #[arg(long, default_value_t = DEFAULT_QUEUE)]
    pub queue: usize,
    /// Of those, the most one user's jobs may take [default: a quarter of --queue]; past
    /// it that user's submissions are refused (429), and nobody else's
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub queue_per_user: Option<u64>,
    /// The URL callers reach this service at, if not the one they connect to (a proxy)
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// The longest a job may run, and so the largest timeout it may ask for
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = parse_duration)]
    pub max_timeout: std::time::Duration,
    /// Let push-urls reach this host even though it is loopback or private (repeatable)
    #[arg(long, value_name = "HOST")]
    pub allow_push_host: Vec<String>,
    /// When serving as root: run every job as this user, rather than each as a user of its
    /// own. Refused when not root
    #[arg(long, value_name = "USER")]
    pub run_as: Option<String>,
    /// Delete finished jobs older than this (checked at start and hourly)
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_duration)]
    pub keep: std::time::Duration,
}

/// `30s`, `5m`, `1h30m`, or plain seconds.
pub(crate) fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(secs));
    }
    humantime::parse_duration(text).map_err(|e| format!("{e} (try 30s, 5m or 1h)"))
}

/// `FILE` or `FILE:PATH`: a local file and where it goes in the job's directory (its own
/// name unless given), which must stay inside that directory. A file whose own name holds
/// a colon is taken whole when it exists.
fn parse_put(text: &str) -> Result<(std::path::PathBuf, String), String> {
    let split = match std::path::Path::new(text).is_file() {
        true => None,
        false => text.rsplit_once(':'),
    };
    let (local, remote) = match split {
        Some((local, remote)) => (local, remote.to_owned()),
        None => {
            let name = std::path::Path::new(text)
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| format!("{text:?} does not name a file"))?;
            (text, name.to_owned())
        }
    };
    let reserved =
        aws_exec_protocol::files::RESERVED_DIRS.contains(&remote.split('/').next().unwrap_or(""));
    if reserved || !aws_exec_protocol::files::is_safe_relative_path(&remote) {
        return Err(format!(
            "{remote:?} is not a relative path inside the job's directory (no \"..\", no leading \"/\")"
        ));
    }
    let local_path = std::path::Path::new(local);
    if !local_path.is_file() && !local_path.is_dir() {
        return Err(format!("{local:?} is not a readable file or directory"));
    }
    Ok((local.into(), remote))
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{text:?} is not NAME=VALUE"))
}

#[derive(Debug, Args)]
pub struct AuthArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(subcommand)]
    pub command: AuthCmd,
}

#[derive(Debug, Subcommand)]
pub enum AuthCmd {
    /// Create a key for NAME and print it (the only time it is shown)
    New { name: String },
    /// List key names and when they were created
    Ls {
        /// Print them as JSON
        #[arg(long)]
        json: bool,
    },
    /// Remove NAME's key; its jobs stay
    Rm { name: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn store_flags_work_after_the_subcommand() {
        let cli =
            Cli::try_parse_from(["aws-exec", "auth", "new", "bob", "--data-dir", "/d"]).unwrap();
        let Cmd::Auth(args) = cli.command else {
            panic!("not auth")
        };
        assert_eq!(
            args.store.data_dir.as_deref(),
            Some(std::path::Path::new("/d"))
        );
        assert!(Cli::try_parse_from([
            "aws-exec",
            "auth",
            "ls",
            "--data-dir",
            "/d",
            "--bucket",
            "b"
        ])
        .is_err());
    }

    #[test]
    fn exec_options_parse() {
        let cli = Cli::try_parse_from([
            "aws-exec",
            "exec",
            "--timeout",
            "5m",
            "-e",
            "A=1=2",
            "--env",
            "B=",
            "--detach",
            "--",
            "env",
        ])
        .unwrap();
        let Cmd::Exec(args) = cli.command else {
            panic!("not exec")
        };
        assert_eq!(args.job.timeout, Some(std::time::Duration::from_secs(300)));
        assert_eq!(
            args.job.env,
            [("A".into(), "1=2".into()), ("B".into(), String::new())]
        );
        assert!(args.detach);
        assert!(Cli::try_parse_from(["aws-exec", "exec", "--timeout", "soon", "--", "x"]).is_err());
        assert!(Cli::try_parse_from(["aws-exec", "exec", "-e", "NOVALUE", "--", "x"]).is_err());
        assert!(Cli::try_parse_from(["aws-exec", "ls", "--state", "done"]).is_err());
    }

    #[test]
    fn exec_alone_reads_what_the_whole_parser_reads() {
        let read = |args: &[&str]| {
            let args: Vec<OsString> = args.iter().map(OsString::from).collect();
            (
                Cli::exec_alone(&args).map(|cli| format!("{cli:?}")),
                Cli::try_parse_from(&args)
                    .map(|cli| format!("{cli:?}"))
                    .ok(),
            )
        };
        for args in [
            &["aws-exec", "exec", "--", "true"][..],
            &[
                "aws-exec",
                "exec",
                "-n",
                "--print-uid",
                "-e",
                "A=1",
                "--",
                "sh",
                "-c",
                "x",
            ],
            &[
                "aws-exec",
                "exec",
                "--url",
                "http://h:1",
                "--auth",
                "k",
                "ls",
                "-l",
            ],
            &[
                "aws-exec",
                "exec",
                "--timeout",
                "5m",
                "--get",
                "out",
                "--",
                "make",
            ],
        ] {
            let (alone, whole) = read(args);
            assert!(alone.is_some(), "{args:?}");
            assert_eq!(alone, whole, "{args:?}");
        }
        // Help, version, mistakes and other commands go to the whole parser.
        for args in [
            &["aws-exec", "exec", "--help"][..],
            &["aws-exec", "exec", "--version"],
            &["aws-exec", "exec", "-V"],
            &["aws-exec", "exec"],
            &["aws-exec", "exec", "--timeout", "soon", "--", "x"],
            &["aws-exec", "ls"],
            &["aws-exec"],
        ] {
            assert_eq!(read(args).0, None, "{args:?}");
        }
    }

    #[test]
    fn exec_takes_everything_after_the_separator() {
        let cli = Cli::try_parse_from(["aws-exec", "exec", "--", "bash", "-c", "exit 3"]).unwrap();
        let Cmd::Exec(args) = cli.command else {
            panic!("not exec")
        };
        assert_eq!(args.job.argv, ["bash", "-c", "exit 3"]);
    }

    #[test]
    fn schedule_add_reads_like_exec() {
        let cli = Cli::try_parse_from([
            "aws-exec",
            "schedule",
            "add",
            "nightly",
            "--cron",
            "0 3 * * *",
            "--tz",
            "Europe/Berlin",
            "--timeout",
            "10m",
            "--",
            "./backup.sh",
            "-v",
        ])
        .unwrap();
        let Cmd::Schedule(ScheduleArgs {
            command:
                ScheduleCmd::Add {
                    name,
                    cron,
                    tz,
                    overlap,
                    job,
                    ..
                },
            ..
        }) = cli.command
        else {
            panic!("not schedule add")
        };
        assert_eq!(
            (name.as_str(), cron.as_str(), tz.as_str()),
            ("nightly", "0 3 * * *", "Europe/Berlin")
        );
        assert_eq!(overlap, "skip");
        assert_eq!(job.argv, ["./backup.sh", "-v"]);
        assert!(Cli::try_parse_from([
            "aws-exec",
            "schedule",
            "add",
            "x",
            "--cron",
            "* * * * *",
            "--overlap",
            "maybe",
            "--",
            "true"
        ])
        .is_err());
        assert!(Cli::try_parse_from([
            "aws-exec", "trigger", "add", "t", "--prefix", "in/", "--", "./t.sh"
        ])
        .is_ok());
    }
}
