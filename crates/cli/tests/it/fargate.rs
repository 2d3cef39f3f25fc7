//! Long jobs on ECS Fargate, with moto_server for ECS, EC2 and S3 and the real binaries:
//! `serve --bucket` starts a task (RunTask) for a job that asks for it, and the task's
//! command override, run as `aws-exec-server ARGS` with the override's environment, takes the
//! job from queued to its end, followed as any job is. Cancel stops the task; SIGTERM to
//! the container's process ends the job with its end written; a task that stops without
//! an end is ended `lost` with ECS's reason.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_exec_testkit::{wait_until, LongRunner, S3Server, ServeProcess};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_aws-exec");
const SERVER: &str = env!("CARGO_BIN_EXE_aws-exec-server");

/// moto with a bucket and the long runner, and `serve --bucket` told of both.
struct Aws {
    server: S3Server,
    ecs: LongRunner,
    serve: ServeProcess,
}

impl Aws {
    async fn start() -> Self {
        let server = S3Server::moto();
        server.bucket("svc").await;
        let ecs = LongRunner::on(&server);
        let serve = Self::serve(&server, &ecs);
        Aws { server, ecs, serve }
    }

    fn serve(server: &S3Server, ecs: &LongRunner) -> ServeProcess {
        let mut env = server.env();
        env.extend(ecs.env());
        ServeProcess::start(BIN, &["--bucket", "svc"], &env)
    }

    /// `task` as ECS describes it now.
    async fn described(&self, task: &aws_sdk_ecs::types::Task) -> aws_sdk_ecs::types::Task {
        self.ecs
            .tasks()
            .await
            .into_iter()
            .find(|t| t.task_arn() == task.task_arn())
            .expect("the task is known")
    }

    /// Stops `serve` and starts it again: its first sweep looks at every open job.
    fn restart_serve(&mut self) {
        let key = self.serve.key.clone();
        self.serve.terminate(Duration::from_secs(10));
        self.serve = Self::serve(&self.server, &self.ecs);
        // The key was printed at the first start only.
        self.serve.key = key;
    }

    /// Restarts `serve`, whose first sweep must end job `uid` lost; follows it to its end
    /// (exit 255) and answers the note that says why.
    fn lost_after_restart(&mut self, uid: &str) -> String {
        self.restart_serve();
        let out = self.cli(&["tail", uid]).output().unwrap();
        assert_eq!(out.status.code(), Some(255));
        let meta = self.status(uid);
        assert_eq!(meta["state"], "lost");
        meta["notes"][0].as_str().unwrap().to_owned()
    }

    fn cli(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .envs(self.server.env())
            .env("PROJECT_URL", &self.serve.url)
            .env("AUTH", &self.serve.key);
        cmd
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn status(&self, uid: &str) -> Value {
        serde_json::from_str(&self.ok(&["status", uid, "--json"])).unwrap()
    }

    /// The one task started so far (waiting for it), described once.
    async fn task(&self) -> aws_sdk_ecs::types::Task {
        wait_until(Duration::from_secs(30), "a task to be started", || async {
            self.ecs.tasks().await.into_iter().next()
        })
        .await
    }

    /// What the container would run: its command override, as `aws-exec-server ARGS`, with
    /// the override's environment and the SDK pointed at moto.
    fn container(&self, task: &aws_sdk_ecs::types::Task) -> Child {
        let overrides = task.overrides().expect("overrides");
        let runner = &overrides.container_overrides()[0];
        assert_eq!(runner.name(), Some("runner"));
        let mut cmd = Command::new(SERVER);
        cmd.args(runner.command())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap())
            .envs(self.server.env())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for var in runner.environment() {
            cmd.env(var.name().unwrap(), var.value().unwrap());
        }
        cmd.spawn().expect("aws-exec-server runs")
    }

    /// A job sleeping 300 s in a task of its own, whose container runs it: its uid, task and
    /// container, once it runs.
    async fn sleeping_job(&self) -> (String, aws_sdk_ecs::types::Task, Child) {
        let before: Vec<_> = self
            .ecs
            .tasks()
            .await
            .into_iter()
            .map(|t| t.task_arn)
            .collect();
        let uid = self
            .ok(&[
                "exec", "--detach", "--runner", "fargate", "--", "sleep", "300",
            ])
            .trim()
            .to_owned();
        let task = wait_until(Duration::from_secs(30), "its task", || async {
            self.ecs
                .tasks()
                .await
                .into_iter()
                .find(|t| !before.contains(&t.task_arn))
        })
        .await;
        let container = self.container(&task);
        wait_until(Duration::from_secs(30), "the job to run", || async {
            (self.status(&uid)["state"] == "running").then_some(())
        })
        .await;
        (uid, task, container)
    }
}

