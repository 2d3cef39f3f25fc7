//! Secrets through the real binary: set from the command line, given to a job as a variable
//! and a file, masked in its log, kept nowhere but the secrets store (the data directory's
//! `.secrets/`, or Parameter Store on moto), and out of every other user's reach.

use std::path::Path;
use std::time::Duration;

use aws_exec_client::{ClientError, ExecRequest, JobMeta, ScheduleSpec};
use aws_exec_testkit::{
    finished_job_printing, output_with_stdin, run_request, wait_until, LocalServe, S3Server,
    ServeProcess,
};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

const BIN: &str = env!("CARGO_BIN_EXE_aws-exec");

const VALUE: &str = "postgres://app:Tr0ub4dor&3@db.internal/prod";

/// `aws-exec secret set NAME` with `value` piped in; answers the finished process.
fn set_secret(local: &LocalServe, name: &str, value: &str) -> std::process::Output {
    let cmd = local.command(&["secret", "set", name]);
    output_with_stdin(cmd, format!("{value}\n").as_bytes())
}

/// Every file under `dir` (but `skip`) whose bytes hold `needle`.
fn files_holding(dir: &Path, skip: &str, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(at) = todo.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|n| n == skip) {
                continue;
            }
            if path.is_dir() {
                todo.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    found.push(path.display().to_string());
                }
            }
        }
    }
    found
}

#[tokio::test]
async fn a_secret_set_from_the_cli_reaches_a_job_as_a_variable_and_a_file_and_nothing_else_holds_it(
) {
    let local = LocalServe::start(BIN);
    let set = set_secret(&local, "DB_URL", VALUE);
    assert!(set.status.success(), "{set:?}");
    assert!(set.stdout.is_empty(), "nothing of it on stdout");

    let out = local.cli(&[
        "exec",
        "--secret",
        "DB_URL",
        "--secret-file",
        "conf/db.txt=DB_URL",
        "--",
        "sh",
        "-c",
        r#"echo "env: $DB_URL"; echo "$DB_URL" | base64; printf %s "$DB_URL" | base64;
           printf '{"url":"%s"}\n' "$DB_URL"; stat -c %a conf/db.txt;
           [ "$(cat conf/db.txt)" = "$DB_URL" ] && echo file matches; echo "${#DB_URL} bytes""#,
    ]);
    assert!(out.status.success(), "{out:?}");
    let log = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines[0], "env: ***", "{log}");
    assert!(lines[1].starts_with("***"), "echo | base64: {log}");
    assert_eq!(lines[2], "***", "printf | base64: {log}");
    assert_eq!(lines[3], r#"{"url":"***"}"#);
    assert_eq!(lines[4], "600", "the file is the job's alone");
    assert_eq!(lines[5], "file matches");
    assert_eq!(lines[6], format!("{} bytes", VALUE.len()));
    assert!(!log.contains(VALUE));
    assert!(!log.contains(&BASE64.encode(VALUE)[..20]));

    // The value is in no answer: the listing, the job's meta, the job list.
    let client = local.client();
    let listed = local.ok(&["secret", "ls", "--json"]);
    assert!(
        listed.contains("DB_URL") && !listed.contains(VALUE),
        "{listed}"
    );
    let table = local.ok(&["secret", "ls"]);
    assert!(
        table.contains("DB_URL") && !table.contains(VALUE),
        "{table}"
    );
    let jobs = local.ok(&["ls", "--json"]);
    assert!(!jobs.contains(VALUE));
    let status = local.ok(&["status", "last", "--json"]);
    assert!(!status.contains(VALUE), "{status}");
    let meta: JobMeta = serde_json::from_str(&status).unwrap();
    assert_eq!(meta.exit, Some(0));
    assert!(client.secrets().await.unwrap().len() == 1);

    // Nor in any file of the data directory but the secrets store, which only the service
    // reads (0700, and 0600 files).
    let data = Path::new(&local.data);
    assert_eq!(
        files_holding(data, ".secrets", VALUE.as_bytes()),
        Vec::<String>::new()
    );
    let store = data.join(".secrets");
    assert_eq!(files_holding(&store, "", VALUE.as_bytes()).len(), 1);
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&store), 0o700);
    assert_eq!(mode(&store.join("default.json")), 0o600);
    // No signed URL reaches it either: the store refuses keys under it.
    let resp = reqwest::get(format!("{}/_store/.secrets/default.json", local.serve.url))
        .await
        .unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());

    // The same job, asked for by the library.
    let request = ExecRequest::argv(["sh", "-c", "echo lib $DB_URL"]).secret("DB_URL");
    let (log, exit) = run_request(&client, &request).await;
    assert_eq!(
        (String::from_utf8(log).unwrap().as_str(), exit),
        ("lib ***\n", 0)
    );
}

