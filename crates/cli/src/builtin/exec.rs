//! `aws-exec exec -- CMD...`: run a subprocess on the service.

use aws_exec_client::ExecRequest;

use crate::cli::ExecArgs;

pub async fn run(args: ExecArgs) -> anyhow::Result<i32> {
    let client = args.remote.client()?;
    let uid = client.submit(&ExecRequest::argv(args.argv)).await?;
    if args.print_uid {
        eprintln!("uid: {uid}");
    }
    Ok(client.tail(&uid, super::stdout_sink()).await?)
}
