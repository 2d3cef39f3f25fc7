//! What a key holder, a slow or hostile peer, or one fault at the worst moment must never
//! do to the service: crash it, stall it, corrupt a job or lose its log. Each test is
//! named after what it guards against, and runs the real binary or the real service.

use std::io::Read;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use aws_exec::commands::registry;
use aws_exec_client::{Client, ExecRequest, JobState, PollPolicy, ScheduleSpec, TriggerSpec};
use aws_exec_protocol::PushUrls;
use aws_exec_testkit::env::clean_command;
use aws_exec_testkit::{until_running, wait_until, S3Proxy, S3Server, ServeProcess, Service};

const BIN: &str = env!("CARGO_BIN_EXE_aws-exec");

async fn follow(client: &Client, uid: &str, within: Duration) -> (Vec<u8>, i32) {
    let mut log = Vec::new();
    let code = tokio::time::timeout(within, client.tail(uid, |b| log.extend_from_slice(b)))
        .await
        .unwrap_or_else(|_| panic!("job {uid} ends within {within:?}"))
        .unwrap();
    (log, code)
}

fn serve_in(dir: &std::path::Path, more: &[&str]) -> ServeProcess {
    let mut args = vec!["--data-dir", dir.to_str().unwrap()];
    args.extend_from_slice(more);
    ServeProcess::start(BIN, &args, &[])
}

fn client_of(serve: &ServeProcess) -> Client {
    Client::new(&serve.url, &serve.key).unwrap()
}

#[tokio::test]
async fn a_job_leaving_15000_nested_directories_does_not_kill_serve() {
    let data = tempfile::tempdir().unwrap();
    let mut serve = serve_in(data.path(), &[]);
    let client = client_of(&serve);
    // Far deeper than a recursive removal's stack, and paths far past PATH_MAX.
    let deep = "for (1..15000) { mkdir 'd' or die $!; chdir 'd' or die $! } print qq(made\\n)";
    let uid = client
        .submit(&ExecRequest::argv(["perl", "-e", deep]))
        .await
        .unwrap();
    let (log, code) = follow(&client, &uid, Duration::from_secs(60)).await;
    assert_eq!((log.as_slice(), code), (b"made\n".as_slice(), 0));
    // Its directory is removed after its end is written: serve lives through that.
    let (log, code) = follow(
        &client,
        &client
            .submit(&ExecRequest::argv(["echo", "next"]))
            .await
            .unwrap(),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!((log.as_slice(), code), (b"next\n".as_slice(), 0));
    wait_until(
        Duration::from_secs(30),
        "the deep directory removed",
        || {
            let gone = !std::fs::read_dir(std::env::temp_dir())
                .unwrap()
                .flatten()
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with("aws-exec-jobs-")
                })
                .any(|root| root.path().join(&uid).exists());
            async move { gone.then_some(()) }
        },
    )
    .await;
    assert!(serve.alive(), "serve survived the job's clean-up");
}

/// A peer that accepts every connection and never answers a byte.
struct Silent {
    addr: String,
    _listener: std::thread::JoinHandle<()>,
}

impl Silent {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming().flatten() {
                held.push(conn);
            }
        });
        Silent {
            addr,
            _listener: thread,
        }
    }

    fn urls(&self) -> PushUrls {
        let url = |what: &str| format!("http://{}/{what}", self.addr);
        PushUrls {
            log: url("log"),
            exit: url("exit"),
            size: url("size"),
        }
    }
}

/// serve's log in a file (or a pipe, or CloudWatch) has no colour codes: they would show as
/// text wherever no terminal reads them.
#[tokio::test]
async fn serves_log_has_no_colour_codes_when_not_on_a_terminal() {
    let data = tempfile::tempdir().unwrap();
    let log_path = data.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let serve = ServeProcess::start_logging_to(
        &[],
        BIN,
        &["--data-dir", data.path().join("d").to_str().unwrap()],
        &[("AWS_EXEC_LOG", "info".into())],
        std::process::Stdio::from(log),
    );
    let client = client_of(&serve);
    let code = client.exec(&ExecRequest::argv(["true"]), |_| {}).await;
    assert_eq!(code.unwrap(), 0);
    let logged = wait_until(Duration::from_secs(5), "serve's log of the job", || {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        std::future::ready(text.contains("job submitted").then_some(text))
    })
    .await;
    assert!(!logged.contains('\u{1b}'), "{logged:?}");
}

/// A supervisor that pipes serve's log and never reads it (a common mistake) fills the pipe
/// after a few lines; serve must go on running jobs, dropping log lines rather than waiting.
#[tokio::test]
async fn a_log_pipe_nobody_reads_does_not_stall_serve() {
    use nix::fcntl::{fcntl, FcntlArg};
    let data = tempfile::tempdir().unwrap();
    let (unread, log) = nix::unistd::pipe().unwrap();
    // The smallest pipe the kernel allows: a page, about 16 of serve's lines.
    fcntl(log.as_raw_fd(), FcntlArg::F_SETPIPE_SZ(4096)).unwrap();
    let serve = ServeProcess::start_logging_to(
        &[],
        BIN,
        &["--data-dir", data.path().to_str().unwrap()],
        &[],
        std::process::Stdio::from(log),
    );
    let client = client_of(&serve);
    let all = async {
        for i in 0..100 {
            let request = ExecRequest::argv(["echo", &format!("job {i}")]);
            let mut out = Vec::new();
            let code = client.exec(&request, |b| out.extend_from_slice(b)).await;
            assert_eq!(code.unwrap(), 0);
            assert_eq!(out, format!("job {i}\n").into_bytes());
        }
    };
    tokio::time::timeout(Duration::from_secs(60), all)
        .await
        .expect("100 jobs run within 60 s while nobody reads serve's log");
    drop(unread);
}

