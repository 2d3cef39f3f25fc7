//! A Lambda cold start's own part: from exec of the service's binary in Lambda mode to its
//! first request for an event (`GET .../runtime/invocation/next`), and its memory then,
//! beside a minimal runtime-API client (`curl` asking for the same) in the same run. The
//! runtime API is a loopback stand-in that answers nothing, as Lambda waits. The zip's
//! static build (`LAMBDA_STATIC=1`: musl, at a fixed address), built on first use, is shown
//! beside the default one.
//!
//! Run with `cargo bench -p aws-exec --profile lambda-release --bench lambda_init`: built
//! as the zip is (any profile works; `release` gives a larger binary). Needs the musl
//! target, which `bin/setup.sh` installs.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aws_exec_testkit::static_build;

const SERVER: &str = env!("CARGO_BIN_EXE_aws-exec-server");
const RUNS: usize = 40;

/// A runtime API that tells `seen` of each request for an event, and never answers it.
fn runtime_api() -> (String, mpsc::Receiver<Instant>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (seen, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                let n = conn.read(&mut buf).unwrap_or(0);
                if String::from_utf8_lossy(&buf[..n]).contains("/runtime/invocation/next") {
                    let _ = seen.send(Instant::now());
                }
                // Held open, unanswered, until the process is killed.
                std::thread::sleep(Duration::from_secs(5));
                let _ = conn.write_all(b"");
            });
        }
    });
    (addr, rx)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Starts each of `commands` RUNS times, in turn (so that the machine's drift falls on
/// each alike); answers for each the median time to its first request for an event and its
/// median RSS then.
fn time_to_next<const N: usize>(commands: [&dyn Fn(&str) -> Command; N]) -> [(Duration, u64); N] {
    let (addr, seen) = runtime_api();
    let mut times = [(); N].map(|_| Vec::new());
    let mut rss = [(); N].map(|_| Vec::new());
    for _ in 0..RUNS {
        for (i, command) in commands.iter().enumerate() {
            let mut cmd = command(&addr);
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
            let start = Instant::now();
            let mut child = cmd.spawn().expect("starts");
            let at = seen
                .recv_timeout(Duration::from_secs(10))
                .expect("asked for an event");
            times[i].push(at - start);
            rss[i].push(rss_kib(child.id()));
            let _ = child.kill();
            let _ = child.wait();
        }
    }
    std::array::from_fn(|i| {
        times[i].sort();
        rss[i].sort();
        (times[i][RUNS / 2], rss[i][RUNS / 2])
    })
}

/// `server` in Lambda mode, with what Lambda and the stack's template set.
fn lambda_mode(server: &Path, api: &str) -> Command {
    let mut cmd = Command::new(server);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "aws-exec")
        // The API function, as the stack deploys it (the one HTTP requests reach).
        .env("AWS_EXEC_PART", "api")
        .env("JOBS_FUNCTION", "aws-exec-jobs")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        .env("PROJECT_BUCKET", "bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIAAWSEXECBENCH0001")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_SESSION_TOKEN", "bench")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("SCHEDULE_GROUP", "aws-exec")
        .env(
            "SCHEDULER_ROLE_ARN",
            "arn:aws:iam::123456789012:role/scheduler",
        )
        .env("AWS_EXEC_LOG", "info");
    cmd
}

fn main() {
    let static_server: PathBuf = static_build::server(Path::new(SERVER));
    let ask_with_curl = |api: &str| {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-s",
            &format!("http://{api}/2018-06-01/runtime/invocation/next"),
        ]);
        cmd
    };
    let [ours, fixed, curl] = time_to_next([
        &|api| lambda_mode(Path::new(SERVER), api),
        &|api| lambda_mode(&static_server, api),
        &ask_with_curl,
    ]);
    println!(
        "{:<40} {:>24} {:>24}",
        "benchmark", "aws-exec-server", "baseline"
    );
    println!(
        "{:<40} {:>24} {:>24}",
        format!("exec to first /next, p50 ({RUNS} runs)"),
        format!("{:.1} ms", ours.0.as_secs_f64() * 1e3),
        format!("{:.1} ms (curl)", curl.0.as_secs_f64() * 1e3),
    );
    println!(
        "{:<40} {:>24} {:>24}",
        "RSS at the first /next",
        format!("{:.1} MiB", ours.1 as f64 / 1024.0),
        format!("{:.1} MiB (curl)", curl.1 as f64 / 1024.0),
    );
    println!(
        "{:<40} {:>24} {:>24}",
        "LAMBDA_STATIC=1: musl, a fixed address",
        format!(
            "{:.1} ms, {:.1} MiB",
            fixed.0.as_secs_f64() * 1e3,
            fixed.1 as f64 / 1024.0
        ),
        format!("{:.1} ms (curl)", curl.0.as_secs_f64() * 1e3),
    );
}
