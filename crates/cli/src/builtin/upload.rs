//! `aws-exec upload PATH FILE`: puts a file in your inbox, which fires the triggers whose
//! prefix PATH is under (on AWS any S3 client writing `inbox/NAME/PATH` does the same).

use anyhow::Context;

use crate::cli::UploadArgs;

pub async fn run(args: UploadArgs) -> anyhow::Result<i32> {
    let client = args.remote.client()?;
    let key = client
        .upload(&args.path, &args.file)
        .await
        .with_context(|| format!("uploading {}", args.file.display()))?;
    println!("{key}");
    Ok(0)
}
