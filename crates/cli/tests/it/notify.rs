//! Notifications of a job's end through the real binary, to a receiver on loopback: signed
//! as Standard Webhooks says (checked by a verifier written apart from the service, in
//! Python), retried with the same id until a 2xx, never delaying the job's end, and
//! surviving a restart of `serve`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_exec_testkit::{wait_until, LocalServe};
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_aws-exec");
const ALLOW: [&str; 2] = ["--allow-push-host", "127.0.0.1"];

/// A request the receiver got.
#[derive(Clone, Debug)]
struct Got {
    headers: HeaderMap,
    body: String,
}

/// A receiver on loopback answering each POST with the next of `answers` (the last one
/// again once they run out); 0 means never to answer.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Got>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receiver(answers: &[u16]) -> Receiver {
    let got: Arc<Mutex<Vec<Got>>> = Arc::default();
    let answers = Arc::new(answers.to_vec());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post({
            let got = got.clone();
            move |headers: HeaderMap, body: String| async move {
                let n = {
                    let mut got = got.lock().unwrap();
                    got.push(Got { headers, body });
                    got.len()
                };
                let status = answers[(n - 1).min(answers.len() - 1)];
                if status == 0 {
                    std::future::pending::<()>().await;
                }
                StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Receiver { url, got, server }
}

impl Receiver {
    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize) -> Vec<Got> {
        wait_until(Duration::from_secs(30), "notifications", || async {
            let got = self.got();
            (got.len() >= n).then_some(got)
        })
        .await
    }
}

/// Verifies a request as a receiver would, following the Standard Webhooks specification,
/// in Python: the signature over `id.timestamp.body` with the base64-decoded secret.
fn verifies(secret: &str, got: &Got) -> bool {
    let header = |name: &str| got.headers[name].to_str().unwrap().to_owned();
    let script = r#"
import base64, hashlib, hmac, sys
secret, msg_id, ts, signatures = sys.argv[1:5]
body = sys.stdin.buffer.read()
key = base64.b64decode(secret.removeprefix("whsec_"))
expected = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()
ok = any(s.split(",", 1) == ["v1", expected] for s in signatures.split(" "))
print("ok" if ok else "bad")
"#;
    let mut child =
        std::process::Command::new(aws_exec_testkit::s3::tool("AWS_EXEC_PYTHON", "python3"))
            .args(["-c", script, secret])
            .args([
                header("webhook-id"),
                header("webhook-timestamp"),
                header("webhook-signature"),
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(got.body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "ok"
}

fn status(local: &LocalServe, uid: &str) -> Value {
    serde_json::from_str(&local.ok(&["status", uid, "--json"])).unwrap()
}

#[tokio::test]
async fn a_jobs_end_is_posted_once_signed_with_the_callers_secret() {
    let local = LocalServe::start_with(BIN, &ALLOW);
    let hook = receiver(&[204]).await;
    let secret = local.ok(&["notify", "secret"]).trim().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(local.ok(&["notify", "secret"]).trim(), secret, "kept");

    let out = local.cli(&["exec", "--notify", &hook.url, "--", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    let got = hook.wait_for(1).await;
    assert!(verifies(&secret, &got[0]), "{:?}", got[0]);
    assert!(!verifies(
        "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        &got[0]
    ));
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(body["type"], "job.ended");
    assert_eq!(body["data"]["state"], "exited");
    assert_eq!(body["data"]["exit"], 3);
    let uid = body["data"]["uid"].as_str().unwrap().to_owned();
    let delivered = wait_until(Duration::from_secs(10), "delivered", || async {
        let meta = status(&local, &uid);
        (meta["notified"]["delivered"] == true).then_some(meta)
    })
    .await;
    assert_eq!(delivered["notified"]["attempts"], 1);
    assert_eq!(delivered["notified"]["last"], "HTTP 204");
    let shown = local.ok(&["status", &uid]);
    assert!(shown.contains("delivered (1 attempt)"), "{shown}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(hook.got().len(), 1, "once");

    // Only the end states asked for; a rotated secret signs what comes next.
    local.ok(&[
        "exec",
        "--notify",
        &hook.url,
        "--notify-on",
        "failed,timed-out",
        "--",
        "true",
    ]);
    let rotated = local
        .ok(&["notify", "secret", "--rotate"])
        .trim()
        .to_owned();
    assert_ne!(rotated, secret);
    local.cli(&[
        "exec",
        "--notify",
        &hook.url,
        "--timeout",
        "1",
        "--",
        "sleep",
        "5",
    ]);
    let got = hook.wait_for(2).await;
    assert_eq!(got.len(), 2, "the run that exited 0 was not told");
    let body: Value = serde_json::from_str(&got[1].body).unwrap();
    assert_eq!(body["data"]["state"], "timed-out");
    assert!(verifies(&rotated, &got[1]));
}

#[tokio::test]
async fn a_failing_receiver_gets_the_same_id_again_until_it_answers_2xx() {
    let local = LocalServe::start_with(BIN, &ALLOW);
    let hook = receiver(&[500, 503, 200]).await;
    local.ok(&["exec", "--notify", &hook.url, "--", "true"]);
    let got = hook.wait_for(3).await;
    let ids: Vec<&str> = got
        .iter()
        .map(|g| g.headers["webhook-id"].to_str().unwrap())
        .collect();
    assert_eq!(ids, [ids[0]; 3], "one id for every attempt");
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    let uid = body["data"]["uid"].as_str().unwrap().to_owned();
    let meta = wait_until(Duration::from_secs(10), "delivered", || async {
        let meta = status(&local, &uid);
        (meta["notified"]["delivered"] == true).then_some(meta)
    })
    .await;
    assert_eq!(meta["notified"]["attempts"], 3);
}

#[tokio::test]
async fn a_receiver_that_never_answers_does_not_delay_the_jobs_end() {
    let local = LocalServe::start_with(BIN, &ALLOW);
    let hook = receiver(&[0]).await;
    let started = Instant::now();
    let out = local.cli(&["exec", "--notify", &hook.url, "--", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    hook.wait_for(1).await;
    // And the next job ends as soon, with that attempt still waiting.
    let started = Instant::now();
    let out = local.cli(&["exec", "--", "true"]);
    assert!(out.status.success());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn bad_notify_urls_and_states_are_refused() {
    let local = LocalServe::start_with(BIN, &ALLOW);
    for (args, says) in [
        (vec!["--notify", "ftp://example.com/x"], "http(s) URL"),
        (
            vec!["--notify", "http://10.1.2.3/hook"],
            "not a public address",
        ),
        (
            vec!["--notify", "http://169.254.169.254/"],
            "not a public address",
        ),
    ] {
        let mut all = vec!["exec"];
        all.extend(args.iter().copied());
        all.extend(["--", "true"]);
        let out = local.cli(&all);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says) && err.contains("400"), "{args:?}: {err}");
    }
    let resp = reqwest::Client::new()
        .post(format!("{}/api/exec", local.serve.url))
        .header("auth", &local.serve.key)
        .body(
            r#"{"argv": ["true"], "notify": {"url": "https://example.com/h", "on": ["running"]}}"#,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert!(resp.text().await.unwrap().contains("not an end state"));
}

#[tokio::test]
async fn a_delivery_waiting_to_be_retried_survives_a_restart_of_serve() {
    let mut local = LocalServe::start_with(BIN, &ALLOW);
    let hook = receiver(&[500, 200]).await;
    local.ok(&["exec", "--notify", &hook.url, "--", "true"]);
    let got = hook.wait_for(1).await;
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    let uid = body["data"]["uid"].as_str().unwrap().to_owned();
    local.restart(&ALLOW);
    let got = hook.wait_for(2).await;
    assert_eq!(got[0].headers["webhook-id"], got[1].headers["webhook-id"]);
    let meta = wait_until(Duration::from_secs(10), "delivered", || async {
        let meta = status(&local, &uid);
        (meta["notified"]["delivered"] == true).then_some(meta)
    })
    .await;
    assert_eq!(meta["notified"]["attempts"], 2);
}

/// Deliveries went one at a time, 15 s each for a receiver that never answers: with one
/// key's 60 jobs notifying such a receiver, another key's notification waited for minutes.
/// They go side by side now, at most a few of one owner's at once.
#[tokio::test]
async fn one_keys_silent_receiver_holds_up_nobody_elses_notifications() {
    let args = [&ALLOW[..], &["--concurrency", "32"]].concat();
    let local = LocalServe::start_with(BIN, &args);
    let silent = receiver(&[0]).await;
    let heard = receiver(&[204]).await;
    let alice = local.client();
    let mut flood = Vec::new();
    for _ in 0..60 {
        let request = aws_exec_client::ExecRequest::argv(["true"]).notify(&silent.url);
        flood.push(alice.submit(&request).await.unwrap());
    }
    for uid in &flood {
        alice.tail(uid, |_| {}).await.unwrap();
    }
    silent.wait_for(aws_exec_backend::notify::PER_OWNER).await;

    let zoe = local.new_user("zoe");
    let request = aws_exec_client::ExecRequest::argv(["true"]).notify(&heard.url);
    let uid = zoe.submit(&request).await.unwrap();
    zoe.tail(&uid, |_| {}).await.unwrap();
    let ended = Instant::now();
    let got = wait_until(Duration::from_secs(60), "zoe's notification", || async {
        let got = heard.got();
        (!got.is_empty()).then_some(got)
    })
    .await;
    assert!(got[0].body.contains(&uid), "{}", got[0].body);
    assert!(
        ended.elapsed() < Duration::from_secs(5),
        "zoe's notification came {:?} after her job ended",
        ended.elapsed()
    );
    // Alice's receiver never holds more than her share of the deliveries under way.
    assert!(
        silent.got().len() <= 2 * aws_exec_backend::notify::PER_OWNER,
        "{}",
        silent.got().len()
    );
}
