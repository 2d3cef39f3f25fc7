//! Lambda mode: with `AWS_LAMBDA_RUNTIME_API` set, the binary serves Lambda events instead
//! of parsing a command line; the wiring is [`LambdaApp::from_env`].

use aws_exec_backend::lambda_edge::LambdaApp;

pub fn enabled() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

pub async fn run() -> anyhow::Result<i32> {
    LambdaApp::from_env(crate::commands::registry())
        .await?
        .run()
        .await
        .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))?;
    Ok(0)
}