/// A job that prints every byte value, 20 MB in all, leaves an artifact and exits 7; its
/// environment is far larger than RunTask's 8 KiB of overrides allow.
#[tokio::test]
async fn a_long_job_runs_from_its_tasks_command_override_and_is_followed_to_its_end() {
    let aws = Aws::start().await;
    let script = "python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 81920)'; \
                  echo made > \"$AWS_EXEC_ARTIFACTS/made.txt\"; exit 7";
    let big = "x".repeat(20_000);
    let env_arg = format!("BIG={big}");
    let exec = aws
        .cli(&[
            "exec",
            "--runner",
            "fargate",
            "--cpu",
            "0.5",
            "--memory",
            "3000",
            "--timeout",
            "2h",
            "-e",
            &env_arg,
            "--",
            "bash",
            "-c",
            script,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let task = aws.task().await;

    // The request: cluster, task definition, FARGATE, the network, the size.
    assert!(
        task.cluster_arn().unwrap().ends_with("cluster/aws-exec"),
        "{task:?}"
    );
    assert!(task
        .task_definition_arn()
        .unwrap()
        .contains("task-definition/aws-exec-runner"));
    assert_eq!(task.launch_type().map(|l| l.as_str()), Some("FARGATE"));
    let overrides = task.overrides().unwrap();
    assert_eq!(
        (overrides.cpu(), overrides.memory()),
        (Some("512"), Some("3072")),
        "the smallest size holding 0.5 vCPU and 3000 MiB"
    );
    let runner = &overrides.container_overrides()[0];
    assert_eq!(runner.command()[0], "run-job");
    let size: usize = runner.command().iter().map(String::len).sum::<usize>()
        + runner
            .environment()
            .iter()
            .map(|v| v.name().unwrap().len() + v.value().unwrap().len())
            .sum::<usize>();
    assert!(size < 512, "the overrides stay small: {size} bytes");
    let attached = format!("{:?}", task.attachments());
    assert!(attached.contains(&aws.ecs.subnet), "{attached}");

    let mut container = aws.container(&task);
    let out = tokio::task::spawn_blocking(move || exec.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), 256 * 81920);
    assert!(out
        .stdout
        .chunks(256)
        .all(|c| c == (0..=255u8).collect::<Vec<_>>().as_slice()));
    assert!(container.wait().unwrap().success(), "the container exits 0");

    let meta = aws.status("last");
    assert_eq!(meta["runner"], "fargate");
    assert_eq!(meta["task"], task.task_arn().unwrap());
    assert_eq!(meta["task-size"]["memory-mb"], 3072);
    assert_eq!(meta["state"], "exited");
    // Billed as Fargate bills: by the second, a minute at least.
    assert!(
        meta["usage"]["billed-ms"].as_u64().unwrap() >= 60_000,
        "{meta}"
    );
    assert!(meta["usage"]["cost-nano-usd"].as_u64().unwrap() > 0);
    let shown = aws.ok(&["status", "last"]);
    assert!(
        shown.contains("runner:    fargate (0.5 vCPU, 3072 MiB)"),
        "{shown}"
    );
    let artifacts = aws.ok(&["artifacts", "last"]);
    assert!(artifacts.contains("made.txt"), "{artifacts}");
}

#[tokio::test]
async fn a_cancel_stops_the_task_and_sigterm_to_the_container_writes_the_end() {
    let aws = Aws::start().await;
    let (uid, task, mut container) = aws.sleeping_job().await;
    aws.ok(&["cancel", &uid]);
    let meta = aws.status(&uid);
    assert_eq!(meta["state"], "cancelled", "{meta}");
    let stopped = aws.described(&task).await;
    assert_eq!(stopped.stopped_reason(), Some("cancelled through aws-exec"));
    assert!(container.wait().unwrap().success());

    // ECS's own stop: SIGTERM to the container's process, whose job still ends in order,
    // as lost (the service stopped it, not its owner).
    let (uid, _, mut container) = aws.sleeping_job().await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(container.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let exited = tokio::task::spawn_blocking(move || container.wait().unwrap());
    let exited = tokio::time::timeout(Duration::from_secs(15), exited)
        .await
        .expect("the container exits within 15 s")
        .unwrap();
    assert!(exited.success());
    let meta = aws.status(&uid);
    assert_eq!(meta["state"], "lost", "{meta}");
    assert!(
        meta["notes"][0].as_str().unwrap().contains("SIGTERM"),
        "{meta}"
    );
    let out = aws.cli(&["tail", &uid]).output().unwrap();
    assert_eq!(out.status.code(), Some(255));
}

#[tokio::test]
async fn a_task_that_stops_without_an_end_is_lost_with_ecss_reason() {
    let mut aws = Aws::start().await;
    let (uid, _, mut container) = aws.sleeping_job().await;
    // SIGKILL: nothing of the container's records the end, and ECS sees the task stop.
    container.kill().unwrap();
    container.wait().unwrap();
    wait_until(Duration::from_secs(30), "moto to stop the task", || async {
        let tasks = aws.ecs.tasks().await;
        (tasks[0].last_status() == Some("STOPPED")).then_some(())
    })
    .await;
    // A sweep (serve's, at its start) asks ECS, and ends the job at once.
    let note = aws.lost_after_restart(&uid);
    assert!(note.contains("ECS stopped its task"), "{note}");
}

#[tokio::test]
async fn long_jobs_that_cannot_run_are_refused_with_what_to_do() {
    let aws = Aws::start().await;
    let post = |body: Value| {
        let url = format!("{}/api/exec", aws.serve.url);
        let key = aws.serve.key.clone();
        async move {
            let resp = reqwest::Client::new()
                .post(url)
                .header("auth", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    for (body, says) in [
        (
            serde_json::json!({"argv": ["true"], "runner": "kubernetes"}),
            "unknown \\\"runner\\\"",
        ),
        (
            serde_json::json!({"argv": ["true"], "runner": "fargate", "cpu": 32}),
            "0.25 vCPU with 512",
        ),
        (
            serde_json::json!({"argv": ["true"], "runner": "fargate", "memory-mb": 200000}),
            "8 GiB steps",
        ),
        (
            serde_json::json!({"argv": ["true"], "cpu": 1}),
            "add \\\"runner\\\"",
        ),
        (
            serde_json::json!({"argv": ["true"], "timeout": 50000}),
            "\\\"timeout\\\" must be 1 to 43200",
        ),
        (serde_json::json!({"argv": ["true"], "runner": 7}), "runner"),
    ] {
        let (status, text) = post(body.clone()).await;
        assert_eq!(status, 400, "{body}: {text}");
        assert!(text.contains(says), "{body}: {text}");
    }
    assert!(aws.ecs.tasks().await.is_empty(), "nothing was started");

    // A service without the long runner says what to set up.
    let plain = ServeProcess::start(BIN, &["--bucket", "svc"], &aws.server.env());
    for body in [
        serde_json::json!({"argv": ["true"], "runner": "fargate"}),
        serde_json::json!({"argv": ["true"], "timeout": 3600}),
    ] {
        let resp = reqwest::Client::new()
            .post(format!("{}/api/exec", plain.url))
            .header("auth", &aws.serve.key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        let text = resp.text().await.unwrap();
        assert!(text.contains("ECS_CLUSTER"), "{text}");
    }
}

/// The container holds the task role's credentials (here moto's keys, in its environment):
/// the job runs as nobody, gets none of them, and cannot read them from its runner.
#[tokio::test]
async fn a_job_in_the_container_cannot_reach_the_tasks_credentials() {
    let aws = Aws::start().await;
    let probe = r#"echo "ran as $(id -u)"; env
                   tr '\0' '\n' < /proc/$PPID/environ 2>/dev/null || echo environ-refused"#;
    let exec = aws
        .cli(&["exec", "--runner", "fargate", "--", "bash", "-c", probe])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let task = aws.task().await;
    let mut container = aws.container(&task);
    let out = tokio::task::spawn_blocking(move || exec.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    container.wait().unwrap();
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains("ran as 65534"), "{out}");
    assert!(out.contains("environ-refused"), "{out}");
    for secret in [
        aws_exec_testkit::s3::SECRET_KEY,
        aws_exec_testkit::s3::ACCESS_KEY,
    ] {
        assert!(!out.contains(secret), "{out}");
    }
}

/// moto never marks a task started: one submitted longer ago than the bound is stopped by
/// the next sweep, and its job ends lost saying so; a following client returns.
#[tokio::test]
async fn a_task_that_never_starts_is_stopped_and_its_job_lost() {
    let mut aws = Aws::start().await;
    let uid = aws
        .ok(&["exec", "--detach", "--runner", "fargate", "--", "true"])
        .trim()
        .to_owned();
    let task = aws.task().await;
    // Submitted 20 minutes ago, as far as the job's meta says.
    let s3 = aws.server.client();
    let key =
        aws_exec_protocol::keys::JobKeys::new(&"default".parse().unwrap(), &uid.parse().unwrap())
            .meta();
    let body = s3
        .get_object()
        .bucket("svc")
        .key(&key)
        .send()
        .await
        .unwrap();
    let mut meta: Value =
        serde_json::from_slice(&body.body.collect().await.unwrap().into_bytes()).unwrap();
    meta["submitted"] = Value::from(meta["submitted"].as_u64().unwrap() - 20 * 60);
    s3.put_object()
        .bucket("svc")
        .key(&key)
        .body(serde_json::to_vec(&meta).unwrap().into())
        .send()
        .await
        .unwrap();
    // Its sweep at start asks ECS about the task.
    let note = aws.lost_after_restart(&uid);
    assert!(note.contains("did not start within 15 minutes"), "{note}");
    let stopped = aws.described(&task).await;
    assert!(
        stopped
            .stopped_reason()
            .is_some_and(|r| r.contains("did not start")),
        "{stopped:?}"
    );
}
