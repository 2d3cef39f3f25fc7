//! How logs travel, measured as a user meets it, each row beside a baseline measured in the
//! same run: the `aws-exec` CLI against task-spooler (`tsp`) and a pipe locally; on S3
//! (moto_server, behind a proxy that counts requests and bytes) against a single PUT of the
//! same log and an old client that polls the API.
//!
//! The CLI is the static musl build the README's quickest install makes, built on first
//! run; the default build (`cargo build --release`, built apart on first run) is measured
//! too, and its own part of the round trip (against a stand-in service that answers at once).
//!
//! Run with `cargo bench -p aws-exec --bench transport` (needs `tsp`, moto_server and the
//! musl target, which `bin/setup.sh` installs).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_exec_client::{Client, ExecRequest, PollResponse};
use aws_exec_testkit::{static_build, S3Proxy, S3Server, ServeProcess};

const BIN: &str = env!("CARGO_BIN_EXE_aws-exec");

/// The static build of the CLI, the one every CLI row uses.
fn static_bin() -> &'static Path {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| static_build::cli(Path::new(BIN)))
}

/// The CLI as `cargo build --release` makes it, built apart (`target/default-build`) on
/// first run: the benchmark's own build of the package has the features its
/// dev-dependencies ask for (the AWS parts) unified into it, a binary a megabyte larger.
fn default_bin() -> &'static Path {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
        let profile_dir = Path::new(BIN).parent().expect("a profile directory");
        let target_dir = profile_dir
            .parent()
            .expect("a target directory")
            .join("default-build");
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "--release",
                "-p",
                "aws-exec",
                "--bin",
                "aws-exec",
            ])
            .arg("--manifest-path")
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target_dir)
            .status()
            .expect("running cargo");
        assert!(status.success(), "building the default aws-exec failed");
        target_dir.join("release").join("aws-exec")
    })
}

fn row(what: &str, ours: String, baseline: String) {
    println!("{what:<58} {ours:>20} {baseline:>26}");
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// The `aws-exec` CLI (its static build) against `serve` at `url`.
fn cli(url: &str, key: &str) -> Command {
    cli_of(static_bin(), url, key)
}

/// `aws-exec` built as `bin` is, against `serve` at `url`.
fn cli_of(bin: &Path, url: &str, key: &str) -> Command {
    let mut cmd = aws_exec_testkit::env::clean_command(bin, &[]);
    cmd.env("PROJECT_URL", url).env("AUTH", key);
    cmd
}

/// The URL of a stand-in for the service, on a thread of its own for the rest of the run,
/// that answers every submit as for a job that ended at once and printed nothing.
fn answering_at_once() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let ended = serde_json::json!({
                "uid": "1796400967.fb17d6e1-0db4-4713-bac7-61af60553339",
                "poll": {"exit": 0},
            });
            let app = axum::Router::new().route(
                "/api/exec",
                axum::routing::post(move || async move { axum::Json(ended) }),
            );
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    url
}

/// Runs `cmd` once and answers its wall time in milliseconds; it must succeed.
fn timed(cmd: &mut Command) -> f64 {
    let t = Instant::now();
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    t.elapsed().as_secs_f64() * 1e3
}

/// A script printing its clock (ns) `n` times, `pause` apart, after `quiet` seconds.
fn clock_script(n: u32, pause: &str, quiet: &str) -> String {
    format!("sleep {quiet}; for i in $(seq {n}); do date +%s%N; sleep {pause}; done")
}

/// Latencies (ms) from each line's printed clock to its arrival on `cmd`'s stdout.
fn line_latencies(cmd: &mut Command) -> Vec<f64> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let mut lat = Vec::new();
    for line in out.lines() {
        let arrived = now_ns();
        if let Ok(printed) = line.unwrap().trim().parse::<u128>() {
            lat.push((arrived.saturating_sub(printed)) as f64 / 1e6);
        }
    }
    assert!(child.wait().unwrap().success());
    lat
}

