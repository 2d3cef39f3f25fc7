//! Lambda mode end to end: the real binary under `cargo lambda watch` (the Lambda runtime
//! emulator), S3 on moto_server, driven by the client library through the emulator's
//! function URL. The emulator runs only the Lambda APIs (`--only-lambda-apis`) and the test
//! starts the already-built binary against them as the stack deploys it, twice: the API
//! function (the emulator's default function, `_`) and the jobs function (named as a binary
//! of the project, which is what the emulator accepts), each as instances of its own that
//! poll their function's queue. Letting the emulator `cargo run` them would rebuild the AWS
//! SDK with a different feature set than the test build.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_exec_backend::auth;
use aws_exec_backend::store::S3Store;
use aws_exec_client::{Client, ExecRequest};
use aws_exec_testkit::S3Server;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// A process in its own group, killed whole on drop.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = killpg(Pid::from_raw(self.0.id() as i32), Signal::SIGKILL);
        let _ = self.0.wait();
    }
}

/// The jobs function's name: the emulator takes an invoke only for `_` or a binary of the
/// project.
const JOBS_FUNCTION: &str = "aws-exec-server";

#[tokio::test]
async fn a_job_runs_in_lambda_mode_under_the_runtime_emulator() {
    let s3 = S3Server::moto();
    let bucket = "lambda-e2e";
    let store = Arc::new(S3Store::new(s3.bucket(bucket).await, bucket));
    let key = auth::create(store.as_ref(), &"erin".parse().unwrap())
        .await
        .unwrap();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let invoke = format!("http://127.0.0.1:{port}");
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    // The emulator's and the functions' output, for whoever debugs this test; removed with it.
    let logs = tempfile::tempdir().unwrap();
    let log_path = |what: &str| logs.path().join(format!("{what}.log"));
    let log = std::fs::File::create(log_path("watch")).unwrap();
    let mut watch = Command::new(aws_exec_testkit::s3::tool("CARGO_LAMBDA", "cargo-lambda"));
    watch
        .current_dir(root)
        .args([
            "lambda",
            "watch",
            "--only-lambda-apis",
            // Without it the emulator rebuilt target/debug/aws-exec-server with the
            // package's default features (no AWS parts) while the tests after this one
            // ran: every later `serve --bucket` then exited at start.
            "--ignore-changes",
            "--invoke-address",
            "127.0.0.1",
        ])
        .args([
            "--invoke-port",
            &port.to_string(),
            "--concurrency",
            "4",
            "--timeout",
            "900",
        ])
        .process_group(0)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log));
    let _watch = Group(
        watch
            .spawn()
            .expect("cargo lambda starts (installed by bin/setup.sh)"),
    );
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "cargo lambda watch did not listen"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The long runner, on moto too.
    let ecs = aws_exec_testkit::LongRunner::on(&s3);
    let long_runner = ecs.env();
    // What Lambda gives a function, pointed at the emulator and moto.
    let function_env = [
        ("AWS_LAMBDA_FUNCTION_VERSION", "1".to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024".to_owned()),
        ("PROJECT_BUCKET", bucket.to_owned()),
        ("AWS_ENDPOINT_URL_S3", s3.endpoint.clone()),
        // Invokes, of either function, go to the emulator's own Invoke API.
        ("AWS_ENDPOINT_URL_LAMBDA", invoke.clone()),
        (
            "AWS_ACCESS_KEY_ID",
            aws_exec_testkit::s3::ACCESS_KEY.to_owned(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY",
            aws_exec_testkit::s3::SECRET_KEY.to_owned(),
        ),
        ("AWS_REGION", aws_exec_testkit::s3::REGION.to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("AWS_ENDPOINT_URL_ECS", s3.endpoint.clone()),
    ];
    // Lambda runs functions as a user without privileges: so do these (nobody, when the
    // test runs as root), each instance with a scratch directory of its own in place of the
    // /tmp of its sandbox. Two of each function: one instance of either may wait on an
    // invoke of the other (the emulator answers every invoke when it is done).
    let root_user = nix::unistd::geteuid().is_root();
    let scratches: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let _instances: Vec<Group> = scratches
        .iter()
        .enumerate()
        .map(|(i, scratch)| {
            if root_user {
                std::os::unix::fs::chown(scratch.path(), Some(65534), Some(65534)).unwrap();
            }
            let (part, name) = match i % 2 {
                0 => ("api", "_"),
                _ => ("jobs", JOBS_FUNCTION),
            };
            let runtime_api = match name {
                "_" => format!("http://127.0.0.1:{port}/.rt"),
                name => format!("http://127.0.0.1:{port}/.rt/{name}"),
            };
            let log = std::fs::File::create(log_path(&format!("{part}{i}"))).unwrap();
            let mut function = match root_user {
                true => {
                    let mut c = Command::new("setpriv");
                    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                        .arg(env!("CARGO_BIN_EXE_aws-exec-server"));
                    c
                }
                false => Command::new(env!("CARGO_BIN_EXE_aws-exec-server")),
            };
            function
                .env("AWS_EXEC_SCRATCH", scratch.path())
                .env("AWS_EXEC_PART", part)
                .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
                .env("AWS_LAMBDA_FUNCTION_NAME", name)
                .env("JOBS_FUNCTION", JOBS_FUNCTION)
                .env("API_FUNCTION", "_")
                .envs(function_env.iter().map(|(k, v)| (*k, v.as_str())))
                .envs(long_runner.iter().map(|(k, v)| (*k, v.as_str())))
                .process_group(0)
                .stdout(Stdio::from(log.try_clone().unwrap()))
                .stderr(Stdio::from(log));
            Group(function.spawn().expect("the function starts"))
        })
        .collect();

    let client = Client::new(format!("{invoke}/lambda-url/_"), key.expose()).unwrap();
    let mut out = Vec::new();
    let code = tokio::time::timeout(
        Duration::from_secs(240),
        client.exec(
            &ExecRequest::argv(["bash", "-c", "echo one; sleep 1; echo two >&2; exit 3"]),
            |b| out.extend_from_slice(b),
        ),
    )
    .await
    .expect("the job ends within 240 s")
    .expect("the job runs");
    assert_eq!(String::from_utf8_lossy(&out), "one\ntwo\n");
    assert_eq!(code, 3);
    // It ran in the jobs function, and the API function ran no job.
    let logged = |part: &str| {
        (0..4)
            .filter(|i| (i % 2 == 0) == (part == "api"))
            .map(|i| std::fs::read_to_string(log_path(&format!("{part}{i}"))).unwrap())
            .collect::<String>()
    };
    assert!(logged("jobs").contains("running job"), "{}", logged("jobs"));
    assert!(!logged("api").contains("running job"), "{}", logged("api"));
    assert!(ecs.tasks().await.is_empty(), "a short job self-invokes");

    // A timeout Lambda cannot run starts a Fargate task instead, told which job it runs.
    let uid = client
        .submit(&ExecRequest::argv(["sleep", "2"]).timeout(3600))
        .await
        .expect("a long job is taken");
    let tasks = ecs.tasks().await;
    assert_eq!(tasks.len(), 1, "one task");
    let command = tasks[0].overrides().unwrap().container_overrides()[0].command();
    assert_eq!(command, ["run-job", "erin", uid.as_str()]);
    let meta = client.status(&uid).await.unwrap();
    assert_eq!(meta.runner.as_deref(), Some("fargate"));
    client.cancel(&uid).await.unwrap();

    // The function's own credentials are in its environment, as on Lambda; a job's is not.
    let mut env = Vec::new();
    let code = client
        .exec(&ExecRequest::argv(["env"]), |b| env.extend_from_slice(b))
        .await
        .expect("env runs");
    assert_eq!(code, 0);
    let env = String::from_utf8_lossy(&env);
    assert!(env.contains("PATH="), "{env}");
    for secret in [
        aws_exec_testkit::s3::ACCESS_KEY,
        aws_exec_testkit::s3::SECRET_KEY,
    ] {
        assert!(
            !env.contains(secret),
            "the function's credentials reached a job"
        );
    }

    // Nor can a job read them from the function's own process: it is non-dumpable.
    let mut out = Vec::new();
    let probe = r#"tr '\0' '\n' < /proc/$PPID/environ 2>/dev/null || echo environ-refused
                   exec 3</proc/$PPID/mem 2>/dev/null || echo mem-refused
                   echo "ran as $(id -u)""#;
    let code = client
        .exec(&ExecRequest::argv(["bash", "-c", probe]), |b| {
            out.extend_from_slice(b)
        })
        .await
        .expect("the probe runs");
    let out = String::from_utf8_lossy(&out);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("environ-refused") && out.contains("mem-refused"),
        "{out}"
    );
    assert!(!out.contains(aws_exec_testkit::s3::SECRET_KEY), "{out}");
    if root_user {
        assert!(out.contains("ran as 65534"), "{out}");
    }
}
