//! `aws-exec usage [--since 7d]`: what your jobs used, summed per day (UTC): runs, wall
//! time, CPU time, the largest peak memory, log bytes, and on AWS the estimated cost.

use std::collections::BTreeMap;

use aws_exec_client::{JobMeta, ListQuery};
use clap::Args;
use serde::Serialize;

use crate::cli::Remote;
use crate::show::{bytes, now, seconds, usd};

#[derive(Debug, Args)]
pub struct UsageArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// How far back to look (30m, 12h, 7d)
    #[arg(long, default_value = "7d", value_parser = crate::cli::parse_duration)]
    pub since: std::time::Duration,
    /// Print the sums as JSON
    #[arg(long)]
    pub json: bool,
}

/// One day's sums (or all days').
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct Sums {
    pub jobs: u64,
    pub wall_ms: u64,
    pub cpu_ms: u64,
    /// The largest of the jobs' peaks.
    pub peak_memory_bytes: u64,
    pub log_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_nano_usd: Option<u64>,
}

impl Sums {
    fn add(&mut self, job: &JobMeta) {
        self.jobs += 1;
        let Some(u) = &job.usage else { return };
        self.wall_ms += u.wall_ms;
        self.cpu_ms += u.cpu_user_ms + u.cpu_system_ms;
        self.peak_memory_bytes = self.peak_memory_bytes.max(u.peak_memory_bytes);
        self.log_bytes += u.log_bytes;
        if let Some(cost) = u.cost_nano_usd {
            *self.cost_nano_usd.get_or_insert(0) += cost;
        }
    }
}

#[derive(Debug, Serialize)]
struct Report {
    /// Jobs submitted from this moment on (seconds since the epoch).
    since: u64,
    days: BTreeMap<String, Sums>,
    total: Sums,
}

pub async fn run(args: UsageArgs) -> anyhow::Result<i32> {
    let client = args.remote.client()?;
    let since = now().saturating_sub(args.since.as_secs());
    let jobs = client.list_all(&ListQuery::default()).await?;
    let mut report = Report {
        since,
        days: BTreeMap::new(),
        total: Sums::default(),
    };
    for job in jobs.iter().filter(|j| j.submitted >= since) {
        let day = crate::show::moment(job.submitted)[..10].to_owned();
        report.days.entry(day).or_default().add(job);
        report.total.add(job);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(0);
    }
    println!(
        "{:<10}  {:>5}  {:>9}  {:>9}  {:>9}  {:>9}  COST",
        "DAY", "JOBS", "WALL", "CPU", "PEAK", "LOG"
    );
    let row = |label: &str, s: &Sums| {
        println!(
            "{:<10}  {:>5}  {:>9}  {:>9}  {:>9}  {:>9}  {}",
            label,
            s.jobs,
            seconds(s.wall_ms),
            seconds(s.cpu_ms),
            bytes(s.peak_memory_bytes),
            bytes(s.log_bytes),
            s.cost_nano_usd.map_or("-".to_owned(), usd)
        );
    };
    for (day, sums) in &report.days {
        row(day, sums);
    }
    row("total", &report.total);
    Ok(0)
}
