//! Jobs run through the real service and the client library: exit codes, bytes, streaming,
//! limits, concurrency.

use aws_exec::commands::registry;
use std::time::{Duration, Instant};

use aws_exec_client::ExecRequest;
use aws_exec_protocol::keys::JobKeys;
use aws_exec_testkit::{json_of, run_argv, run_sh, submit_sh, wait_until, Service};

#[tokio::test]
async fn exit_codes_pass_through() {
    let svc = Service::start(registry()).await;
    let client = svc.client();
    for code in [0, 1, 3] {
        let (_, got) = run_sh(&client, &format!("exit {code}")).await;
        assert_eq!(got, code);
    }
    let uid = client
        .submit(&ExecRequest::argv(["no-such-command-here"]))
        .await
        .unwrap();
    let mut log = Vec::new();
    let ended = client
        .tail_ended(&uid, 0, None, &mut |b: &[u8]| log.extend_from_slice(b))
        .await
        .unwrap();
    assert_eq!(ended.exit, 127);
    assert_eq!(log, b"", "the service's words are not the job's output");
    assert_eq!(ended.notes, ["no-such-command-here: command not found"]);

    let (_, got) = run_sh(&client, "kill -9 $$").await;
    assert_eq!(got, 128 + 9, "death by SIGKILL is 128+9");

    let script = svc.dir.path().join("not-executable.sh");
    std::fs::write(&script, "#!/bin/sh\necho no\n").unwrap();
    let (log, got) = run_argv(&client, &[script.to_str().unwrap()]).await;
    assert_eq!(got, 126, "{}", String::from_utf8_lossy(&log));
    svc.stop().await;
}

#[tokio::test]
async fn a_job_starts_with_no_signal_blocked_or_ignored() {
    let svc = Service::start(registry()).await;
    let (log, code) = run_argv(
        &svc.client(),
        &["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"],
    )
    .await;
    let log = String::from_utf8(log).unwrap();
    assert_eq!(code, 0, "{log}");
    // The service ignores SIGPIPE and blocks every signal while it starts a job: neither
    // reaches the job.
    assert_eq!(
        log, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n",
        "{log}"
    );
    // So a writer into a closed pipe ends at once, as in any shell.
    let started = Instant::now();
    let (log, code) = run_sh(&svc.client(), "yes | head -c 3").await;
    assert_eq!((log.as_slice(), code), (b"y\ny".as_slice(), 0));
    assert!(started.elapsed() < Duration::from_secs(10));
    svc.stop().await;
}

#[tokio::test]
async fn a_job_cannot_choose_the_tag_its_processes_carry() {
    let svc = Service::start(registry()).await;
    // Read straight from the first process's environment: a shell would tidy it first.
    let request =
        aws_exec_client::ExecRequest::argv(["grep", "-az", "^AWS_EXEC_JOB=", "/proc/self/environ"])
            .env("AWS_EXEC_JOB", "forged");
    let mut out = Vec::new();
    let code = svc
        .client()
        .exec(&request, |b| out.extend_from_slice(b))
        .await
        .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(code, 0, "{out}");
    // One tag, the service's: the job's uid, never what the job asked for.
    let tags: Vec<&str> = out.split_terminator('\0').collect();
    assert_eq!(tags.len(), 1, "{out:?}");
    let tag = tags[0].trim_start_matches("AWS_EXEC_JOB=");
    assert!(tag.parse::<aws_exec_protocol::Uid>().is_ok(), "{out}");
    svc.stop().await;
}

#[tokio::test]
async fn stdout_and_stderr_are_both_kept_with_a_final_partial_line() {
    let svc = Service::start(registry()).await;
    let (log, code) = run_sh(
        &svc.client(),
        "echo out; echo err >&2; sleep 0.2; printf 'no newline'",
    )
    .await;
    let log = String::from_utf8(log).unwrap();
    assert_eq!(code, 0);
    assert!(log.contains("out\n"), "{log:?}");
    assert!(log.contains("err\n"), "{log:?}");
    assert!(log.ends_with("no newline"), "{log:?}");
    svc.stop().await;
}

#[tokio::test]
async fn every_byte_value_round_trips_exactly() {
    let svc = Service::start(registry()).await;
    let file = svc.dir.path().join("bytes");
    let all: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    std::fs::write(&file, &all).unwrap();
    let (log, code) = run_argv(&svc.client(), &["cat", file.to_str().unwrap()]).await;
    assert_eq!(code, 0);
    assert_eq!(log, all);
    svc.stop().await;
}