/// A memory figure of process `pid` in MiB, by its name in /proc/PID/status: `VmRSS`
/// (now) or `VmHWM` (its peak).
fn memory_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

#[tokio::main]
async fn main() {
    println!("{:<58} {:>20} {:>26}", "benchmark", "aws-exec", "baseline");
    local().await;
    s3().await;
}

async fn local() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let serve = ServeProcess::start(BIN, &["--data-dir", data.to_str().unwrap()], &[]);

    // task-spooler, on a private socket.
    let socket = dir.path().join("tsp.socket");
    let tsp = |args: &[&str]| {
        let mut cmd = Command::new("tsp");
        cmd.env("TS_SOCKET", &socket).args(args);
        cmd
    };
    timed(&mut tsp(&["-f", "true"]));
    let runs = 40;
    let (mut ours, mut default_build, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        ours.push(timed(
            cli(&serve.url, &serve.key).args(["exec", "--", "true"]),
        ));
        default_build.push(timed(
            cli_of(default_bin(), &serve.url, &serve.key).args(["exec", "--", "true"]),
        ));
        theirs.push(timed(&mut tsp(&["-f", "true"])));
    }
    let (a, d, b) = (median(ours), median(default_build), median(theirs));
    row(
        "`exec -- true` via the CLI, round trip p50",
        format!("{a:.1} ms ({:.2}x)", a / b),
        format!("{b:.1} ms (tsp -f true)"),
    );
    row(
        "  the same with the CLI's default (dynamic) build",
        format!("{d:.1} ms ({:.2}x)", d / b),
        format!("{b:.1} ms (tsp -f true)"),
    );

    // The CLI's own part: the default build against a stand-in that answers every submit at
    // once, beside task-spooler's client starting and stopping.
    let stand_in = answering_at_once();
    let (mut alone, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        alone.push(timed(
            cli_of(default_bin(), &stand_in, "any").args(["exec", "--", "true"]),
        ));
        theirs.push(timed(&mut tsp(&["-V"])));
    }
    let (a, b) = (median(alone), median(theirs));
    row(
        "  its CLI alone: a stand-in service answering at once",
        format!("{a:.1} ms ({:.2}x)", a / b),
        format!("{b:.1} ms (tsp -V)"),
    );
    let _ = tsp(&["-K"]).status();

    let script = clock_script(40, "0.05", "0");
    let ours =
        line_latencies(cli(&serve.url, &serve.key).args(["exec", "--", "sh", "-c", &script]));
    let piped = line_latencies(Command::new("sh").args(["-c", &script]));
    row(
        "log latency, line printed -> CLI stdout, local, p50",
        format!("{:.1} ms", median(ours)),
        format!("{:.2} ms (pipe)", median(piped)),
    );
}

