//! `aws-exec tail UID`: follow a job that is running or done.

use crate::cli::TailArgs;

pub async fn run(args: TailArgs) -> anyhow::Result<i32> {
    let client = args.remote.client()?;
    Ok(client.tail(&args.uid, super::stdout_sink()).await?)
}
