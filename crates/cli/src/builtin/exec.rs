//! `aws-exec exec -- CMD...`: run a subprocess on the service and follow it. Ctrl-C cancels
//! the job and keeps following it to its end state; a second Ctrl-C stops following.

use std::io::{IsTerminal, Read};

use anyhow::Context;
use aws_exec_client::{Client, ExecRequest, JobState, PollResponse};
use aws_exec_protocol::limits::MAX_REQUEST_BYTES;

use crate::cli::{ExecArgs, JobArgs, RetryOn};

/// The CLI's exit code when a second Ctrl-C leaves the job running, as a shell reports it.
const INTERRUPTED: i32 = 130;

/// How long a command ending anyway (its output closed) spends cancelling its job.
const CANCEL_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// How long the submit waits at the service for the job's first output or its end.
const FIRST_WAIT: u64 = 1;

pub async fn run(args: ExecArgs) -> anyhow::Result<i32> {
    let client = args.remote.client()?;
    let mut request = args.job.request(&client).await?;
    if !args.no_stdin && !std::io::stdin().is_terminal() {
        let stdin = read_stdin()?;
        if !stdin.is_empty() {
            request = request.stdin(stdin);
        }
    }
    check_size(&request)?;
    if args.detach {
        println!(
            "{}",
            client.submit(&request).await.map_err(unanswered_submit)?
        );
        return Ok(0);
    }
    // The service is asked to wait a moment for the job's first news, so that a short job
    // is run and read in one request. A Ctrl-C meanwhile cancels the job once its uid is
    // known.
    let submit = client.submit_waiting(&request, FIRST_WAIT);
    tokio::pin!(submit);
    let (submitted, interrupted) = tokio::select! {
        submitted = &mut submit => (submitted, false),
        _ = tokio::signal::ctrl_c() => ((&mut submit).await, true),
    };
    let (uid, first) = submitted.map_err(unanswered_submit)?;
    if args.print_uid {
        eprintln!("uid: {uid}");
    }
    let code = follow(&client, &uid, first, interrupted).await?;
    if let Some(dir) = &args.get {
        if code != INTERRUPTED && code != super::PIPE_CLOSED {
            super::artifacts::download(&client, &uid, dir).await?;
        }
    }
    Ok(code)
}

/// A submit the service took and never answered may still have made a job, which runs
/// once the service wakes: the error says where it would show.
fn unanswered_submit(e: aws_exec_client::ClientError) -> anyhow::Error {
    match e {
        e @ aws_exec_client::ClientError::NoAnswer { .. } => anyhow::anyhow!(
            "{e}; if it got the job, the job starts once it answers again (`aws-exec ls` shows it)"
        ),
        e => e.into(),
    }
}

/// A request over what the service takes is refused here, saying what to do instead: the
/// usual reason is piped input, which travels inside the request.
fn check_size(request: &ExecRequest) -> anyhow::Result<()> {
    let size = serde_json::to_vec(request)?.len();
    if size > MAX_REQUEST_BYTES {
        anyhow::bail!(
            "the request is {size} bytes, over the service's limit of {MAX_REQUEST_BYTES}: \
             standard input travels inside it; use --put FILE for large input (or -n to send none)"
        );
    }
    Ok(())
}

impl JobArgs {
    /// The request these options make, with each `--put` file uploaded first.
    pub async fn request(self, client: &Client) -> anyhow::Result<ExecRequest> {
        let mut request = ExecRequest::argv(self.argv);
        if let Some(timeout) = self.timeout {
            request = request.timeout(whole_seconds(timeout)?);
        }
        for (name, value) in self.env {
            request = request.env(name, value);
        }
        for name in self.secrets {
            request = request.secret(name);
        }
        for (path, name) in self.secret_files {
            request = request.secret_file(path, name);
        }
        if let Some(url) = self.notify {
            request.notify = Some(aws_exec_protocol::Notify {
                url,
                on: self.notify_on,
            });
        }
        if let Some(attempts) = self.retry {
            let codes: Vec<i32> = self
                .retry_on
                .iter()
                .filter_map(|on| match on {
                    RetryOn::Exit(code) => Some(*code),
                    RetryOn::Timeout => None,
                })
                .collect();
            let delay = self.retry_delay.map(|d| d.as_secs_f64().ceil() as u64);
            request.retry = Some(aws_exec_protocol::Retry {
                delay,
                on_timeout: self.retry_on.contains(&RetryOn::Timeout),
                // Only `timeout` listed: no exit code is retried.
                on_exit: match (codes.is_empty(), self.retry_on.is_empty()) {
                    (true, true) => None,
                    (true, false) => Some(Vec::new()),
                    (false, _) => Some(codes),
                },
                ..aws_exec_protocol::Retry::attempts(attempts)
            });
        }
        request.runner = self.runner;
        request.cpu = self.cpu.map(aws_exec_protocol::Vcpus);
        request.memory_mb = self.memory;
        for (local, path) in &self.puts {
            for file in crate::put::files(local, path)? {
                let progress = crate::progress::bar(format!("{}", file.local.display()));
                let key = client
                    .upload_input_with(&file.local, progress)
                    .await
                    .with_context(|| format!("uploading {}", file.local.display()))?;
                request = request.input(&file.path, key);
                if file.executable {
                    request = request.executable(&file.path);
                }
            }
        }
        Ok(request)
    }
}