#[tokio::test]
async fn five_mib_of_output_reads_back_byte_exact() {
    let svc = Service::start(registry()).await;
    let file = svc.dir.path().join("big");
    let mut data = Vec::with_capacity(5 << 20);
    let mut x: u32 = 2_463_534_242;
    while data.len() < 5 << 20 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(&file, &data).unwrap();
    // Written in pieces with pauses, so the log is read while it grows.
    let script = format!(
        "f={}; for i in 0 1 2 3 4; do dd if=$f bs=1048576 skip=$i count=1 status=none; sleep 0.1; done",
        file.display()
    );
    let (log, code) = run_sh(&svc.client(), &script).await;
    assert_eq!(code, 0);
    assert_eq!(log.len(), data.len());
    assert!(log == data, "5 MiB log differs from what was written");
    svc.stop().await;
}

#[tokio::test]
async fn empty_output_is_an_empty_log() {
    let svc = Service::start(registry()).await;
    let (log, code) = run_argv(&svc.client(), &["true"]).await;
    assert_eq!((log.len(), code), (0, 0));
    svc.stop().await;
}

#[tokio::test]
async fn a_long_job_streams_its_first_line_before_it_ends() {
    let svc = Service::start(registry()).await;
    let client = svc.client();
    let start = Instant::now();
    let mut first_seen = None;
    let request =
        aws_exec_client::ExecRequest::argv(["bash", "-c", "echo first; sleep 3; echo last"]);
    let mut log = Vec::new();
    let code = client
        .exec(&request, |b| {
            first_seen.get_or_insert_with(|| start.elapsed());
            log.extend_from_slice(b);
        })
        .await
        .unwrap();
    let ended = start.elapsed();
    assert_eq!(code, 0);
    assert_eq!(log, b"first\nlast\n");
    let first_seen = first_seen.expect("some output arrived");
    assert!(
        first_seen + Duration::from_secs(2) < ended,
        "first line at {first_seen:?}, job ended at {ended:?}"
    );
    svc.stop().await;
}

#[tokio::test]
async fn rpc_listdir_lists_on_the_service() {
    let svc = Service::start(registry()).await;
    let dir = svc.dir.path().join("listme");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("file.txt"), "x").unwrap();
    let args = serde_json::json!({ "path": dir }).to_string();
    let mut out = Vec::new();
    let code = svc
        .client()
        .exec(&aws_exec_client::ExecRequest::rpc("listdir", args), |b| {
            out.extend_from_slice(b)
        })
        .await
        .unwrap();
    assert_eq!(code, 0);
    assert_eq!(String::from_utf8(out).unwrap(), "file.txt\nsub/\n");

    let mut out = Vec::new();
    let missing = serde_json::json!({ "path": dir.join("nope") }).to_string();
    let code = svc
        .client()
        .exec(
            &aws_exec_client::ExecRequest::rpc("listdir", missing),
            |b| out.extend_from_slice(b),
        )
        .await
        .unwrap();
    assert_eq!(code, 1, "an rpc error is exit 1");
    assert!(String::from_utf8_lossy(&out).contains("nope"));
    svc.stop().await;
}

#[tokio::test]
async fn huge_output_is_capped_at_the_jobs_own_bytes_and_size_matches() {
    const CAP: usize = 256 * 1024;
    let svc = Service::start_with(registry(), |c| c.runner.max_log_bytes = CAP).await;
    let (log, code) = run_sh(
        &svc.client(),
        "head -c 3000000 /dev/zero; echo done >&2; exit 4",
    )
    .await;
    assert_eq!(code, 4, "the command still runs to its end");
    assert_eq!(log.len(), CAP);
    assert!(
        log.iter().all(|b| *b == 0),
        "the job's bytes, no marker of ours"
    );
    let uid = &svc.client().list(&Default::default()).await.unwrap().jobs[0].uid;
    let meta = job_meta(&svc, uid.as_str()).await;
    assert_eq!(meta["truncated"], true);
    assert!(meta["notes"][0].as_str().unwrap().contains("cap"), "{meta}");
    svc.stop().await;
}

