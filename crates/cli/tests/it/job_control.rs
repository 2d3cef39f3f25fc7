//! Job control against the real service: timeout, env, stdin, cancel, list, status and
//! idempotent submit, through the HTTP API, the client library and the binary.

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_exec::commands::registry;
use aws_exec_client::{ExecRequest, JobState, ListQuery};
use aws_exec_testkit::env::clean_command;
use aws_exec_testkit::{wait_until, S3Server, ServeProcess, Service};
use reqwest::StatusCode;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_aws-exec");

async fn api(
    svc_url: &str,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{svc_url}{path}"))
        .header("auth", key);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(body) = body {
        req = req.body(body.to_owned());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn output(client: &aws_exec_client::Client, uid: &str) -> (Vec<u8>, i32) {
    let mut log = Vec::new();
    let code = tokio::time::timeout(
        Duration::from_secs(30),
        client.tail(uid, |b| log.extend_from_slice(b)),
    )
    .await
    .expect("ends within 30 s")
    .unwrap();
    (log, code)
}

#[tokio::test]
async fn a_timeout_stops_the_job_with_124_and_says_so() {
    let svc = Service::start(registry()).await;
    let client = svc.client();
    let started = Instant::now();
    let uid = client
        .submit(&ExecRequest::argv(["bash", "-c", "echo begun; sleep 30"]).timeout(1))
        .await
        .unwrap();
    let (log, code) = output(&client, &uid).await;
    let took = started.elapsed();
    assert_eq!(code, 124);
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(4),
        "{took:?}"
    );
    let log = String::from_utf8(log).unwrap();
    assert_eq!(log, "begun\n", "the job's bytes alone");
    let meta = client.status(&uid).await.unwrap();
    assert_eq!(meta.notes, ["timed out: the job reached its timeout"]);
    assert_eq!(meta.state, JobState::TimedOut);
    assert_eq!(meta.exit, Some(124));
    assert_eq!(meta.timeout, Some(1));
    svc.stop().await;
}

#[tokio::test]
async fn env_and_every_byte_of_stdin_reach_the_job() {
    let svc = Service::start(registry()).await;
    let client = svc.client();
    let request = ExecRequest::argv(["bash", "-c", r#"printf '%s|%s|' "$GREETING" "$EMPTY"; cat"#])
        .env("GREETING", "hello world = yes")
        .env("EMPTY", "")
        .stdin((0..=255u8).collect::<Vec<_>>());
    let uid = client.submit(&request).await.unwrap();
    let (log, code) = output(&client, &uid).await;
    assert_eq!(code, 0);
    let mut want = b"hello world = yes||".to_vec();
    want.extend(0..=255u8);
    assert_eq!(log, want);
    // Without stdin-base64 a job reads /dev/null: it ends at once.
    let (log, code) = aws_exec_testkit::run_argv(&client, &["cat"]).await;
    assert_eq!((log.len(), code), (0, 0));
    svc.stop().await;
}

#[tokio::test]
async fn bad_options_are_400_naming_the_field() {
    let svc = Service::start(registry()).await;
    let url = svc.url();
    for (body, field) in [
        (r#"{"argv":["true"],"timeout":0}"#, "timeout"),
        (r#"{"argv":["true"],"timeout":100000}"#, "timeout"),
        (r#"{"argv":["true"],"timeout":-1}"#, "timeout"),
        (r#"{"argv":["true"],"timeout":"5"}"#, "timeout"),
        (r#"{"argv":["true"],"env":{"1X":"v"}}"#, "env"),
        (r#"{"argv":["true"],"env":{"A":"a\u0000b"}}"#, "env"),
        (r#"{"argv":["true"],"env":{"A":1}}"#, "env"),
        (r#"{"argv":["true"],"stdin-base64":"%%%"}"#, "stdin-base64"),
    ] {
        let (status, resp) = api(
            &url,
            &svc.key,
            reqwest::Method::POST,
            "/api/exec",
            Some(body),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {resp}");
        assert!(
            resp["error"].as_str().unwrap().contains(field),
            "{body}: {resp}"
        );
    }
    for query in [
        "limit=0",
        "limit=1001",
        "state=done",
        "before=nope",
        "limit=x",
    ] {
        let (status, resp) = api(
            &url,
            &svc.key,
            reqwest::Method::GET,
            &format!("/api/jobs?{query}"),
            None,
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {resp}");
    }
    for query in ["", "uid=", "uid=../x"] {
        let (status, _) = api(
            &url,
            &svc.key,
            reqwest::Method::DELETE,
            &format!("/api/exec?{query}"),
            None,
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
    }
    let (status, _) = api(
        &url,
        &svc.key,
        reqwest::Method::POST,
        "/api/exec",
        Some(r#"{"argv":["true"]}"#),
        &[("idempotency-key", "")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    svc.stop().await;
}

#[tokio::test]
async fn cancel_stops_running_and_queued_jobs_and_leaves_finished_ones() {
    let svc = Service::start_with(registry(), |c| c.concurrency = 1).await;
    let client = svc.client();
    let marker = svc.dir.path().join("queued-ran");
    let running = client
        .submit(&ExecRequest::argv(["bash", "-c", "echo up; sleep 60"]))
        .await
        .unwrap();
    let queued = client
        .submit(&ExecRequest::argv(["touch", marker.to_str().unwrap()]))
        .await
        .unwrap();
    wait_until(Duration::from_secs(10), "the first job to run", || {
        let client = client.clone();
        let uid = running.clone();
        async move { (client.status(&uid).await.unwrap().state == JobState::Running).then_some(()) }
    })
    .await;
    assert_eq!(
        client.status(&queued).await.unwrap().state,
        JobState::Queued
    );

    // The queued one never starts.
    assert_eq!(client.cancel(&queued).await.unwrap(), JobState::Cancelled);
    let (log, code) = output(&client, &queued).await;
    assert_eq!(code, 143);
    assert_eq!(log, b"", "it never ran: nothing of its own");
    assert_eq!(
        client.status(&queued).await.unwrap().notes,
        ["cancelled before it started"]
    );

    // The running one is stopped within seconds and ends with what SIGTERM gave it.
    let started = Instant::now();
    assert_eq!(client.cancel(&running).await.unwrap(), JobState::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(5));
    let (log, code) = output(&client, &running).await;
    assert_eq!(code, 143);
    let log = String::from_utf8(log).unwrap();
    assert_eq!(log, "up\n");
    assert_eq!(client.status(&running).await.unwrap().notes, ["cancelled"]);
    assert_eq!(
        client.status(&running).await.unwrap().state,
        JobState::Cancelled
    );

    // A finished one is left as it is.
    let done = client.submit(&ExecRequest::argv(["true"])).await.unwrap();
    assert_eq!(output(&client, &done).await.1, 0);
    assert_eq!(client.cancel(&done).await.unwrap(), JobState::Exited);
    assert_eq!(output(&client, &done).await.1, 0);

    // Another user's job is not found.
    let bob = svc.client_for(&svc.new_user("bob").await);
    let err = bob.cancel(&done).await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert!(!marker.exists(), "the cancelled queued job never ran");
    svc.stop().await;
}

#[tokio::test]
async fn listing_is_newest_first_paged_filtered_and_per_user() {
    let svc = Service::start(registry()).await;
    let client = svc.client();
    let mut uids = Vec::new();
    for i in 0..5 {
        if i == 3 {
            // A second apart, so the newest-first order is by time, not chance.
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        let uid = client
            .submit(&ExecRequest::argv([
                "bash",
                "-c",
                &format!("exit {}", i % 2),
            ]))
            .await
            .unwrap();
        output(&client, &uid).await;
        uids.push(uid);
    }
    let all = client
        .list_all(&ListQuery {
            limit: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    let listed: Vec<String> = all.iter().map(|m| m.uid.to_string()).collect();
    assert_eq!(listed.len(), 5);
    let mut newer: Vec<&String> = uids[3..].iter().collect();
    newer.sort();
    let mut first_two: Vec<&String> = listed[..2].iter().collect();
    first_two.sort();
    assert_eq!(
        first_two, newer,
        "the two jobs of the later second come first"
    );
    let page = client
        .list(&ListQuery {
            limit: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.jobs.len(), 2);
    assert!(page.next.is_some());
    let rest = client
        .list(&ListQuery {
            before: page.next.clone(),
            limit: Some(10),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rest.jobs.len(), 3);
    assert_eq!(rest.next, None);

    let failed = client
        .list(&ListQuery {
            state: Some(JobState::Exited),
            limit: Some(50),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(failed.jobs.len(), 5, "all five exited by themselves");
    assert!(failed.jobs.iter().all(|m| m.state == JobState::Exited));
    let ones = all.iter().filter(|m| m.exit == Some(1)).count();
    assert_eq!(ones, 2);

    let bob = svc.client_for(&svc.new_user("bob").await);
    assert!(bob
        .list(&ListQuery::default())
        .await
        .unwrap()
        .jobs
        .is_empty());
    svc.stop().await;
}

#[tokio::test]
async fn an_idempotency_key_makes_one_job() {
    let svc = Service::start(registry()).await;
    let url = svc.url();
    let body = r#"{"argv":["bash","-c","echo once"]}"#;
    let key = [("idempotency-key", "retry-me-123")];
    let (s1, r1) = api(
        &url,
        &svc.key,
        reqwest::Method::POST,
        "/api/exec",
        Some(body),
        &key,
    )
    .await;
    let (s2, r2) = api(
        &url,
        &svc.key,
        reqwest::Method::POST,
        "/api/exec",
        Some(body),
        &key,
    )
    .await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(r1["uid"], r2["uid"]);
    let other = r#"{"argv":["bash","-c","echo twice"]}"#;
    let (s3, r3) = api(
        &url,
        &svc.key,
        reqwest::Method::POST,
        "/api/exec",
        Some(other),
        &key,
    )
    .await;
    assert_eq!(s3, StatusCode::UNPROCESSABLE_ENTITY, "{r3}");
    // Another user's same key is theirs alone.
    let bob = svc.new_user("bob").await;
    let (s4, r4) = api(
        &url,
        &bob,
        reqwest::Method::POST,
        "/api/exec",
        Some(body),
        &key,
    )
    .await;
    assert_eq!(s4, StatusCode::OK);
    assert_ne!(r4["uid"], r1["uid"]);
    let jobs = svc.client().list(&ListQuery::default()).await.unwrap().jobs;
    assert_eq!(jobs.len(), 1, "one job for alice");
    svc.stop().await;
}

/// `aws-exec serve` in its own data dir, and the CLI pointed at it.
struct Cli {
    serve: ServeProcess,
    _dir: tempfile::TempDir,
}

impl Cli {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let serve = ServeProcess::start(BIN, &["--data-dir", dir.path().to_str().unwrap()], &[]);
        Cli { serve, _dir: dir }
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = clean_command(
            BIN,
            &[
                ("PROJECT_URL", self.serve.url.clone()),
                ("AUTH", self.serve.key.clone()),
            ],
        );
        cmd.args(args);
        cmd
    }
}

#[test]
fn the_cli_pipes_stdin_sets_env_and_times_out() {
    let cli = Cli::start();
    let mut child = cli
        .command(&[
            "exec",
            "-e",
            "X=42",
            "--",
            "bash",
            "-c",
            "printf '%s:' \"$X\"; cat",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let all: Vec<u8> = (0..=255u8).collect();
    child.stdin.take().unwrap().write_all(&all).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let mut want = b"42:".to_vec();
    want.extend(0..=255u8);
    assert_eq!(out.stdout, want);

    let out = cli
        .command(&["exec", "--timeout", "1s", "--", "sleep", "30"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(124));
}

#[test]
fn the_cli_detaches_lists_shows_and_cancels() {
    let cli = Cli::start();
    let out = cli
        .command(&["exec", "--detach", "--", "bash", "-c", "sleep 60"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let uid = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(uid.parse::<aws_exec_protocol::Uid>().is_ok(), "{uid}");

    let ls = cli.command(&["ls"]).output().unwrap();
    let ls = String::from_utf8(ls.stdout).unwrap();
    assert!(ls.starts_with("UID"), "{ls}");
    assert!(ls.lines().nth(1).unwrap().starts_with(&uid), "{ls}");
    assert!(
        ls.contains("bash -c 'sleep 60'"),
        "quoted as a shell reads it: {ls}"
    );

    let started = Instant::now();
    let cancel = cli.command(&["cancel", &uid]).output().unwrap();
    assert!(cancel.status.success());
    assert_eq!(
        String::from_utf8(cancel.stdout).unwrap().trim(),
        format!("{uid}\tcancelled")
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    let status = cli.command(&["status", &uid, "--json"]).output().unwrap();
    let meta: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(meta["state"], "cancelled");
    assert_eq!(meta["exit"], 143);
    let json = cli
        .command(&["ls", "--state", "cancelled", "--json"])
        .output()
        .unwrap();
    let jobs: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(jobs.as_array().unwrap().len(), 1);
}

#[test]
fn ctrl_c_on_exec_cancels_the_job_and_waits_for_its_end() {
    let cli = Cli::start();
    let (mut child, mut stdout) = exec_until_ready(&cli, "echo ready; sleep 60");
    let started = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(status.code(), Some(143), "the job's own end code");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert_eq!(rest, "", "stdout is the job's alone");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        err.contains("aws-exec: cancelled\n"),
        "the notice on stderr: {err:?}"
    );
}

#[tokio::test]
async fn a_cancel_reaches_a_runner_in_another_process_through_s3() {
    // Two services on one bucket, as the API and a runner are two Lambda invocations.
    let s3 = S3Server::moto();
    s3.bucket("shared").await;
    let runner = ServeProcess::start(BIN, &["--bucket", "shared"], &s3.env());
    let api_side = ServeProcess::start(BIN, &["--bucket", "shared"], &s3.env());
    let client = aws_exec_client::Client::new(&runner.url, &runner.key).unwrap();
    let uid = client
        .submit(&ExecRequest::argv(["bash", "-c", "echo up; sleep 60"]))
        .await
        .unwrap();
    wait_until(Duration::from_secs(10), "the job to run", || {
        let client = client.clone();
        let uid = uid.clone();
        async move { (client.status(&uid).await.unwrap().state == JobState::Running).then_some(()) }
    })
    .await;
    let other = aws_exec_client::Client::new(&api_side.url, &runner.key).unwrap();
    let started = Instant::now();
    let state = other.cancel(&uid).await.unwrap();
    assert_eq!(
        state,
        JobState::Cancelled,
        "the runner noticed within the answer's wait"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let (log, code) = output(&client, &uid).await;
    assert_eq!(code, 143);
    assert_eq!(log, b"up\n");
    assert_eq!(client.status(&uid).await.unwrap().notes, ["cancelled"]);
}

/// The second Ctrl-C said "left running" of a job whose cancel had been sent.
#[test]
fn a_second_ctrl_c_says_what_became_of_the_job() {
    let cli = Cli::start();
    // Deaf to SIGTERM: the cancel takes its whole grace, and the job is still being
    // cancelled at the second Ctrl-C.
    let (mut child, _stdout) = exec_until_ready(&cli, "trap '' TERM; echo ready; sleep 30");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("stopped following"), "{err}");
    assert!(!err.contains("left running"), "{err}");
    // Its cancel was sent and not yet answered: said as such, with where to look.
    assert!(err.contains("before its cancel was answered"), "{err}");
    assert!(err.contains("aws-exec status"), "{err}");
}

/// `aws-exec exec --print-uid -- bash -c SCRIPT` once the job has printed `ready`.
fn exec_until_ready(cli: &Cli, script: &str) -> (std::process::Child, std::process::ChildStdout) {
    let mut child = cli
        .command(&["exec", "--print-uid", "--", "bash", "-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 6];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    assert_eq!(&first, b"ready\n");
    (child, stdout)
}
