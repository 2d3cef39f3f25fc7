//! How logs travel. On S3 (moto_server, behind a proxy that counts and can refuse
//! requests): segments while the job runs, `log.txt` whole at the end, byte for byte the
//! same for a new client (following segments from storage) and an old one (reading
//! `log.txt` by range through the API), at the 32 MiB cap, through 503s and a cancel.
//! Locally: a poll that waits answers as soon as there is news.

use std::time::{Duration, Instant};

use aws_exec_client::{Client, ExecRequest, PollResponse};
use aws_exec_protocol::limits::MAX_LOG_BYTES;
use aws_exec_testkit::{S3Proxy, S3Server, ServeProcess};

const BIN: &str = env!("CARGO_BIN_EXE_aws-exec");

struct OnS3 {
    serve: ServeProcess,
    proxy: S3Proxy,
    s3: aws_sdk_s3::Client,
    _server: S3Server,
}

async fn on_s3() -> OnS3 {
    let server = S3Server::moto();
    let s3 = server.bucket("logs").await;
    let proxy = S3Proxy::start(&server.endpoint).await;
    let env = server.env_via(&proxy.endpoint);
    let serve = ServeProcess::start(BIN, &["--bucket", "logs"], &env);
    OnS3 {
        serve,
        proxy,
        s3,
        _server: server,
    }
}

impl OnS3 {
    fn client(&self) -> Client {
        Client::new(&self.serve.url, &self.serve.key).unwrap()
    }

    async fn object(&self, key: &str) -> Option<Vec<u8>> {
        let got = self
            .s3
            .get_object()
            .bucket("logs")
            .key(key)
            .send()
            .await
            .ok()?;
        Some(got.body.collect().await.unwrap().to_vec())
    }

    async fn keys(&self, prefix: &str) -> Vec<String> {
        let listed = self
            .s3
            .list_objects_v2()
            .bucket("logs")
            .prefix(prefix)
            .send()
            .await
            .unwrap();
        listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    }
}