/// The service wrote its notices (timed out, a marker at the cap) into the job's log, so
/// `exec ... > out` held more than the job printed. They are in its meta and in the poll's
/// exit answer, on the wire as aws-exec's clients read it.
#[tokio::test]
async fn a_notice_is_in_meta_and_the_poll_not_in_the_log() {
    const CAP: usize = 64 * 1024;
    let svc = Service::start_with(registry(), |c| c.runner.max_log_bytes = CAP).await;
    let client = svc.client();

    let uid = client
        .submit(&ExecRequest::argv(["sh", "-c", "echo begun; sleep 5"]).timeout(1))
        .await
        .unwrap();
    let (log, end) = follow_as_the_wire_says(&svc, &uid).await;
    assert_eq!(log, b"begun\n", "the job's bytes alone");
    assert_eq!(end["exit"], 124);
    let said = serde_json::json!(["timed out: the job reached its timeout"]);
    assert_eq!(end["notes"], said, "{end}");
    let meta = job_meta(&svc, &uid).await;
    assert_eq!(meta["notes"], said, "{meta}");
    assert!(meta.get("truncated").is_none(), "false is left out: {meta}");

    // Past the cap: exactly the first CAP bytes of what the job printed, and a note.
    let uid = submit_sh(&client, "seq 1 100000").await;
    let printed: String = (1..=100_000).map(|i| format!("{i}\n")).collect();
    let (log, end) = follow_as_the_wire_says(&svc, &uid).await;
    assert!(
        log[..] == printed.as_bytes()[..CAP],
        "the first {CAP} bytes"
    );
    assert_eq!(end["exit"], 0);
    let said = serde_json::json!([format!(
        "the log reached its cap of {CAP} bytes; the rest of the output was dropped"
    )]);
    assert_eq!(end["notes"], said, "{end}");
    let meta = job_meta(&svc, &uid).await;
    assert_eq!((&meta["truncated"], &meta["notes"]), (&true.into(), &said));

    // A job with nothing to say answers as aws-exec did: `notes` left out.
    let uid = submit_sh(&client, "echo fine").await;
    let (log, end) = follow_as_the_wire_says(&svc, &uid).await;
    assert_eq!(
        (log, end),
        (b"fine\n".to_vec(), serde_json::json!({"exit": 0}))
    );
    svc.stop().await;
}

/// Follows a job with plain `GET /api/exec` polls; answers its log and the JSON that ended it.
async fn follow_as_the_wire_says(svc: &Service, uid: &str) -> (Vec<u8>, serde_json::Value) {
    let client = svc.client();
    let mut log = Vec::new();
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(30), "{uid} ends");
        let at = log.len().to_string();
        let answer = json_of(
            reqwest::Client::new()
                .get(format!("{}/api/exec", svc.url()))
                .query(&[("uid", uid), ("range-start", at.as_str())])
                .header("auth", &svc.key),
        )
        .await;
        if answer.get("exit").is_some() {
            return (log, answer);
        }
        let url = answer["url"].as_str().expect("a url or the exit");
        let offset = log.len() as u64;
        let read = client
            .read_log(url, offset, &mut |b: &[u8]| log.extend_from_slice(b))
            .await
            .unwrap();
        if read == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn a_job_past_its_time_limit_is_stopped_and_still_ends_cleanly() {
    let svc = Service::start_with(registry(), |c| {
        c.runner.max_run_time = Duration::from_secs(1);
        c.runner.grace = Duration::from_millis(500);
    })
    .await;
    let started = Instant::now();
    let client = svc.client();
    let uid = submit_sh(&client, "echo started; sleep 30").await;
    let mut log = Vec::new();
    let code = client
        .tail(&uid, |b| log.extend_from_slice(b))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(code, 124, "stopped for time: 124, as timeout(1) answers");
    let log = String::from_utf8(log).unwrap();
    assert_eq!(log, "started\n");
    let meta = job_meta(&svc, &uid).await;
    assert_eq!(
        meta["notes"][0],
        "timed out: the job reached the run-time limit"
    );
    assert_eq!(
        meta["state"], "timed-out",
        "the reason recorded when the stop was asked for"
    );
    svc.stop().await;
}

#[tokio::test]
async fn fifty_concurrent_jobs_all_finish_with_their_own_output() {
    let svc = Service::start_with(registry(), |c| c.concurrency = 8).await;
    let client = svc.client();
    let jobs = (0..50).map(|i| {
        let client = client.clone();
        tokio::spawn(async move {
            let (log, code) = run_sh(
                &client,
                &format!("echo job-{i}; sleep 0.2; echo end-{i} >&2; exit {}", i % 7),
            )
            .await;
            (i, log, code)
        })
    });
    let results = futures_join(jobs).await;
    assert_eq!(results.len(), 50);
    for (i, log, code) in results {
        assert_eq!(code, i % 7);
        assert_eq!(
            String::from_utf8(log).unwrap(),
            format!("job-{i}\nend-{i}\n")
        );
    }
    svc.stop().await;
}

