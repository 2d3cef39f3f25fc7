//! `aws-exec artifacts UID [--get DIR]`: the files a job left in `$AWS_EXEC_ARTIFACTS`.

use std::path::Path;

use aws_exec_client::Client;

use crate::cli::ArtifactsArgs;

pub async fn run(args: ArtifactsArgs) -> anyhow::Result<i32> {
    let client = args.remote.client()?;
    if let Some(dir) = &args.get {
        download(&client, &args.uid, dir).await?;
        return Ok(0);
    }
    for artifact in client.artifacts(&args.uid).await? {
        println!("{}\t{}", artifact.size, artifact.path);
    }
    Ok(0)
}

/// Downloads job `uid`'s artifacts into `dir` and says on stderr what arrived.
pub async fn download(client: &Client, uid: &str, dir: &Path) -> anyhow::Result<()> {
    let got = client.download_artifacts(uid, dir).await?;
    let bytes: u64 = got.iter().map(|a| a.size).sum();
    eprintln!(
        "aws-exec: {} artifact(s), {bytes} bytes, in {}",
        got.len(),
        dir.display()
    );
    Ok(())
}