async fn s3() {
    let server = S3Server::moto();
    let s3 = server.bucket("bench").await;
    let proxy = S3Proxy::start(&server.endpoint).await;
    let env = server.env_via(&proxy.endpoint);
    let serve = ServeProcess::start(BIN, &["--bucket", "bench"], &env);
    let client = Client::new(&serve.url, &serve.key).unwrap();
    let stats = proxy.stats.clone();

    // S3 requests of a short job run by the CLI, which waits for it (so it stays quiet
    // until its end), against the same job submitted without waiting and followed (what
    // `--detach` and aws-exec's own clients do: every object a job can have).
    let count = |since: usize| {
        let log = proxy.stats.all_log.lock().unwrap();
        let all = &log[since..];
        let writes = all
            .iter()
            .filter(|r| r.starts_with("PUT ") || r.starts_with("POST "))
            .count();
        (writes, all.len())
    };
    let settled = || tokio::time::sleep(Duration::from_millis(500));
    timed(cli(&serve.url, &serve.key).args(["exec", "--", "true"]));
    for argv in [&["true"][..], &["echo", "hi"]] {
        settled().await;
        let since = proxy.stats.all_log.lock().unwrap().len();
        timed(cli(&serve.url, &serve.key).arg("exec").arg("--").args(argv));
        settled().await;
        let (writes, all) = count(since);
        let since = proxy.stats.all_log.lock().unwrap().len();
        let uid = client
            .submit(&ExecRequest::argv(argv.to_vec()))
            .await
            .unwrap();
        client.tail(&uid, |_| {}).await.unwrap();
        settled().await;
        let (base_writes, base_all) = count(since);
        row(
            &format!(
                "S3 writes / requests, `exec -- {}` (goal 5 / 10)",
                argv.join(" ")
            ),
            format!("{writes} / {all}"),
            format!("{base_writes} / {base_all} (not waited for)"),
        );
    }

    // Latency of a line through S3, default settings: the CLI following from storage.
    let script = clock_script(30, "0.3", "0");
    let ours =
        line_latencies(cli(&serve.url, &serve.key).args(["exec", "--", "sh", "-c", &script]));
    row(
        "log latency through S3 (moto_server), p50",
        format!("{:.0} ms", median(ours)),
        "goal <= 1000 ms".into(),
    );

    // Bytes PUT for an 8 MiB log written over 16 s, against one PUT of the same bytes.
    let before = stats.put_bytes.load(Ordering::SeqCst);
    let request = ExecRequest::argv([
        "bash",
        "-c",
        "for i in $(seq 64); do head -c 131072 /dev/urandom; sleep 0.25; done",
    ]);
    let uid = client.submit(&request).await.unwrap();
    assert_eq!(client.tail(&uid, |_| {}).await.unwrap(), 0);
    let ours = (stats.put_bytes.load(Ordering::SeqCst) - before) as f64 / (8 << 20) as f64;
    let before = stats.put_bytes.load(Ordering::SeqCst);
    let direct = aws_sdk_s3::Client::from_conf(
        s3.config()
            .to_builder()
            .endpoint_url(&proxy.endpoint)
            .build(),
    );
    direct
        .put_object()
        .bucket("bench")
        .key("one-put")
        .body(vec![7u8; 8 << 20].into())
        .send()
        .await
        .unwrap();
    let one = (stats.put_bytes.load(Ordering::SeqCst) - before) as f64 / (8 << 20) as f64;
    row(
        "bytes PUT / final log, 8 MiB written over 16 s",
        format!("{ours:.2}x"),
        format!("{one:.2}x (one PUT of it)"),
    );

    // Write requests per minute for a line every 50 ms over 30 s: the log's own writes
    // while it streams, and every write of the job (submit and end included).
    stats.put_log.lock().unwrap().clear();
    let started = Instant::now();
    let request = ExecRequest::argv([
        "bash",
        "-c",
        "for i in $(seq 600); do echo line $i; sleep 0.05; done",
    ]);
    let uid = client.submit(&request).await.unwrap();
    assert_eq!(client.tail(&uid, |_| {}).await.unwrap(), 0);
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    let (segments, all) = {
        let log = stats.put_log.lock().unwrap();
        let mine: Vec<_> = log.iter().filter(|(_, p)| p.contains(&uid)).collect();
        let segments = mine.iter().filter(|(_, p)| p.contains("/log/")).count();
        (segments, mine.len())
    };
    let per_min = segments as f64 / minutes;
    stats.put_log.lock().unwrap().clear();
    let request = ExecRequest::argv(["bash", "-c", "sleep 2; date +%s%N; sleep 1"]);
    let uid = client.submit(&request).await.unwrap();
    let mut printed = Vec::new();
    client
        .tail(&uid, |b| printed.extend_from_slice(b))
        .await
        .unwrap();
    let printed: u128 = String::from_utf8(printed).unwrap().trim().parse().unwrap();
    let stored = stats
        .put_log
        .lock()
        .unwrap()
        .iter()
        .find(|(_, path)| path.contains(&uid) && path.contains("/log/"))
        .map(|(t, _)| *t)
        .unwrap();
    row(
        "S3 writes per minute, a line every 50 ms",
        format!("{per_min:.0} (+{} per job)", all - segments),
        "goal <= 60 (Go original)".into(),
    );
    row(
        "  and a quiet job's first line stored after",
        format!("{:.0} ms", (stored - printed) as f64 / 1e6),
        "goal <= 200 ms".into(),
    );

    // The service's memory for one job printing 32 MiB.
    let idle = memory_mib(serve.pid(), "VmRSS");
    let request = ExecRequest::argv(["bash", "-c", "head -c 33554000 /dev/urandom"]);
    let uid = client.submit(&request).await.unwrap();
    assert_eq!(client.tail(&uid, |_| {}).await.unwrap(), 0);
    let peak = memory_mib(serve.pid(), "VmHWM");
    row(
        "service memory, one job printing 32 MiB on S3",
        format!("+{:.0} MiB", peak - idle),
        format!("{idle:.0} MiB idle"),
    );

    // API calls while following a 10 s job: through a counting proxy before the service.
    let api = S3Proxy::start(&serve.url).await;
    let counted = Client::new(&api.endpoint, &serve.key).unwrap();
    let request = ExecRequest::argv([
        "bash",
        "-c",
        "for i in $(seq 10); do echo $i; sleep 1; done",
    ]);
    let uid = counted.submit(&request).await.unwrap();
    let before = api.stats.gets.load(Ordering::SeqCst);
    assert_eq!(counted.tail(&uid, |_| {}).await.unwrap(), 0);
    let ours = api.stats.gets.load(Ordering::SeqCst) - before;
    let uid = counted.submit(&request).await.unwrap();
    let before = api.stats.gets.load(Ordering::SeqCst);
    let mut offset = 0u64;
    loop {
        match counted.poll(&uid, offset).await.unwrap() {
            PollResponse::Exit { .. } | PollResponse::Inline { .. } => break,
            PollResponse::Url { url, .. } => {
                let read = counted.read_log(&url, offset, &mut |_| {}).await.unwrap();
                offset += read;
                if read == 0 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    let old = api.stats.gets.load(Ordering::SeqCst) - before;
    row(
        "API calls following a 10 s job on S3",
        format!("{ours}"),
        format!("{old} (polling the API)"),
    );

    // S3 requests of one follower of that job, against one that looks for the next segment
    // and the end every 250 ms: each is the requests of a followed run less those of the
    // same job run unfollowed (its own writes and the runner's cancel checks).
    let requests = || {
        let s = &proxy.stats;
        s.gets.load(Ordering::SeqCst)
            + s.puts.load(Ordering::SeqCst)
            + s.other.load(Ordering::SeqCst)
    };
    let before = requests();
    client.submit(&request).await.unwrap();
    tokio::time::sleep(Duration::from_secs(13)).await;
    let alone = requests() - before;
    let before = requests();
    let uid = client.submit(&request).await.unwrap();
    assert_eq!(client.tail(&uid, |_| {}).await.unwrap(), 0);
    let ours = requests() - before - alone;
    let before = requests();
    let uid = client.submit(&request).await.unwrap();
    naive_storage_follower(&client, &uid).await;
    let naive = requests() - before - alone;
    row(
        "S3 requests of a follower of a 10 s job (goal <= 40)",
        format!("{ours}"),
        format!("{naive} (a look every 250 ms)"),
    );
}

/// Follows a job from storage as a simple client would: the next segment and the end,
/// every 250 ms.
async fn naive_storage_follower(client: &Client, uid: &str) {
    let PollResponse::Url {
        follow: Some(follow),
        ..
    } = client.poll_for(uid, 0, None, Some(0)).await.unwrap()
    else {
        panic!("no follow URLs");
    };
    let http = reqwest::Client::new();
    let mut next = 0;
    loop {
        let got = http.get(&follow.segments[next]).send().await.unwrap();
        if got.status().is_success() {
            got.bytes().await.unwrap();
            next += 1;
            continue;
        }
        if http
            .get(&follow.size)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
        {
            http.get(&follow.exit).send().await.unwrap();
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
