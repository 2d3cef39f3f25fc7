//! Jobs that start themselves, on `serve` through the real binary: schedules fire on
//! serve's own clock (per-second expressions keep the test short), triggers fire once per
//! upload with the file as the job's input, and each run is an ordinary job of its owner's.

use std::time::Duration;

use aws_exec_client::{ClientError, ExecRequest, JobMeta, JobState, ScheduleSpec, TriggerSpec};
use aws_exec_testkit::{wait_until, LocalServe};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_aws-exec");

struct Local(LocalServe);

impl std::ops::Deref for Local {
    type Target = LocalServe;
    fn deref(&self) -> &LocalServe {
        &self.0
    }
}

impl Local {
    fn start() -> Self {
        Local(LocalServe::start(BIN))
    }

    /// The caller's jobs as `aws-exec ls --json` shows them.
    fn ls(&self) -> Vec<JobMeta> {
        serde_json::from_str(&self.ok(&["ls", "--json", "-n", "1000"])).unwrap()
    }
}

fn of_schedule<'a>(jobs: &'a [JobMeta], name: &str) -> Vec<&'a JobMeta> {
    jobs.iter()
        .filter(|j| j.schedule.as_deref() == Some(name))
        .collect()
}

#[tokio::test]
async fn a_schedule_fires_on_the_clock_runs_now_on_demand_and_stops_when_removed() {
    let local = Local::start();
    local.ok(&[
        "schedule",
        "add",
        "tick",
        "--cron",
        "* * * * * *",
        "--timeout",
        "30s",
        "-e",
        "GREETING=hi",
        "--",
        "sh",
        "-c",
        "echo $GREETING from the clock",
    ]);
    let fired = wait_until(Duration::from_secs(15), "two runs of tick", || async {
        let jobs = local.ls();
        let runs = of_schedule(&jobs, "tick");
        (runs.iter().filter(|j| j.state.is_final()).count() >= 2).then_some(runs.len())
    })
    .await;
    assert!(fired >= 2);
    let jobs = local.ls();
    let run = of_schedule(&jobs, "tick")
        .into_iter()
        .find(|j| j.state == JobState::Exited)
        .expect("a finished run")
        .clone();
    assert_eq!(run.exit, Some(0));
    assert_eq!(
        run.timeout,
        Some(30),
        "the definition's options reach each run"
    );
    let log = local.ok(&["tail", run.uid.as_str()]);
    assert!(log.starts_with("hi from"), "{log}");

    // `schedule ls`: cron, zone, next run, and the last run with its state.
    let listed: Value = serde_json::from_str(&local.ok(&["schedule", "ls", "--json"])).unwrap();
    assert_eq!(listed[0]["name"], "tick");
    assert_eq!(listed[0]["cron"], "* * * * * *");
    assert_eq!(listed[0]["tz"], "UTC");
    assert!(listed[0]["next"].as_u64().is_some());
    assert!(listed[0]["last"]["uid"].is_string(), "{listed}");
    let table = local.ok(&["schedule", "ls"]);
    assert!(table.contains("tick") && table.contains("UTC"), "{table}");

    // Removed: it fires no more.
    local.ok(&["schedule", "rm", "tick"]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = of_schedule(&local.ls(), "tick").len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        of_schedule(&local.ls(), "tick").len(),
        before,
        "rm stops it"
    );
    assert!(!local.cli(&["schedule", "run", "tick"]).status.success());

    // A schedule whose next firing is far off runs now when asked, as an ordinary job.
    local.ok(&[
        "schedule",
        "add",
        "nightly",
        "--cron",
        "0 3 * * *",
        "--tz",
        "Europe/Berlin",
        "--",
        "echo",
        "backup",
    ]);
    let uid = local.ok(&["schedule", "run", "nightly"]).trim().to_owned();
    let code = local.client().tail(&uid, |_| {}).await.unwrap();
    assert_eq!(code, 0);
    let meta = local.client().status(&uid).await.unwrap();
    assert_eq!(meta.schedule.as_deref(), Some("nightly"));
    let shown = local.ok(&["status", &uid]);
    assert!(shown.contains("schedule:  nightly"), "{shown}");
    let nightly = local.client().schedule("nightly").await.unwrap();
    assert_eq!(nightly.last.unwrap().uid.as_deref(), Some(uid.as_str()));
    let next = nightly.next.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        next > now && next <= now + 86400,
        "the next 03:00 in Berlin is within a day"
    );
}