async fn futures_join<T>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles.collect::<Vec<_>>() {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn shutdown_stops_running_jobs_and_records_them_lost() {
    let svc = Service::start(registry()).await;
    let client = svc.client();
    let uid = submit_sh(&client, "echo up; sleep 60").await;
    let dir = svc.dir.path().join("data/jobs/alice").join(&uid);
    wait_until(Duration::from_secs(10), "the job's first line", || {
        let log = std::fs::read(dir.join("log.txt")).unwrap_or_default();
        async move { log.starts_with(b"up\n").then_some(()) }
    })
    .await;
    svc.service.shutdown().await;
    let exit = std::fs::read_to_string(dir.join("exit")).unwrap();
    let size: u64 = std::fs::read_to_string(dir.join("size"))
        .unwrap()
        .parse()
        .unwrap();
    let log = std::fs::read(dir.join("log.txt")).unwrap();
    // Not a caller's cancel: lost, saying the service stopped it.
    assert_eq!(exit, "255");
    assert_eq!(size, log.len() as u64);
    assert!(log.starts_with(b"up\n"));
    let meta = svc.dir.path().join("data").join(meta_key(&uid));
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(meta).unwrap()).unwrap();
    assert_eq!(meta["state"], "lost");
    assert!(
        meta["notes"].to_string().contains("the service stopped it"),
        "{meta}"
    );
}

#[tokio::test]
async fn tail_follows_a_job_by_uid() {
    let svc = Service::start(registry()).await;
    let client = svc.client();
    let uid = submit_sh(&client, "echo one; sleep 0.3; echo two; exit 5").await;
    let mut a = Vec::new();
    let mut b = Vec::new();
    assert_eq!(
        client.tail(&uid, |x| a.extend_from_slice(x)).await.unwrap(),
        5
    );
    // A finished job can be tailed again from the start.
    assert_eq!(
        client.tail(&uid, |x| b.extend_from_slice(x)).await.unwrap(),
        5
    );
    assert_eq!(a, b"one\ntwo\n");
    assert_eq!(a, b);
    svc.stop().await;
}

/// `GET /api/job?uid=` as JSON.
async fn job_meta(svc: &Service, uid: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(format!("{}/api/job?uid={uid}", svc.url()))
        .header("auth", &svc.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_state_is_final_whenever_the_exit_code_is_readable() {
    let svc = Service::start_with(registry(), |c| c.concurrency = 8).await;
    let client = svc.client();
    let mut uids = Vec::new();
    for i in 0..50 {
        uids.push(submit_sh(&client, &format!("sleep 0.0{}; exit {}", i % 10, i % 5)).await);
    }
    let jobs = svc.dir.path().join("data/jobs/alice");
    // Watch every job's objects while they end: whenever `exit` exists, its meta, read
    // after it, must already hold a final state (meta is written before exit).
    let mut checked = 0;
    wait_until(Duration::from_secs(60), "all 50 jobs to end", || {
        let mut all_done = true;
        for uid in &uids {
            let dir = jobs.join(uid);
            if dir.join("exit").exists() {
                let meta = svc.dir.path().join("data").join(meta_key(uid));
                let meta: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(meta).unwrap()).unwrap();
                assert_ne!(meta["state"], "running", "exit readable but state running");
                assert_ne!(meta["state"], "queued", "exit readable but state queued");
                checked += 1;
            }
            all_done &= dir.join("size").exists();
        }
        async move { all_done.then_some(()) }
    })
    .await;
    assert!(checked >= 50);
    for uid in &uids {
        let meta = job_meta(&svc, uid).await;
        assert_eq!(meta["state"], "exited", "{meta}");
        assert!(
            !svc.dir.path().join("data/open/alice").join(uid).exists(),
            "open marker removed"
        );
    }
    svc.stop().await;
}

#[tokio::test]
async fn following_gives_up_after_a_bounded_silence_with_a_reason() {
    let svc = Service::start(registry()).await;
    // Object URLs that are refused forever (bad signatures), as for a pushed job whose
    // runner died or a log URL that stays forbidden.
    let refused = format!("{}/_store/jobs/alice/x/log.txt?expires=1&sig=00", svc.url());
    let urls = aws_exec_client::ObjectUrls {
        log: refused.clone(),
        exit: refused.clone(),
        size: refused,
    };
    let client = svc.client().with_poll_policy(aws_exec_client::PollPolicy {
        give_up_after: Duration::from_secs(1),
        ..aws_exec_client::PollPolicy::default()
    });
    let started = Instant::now();
    let err = client.tail_objects(&urls, |_| {}).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        matches!(err, aws_exec_client::ClientError::NoProgress { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("no new log bytes"), "{err}");
    svc.stop().await;
}

/// Where alice's job `uid` keeps its meta (its listing entry).
fn meta_key(uid: &str) -> String {
    JobKeys::new(&"alice".parse().unwrap(), &uid.parse().unwrap()).meta()
}
