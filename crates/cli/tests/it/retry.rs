//! Retries through the real binary: a job that fails with a listed code runs again after its
//! wait, under the same uid, its log going on through every attempt, and `exit` written once
//! with the last attempt's code. The wait outlives `serve` and a cancel ends it; on a bucket
//! the log goes on across attempts' segments.

use std::time::Duration;

use aws_exec_testkit::{wait::wait_until, LocalServe, S3Server, ServeProcess};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_aws-exec");

fn status(local: &LocalServe, uid: &str) -> Value {
    serde_json::from_str(&local.ok(&["status", uid, "--json"])).unwrap()
}

/// Runs `bash -c SCRIPT` with `options`, followed to its end.
fn exec(local: &LocalServe, options: &[&str], script: &str) -> std::process::Output {
    let mut args = vec!["exec"];
    args.extend_from_slice(options);
    args.extend(["--", "bash", "-c", script]);
    local.cli(&args)
}

/// Each attempt's (state, exit), as meta records them.
fn attempts(meta: &Value) -> Vec<(String, i64)> {
    meta["attempts"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|a| {
                    (
                        a["state"].as_str().unwrap().to_owned(),
                        a["exit"].as_i64().unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_job_failing_with_a_listed_code_runs_three_times_and_ends_with_that_code() {
    let local = LocalServe::start(BIN);
    let out = exec(
        &local,
        &["--retry", "3", "--retry-on", "75,1", "--retry-delay", "1"],
        "echo \"try $AWS_EXEC_ATTEMPT\"; printf 'no newline'; exit 75",
    );
    assert_eq!(out.status.code(), Some(75));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "try 1\nno newline\n[aws-exec] attempt 2 of 3\ntry 2\nno newline\n\
         [aws-exec] attempt 3 of 3\ntry 3\nno newline"
    );
    let meta = status(&local, "last");
    assert_eq!(
        (meta["state"].as_str(), meta["exit"].as_i64()),
        (Some("exited"), Some(75))
    );
    assert_eq!(meta["attempt"], 3);
    assert_eq!(attempts(&meta), vec![("exited".to_owned(), 75); 3]);
    // Each wait was at least the second asked for, less its jitter.
    let times: Vec<u64> = meta["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["started"].as_u64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[1] > w[0]), "{times:?}");
    let shown = local.ok(&["status", "last"]);
    assert!(shown.contains("attempt:   3 of 3"), "{shown}");
}

#[test]
fn a_job_that_succeeds_on_its_second_attempt_ends_0_and_unlisted_codes_are_not_retried() {
    let local = LocalServe::start(BIN);
    let out = exec(
        &local,
        &["--retry", "3", "--retry-delay", "0"],
        "if [ \"$AWS_EXEC_ATTEMPT\" = 1 ]; then echo flaky; exit 1; fi; echo fine",
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, b"flaky\n[aws-exec] attempt 2 of 3\nfine\n");
    let meta = status(&local, "last");
    assert_eq!(
        attempts(&meta),
        [("exited".to_owned(), 1), ("exited".to_owned(), 0)]
    );
    // `rerun` asks for the same retries.
    let out = local.cli(&["rerun", "last"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, b"flaky\n[aws-exec] attempt 2 of 3\nfine\n");

    let out = exec(&local, &["--retry", "3", "--retry-on", "75"], "exit 1");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(attempts(&status(&local, "last")).len(), 1);
    // Nor is a job that cannot start, whatever the codes.
    let out = local.cli(&["exec", "--retry", "3", "--", "no-such-program-here"]);
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(attempts(&status(&local, "last")).len(), 1);
}

#[test]
fn a_timed_out_attempt_is_retried_only_when_asked() {
    let local = LocalServe::start(BIN);
    let out = exec(
        &local,
        &[
            "--timeout",
            "1",
            "--retry",
            "2",
            "--retry-on",
            "timeout",
            "--retry-delay",
            "0",
        ],
        "echo \"try $AWS_EXEC_ATTEMPT\"; exec sleep 30",
    );
    assert_eq!(out.status.code(), Some(124));
    assert_eq!(out.stdout, b"try 1\n[aws-exec] attempt 2 of 2\ntry 2\n");
    let meta = status(&local, "last");
    assert_eq!(attempts(&meta), vec![("timed-out".to_owned(), 124); 2]);
    // Listed codes alone do not retry a timeout.
    let out = local.cli(&[
        "exec",
        "--timeout",
        "1",
        "--retry",
        "2",
        "--",
        "sleep",
        "30",
    ]);
    assert_eq!(out.status.code(), Some(124));
    assert_eq!(attempts(&status(&local, "last")).len(), 1);
}

/// Waits until job `uid` waits for attempt `n`.
async fn waiting_for(local: &LocalServe, uid: &str, n: u64) -> Value {
    wait_until(
        Duration::from_secs(30),
        "the job to wait for its next attempt",
        || async {
            let meta = status(local, uid);
            (meta["attempt"] == n && meta["retry-at"].is_u64()).then_some(meta)
        },
    )
    .await
}

/// Starts `bash -c SCRIPT` with `options`, detached; answers its uid.
fn detached(local: &LocalServe, options: &[&str], script: &str) -> String {
    let out = exec(local, &[&["--detach"], options].concat(), script);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Follows job `uid` to its end: "try 1", then "try 2" ending 0, the first attempt having
/// ended as `first`.
fn ends_on_its_second_try(local: &LocalServe, uid: &str, first: (&str, i64)) {
    let out = local.cli(&["tail", uid]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, b"try 1\n[aws-exec] attempt 2 of 2\ntry 2\n");
    let meta = status(local, uid);
    assert_eq!(
        attempts(&meta),
        [(first.0.to_owned(), first.1), ("exited".to_owned(), 0)]
    );
}

#[tokio::test]
async fn a_cancel_during_the_wait_ends_the_job_and_keeps_its_log() {
    let local = LocalServe::start(BIN);
    let uid = detached(
        &local,
        &["--retry", "3", "--retry-delay", "60"],
        "echo first; exit 1",
    );
    let meta = waiting_for(&local, &uid, 2).await;
    assert_eq!(meta["state"], "queued");
    local.ok(&["cancel", &uid]);
    let meta = status(&local, &uid);
    assert_eq!(meta["state"], "cancelled", "{meta}");
    assert!(meta.get("retry-at").is_none(), "{meta}");
    let out = local.cli(&["tail", &uid]);
    assert_eq!(out.stdout, b"first\n", "the first attempt's log is kept");
    assert_eq!(out.status.code(), Some(143));
    // The cancel took the second attempt's run claim: it never starts.
    let job_dir = std::path::Path::new(&local.data).join(format!("jobs/default/{uid}"));
    assert_eq!(
        std::fs::read(job_dir.join("claim-2")).unwrap(),
        b"cancelled"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(status(&local, &uid)["state"], "cancelled");
}

#[tokio::test]
async fn the_wait_outlives_serve_the_next_attempt_runs_after_a_restart() {
    let mut local = LocalServe::start(BIN);
    let uid = detached(
        &local,
        &["--retry", "2", "--retry-delay", "3"],
        "echo \"try $AWS_EXEC_ATTEMPT\"; [ \"$AWS_EXEC_ATTEMPT\" = 2 ]",
    );
    waiting_for(&local, &uid, 2).await;
    local.restart(&[]);
    // Followed from the new serve: the next attempt runs and ends it.
    ends_on_its_second_try(&local, &uid, ("exited", 1));
}

#[tokio::test]
async fn a_lost_attempt_is_run_again_after_serve_is_killed() {
    let mut local = LocalServe::start(BIN);
    let uid = detached(
        &local,
        &["--retry", "2", "--retry-delay", "0"],
        "echo \"try $AWS_EXEC_ATTEMPT\"; [ \"$AWS_EXEC_ATTEMPT\" = 2 ] || exec sleep 60",
    );
    wait_until(
        Duration::from_secs(30),
        "the first attempt to print",
        || async { (local.cli(&["tail", "--no-follow", &uid]).stdout == b"try 1\n").then_some(()) },
    )
    .await;
    // SIGKILL: nothing of serve's records the attempt's end.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(local.serve.pid() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    local.restart(&[]);
    ends_on_its_second_try(&local, &uid, ("lost", 255));
}

#[tokio::test]
async fn bad_retry_policies_are_refused_with_what_is_wrong() {
    let local = LocalServe::start(BIN);
    let client = local.client();
    for (retry, says) in [
        (serde_json::json!({"attempts": 0}), "retry.attempts"),
        (serde_json::json!({"attempts": 11}), "retry.attempts"),
        (
            serde_json::json!({"attempts": 2, "factor": 0.5}),
            "retry.factor",
        ),
        (
            serde_json::json!({"attempts": 2, "on-exit": [0]}),
            "retry.on-exit",
        ),
        (
            serde_json::json!({"attempts": 2, "delay": 100000}),
            "retry.delay",
        ),
        (serde_json::json!({"attempts": 2, "tries": 3}), "tries"),
        (serde_json::json!("3"), "retry"),
    ] {
        let body = serde_json::json!({"argv": ["true"], "retry": retry});
        let resp = reqwest::Client::new()
            .post(format!("{}/api/exec", local.serve.url))
            .header("auth", &local.serve.key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{retry}");
        let text = resp.text().await.unwrap();
        assert!(text.contains(says), "{retry}: {text}");
    }
    drop(client);
    let out = local.cli(&["exec", "--retry", "11", "--", "true"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let out = local.cli(&["exec", "--retry-on", "75", "--", "true"]);
    assert_eq!(out.status.code(), Some(2), "--retry-on needs --retry");
}

/// On a bucket the log is segments while it grows: each attempt goes on with the next
/// segment, followers see every attempt's output in order, and `log.txt` ends whole.
#[tokio::test]
async fn on_a_bucket_the_log_goes_on_across_attempts() {
    let server = S3Server::moto();
    let s3 = server.bucket("svc").await;
    let serve = ServeProcess::start(BIN, &["--bucket", "svc"], &server.env());
    let script = "for i in 1 2 3; do echo \"$AWS_EXEC_ATTEMPT.$i\"; sleep 0.8; done; \
                  [ \"$AWS_EXEC_ATTEMPT\" = 2 ]";
    let out = std::process::Command::new(BIN)
        .args([
            "exec",
            "--retry",
            "2",
            "--retry-delay",
            "1",
            "--",
            "bash",
            "-c",
            script,
        ])
        .envs(server.env())
        .env("PROJECT_URL", &serve.url)
        .env("AUTH", &serve.key)
        .output()
        .unwrap();
    let want = "1.1\n1.2\n1.3\n[aws-exec] attempt 2 of 2\n2.1\n2.2\n2.3\n";
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        want,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0));
    let keys = server.keys("svc", "jobs/default/").await;
    let log_key = keys.iter().find(|k| k.ends_with("/log.txt")).unwrap();
    let log = s3
        .get_object()
        .bucket("svc")
        .key(log_key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(String::from_utf8_lossy(&log), want);
    let segments = keys.iter().filter(|k| k.contains("/log/")).count();
    assert!(segments >= 3, "written as it grew: {keys:?}");
    assert!(keys.iter().any(|k| k.ends_with("/claim-2")), "{keys:?}");
    drop(serve);
}

#[test]
fn a_schedules_runs_are_retried_as_its_definition_says() {
    let local = LocalServe::start(BIN);
    local.ok(&[
        "schedule",
        "add",
        "flaky",
        "--cron",
        "0 3 * * *",
        "--retry",
        "2",
        "--retry-on",
        "3",
        "--retry-delay",
        "0",
        "--",
        "bash",
        "-c",
        "echo \"run $AWS_EXEC_ATTEMPT\"; [ \"$AWS_EXEC_ATTEMPT\" = 2 ] || exit 3",
    ]);
    let listed = local.ok(&["schedule", "ls", "--json"]);
    assert!(listed.contains("\"attempts\": 2"), "{listed}");
    let uid = local.ok(&["schedule", "run", "flaky"]).trim().to_owned();
    let out = local.cli(&["tail", &uid]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, b"run 1\n[aws-exec] attempt 2 of 2\nrun 2\n");
    let meta = status(&local, &uid);
    assert_eq!(meta["schedule"], "flaky");
    assert_eq!(
        attempts(&meta),
        [("exited".to_owned(), 3), ("exited".to_owned(), 0)]
    );
}

/// A stop `serve` itself causes (SIGTERM) is not a caller's cancel: a job still queued is
/// kept and runs after the restart; a running job that asked for retries runs again; one
/// that did not ends `lost`, saying the service stopped it.
#[test]
fn a_restart_of_serve_keeps_queued_jobs_and_retries_what_it_stopped() {
    let mut local = LocalServe::start_with(BIN, &["--concurrency", "2"]);
    let detach = |options: &[&str], script: &str| {
        let mut args = vec!["exec", "--detach"];
        args.extend_from_slice(options);
        args.extend(["--", "bash", "-c", script]);
        local.ok(&args).trim().to_owned()
    };
    let plain = detach(&[], "echo first; sleep 60");
    let retried = detach(
        &["--retry", "2", "--retry-delay", "1s"],
        r#"echo "attempt $AWS_EXEC_ATTEMPT"; [ "$AWS_EXEC_ATTEMPT" = 2 ] || sleep 60"#,
    );
    let queued = detach(&[], "echo kept");
    let since = std::time::Instant::now();
    while [&plain, &retried]
        .iter()
        .any(|uid| status(&local, uid)["state"] != "running")
    {
        assert!(
            since.elapsed() < Duration::from_secs(15),
            "two jobs running"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(status(&local, &queued)["state"], "queued");

    local.restart(&["--concurrency", "2"]);
    let tail = |uid: &str| local.cli(&["tail", uid]);
    let out = tail(&queued);
    assert_eq!(
        (out.status.code(), out.stdout.as_slice()),
        (Some(0), &b"kept\n"[..])
    );
    let out = tail(&retried);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("attempt 1") && said.ends_with("attempt 2\n"),
        "{said}"
    );
    let meta = status(&local, &plain);
    assert_eq!(
        (&meta["state"], &meta["exit"]),
        (&"lost".into(), &255.into()),
        "{meta}"
    );
    let notes = meta["notes"].to_string();
    assert!(notes.contains("the service stopped it"), "{notes}");
}
