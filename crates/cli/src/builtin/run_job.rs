//! `aws-exec-server run-job OWNER UID`: the entry of a Fargate task. Runs that job, read from
//! the bucket in `PROJECT_BUCKET`, to its end (see the backend's `fargate_edge`).

use crate::cli::RunJobArgs;

pub async fn run(args: RunJobArgs) -> anyhow::Result<i32> {
    let code = aws_exec_backend::fargate_edge::run_job(
        crate::commands::registry(),
        crate::commands::rpc_process(),
        &args.owner,
        &args.uid,
    )
    .await?;
    Ok(code)
}
