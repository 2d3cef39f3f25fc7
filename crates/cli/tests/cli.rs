//! The `aws-exec` binary as a user runs it: `serve` in one process, commands in others.

use std::process::Output;

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
    assert!(out.stdout.starts_with(b"hi\n") || out.stdout.starts_with(b"oops\n"));
    assert!(out.stdout.windows(5).any(|w| w == b"oops\n"));
    assert!(out.stdout.ends_with(b"\xff"));
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
    assert!(String::from_utf8_lossy(&ls.stdout).starts_with("bob\t"));
    let rm = run(&["auth", "rm", "bob", "--data-dir", d]);
    assert!(rm.status.success());
    let new_again = run(&["auth", "new", "bob", "--data-dir", d]);
    assert!(
        new_again.status.success(),
        "a removed name can be given a new key"
    );
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
