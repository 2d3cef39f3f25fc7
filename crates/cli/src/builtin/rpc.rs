//! `aws-exec rpc NAME JSON`: call a registered function on the service.

use aws_exec_client::ExecRequest;

use crate::cli::RpcArgs;

pub async fn run(args: RpcArgs) -> anyhow::Result<i32> {
    let client = args.remote.client()?;
    let request = ExecRequest::rpc(args.name, args.args);
    Ok(client.exec(&request, super::stdout_sink()).await?)
}
