//! Lambda mode ([`crate::server::lambda_mode`]): the binary serves Lambda events instead of
//! reading a command line; the wiring is [`LambdaApp::from_env`].

use aws_exec_backend::lambda_edge::LambdaApp;

pub async fn run() -> anyhow::Result<i32> {
    LambdaApp::from_env(crate::commands::registry(), crate::commands::rpc_process())
        .await?
        .run()
        .await
        .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))?;
    Ok(0)
}
