//! `aws-exec rerun UID`: submit a job's request again as a new job, and follow it as
//! `exec` does. The same request: command, timeout, retries, notification, where it runs,
//! its variables, its inputs (by key, while the service keeps them) and its secrets (by
//! name, their values as they are now). Standard input is not kept by the service: piped
//! input becomes the new job's, and a job that had input is not rerun without it.

use std::io::{IsTerminal, Read};

use anyhow::Context;
use aws_exec_client::{ClientError, ExecRequest};
use aws_exec_protocol::wire::Command;
use aws_exec_protocol::JobMeta;

use crate::cli::RerunArgs;

pub async fn run(args: RerunArgs) -> anyhow::Result<i32> {
    let client = args.remote.client()?;
    let uid = crate::uids::resolve(&client, &args.uid).await?;
    let job = client.status(&uid).await?;
    let mut request = request_of(&job);
    if !args.no_stdin && !std::io::stdin().is_terminal() {
        let mut stdin = Vec::new();
        std::io::stdin()
            .read_to_end(&mut stdin)
            .context("reading standard input")?;
        if !stdin.is_empty() {
            request = request.stdin(stdin);
        }
    }
    if job.rerun.stdin && request.stdin_base64.is_none() && !args.no_stdin {
        anyhow::bail!(
            "{uid} read standard input, which the service does not keep: pipe it again \
             (`... | aws-exec rerun {uid}`), or pass -n to run it without"
        );
    }
    let new = client.submit(&request).await.map_err(|e| match e {
        ClientError::Api {
            status: 400,
            message,
        } if message.starts_with("inputs.") => {
            anyhow::anyhow!(
                "{message}: {uid}'s uploaded files are no longer kept; run it again with exec --put"
            )
        }
        e => e.into(),
    })?;
    if args.detach {
        println!("{new}");
        return Ok(0);
    }
    eprintln!("aws-exec: {uid} again as {new}");
    super::exec::follow(&client, &new, None, false).await
}

/// The request that started `job`, as far as the service keeps it.
fn request_of(job: &JobMeta) -> ExecRequest {
    let mut request = match &job.command {
        Command::Argv { argv } => ExecRequest::argv(argv.clone()),
        Command::Rpc { name, args } => ExecRequest::rpc(name.clone(), args.clone()),
    };
    if let Some(timeout) = job.timeout {
        request = request.timeout(timeout);
    }
    request.retry = job.retry.clone();
    request.notify = job.notify.clone();
    request.runner = job.runner.clone();
    if let Some(size) = job.task_size {
        request.cpu = Some(aws_exec_protocol::Vcpus(f64::from(size.cpu) / 1024.0));
        request.memory_mb = Some(size.memory_mb);
    }
    let given = &job.rerun;
    request.env = unless_empty(&given.env);
    request.inputs = unless_empty(&given.inputs);
    request.executable = unless_empty(&given.executable);
    request.secrets = unless_empty(&given.secrets);
    request.secret_files = unless_empty(&given.secret_files);
    request
}

/// A request leaves out what it does not use.
fn unless_empty<T: Clone + Default + PartialEq>(value: &T) -> Option<T> {
    (*value != T::default()).then(|| value.clone())
}