/// Reads a job as aws-exec's own clients do: poll without `wait` or `segment`, GET the URL
/// from its byte with a Range header, 403/404/416 mean "not yet".
async fn old_client(client: &Client, uid: &str) -> (Vec<u8>, i32) {
    let mut got = Vec::new();
    loop {
        match client.poll(uid, got.len() as u64).await.unwrap() {
            PollResponse::Exit { exit, .. } => return (got, exit),
            PollResponse::Inline { .. } => panic!("an inline log for a poll"),
            PollResponse::Url { url, follow } => {
                assert!(follow.is_none(), "old clients are given no more than a URL");
                let read = client
                    .read_log(&url, got.len() as u64, &mut |b: &[u8]| {
                        got.extend_from_slice(b)
                    })
                    .await
                    .unwrap();
                if read == 0 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

async fn new_client(client: &Client, uid: &str) -> (Vec<u8>, i32) {
    let mut got = Vec::new();
    let exit = client
        .tail(uid, |b: &[u8]| got.extend_from_slice(b))
        .await
        .unwrap();
    (got, exit)
}

struct Pattern {
    bytes: Vec<u8>,
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// A file of every byte value, in an order that does not repeat within 1 MiB, readable by
/// the user jobs run as.
fn pattern_file() -> Pattern {
    use std::os::unix::fs::PermissionsExt;
    let bytes: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("pattern");
    std::fs::write(&path, &bytes).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    Pattern {
        bytes,
        path,
        _dir: dir,
    }
}

impl Pattern {
    /// Starts a job writing known bytes, every value, in bursts with pauses between them
    /// so the log is stored as several segments: `bursts` times `size` bytes of the
    /// pattern, `pause` seconds apart. Answers its uid and the log it must leave.
    async fn start_bursts(
        &self,
        client: &Client,
        bursts: usize,
        size: usize,
        pause: &str,
    ) -> (String, Vec<u8>) {
        let path = self.path.display();
        let script =
            format!("for i in $(seq {bursts}); do head -c {size} {path}; sleep {pause}; done");
        let uid = client
            .submit(&ExecRequest::argv(["bash", "-c", &script]))
            .await
            .unwrap();
        (uid, self.bytes[..size].repeat(bursts))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_are_byte_exact_for_new_and_old_clients_alike() {
    let s3 = on_s3().await;
    let pattern = pattern_file();
    let client = s3.client();
    let (uid, want) = pattern.start_bursts(&client, 4, 300_001, "1.2").await;
    // Both kinds of reader follow the same job at the same time.
    let (new, old) = tokio::join!(new_client(&client, &uid), old_client(&client, &uid));
    assert_eq!(new.1, 0);
    assert_eq!(old.1, 0);
    assert!(
        new.0 == want,
        "the new client read {} bytes of {}",
        new.0.len(),
        want.len()
    );
    assert!(
        old.0 == want,
        "the old client read {} bytes of {}",
        old.0.len(),
        want.len()
    );

    // Stored as several segments while it ran, and whole in log.txt at the end.
    let prefix = format!("jobs/default/{uid}/");
    let segments = s3.keys(&format!("{prefix}log/")).await;
    assert!(segments.len() >= 3, "{segments:?}");
    let mut joined = Vec::new();
    for key in &segments {
        joined.extend(s3.object(key).await.unwrap());
    }
    assert!(joined == want, "the segments joined are the log");
    assert!(s3.object(&format!("{prefix}log.txt")).await.unwrap() == want);
    assert_eq!(
        s3.object(&format!("{prefix}size")).await.unwrap(),
        want.len().to_string().as_bytes()
    );

    // Every byte a reader may start from, at and around each segment boundary: the log's
    // URL answers the rest of it, and 416 at the end.
    let mut starts = vec![0u64, 1, want.len() as u64 - 1];
    let mut boundary = 0u64;
    for key in &segments {
        boundary += s3.object(key).await.unwrap().len() as u64;
        starts.extend([boundary.saturating_sub(1), boundary, boundary + 1]);
    }
    let http = reqwest::Client::new();
    for start in starts.into_iter().filter(|s| *s <= want.len() as u64) {
        let PollResponse::Url { url, .. } = client
            .poll(&uid, start.min(want.len() as u64 - 1))
            .await
            .unwrap()
        else {
            panic!("a URL for byte {start}");
        };
        let resp = http
            .get(&url)
            .header("range", format!("bytes={start}-"))
            .send()
            .await
            .unwrap();
        if start == want.len() as u64 {
            assert_eq!(resp.status(), 416);
            continue;
        }
        assert_eq!(resp.status(), 206, "from byte {start}");
        let body = resp.bytes().await.unwrap();
        assert!(body[..] == want[start as usize..], "from byte {start}");
    }
    let at_end = client.poll(&uid, want.len() as u64).await.unwrap();
    assert_eq!(at_end, PollResponse::exit(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_32_mib_cap_holds_across_segments() {
    let s3 = on_s3().await;
    let client = s3.client();
    let uid = client
        .submit(&ExecRequest::argv([
            "bash",
            "-c",
            "head -c 34000000 /dev/zero | tr '\\0' 'x'; echo never seen",
        ]))
        .await
        .unwrap();
    let mut got = Vec::new();
    let ended = client
        .tail_ended(&uid, 0, None, &mut |b: &[u8]| got.extend_from_slice(b))
        .await
        .unwrap();
    assert_eq!(got.len(), MAX_LOG_BYTES);
    assert!(got.iter().all(|b| *b == b'x'), "the job's bytes alone");
    // Its end was read from storage, and so were the notes beside it.
    let said = format!(
        "the log reached its cap of {MAX_LOG_BYTES} bytes; the rest of the output was dropped"
    );
    assert_eq!((ended.exit, &ended.notes[..]), (0, &[said.clone()][..]));
    let meta = client.status(&uid).await.unwrap();
    assert!(meta.truncated);
    let at_end = client.poll(&uid, MAX_LOG_BYTES as u64).await.unwrap();
    assert_eq!(
        at_end,
        PollResponse::Exit {
            exit: 0,
            notes: vec![said]
        }
    );
    let stored = s3
        .object(&format!("jobs/default/{uid}/log.txt"))
        .await
        .unwrap();
    assert!(stored == got, "log.txt is what the client read");
    let segments = s3.keys(&format!("jobs/default/{uid}/log/")).await;
    assert!(segments.len() >= 4, "pieces of at most 8 MiB: {segments:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segment_writes_refused_with_503_are_sent_again_the_same() {
    let s3 = on_s3().await;
    let pattern = pattern_file();
    let client = s3.client();
    // More refusals in a row than the S3 client retries by itself.
    s3.proxy.stats.fail_puts("/log/", 7);
    let (uid, want) = pattern.start_bursts(&client, 5, 200_003, "0.4").await;
    let (got, exit) = new_client(&client, &uid).await;
    assert_eq!(exit, 0);
    assert!(
        s3.proxy
            .stats
            .failed
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 7,
        "the faults were met"
    );
    assert!(got == want, "read {} bytes of {}", got.len(), want.len());
    let stored = s3
        .object(&format!("jobs/default/{uid}/log.txt"))
        .await
        .unwrap();
    assert!(stored == want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cancelled_while_its_log_streams_ends_whole() {
    let s3 = on_s3().await;
    let client = s3.client();
    let uid = client
        .submit(&ExecRequest::argv([
            "bash",
            "-c",
            "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.01; done",
        ]))
        .await
        .unwrap();
    let reader = {
        let client = s3.client();
        let uid = uid.clone();
        tokio::spawn(async move { new_client(&client, &uid).await })
    };
    tokio::time::sleep(Duration::from_millis(2500)).await;
    client.cancel(&uid).await.unwrap();
    let (got, exit) = reader.await.unwrap();
    assert_eq!(exit, 143, "ended by the cancel's SIGTERM");
    let text = String::from_utf8(got.clone()).unwrap();
    // Nothing of the service's among them: its notice is in the meta.
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 20, "{} lines", lines.len());
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(*line, format!("line {}", i + 1), "no line lost or doubled");
    }
    let prefix = format!("jobs/default/{uid}/");
    assert!(s3.object(&format!("{prefix}log.txt")).await.unwrap() == got);
    assert_eq!(
        s3.object(&format!("{prefix}size")).await.unwrap(),
        got.len().to_string().as_bytes()
    );
    let meta = client.status(&uid).await.unwrap();
    assert_eq!(
        (meta.state.as_str(), &meta.notes[..]),
        ("cancelled", &["cancelled".to_owned()][..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submit_that_waits_answers_the_first_poll_too() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let serve = ServeProcess::start(BIN, &["--data-dir", data.to_str().unwrap()], &[]);
    let client = Client::new(&serve.url, &serve.key).unwrap();
    // A short job is run and read in one request.
    let (uid, first) = client
        .submit_waiting(&ExecRequest::argv(["true"]), 10)
        .await
        .unwrap();
    assert_eq!(first, Some(PollResponse::exit(0)), "{uid}");
    // A short job with output: its log comes with its end, in the same answer.
    let (uid, first) = client
        .submit_waiting(&ExecRequest::argv(["printf", "short\\0\\377"]), 10)
        .await
        .unwrap();
    assert!(
        matches!(first, Some(PollResponse::Inline { .. })),
        "{first:?}"
    );
    let mut got = Vec::new();
    let code = client
        .tail_after(&uid, first, |b: &[u8]| got.extend_from_slice(b))
        .await
        .unwrap();
    assert_eq!((code, got.as_slice()), (0, b"short\0\xff".as_slice()));
    // A job with output that runs on: the answer points at its log, which the tail reads
    // on from there.
    let (uid, first) = client
        .submit_waiting(
            &ExecRequest::argv(["bash", "-c", "echo first; sleep 1; echo second; exit 3"]),
            10,
        )
        .await
        .unwrap();
    assert!(matches!(first, Some(PollResponse::Url { .. })), "{first:?}");
    let mut got = Vec::new();
    let code = client
        .tail_after(&uid, first, |b: &[u8]| got.extend_from_slice(b))
        .await
        .unwrap();
    assert_eq!((code, got.as_slice()), (3, b"first\nsecond\n".as_slice()));
    // A quiet job: the submit answers when its wait is over, and the job goes on.
    let started = Instant::now();
    let (uid, first) = client
        .submit_waiting(&ExecRequest::argv(["sleep", "3"]), 1)
        .await
        .unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_millis(2500),
        "answered after {waited:?}"
    );
    assert!(matches!(first, Some(PollResponse::Url { .. })), "{first:?}");
    assert_eq!(
        client.tail_after(&uid, first, |_: &[u8]| {}).await.unwrap(),
        0
    );
    // A plain submit answers no poll, and a wait past the limit is refused before a job
    // is made.
    let submit_true = |query: &str| {
        reqwest::Client::new()
            .post(format!("{}/api/exec{query}", serve.url))
            .header("auth", &serve.key)
            .body(r#"{"argv":["true"]}"#)
            .send()
    };
    let plain: serde_json::Value = submit_true("").await.unwrap().json().await.unwrap();
    assert!(
        plain.get("uid").is_some() && plain.get("poll").is_none(),
        "{plain}"
    );
    let malformed = submit_true("?wait=soon").await.unwrap();
    assert_eq!(malformed.status(), reqwest::StatusCode::BAD_REQUEST);
    let refused = client
        .submit_waiting(&ExecRequest::argv(["true"]), 21)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("wait must be at most 20"),
        "{refused}"
    );
}

#[tokio::test]
async fn a_poll_that_waits_answers_when_there_is_news() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let serve = ServeProcess::start(BIN, &["--data-dir", data.to_str().unwrap()], &[]);
    let client = Client::new(&serve.url, &serve.key).unwrap();
    let uid = client
        .submit(&ExecRequest::argv([
            "bash",
            "-c",
            "sleep 1; echo news; sleep 1",
        ]))
        .await
        .unwrap();
    let started = Instant::now();
    let answer = client.poll_for(&uid, 0, Some(10), None).await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(700) && waited < Duration::from_secs(5),
        "answered after {waited:?}"
    );
    let PollResponse::Url { url, follow } = answer else {
        panic!("a URL")
    };
    assert!(follow.is_none(), "a data directory has no segments");
    let mut got = Vec::new();
    client
        .read_log(&url, 0, &mut |b: &[u8]| got.extend_from_slice(b))
        .await
        .unwrap();
    assert_eq!(got, b"news\n");
    // At the end, a waiting poll answers the exit code as soon as it is there.
    let started = Instant::now();
    let end = client.poll_for(&uid, 5, Some(10), None).await.unwrap();
    assert_eq!(end, PollResponse::exit(0));
    assert!(started.elapsed() < Duration::from_secs(5));
    // Without `wait`, as aws-exec's clients poll: at once.
    let started = Instant::now();
    client.poll(&uid, 5).await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(500));
    // A wait past the limit is refused.
    let refused = client.poll_for(&uid, 0, Some(21), None).await.unwrap_err();
    assert!(
        refused.to_string().contains("wait must be at most 20"),
        "{refused}"
    );
}