#[tokio::test]
async fn another_user_cannot_use_list_or_delete_a_secret() {
    let local = LocalServe::start(BIN);
    assert!(set_secret(&local, "TOKEN", "alice-token-123")
        .status
        .success());
    let bob = local.new_user("bob");
    let err = bob
        .submit(&ExecRequest::argv(["true"]).secret("TOKEN"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(err.to_string().contains("no secret TOKEN"), "{err}");
    assert!(bob.secrets().await.unwrap().is_empty());
    let err = bob.delete_secret("TOKEN").await.unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");
    // Bob's own secret of that name is his, and Alice's stays hers.
    bob.put_secret("TOKEN", "bob-token-456").await.unwrap();
    let request = ExecRequest::argv(["sh", "-c", "echo ${#TOKEN}"]).secret("TOKEN");
    let (log, _) = run_request(&local.client(), &request).await;
    assert_eq!(log, b"15\n");
    let err = bob
        .put_schedule(
            "nightly",
            &ScheduleSpec {
                cron: "0 3 * * *".into(),
                tz: "UTC".into(),
                overlap: Default::default(),
                exec: ExecRequest::argv(["true"]).secret("NOT_SET"),
                state: false,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(err.to_string().contains("no secret NOT_SET"), "{err}");
    let out = local.cli(&[
        "trigger", "add", "photos", "--secret", "NOT_SET", "--", "true",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no secret NOT_SET"));
}

#[tokio::test]
async fn bad_names_values_and_bodies_are_refused_with_400_and_lose_nothing() {
    let local = LocalServe::start(BIN);
    assert!(set_secret(&local, "KEPT", "kept-value-1").status.success());
    let http = reqwest::Client::new();
    let put = |name: &str, body: Vec<u8>| {
        http.put(format!("{}/api/secrets/{name}", local.serve.url))
            .header("auth", &local.serve.key)
            .body(body)
            .send()
    };
    let big = serde_json::to_vec(&serde_json::json!({ "value": "x".repeat(4097) })).unwrap();
    for (name, body, says) in [
        ("lower", br#"{"value":"abcdefg"}"#.to_vec(), "not [A-Z_]"),
        ("1ABC", br#"{"value":"abcdefg"}"#.to_vec(), "not [A-Z_]"),
        (
            &"A".repeat(65),
            br#"{"value":"abcdefg"}"#.to_vec(),
            "not [A-Z_]",
        ),
        ("OK", br#"{"value":""}"#.to_vec(), "empty"),
        ("OK", br#"{"value":"a\u0000b"}"#.to_vec(), "NUL"),
        ("OK", big, "at most 4096 bytes"),
        ("OK", b"{not json".to_vec(), "malformed JSON"),
        (
            "OK",
            br#"{"value":"abcdefg","extra":1}"#.to_vec(),
            "unknown field",
        ),
        ("OK", b"\xff\xfe".to_vec(), "malformed JSON"),
        ("OK", br#"{"value":7}"#.to_vec(), "value"),
    ] {
        let resp = put(name, body).await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert_eq!(status, 400, "{name}: {text}");
        assert!(text.contains(says), "{name}: {text}");
    }
    let resp = http
        .put(format!("{}/api/secrets/OK", local.serve.url))
        .header("auth", "wrong")
        .body(r#"{"value":"abcdefg"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let names: Vec<String> = local
        .client()
        .secrets()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(names, ["KEPT"], "nothing stored, nothing lost");

    // A job's request: names and paths are checked as its other fields are.
    let client = local.client();
    for (request, says) in [
        (ExecRequest::argv(["true"]).secret("bad name"), "secrets"),
        (
            ExecRequest::argv(["true"]).secret("UNKNOWN"),
            "no secret UNKNOWN",
        ),
        (
            ExecRequest::argv(["true"]).secret_file("../x", "KEPT"),
            "secret-files",
        ),
        (
            ExecRequest::argv(["true"]).secret_file("tmp/x", "KEPT"),
            "secret-files",
        ),
        (
            ExecRequest::argv(["true"]).secret("KEPT").env("KEPT", "x"),
            "also set in \"env\"",
        ),
    ] {
        let err = client.submit(&request).await.unwrap_err();
        assert!(
            matches!(err, ClientError::Api { status: 400, .. }),
            "{request:?}: {err}"
        );
        assert!(err.to_string().contains(says), "{err}");
    }
    let out = local.cli(&["secret", "set", "bad"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
}

#[tokio::test]
async fn a_rotated_secret_reaches_the_next_scheduled_run_and_a_deleted_one_fails_it_clearly() {
    let local = LocalServe::start(BIN);
    let client = local.client();
    client.put_secret("TOKEN", "first-value").await.unwrap();
    local.ok(&[
        "schedule",
        "add",
        "sync",
        "--cron",
        "* * * * * *",
        "--secret",
        "TOKEN",
        "--",
        "sh",
        "-c",
        "echo ${#TOKEN}",
    ]);
    let definition = local.ok(&["schedule", "ls", "--json"]);
    assert!(definition.contains("TOKEN") && !definition.contains("first-value"));
    let on_disk = files_holding(Path::new(&local.data), ".secrets", b"first-value");
    assert_eq!(
        on_disk,
        Vec::<String>::new(),
        "the definition holds the name only"
    );

    // Each run's log is the length of the value it got.
    let run_printing = |len: usize| {
        let client = &client;
        async move { finished_job_printing(client, format!("{len}\n").as_bytes()).await }
    };
    wait_until(
        Duration::from_secs(20),
        "a run with the first value",
        || run_printing("first-value".len()),
    )
    .await;
    client
        .put_secret("TOKEN", "the-second-and-longer-value")
        .await
        .unwrap();
    wait_until(
        Duration::from_secs(20),
        "a run with the rotated value",
        || run_printing("the-second-and-longer-value".len()),
    )
    .await;

    client.delete_secret("TOKEN").await.unwrap();
    let failed = wait_until(Duration::from_secs(20), "a run that failed", || async {
        let jobs = client.list(&Default::default()).await.ok()?;
        jobs.jobs
            .into_iter()
            .find(|j| j.state == aws_exec_client::JobState::Failed)
    })
    .await;
    assert_eq!(failed.exit, Some(126));
    assert!(
        failed
            .notes
            .iter()
            .any(|n| n.contains("secret TOKEN is not set")),
        "{:?}",
        failed.notes
    );
    local.ok(&["schedule", "rm", "sync"]);
}

/// A secret begun on stdout and finished on stderr is masked whole: both streams reach
/// the log through one pipe, so the masker sees the value as the command wrote it.
#[tokio::test]
async fn a_secret_split_between_stdout_and_stderr_is_masked_whole() {
    let local = LocalServe::start(BIN);
    let client = local.client();
    client.put_secret("DB_URL", VALUE).await.unwrap();
    // Back to back, 500 times: read from two pipes, the halves come apart.
    let script = r#"for i in $(seq 1 500); do printf '%s' "${DB_URL%%@*}"; printf '@%s\n' "${DB_URL#*@}" >&2; done; echo done"#;
    let request = ExecRequest::argv(["sh", "-c", script]).secret("DB_URL");
    let (log, exit) = run_request(&client, &request).await;
    assert_eq!(exit, 0);
    let want = format!("{}done\n", "***\n".repeat(500));
    assert_eq!(String::from_utf8_lossy(&log), want);
}

/// The secret written split at every offset, one piece per write with a pause between, in
/// a megabyte of other output: the log never shows it, and all else is byte for byte.
#[tokio::test]
async fn a_megabyte_log_with_the_secret_split_at_every_write_boundary_never_shows_it() {
    let local = LocalServe::start(BIN);
    let secret = "sk_live_51Hxyz-EXAMPLE-9f8e7d6c";
    local.client().put_secret("API_KEY", secret).await.unwrap();
    let script = r#"
import os, sys, time
key = os.environ["API_KEY"].encode()
filler = bytes(range(256)) * 16
out = 0
for i in range(len(key) + 1):
    os.write(1, filler)
    os.write(1, key[:i])
    time.sleep(0.005)
    os.write(1, key[i:] + b"\n")
    out += len(filler)
while out < 1 << 20:
    os.write(1, filler)
    out += len(filler)
"#;
    let request = ExecRequest::argv(["python3", "-c", script]).secret("API_KEY");
    let (log, exit) = run_request(&local.client(), &request).await;
    assert_eq!(exit, 0);
    let filler: Vec<u8> = (0..=255u8).collect::<Vec<_>>().repeat(16);
    let mut expected = Vec::new();
    let mut out = 0;
    for _ in 0..=secret.len() {
        expected.extend_from_slice(&filler);
        expected.extend_from_slice(b"***\n");
        out += filler.len();
    }
    while out < 1 << 20 {
        expected.extend_from_slice(&filler);
        out += filler.len();
    }
    assert!(log.len() > 1 << 20);
    assert!(log == expected, "the log differs from what was expected");

    // A job with a secret whose output never holds it: byte for byte, invalid UTF-8 too.
    let mut random = vec![0u8; 1 << 20];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for b in random.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &random).unwrap();
    let put = format!("{}:random.bin", file.path().display());
    let out = local.cli(&[
        "exec",
        "--secret",
        "API_KEY",
        "--put",
        &put,
        "--",
        "cat",
        "random.bin",
    ]);
    assert!(out.status.success());
    assert!(
        out.stdout == random,
        "bytes that are no secret pass unchanged"
    );
}

/// On a bucket, the value lives in Parameter Store as a SecureString under the prefix,
/// and in no object of the bucket.
#[tokio::test]
async fn on_a_bucket_the_value_is_a_secure_string_in_parameter_store_and_in_no_object() {
    let server = S3Server::moto();
    let s3 = server.bucket("svc").await;
    let mut env = server.env();
    env.push(("SECRETS_PREFIX", "/proj/secrets".into()));
    let serve = ServeProcess::start(BIN, &["--bucket", "svc"], &env);
    let client = aws_exec_client::Client::new(&serve.url, &serve.key).unwrap();
    client.put_secret("DB_URL", VALUE).await.unwrap();
    let listed = client.secrets().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name.as_str(), "DB_URL");
    let request = ExecRequest::argv(["sh", "-c", "echo $DB_URL"]).secret("DB_URL");
    let (log, exit) = run_request(&client, &request).await;
    assert_eq!((log.as_slice(), exit), (&b"***\n"[..], 0));

    let param = server
        .ssm()
        .get_parameter()
        .name("/proj/secrets/default/DB_URL")
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    let param = param.parameter().unwrap();
    assert_eq!(
        param.r#type(),
        Some(&aws_sdk_ssm::types::ParameterType::SecureString)
    );
    assert_eq!(param.value(), Some(VALUE));

    let objects = s3.list_objects_v2().bucket("svc").send().await.unwrap();
    let mut holding = Vec::new();
    for object in objects.contents() {
        let key = object.key().unwrap();
        let body = s3.get_object().bucket("svc").key(key).send().await.unwrap();
        let bytes = body.body.collect().await.unwrap().into_bytes();
        if bytes.windows(VALUE.len()).any(|w| w == VALUE.as_bytes()) {
            holding.push(key.to_owned());
        }
    }
    assert!(
        objects.contents().len() > 3,
        "the job's objects were listed"
    );
    assert_eq!(holding, Vec::<String>::new());
    client.delete_secret("DB_URL").await.unwrap();
    assert!(client.secrets().await.unwrap().is_empty());
}

/// The Parameter Store path infra.yaml gives the function, for the project name
/// env.sh.template starts with: read from the two files as they ship.
fn templates_secrets_prefix() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let template = std::fs::read_to_string(root.join("env.sh.template")).unwrap();
    let project = template
        .lines()
        .find_map(|l| l.strip_prefix("export PROJECT_NAME="))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("env.sh.template sets PROJECT_NAME")
        .to_owned();
    let infra = std::fs::read_to_string(root.join("infra.yaml")).unwrap();
    let spelled = infra
        .lines()
        .find_map(|l| l.trim().strip_prefix("SECRETS_PREFIX: !Sub "))
        .expect("infra.yaml sets SECRETS_PREFIX")
        .trim();
    spelled.replace("${ProjectName}", &project)
}

/// With env.sh.template's own project name, secrets are stored where infra.yaml says (and
/// where `serve --bucket` looks by default): Parameter Store refuses any name starting with
/// "aws", as moto does. A prefix it refuses is a 500 that names SECRETS_PREFIX, at once,
/// not a retried "failed to answer".
#[tokio::test]
async fn secrets_are_stored_on_aws_with_the_templates_own_project_name() {
    let server = S3Server::moto();
    server.bucket("svc").await;
    let prefix = templates_secrets_prefix();
    let mut env = server.env();
    env.push(("SECRETS_PREFIX", prefix.clone()));
    let serve = ServeProcess::start(BIN, &["--bucket", "svc"], &env);
    let client = aws_exec_client::Client::new(&serve.url, &serve.key).unwrap();
    client.put_secret("DB_URL", VALUE).await.unwrap();
    let stored = server
        .ssm()
        .get_parameter()
        .name(format!("{prefix}/default/DB_URL"))
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.parameter().unwrap().value(), Some(VALUE));
    // Without SECRETS_PREFIX, serve --bucket looks in the same place (the key made by the
    // first start is the bucket's).
    let key = serve.key.clone();
    drop(serve);
    let serve = ServeProcess::start(BIN, &["--bucket", "svc"], &server.env());
    let client = aws_exec_client::Client::new(&serve.url, &key).unwrap();
    let listed = client.secrets().await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let request = ExecRequest::argv(["sh", "-c", "echo $DB_URL"]).secret("DB_URL");
    let (log, exit) = run_request(&client, &request).await;
    assert_eq!((log.as_slice(), exit), (&b"***\n"[..], 0));
    drop(serve);

    // The path the template used to make: refused, said plainly, not retried.
    let mut env = server.env();
    env.push(("SECRETS_PREFIX", "/aws-exec/secrets".into()));
    let serve = ServeProcess::start(BIN, &["--bucket", "svc"], &env);
    let client = aws_exec_client::Client::new(&serve.url, &key).unwrap();
    let started = std::time::Instant::now();
    let err = client.put_secret("DB_URL", VALUE).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3), "retried: {err}");
    assert_eq!(err.status(), Some(500), "{err}");
    let said = err.to_string();
    assert!(
        said.contains("SECRETS_PREFIX") && said.contains("/aws-exec/secrets"),
        "{said}"
    );
}

/// A user made later under a removed user's name starts without the old secrets.
#[tokio::test]
async fn a_removed_users_secrets_go_with_its_key() {
    let local = LocalServe::start(BIN);
    let bob = local.new_user("bob");
    bob.put_secret("TOKEN", "bob-token-456").await.unwrap();
    let out = aws_exec_testkit::env::clean_command(BIN, &[])
        .args(["auth", "rm", "bob", "--data-dir", &local.data])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("1 secrets"), "{said}");
    let new_bob = local.new_user("bob");
    assert!(new_bob.secrets().await.unwrap().is_empty());
    let err = new_bob
        .submit(&ExecRequest::argv(["true"]).secret("TOKEN"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(files_holding(Path::new(&local.data), "", b"bob-token-456").is_empty());
}

/// Nothing bounded how many secrets one key kept in Parameter Store: one key could take
/// the account's quota from every other. The cap of every store holds there too, and a
/// submit looks its names up instead of listing all of the owner's secrets.
#[tokio::test]
async fn on_a_bucket_one_key_keeps_at_most_max_secrets_per_key() {
    use aws_exec_protocol::limits::MAX_SECRETS_PER_KEY;
    let server = S3Server::moto();
    server.bucket("svc").await;
    let mut env = server.env();
    env.push(("SECRETS_PREFIX", "/proj/secrets".into()));
    let serve = ServeProcess::start(BIN, &["--bucket", "svc"], &env);
    let client = aws_exec_client::Client::new(&serve.url, &serve.key).unwrap();
    // As many as the cap, stored straight into Parameter Store, ten at a time.
    let ssm = server.ssm();
    for chunk in (0..MAX_SECRETS_PER_KEY).collect::<Vec<_>>().chunks(10) {
        let mut puts = tokio::task::JoinSet::new();
        for i in chunk {
            let put = ssm
                .put_parameter()
                .name(format!("/proj/secrets/default/S{i:04}"))
                .value("v")
                .r#type(aws_sdk_ssm::types::ParameterType::SecureString);
            puts.spawn(put.send());
        }
        while let Some(put) = puts.join_next().await {
            put.unwrap().unwrap();
        }
    }
    let refused = client.put_secret("ONE_MORE", VALUE).await.unwrap_err();
    assert!(refused.to_string().contains("the most it may"), "{refused}");
    // A name it keeps can still be replaced, and used.
    client.put_secret("S0007", VALUE).await.unwrap();
    let request = ExecRequest::argv(["sh", "-c", "echo $S0007"]).secret("S0007");
    let (log, exit) = run_request(&client, &request).await;
    assert_eq!((log.as_slice(), exit), (&b"***\n"[..], 0));
    let missing = ExecRequest::argv(["true"]).secret("ONE_MORE");
    let refused = client.submit(&missing).await.unwrap_err();
    assert!(refused.to_string().contains("ONE_MORE"), "{refused}");
}
