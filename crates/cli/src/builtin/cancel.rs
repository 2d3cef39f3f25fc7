//! `aws-exec cancel UID...`: cancel jobs; prints each one's state after the request.

use crate::cli::CancelArgs;

pub async fn run(args: CancelArgs) -> anyhow::Result<i32> {
    let client = args.remote.client()?;
    let mut failed = false;
    for uid in &args.uids {
        match client.cancel(uid).await {
            Ok(state) => println!("{uid}\t{state}"),
            Err(e) => {
                eprintln!("aws-exec: {uid}: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}
