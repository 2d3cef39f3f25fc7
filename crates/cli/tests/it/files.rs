//! Files in and out of jobs, through the real binary as a user drives it (`exec --put
//! --get`, `artifacts`) and through the library, on the local store and on moto_server.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use aws_exec_client::{Client, ExecRequest, JobState};
use aws_exec_testkit::{wait_until, S3Server, ServeProcess};

const BIN: &str = env!("CARGO_BIN_EXE_aws-exec");

/// A running `serve` and how the CLI reaches its store (for `auth new`).
struct Target {
    serve: ServeProcess,
    env: Vec<(&'static str, String)>,
    store_args: Vec<String>,
    s3: Option<S3Server>,
    _dir: tempfile::TempDir,
}

impl Target {
    fn local() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data").to_str().unwrap().to_owned();
        let serve = ServeProcess::start(BIN, &["--data-dir", &data], &[]);
        Target {
            serve,
            env: Vec::new(),
            store_args: vec!["--data-dir".into(), data],
            s3: None,
            _dir: dir,
        }
    }

    async fn moto() -> Self {
        let server = S3Server::moto();
        server.bucket("files").await;
        let env = server.env();
        let serve = ServeProcess::start(BIN, &["--bucket", "files"], &env);
        Target {
            serve,
            env,
            store_args: vec!["--bucket".into(), "files".into()],
            s3: Some(server),
            _dir: tempfile::tempdir().unwrap(),
        }
    }

    fn cli(&self, args: &[&str]) -> Output {
        aws_exec_testkit::env::clean_command(BIN, &self.env)
            .args(args)
            .env("PROJECT_URL", &self.serve.url)
            .env("AUTH", &self.serve.key)
            .output()
            .unwrap()
    }

    fn client(&self) -> Client {
        Client::new(&self.serve.url, &self.serve.key).unwrap()
    }

