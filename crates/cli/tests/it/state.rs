//! State carried between a definition's runs, through the real binary: each run finds in
//! `$AWS_EXEC_STATE` what the last run that exited 0 left there; a failing run, a state
//! over its limits or a link in it saves nothing; of two overlapping runs the first to
//! finish saves and the other's state is kept as its artifact.

use std::time::Duration;

use aws_exec_client::{Client, JobMeta, JobState};
use aws_exec_protocol::keys::DefKind;
use aws_exec_testkit::{finished_job_printing, wait_until, LocalServe};

const BIN: &str = env!("CARGO_BIN_EXE_aws-exec");

/// Runs schedule `name` now and answers the job once it has ended, with its log.
async fn run_now(local: &LocalServe, client: &Client, name: &str) -> (JobMeta, String) {
    let uid = local.ok(&["schedule", "run", name]).trim().to_owned();
    let mut log = Vec::new();
    client
        .tail(&uid, |b| log.extend_from_slice(b))
        .await
        .unwrap();
    let meta = client.status(&uid).await.unwrap();
    (meta, String::from_utf8(log).unwrap())
}

/// `aws-exec schedule add NAME --cron '0 3 * * *' --state OPTIONS -- sh -c SCRIPT`: a
/// schedule that runs only when asked to (`schedule run`).
fn add_stateful(local: &LocalServe, name: &str, options: &[&str], script: &str) {
    let mut args = vec!["schedule", "add", name, "--cron", "0 3 * * *", "--state"];
    args.extend_from_slice(options);
    args.extend(["--", "sh", "-c", script]);
    local.ok(&args);
}

#[tokio::test]
async fn a_bookmark_goes_from_run_to_run_and_a_failing_run_saves_nothing() {
    let local = LocalServe::start(BIN);
    let client = local.client();
    // Counts its runs in a bookmark; the run that finds 2 writes 99 and fails.
    add_stateful(
        &local,
        "extract",
        &[],
        r#"n=$(cat "$AWS_EXEC_STATE/rows/bookmark" 2>/dev/null || echo 0); echo "from $n";
           mkdir -p "$AWS_EXEC_STATE/rows"; [ "$n" = 2 ] && { echo 99 > "$AWS_EXEC_STATE/rows/bookmark"; exit 1; };
           echo $((n + 1)) > "$AWS_EXEC_STATE/rows/bookmark""#,
    );
    let listed = local.ok(&["schedule", "ls", "--json"]);
    assert!(listed.contains("\"state\": true"), "{listed}");
    assert_eq!(
        local.ok(&["schedule", "state", "extract"]).trim(),
        "extract: no state saved yet"
    );

    // The third run fails after writing 99; the fourth finds what the second left.
    for (expected, exit) in [("from 0", 0), ("from 1", 0), ("from 2", 1), ("from 2", 1)] {
        let (meta, log) = run_now(&local, &client, "extract").await;
        assert_eq!((log.trim(), meta.exit), (expected, Some(exit)), "{meta:?}");
    }
    let info = client.state(DefKind::Schedule, "extract").await.unwrap();
    assert_eq!(
        info.version, 2,
        "runs 1 and 2 saved; the failing ones did not"
    );
    assert!(info.size > 0 && info.url.is_some());

    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("got");
    local.ok(&[
        "schedule",
        "state",
        "extract",
        "--get",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(dir.join("rows/bookmark")).unwrap(),
        "2\n"
    );
    // A state restored with --get keeps the time its run wrote it, not 1970.
    let written = std::fs::metadata(dir.join("rows/bookmark"))
        .unwrap()
        .modified()
        .unwrap();
    let age = std::time::SystemTime::now()
        .duration_since(written)
        .unwrap_or_default();
    assert!(
        age < std::time::Duration::from_secs(600),
        "written {age:?} ago"
    );

    let said = local.ok(&["schedule", "state", "extract", "--reset"]);
    assert!(said.contains("version 3, empty"), "{said}");
    let (_, log) = run_now(&local, &client, "extract").await;
    assert_eq!(log.trim(), "from 0", "a reset state starts afresh");

    // Jobs run by hand have no state: the variable is not there.
    let out = local.ok(&["exec", "--", "sh", "-c", "echo \"[${AWS_EXEC_STATE:-}]\""]);
    assert_eq!(out, "[]\n");
    // Nor can another user read or reset it.
    let bob = local.new_user("bob");
    let err = bob.state(DefKind::Schedule, "extract").await.unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");
    let err = bob
        .reset_state(DefKind::Schedule, "extract")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");
}

#[tokio::test]
async fn two_overlapping_runs_keep_both_results_one_as_state_one_as_artifact() {
    let local = LocalServe::start(BIN);
    let client = local.client();
    add_stateful(
        &local,
        "both",
        &["--overlap", "allow"],
        r#"sleep 1; echo "$AWS_EXEC_JOB" > "$AWS_EXEC_STATE/who""#,
    );
    let first = local.ok(&["schedule", "run", "both"]).trim().to_owned();
    let second = local.ok(&["schedule", "run", "both"]).trim().to_owned();
    for uid in [&first, &second] {
        client.tail(uid, |_| {}).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    client
        .download_state(DefKind::Schedule, "both", dir.path())
        .await
        .unwrap();
    let saved = std::fs::read_to_string(dir.path().join("who")).unwrap();
    let saved = saved.trim();
    assert!(saved == first || saved == second, "{saved}");
    let other = if saved == first { &second } else { &first };
    let meta = client.status(other).await.unwrap();
    assert_eq!(meta.state, JobState::Exited, "the run itself succeeded");
    assert!(
        meta.notes
            .iter()
            .any(|n| n.contains("another run saved the state first")),
        "{:?}",
        meta.notes
    );
    let artifacts = client.artifacts(other).await.unwrap();
    assert_eq!(artifacts.len(), 1, "{artifacts:?}");
    assert_eq!(artifacts[0].path, "state/state.tar");
    let got = tempfile::tempdir().unwrap();
    client.download_artifacts(other, got.path()).await.unwrap();
    let archive = std::fs::read(got.path().join("state/state.tar")).unwrap();
    let unpacked = tempfile::tempdir().unwrap();
    tar::Archive::new(&archive[..])
        .unpack(unpacked.path())
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(unpacked.path().join("who"))
            .unwrap()
            .trim(),
        other.as_str(),
        "nothing lost: the other run's state is its artifact"
    );
}

#[tokio::test]
async fn a_state_over_its_limit_or_holding_a_link_is_not_saved_and_the_previous_one_stays() {
    let local = LocalServe::start(BIN);
    let client = local.client();
    // Keeps a file; as $MODE says, also leaves what cannot be saved.
    let script = r#"cat "$AWS_EXEC_STATE/kept" 2>/dev/null; echo ok > "$AWS_EXEC_STATE/kept";
        case "$MODE" in
          big) truncate -s 101M "$AWS_EXEC_STATE/big" ;;
          link) ln -s /etc/passwd "$AWS_EXEC_STATE/passwd" ;;
          swap) mv "$AWS_EXEC_STATE" "$AWS_EXEC_STATE.old"; ln -s /etc "$AWS_EXEC_STATE" ;;
        esac"#;
    add_stateful(&local, "grow", &[], script);
    let (first, _) = run_now(&local, &client, "grow").await;
    assert_eq!(first.exit, Some(0));
    let before = client.state(DefKind::Schedule, "grow").await.unwrap();
    assert_eq!(before.version, 1);
    for (mode, says) in [
        ("big", "more than 104857600 bytes"),
        ("link", "a link or a special file"),
        ("swap", "$AWS_EXEC_STATE was replaced"),
    ] {
        add_stateful(&local, "grow", &["-e", &format!("MODE={mode}")], script);
        let (meta, _) = run_now(&local, &client, "grow").await;
        assert_eq!(meta.exit, Some(0), "{mode}");
        assert!(
            meta.notes
                .iter()
                .any(|n| n.contains("the state was not saved") && n.contains(says)),
            "{mode}: {:?}",
            meta.notes
        );
        let after = client.state(DefKind::Schedule, "grow").await.unwrap();
        // The URL is signed anew at each ask; the version and its size are what stay.
        assert_eq!(
            (after.version, after.size),
            (before.version, before.size),
            "{mode}: the previous state stays"
        );
    }
}

