//! The `aws-exec` binary as a user runs it: `serve` in one process, commands in others.

use std::io::Write;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use aws_exec_testkit::env::clean_command;
use aws_exec_testkit::ServeProcess;

const BIN: &str = env!("CARGO_BIN_EXE_aws-exec");

/// `aws-exec serve` on port 0 in a temp data dir.
struct Serve {
    _process: ServeProcess,
    url: String,
    auth: String,
    dir: tempfile::TempDir,
}

impl Serve {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let process = ServeProcess::start(BIN, &["--data-dir", dir.path().to_str().unwrap()], &[]);
        Serve {
            url: process.url.clone(),
            auth: process.key.clone(),
            _process: process,
            dir,
        }
    }

    fn cli(&self, args: &[&str]) -> Output {
        clean_command(BIN, &[])
            .args(args)
            .env("PROJECT_URL", &self.url)
            .env("AUTH", &self.auth)
            .env("AWS_EXEC_DATA_DIR", self.dir.path())
            .output()
            .unwrap()
    }
}

#[test]
fn exec_streams_raw_bytes_and_exits_with_the_jobs_code() {
    let serve = Serve::start();
    let out = serve.cli(&[
        "exec",
        "--",
        "bash",
        "-c",
        r"echo hi; echo oops >&2; sleep 0.2; printf '\xff'; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(out.stdout, b"hi\noops\n\xff");
}

/// stdout and stderr reach the log in the order the command wrote them, as a terminal's
/// `2>&1` shows them, in the stored `log.txt` as in what the CLI prints.
#[test]
fn stdout_and_stderr_are_stored_in_the_order_they_were_written() {
    let serve = Serve::start();
    // Many pairs, written back to back: two pipes read side by side reorder them at once.
    let script = "for i in $(seq 1 2000); do echo out $i; echo err $i >&2; done";
    let want: String = (1..=2000).map(|i| format!("out {i}\nerr {i}\n")).collect();
    for _ in 0..3 {
        let out = serve.cli(&["exec", "--print-uid", "--", "sh", "-c", script]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), want);
        let uid = String::from_utf8_lossy(&out.stderr)
            .split_whitespace()
            .find(|w| w.contains('.') && w.len() > 30)
            .expect("the uid on stderr")
            .to_owned();
        let stored =
            std::fs::read(serve.dir.path().join(format!("jobs/default/{uid}/log.txt"))).unwrap();
        assert_eq!(String::from_utf8_lossy(&stored), want);
    }
}

#[test]
fn rpc_and_local_listdir_agree() {
    let serve = Serve::start();
    let dir = serve.dir.path().join("l");
    std::fs::create_dir_all(dir.join("d")).unwrap();
    std::fs::write(dir.join("f"), "").unwrap();
    // The rpc runs as the job's user (nobody, under a root serve): it may read what
    // others may.
    use std::os::unix::fs::PermissionsExt;
    for open in [serve.dir.path(), &dir] {
        std::fs::set_permissions(open, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = dir.to_str().unwrap();
    let remote = serve.cli(&["rpc", "listdir", &format!(r#"{{"path": "{path}"}}"#)]);
    let local = serve.cli(&["listdir", path]);
    assert_eq!(remote.status.code(), Some(0));
    assert_eq!(local.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&remote.stdout), "d/\nf\n");
    assert_eq!(remote.stdout, local.stdout);
}

#[test]
fn wrong_auth_is_a_clear_cli_error() {
    let serve = Serve::start();
    let out = clean_command(BIN, &[])
        .args(["exec", "--url", &serve.url, "--auth", "bogus", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("auth key not recognised") && err.contains("401"),
        "{err}"
    );
}

#[test]
fn auth_new_ls_rm_manage_keys_that_the_service_honours() {
    let serve = Serve::start();
    let made = serve.cli(&["auth", "new", "carol"]);
    assert_eq!(made.status.code(), Some(0));
    let key = String::from_utf8(made.stdout).unwrap().trim().to_owned();
    assert_eq!(key.len(), 64);

    let ls = String::from_utf8(serve.cli(&["auth", "ls"]).stdout).unwrap();
    assert!(ls.contains("carol") && ls.contains("default"), "{ls}");
    assert!(!ls.contains(&key), "keys are never listed");

    let as_carol = clean_command(BIN, &[])
        .args([
            "exec", "--url", &serve.url, "--auth", &key, "--", "echo", "carol",
        ])
        .output()
        .unwrap();
    assert_eq!(as_carol.stdout, b"carol\n");

    let again = serve.cli(&["auth", "new", "carol"]);
    assert_ne!(again.status.code(), Some(0), "one key per name");

    assert_eq!(serve.cli(&["auth", "rm", "carol"]).status.code(), Some(0));
    let ls = String::from_utf8(serve.cli(&["auth", "ls"]).stdout).unwrap();
    assert!(!ls.contains("carol"), "{ls}");
    let refused = clean_command(BIN, &[])
        .args(["exec", "--url", &serve.url, "--auth", &key, "--", "true"])
        .output()
        .unwrap();
    assert_eq!(
        refused.status.code(),
        Some(255),
        "a removed key stops working"
    );

    let bad = serve.cli(&["auth", "new", "../evil"]);
    assert_ne!(bad.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid name"));
}

#[test]
fn tail_follows_a_uid_printed_by_exec() {
    let serve = Serve::start();
    let out = serve.cli(&["exec", "--print-uid", "--", "bash", "-c", "echo x; exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    let err = String::from_utf8(out.stderr).unwrap();
    let uid = err
        .lines()
        .find_map(|l| l.strip_prefix("uid: "))
        .expect("uid printed");
    let tail = serve.cli(&["tail", uid]);
    assert_eq!(tail.status.code(), Some(7));
    assert_eq!(tail.stdout, b"x\n");
}

#[test]
fn a_data_dir_flag_wins_over_project_bucket_in_the_environment() {
    // As after `source env.sh`: a real bucket's name is exported. The flag must win, and
    // nothing may try to reach AWS.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let serve = ServeProcess::start(
        BIN,
        &["--data-dir", data.to_str().unwrap()],
        &[("PROJECT_BUCKET", "someone-elses-real-bucket".into())],
    );
    assert!(
        serve.banner.contains(data.to_str().unwrap()),
        "{}",
        serve.banner
    );
    assert!(data.join("auth").is_dir(), "the key went to the data dir");
}

#[test]
fn store_flags_work_after_the_subcommand_and_a_name_is_taken_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let run = |args: &[&str]| {
        clean_command(BIN, &[("PROJECT_BUCKET", "not-this-one".into())])
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["auth", "new", "bob", "--data-dir", d]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim().len(), 64);
    let again = run(&["auth", "new", "bob", "--data-dir", d]);
    assert_eq!(again.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already has a key"));
    let ls = run(&["auth", "ls", "--data-dir", d]);
    let ls = String::from_utf8_lossy(&ls.stdout);
    let row = ls.lines().nth(1).unwrap_or_default();
    assert!(
        row.starts_with("bob ") && row.contains(" UTC ("),
        "a time people read: {ls}"
    );
    let json = run(&["auth", "ls", "--json", "--data-dir", d]);
    let listed: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(listed[0]["name"], "bob");
    assert!(listed[0]["created"].as_u64().unwrap() > 1_700_000_000);
    let rm = run(&["auth", "rm", "bob", "--data-dir", d]);
    assert!(rm.status.success());
    let new_again = run(&["auth", "new", "bob", "--data-dir", d]);
    assert!(
        new_again.status.success(),
        "a removed name can be given a new key"
    );
}

/// `auth ls` where no serve has made a store says where it looked, and makes nothing
/// there; a timeout over a local serve's limit names the flag that raises it.
#[test]
fn auth_ls_without_a_store_and_a_timeout_over_the_limit_say_what_to_do() {
    let home = tempfile::tempdir().unwrap();
    let out = clean_command(BIN, &[("HOME", home.path().to_str().unwrap().into())])
        .args(["auth", "ls"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no data directory") && err.contains("--data-dir"),
        "{err}"
    );
    assert!(
        !home.path().join(".local").exists(),
        "no store was made: {err}"
    );

    let serve = Serve::start();
    let out = serve.cli(&["exec", "--timeout", "20m", "--", "true"]);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("serve --max-timeout"), "{err}");

    // status: a short job's duration to the tenth of a second.
    let ran = serve.cli(&["exec", "--", "sleep", "0.6"]);
    assert_eq!(ran.status.code(), Some(0));
    let status = serve.text(&["status", "last"]);
    let duration = status
        .lines()
        .find_map(|l| l.strip_prefix("duration:"))
        .unwrap()
        .trim();
    assert!(
        duration.starts_with("0.") && duration.ends_with('s'),
        "{status}"
    );
    assert_ne!(duration, "0.0s", "{status}");
}

#[test]
fn a_missing_aws_setting_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = clean_command(BIN, &[("HOME", dir.path().to_str().unwrap().into())])
        .args(["auth", "ls", "--bucket", "b"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("AWS_REGION"), "{err}");
}

impl Serve {
    /// The command line with its stdout a pipe whose reader is already gone, as under
    /// `| head` once head has read its lines.
    fn cli_into_closed_pipe(&self, args: &[&str]) -> (Option<i32>, String, Duration) {
        let (reader, writer) = nix::unistd::pipe().unwrap();
        drop(reader);
        let started = Instant::now();
        let out = clean_command(BIN, &[])
            .args(args)
            .env("PROJECT_URL", &self.url)
            .env("AUTH", &self.auth)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), err, started.elapsed())
    }

    fn text(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn state_of(&self, uid: &str) -> String {
        let json = self.text(&["status", "--json", uid]);
        let meta: serde_json::Value = serde_json::from_str(&json).unwrap();
        meta["state"].as_str().unwrap().to_owned()
    }

    fn wait_for_state(&self, uid: &str, state: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.state_of(uid) != state {
            assert!(Instant::now() < deadline, "{uid} never became {state}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn exec_into_a_closed_pipe_cancels_its_job_and_exits_141() {
    let serve = Serve::start();
    let (code, err, took) = serve.cli_into_closed_pipe(&["exec", "--", "yes"]);
    assert_eq!(code, Some(141), "{err}");
    assert!(took < Duration::from_secs(15), "{took:?}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(serve.state_of("last"), "cancelled");
}

#[test]
fn tail_into_a_closed_pipe_exits_and_leaves_its_job_running() {
    let serve = Serve::start();
    let uid = serve.text(&[
        "exec",
        "--detach",
        "--",
        "sh",
        "-c",
        "while :; do echo tick; sleep 0.05; done",
    ]);
    let uid = uid.trim();
    serve.wait_for_state(uid, "running");
    let (code, err, _) = serve.cli_into_closed_pipe(&["tail", uid]);
    assert_eq!(code, Some(141), "{err}");
    assert_eq!(serve.state_of(uid), "running", "tail leaves the job alone");
    serve.text(&["cancel", uid]);
}

#[test]
fn listings_into_a_closed_pipe_end_quietly() {
    let serve = Serve::start();
    for _ in 0..3 {
        serve.text(&["exec", "--", "true"]);
    }
    for args in [&["ls"][..], &["status", "last"], &["ls", "--json"]] {
        let (code, err, _) = serve.cli_into_closed_pipe(args);
        assert_eq!(code, Some(141), "{args:?}: {err}");
        assert_eq!(err, "", "{args:?}");
    }
}

#[test]
fn a_service_that_is_not_there_is_one_line_within_3_seconds() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let out = clean_command(BIN, &[])
        .args(["exec", "--url", &url, "--auth", "k", "--", "true"])
        .output()
        .unwrap();
    let took = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(255));
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(err.matches(&url).count(), 1, "the URL once: {err}");
    assert!(err.contains("connection refused"), "{err}");
}

#[test]
fn serve_says_where_it_is_beside_the_key() {
    let serve = Serve::start();
    let banner = &serve._process.said;
    assert!(
        banner.contains(&format!("export PROJECT_URL={}", serve.url)),
        "{banner}"
    );
}

#[test]
fn last_and_a_unique_start_of_a_uid_name_a_job() {
    let serve = Serve::start();
    let first = serve.text(&["exec", "--detach", "--", "echo", "one"]);
    let first = first.trim();
    serve.wait_for_state(first, "exited");
    let second = serve.text(&["exec", "--detach", "--", "echo", "two"]);
    let second = second.trim();
    serve.wait_for_state(second, "exited");

    assert_eq!(serve.text(&["tail", "last"]), "two\n");
    // The shortest start that tells them apart, and one that does not.
    let common = first
        .chars()
        .zip(second.chars())
        .take_while(|(a, b)| a == b)
        .count();
    assert_eq!(serve.text(&["tail", &first[..common + 1]]), "one\n");
    let ambiguous = serve.cli(&["status", &first[..common]]);
    assert_eq!(ambiguous.status.code(), Some(255));
    let err = String::from_utf8_lossy(&ambiguous.stderr);
    assert!(err.contains(first) && err.contains(second), "{err}");
    let none = serve.cli(&["status", "1.ab"]);
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("no job of yours"),
        "{}",
        String::from_utf8_lossy(&none.stderr)
    );
    let status = serve.text(&["status", "last"]);
    assert!(status.contains(second), "{status}");
    assert!(status.contains("command:   echo two"), "{status}");
}

#[test]
fn tail_n_starts_at_the_last_lines() {
    let serve = Serve::start();
    serve.text(&["exec", "--", "seq", "1", "200000"]);
    assert_eq!(
        serve.text(&["tail", "-n", "3", "last"]),
        "199998\n199999\n200000\n"
    );
    assert_eq!(serve.text(&["tail", "-n", "1", "last"]), "200000\n");
    serve.text(&["exec", "--", "printf", "a\\nb"]);
    assert_eq!(serve.text(&["tail", "-n", "1", "last"]), "b");
    assert_eq!(serve.text(&["tail", "-n", "5", "last"]), "a\nb");
}

#[test]
fn cancel_all_and_by_state_reach_every_live_job() {
    let serve = Serve::start();
    let uids: Vec<String> = (0..3)
        .map(|_| {
            serve
                .text(&["exec", "--detach", "--", "sleep", "60"])
                .trim()
                .to_owned()
        })
        .collect();
    let done = serve.text(&["exec", "--detach", "--", "true"]);
    serve.wait_for_state(done.trim(), "exited");
    let out = serve.text(&["cancel", "--all"]);
    for uid in &uids {
        assert!(out.contains(uid.as_str()), "{out}");
        serve.wait_for_state(uid, "cancelled");
    }
    assert!(
        !out.contains(done.trim()),
        "an ended job is left out: {out}"
    );
    let none = serve.cli(&["cancel", "--state", "queued"]);
    assert!(none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("no jobs to cancel"));
    let ended = serve.cli(&["cancel", "--state", "exited"]);
    assert_eq!(
        ended.status.code(),
        Some(2),
        "an ended state is a usage error"
    );
    assert_eq!(
        serve.cli(&["cancel"]).status.code(),
        Some(2),
        "nothing named"
    );
}

#[test]
fn rerun_submits_the_same_command_again() {
    let serve = Serve::start();
    let out = serve.cli(&[
        "exec",
        "--timeout",
        "30s",
        "--",
        "sh",
        "-c",
        "echo again; exit 4",
    ]);
    assert_eq!(out.status.code(), Some(4));
    let first = serve.state_of("last");
    assert_eq!(first, "exited");
    let old: serde_json::Value =
        serde_json::from_str(&serve.text(&["status", "--json", "last"])).unwrap();
    let rerun = serve.cli(&["rerun", "last"]);
    assert_eq!(rerun.status.code(), Some(4));
    assert_eq!(rerun.stdout, b"again\n");
    let new: serde_json::Value =
        serde_json::from_str(&serve.text(&["status", "--json", "last"])).unwrap();
    assert_ne!(new["uid"], old["uid"]);
    assert_eq!(new["command"], old["command"]);
    assert_eq!(new["timeout"], 30);
}

/// A rerun is the same request again: the uploaded script, the variables, the secrets by
/// name and (piped again) the standard input. A job that read input is not rerun without
/// it unless asked (-n).
#[test]
fn rerun_sends_the_files_variables_secrets_and_input_of_the_job_again() {
    use aws_exec_testkit::output_with_stdin;
    let serve = Serve::start();
    let work = tempfile::tempdir().unwrap();
    let script = work.path().join("run.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho \"arg $1 secret ${#TOKEN} $(cat)\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cli = |args: &[&str]| {
        let mut cmd = clean_command(BIN, &[]);
        cmd.args(args)
            .current_dir(work.path())
            .env("PROJECT_URL", &serve.url)
            .env("AUTH", &serve.auth);
        cmd
    };
    let set = output_with_stdin(cli(&["secret", "set", "TOKEN"]), b"s3cr3t-value\n");
    assert!(set.status.success(), "{set:?}");
    let first = output_with_stdin(
        cli(&[
            "exec",
            "--put",
            "run.sh",
            "-e",
            "FOO=bar",
            "--secret",
            "TOKEN",
            "--",
            "sh",
            "-c",
            "./run.sh \"$FOO\"",
        ]),
        b"piped",
    );
    assert_eq!(first.status.code(), Some(0), "{first:?}");
    assert_eq!(
        String::from_utf8_lossy(&first.stdout),
        "arg bar secret 12 piped\n"
    );

    let again = output_with_stdin(cli(&["rerun", "last"]), b"piped");
    assert_eq!(again.status.code(), Some(0), "{again:?}");
    assert_eq!(again.stdout, first.stdout);

    // Without its input: said plainly, nothing submitted; with -n, run without it.
    let before = serve.text(&["ls", "--json"]);
    let refused = output_with_stdin(cli(&["rerun", "last"]), b"");
    assert_ne!(refused.status.code(), Some(0), "{refused:?}");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("standard input") && said.contains("-n"),
        "{said}"
    );
    assert_eq!(
        serve.text(&["ls", "--json"]),
        before,
        "nothing was submitted"
    );
    let without = output_with_stdin(cli(&["rerun", "-n", "last"]), b"");
    assert_eq!(without.status.code(), Some(0), "{without:?}");
    assert_eq!(
        String::from_utf8_lossy(&without.stdout),
        "arg bar secret 12 \n"
    );
}

#[test]
fn a_mistyped_flag_is_a_usage_error_never_the_command() {
    let serve = Serve::start();
    let out = serve.cli(&["exec", "--bogus", "--", "echo", "hi"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bogus"));
    let out = serve.cli(&[
        "schedule",
        "add",
        "x",
        "--cron",
        "0 3 * * *",
        "--bogus",
        "--",
        "echo",
        "hi",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bogus"));
    assert!(
        !serve.text(&["schedule", "ls"]).contains("\nx "),
        "nothing stored"
    );
    // Words after the command's first are its own, flags too; `--` starts it as well.
    assert_eq!(serve.text(&["exec", "echo", "-n", "hi"]), "hi");
    assert_eq!(serve.text(&["exec", "--", "echo", "--bogus"]), "--bogus\n");
}

#[test]
fn limits_explain_themselves() {
    let serve = Serve::start();
    let zero = serve.cli(&["exec", "--timeout", "0", "--", "true"]);
    assert_eq!(zero.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&zero.stderr).contains("--timeout must be more than 0"));
    // 1.5 s is sent as 2, not cut to 1.
    let out = serve.cli(&["exec", "--timeout", "1500ms", "--", "true"]);
    assert_eq!(out.status.code(), Some(0));
    let meta: serde_json::Value =
        serde_json::from_str(&serve.text(&["status", "--json", "last"])).unwrap();
    assert_eq!(meta["timeout"], 2);

    let big = vec![b'x'; 2 << 20];
    let mut child = clean_command(BIN, &[])
        .args(["exec", "--", "wc", "-c"])
        .env("PROJECT_URL", &serve.url)
        .env("AUTH", &serve.auth)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&big).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(255));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("use --put"), "{err}");
}

/// `exec ... > out` held the service's notices too (timed out, cancelled, truncated).
#[test]
fn stdout_holds_the_jobs_bytes_alone_and_notices_go_to_stderr() {
    let serve = Serve::start();
    let out = serve.cli(&[
        "exec",
        "--timeout",
        "1",
        "--",
        "sh",
        "-c",
        "echo begun; sleep 5",
    ]);
    assert_eq!(out.status.code(), Some(124));
    assert_eq!(out.stdout, b"begun\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("aws-exec: timed out: the job reached its timeout"),
        "{err}"
    );
    let tail = serve.cli(&["tail", "last"]);
    assert_eq!(
        (tail.status.code(), tail.stdout.as_slice()),
        (Some(124), &b"begun\n"[..])
    );
    assert!(String::from_utf8_lossy(&tail.stderr).contains("timed out"));
    assert!(serve
        .text(&["status", "last"])
        .contains("note:      timed out"));

    // Past the cap the log stops at the job's own bytes, and says so beside them.
    let out = serve.cli(&[
        "exec",
        "--",
        "sh",
        "-c",
        "head -c 34000000 /dev/zero | tr '\\0' x",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout.len(), 32 << 20);
    assert!(out.stdout.iter().all(|b| *b == b'x'));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cap"));
    assert!(serve.text(&["status", "last"]).contains("truncated"));
}

/// Runs `cmd` with its output captured, killed if it is still running after `limit`:
/// what it printed and how long it took.
fn output_within(mut cmd: std::process::Command, limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() && started.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    (child.wait_with_output().unwrap(), started.elapsed())
}

/// A peer that accepts connections and never answers, nor closes them: the CLI gives up
/// within its deadline with one line naming the host, instead of waiting for ever.
#[test]
fn the_cli_gives_up_on_a_host_that_accepts_and_never_answers() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn);
        }
    });
    for args in [&["exec", "--", "true"][..], &["ls"], &["status", "last"]] {
        let mut cmd = clean_command(BIN, &[]);
        cmd.args(args).env("PROJECT_URL", &url).env("AUTH", "k");
        let (out, took) = output_within(cmd, Duration::from_secs(60));
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            took < Duration::from_secs(25),
            "{args:?} took {took:?}: {said}"
        );
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        assert!(
            said.contains(&url) && said.contains("did not answer"),
            "{args:?}: {said}"
        );
        assert_eq!(said.trim().lines().count(), 1, "one line: {said}");
    }
}

/// A `serve` stopped with SIGSTOP: `exec` says the service did not answer, and that the
/// job may still start, instead of hanging until the service wakes.
#[test]
fn exec_against_a_frozen_serve_ends_saying_so() {
    let serve = Serve::start();
    let pid = nix::unistd::Pid::from_raw(serve._process.pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let mut cmd = clean_command(BIN, &[]);
    cmd.args(["exec", "--", "echo", "hi"])
        .env("PROJECT_URL", &serve.url)
        .env("AUTH", &serve.auth);
    let (out, took) = output_within(cmd, Duration::from_secs(60));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(took < Duration::from_secs(25), "took {took:?}: {said}");
    assert_ne!(out.status.code(), Some(0));
    assert!(said.contains("did not answer the submit"), "{said}");
    assert!(said.contains("aws-exec ls"), "says where to look: {said}");
    // Awake again, it answers as before.
    let out = serve.cli(&["whoami"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}
