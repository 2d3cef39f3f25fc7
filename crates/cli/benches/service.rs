//! Service benchmarks, each printed beside a baseline:
//! - round trip: submit `true` and follow it to its exit code, vs. spawning `true` here;
//! - throughput: 31 MiB of output (under the 32 MiB log cap) read back through the service,
//!   vs. the same bytes piped; the same written to stdout and stderr at once, vs. a shell's
//!   `2>&1` into a pipe; and 31 MiB of base64 text with a secret masked in it, vs.
//!   the same job without a secret;
//! - memory: the service's RSS while 50 jobs stream output at once, vs. idle;
//! - another key's round trip while one key floods the queue, vs. the idle service;
//! - a page of a key's newest jobs among 10 000 kept, vs. among 50.
//!
//! Run with `cargo bench -p aws-exec --bench service`.

use std::process::Command;
use std::time::{Duration, Instant};

use aws_exec_backend::auth;
use aws_exec_backend::serve::{LocalConfig, LocalService, StoreLocation};
use aws_exec_client::{Client, ExecRequest};
use aws_exec_protocol::keys::JobKeys;
use aws_exec_protocol::{AuthName, ListQuery, Uid};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

/// One `true` through the service, from submit to its exit code.
async fn round_trip(client: &Client) -> Duration {
    let t = Instant::now();
    let code = client
        .exec(&ExecRequest::argv(["true"]), |_| {})
        .await
        .unwrap();
    assert_eq!(code, 0);
    t.elapsed()
}

fn row(what: &str, service: String, baseline: String) {
    println!("{what:<34} {service:>22} {baseline:>22}");
}

