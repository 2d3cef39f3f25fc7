//! `aws-exec status UID`: one job's metadata, for a person or as JSON.

use crate::cli::StatusArgs;
use crate::show::{age, command, duration, moment};

pub async fn run(args: StatusArgs) -> anyhow::Result<i32> {
    let client = args.remote.client()?;
    let uid = crate::uids::resolve(&client, &args.uid).await?;
    let job = client.status(&uid).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&job)?);
        return Ok(0);
    }
    println!("uid:       {}", job.uid.as_str());
    println!("command:   {}", command(&job.command));
    println!("state:     {}", job.state);
    if let Some(exit) = job.exit {
        println!("exit:      {exit}");
    }
    println!(
        "submitted: {} ({} ago)",
        moment(job.submitted),
        age(job.submitted)
    );
    println!("duration:  {}", exact_duration(&job));
    if let Some(runner) = &job.runner {
        let size = job
            .task_size
            .map(|s| format!(" ({} vCPU, {} MiB)", s.vcpus(), s.memory_mb))
            .unwrap_or_default();
        println!("runner:    {runner}{size}");
        if let Some(task) = &job.task {
            println!("task:      {task}");
        }
    }
    if let Some(timeout) = job.timeout {
        println!("timeout:   {timeout}s");
    }
    if let Some(schedule) = &job.schedule {
        println!("schedule:  {schedule}");
    }
    if let Some(trigger) = &job.trigger {
        println!("trigger:   {trigger}");
    }
    if let Some(retry) = &job.retry {
        let attempt = job.attempt();
        match job.retry_at {
            Some(at) => println!(
                "attempt:   {attempt} of {}, due {}",
                retry.attempts,
                crate::show::ahead(at)
            ),
            None => println!("attempt:   {attempt} of {}", retry.attempts),
        }
        for past in &job.attempts {
            let why = past
                .notes
                .first()
                .map(|n| format!(": {n}"))
                .unwrap_or_default();
            println!(
                "  #{:<8} {} (exit {}){why}",
                past.attempt, past.state, past.exit
            );
        }
    }
    if job.truncated {
        println!("log:       truncated at its cap; the rest of the output was dropped");
    }
    for note in &job.notes {
        println!("note:      {note}");
    }
    if let Some(notify) = &job.notify {
        let said = match &job.notified {
            None => "not yet sent".to_owned(),
            Some(d) if d.delivered => format!("delivered ({})", attempts(d.attempts)),
            Some(d) => {
                let last = d.last.as_deref().unwrap_or("-");
                match (&d.stopped, d.next) {
                    (Some(why), _) => format!("not delivered: {why} (last: {last})"),
                    (None, Some(next)) => format!(
                        "{}, last: {last}; next {}",
                        attempts(d.attempts),
                        crate::show::ahead(next)
                    ),
                    (None, None) => format!("{}, last: {last}", attempts(d.attempts)),
                }
            }
        };
        println!("notify:    {} {said}", notify.url);
    }
    if let Some(usage) = &job.usage {
        println!("usage:     {}", crate::show::usage(usage));
        if let (Some(cost), Some(billed)) = (usage.cost_nano_usd, usage.billed_ms) {
            println!(
                "cost:      about {} ({} billed)",
                crate::show::usd(cost),
                crate::show::seconds(billed)
            );
        }
    }
    Ok(0)
}

/// "1 attempt", "3 attempts".
fn attempts(n: u32) -> String {
    match n {
        1 => "1 attempt".to_owned(),
        n => format!("{n} attempts"),
    }
}

/// How long it ran, to the tenth of a second under a minute once it has ended (its usage
/// has the wall time in milliseconds): a 0.6 s job did not take 0 s.
fn exact_duration(job: &aws_exec_protocol::JobMeta) -> String {
    match &job.usage {
        Some(usage) if usage.wall_ms < 60_000 => format!("{:.1}s", usage.wall_ms as f64 / 1000.0),
        _ => duration(job),
    }
}