#[tokio::test]
async fn a_push_url_that_never_answers_holds_no_slot_and_shutdown_still_finishes() {
    let silent = Silent::start();
    let data = tempfile::tempdir().unwrap();
    let mut serve = serve_in(
        data.path(),
        &["--concurrency", "1", "--allow-push-host", "127.0.0.1"],
    );
    let client = client_of(&serve);
    let pushed = ExecRequest {
        push_urls: Some(silent.urls()),
        ..ExecRequest::argv(["echo", "to nowhere"])
    };
    client.submit(&pushed).await.unwrap();
    let started = Instant::now();
    let uid = client
        .submit(&ExecRequest::argv(["echo", "next"]))
        .await
        .unwrap();
    let (log, code) = follow(&client, &uid, Duration::from_secs(30)).await;
    assert_eq!((log.as_slice(), code), (b"next\n".as_slice(), 0));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    // Another pushed job still writing its log to the silent peer when serve is told to stop.
    client
        .submit(&ExecRequest {
            push_urls: Some(silent.urls()),
            ..ExecRequest::argv(["sh", "-c", "echo one; sleep 30"])
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stopping = Instant::now();
    let status = serve.terminate(Duration::from_secs(20));
    assert!(
        status.is_some(),
        "serve stops within its grace whatever a peer does ({:?})",
        stopping.elapsed()
    );
}

#[tokio::test]
async fn a_second_serve_on_the_same_data_dir_exits_and_leaves_the_first_ones_jobs_alone() {
    let data = tempfile::tempdir().unwrap();
    let serve = serve_in(data.path(), &[]);
    let client = client_of(&serve);
    let uid = client
        .submit(&ExecRequest::argv([
            "sh",
            "-c",
            "echo begun; sleep 2; echo done",
        ]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut second = clean_command(BIN, &[])
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > until {
            let _ = second.kill();
            let _ = second.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut said = String::new();
    second
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut said)
        .unwrap();
    let status = status.expect("the second serve exits at once");
    assert_ne!(status.code(), Some(0), "{said}");
    assert!(said.contains("owns the data directory"), "{said}");

    let (log, code) = follow(&client, &uid, Duration::from_secs(30)).await;
    assert_eq!((log.as_slice(), code), (b"begun\ndone\n".as_slice(), 0));
    let meta = client.status(&uid).await.unwrap();
    assert_eq!(meta.state, JobState::Exited);
    let dir = data.path().join("jobs/default").join(&uid);
    let size: u64 = std::fs::read_to_string(dir.join("size"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(size, std::fs::metadata(dir.join("log.txt")).unwrap().len());
}

/// `serve --bucket` on moto_server behind a proxy that can delay, refuse and cut requests.
struct OnBucket {
    serve: ServeProcess,
    proxy: S3Proxy,
    /// The bucket, read directly.
    s3: aws_sdk_s3::Client,
    _server: S3Server,
}

impl OnBucket {
    async fn start(args: &[&str]) -> Self {
        let server = S3Server::moto();
        let s3 = server.bucket("svc").await;
        let proxy = S3Proxy::start(&server.endpoint).await;
        let mut all = vec!["--bucket", "svc"];
        all.extend_from_slice(args);
        let serve = ServeProcess::start(BIN, &all, &server.env_via(&proxy.endpoint));
        OnBucket {
            serve,
            proxy,
            s3,
            _server: server,
        }
    }

    fn client(&self) -> Client {
        client_of(&self.serve)
    }

    async fn object(&self, key: &str) -> Vec<u8> {
        let got = self.s3.get_object().bucket("svc").key(key).send().await;
        got.unwrap().body.collect().await.unwrap().to_vec()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failed_upload_of_the_final_log_loses_nothing() {
    let s3 = OnBucket::start(&[]).await;
    let client = s3.client();
    let script = "sleep 1; for i in $(seq 1 3000); do echo line $i of a long log; done";
    let expected: Vec<u8> = (1..=3000)
        .flat_map(|i| format!("line {i} of a long log\n").into_bytes())
        .collect();
    let uid = client
        .submit(&ExecRequest::argv(["sh", "-c", script]))
        .await
        .unwrap();
    // Armed after the submit's empty log: the next PUT of log.txt is the whole log's.
    s3.proxy.stats.fail_puts(&format!("{uid}/log.txt"), 1);
    let (log, code) = follow(&client, &uid, Duration::from_secs(60)).await;
    assert_eq!(code, 0);
    assert_eq!(log, expected);
    assert_eq!(
        s3.proxy
            .stats
            .failed
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    let prefix = format!("jobs/default/{uid}");
    let whole = s3.object(&format!("{prefix}/log.txt")).await;
    let size: usize = String::from_utf8(s3.object(&format!("{prefix}/size")).await)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!((whole.len(), size), (expected.len(), expected.len()));
    assert_eq!(whole, expected);
    assert_eq!(client.status(&uid).await.unwrap().state, JobState::Exited);
}

// The proxy runs on the test's runtime while serve starts through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_exits_by_itself_is_never_recorded_as_timed_out_or_cancelled() {
    let s3 = OnBucket::start(&[]).await;
    // Storing what it left outlasts its timeout, after it exited by itself.
    s3.proxy
        .stats
        .delay_puts("artifacts/", Duration::from_millis(2500));
    let client = s3.client();
    let leaves = "echo kept > \"$AWS_EXEC_ARTIFACTS/a\"; echo done";
    let uid = client
        .submit(&ExecRequest::argv(["sh", "-c", leaves]).timeout(1))
        .await
        .unwrap();
    let (log, code) = follow(&client, &uid, Duration::from_secs(30)).await;
    assert_eq!((log.as_slice(), code), (b"done\n".as_slice(), 0));
    assert_eq!(client.status(&uid).await.unwrap().state, JobState::Exited);

    // A cancel in that same window finds a job that already exited.
    let uid = client
        .submit(&ExecRequest::argv(["sh", "-c", leaves]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    client.cancel(&uid).await.unwrap();
    let (log, code) = follow(&client, &uid, Duration::from_secs(30)).await;
    assert_eq!((log.as_slice(), code), (b"done\n".as_slice(), 0));
    assert_eq!(client.status(&uid).await.unwrap().state, JobState::Exited);
}

// The proxy runs on the test's runtime while serve starts through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_read_cut_off_midway_is_taken_up_where_it_stopped() {
    let s3 = OnBucket::start(&[]).await;
    let client = s3.client();
    let lines = |from: u32, to: u32| {
        format!("for i in $(seq {from} {to}); do echo line $i of the log; done")
    };
    let expected: Vec<u8> = (1..=300)
        .flat_map(|i| format!("line {i} of the log\n").into_bytes())
        .collect();
    // The whole log of a job that ended, and the segments of one that runs.
    let ended = ExecRequest::argv(["sh", "-c", &lines(1, 300)]);
    let running = ExecRequest::argv([
        "sh",
        "-c",
        &format!("{}; sleep 2; {}", lines(1, 150), lines(151, 300)),
    ]);
    for (request, pattern) in [(ended, "log.txt"), (running, "log/0")] {
        let uid = client.submit(&request).await.unwrap();
        if pattern == "log.txt" {
            wait_until(Duration::from_secs(30), "the job's end", || {
                let client = client.clone();
                let uid = uid.clone();
                async move {
                    client
                        .status(&uid)
                        .await
                        .ok()
                        .filter(|m| m.state.is_final())
                }
            })
            .await;
        }
        s3.proxy.stats.cut_gets(&format!("{uid}/{pattern}"), 3);
        let (log, code) = follow(&client, &uid, Duration::from_secs(30)).await;
        assert_eq!(code, 0);
        assert_eq!(log, expected, "{pattern}");
        let cut = s3.proxy.stats.cut_log.lock().unwrap().clone();
        assert!(
            cut.iter().any(|p| p.contains(&uid)),
            "the follower's reads of {pattern} were cut: {cut:?}"
        );
    }
}

// On a bucket a follower reads storage between its polls of the service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn following_a_quiet_job_outlasts_the_silence_bound_while_it_runs() {
    let s3 = OnBucket::start(&[]).await;
    let client = s3.client().with_poll_policy(PollPolicy {
        give_up_after: Duration::from_millis(500),
        ..PollPolicy::default()
    });
    let uid = client
        .submit(&ExecRequest::argv([
            "sh",
            "-c",
            "echo early; sleep 4; echo late",
        ]))
        .await
        .unwrap();
    let (log, code) = follow(&client, &uid, Duration::from_secs(30)).await;
    assert_eq!((log.as_slice(), code), (b"early\nlate\n".as_slice(), 0));
}

#[tokio::test]
async fn cancelling_a_queued_job_answers_a_waiting_poll_at_once() {
    let svc = Service::start_with(registry(), |c| c.concurrency = 1).await;
    let client = svc.client();
    client
        .submit(&ExecRequest::argv(["sleep", "10"]))
        .await
        .unwrap();
    let queued = client
        .submit(&ExecRequest::argv(["echo", "never"]))
        .await
        .unwrap();
    // Its log is empty: a poll from byte 0 waits for news.
    let poll = reqwest::Client::new()
        .get(format!(
            "{}/api/exec?uid={queued}&range-start=0&wait=20",
            svc.url()
        ))
        .header("auth", &svc.key);
    let waiting = tokio::spawn(async move {
        let answer: serde_json::Value = poll.send().await.unwrap().json().await.unwrap();
        (answer, Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cancelled_at = Instant::now();
    assert_eq!(client.cancel(&queued).await.unwrap(), JobState::Cancelled);
    let (answer, answered_at) = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .unwrap()
        .unwrap();
    let after = answered_at.saturating_duration_since(cancelled_at);
    assert!(
        after < Duration::from_secs(3),
        "the waiting poll was answered {after:?} after the cancel: {answer}"
    );
    svc.stop().await;
}

#[tokio::test]
async fn a_mistyped_command_is_127_not_found_even_when_serve_runs_as_root() {
    let data = tempfile::tempdir().unwrap();
    // A PATH with a directory only root may enter first, as root's own shell has.
    let private = tempfile::tempdir().unwrap();
    std::fs::create_dir(private.path().join("bin")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let path = format!(
        "{}/bin:/usr/local/bin:/usr/bin:/bin",
        private.path().display()
    );
    let serve = ServeProcess::start(
        BIN,
        &["--data-dir", data.path().to_str().unwrap()],
        &[("PATH", path)],
    );
    let client = client_of(&serve);
    let uid = client
        .submit(&ExecRequest::argv(["no-such-command-here"]))
        .await
        .unwrap();
    let (log, code) = follow(&client, &uid, Duration::from_secs(30)).await;
    let log = String::from_utf8_lossy(&log);
    assert_eq!(code, 127, "{log}");
    let meta = client.status(&uid).await.unwrap();
    assert!(meta.notes[0].contains("command not found"), "{meta:?}");
    assert_eq!(meta.state, JobState::Failed);
    // And the job's PATH lets it run what its user may run.
    let uid = client
        .submit(&ExecRequest::argv(["sh", "-c", "command -v ls"]))
        .await
        .unwrap();
    let (log, code) = follow(&client, &uid, Duration::from_secs(30)).await;
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&log));
}

#[tokio::test]
async fn one_users_flood_of_jobs_does_not_starve_another() {
    let svc = Service::start_with(registry(), |c| c.concurrency = 2).await;
    let alice = svc.client();
    let bob = svc.client_for(&svc.new_user("bob").await);
    for _ in 0..16 {
        alice
            .submit(&ExecRequest::argv(["sleep", "1"]))
            .await
            .unwrap();
    }
    let started = Instant::now();
    let uid = bob
        .submit(&ExecRequest::argv(["echo", "bob"]))
        .await
        .unwrap();
    let (log, _) = follow(&bob, &uid, Duration::from_secs(60)).await;
    assert_eq!(log, b"bob\n");
    // In turn: after one of alice's running jobs, not after all sixteen (8 s).
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    svc.stop().await;
}

/// One key filled the whole queue and every other key's submit was refused (503) with it;
/// each refusal also left a run claim behind. Now a flood is refused to its own key (429) at
/// its share of the queue, another key's job runs at once, and a refused submit leaves
/// nothing in the store.
#[tokio::test]
async fn one_keys_flood_of_the_queue_is_refused_to_it_alone_and_leaves_nothing() {
    let limits = ["--concurrency", "2", "--per-user", "1", "--queue", "8"];
    let local = aws_exec_testkit::LocalServe::start_with(BIN, &limits);
    let bob = local.new_user("bob");
    let (serve, dir) = (&local.serve, std::path::Path::new(&local.data));

    // The first key floods: its share is 1 running and a quarter of the queue waiting.
    let http = reqwest::Client::new();
    let sleep = serde_json::to_vec(&ExecRequest::argv(["sleep", "60"])).unwrap();
    let mut answers = Vec::new();
    for _ in 0..20 {
        let resp = http
            .post(format!("{}/api/exec", serve.url))
            .header("auth", &serve.key)
            .header("content-type", "application/json")
            .body(sleep.clone())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        answers.push((status, resp.text().await.unwrap()));
    }
    let accepted = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(accepted, 3, "{answers:?}");
    for (status, body) in &answers[3..] {
        assert_eq!(*status, 429, "{body}");
        assert!(body.contains("share of the queue"), "{body}");
    }

    // Another key is not refused, and runs in the slot the flood may not take.
    let started = Instant::now();
    let mut log = Vec::new();
    let code = tokio::time::timeout(
        Duration::from_secs(20),
        bob.exec(&ExecRequest::argv(["echo", "bob"]), |b| {
            log.extend_from_slice(b)
        }),
    )
    .await
    .expect("bob's job ends")
    .expect("bob's job is taken");
    assert_eq!((code, log.as_slice()), (0, b"bob\n".as_slice()));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // The refused submits left nothing (no run claim either): only the four jobs have
    // objects.
    let mut holding = Vec::new();
    for owner in std::fs::read_dir(dir.join("jobs")).unwrap() {
        for job in std::fs::read_dir(owner.unwrap().path()).unwrap() {
            let job = job.unwrap().path();
            let names: Vec<_> = std::fs::read_dir(&job)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            if !names.is_empty() {
                holding.push(names);
            }
        }
    }
    assert_eq!(holding.len(), 4, "{holding:?}");
}

/// `serve` had no deadline for a request's head: of 3000 connections that sent half a
/// request, none was closed after 65 s, each holding a descriptor for ever. A connection
/// that has not sent a whole head within 20 s (half a head, or nothing at all) is closed now,
/// and the service answers others meanwhile.
#[tokio::test]
async fn half_sent_and_silent_connections_are_closed_after_the_head_deadline() {
    use std::io::Write;
    let data = tempfile::tempdir().unwrap();
    let serve = serve_in(data.path(), &[]);
    let addr = serve.url.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for i in 0..200 {
        let mut tcp = std::net::TcpStream::connect(&addr).unwrap();
        if i % 2 == 0 {
            tcp.write_all(b"GET /api/jobs HTTP/1.1\r\nHost: x\r\nauth: ")
                .unwrap();
        }
        held.push(tcp);
    }
    let client = client_of(&serve);
    let uid = client.submit(&ExecRequest::argv(["true"])).await.unwrap();
    assert_eq!(follow(&client, &uid, Duration::from_secs(10)).await.1, 0);

    tokio::time::sleep(Duration::from_secs(23)).await;
    let mut open = 0;
    for tcp in &mut held {
        tcp.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut rest = Vec::new();
        // Closed: the end of the stream (after at most an error answer), or a reset.
        match tcp.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(_) => open += 1,
        }
    }
    assert_eq!(open, 0, "connections still open past the head deadline");
}

/// A job printing as fast as it could, with a 2000-byte secret, grew `serve` by gigabytes:
/// its pipe was read into an unbounded channel faster than the log was masked, and every
/// byte was masked, even past the log's cap. The job now waits on its pipe while the log
/// falls behind, bytes past the cap are not masked, and its timeout still ends it.
#[tokio::test]
async fn a_fast_job_with_a_secret_does_not_grow_serves_memory() {
    let data = tempfile::tempdir().unwrap();
    let serve = serve_in(data.path(), &[]);
    let client = client_of(&serve);
    let secret: String = (0..2000).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    client.put_secret("BIG", &secret).await.unwrap();
    let rss_kib = |what: &str| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", serve.pid())).unwrap();
        let line = status
            .lines()
            .find(|l| l.starts_with(what))
            .unwrap()
            .to_owned();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let before = rss_kib("VmRSS:");
    // Lines carrying the secret, as fast as the job can write them.
    let flood = r#"line="$BIG and more"; while :; do printf '%s\n' "$line$line$line$line"; done"#;
    let request = ExecRequest::argv(["bash", "-c", flood])
        .secret("BIG")
        .timeout(8);
    let started = Instant::now();
    let uid = client.submit(&request).await.unwrap();
    let (_, code) = follow(&client, &uid, Duration::from_secs(60)).await;
    assert_eq!(code, 124, "its timeout ends it");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "ended {:?} after it started",
        started.elapsed()
    );
    let peak = rss_kib("VmHWM:");
    assert!(
        peak < before + 200 * 1024,
        "serve grew from {before} KiB to a peak of {peak} KiB"
    );
    let meta = client.status(&uid).await.unwrap();
    assert_eq!(meta.state, JobState::TimedOut);
}

/// A uid written with extra leading zeros named the same job from another folder: a cancel
/// so written claimed that empty folder and recorded the running job as cancelled.
#[tokio::test]
async fn a_uid_with_extra_leading_zeros_cannot_cancel_a_running_job() {
    let data = tempfile::tempdir().unwrap();
    let serve = serve_in(data.path(), &[]);
    let client = client_of(&serve);
    let uid = client
        .submit(&ExecRequest::argv(["sleep", "20"]))
        .await
        .unwrap();
    until_running(&client, &uid).await;
    let http = reqwest::Client::new();
    for (method, path) in [
        (reqwest::Method::DELETE, "/api/exec"),
        (reqwest::Method::GET, "/api/exec"),
    ] {
        let resp = http
            .request(method.clone(), format!("{}{path}", serve.url))
            .query(&[("uid", format!("000{uid}")), ("range-start", "0".into())])
            .header("auth", &serve.key)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{method} {path} with 000{uid}");
    }
    let meta = client.status(&uid).await.unwrap();
    assert_eq!(meta.state, JobState::Running, "{meta:?}");
    assert_eq!(client.cancel(&uid).await.unwrap(), JobState::Cancelled);
}

#[tokio::test]
async fn per_user_caps_what_one_user_holds_at_once() {
    let data = tempfile::tempdir().unwrap();
    let serve = serve_in(data.path(), &["--concurrency", "2", "--per-user", "1"]);
    let alice = client_of(&serve);
    let first = alice
        .submit(&ExecRequest::argv(["sleep", "20"]))
        .await
        .unwrap();
    let second = alice
        .submit(&ExecRequest::argv(["sleep", "20"]))
        .await
        .unwrap();
    until_running(&alice, &first).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        alice.status(&second).await.unwrap().state,
        JobState::Queued,
        "alice's share is one of the two slots"
    );
    for uid in [&first, &second] {
        alice.cancel(uid).await.unwrap();
    }
    let mut out = String::new();
    clean_command(BIN, &[])
        .args(["serve", "--help"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap()
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(out.contains("--per-user"), "{out}");
}

fn cli_ok(args: &[&str]) -> String {
    let out = clean_command(BIN, &[]).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn every_second(exec: ExecRequest, overlap: &str) -> ScheduleSpec {
    ScheduleSpec {
        cron: "* * * * * *".into(),
        tz: "UTC".into(),
        overlap: overlap.parse().unwrap(),
        exec,
        state: false,
    }
}

#[tokio::test]
async fn a_removed_keys_schedules_and_triggers_stop_with_it() {
    let data = tempfile::tempdir().unwrap();
    let data_arg = data.path().to_str().unwrap();
    let serve = serve_in(data.path(), &[]);
    let key = cli_ok(&["auth", "new", "eve", "--data-dir", data_arg]);
    let eve = Client::new(&serve.url, key.lines().next().unwrap().trim()).unwrap();
    eve.put_schedule(
        "tick",
        &every_second(ExecRequest::argv(["echo", "tick"]), "allow"),
    )
    .await
    .unwrap();
    eve.put_trigger(
        "on-upload",
        &TriggerSpec {
            prefix: String::new(),
            exec: ExecRequest::argv(["true"]),
            state: false,
        },
    )
    .await
    .unwrap();
    let jobs = data.path().join("jobs/eve");
    let count = || std::fs::read_dir(&jobs).map_or(0, |d| d.count());
    wait_until(Duration::from_secs(15), "eve's schedule firing", || {
        let n = count();
        async move { (n >= 2).then_some(()) }
    })
    .await;

    let said = cli_ok(&["auth", "rm", "eve", "--data-dir", data_arg]);
    assert!(said.contains("2 schedules and triggers"), "{said}");
    // A firing already under way may still land; none after it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after_removal = count();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(count(), after_removal, "no job starts for a removed key");
    for kind in ["schedules", "triggers"] {
        let left = files_under(&data.path().join(kind).join("eve"));
        assert!(left.is_empty(), "{kind} of eve are gone: {left:?}");
    }
}

#[tokio::test]
async fn overlap_skip_skips_every_firing_while_a_run_goes_on() {
    let data = tempfile::tempdir().unwrap();
    let serve = serve_in(data.path(), &[]);
    let client = client_of(&serve);
    client
        .put_schedule(
            "slow",
            &every_second(ExecRequest::argv(["sleep", "9"]), "skip"),
        )
        .await
        .unwrap();
    let runs = || async {
        client
            .list_all(&Default::default())
            .await
            .unwrap()
            .into_iter()
            .filter(|j| j.schedule.as_deref() == Some("slow") && !j.state.is_final())
            .count()
    };
    wait_until(Duration::from_secs(15), "the first run", || async {
        (runs().await >= 1).then_some(())
    })
    .await;
    // Several firings come and go while the first run sleeps.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(runs().await, 1, "one run at a time");
    client.delete_schedule("slow").await.unwrap();
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => pending.push(entry.path()),
                _ => found.push(entry.path()),
            }
        }
    }
    found
}

/// What job `i` of `user` prints in the drill, and its exit code.
fn drill_job(user: &str, i: usize, slow: bool) -> (ExecRequest, Vec<u8>, i32) {
    let code = (i % 5) as i32;
    let lines = (1..=20).map(|j| format!("{user} job {i} line {j}\n"));
    let expected: Vec<u8> = lines.collect::<String>().into_bytes();
    let pause = if slow { "sleep 3;" } else { "" };
    let script =
        format!("{pause} for j in $(seq 1 20); do echo {user} job {i} line $j; done; exit {code}");
    (ExecRequest::argv(["sh", "-c", &script]), expected, code)
}

/// Follows every job to its end through `client`s, several at once.
async fn follow_all(jobs: Vec<(Client, String)>) -> Vec<(String, Vec<u8>, i32, Vec<String>)> {
    let mut set = tokio::task::JoinSet::new();
    let mut out = Vec::new();
    for (client, uid) in jobs {
        if set.len() >= 16 {
            out.push(set.join_next().await.unwrap().unwrap());
        }
        set.spawn(async move {
            let mut log = Vec::new();
            let within = Duration::from_secs(120);
            let mut keep = |b: &[u8]| log.extend_from_slice(b);
            let tail = client.tail_ended(&uid, 0, None, &mut keep);
            match tokio::time::timeout(within, tail).await {
                Ok(Ok(ended)) => (uid, log, ended.exit, ended.notes),
                // Told apart by the caller, which says what the store holds of it.
                Ok(Err(e)) => (uid, format!("follow failed: {e}").into_bytes(), -1, vec![]),
                Err(_) => (uid, b"follow timed out".to_vec(), -2, vec![]),
            }
        });
    }
    while let Some(done) = set.join_next().await {
        out.push(done.unwrap());
    }
    out
}

/// 200 jobs of 4 users through `serve --bucket` while S3 refuses one log request in 5,
/// cuts one log read in 4 midway and refuses each job's first upload of its whole log;
/// then `kill -9` of serve with jobs running and queued, and a restart. Every job ends
/// once, its log is byte-exact and as long as its `size`, and no follower waits past it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_200_jobs_of_4_users_through_s3_faults_and_a_kill_of_serve() {
    let server = S3Server::moto();
    let s3 = server.bucket("svc").await;
    let proxy = S3Proxy::start(&server.endpoint).await;
    proxy.stats.refuse_every("/log/", 5);
    proxy.stats.cut_every("log", 4);
    proxy.stats.refuse_first_put_of_each("/log.txt");
    let env = server.env_via(&proxy.endpoint);
    let args = ["--bucket", "svc", "--concurrency", "8"];
    let serve = ServeProcess::start(BIN, &args, &env);
    let users = ["ann", "ben", "cat", "dan"];
    let keys: Vec<String> = users
        .iter()
        .map(|user| {
            let out = clean_command(BIN, &env)
                .args(["auth", "new", user, "--bucket", "svc"])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap().trim().to_owned()
        })
        .collect();
    let clients =
        |url: &str| -> Vec<Client> { keys.iter().map(|k| Client::new(url, k).unwrap()).collect() };
    let object = |key: String| {
        let s3 = s3.clone();
        async move {
            let got = s3.get_object().bucket("svc").key(&key).send().await.ok()?;
            Some(got.body.collect().await.unwrap().to_vec())
        }
    };

    // Half of them run to their end through the faults.
    let mut expected = std::collections::HashMap::new();
    let mut submitted = Vec::new();
    for (u, client) in clients(&serve.url).into_iter().enumerate() {
        for i in 0..25 {
            let (request, log, code) = drill_job(users[u], i, false);
            let uid = client.submit(&request).await.unwrap();
            expected.insert(uid.clone(), (users[u], log, code));
            submitted.push((client.clone(), uid));
        }
    }
    let explain = |uid: String, user: &'static str| {
        let s3 = s3.clone();
        async move {
            let listed = s3
                .list_objects_v2()
                .bucket("svc")
                .prefix(format!("jobs/{user}/{uid}/"))
                .send()
                .await
                .unwrap();
            let mut said = String::new();
            for object in listed.contents() {
                let key = object.key().unwrap_or_default();
                let body = s3.get_object().bucket("svc").key(key).send().await.unwrap();
                let body = body.body.collect().await.unwrap().to_vec();
                let shown = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
                said += &format!("\n  {key}: {shown}");
            }
            said
        }
    };
    for (uid, log, code, _) in follow_all(submitted).await {
        let (user, want, want_code) = &expected[&uid];
        if code < 0 {
            panic!(
                "{uid}: {}{}",
                String::from_utf8_lossy(&log),
                explain(uid.clone(), user).await
            );
        }
        assert_eq!((&log, code), (want, *want_code), "{uid}");
    }

    // The other half: running and queued when serve is killed.
    let mut second = Vec::new();
    for (u, client) in clients(&serve.url).into_iter().enumerate() {
        for i in 25..50 {
            let (request, log, code) = drill_job(users[u], i, true);
            let uid = client.submit(&request).await.unwrap();
            expected.insert(uid.clone(), (users[u], log, code));
            second.push(uid);
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(serve); // SIGKILL
    let serve = ServeProcess::start(BIN, &args, &env);
    let by_user: std::collections::HashMap<&str, Client> =
        users.iter().copied().zip(clients(&serve.url)).collect();
    let jobs = second
        .iter()
        .map(|uid| (by_user[expected[uid].0].clone(), uid.clone()))
        .collect();
    let mut lost = 0;
    for (uid, log, code, notes) in follow_all(jobs).await {
        let (user, want, want_code) = &expected[&uid];
        if code < 0 {
            panic!(
                "after the restart, {uid}: {}{}",
                String::from_utf8_lossy(&log),
                explain(uid.clone(), user).await
            );
        }
        let text = String::from_utf8_lossy(&log);
        if notes
            .iter()
            .any(|n| n.contains("the log may be incomplete"))
        {
            // Killed between deciding its end and storing its whole log: it says so.
            assert_eq!(code, *want_code, "{uid}: {text}");
            assert!(want.starts_with(&log), "{uid}: {text}");
            continue;
        }
        if code == 255 {
            lost += 1;
            assert!(notes.iter().any(|n| n.contains("lost")), "{uid}: {notes:?}");
        } else {
            assert_eq!((&log, code), (want, *want_code), "{uid}");
        }
    }
    assert!(lost > 0, "jobs running at the kill end lost");

    // In the bucket: one end each, and a log.txt as long as its size, byte for byte what
    // the followers read.
    for (uid, (user, _, _)) in &expected {
        let prefix = format!("jobs/{user}/{uid}");
        let log = object(format!("{prefix}/log.txt")).await.unwrap();
        let size = object(format!("{prefix}/size")).await.expect("a size");
        let size: usize = String::from_utf8(size).unwrap().parse().unwrap();
        assert_eq!(log.len(), size, "{uid}");
        assert!(object(format!("{prefix}/end")).await.is_some(), "{uid}");
        assert!(object(format!("{prefix}/exit")).await.is_some(), "{uid}");
    }
    let open = s3
        .list_objects_v2()
        .bucket("svc")
        .prefix("open/")
        .send()
        .await
        .unwrap();
    assert_eq!(open.key_count(), Some(0), "no job is left open");
    assert!(proxy.stats.failed.load(std::sync::atomic::Ordering::SeqCst) > 100);
}

#[tokio::test]
async fn an_rpc_has_no_more_reach_than_an_argv_job() {
    let data = tempfile::tempdir().unwrap();
    let serve = serve_in(data.path(), &[]);
    let client = client_of(&serve);
    let run = |request: ExecRequest| {
        let client = client.clone();
        async move {
            let uid = client.submit(&request).await.unwrap();
            let (log, code) = follow(&client, &uid, Duration::from_secs(30)).await;
            (String::from_utf8_lossy(&log).into_owned(), code)
        }
    };
    // Its own directory, as an argv job has.
    let (own, code) = run(ExecRequest::rpc("listdir", r#"{"path": "."}"#)).await;
    assert_eq!((own.as_str(), code), ("artifacts/\ntmp/\n", 0));
    // Under a root serve the data directory and /root are as closed to it as to `ls`
    // (jobs run as nobody); without root both run as the serving user.
    let closed = match nix::unistd::geteuid().is_root() {
        true => vec![data.path().to_str().unwrap(), "/root"],
        false => Vec::new(),
    };
    for path in closed {
        let args = serde_json::json!({ "path": path }).to_string();
        let (said, code) = run(ExecRequest::rpc("listdir", args)).await;
        assert_eq!(code, 1, "{path}: {said}");
        assert!(said.contains("ermission denied"), "{said}");
        let (_, ls) = run(ExecRequest::argv(["ls", path])).await;
        assert_ne!(ls, 0, "{path}");
    }
}

/// Makes a directory immutable (`chattr +i`: no entry made, renamed or removed in it, as on
/// a full disk every new file fails) until dropped.
struct Immutable(std::path::PathBuf);

impl Immutable {
    fn set(dir: &std::path::Path) -> Self {
        let out = std::process::Command::new("chattr")
            .arg("+i")
            .arg(dir)
            .output()
            .expect("chattr runs (e2fsprogs)");
        assert!(out.status.success(), "chattr +i: {out:?}");
        Immutable(dir.to_owned())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

/// One failed write of a job's end (the disk full for a moment) left it `running` for ever:
/// the sweep ran only at start. Now serve's periodic sweep closes it once writes work again.
#[tokio::test]
async fn a_failed_write_of_a_jobs_end_does_not_leave_it_running_for_ever() {
    let data = tempfile::tempdir().unwrap();
    let serve = serve_in(data.path(), &[]);
    let client = client_of(&serve);
    let uid = client
        .submit(&ExecRequest::argv(["sh", "-c", "echo up; sleep 2"]))
        .await
        .unwrap();
    until_running(&client, &uid).await;
    let dir = data.path().join("jobs/default").join(&uid);
    assert!(dir.is_dir(), "{dir:?}");
    let frozen = Immutable::set(&dir);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let meta = client.status(&uid).await.unwrap();
    assert_eq!(
        meta.state,
        JobState::Running,
        "its end could not be written"
    );
    drop(frozen);
    let meta = wait_until(Duration::from_secs(30), "the job closed", || {
        let (client, uid) = (client.clone(), uid.clone());
        async move {
            let meta = client.status(&uid).await.unwrap();
            (meta.state != JobState::Running).then_some(meta)
        }
    })
    .await;
    assert_eq!(meta.state, JobState::Lost, "{meta:?}");
    assert!(
        meta.notes
            .iter()
            .any(|n| n.contains("could not be recorded")),
        "{meta:?}"
    );
    let (log, code) = follow(&client, &uid, Duration::from_secs(10)).await;
    assert_eq!((log.as_slice(), code), (&b"up\n"[..], 255));
}

/// Every folder under a data directory, relative to it (the store's own spares aside).
fn folders_under(root: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![root.to_owned()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            // Submissions' idempotency keys are kept a day, whatever `--keep` says.
            let kept_a_day = rel.starts_with("idempotency");
            if entry.file_type().unwrap().is_dir() && !rel.starts_with(".tmp") && !kept_a_day {
                found.push(rel);
                todo.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Jobs of two keys, deleted by retention at the next start: the folders they were kept
/// in go with them, so the data directory (and every walk over it) follows what is kept.
#[tokio::test]
async fn a_data_directory_keeps_no_folder_of_what_it_deleted() {
    let mut serve = aws_exec_testkit::LocalServe::start(BIN);
    let (alice, bob) = (serve.client(), serve.new_user("bob"));
    let before = folders_under(std::path::Path::new(&serve.data));
    for client in [&alice, &bob] {
        for _ in 0..3 {
            let code = client
                .exec(&ExecRequest::argv(["echo", "kept for now"]), |_| {})
                .await
                .unwrap();
            assert_eq!(code, 0);
        }
    }
    let with_jobs = folders_under(std::path::Path::new(&serve.data));
    assert!(
        with_jobs.iter().any(|f| f.starts_with("index/bob")),
        "{with_jobs:?}"
    );
    // Older than --keep by the time serve starts again.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    serve.restart(&["--keep", "1s"]);
    let data = std::path::Path::new(&serve.data).to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    while folders_under(&data) != before {
        assert!(
            Instant::now() < deadline,
            "folders left: {:?} (before any job: {before:?})",
            folders_under(&data)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(serve
        .client()
        .list_all(&Default::default())
        .await
        .unwrap()
        .is_empty());
}
