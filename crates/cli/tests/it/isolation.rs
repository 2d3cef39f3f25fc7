//! What a key holder's job can reach: never the service's credentials, nothing of its
//! processes once it ends, a directory of its own; and with serve as root, jobs run as an
//! unprivileged user that cannot touch the data directory. The serve under test is the real
//! binary, run as user nobody where this machine allows (the checks must hold without root).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_exec_client::{Client, ExecRequest, JobState};
use aws_exec_testkit::{wait_until, LocalServe, ServeProcess};

const BIN: &str = env!("CARGO_BIN_EXE_aws-exec");
/// The start of the credentials each test's serve is given; each adds its own end, since
/// another test's serve, starting as the same user at the same moment, is readable until
/// it makes itself non-dumpable (a window only tests that start serve as `nobody` have).
const SECRET: &str = "service-secret-7f3a9c";
const NOBODY: u32 = 65534;
/// The users a root serve gives its jobs, one each.
const JOB_USERS: std::ops::RangeInclusive<u32> = 61184..=65519;

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Whether this test can see users per job: only a root `serve` has them (without root every
/// job runs as the serving user; the README says so). CI runs as root, so a test that needs
/// them must not pass there without them.
fn users_per_job_here() -> bool {
    let root = is_root();
    assert!(
        root || std::env::var_os("CI").is_none(),
        "CI runs the tests as root: users per job are tested there"
    );
    root
}

/// `aws-exec serve` as an unprivileged user (nobody when this test runs as root, else the
/// current user), with AWS credentials and AUTH in its environment.
struct Unprivileged {
    serve: ServeProcess,
    /// The credentials its serve holds.
    secret: String,
    _dir: tempfile::TempDir,
}

impl Unprivileged {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut wrapper: Vec<&str> = Vec::new();
        if is_root() {
            std::os::unix::fs::chown(dir.path(), Some(NOBODY), Some(NOBODY)).unwrap();
            wrapper = vec![
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--",
            ];
        }
        let secret = format!("{SECRET}-{:016x}", rand_suffix());
        let serve = ServeProcess::start_under(
            &wrapper,
            BIN,
            &["--data-dir", data.to_str().unwrap()],
            &[
                ("AWS_ACCESS_KEY_ID", secret.clone()),
                ("AWS_SECRET_ACCESS_KEY", secret.clone()),
                ("AWS_SESSION_TOKEN", secret.clone()),
                ("AUTH", secret.clone()),
            ],
        );
        assert!(!serve.key.is_empty(), "serve printed a key");
        Unprivileged {
            serve,
            secret,
            _dir: dir,
        }
    }

    fn client(&self) -> Client {
        Client::new(&self.serve.url, &self.serve.key).unwrap()
    }
}

/// A number no other test process picks at the same moment.
fn rand_suffix() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    now.as_nanos() as u64 ^ (u64::from(std::process::id()) << 32)
}

async fn run(client: &Client, request: ExecRequest) -> (String, i32) {
    let mut out = Vec::new();
    let code = tokio::time::timeout(
        Duration::from_secs(60),
        client.exec(&request, |b| out.extend_from_slice(b)),
    )
    .await
    .expect("job ends within 60 s")
    .expect("job runs");
    (String::from_utf8_lossy(&out).into_owned(), code)
}

async fn sh(client: &Client, script: &str) -> (String, i32) {
    run(client, ExecRequest::argv(["bash", "-c", script])).await
}

