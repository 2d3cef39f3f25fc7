//! `aws-exec cancel UID...`, `cancel --all`, `cancel --state queued`: cancel jobs; prints
//! each one's state after the request.

use aws_exec_client::{JobState, ListQuery};

use crate::cli::CancelArgs;

pub async fn run(args: CancelArgs) -> anyhow::Result<i32> {
    let client = args.remote.client()?;
    let mut uids = Vec::new();
    for word in &args.uids {
        uids.push(crate::uids::resolve(&client, word).await?);
    }
    let states: &[JobState] = match (args.all, &args.state) {
        (true, _) => &[JobState::Queued, JobState::Running],
        (false, Some(state)) => std::slice::from_ref(state),
        (false, None) => &[],
    };
    for state in states {
        let jobs = client
            .list_all(&ListQuery {
                state: Some(*state),
                limit: Some(1000),
                before: None,
            })
            .await?;
        uids.extend(jobs.into_iter().map(|job| job.uid.to_string()));
    }
    if uids.is_empty() {
        eprintln!("aws-exec: no jobs to cancel");
        return Ok(0);
    }
    let mut failed = false;
    for uid in &uids {
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
