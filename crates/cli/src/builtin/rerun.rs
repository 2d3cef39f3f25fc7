//! `aws-exec rerun UID`: submit a job's command again (with its timeout, retries and
//! notification) as a new job, and
//! follow it as `exec` does. Its environment, input and files are not kept by the service,
//! so they are not sent again.

use aws_exec_client::ExecRequest;
use aws_exec_protocol::wire::Command;

use crate::cli::RerunArgs;

pub async fn run(args: RerunArgs) -> anyhow::Result<i32> {
    let client = args.remote.client()?;
    let uid = crate::uids::resolve(&client, &args.uid).await?;
    let job = client.status(&uid).await?;
    let mut request = match job.command {
        Command::Argv { argv } => ExecRequest::argv(argv),
        Command::Rpc { name, args } => ExecRequest::rpc(name, args),
    };
    if let Some(timeout) = job.timeout {
        request = request.timeout(timeout);
    }
    request.retry = job.retry;
    request.notify = job.notify;
    let new = client.submit(&request).await?;
    if args.detach {
        println!("{new}");
        return Ok(0);
    }
    eprintln!("aws-exec: {uid} again as {new}");
    super::exec::follow(&client, &new, None, false).await
}