/// Whether any process on the machine runs `sleep SECONDS` (the marker each test uses).
fn sleeping(seconds: &str) -> bool {
    let wanted = format!("sleep\0{seconds}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .any(|cmdline| cmdline == wanted.as_bytes())
}

async fn gone(markers: &[&str]) {
    for marker in markers {
        wait_until(
            Duration::from_secs(5),
            &format!("sleep {marker} gone"),
            || async { (!sleeping(marker)).then_some(()) },
        )
        .await;
    }
}

#[tokio::test]
async fn a_job_cannot_read_the_services_credentials() {
    let svc = Unprivileged::start();
    let (out, code) = sh(
        &svc.client(),
        r#"for f in /proc/[0-9]*/environ; do tr '\0' '\n' < "$f" 2>/dev/null; done
           env
           if tr '\0' '\n' < /proc/$PPID/environ >/dev/null 2>&1; then echo parent-environ-read; fi
           if exec 3</proc/$PPID/mem; then echo parent-mem-opened; else echo parent-mem-refused; fi
           ls /proc/$PPID/fd >/dev/null 2>&1 && echo parent-fds-listed
           exit 0"#,
    )
    .await;
    assert_eq!(code, 0, "{out}");
    // The loop did read environments (its own at least), so the absence below means something.
    assert!(out.contains("AWS_EXEC_JOB="), "{out}");
    assert!(
        !out.contains(&svc.secret),
        "a job read the service's secrets:\n{out}"
    );
    assert!(!out.contains("parent-environ-read"), "{out}");
    assert!(!out.contains("parent-fds-listed"), "{out}");
    assert!(out.contains("parent-mem-refused"), "{out}");
}

#[tokio::test]
async fn nothing_a_job_started_outlives_it() {
    let svc = Unprivileged::start();
    let client = svc.client();

    // Ends by itself, leaving a setsid daemon, a double fork, one with a cleared
    // environment (no tag to find it by) and one in a process group of its own.
    let (out, code) = sh(
        &client,
        "setsid sleep 3001 >/dev/null 2>&1 &
         ( sleep 3002 >/dev/null 2>&1 & )
         env -i setsid sleep 3003 >/dev/null 2>&1 &
         ( set -m; sleep 3004 >/dev/null 2>&1 & )
         sleep 0.3; echo started",
    )
    .await;
    assert_eq!((out.as_str(), code), ("started\n", 0));
    gone(&["3001", "3002", "3003", "3004"]).await;

    // Cancelled while its strays run.
    let uid = client
        .submit(&ExecRequest::argv([
            "bash",
            "-c",
            "setsid sleep 3011 >/dev/null 2>&1 & env -i sleep 3012 & sleep 1000",
        ]))
        .await
        .unwrap();
    wait_until(Duration::from_secs(10), "strays running", || async {
        (sleeping("3011") && sleeping("3012")).then_some(())
    })
    .await;
    client.cancel(&uid).await.unwrap();
    wait_until(Duration::from_secs(10), "cancelled", || async {
        let meta = client.status(&uid).await.unwrap();
        (meta.state == JobState::Cancelled).then_some(())
    })
    .await;
    gone(&["3011", "3012"]).await;

    // Timed out.
    let (_, code) = run(
        &client,
        ExecRequest::argv([
            "bash",
            "-c",
            "setsid sleep 3021 >/dev/null 2>&1 & sleep 1000",
        ])
        .timeout(1),
    )
    .await;
    assert_eq!(code, 124);
    gone(&["3021"]).await;
}

#[tokio::test]
async fn another_jobs_end_leaves_a_running_job_alone() {
    let svc = Unprivileged::start();
    let client = svc.client();
    // Its first process clears its environment, so only the service's own record of its
    // pid tells it apart from a stray.
    let long = client
        .submit(&ExecRequest::argv([
            "env",
            "-i",
            "bash",
            "-c",
            "sleep 2; echo survived",
        ]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..3 {
        let (_, code) = sh(&client, "setsid sleep 3031 >/dev/null 2>&1 & true").await;
        assert_eq!(code, 0);
    }
    let mut out = Vec::new();
    let code = client
        .tail(&long, |b| out.extend_from_slice(b))
        .await
        .unwrap();
    assert_eq!(
        (String::from_utf8_lossy(&out).as_ref(), code),
        ("survived\n", 0)
    );
    gone(&["3031"]).await;
}

#[tokio::test]
async fn each_job_has_its_own_directory_removed_after_it() {
    let svc = Unprivileged::start();
    let client = svc.client();
    let (out, code) = sh(
        &client,
        r#"echo "$PWD"; echo "$HOME"; echo "$TMPDIR"
           echo kept > "$TMPDIR/scratch" && echo > "$HOME/file" && echo wrote
           ls -A | tr '\n' ' '; echo"#,
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    let (pwd, home, tmp) = (lines[0], lines[1], lines[2]);
    assert_eq!(pwd, home, "{out}");
    assert_eq!(tmp, format!("{home}/tmp"), "{out}");
    assert_eq!(lines[3], "wrote");
    assert_eq!(
        lines[4].trim(),
        "artifacts file tmp",
        "a fresh directory: {out}"
    );
    // Removed right after the job's end is recorded (callers need not wait for it).
    wait_until(
        Duration::from_secs(5),
        "the job's directory removed",
        || {
            let gone = !Path::new(home).exists();
            async move { gone.then_some(()) }
        },
    )
    .await;

    // A second job starts afresh.
    let (out, _) = sh(&client, "ls -A \"$HOME\" | tr '\\n' ' '").await;
    assert_eq!(out.trim(), "artifacts tmp");
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[tokio::test]
async fn serve_as_root_runs_jobs_as_users_of_their_own_away_from_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    if !is_root() {
        // Only root can run jobs as another user: asking for it otherwise is an error.
        let out = std::process::Command::new(BIN)
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir", data_arg])
            .args(["--run-as", "nobody"])
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("--run-as"));
        return;
    }
    let serve = ServeProcess::start(BIN, &["--data-dir", data_arg], &[]);
    let client = Client::new(&serve.url, &serve.key).unwrap();
    // A secret is in the data directory too, and as far out of reach.
    client
        .put_secret("DB_URL", "isolation-secret-1")
        .await
        .unwrap();
    let script = format!(
        r#"id -u
           cat {data_arg}/.secrets/default.json 2>/dev/null && echo read-secrets
           ls {data_arg} >/dev/null 2>&1 && echo listed-data
           find {data_arg} -type f -exec cat {{}} + 2>/dev/null | grep -q . && echo read-data
           touch {data_arg}/planted 2>/dev/null && echo wrote-data
           ls "$(dirname "$HOME")" >/dev/null 2>&1 && echo listed-other-jobs
           echo done"#
    );
    let (out, code) = sh(&client, &script).await;
    assert_eq!(code, 0, "{out}");
    let (user, rest) = out.split_once('\n').unwrap();
    let user: u32 = user.parse().unwrap();
    assert!(JOB_USERS.contains(&user), "{out}");
    assert_eq!(rest, "done\n");
    assert!(!data.join("planted").exists());

    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    let files = files_under(&data);
    assert!(
        files.iter().any(|f| f.to_string_lossy().contains("auth")),
        "{files:?}"
    );
    assert!(
        files.iter().any(|f| f.ends_with(".secrets/default.json")),
        "{files:?}"
    );
    for file in files {
        assert_eq!(mode(&file) & 0o077, 0, "{} is private", file.display());
        assert_eq!(std::fs::metadata(&file).unwrap().uid(), 0);
    }
}

/// Under a root serve, a job of one key finds another key's running job through
/// `/proc/PID/cwd` and tries to read and overwrite its file, and looks for what it left in
/// `/tmp`; it must reach neither. `--run-as nobody` puts every job under one user again,
/// and then it does reach it: the test's probe works.
#[tokio::test]
async fn jobs_of_two_keys_running_at_once_cannot_reach_each_other() {
    if !users_per_job_here() {
        return;
    }
    let probe = r#"found=
        for p in /proc/[0-9]*; do
          f="$p/cwd/victim-file"
          if [ -f "$f" ] 2>/dev/null; then found=$f; break; fi
        done
        [ -n "$found" ] && cat "$found" && echo evil > "$found" && echo overwrote
        cat /tmp/victim-left-* 2>/dev/null
        echo probed"#;
    let run_mark = rand_suffix();
    let victim_job = &format!(
        r#"echo secret-of-a > victim-file
        echo secret-in-tmp > /tmp/victim-left-{run_mark}-$$
        echo ready
        for i in $(seq 40); do
          [ "$(cat victim-file)" = secret-of-a ] || break
          sleep 0.1
        done
        cat victim-file"#
    );
    for (shared, args) in [(false, vec![]), (true, vec!["--run-as", "nobody"])] {
        let serve = LocalServe::start_with(BIN, &args);
        let victim = serve.new_user("victim");
        let attacker = serve.new_user("attacker");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let running = tokio::spawn({
            let (victim, seen) = (victim.clone(), seen.clone());
            let victim_job = victim_job.clone();
            async move {
                let mut request = ExecRequest::argv(["bash", "-c", &victim_job]);
                request.timeout = Some(8);
                let exec = victim.exec(&request, |b| seen.lock().unwrap().extend_from_slice(b));
                tokio::time::timeout(Duration::from_secs(30), exec)
                    .await
                    .expect("the victim's job ends")
                    .expect("the victim's job runs")
            }
        });
        // Until the victim's file is in place: the probe then has something to find.
        wait_until(
            Duration::from_secs(20),
            "the victim's job is ready",
            || async {
                let seen = seen.lock().unwrap();
                String::from_utf8_lossy(&seen)
                    .contains("ready")
                    .then_some(())
            },
        )
        .await;
        let (out, code) = sh(&attacker, probe).await;
        assert_eq!(code, 0, "{out}");
        running.await.unwrap();
        let victim_out = String::from_utf8(seen.lock().unwrap().clone()).unwrap();
        if shared {
            assert!(
                out.contains("secret-of-a") && out.contains("overwrote"),
                "{out}"
            );
            assert!(victim_out.ends_with("evil\n"), "{victim_out}");
            // One user for all is never given back: its leftovers stay, and go here.
            for e in std::fs::read_dir("/tmp").unwrap().flatten() {
                if e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("victim-left-{run_mark}-"))
                {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        } else {
            assert_eq!(out, "probed\n", "the attacker reached the victim's job");
            assert!(victim_out.ends_with("secret-of-a\n"), "{victim_out}");
            // Once its user is given back, what the job left in /tmp is gone with it.
            let left_in_tmp = || {
                std::fs::read_dir("/tmp").unwrap().flatten().any(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.starts_with(&format!("victim-left-{run_mark}-"))
                })
            };
            wait_until(
                Duration::from_secs(10),
                "the job's /tmp file removed",
                || async { (!left_in_tmp()).then_some(()) },
            )
            .await;
        }
    }
}

/// A job runs with no-new-privileges: a setuid program or a file capability it runs gains
/// nothing (a task image's `su`, a helper left setuid).
#[tokio::test]
async fn nothing_a_job_runs_gains_privileges() {
    let serve = LocalServe::start(BIN);
    let (out, code) = sh(&serve.client(), "grep NoNewPrivs /proc/self/status").await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["NoNewPrivs:", "1"]
    );
}

/// A job's user goes to another job only once every process of it is gone: a daemon that
/// wears a running job's tag (so the stray sweep spares it) is killed when its own job's
/// user is given back, before that user can serve another key's job.
#[tokio::test]
async fn no_process_of_a_jobs_user_outlives_the_giving_back_of_that_user() {
    if !users_per_job_here() {
        return;
    }
    let serve = LocalServe::start(BIN);
    let client = serve.client();
    let marker = format!("{}.{}", 400 + rand_suffix() % 100, rand_suffix() % 1000);
    let holder = client
        .submit(&ExecRequest::argv(["sleep", "20"]))
        .await
        .unwrap();
    let script = format!(
        "AWS_EXEC_JOB={holder} setsid sleep {marker} < /dev/null > /dev/null 2>&1 & sleep 0.5"
    );
    let (out, code) = sh(&client, &script).await;
    assert_eq!(code, 0, "{out}");
    gone(&[&marker]).await;
    client.cancel(&holder).await.unwrap();
}

/// System V IPC a job leaves (a shared memory segment, say) goes when its user is given
/// back: the next job given that user, maybe another key's, finds nothing of it.
#[tokio::test]
async fn a_jobs_system_v_ipc_goes_with_its_user() {
    if !users_per_job_here() {
        return;
    }
    let serve = LocalServe::start(BIN);
    let (out, code) = sh(&serve.client(), "ipcmk -M 4096 -p 0600").await;
    assert_eq!(code, 0, "{out}");
    let id = out
        .split_whitespace()
        .last()
        .expect("ipcmk prints the segment's id")
        .to_owned();
    let listed = || {
        std::fs::read_to_string("/proc/sysvipc/shm")
            .unwrap()
            .lines()
            .skip(1)
            .any(|line| line.split_whitespace().nth(1) == Some(id.as_str()))
    };
    wait_until(
        Duration::from_secs(5),
        "the job's segment removed",
        || async { (!listed()).then_some(()) },
    )
    .await;
}
