//! The two binaries: `aws-exec` calls the service on its own, and hands the service's
//! commands to `aws-exec-server`, saying so plainly when that is not installed. Each test
//! runs both builds of `aws-exec`: the default one, and the static one without the service,
//! which knows no service command and hands over every command it does not know. The
//! service's static build (the Lambda zip's with `LAMBDA_STATIC=1`) serves as the default.

use std::path::{Path, PathBuf};

use aws_exec_testkit::env::clean_command;
use aws_exec_testkit::{static_build, S3Server, ServeProcess};

const BIN: &str = env!("CARGO_BIN_EXE_aws-exec");
const SERVER: &str = env!("CARGO_BIN_EXE_aws-exec-server");

/// The default build and the static one.
fn builds() -> [PathBuf; 2] {
    [BIN.into(), static_build::cli(Path::new(BIN))]
}

/// `cli` copied alone into a directory of its own, with no server beside it.
fn lone_client(cli: &Path, dir: &Path) -> PathBuf {
    let lone = dir.join("aws-exec");
    std::fs::copy(cli, &lone).unwrap();
    lone
}

/// `cli` copied into a directory of its own, with the server beside it.
fn beside_server(cli: &Path, dir: &Path) -> PathBuf {
    std::os::unix::fs::symlink(SERVER, dir.join("aws-exec-server")).unwrap();
    lone_client(cli, dir)
}

/// Built for glibc on the machine the build runs on, neither binary loads libgcc_s, whose
/// constructor probes the processor at every start (see `build.rs`), and a panic still
/// unwinds through the unwinder linked in instead: this test's own binary is linked so too.
#[test]
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn the_binaries_load_no_libgcc_s_and_still_unwind() {
    for bin in [BIN, SERVER] {
        let image = std::fs::read(bin).unwrap();
        let named = image.windows(13).any(|w| w == b"libgcc_s.so.1");
        assert!(!named, "{bin} still loads libgcc_s");
    }
    let caught = std::panic::catch_unwind(|| panic!("unwound as it should"));
    assert!(caught.is_err());
}

#[test]
fn the_command_line_runs_jobs_without_the_server_binary() {
    let data = tempfile::tempdir().unwrap();
    let serve = ServeProcess::start(SERVER, &["--data-dir", data.path().to_str().unwrap()], &[]);
    for cli in builds() {
        let bin = tempfile::tempdir().unwrap();
        let out = clean_command(lone_client(&cli, bin.path()), &[])
            .args(["exec", "--", "sh", "-c", "echo from the job; exit 7"])
            .env("PROJECT_URL", &serve.url)
            .env("AUTH", &serve.key)
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(7), "{out:?}");
        assert_eq!(out.stdout, b"from the job\n");
    }
}

#[test]
fn service_commands_without_the_server_binary_fail_clearly() {
    let data = tempfile::tempdir().unwrap();
    for cli in builds() {
        let bin = tempfile::tempdir().unwrap();
        let lone = lone_client(&cli, bin.path());
        for args in [
            &["serve", "--addr", "127.0.0.1:0"][..],
            &["auth", "ls"],
            &["listdir", "/"],
            // A mistyped command, which only the static build hands over.
            &["exce", "true"],
        ] {
            let out = clean_command(&lone, &[])
                .args(args)
                .env("AWS_EXEC_DATA_DIR", data.path())
                .env("PATH", "/usr/bin:/bin")
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            if cli == Path::new(BIN) && args[0] == "exce" {
                // The default build knows every command: a usage error.
                assert_eq!(out.status.code(), Some(2), "{out:?}");
                assert!(err.contains("unrecognized subcommand 'exce'"), "{err}");
                continue;
            }
            assert_eq!(out.status.code(), Some(255), "{args:?}: {out:?}");
            assert!(err.contains(&format!("`{}`", args[0])), "{args:?}: {err}");
            assert!(err.contains("aws-exec-server"), "{args:?}: {err}");
            assert!(err.contains("cargo install --path crates/cli"), "{err}");
        }
    }
}

#[test]
fn service_commands_reach_the_server_beside_it() {
    let listed = tempfile::tempdir().unwrap();
    std::fs::create_dir(listed.path().join("d")).unwrap();
    std::fs::write(listed.path().join("f"), "").unwrap();
    for cli in builds() {
        let bin = tempfile::tempdir().unwrap();
        let cli = beside_server(&cli, bin.path());
        let data = tempfile::tempdir().unwrap();
        let out = clean_command(&cli, &[])
            .args(["auth", "new", "carol"])
            .env("AWS_EXEC_DATA_DIR", data.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let key = String::from_utf8_lossy(&out.stdout);
        assert_eq!(key.trim().len(), 64, "a new key: {key}");
        // The service's own commands too, which the static build does not know.
        let out = clean_command(&cli, &[])
            .args(["listdir", listed.path().to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "d/\nf\n");
        // Usage errors name the command that was typed, not the binary behind it.
        let out = clean_command(&cli, &[])
            .args(["serve", "--no-such-flag"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("aws-exec serve"), "{err}");
        assert!(!err.contains("aws-exec-server"), "{err}");
    }
}

/// musl, mimalloc and a fixed address change nothing a job or a caller sees: the static
/// service runs jobs as its user, streams them and keeps them on a bucket through the AWS
/// SDK, as the default build does.
#[tokio::test]
async fn the_static_service_runs_jobs_on_a_bucket() {
    let server = S3Server::s3s_fs();
    server.bucket("svc").await;
    let fixed = static_build::server(Path::new(SERVER));
    let serve = ServeProcess::start(fixed.to_str().unwrap(), &["--bucket", "svc"], &server.env());
    assert!(serve.banner.contains("s3://svc"), "{}", serve.banner);
    let out = clean_command(BIN, &[])
        .args(["exec", "--", "sh", "-c", "seq 1 3; exit 9"])
        .env("PROJECT_URL", &serve.url)
        .env("AUTH", &serve.key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(9), "{out:?}");
    assert_eq!(out.stdout, b"1\n2\n3\n");
    let keys = server.keys("svc", "jobs/").await;
    for object in ["log.txt", "exit", "size"] {
        assert!(
            keys.iter().any(|k| k.ends_with(&format!("/{object}"))),
            "{object} in {keys:?}"
        );
    }
}
