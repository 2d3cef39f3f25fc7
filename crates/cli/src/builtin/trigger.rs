//! `aws-exec trigger add|ls|state|rm`: jobs that start when a file lands in your inbox under a
//! prefix; the file is in the job's directory and its path in `$AWS_EXEC_INPUT`.

use aws_exec_client::TriggerSpec;
use aws_exec_protocol::keys::DefKind;

use super::last_run;
use crate::cli::{TriggerArgs, TriggerCmd};

pub async fn run(args: TriggerArgs) -> anyhow::Result<i32> {
    let client = args.remote.client()?;
    match args.command {
        TriggerCmd::Add {
            name,
            prefix,
            state,
            job,
        } => {
            let spec = TriggerSpec {
                prefix,
                exec: (*job).request(&client).await?,
                state,
            };
            let trigger = client.put_trigger(&name, &spec).await?;
            println!("{name}: fires on uploads under {:?}", trigger.prefix);
        }
        TriggerCmd::Ls { json } => {
            let triggers = client.triggers().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&triggers)?);
                return Ok(0);
            }
            println!("{:<20}  {:<24}  LAST RUN", "NAME", "PREFIX");
            for t in &triggers {
                println!(
                    "{:<20}  {:<24}  {}",
                    t.name.as_str(),
                    t.prefix,
                    last_run(t.last.as_ref())
                );
            }
        }
        TriggerCmd::State(args) => return super::state::run(&client, DefKind::Trigger, args).await,
        TriggerCmd::Rm { name } => client.delete_trigger(&name).await?,
    }
    Ok(0)
}