/// MiB/s of `script`'s `mib` MiB of output through the service, and of `baseline`'s
/// through a pipe.
async fn throughput(client: &Client, script: &str, baseline: &str, mib: usize) -> (f64, f64) {
    let t = Instant::now();
    let mut got = 0usize;
    client
        .exec(&ExecRequest::argv(["bash", "-c", script]), |b| {
            got += b.len()
        })
        .await
        .unwrap();
    let service_secs = t.elapsed().as_secs_f64();
    assert_eq!(got, mib << 20);
    let t = Instant::now();
    let piped = Command::new("bash")
        .args(["-c", &format!("{baseline} | cat > /dev/null")])
        .status()
        .unwrap();
    assert!(piped.success());
    let pipe_secs = t.elapsed().as_secs_f64();
    (mib as f64 / service_secs, mib as f64 / pipe_secs)
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = LocalConfig::new(StoreLocation::Dir(dir.path().to_path_buf()));
    config.addr = "127.0.0.1:0".parse().unwrap();
    config.concurrency = 64;
    // One key may hold half the slots: the other half stays for everyone else.
    config.per_user = Some(32);
    // The flood's webhooks go to a receiver on loopback that never answers.
    config.runner.push_policy.allow_hosts = vec!["127.0.0.1".into()];
    let service = LocalService::start(config, aws_exec::commands::registry())
        .await
        .unwrap();
    let key = auth::create(service.store().as_ref(), &"bench".parse().unwrap())
        .await
        .unwrap();
    let client = Client::new(service.url(), key.expose()).unwrap();
    println!(
        "{:<34} {:>22} {:>22}",
        "benchmark", "aws-exec serve", "baseline"
    );

    // Round trip.
    let runs = 100;
    let mut service_times = Vec::new();
    let mut direct_times = Vec::new();
    for _ in 0..runs {
        service_times.push(round_trip(&client).await);
        let t = Instant::now();
        Command::new("true").status().unwrap();
        direct_times.push(t.elapsed());
    }
    service_times.sort();
    direct_times.sort();
    for (name, p) in [
        ("round trip `true`, p50", 0.5),
        ("round trip `true`, p95", 0.95),
    ] {
        row(
            name,
            format!(
                "{:.1} ms",
                percentile(&service_times, p).as_secs_f64() * 1e3
            ),
            format!(
                "{:.1} ms (spawn)",
                percentile(&direct_times, p).as_secs_f64() * 1e3
            ),
        );
    }

    // Throughput: what the job prints, read back through the service, beside the same
    // command into a pipe.
    let mib = 32 - 1; // under the 32 MiB log cap
    let script = format!("head -c {}M /dev/urandom", mib);
    let (ours, piped) = throughput(&client, &script, &script, mib).await;
    row(
        &format!("{mib} MiB of output, end to end"),
        format!("{ours:.0} MiB/s"),
        format!("{piped:.0} MiB/s (pipe)"),
    );
    // The same amount written to stdout and stderr at once, in 64 KiB writes: both reach
    // the log through the one pipe they share, in the order they were written.
    let half = mib / 2;
    let both = format!(
        "head -c {half}M /dev/urandom & head -c {rest}M /dev/urandom >&2; wait",
        rest = mib - half
    );
    let (ours, piped) = throughput(&client, &both, &format!("{{ {both}; }} 2>&1"), mib).await;
    row(
        &format!("{mib} MiB, stdout and stderr at once"),
        format!("{ours:.0} MiB/s"),
        format!("{piped:.0} MiB/s (2>&1 pipe)"),
    );

    // The same bytes as base64 text (where every byte could start a secret's base64 form)
    // with a secret masked, against the same job without one.
    client
        .put_secret("BENCH_TOKEN", "bench-secret-value-0123456789")
        .await
        .unwrap();
    let text = format!(
        "head -c {}M /dev/urandom | base64 -w 100 | head -c {}M",
        mib, mib
    );
    let timed = |request: ExecRequest| {
        let client = client.clone();
        async move {
            let t = Instant::now();
            let mut got = 0usize;
            client.exec(&request, |b| got += b.len()).await.unwrap();
            assert_eq!(got, mib << 20);
            t.elapsed().as_secs_f64()
        }
    };
    let plain = timed(ExecRequest::argv(["bash", "-c", &text])).await;
    let masked = timed(ExecRequest::argv(["bash", "-c", &text]).secret("BENCH_TOKEN")).await;
    row(
        &format!("{mib} MiB of base64, a secret masked"),
        format!("{:.0} MiB/s", mib as f64 / masked),
        format!("{:.0} MiB/s (no secret)", mib as f64 / plain),
    );

    // Memory under load (the service runs in this process).
    let idle = rss_kib();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(idle));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kib(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let jobs: Vec<_> = (0..50)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let request = ExecRequest::argv([
                    "bash",
                    "-c",
                    "for i in $(seq 1 20); do head -c 65536 /dev/urandom | base64; sleep 0.05; done",
                ]);
                client.exec(&request, |_| {}).await.unwrap()
            })
        })
        .collect();
    for job in jobs {
        assert_eq!(job.await.unwrap(), 0);
    }
    sampler.abort();
    row(
        "RSS, 50 jobs streaming ~1.7 MiB each",
        format!(
            "{} MiB peak",
            peak.load(std::sync::atomic::Ordering::Relaxed) / 1024
        ),
        format!("{} MiB idle", idle / 1024),
    );
    // Another key's round trip while one key floods the queue with long jobs whose
    // webhooks go to a receiver that takes the connection and never answers, beside the
    // same round trip on the idle service (above).
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", silent.local_addr().unwrap());
    let holding = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = silent.accept().await {
            held.push(tcp);
        }
    });
    let flood_key = auth::create(service.store().as_ref(), &"flood".parse().unwrap())
        .await
        .unwrap();
    let flooder = Client::new(service.url(), flood_key.expose()).unwrap();
    let mut refused = 0;
    for i in 0..400 {
        // Half end at once (their webhooks hang), half hold slots for a minute.
        let script = if i % 2 == 0 { "true" } else { "sleep 60" };
        let request = ExecRequest::argv(["sh", "-c", script]).notify(&hook);
        if flooder.submit(&request).await.is_err() {
            refused += 1;
        }
    }
    let mut flooded = Vec::new();
    for _ in 0..runs {
        flooded.push(round_trip(&client).await);
    }
    flooded.sort();
    row(
        "`true` while another key floods, p50",
        format!("{:.1} ms", percentile(&flooded, 0.5).as_secs_f64() * 1e3),
        format!(
            "{:.1} ms (idle service)",
            percentile(&service_times, 0.5).as_secs_f64() * 1e3
        ),
    );
    println!("  (the flooding key: 400 submits, {refused} refused at its share of the queue)");
    holding.abort();

    // A page of the newest 20 jobs of a key with 10 000 kept, beside the same page of a
    // key with 50. The 50 are real jobs; the 10 000 are one of them stored again under new
    // uids, as the service stores a job.
    let few = auth::create(service.store().as_ref(), &"few".parse().unwrap())
        .await
        .unwrap();
    let few = Client::new(service.url(), few.expose()).unwrap();
    for _ in 0..50 {
        assert_eq!(
            few.exec(&ExecRequest::argv(["true"]), |_| {})
                .await
                .unwrap(),
            0
        );
    }
    let many_name: AuthName = "many".parse().unwrap();
    let many = auth::create(service.store().as_ref(), &many_name)
        .await
        .unwrap();
    let many = Client::new(service.url(), many.expose()).unwrap();
    let store = service.store();
    let sample = &few.list(&ListQuery::default()).await.unwrap().jobs[0];
    let first = sample.uid.unix_seconds() - 20_000;
    for i in 0..10_000u64 {
        let uid = Uid::new(first + i);
        let mut meta = serde_json::to_value(sample).unwrap();
        meta["uid"] = uid.to_string().into();
        let keys = JobKeys::new(&many_name, &uid);
        let body = serde_json::to_vec(&meta).unwrap();
        // A job's meta is its index entry.
        store.put(&keys.meta(), body.into()).await.unwrap();
    }
    let page = ListQuery {
        limit: Some(20),
        ..ListQuery::default()
    };
    let mut times = [Vec::new(), Vec::new()];
    for _ in 0..200 {
        for (client, times) in [&many, &few].into_iter().zip(times.iter_mut()) {
            let t = Instant::now();
            let listed = client.list(&page).await.unwrap();
            times.push(t.elapsed());
            assert_eq!(listed.jobs.len(), 20);
        }
    }
    for times in &mut times {
        times.sort();
    }
    row(
        "a page of 20 of 10 000 jobs, p50",
        format!("{:.2} ms", percentile(&times[0], 0.5).as_secs_f64() * 1e3),
        format!(
            "{:.2} ms (of 50 jobs)",
            percentile(&times[1], 0.5).as_secs_f64() * 1e3
        ),
    );
    service.shutdown().await;
}