    fn new_key(&self, name: &str) -> String {
        let mut args = vec!["auth", "new", name];
        args.extend(self.store_args.iter().map(String::as_str));
        let out = self.cli(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

fn random_file(path: &Path, len: usize) -> Vec<u8> {
    use std::io::Read;
    let mut bytes = vec![0u8; len];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut bytes)
        .unwrap();
    std::fs::write(path, &bytes).unwrap();
    bytes
}

async fn inputs_and_artifacts_round_trip(target: Target) {
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("data.bin");
    let bytes = random_file(&input, 3 * 1024 * 1024);
    let digest = sha256(&input);
    let input_arg = input.to_str().unwrap();
    let out_dir = work.path().join("out");

    let out = target.cli(&[
        "exec",
        "--print-uid",
        "--put",
        input_arg,
        "--put",
        &format!("{input_arg}:sub/dir/copy.bin"),
        "--get",
        out_dir.to_str().unwrap(),
        "--",
        "bash",
        "-c",
        r#"sha256sum data.bin sub/dir/copy.bin
           mkdir -p "$AWS_EXEC_ARTIFACTS/n/e"
           cp data.bin "$AWS_EXEC_ARTIFACTS/n/e/out.bin"
           echo small > "$AWS_EXEC_ARTIFACTS/top.txt"
           ln -s /etc/passwd "$AWS_EXEC_ARTIFACTS/pw"
           ln -s .. "$AWS_EXEC_ARTIFACTS/up""#,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("{digest}  data.bin")),
        "input under its own name: {stdout}"
    );
    assert!(
        stdout.contains(&format!("{digest}  sub/dir/copy.bin")),
        "input at a chosen path: {stdout}"
    );
    // What the service says goes to stderr; stdout is the job's alone.
    assert!(
        stderr.contains("aws-exec: artifact pw: skipped: a symlink"),
        "{stderr}"
    );
    assert!(
        stderr.contains("aws-exec: artifact up: skipped: a symlink"),
        "{stderr}"
    );
    assert!(!stdout.contains("aws-exec:"), "{stdout}");

    // --get kept the tree, byte-exact, and followed no symlink.
    assert_eq!(std::fs::read(out_dir.join("n/e/out.bin")).unwrap(), bytes);
    assert_eq!(std::fs::read(out_dir.join("top.txt")).unwrap(), b"small\n");
    assert!(!out_dir.join("pw").exists());
    assert!(stderr.contains("2 artifact(s)"), "{stderr}");

    // The library lists them with URLs that serve the same bytes.
    let uid = stderr
        .lines()
        .find_map(|l| l.strip_prefix("uid: "))
        .expect("--print-uid")
        .trim()
        .to_owned();
    let listed = target.client().artifacts(&uid).await.unwrap();
    let paths: Vec<(&str, u64)> = listed.iter().map(|a| (a.path.as_str(), a.size)).collect();
    assert_eq!(paths, [("n/e/out.bin", bytes.len() as u64), ("top.txt", 6)]);
    let fetched = reqwest::get(&listed[0].url).await.unwrap();
    assert_eq!(fetched.status(), 200);
    if target.s3.is_some() {
        // On S3 the URL tells a browser the file's own name.
        assert_eq!(
            fetched.headers()["content-disposition"],
            "attachment; filename*=UTF-8''out.bin"
        );
    }
    assert_eq!(fetched.bytes().await.unwrap(), bytes);

    // `artifacts UID` lists them for a person.
    let out = target.cli(&["artifacts", &uid]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\tn/e/out.bin\n6\ttop.txt\n", bytes.len())
    );

    // Another user sees neither the job's artifacts nor can use its inputs.
    let bob = Client::new(&target.serve.url, target.new_key("bob")).unwrap();
    let err = bob.artifacts(&uid).await.unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");
    let alices_input = target.client().upload_input(&input).await.unwrap();
    let err = bob
        .submit(&ExecRequest::argv(["true"]).input("x", &alices_input))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");
    assert!(err.to_string().contains("inputs.x"), "{err}");
}

#[tokio::test]
async fn inputs_and_artifacts_on_the_local_store() {
    inputs_and_artifacts_round_trip(Target::local()).await;
}

#[tokio::test]
async fn inputs_and_artifacts_on_s3() {
    inputs_and_artifacts_round_trip(Target::moto().await).await;
}

#[tokio::test]
async fn input_paths_outside_the_job_directory_are_refused() {
    let target = Target::local();
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("f");
    std::fs::write(&file, "x").unwrap();
    for path in ["../x", "/etc/x", "a/../../x"] {
        let out = target.cli(&[
            "exec",
            "--put",
            &format!("{}:{path}", file.display()),
            "--",
            "true",
        ]);
        assert_eq!(out.status.code(), Some(2), "{path}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("not a relative path inside"), "{stderr}");
    }
    // Through the API too: 400 naming the field, no job.
    let client = target.client();
    let key = client.upload_input(&file).await.unwrap();
    let err = client
        .submit(&ExecRequest::argv(["true"]).input("../x", &key))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(err.to_string().contains("inputs"), "{err}");
}

#[tokio::test]
async fn artifacts_with_odd_names_come_back_and_a_replaced_directory_is_not_read() {
    let target = Target::local();
    let work = tempfile::tempdir().unwrap();
    let out_dir = work.path().join("out");
    let out = target.cli(&[
        "exec",
        "--get",
        out_dir.to_str().unwrap(),
        "--",
        "bash",
        "-c",
        r#"echo odd > "$AWS_EXEC_ARTIFACTS/a#1 %41?.txt""#,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(out_dir.join("a#1 %41?.txt")).unwrap(),
        b"odd\n"
    );

    // A job that puts a link where its artifacts directory was gets nothing kept: not
    // the service's own /proc/self (its environment holds AUTH), not another directory.
    for target_dir in ["/proc/self", "/etc"] {
        let out = target.cli(&[
            "exec",
            "--print-uid",
            "--",
            "bash",
            "-c",
            &format!(r#"rm -rf "$AWS_EXEC_ARTIFACTS"; ln -s {target_dir} "$AWS_EXEC_ARTIFACTS""#),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("was replaced; nothing kept"), "{stderr}");
        let uid = stderr
            .lines()
            .find_map(|l| l.strip_prefix("uid: "))
            .unwrap();
        assert!(target
            .client()
            .artifacts(uid.trim())
            .await
            .unwrap()
            .is_empty());
    }
}

#[tokio::test]
async fn a_cancelled_or_timed_out_job_keeps_its_artifacts() {
    let target = Target::local();
    let client = target.client();
    let script = r#"echo kept > "$AWS_EXEC_ARTIFACTS/k.txt"; echo ready; sleep 100"#;
    let uid = client
        .submit(&ExecRequest::argv(["bash", "-c", script]))
        .await
        .unwrap();
    wait_until(Duration::from_secs(10), "the job writes", || async {
        let meta = client.status(&uid).await.unwrap();
        (meta.state == JobState::Running).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    client.cancel(&uid).await.unwrap();
    let mut log = Vec::new();
    client
        .tail(&uid, |b| log.extend_from_slice(b))
        .await
        .unwrap();
    let kept = client.artifacts(&uid).await.unwrap();
    assert_eq!(kept.len(), 1, "{}", String::from_utf8_lossy(&log));
    assert_eq!(kept[0].path, "k.txt");

    let mut log = Vec::new();
    let timed_out = ExecRequest::argv(["bash", "-c", script]).timeout(1);
    let code = client
        .exec(&timed_out, |b| log.extend_from_slice(b))
        .await
        .unwrap();
    assert_eq!(code, 124);
    let uid = client
        .list(&Default::default())
        .await
        .unwrap()
        .jobs
        .first()
        .unwrap()
        .uid
        .to_string();
    assert_eq!(client.artifacts(&uid).await.unwrap()[0].path, "k.txt");
}

/// `--put run.sh` then `./run.sh` failed with 126: the file arrived without its mode.
#[test]
fn a_put_keeps_the_executable_bit_and_a_directory_is_sent_whole() {
    use std::os::unix::fs::PermissionsExt;
    let target = Target::local();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("run.sh");
    std::fs::write(&script, "#!/bin/sh\necho ran $1\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = target.cli(&[
        "exec",
        "--put",
        script.to_str().unwrap(),
        "--",
        "./run.sh",
        "ok",
    ]);
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).as_ref()
        ),
        (Some(0), "ran ok\n"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let proj = dir.path().join("proj");
    std::fs::create_dir_all(proj.join("data/more")).unwrap();
    std::fs::copy(&script, proj.join("run.sh")).unwrap();
    std::fs::write(proj.join("data/a.txt"), "a\n").unwrap();
    std::fs::write(proj.join("data/more/b.txt"), "b\n").unwrap();
    let proj_arg = format!("{}:work", proj.display());
    let out = target.cli(&[
        "exec",
        "--put",
        &proj_arg,
        "--",
        "sh",
        "-c",
        "cat work/data/a.txt work/data/more/b.txt; test -x work/run.sh && test ! -x work/data/a.txt && echo modes",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "a\nb\nmodes\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The command line run in a pseudo-terminal against `target`.
fn in_a_terminal(target: &Target, args: &[&str]) -> (Option<i32>, String) {
    let mut command = aws_exec_testkit::env::clean_command(BIN, &target.env);
    command
        .args(args)
        .env("PROJECT_URL", &target.serve.url)
        .env("AUTH", &target.serve.key);
    aws_exec_testkit::terminal::in_a_terminal(&command, None)
}

#[test]
fn large_transfers_show_a_progress_bar_on_a_terminal_only() {
    let target = Target::local();
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.bin");
    random_file(&big, 8 << 20);
    let put = format!("{}:big.bin", big.display());
    let got = dir.path().join("got");
    let args = [
        "exec",
        "--put",
        &put,
        "--get",
        got.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "cp big.bin $AWS_EXEC_ARTIFACTS/",
    ];
    let (code, shown) = in_a_terminal(&target, &args);
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("big.bin"), "{shown}");
    assert!(
        shown.contains("8.00 MiB/8.00 MiB"),
        "a finished bar: {shown}"
    );
    assert_eq!(sha256(&big), sha256(&dir.path().join("got/big.bin")));

    let piped = target.cli(&args);
    assert_eq!(piped.status.code(), Some(0));
    let err = String::from_utf8_lossy(&piped.stderr);
    assert!(!err.contains("MiB/"), "no bar on a pipe: {err}");
}
