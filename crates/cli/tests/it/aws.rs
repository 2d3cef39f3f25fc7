//! The AWS path on real S3-protocol servers (moto_server and s3s-fs): push-urls presigned by
//! boto3, followed by the library and read back with boto3; and `aws-exec serve --bucket`
//! with `auth` working against the bucket.

use aws_exec::commands::registry;
use std::process::Command;

use aws_exec_client::{ExecRequest, ObjectUrls, PushUrls};
use aws_exec_testkit::S3Server;
use aws_exec_testkit::{ServeProcess, Service};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_aws-exec");

/// Runs a Python snippet with boto3 pointed at `server`; returns what it printed as JSON.
fn boto3(server: &S3Server, script: &str) -> Value {
    let prelude = "import boto3, json, sys\nfrom botocore.config import Config\n\
        s3 = boto3.client('s3', config=Config(signature_version='s3v4', s3={'addressing_style': 'path'}))\n";
    let out = Command::new(aws_exec_testkit::s3::tool("AWS_EXEC_PYTHON", "python3"))
        .arg("-c")
        .arg(format!("{prelude}{script}"))
        .envs(server.env())
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "boto3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("boto3 printed JSON")
}

async fn push_urls_round_trip(server: S3Server) {
    server.bucket("caller-owned").await;
    let urls = boto3(
        &server,
        "def url(method, key):\n    return s3.generate_presigned_url(method, Params={'Bucket': 'caller-owned', 'Key': key}, ExpiresIn=300)\n\
         print(json.dumps({op: {k: url(m, 'run/' + k) for k in ('log', 'exit', 'size')} for op, m in (('put', 'put_object'), ('get', 'get_object'))}))\n",
    );
    let field = |op: &str, k: &str| urls[op][k].as_str().unwrap().to_owned();
    let push = PushUrls {
        log: field("put", "log"),
        exit: field("put", "exit"),
        size: field("put", "size"),
    };
    let gets = ObjectUrls {
        log: field("get", "log"),
        exit: field("get", "exit"),
        size: field("get", "size"),
    };

    // The S3 server is on loopback, where push-urls may not point unless allowed.
    let guarded = Service::start(registry()).await;
    let request = ExecRequest {
        push_urls: Some(push.clone()),
        ..ExecRequest::argv(["true"])
    };
    let err = guarded.client().submit(&request).await.unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(err.to_string().contains("push-urls.log"), "{err}");
    assert!(err.to_string().contains("not a public address"), "{err}");
    guarded.stop().await;

    let svc = Service::start_with(registry(), |c| {
        c.runner.push_policy.allow_hosts = vec!["127.0.0.1".into()];
    })
    .await;
    let client = svc.client();
    let request = ExecRequest {
        push_urls: Some(push),
        ..ExecRequest::argv([
            "bash",
            "-c",
            r"echo pushed; sleep 0.3; printf '\xffdone'; exit 6",
        ])
    };
    let started = std::time::Instant::now();
    let uid = client.submit(&request).await.unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "POST returns at once"
    );

    let mut log = Vec::new();
    let code = client
        .tail_objects(&gets, |b| log.extend_from_slice(b))
        .await
        .unwrap();
    assert_eq!(code, 6);
    assert_eq!(log, b"pushed\n\xffdone");

    let stored = boto3(
        &server,
        "get = lambda k: s3.get_object(Bucket='caller-owned', Key='run/' + k)['Body'].read()\n\
         print(json.dumps({'log': get('log').hex(), 'exit': get('exit').decode(), 'size': get('size').decode()}))\n",
    );
    assert_eq!(hex::decode(stored["log"].as_str().unwrap()).unwrap(), log);
    assert_eq!(stored["exit"], "6");
    assert_eq!(stored["size"], log.len().to_string());

    // The service does not pretend to hold a pushed job's log.
    let err = client.tail(&uid, |_| {}).await.unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    svc.stop().await;
}

#[tokio::test]
async fn push_urls_presigned_by_boto3_on_moto() {
    push_urls_round_trip(S3Server::moto()).await;
}

#[tokio::test]
async fn push_urls_presigned_by_boto3_on_s3s_fs_which_checks_signatures() {
    push_urls_round_trip(S3Server::s3s_fs()).await;
}

#[tokio::test]
async fn bad_push_urls_are_refused_at_submit() {
    let svc = Service::start(registry()).await;
    let request = ExecRequest {
        push_urls: Some(PushUrls {
            log: "file:///etc/passwd".into(),
            exit: "x".into(),
            size: "y".into(),
        }),
        ..ExecRequest::argv(["true"])
    };
    let err = svc.client().submit(&request).await.unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(err.to_string().contains("push-urls.log"), "{err}");
    svc.stop().await;
}

async fn serve_on_a_bucket(server: S3Server) {
    server.bucket("svc").await;
    let serve = ServeProcess::start(BIN, &["--bucket", "svc"], &server.env());
    assert!(serve.banner.contains("s3://svc"), "{}", serve.banner);
    let cli = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .envs(server.env())
            .env("PROJECT_URL", &serve.url)
            .env("PROJECT_BUCKET", "svc")
            .output()
            .unwrap()
    };
    let out = cli(&[
        "exec",
        "--auth",
        &serve.key,
        "--",
        "bash",
        "-c",
        "seq 1 3; exit 9",
    ]);
    assert_eq!(
        out.status.code(),
        Some(9),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"1\n2\n3\n");

    // auth works on the bucket directly: a key made here is honoured by the service.
    let made = cli(&["auth", "new", "dana"]);
    assert_eq!(
        made.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let dana = String::from_utf8(made.stdout).unwrap().trim().to_owned();
    let out = cli(&["exec", "--auth", &dana, "--", "echo", "dana"]);
    assert_eq!(out.stdout, b"dana\n");
    let ls = String::from_utf8(cli(&["auth", "ls"]).stdout).unwrap();
    assert!(ls.contains("dana") && ls.contains("default"), "{ls}");
    assert_eq!(cli(&["auth", "rm", "dana"]).status.code(), Some(0));
    assert_eq!(
        cli(&["exec", "--auth", &dana, "--", "true"]).status.code(),
        Some(255)
    );

    // The objects are where the layout says, in the bucket.
    let keys = server.keys("svc", "jobs/default/").await;
    for name in ["log.txt", "exit", "size"] {
        assert!(
            keys.iter().any(|k| k.ends_with(name)),
            "{name} missing from {keys:?}"
        );
    }
    let metas = server.keys("svc", "index/default/").await;
    assert!(!metas.is_empty(), "no meta in the listing");
}

#[tokio::test]
async fn serve_on_a_moto_bucket() {
    serve_on_a_bucket(S3Server::moto()).await;
}

#[tokio::test]
async fn serve_on_an_s3s_fs_bucket() {
    serve_on_a_bucket(S3Server::s3s_fs()).await;
}
