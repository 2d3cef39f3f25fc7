//! `aws-exec schedule add|ls|run|state|rm`: jobs that start on a clock. Each run is an ordinary
//! job of yours (`ls`, `tail`, `cancel` work on it) whose metadata names the schedule.

use aws_exec_client::ScheduleSpec;
use aws_exec_protocol::keys::DefKind;

use super::last_run;
use crate::cli::{ScheduleArgs, ScheduleCmd};
use crate::show::ahead;

pub async fn run(args: ScheduleArgs) -> anyhow::Result<i32> {
    let client = args.remote.client()?;
    match args.command {
        ScheduleCmd::Add {
            name,
            cron,
            tz,
            overlap,
            state,
            job,
        } => {
            let spec = ScheduleSpec {
                cron,
                tz,
                overlap: overlap.parse().map_err(anyhow::Error::msg)?,
                exec: (*job).request(&client).await?,
                state,
            };
            let schedule = client.put_schedule(&name, &spec).await?;
            let next = schedule.next.map_or("never".to_owned(), ahead);
            println!("{name}: next run {next}");
        }
        ScheduleCmd::Ls { json } => {
            let schedules = client.schedules().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&schedules)?);
                return Ok(0);
            }
            println!(
                "{:<20}  {:<16}  {:<16}  {:<8}  LAST RUN",
                "NAME", "CRON", "TZ", "NEXT"
            );
            for s in &schedules {
                println!(
                    "{:<20}  {:<16}  {:<16}  {:<8}  {}",
                    s.name.as_str(),
                    s.cron,
                    s.tz,
                    s.next.map_or("-".to_owned(), ahead),
                    last_run(s.last.as_ref())
                );
            }
        }
        ScheduleCmd::Run { name } => println!("{}", client.run_schedule(&name).await?),
        ScheduleCmd::State(args) => {
            return super::state::run(&client, DefKind::Schedule, args).await
        }
        ScheduleCmd::Rm { name } => client.delete_schedule(&name).await?,
    }
    Ok(0)
}
