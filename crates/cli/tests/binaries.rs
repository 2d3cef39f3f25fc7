//! The two binaries: `aws-exec` calls the service on its own, and hands the service's
//! commands to `aws-exec-server`, saying so plainly when that is not installed.

use aws_exec_testkit::env::clean_command;
use aws_exec_testkit::ServeProcess;

const BIN: &str = env!("CARGO_BIN_EXE_aws-exec");
const SERVER: &str = env!("CARGO_BIN_EXE_aws-exec-server");

/// `aws-exec` copied alone into a directory of its own, with no server beside it.
fn lone_client(dir: &std::path::Path) -> std::path::PathBuf {
    let lone = dir.join("aws-exec");
    std::fs::copy(BIN, &lone).unwrap();
    lone
}

#[test]
fn the_command_line_runs_jobs_without_the_server_binary() {
    let data = tempfile::tempdir().unwrap();
    let serve = ServeProcess::start(SERVER, &["--data-dir", data.path().to_str().unwrap()], &[]);
    let bin = tempfile::tempdir().unwrap();
    let out = clean_command(lone_client(bin.path()), &[])
        .args(["exec", "--", "sh", "-c", "echo from the job; exit 7"])
        .env("PROJECT_URL", &serve.url)
        .env("AUTH", &serve.key)
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7), "{out:?}");
    assert_eq!(out.stdout, b"from the job\n");
}

#[test]
fn service_commands_without_the_server_binary_fail_clearly() {
    let bin = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    for args in [&["serve", "--addr", "127.0.0.1:0"][..], &["auth", "ls"]] {
        let out = clean_command(lone_client(bin.path()), &[])
            .args(args)
            .env("AWS_EXEC_DATA_DIR", data.path())
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(255), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("aws-exec-server"), "{args:?}: {err}");
        assert!(err.contains("cargo install --path crates/cli"), "{err}");
    }
}

#[test]
fn service_commands_reach_the_server_beside_it() {
    let data = tempfile::tempdir().unwrap();
    let out = clean_command(BIN, &[])
        .args(["auth", "new", "carol"])
        .env("AWS_EXEC_DATA_DIR", data.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let key = String::from_utf8_lossy(&out.stdout);
    assert_eq!(key.trim().len(), 64, "a new key: {key}");
    // Its usage errors name the command that was typed, not the binary behind it.
    let out = clean_command(BIN, &[])
        .args(["serve", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("aws-exec serve"), "{err}");
    assert!(!err.contains("aws-exec-server"), "{err}");
}
