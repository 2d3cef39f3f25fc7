//! What each run used, through the real binary: the kernel's count of the job's whole
//! process tree (CPU, peak memory) in its meta, `status` and `usage` showing and summing it.

use aws_exec_testkit::LocalServe;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_aws-exec");

fn status(local: &LocalServe) -> Value {
    serde_json::from_str(&local.ok(&["status", "last", "--json"])).unwrap()
}

#[tokio::test]
async fn a_jobs_cpu_peak_memory_and_log_are_counted_and_summed_per_day() {
    let local = LocalServe::start(BIN);
    // 200 MB written (so resident), in a child of the shell: the whole tree counts.
    local.ok(&[
        "exec",
        "--",
        "sh",
        "-c",
        "python3 -c \"x = b'x' * (200 << 20)\"; echo allocated",
    ]);
    let first = status(&local);
    let usage = &first["usage"];
    assert!(
        usage["peak-memory-bytes"].as_u64().unwrap() >= 200 << 20,
        "{usage}"
    );
    assert_eq!(usage["log-bytes"], 10);

    // A second of busy loop in a grandchild: about a second of CPU.
    local.ok(&[
        "exec",
        "--",
        "sh",
        "-c",
        "timeout 1 sh -c 'while :; do :; done'; echo looped",
    ]);
    let second = status(&local);
    let usage = &second["usage"];
    let cpu = usage["cpu-user-ms"].as_u64().unwrap() + usage["cpu-system-ms"].as_u64().unwrap();
    assert!((800..=1600).contains(&cpu), "{usage}");
    assert!(usage["wall-ms"].as_u64().unwrap() >= 1000, "{usage}");
    assert!(
        usage.get("cost-nano-usd").is_none(),
        "no estimate off Lambda"
    );
    let shown = local.ok(&["status", "last"]);
    assert!(shown.contains("usage:") && shown.contains("CPU"), "{shown}");

    let sums: Value = serde_json::from_str(&local.ok(&["usage", "--json"])).unwrap();
    let days = sums["days"].as_object().unwrap();
    assert_eq!(days.len(), 1, "{sums}");
    let total = &sums["total"];
    assert_eq!(total["jobs"], 2);
    assert!(total["cpu-ms"].as_u64().unwrap() >= cpu);
    assert_eq!(
        total["peak-memory-bytes"],
        first["usage"]["peak-memory-bytes"]
    );
    assert_eq!(total["log-bytes"], 10 + 7);
    let table = local.ok(&["usage", "--since", "1h"]);
    assert!(
        table.lines().count() == 3 && table.contains("total"),
        "{table}"
    );
    let none: Value =
        serde_json::from_str(&local.ok(&["usage", "--since", "0s", "--json"])).unwrap();
    assert!(none["total"]["jobs"].as_u64().unwrap() <= 2);
}
