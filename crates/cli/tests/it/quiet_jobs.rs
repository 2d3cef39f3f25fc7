//! Jobs their caller waits for, kept quiet until they end: what a short one costs in S3
//! requests (counted by a proxy before moto_server); one that runs longer is stored as any
//! job (listed, cancellable) from its first moments on; one whose `serve` dies while it is
//! quiet is found lost by the caller's repeated submit, not unknown.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_exec_testkit::{json_of, wait_until, LocalServe, S3Proxy, S3Server, ServeProcess};

const BIN: &str = env!("CARGO_BIN_EXE_aws-exec");

struct OnS3 {
    serve: ServeProcess,
    proxy: S3Proxy,
    server: S3Server,
}

async fn on_s3() -> OnS3 {
    let server = S3Server::moto();
    server.bucket("short").await;
    let proxy = S3Proxy::start(&server.endpoint).await;
    let env = server.env_via(&proxy.endpoint);
    let serve = ServeProcess::start(BIN, &["--bucket", "short"], &env);
    OnS3 {
        serve,
        proxy,
        server,
    }
}

impl OnS3 {
    fn cli(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env("PROJECT_URL", &self.serve.url)
            .env("AUTH", &self.serve.key)
            .args(args);
        cmd
    }

    /// Runs the command line and answers what it printed, with every S3 request made
    /// meanwhile (and in the half second after, for anything left behind).
    async fn counted(&self, args: &[&str]) -> (Output, Vec<String>) {
        self.proxy.stats.all_log.lock().unwrap().clear();
        let mut cmd = self.cli(args);
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let requests = self.proxy.stats.all_log.lock().unwrap().clone();
        (out, requests)
    }
}