/// A timeout in the whole seconds the service takes: a fraction rounds up, so a job never
/// gets less time than asked; none at all is refused rather than read as "no timeout".
fn whole_seconds(timeout: std::time::Duration) -> anyhow::Result<u64> {
    if timeout.is_zero() {
        anyhow::bail!("--timeout must be more than 0 (30s, 5m, 1h)");
    }
    let secs = timeout.as_secs();
    Ok(if timeout.subsec_nanos() > 0 {
        secs + 1
    } else {
        secs
    })
}

/// Piped input, read whole: it travels in the request (up to what fits in its 1 MiB). Read
/// in place: nothing else runs before the job is submitted, and a thread for it would
/// cost more than most inputs take to read.
fn read_stdin() -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    std::io::stdin()
        .read_to_end(&mut buf)
        .context("reading standard input")?;
    Ok(buf)
}

/// Follows the job from `first` (the submit's look at it) to its end. A Ctrl-C, or one
/// that came during the submit (`interrupted`), cancels it and goes on following it to its
/// end; a second one stops following. A reader that closes stdout (`| head`) cancels it
/// too, as a job killed by SIGPIPE would end at home.
pub(super) async fn follow(
    client: &Client,
    uid: &str,
    first: Option<PollResponse>,
    interrupted: bool,
) -> anyhow::Result<i32> {
    let (mut sink, closed) = super::stdout_sink();
    let follow = client.tail_ended(uid, 0, first, &mut sink);
    tokio::pin!(follow);
    if !interrupted {
        tokio::select! {
            ended = &mut follow => return Ok(super::ended(ended?)),
            code = closed.wait() => {
                cancel_quietly(client, uid).await;
                return Ok(code);
            }
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    eprintln!("\naws-exec: cancelling {uid} (Ctrl-C again to stop waiting for its end)");
    let cancel = client.cancel(uid);
    tokio::pin!(cancel);
    let mut cancelled: Option<Result<JobState, String>> = None;
    loop {
        tokio::select! {
            ended = &mut follow => return Ok(super::ended(ended?)),
            code = closed.wait() => return Ok(code),
            state = &mut cancel, if cancelled.is_none() => {
                let state = state.map_err(|e| e.to_string());
                if let Err(e) = &state {
                    eprintln!("aws-exec: cancel failed: {e}");
                }
                cancelled = Some(state);
            }
            _ = tokio::signal::ctrl_c() => {
                eprintln!("aws-exec: {}", left_behind(uid, cancelled.as_ref()));
                return Ok(INTERRUPTED);
            }
        }
    }
}

/// What became of a job whose follower stopped at a second Ctrl-C.
fn left_behind(uid: &str, cancelled: Option<&Result<JobState, String>>) -> String {
    match cancelled {
        Some(Ok(state)) if state.is_final() => {
            format!("stopped following {uid}: it is {state}")
        }
        Some(Ok(_)) => format!(
            "stopped following {uid}: it is being cancelled (`aws-exec status {uid}` shows its end)"
        ),
        Some(Err(_)) => format!(
            "stopped following {uid}: the cancel failed, so it may still run \
             (`aws-exec cancel {uid}` to try again)"
        ),
        None => format!(
            "stopped following {uid} before its cancel was answered: it may still run \
             (`aws-exec status {uid}`)"
        ),
    }
}

/// Cancels a job nobody reads any more, within a bound: the command is ending either way.
async fn cancel_quietly(client: &Client, uid: &str) {
    let cancel = tokio::time::timeout(CANCEL_WITHIN, client.cancel(uid)).await;
    if let Ok(Err(e)) = cancel {
        eprintln!("aws-exec: cancelling {uid}: {e}");
    }
}
