//! A real local service on 127.0.0.1 port 0 in a temp data dir, and clients for it.

use std::time::Duration;

use aws_exec_backend::auth;
use aws_exec_backend::serve::{LocalConfig, LocalService, StoreLocation};
use aws_exec_backend::Registry;
use aws_exec_client::{Client, PollPolicy};
use aws_exec_protocol::AuthName;
use tempfile::TempDir;

pub struct Service {
    pub service: LocalService,
    pub dir: TempDir,
    /// The key of user "alice", made at start.
    pub key: String,
}

impl Service {
    pub async fn start(registry: Registry) -> Self {
        Self::start_with(registry, |_| {}).await
    }

    pub async fn start_with(registry: Registry, tweak: impl FnOnce(&mut LocalConfig)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = LocalConfig::new(StoreLocation::Dir(dir.path().join("data")));
        config.addr = "127.0.0.1:0".parse().unwrap();
        config.runner.work_root = dir.path().join("jobs");
        tweak(&mut config);
        let service = LocalService::start(config, registry)
            .await
            .expect("service starts");
        let mut svc = Service {
            service,
            dir,
            key: String::new(),
        };
        svc.key = svc.new_user("alice").await;
        svc
    }

    pub async fn new_user(&self, name: &str) -> String {
        let name: AuthName = name.parse().unwrap();
        auth::create(self.service.store().as_ref(), &name)
            .await
            .expect("key created")
            .expose()
            .to_owned()
    }

    pub fn url(&self) -> String {
        self.service.url()
    }

    pub fn client(&self) -> Client {
        self.client_for(&self.key)
    }

    pub fn client_for(&self, key: &str) -> Client {
        Client::new(self.url(), key)
            .unwrap()
            .with_poll_policy(PollPolicy {
                initial: Duration::from_millis(20),
                max: Duration::from_millis(200),
                factor: 1.5,
                ..PollPolicy::default()
            })
    }

    pub async fn stop(self) {
        tokio::time::timeout(Duration::from_secs(20), self.service.shutdown())
            .await
            .expect("service stops within 20s");
    }
}

/// Sends `request` and reads its answer as JSON, whatever its status.
pub async fn json_of(request: reqwest::RequestBuilder) -> serde_json::Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// Runs a shell snippet on the service; returns its log bytes and exit code.
pub async fn run_sh(client: &Client, script: &str) -> (Vec<u8>, i32) {
    run_argv(client, &["bash", "-c", script]).await
}

pub async fn run_argv(client: &Client, argv: &[&str]) -> (Vec<u8>, i32) {
    run_request(
        client,
        &aws_exec_client::ExecRequest::argv(argv.iter().copied()),
    )
    .await
}

/// Runs `request` to its end; answers its log and exit code.
pub async fn run_request(
    client: &Client,
    request: &aws_exec_client::ExecRequest,
) -> (Vec<u8>, i32) {
    let mut out = Vec::new();
    let code = tokio::time::timeout(
        Duration::from_secs(60),
        client.exec(request, |b| out.extend_from_slice(b)),
    )
    .await
    .expect("job ends within 60s")
    .expect("job runs");
    (out, code)
}

/// Submits a shell snippet without waiting for it; returns its uid.
pub async fn submit_sh(client: &Client, script: &str) -> String {
    client
        .submit(&aws_exec_client::ExecRequest::argv(["bash", "-c", script]))
        .await
        .expect("submitted")
}

/// `aws-exec serve` as its own process, killed on drop.
pub struct ServeProcess {
    child: std::process::Child,
    pub url: String,
    /// The key printed on first start (empty when the store already had keys).
    pub key: String,
    /// The "aws-exec serving ..." line, which names the storage.
    pub banner: String,
    /// Every line printed up to the banner, the banner included.
    pub said: String,
    /// The end of serve's log, when its stderr is a pipe drained here.
    log: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl ServeProcess {
    /// Starts `BIN serve --addr 127.0.0.1:0 ARGS` (BIN: the `aws-exec` binary) in a clean
    /// environment plus `env`, and reads the URL and key it prints.
    pub fn start(bin: &str, args: &[&str], env: &[(&str, String)]) -> Self {
        Self::start_under(&[], bin, args, env)
    }

    /// As [`ServeProcess::start`], run through `wrapper` (e.g. `setpriv ... --`), which
    /// must exec the binary so that killing it stops serve.
    pub fn start_under(wrapper: &[&str], bin: &str, args: &[&str], env: &[(&str, String)]) -> Self {
        // Serve's log is kept (its last part) to say why, should serve exit at start.
        Self::start_logging_to(wrapper, bin, args, env, std::process::Stdio::piped())
    }

    /// As [`ServeProcess::start_under`], with serve's log (its stderr) going to `stderr`;
    /// a pipe is drained here, its last [`LOG_KEPT`] bytes kept for [`ServeProcess::log_tail`].
    pub fn start_logging_to(
        wrapper: &[&str],
        bin: &str,
        args: &[&str],
        env: &[(&str, String)],
        stderr: std::process::Stdio,
    ) -> Self {
        use std::io::{BufRead, BufReader};
        let (program, before) = match wrapper.split_first() {
            Some((program, rest)) => (*program, [rest, &[bin]].concat()),
            None => (bin, Vec::new()),
        };
        let child = crate::env::clean_command(program, env)
            .args(before)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("serve starts");
        // Owned by the guard from here on, so a failed start is still killed and reaped.
        let mut serve = ServeProcess {
            child,
            url: String::new(),
            key: String::new(),
            banner: String::new(),
            said: String::new(),
            log: Default::default(),
        };
        if let Some(stderr) = serve.child.stderr.take() {
            let log = serve.log.clone();
            std::thread::spawn(move || keep_tail(stderr, &log));
        }
        let stdout = serve.child.stdout.take().unwrap();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            serve.said.push_str(&line);
            serve.said.push('\n');
            if let Some(k) = line.trim().strip_prefix("export AUTH=") {
                serve.key = k.to_owned();
            }
            if let Some(rest) = line.strip_prefix("aws-exec serving ") {
                serve.url = rest.split_whitespace().next().unwrap().to_owned();
                serve.banner = line;
                break;
            }
        }
        if serve.url.is_empty() {
            let status = serve.terminate(std::time::Duration::from_secs(5));
            // The drain may still be reading serve's last words.
            std::thread::sleep(std::time::Duration::from_millis(200));
            panic!(
                "serve did not print its URL (exit: {status:?})\nits stdout:\n{}\nthe end of its log:\n{}",
                serve.said,
                serve.log_tail()
            );
        }
        serve
    }

