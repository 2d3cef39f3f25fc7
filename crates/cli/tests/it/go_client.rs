//! aws-exec's own Go client, `Exec()`, works against this service unchanged: the requests
//! below are what it sends (every field present, zero values for the unused ones, the key in
//! an `auth` header) and the loop reads the log as it does, where only 200/206 carry data,
//! 403/416 mean "not yet" and any other answer is an error.

use std::time::Duration;

use aws_exec::commands::registry;
use aws_exec_testkit::Service;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Submits `body` and follows the job as that client does; returns the log and exit code.
async fn go_exec(svc: &Service, body: Value) -> (Vec<u8>, i32) {
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{}/api/exec", svc.url()))
        .header("auth", &svc.key)
        .body(serde_json::to_vec(&body).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let uid = resp.json::<Value>().await.unwrap()["uid"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut log = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        assert!(tokio::time::Instant::now() < deadline, "job did not end");
        let resp = http
            .get(format!(
                "{}/api/exec?uid={uid}&range-start={}",
                svc.url(),
                log.len()
            ))
            .header("auth", &svc.key)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let poll: Value = resp.json().await.unwrap();
        if let Some(exit) = poll["exit"].as_i64() {
            return (log, exit as i32);
        }
        let url = poll["url"].as_str().expect("a log url until the exit");
        let resp = http
            .get(url)
            .header("range", format!("bytes={}-", log.len()))
            .send()
            .await
            .unwrap();
        match resp.status().as_u16() {
            200 | 206 => log.extend_from_slice(&resp.bytes().await.unwrap()),
            403 | 416 => tokio::time::sleep(Duration::from_secs(1)).await,
            other => panic!("that client gives up on HTTP {other} from the log url"),
        }
    }
}

#[tokio::test]
async fn a_silent_argv_job_followed_as_the_go_client_does() {
    let svc = Service::start(registry()).await;
    // Silent for a while first: the log url must answer "not yet", never 404.
    let (log, exit) = go_exec(
        &svc,
        json!({
            "push-urls": null,
            "argv": ["bash", "-c", "sleep 3; printf 'late\\n'; sleep 1.5; printf 'later\\n'; exit 3"],
            "rpc-name": "",
            "rpc-args": "",
        }),
    )
    .await;
    assert_eq!(log, b"late\nlater\n");
    assert_eq!(exit, 3);
    svc.stop().await;
}

#[tokio::test]
async fn an_rpc_sent_with_a_null_argv() {
    let svc = Service::start(registry()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("marker-file"), b"").unwrap();
    let (log, exit) = go_exec(
        &svc,
        json!({
            "push-urls": null,
            "argv": null,
            "rpc-name": "listdir",
            "rpc-args": json!({"path": dir.path()}).to_string(),
        }),
    )
    .await;
    assert_eq!(exit, 0, "{}", String::from_utf8_lossy(&log));
    assert!(String::from_utf8_lossy(&log).contains("marker-file"));
    svc.stop().await;
}

#[tokio::test]
async fn a_job_that_prints_nothing_at_all() {
    let svc = Service::start(registry()).await;
    let (log, exit) = go_exec(
        &svc,
        json!({"push-urls": null, "argv": ["true"], "rpc-name": "", "rpc-args": ""}),
    )
    .await;
    assert_eq!((log.len(), exit), (0, 0));
    svc.stop().await;
}

#[tokio::test]
async fn a_retried_job_followed_as_the_go_client_does_shows_every_attempt_and_the_last_code() {
    let svc = Service::start(registry()).await;
    let (log, exit) = go_exec(
        &svc,
        json!({
            "push-urls": null,
            "argv": ["bash", "-c", "sleep 1; echo \"try $AWS_EXEC_ATTEMPT\"; [ \"$AWS_EXEC_ATTEMPT\" = 3 ] || exit 75; exit 4"],
            "rpc-name": "",
            "rpc-args": "",
            "retry": {"attempts": 3, "delay": 1, "on-exit": [75]},
        }),
    )
    .await;
    assert_eq!(
        String::from_utf8_lossy(&log),
        "try 1\n[aws-exec] attempt 2 of 3\ntry 2\n[aws-exec] attempt 3 of 3\ntry 3\n"
    );
    assert_eq!(exit, 4);
    svc.stop().await;
}
