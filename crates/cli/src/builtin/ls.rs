//! `aws-exec ls`: the caller's jobs, newest first, as a table or JSON.

use aws_exec_client::ListQuery;

use crate::cli::LsArgs;
use crate::show::{age, command, duration};

pub async fn run(args: LsArgs) -> anyhow::Result<i32> {
    let client = args.remote.client()?;
    let page = client
        .list(&ListQuery {
            state: args.state,
            limit: Some(args.limit),
            before: None,
        })
        .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&page.jobs)?);
        return Ok(0);
    }
    println!(
        "{:<47}  {:<9}  {:>4}  {:>5}  {:>8}  COMMAND",
        "UID", "STATE", "EXIT", "AGE", "DURATION"
    );
    for job in &page.jobs {
        let exit = job.exit.map_or("-".to_owned(), |e| e.to_string());
        let mut command = command(&job.command);
        if command.chars().count() > 60 {
            command = command.chars().take(59).collect::<String>() + "…";
        }
        println!(
            "{:<47}  {:<9}  {:>4}  {:>5}  {:>8}  {}",
            job.uid.as_str(),
            job.state.as_str(),
            exit,
            age(job.submitted),
            duration(job),
            command.replace(['\n', '\t'], " ")
        );
    }
    Ok(0)
}