    /// The last part of serve's log, when it was started with its log kept.
    pub fn log_tail(&self) -> String {
        String::from_utf8_lossy(&self.log.lock().unwrap()).into_owned()
    }
}

/// How much of the end of serve's log [`ServeProcess::log_tail`] keeps.
pub const LOG_KEPT: usize = 16 * 1024;

/// Reads `from` to its end, keeping its last [`LOG_KEPT`] bytes in `into`.
fn keep_tail(mut from: impl std::io::Read, into: &std::sync::Mutex<Vec<u8>>) {
    let mut buf = [0u8; 8192];
    while let Ok(n @ 1..) = from.read(&mut buf) {
        let mut kept = into.lock().unwrap();
        kept.extend_from_slice(&buf[..n]);
        let over = kept.len().saturating_sub(LOG_KEPT);
        kept.drain(..over);
    }
}

impl ServeProcess {
    /// Sends SIGTERM and waits up to `within` for serve to exit: its status, or `None`
    /// if it is still running then.
    pub fn terminate(&mut self, within: std::time::Duration) -> Option<std::process::ExitStatus> {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let until = std::time::Instant::now() + within;
        while std::time::Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        None
    }

    /// Whether serve is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The serve process's pid (for its memory, in benchmarks).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `aws-exec serve` on a data directory of its own, with the command line and the library
/// pointed at it.
pub struct LocalServe {
    pub serve: ServeProcess,
    /// The `aws-exec` binary.
    pub bin: String,
    /// The data directory.
    pub data: String,
    _dir: tempfile::TempDir,
}

impl LocalServe {
    pub fn start(bin: &str) -> Self {
        Self::start_with(bin, &[])
    }

    /// As [`LocalServe::start`], with more of serve's options.
    pub fn start_with(bin: &str, args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data").to_str().unwrap().to_owned();
        let mut all = vec!["--data-dir", data.as_str()];
        all.extend_from_slice(args);
        let serve = ServeProcess::start(bin, &all, &[]);
        LocalServe {
            serve,
            bin: bin.to_owned(),
            data,
            _dir: dir,
        }
    }

    /// Stops serve and starts it again on the same data directory, with `args`.
    pub fn restart(&mut self, args: &[&str]) {
        self.serve.terminate(Duration::from_secs(10));
        let mut all = vec!["--data-dir", self.data.as_str()];
        all.extend_from_slice(args);
        let key = std::mem::take(&mut self.serve.key);
        self.serve = ServeProcess::start(&self.bin, &all, &[]);
        // The key was printed at the first start only.
        self.serve.key = key;
    }

    /// The command line, with the service's URL and first key in its environment.
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = crate::env::clean_command(&self.bin, &[]);
        cmd.args(args)
            .env("PROJECT_URL", &self.serve.url)
            .env("AUTH", &self.serve.key);
        cmd
    }

    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        self.command(args).output().unwrap()
    }

    /// Runs the command line and answers its stdout; it must succeed.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn client(&self) -> Client {
        Client::new(&self.serve.url, &self.serve.key).unwrap()
    }

    /// A key for a new user `name` (`aws-exec auth new`).
    pub fn new_key(&self, name: &str) -> String {
        let out = crate::env::clean_command(&self.bin, &[])
            .args(["auth", "new", name, "--data-dir", &self.data])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// A client for a new user `name`.
    pub fn new_user(&self, name: &str) -> Client {
        Client::new(&self.serve.url, self.new_key(name)).unwrap()
    }
}

/// Runs `cmd` with `stdin` piped in; answers its output.
pub fn output_with_stdin(mut cmd: std::process::Command, stdin: &[u8]) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// The uid of a finished job of the client's whose whole log is `log`, if there is one.
pub async fn finished_job_printing(client: &Client, log: &[u8]) -> Option<String> {
    let jobs = client.list(&Default::default()).await.ok()?;
    for job in jobs.jobs.iter().filter(|j| j.state.is_final()) {
        let mut got = Vec::new();
        client
            .tail(job.uid.as_str(), |b| got.extend_from_slice(b))
            .await
            .ok()?;
        if got == log {
            return Some(job.uid.to_string());
        }
    }
    None
}