#[tokio::test]
async fn a_schedule_keeps_its_own_copy_of_the_files_it_was_given() {
    let local = Local::start();
    let work = tempfile::tempdir().unwrap();
    let conf = work.path().join("app.conf");
    std::fs::write(&conf, "level=3\n").unwrap();
    local.ok(&[
        "schedule",
        "add",
        "report",
        "--cron",
        "0 3 * * *",
        "--put",
        &format!("{}:etc/app.conf", conf.display()),
        "--",
        "cat",
        "etc/app.conf",
    ]);
    // The upload expires with the job retention; the schedule's copy stays.
    let uploads = std::path::Path::new(&local.data).join("inputs");
    std::fs::remove_dir_all(&uploads).unwrap();
    let uid = local.ok(&["schedule", "run", "report"]).trim().to_owned();
    assert_eq!(local.client().tail(&uid, |_| {}).await.unwrap(), 0);
    assert_eq!(local.ok(&["tail", &uid]), "level=3\n");

    let copies = std::path::Path::new(&local.data).join("schedules/default/report/inputs");
    assert_eq!(std::fs::read_dir(&copies).unwrap().count(), 1);
    local.ok(&["schedule", "rm", "report"]);
    let left = std::process::Command::new("find")
        .args([local.data.as_str(), "-path", "*/schedules/*", "-type", "f"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&left.stdout),
        "",
        "rm deletes its copies too"
    );
}

#[tokio::test]
async fn overlap_skips_a_firing_while_the_last_run_goes_on_unless_allowed() {
    let local = Local::start();
    let client = local.client();
    let spec = |overlap: &str| ScheduleSpec {
        cron: "* * * * * *".into(),
        tz: "UTC".into(),
        overlap: overlap.parse().unwrap(),
        exec: ExecRequest::argv(["sleep", "30"]),
        state: false,
    };
    client.put_schedule("slow", &spec("skip")).await.unwrap();
    let skipped = wait_until(Duration::from_secs(15), "a skipped firing", || async {
        let slow = client.schedule("slow").await.unwrap();
        slow.last.and_then(|l| l.skipped)
    })
    .await;
    assert!(skipped.contains("still running"), "{skipped}");
    let runs = of_schedule(&local.ls(), "slow").len();
    assert_eq!(runs, 1, "one run while it lasts");
    client.delete_schedule("slow").await.unwrap();

    client.put_schedule("many", &spec("allow")).await.unwrap();
    wait_until(Duration::from_secs(15), "overlapping runs", || async {
        let jobs = local.ls();
        let running = of_schedule(&jobs, "many")
            .iter()
            .filter(|j| !j.state.is_final())
            .count();
        (running >= 2).then_some(())
    })
    .await;
    client.delete_schedule("many").await.unwrap();
    for job in local.ls().iter().filter(|j| !j.state.is_final()) {
        client.cancel(job.uid.as_str()).await.unwrap();
    }
}

