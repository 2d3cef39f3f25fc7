//! `aws-exec artifacts UID [--get DIR]`: the files a job left in `$AWS_EXEC_ARTIFACTS`.

use std::path::Path;

use aws_exec_client::Client;

use crate::cli::ArtifactsArgs;

pub async fn run(args: ArtifactsArgs) -> anyhow::Result<i32> {
    let client = args.remote.client()?;
    let uid = crate::uids::resolve(&client, &args.uid).await?;
    if let Some(dir) = &args.get {
        download(&client, &uid, dir).await?;
        return Ok(0);
    }
    let artifacts = client.artifacts(&uid).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&artifacts)?);
        return Ok(0);
    }
    for artifact in artifacts {
        println!("{}\t{}", artifact.size, artifact.path);
    }
    Ok(0)
}

/// Downloads job `uid`'s artifacts into `dir` and says on stderr what arrived.
pub async fn download(client: &Client, uid: &str, dir: &Path) -> anyhow::Result<()> {
    let progress = crate::progress::bar(format!("{}", dir.display()));
    let got = client.download_artifacts_with(uid, dir, progress).await?;
    let bytes: u64 = got.iter().map(|a| a.size).sum();
    eprintln!(
        "aws-exec: {} artifact(s), {bytes} bytes, in {}",
        got.len(),
        dir.display()
    );
    Ok(())
}
