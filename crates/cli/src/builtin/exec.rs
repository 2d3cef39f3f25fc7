//! `aws-exec exec -- CMD...`: run a subprocess on the service and follow it. Ctrl-C cancels
//! the job and keeps following it to its end state; a second Ctrl-C leaves it running.

use std::io::{IsTerminal, Read};

use anyhow::Context;
use aws_exec_client::{Client, ExecRequest, PollResponse};

use crate::cli::{ExecArgs, JobArgs};

/// The CLI's exit code when a second Ctrl-C leaves the job running, as a shell reports it.
const INTERRUPTED: i32 = 130;

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
    if args.detach {
        println!("{}", client.submit(&request).await?);
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
    let (uid, first) = submitted?;
    if args.print_uid {
        eprintln!("uid: {uid}");
    }
    let code = follow_cancelling_on_ctrl_c(&client, &uid, first, interrupted).await?;
    if let Some(dir) = &args.get {
        if code != INTERRUPTED {
            super::artifacts::download(&client, &uid, dir).await?;
        }
    }
    Ok(code)
}

impl JobArgs {
    /// The request these options make, with each `--put` file uploaded first.
    pub async fn request(self, client: &Client) -> anyhow::Result<ExecRequest> {
        let mut request = ExecRequest::argv(self.argv);
        if let Some(timeout) = self.timeout {
            request = request.timeout(timeout.as_secs().max(1));
        }
        for (name, value) in self.env {
            request = request.env(name, value);
        }
        for (local, path) in &self.puts {
            let key = client
                .upload_input(local)
                .await
                .with_context(|| format!("uploading {}", local.display()))?;
            request = request.input(path, key);
        }
        Ok(request)
    }
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

/// Follows the job from `first` (the submit's look at it); a Ctrl-C, or one that came
/// during the submit (`interrupted`), cancels it.
async fn follow_cancelling_on_ctrl_c(
    client: &Client,
    uid: &str,
    first: Option<PollResponse>,
    interrupted: bool,
) -> anyhow::Result<i32> {
    let follow = client.tail_after(uid, first, super::stdout_sink());
    tokio::pin!(follow);
    if !interrupted {
        tokio::select! {
            code = &mut follow => return Ok(code?),
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    eprintln!("\naws-exec: cancelling {uid} (Ctrl-C again to leave it running)");
    let cancel = client.cancel(uid);
    tokio::pin!(cancel);
    let mut cancelled = false;
    loop {
        tokio::select! {
            code = &mut follow => return Ok(code?),
            state = &mut cancel, if !cancelled => {
                cancelled = true;
                if let Err(e) = state {
                    eprintln!("aws-exec: cancel failed: {e}");
                }
            }
            _ = tokio::signal::ctrl_c() => {
                eprintln!("aws-exec: left running: {uid} (follow it with `aws-exec tail {uid}`)");
                return Ok(INTERRUPTED);
            }
        }
    }
}