#[tokio::test]
async fn a_trigger_fires_once_per_upload_with_the_file_as_input_and_keeps_what_it_makes() {
    let local = Local::start();
    let work = tempfile::tempdir().unwrap();
    // The seed scenario: a zip arrives, the trigger unpacks and processes it, and the
    // result is an artifact.
    let zip = work.path().join("batch.zip");
    let made = std::process::Command::new("python3")
        .args(["-c", "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w') as z:\n    z.writestr('a.txt', 'one\\n')\n    z.writestr('b.txt', 'two\\nthree\\n')"])
        .arg(&zip)
        .status()
        .unwrap();
    assert!(made.success());
    local.ok(&[
        "trigger",
        "add",
        "unzip",
        "--prefix",
        "batches/",
        "--",
        "sh",
        "-c",
        r#"echo "got $AWS_EXEC_INPUT_PATH"
           python3 -m zipfile -e "$AWS_EXEC_INPUT" unpacked
           cat unpacked/*.txt | wc -l > "$AWS_EXEC_ARTIFACTS/lines.txt""#,
    ]);
    let key = local.ok(&["upload", "batches/monday.zip", zip.to_str().unwrap()]);
    assert!(key.trim().ends_with("/batches/monday.zip"), "{key}");

    let runs = wait_until(
        Duration::from_secs(20),
        "the trigger's job to end",
        || async {
            let jobs = local.ls();
            let runs: Vec<JobMeta> = jobs
                .into_iter()
                .filter(|j| j.trigger.as_deref() == Some("unzip"))
                .collect();
            runs.iter()
                .all(|j| j.state.is_final())
                .then_some(runs)
                .filter(|r| !r.is_empty())
        },
    )
    .await;
    assert_eq!(runs.len(), 1, "one job per upload");
    let uid = runs[0].uid.as_str().to_owned();
    assert_eq!(runs[0].exit, Some(0));
    let log = local.ok(&["tail", &uid]);
    assert_eq!(log, "got batches/monday.zip\n");
    let out = work.path().join("out");
    local.ok(&["artifacts", &uid, "--get", out.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(out.join("lines.txt"))
            .unwrap()
            .trim(),
        "3"
    );

    // An upload elsewhere fires nothing; the next one under the prefix fires again.
    local.ok(&["upload", "other/x.zip", zip.to_str().unwrap()]);
    local.ok(&["upload", "batches/tuesday.zip", zip.to_str().unwrap()]);
    wait_until(Duration::from_secs(20), "a second run", || async {
        let n = local
            .ls()
            .iter()
            .filter(|j| j.trigger.as_deref() == Some("unzip") && j.state.is_final())
            .count();
        (n == 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let all = local.ls();
    assert_eq!(all.len(), 2, "nothing fired for other/: {all:?}");
    let listed: Value = serde_json::from_str(&local.ok(&["trigger", "ls", "--json"])).unwrap();
    assert_eq!(listed[0]["prefix"], "batches/");
    assert_eq!(listed[0]["last"]["state"], "exited");

    local.ok(&["trigger", "rm", "unzip"]);
    local.ok(&["upload", "batches/wednesday.zip", zip.to_str().unwrap()]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(local.ls().len(), 2, "a removed trigger fires no more");
}

/// Every mistake is a 4xx saying what is wrong, and one user's definitions and inbox are
/// out of another's reach.
#[tokio::test]
async fn bad_definitions_are_refused_and_users_are_kept_apart() {
    let local = Local::start();
    let alice = local.client();
    let bob = local.new_user("bob");
    let spec = |cron: &str, tz: &str| ScheduleSpec {
        cron: cron.into(),
        tz: tz.into(),
        overlap: Default::default(),
        exec: ExecRequest::argv(["true"]),
        state: false,
    };
    let status = |e: ClientError| match e {
        ClientError::Api { status, message } => (status, message),
        other => panic!("{other}"),
    };
    let (code, msg) = status(
        alice
            .put_schedule("x", &spec("61 * * * *", "UTC"))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 400, "{msg}");
    let (code, msg) = status(
        alice
            .put_schedule("x", &spec("0 3 * * *", "Mars/Base"))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 400);
    assert!(msg.contains("unknown time zone"), "{msg}");
    let (code, _) = status(
        alice
            .put_schedule("a/b", &spec("0 3 * * *", "UTC"))
            .await
            .unwrap_err(),
    );
    assert!(code == 400 || code == 404);
    let (code, _) = status(
        alice
            .put_schedule("bad.name", &spec("0 3 * * *", "UTC"))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 400);
    let mut empty = spec("0 3 * * *", "UTC");
    empty.exec = ExecRequest::default();
    let (code, _) = status(alice.put_schedule("x", &empty).await.unwrap_err());
    assert_eq!(code, 400, "a definition must hold a job");
    let (code, msg) = status(
        alice
            .put_trigger(
                "t",
                &TriggerSpec {
                    prefix: "../bob/".into(),
                    exec: ExecRequest::argv(["true"]),
                    state: false,
                },
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 400);
    assert!(msg.contains("inbox"), "{msg}");
    let (code, _) = status(alice.schedule("nope").await.unwrap_err());
    assert_eq!(code, 404);
    let (code, _) = status(alice.delete_trigger("nope").await.unwrap_err());
    assert_eq!(code, 404);
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("f");
    std::fs::write(&file, "x").unwrap();
    let (code, _) = status(alice.upload("../bob/f", &file).await.unwrap_err());
    assert_eq!(code, 400);
    // Malformed JSON and unknown fields.
    let http = reqwest::Client::new();
    for body in [
        "{",
        r#"{"cron": "0 3 * * *", "exec": {"argv": ["true"]}, "extra": 1}"#,
        "\u{0}",
    ] {
        let resp = http
            .put(format!("{}/api/schedules/x", local.serve.url))
            .header("auth", &local.serve.key)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{body}");
    }

    // Bob sees none of alice's, cannot touch them, and her uploads fire none of his.
    alice
        .put_schedule("mine", &spec("0 3 * * *", "UTC"))
        .await
        .unwrap();
    assert!(bob.schedules().await.unwrap().is_empty());
    let (code, _) = status(bob.delete_schedule("mine").await.unwrap_err());
    assert_eq!(code, 404);
    let (code, _) = status(bob.run_schedule("mine").await.unwrap_err());
    assert_eq!(code, 404);
    bob.put_trigger(
        "all",
        &TriggerSpec {
            prefix: String::new(),
            exec: ExecRequest::argv(["true"]),
            state: false,
        },
    )
    .await
    .unwrap();
    alice.upload("in/f", &file).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(bob.list_all(&Default::default()).await.unwrap().is_empty());
    assert!(alice
        .list_all(&Default::default())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(alice.schedules().await.unwrap().len(), 1);
}
