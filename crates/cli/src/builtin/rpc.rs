//! `aws-exec rpc NAME JSON`: call a registered function on the service and follow it as
//! `exec` follows a command.

use aws_exec_client::ExecRequest;

use crate::cli::RpcArgs;

pub async fn run(args: RpcArgs) -> anyhow::Result<i32> {
    let client = args.remote.client()?;
    let request = ExecRequest::rpc(args.name, args.args);
    let uid = client.submit(&request).await?;
    super::exec::follow(&client, &uid, None, false).await
}