fn writes(requests: &[String]) -> Vec<&String> {
    requests
        .iter()
        .filter(|r| r.starts_with("PUT ") || r.starts_with("POST "))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_job_costs_at_most_five_writes_and_ten_requests() {
    let s3 = on_s3().await;
    // The first call after start reads what a fresh service reads once.
    assert!(s3.counted(&["exec", "--", "true"]).await.0.status.success());
    for (args, out) in [
        (&["exec", "--", "true"][..], ""),
        (&["exec", "--", "echo", "hi"], "hi\n"),
    ] {
        let (output, requests) = s3.counted(args).await;
        assert!(output.status.success(), "{output:?}");
        assert_eq!(String::from_utf8_lossy(&output.stdout), out);
        let writes = writes(&requests);
        assert!(writes.len() <= 5, "{} writes: {writes:#?}", writes.len());
        assert!(
            requests.len() <= 10,
            "{} requests: {requests:#?}",
            requests.len()
        );
        // Every object a job keeps is there: log, exit, size, and its meta in the listing.
        for object in ["/log.txt", "/exit", "/size", "/index/default/"] {
            assert!(
                writes.iter().any(|w| w.contains(object)),
                "{object} not written: {writes:#?}"
            );
        }
    }
    // Not waited for, a job is stored at submit, its log empty from then on: a job that
    // prints nothing leaves it so, and writes it no second time.
    let (output, requests) = s3.counted(&["exec", "--detach", "--", "true"]).await;
    assert!(output.status.success(), "{output:?}");
    let uid = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let log = format!("jobs/default/{uid}/log.txt");
    assert_eq!(
        writes(&requests)
            .iter()
            .filter(|w| w.contains(&log))
            .count(),
        1,
        "{requests:#?}"
    );
    assert_eq!(
        s3.cli(&["tail", &uid]).output().unwrap().status.code(),
        Some(0)
    );
    let listed = s3.cli(&["ls", "--json"]).output().unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(4), "{listed}");
    assert!(s3.server.keys("short", "open/").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waited_for_job_that_runs_on_is_listed_and_can_be_cancelled() {
    let s3 = on_s3().await;
    let waiting = s3
        .cli(&["exec", "--", "sh", "-c", "echo started; sleep 60"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Revealed within a moment: listed as running, with its open marker and run claim.
    let uid = wait_until(Duration::from_secs(10), "the job to be listed", || {
        let out = s3.cli(&["ls", "--json"]).output().unwrap();
        async move {
            let listed: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            let job = listed.as_array()?.first()?.clone();
            (job["state"] == "running").then(|| job["uid"].as_str().unwrap().to_owned())
        }
    })
    .await;
    assert_eq!(s3.server.keys("short", "open/").await.len(), 1);
    let claim = format!("jobs/default/{uid}/claim");
    assert!(s3.server.keys("short", &claim).await.contains(&claim));
    let cancelled = s3.cli(&["cancel", &uid]).output().unwrap();
    assert!(cancelled.status.success(), "{cancelled:?}");
    let out = tokio::task::spawn_blocking(move || waiting.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(128 + 15), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "started\n");
    assert!(s3.server.keys("short", "open/").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_job_whose_serve_dies_never_hands_its_uid_out() {
    let mut local = LocalServe::start(BIN);
    let post = |url: String, key: String| async move {
        reqwest::Client::new()
            .post(format!("{url}/api/exec?wait=20"))
            .header("auth", key)
            .header("Idempotency-Key", "the-same-request")
            .body(r#"{"argv": ["sleep", "30"]}"#)
            .send()
            .await
    };
    let first = tokio::spawn(post(local.serve.url.clone(), local.serve.key.clone()));
    // The idempotency record is all a quiet job has stored: serve dies the moment it is
    // there, well within the job's first 200 ms.
    let records = std::path::Path::new(&local.data).join("idempotency/default");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(&records).map_or(true, |mut d| d.next().is_none()) {
        assert!(Instant::now() < deadline, "no idempotency record");
        std::thread::sleep(Duration::from_millis(1));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(local.serve.pid() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(
        first.await.unwrap().is_err(),
        "the first request was answered"
    );
    let jobs = std::path::Path::new(&local.data).join("jobs");
    assert!(
        std::fs::read_dir(&jobs).map_or(true, |mut d| d.next().is_none()),
        "the job was stored before serve died"
    );
    // The repeat is told to try again (the key's record is taken over after a minute and
    // the job made anew), never given the uid of a job that cannot be found.
    local.restart(&[]);
    let again = post(local.serve.url.clone(), local.serve.key.clone())
        .await
        .unwrap();
    assert_eq!(again.status(), reqwest::StatusCode::CONFLICT);
    let said: serde_json::Value = again.json().await.unwrap();
    assert!(
        said["error"].as_str().unwrap().contains("retry shortly"),
        "{said}"
    );
}

/// A caller that stopped waiting while its job was still queued left the job quiet: its
/// repeat with the same Idempotency-Key was told to retry, and after a minute a second job
/// was made while the first still ran. Gone, the caller leaves the job stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_stops_waiting_for_a_queued_job_leaves_it_stored_for_its_repeat() {
    let local = LocalServe::start_with(BIN, &["--concurrency", "1"]);
    let http = reqwest::Client::new();
    let post = |wait: &str, within: Duration| {
        http.post(format!("{}/api/exec?wait={wait}", local.serve.url))
            .header("auth", &local.serve.key)
            .header("Idempotency-Key", "queued-then-gone")
            .body(r#"{"argv": ["echo", "once"]}"#)
            .timeout(within)
            .send()
    };
    // The one slot taken for a while.
    let busy = http
        .post(format!("{}/api/exec", local.serve.url))
        .header("auth", &local.serve.key)
        .body(r#"{"argv": ["sleep", "4"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(busy.status(), 200);
    // The caller hangs up while its job waits for the slot.
    let gone = post("20", Duration::from_millis(500)).await;
    assert!(gone.is_err_and(|e| e.is_timeout()), "the caller gave up");
    // A repeat in the moment before serve sees the hang-up is told to retry shortly, as
    // one while the first request is handled is; within a second or two it is answered.
    let deadline = Instant::now() + Duration::from_secs(3);
    let again = loop {
        let again = post("0", Duration::from_secs(10)).await.unwrap();
        if again.status() != 409 || Instant::now() > deadline {
            break again;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(again.status(), 200, "{:?}", again.text().await);
    let said: serde_json::Value = again.json().await.unwrap();
    let uid = said["uid"].as_str().unwrap().to_owned();
    // One job: the repeat names the first, which runs once the slot frees.
    let listed = json_of(
        http.get(format!("{}/api/jobs", local.serve.url))
            .header("auth", &local.serve.key),
    )
    .await;
    let echoes = listed["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["command"]["argv"][0] == "echo")
        .count();
    assert_eq!(echoes, 1, "{listed}");
    let out = Command::new(BIN)
        .env("PROJECT_URL", &local.serve.url)
        .env("AUTH", &local.serve.key)
        .args(["tail", &uid])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "once\n");
}
