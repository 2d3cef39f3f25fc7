//! `aws-exec tail UID`: a job's log, from its start or its last lines (`-n`), followed to
//! its end (or, with `--no-follow`, as far as it goes now). A closed stdout (`| head`)
//! ends it; the job goes on.

use aws_exec_client::{Client, PollResponse};

use crate::cli::TailArgs;

pub async fn run(args: TailArgs) -> anyhow::Result<i32> {
    let client = args.remote.client()?;
    let uid = crate::uids::resolve(&client, &args.uid).await?;
    let offset = match args.lines {
        Some(lines) => client.start_of_last_lines(&uid, lines).await?,
        None => 0,
    };
    let (mut sink, closed) = super::stdout_sink();
    if args.no_follow {
        return tokio::select! {
            code = closed.wait() => Ok(code),
            read = what_is_there(&client, &uid, offset, &mut sink) => read,
        };
    }
    tokio::select! {
        code = closed.wait() => Ok(code),
        ended = client.tail_ended(&uid, offset, None, &mut sink) => Ok(super::ended(ended?)),
    }
}

/// The log from `offset` as far as it goes now; the job's exit code if it has ended, else
/// 0.
async fn what_is_there(
    client: &Client,
    uid: &str,
    mut offset: u64,
    sink: &mut (dyn FnMut(&[u8]) + Send),
) -> anyhow::Result<i32> {
    loop {
        match client.poll(uid, offset).await? {
            PollResponse::Exit { exit, notes } => {
                return Ok(super::ended(aws_exec_client::Ended { exit, notes }))
            }
            // Only a submit's answer carries a log inline.
            PollResponse::Inline { .. } => anyhow::bail!("job {uid}: an unexpected answer"),
            PollResponse::Url { url, .. } => match client.read_log(&url, offset, sink).await? {
                0 => return Ok(0),
                read => offset += read,
            },
        }
    }
}