#[tokio::test]
async fn a_trigger_carries_state_from_upload_to_upload() {
    let local = LocalServe::start(BIN);
    let client = local.client();
    local.ok(&[
        "trigger",
        "add",
        "tally",
        "--prefix",
        "in/",
        "--state",
        "--",
        "sh",
        "-c",
        r#"cat "$AWS_EXEC_INPUT" >> "$AWS_EXEC_STATE/seen"; wc -l < "$AWS_EXEC_STATE/seen""#,
    ]);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "one line\n").unwrap();
    for n in 1..=2 {
        local.ok(&[
            "upload",
            &format!("in/{n}.txt"),
            file.path().to_str().unwrap(),
        ]);
        let want = format!("{n}\n");
        wait_until(Duration::from_secs(20), "the trigger's run", || {
            finished_job_printing(&client, want.as_bytes())
        })
        .await;
    }
    let info = local.ok(&["trigger", "state", "tally", "--json"]);
    assert!(info.contains("\"version\": 2"), "{info}");
}

/// On a bucket, a version is saved with a conditional write, and a save from a version
/// already taken is refused by S3 itself.
#[tokio::test]
async fn on_a_bucket_the_state_goes_from_run_to_run() {
    let server = aws_exec_testkit::S3Server::moto();
    let s3 = server.bucket("svc").await;
    let serve = aws_exec_testkit::ServeProcess::start(BIN, &["--bucket", "svc"], &server.env());
    let client = Client::new(&serve.url, &serve.key).unwrap();
    let spec = aws_exec_client::ScheduleSpec {
        cron: "0 3 * * *".into(),
        tz: "UTC".into(),
        overlap: Default::default(),
        exec: aws_exec_client::ExecRequest::argv([
            "sh",
            "-c",
            r#"n=$(cat "$AWS_EXEC_STATE/n" 2>/dev/null || echo 0); echo $n; echo $((n + 1)) > "$AWS_EXEC_STATE/n""#,
        ]),
        state: true,
    };
    client.put_schedule("count", &spec).await.unwrap();
    for expected in ["0\n", "1\n", "2\n"] {
        let uid = client.run_schedule("count").await.unwrap();
        let mut log = Vec::new();
        client
            .tail(&uid, |b| log.extend_from_slice(b))
            .await
            .unwrap();
        assert_eq!(String::from_utf8(log).unwrap(), expected);
    }
    let listed = s3
        .list_objects_v2()
        .bucket("svc")
        .prefix("schedules/default/count/state/")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(
        keys,
        ["schedules/default/count/state/00000000000000000003"],
        "one version kept"
    );
    let taken = s3
        .put_object()
        .bucket("svc")
        .key(keys[0])
        .if_none_match("*")
        .body(Vec::new().into())
        .send()
        .await;
    assert!(
        taken.is_err(),
        "a version once written is never overwritten"
    );
}
