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

    // A busy loop of fixed work in a grandchild, which then says what CPU time it used
    // itself (from /proc, in clock ticks of 10 ms): the service counts at least that.
    // Work rather than a timed loop, so a machine busy with other tests changes nothing.
    let said = local.ok(&[
        "exec",
        "--",
        "sh",
        "-c",
        r#"sh -c 'i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done
               set -- $(sed "s/.*) //" /proc/$$/stat); echo $(( (${12} + ${13}) * 10 ))'"#,
    ]);
    let own: u64 = said.trim().parse().unwrap();
    assert!(own >= 100, "the loop did work: {own} ms");
    let second = status(&local);
    let usage = &second["usage"];
    let cpu = usage["cpu-user-ms"].as_u64().unwrap() + usage["cpu-system-ms"].as_u64().unwrap();
    assert!(
        cpu + 20 >= own && cpu <= own + 500,
        "{own} ms by its own count: {usage}"
    );
    assert!(usage["wall-ms"].as_u64().unwrap() + 20 >= own, "{usage}");
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
    assert_eq!(total["log-bytes"], 10 + said.len() as u64);
    let table = local.ok(&["usage", "--since", "1h"]);
    assert!(
        table.lines().count() == 3 && table.contains("total"),
        "{table}"
    );
}
