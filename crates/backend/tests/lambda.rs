//! The Lambda edge fed real event JSON (API Gateway REST v1, HTTP API v2, function URL,
//! EventBridge schedule), with the self-invoke going through the real aws-sdk-lambda client to
//! a loopback Invoke endpoint that records each call and then delivers its payload.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_exec_backend::dispatch::LambdaDispatch;
use aws_exec_backend::job::JOB_EVENT_KEY;
use aws_exec_backend::lambda_edge::LambdaApp;
use aws_exec_backend::lifecycle::Jobs;
use aws_exec_backend::schedules::{EventBridgeScheduler, Unconfigured};
use aws_exec_backend::store::{LocalStore, Store};
use aws_exec_backend::{auth, AppState, Registry, Rpc, RpcContext, Runner, RunnerConfig};
use aws_exec_protocol::keys::JobKeys;
use aws_exec_protocol::AuthName;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use lambda_runtime::{Context, LambdaEvent};
use serde::Deserialize;
use serde_json::Value;

/// An rpc for these tests: writes its text to the log.
#[derive(Deserialize)]
struct Echo {
    text: String,
}

impl Rpc for Echo {
    const NAME: &'static str = "echo";
    async fn run(self, ctx: RpcContext) -> Result<i32, aws_exec_backend::rpc::RpcError> {
        ctx.log.write(format!("{}\n", self.text));
        Ok(0)
    }
}

#[derive(Clone, Debug)]
struct Invocation {
    path: String,
    invocation_type: String,
    /// `X-Amz-Tenant-Id`: the owner whose execution environments run it.
    tenant: String,
    payload: Value,
}

type Recorded = Arc<Mutex<Vec<Invocation>>>;
type Failing = Arc<std::sync::atomic::AtomicUsize>;

/// A loopback stand-in for Lambda's Invoke API: records, answers 202 as AWS does for Event.
/// Its `Failing` count of calls still to answer 503, as Lambda does under a throttle or an
/// outage.
async fn invoke_endpoint() -> (String, Recorded, Failing, tokio::task::JoinHandle<()>) {
    let recorded: Recorded = Arc::default();
    let failing: Failing = Arc::default();
    let router = axum::Router::new()
        .route(
            "/2015-03-31/functions/{name}/invocations",
            post(
                |State((rec, failing)): State<(Recorded, Failing)>,
                 Path(name): Path<String>,
                 headers: HeaderMap,
                 body: axum::body::Bytes| async move {
                    let fail = failing
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    if fail {
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    rec.lock().unwrap().push(Invocation {
                        path: format!("/2015-03-31/functions/{name}/invocations"),
                        invocation_type: headers
                            .get("x-amz-invocation-type")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned(),
                        tenant: headers
                            .get("x-amz-tenant-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned(),
                        payload: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    });
                    StatusCode::ACCEPTED
                },
            ),
        )
        .with_state((recorded.clone(), failing.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, recorded, failing, server)
}

/// The names of the two functions the fixture's Invoke endpoint records calls to.
const JOBS_FUNCTION: &str = "aws-exec-jobs";
const API_FUNCTION: &str = "aws-exec";

/// The fixture's `MAX_JOBS_PER_USER`.
const MAX_JOBS_PER_USER: usize = 3;

/// The two functions as the stack deploys them: the API function hands jobs to the jobs
/// function, through the recording Invoke endpoint.
struct Fixture {
    api: LambdaApp,
    jobs: LambdaApp,
    store: Arc<dyn Store>,
    key: String,
    recorded: Recorded,
    /// Invokes still to fail.
    failing: Failing,
    server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn fixture() -> Fixture {
    fixture_with(None).await
}

/// The function as AWS runs it; `eventbridge` stands for schedules being set up.
async fn fixture_with(eventbridge: Option<Arc<EventBridgeScheduler>>) -> Fixture {
    fixture_full(eventbridge, None).await
}

/// The fixture, with EventBridge Scheduler and the long runner on Fargate when given.
async fn fixture_full(
    eventbridge: Option<Arc<EventBridgeScheduler>>,
    fargate: Option<Arc<aws_exec_backend::dispatch::FargateTasks>>,
) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(LocalStore::open(dir.path()).unwrap());
    let key = auth::create(store.as_ref(), &"alice".parse::<AuthName>().unwrap())
        .await
        .unwrap()
        .expose()
        .to_owned();
    let mut registry = Registry::new();
    registry.add::<Echo>();
    let registry = Arc::new(registry);
    let (endpoint, recorded, failing, server) = invoke_endpoint().await;
    let lambda_client = aws_sdk_lambda::Client::new(&aws_exec_testkit::s3::sdk_config(&endpoint));
    let api_client = lambda_client.clone();
    let secrets: Arc<dyn aws_exec_backend::secrets::Secrets> =
        Arc::new(aws_exec_backend::secrets::LocalSecrets::open(dir.path()).unwrap());
    let runner = Arc::new(
        Runner::new(
            store.clone(),
            registry.clone(),
            RunnerConfig {
                cost: Some(aws_exec_backend::usage::CostModel::lambda(
                    1024,
                    aws_exec_backend::usage::LAMBDA_ARM64_USD_PER_GB_SECOND,
                )),
                ..RunnerConfig::default()
            },
        )
        .with_secrets(secrets.clone()),
    );
    let lambda: Arc<dyn aws_exec_backend::dispatch::Dispatch> =
        Arc::new(LambdaDispatch::new(api_client, JOBS_FUNCTION));
    let long_max_timeout = fargate.as_ref().map(|f| f.config().max_timeout);
    let dispatch: Arc<dyn aws_exec_backend::dispatch::Dispatch> = match fargate {
        Some(tasks) => Arc::new(aws_exec_backend::dispatch::FargateDispatch::new(
            tasks,
            store.clone(),
            lambda,
        )),
        None => lambda,
    };
    let jobs = Jobs {
        store: store.clone(),
        dispatch,
        registry,
        max_timeout: Duration::from_secs(890),
        long_max_timeout,
        push_policy: Default::default(),
        events: None,
        max_jobs_per_user: Some(MAX_JOBS_PER_USER),
        secrets,
    };
    let state = AppState {
        jobs,
        public_url: None,
        scheduler: match &eventbridge {
            Some(eventbridge) => eventbridge.clone(),
            None => Arc::new(Unconfigured("SCHEDULE_GROUP")),
        },
        page_reads_from: None,
    };
    Fixture {
        api: LambdaApp::api(state, eventbridge),
        jobs: LambdaApp::jobs(runner, LambdaDispatch::new(lambda_client, API_FUNCTION)),
        store,
        key,
        recorded,
        failing,
        server,
        _dir: dir,
    }
}

fn event(name: &str, replace: &[(&str, &str)]) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (from, to) in replace {
        text = text.replace(from, to);
    }
    serde_json::from_str(&text).unwrap()
}

/// This function's ARN, as each invocation's context carries it.
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:210987654321:function:aws-exec";

fn context(deadline_in: Duration) -> Context {
    let mut ctx = Context::default();
    ctx.invoked_function_arn = FUNCTION_ARN.into();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    ctx.deadline = (now + deadline_in).as_millis() as u64;
    ctx.request_id = "test-request".into();
    ctx
}

impl Fixture {
    /// The function an event is for, as the stack routes it: a job to the jobs function,
    /// everything else to the API function.
    fn function_for(&self, payload: &Value) -> &LambdaApp {
        match payload.get(JOB_EVENT_KEY) {
            Some(_) => &self.jobs,
            None => &self.api,
        }
    }

    async fn handle(
        &self,
        payload: Value,
        context: Context,
    ) -> Result<Value, lambda_runtime::Error> {
        self.function_for(&payload)
            .handle(LambdaEvent::new(payload, context))
            .await
    }

    async fn call(&self, payload: Value) -> Value {
        self.handle(payload, context(Duration::from_secs(900)))
            .await
            .expect("handled")
    }

    /// An HTTP event's response: status and JSON body.
    async fn http(&self, payload: Value) -> (u16, Value) {
        let resp = self.call(payload).await;
        let status = resp["statusCode"].as_u64().unwrap() as u16;
        let body = resp["body"].as_str().unwrap_or("");
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    /// Submits `body` through the HTTP API as alice; answers the uid.
    async fn submit(&self, body: Value) -> String {
        let (status, answer) = self
            .http(request("POST", "/api/exec", &self.key, Some(body)))
            .await;
        assert_eq!(status, 200, "{answer}");
        answer["uid"].as_str().unwrap().to_owned()
    }

    /// Delivers every recorded self-invocation to the handler, as Lambda would.
    async fn deliver(&self) -> Vec<Value> {
        let pending: Vec<Invocation> = self.recorded.lock().unwrap().drain(..).collect();
        let mut out = Vec::new();
        for inv in pending {
            out.push(self.call(inv.payload).await);
        }
        out
    }
}

#[tokio::test]
async fn rest_api_v1_submit_self_invokes_and_the_runner_writes_the_job() {
    let f = fixture().await;
    let (status, body) = f
        .http(event("apigw-v1-post-exec.json", &[("__AUTH__", &f.key)]))
        .await;
    assert_eq!(status, 200, "{body}");
    let uid = body["uid"].as_str().unwrap().to_owned();

    let recorded = f.recorded.lock().unwrap().clone();
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        recorded[0].path,
        "/2015-03-31/functions/aws-exec-jobs/invocations"
    );
    assert_eq!(recorded[0].invocation_type, "Event");
    assert_eq!(recorded[0].payload[JOB_EVENT_KEY]["uid"], uid.as_str());
    // Its owner's execution environments, and no other owner's, run it.
    assert_eq!(recorded[0].tenant, "alice");

    let results = f.deliver().await;
    assert_eq!(results[0]["exit"], 4);
    let keys = JobKeys::new(&"alice".parse().unwrap(), &uid.parse().unwrap());
    assert_eq!(
        f.store.get(&keys.log()).await.unwrap().unwrap(),
        "from-rest-api\n"
    );
    assert_eq!(f.store.get(&keys.exit()).await.unwrap().unwrap(), "4");
    assert_eq!(f.store.get(&keys.size()).await.unwrap().unwrap(), "14");
    // Its meta says what it used, and on Lambda what that cost at the function's memory.
    let meta: aws_exec_protocol::JobMeta =
        serde_json::from_slice(&f.store.get(&keys.meta()).await.unwrap().unwrap()).unwrap();
    let usage = meta.usage.expect("usage recorded");
    assert_eq!(usage.log_bytes, 14);
    let billed = usage.billed_ms.expect("billed on Lambda");
    assert!(billed >= usage.wall_ms, "{usage:?}");
    // At 1 GiB: the GB-second price times the billed seconds, plus the request.
    let expected = (billed as f64 / 1000.0 * 13_333.4 + 200.0).round() as u64;
    assert!(
        usage.cost_nano_usd.unwrap().abs_diff(expected) <= 1,
        "{usage:?}"
    );

    // The same event delivered again (Lambda retries, duplicates) does not run it twice.
    let again = f.call(recorded[0].payload.clone()).await;
    assert_eq!(again["ran"], false);
}

/// The job event names a job's secrets; the runner reads their values itself, so no
/// value travels in the invocation, and the log masks it.
#[tokio::test]
async fn a_jobs_secrets_travel_by_name_and_the_runner_reads_them() {
    let f = fixture().await;
    let value = "lambda-secret-value-77";
    // Set through the function's HTTP API, as `aws-exec secret set` does.
    let mut put = event("apigw-v1-post-exec.json", &[("__AUTH__", &f.key)]);
    put["path"] = "/api/secrets/API_TOKEN".into();
    put["httpMethod"] = "PUT".into();
    put["pathParameters"]["proxy"] = "api/secrets/API_TOKEN".into();
    put["requestContext"]["path"] = "/prod/api/secrets/API_TOKEN".into();
    put["requestContext"]["httpMethod"] = "PUT".into();
    put["body"] = serde_json::json!({ "value": value }).to_string().into();
    let (status, body) = f.http(put).await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.to_string().contains(value), "{body}");
    let request = serde_json::json!({
        "argv": ["sh", "-c", "echo token=$API_TOKEN; exit 4"],
        "secrets": ["API_TOKEN"],
    });
    let mut submit = event("apigw-v1-post-exec.json", &[("__AUTH__", &f.key)]);
    submit["body"] = Value::String(request.to_string());
    let (status, body) = f.http(submit).await;
    assert_eq!(status, 200, "{body}");
    let uid = body["uid"].as_str().unwrap().to_owned();
    let recorded = f.recorded.lock().unwrap().clone();
    let payload = recorded[0].payload.to_string();
    assert!(payload.contains("API_TOKEN"), "{payload}");
    assert!(!payload.contains(value), "{payload}");
    let results = f.deliver().await;
    assert_eq!(results[0]["exit"], 4);
    let keys = JobKeys::new(&"alice".parse().unwrap(), &uid.parse().unwrap());
    assert_eq!(
        f.store.get(&keys.log()).await.unwrap().unwrap(),
        "token=***\n"
    );
}

#[tokio::test]
async fn http_api_v2_polls_get_a_url_then_the_exit() {
    let f = fixture().await;
    let (_, body) = f
        .http(event("apigw-v1-post-exec.json", &[("__AUTH__", &f.key)]))
        .await;
    let uid = body["uid"].as_str().unwrap().to_owned();
    f.deliver().await;
    let poll = |start: &str| {
        event(
            "apigw-v2-get-exec.json",
            &[
                ("__AUTH__", &f.key),
                ("__UID__", &uid),
                ("__START__", start),
            ],
        )
    };
    let (status, body) = f.http(poll("0")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["url"]
        .as_str()
        .unwrap()
        .starts_with("https://api.exec.example.net/_store/jobs/alice/"));
    let (status, body) = f.http(poll("14")).await;
    assert_eq!((status, &body["exit"]), (200, &Value::from(4)));

    let (status, body) = f
        .http(event(
            "apigw-v2-get-exec.json",
            &[("__AUTH__", "wrong"), ("__UID__", &uid), ("__START__", "0")],
        ))
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "auth key not recognised");
}

#[tokio::test]
async fn function_url_events_with_base64_bodies_reach_the_router() {
    let f = fixture().await;
    let (status, body) = f
        .http(event(
            "function-url-post-exec.json",
            &[("__AUTH__", &f.key)],
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let uid = body["uid"].as_str().unwrap().to_owned();
    f.deliver().await;
    let keys = JobKeys::new(&"alice".parse().unwrap(), &uid.parse().unwrap());
    assert_eq!(
        f.store.get(&keys.log()).await.unwrap().unwrap(),
        "via-function-url\n"
    );
}

#[tokio::test]
async fn the_page_is_served_through_lambda_with_its_headers() {
    let f = fixture().await;
    let resp = f.call(event("apigw-v2-get-page.json", &[])).await;
    assert_eq!(resp["statusCode"], 200);
    assert!(resp["body"]
        .as_str()
        .unwrap()
        .contains("<title>aws-exec</title>"));
    let csp = resp["headers"]["content-security-policy"].as_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"));
}

/// Writes a job as the API and a runner would have left it: its meta with `submitted` (and
/// `started`, if any) in seconds since the epoch, and its open marker unless it is finished.
async fn stored_job(
    store: &dyn Store,
    submitted: u64,
    started: Option<u64>,
    state: &str,
) -> JobKeys {
    let uid = aws_exec_protocol::Uid::new(submitted);
    let owner: aws_exec_protocol::AuthName = "alice".parse().unwrap();
    let keys = JobKeys::new(&owner, &uid);
    let mut meta = serde_json::json!({
        "uid": uid, "owner": "alice", "state": state, "submitted": submitted,
        "command": {"kind": "argv", "argv": ["sleep", "900"]},
    });
    if let Some(started) = started {
        meta["started"] = started.into();
        store
            .put(&keys.claim(), started.to_string().into())
            .await
            .unwrap();
    }
    store
        .put(&keys.meta(), meta.to_string().into())
        .await
        .unwrap();
    if state == "queued" || state == "running" {
        let open = aws_exec_protocol::keys::open_job(&owner, &uid);
        store.put(&open, "".into()).await.unwrap();
    }
    keys
}

fn uid_of(keys: &JobKeys) -> String {
    keys.uid().to_owned()
}

#[tokio::test]
async fn a_schedule_event_closes_only_jobs_that_cannot_still_be_running() {
    let f = fixture().await;
    let store = f.store.as_ref();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Started an hour ago, wrote some log, never finished: its runner died.
    let died = stored_job(store, now - 3700, Some(now - 3600), "running").await;
    store.put(&died.log(), "partial".into()).await.unwrap();
    // Submitted 50 minutes ago but started only a minute ago (a throttled function's event
    // waited in the queue): it is running, and must be left alone.
    let late = stored_job(store, now - 3000, Some(now - 60), "running").await;
    // Queued two hours ago, never started: no event waits that long.
    let never = stored_job(store, now - 7200, None, "queued").await;
    // Queued half an hour ago: its event may still come.
    let waiting = stored_job(store, now - 1800, None, "queued").await;
    // Finished long ago: no open marker, not even looked at.
    let done = stored_job(store, now - 7200, Some(now - 7200), "exited").await;
    store.put(&done.size(), "0".into()).await.unwrap();
    // Cancelled while queued, by a cancel that stopped after claiming it: ended as cancelled.
    let cancelled = stored_job(store, now - 60, None, "queued").await;
    store
        .put(&cancelled.claim(), "cancelled".into())
        .await
        .unwrap();

    let report = f.call(event("eventbridge-schedule.json", &[])).await;
    assert_eq!(report["open"], 5, "{report}");
    assert_eq!(report["completed"], serde_json::json!([uid_of(&cancelled)]));
    assert_eq!(store.get(&cancelled.exit()).await.unwrap().unwrap(), "143");
    let meta: Value =
        serde_json::from_slice(&store.get(&cancelled.meta()).await.unwrap().unwrap()).unwrap();
    assert_eq!(meta["state"], "cancelled");
    let mut lost: Vec<String> = serde_json::from_value(report["lost"].clone()).unwrap();
    lost.sort();
    let mut expected = vec![uid_of(&died), uid_of(&never)];
    expected.sort();
    assert_eq!(lost, expected, "{report}");

    let log = store.get(&died.log()).await.unwrap().unwrap();
    assert_eq!(log, "partial", "earlier log kept, and nothing added to it");
    assert_eq!(store.get(&died.exit()).await.unwrap().unwrap(), "255");
    assert_eq!(
        store.get(&died.size()).await.unwrap().unwrap(),
        log.len().to_string()
    );
    let meta: Value =
        serde_json::from_slice(&store.get(&died.meta()).await.unwrap().unwrap()).unwrap();
    assert_eq!(meta["state"], "lost");
    assert!(
        meta["notes"][0].as_str().unwrap().contains("job lost"),
        "{meta}"
    );
    let never_meta: Value =
        serde_json::from_slice(&store.get(&never.meta()).await.unwrap().unwrap()).unwrap();
    assert!(
        never_meta["notes"][0]
            .as_str()
            .unwrap()
            .contains("never started"),
        "{never_meta}"
    );
    assert_eq!(
        store.get(&never.claim()).await.unwrap().unwrap(),
        "lost",
        "a late event for it finds it claimed and does not run it"
    );
    for (keys, what) in [(&late, "a late-started job"), (&waiting, "a queued job")] {
        assert!(
            store.get(&keys.exit()).await.unwrap().is_none(),
            "{what} is left alone"
        );
        assert!(
            store.get(&keys.end()).await.unwrap().is_none(),
            "{what} is left alone"
        );
    }
    assert!(
        store.get(&done.exit()).await.unwrap().is_none(),
        "a finished job is not touched"
    );

    // A second sweep looks only at the two still open, and ends nothing.
    let again = f.call(event("eventbridge-schedule.json", &[])).await;
    assert_eq!(again["open"], 2, "{again}");
    assert_eq!(again["lost"], serde_json::json!([]));
}

#[tokio::test]
async fn the_runner_stops_a_job_before_the_invocations_deadline() {
    let f = fixture().await;
    let submit = serde_json::json!({"argv": ["bash", "-c", "echo started; sleep 120"]}).to_string();
    let mut post = event("apigw-v1-post-exec.json", &[("__AUTH__", &f.key)]);
    post["body"] = Value::from(submit);
    let (_, body) = f.http(post).await;
    let uid = body["uid"].as_str().unwrap().to_owned();
    let payload = f.recorded.lock().unwrap()[0].payload.clone();
    let started = Instant::now();
    // 6 s left: the runner keeps a quarter back (at most 10 s) to stop and write.
    let deadline = Duration::from_secs(6);
    let result = f.handle(payload, context(deadline)).await.unwrap();
    let took = started.elapsed();
    assert!(
        took < deadline,
        "exit and size written by the deadline: took {took:?}"
    );
    assert!(
        took > Duration::from_secs(4),
        "the command got most of the time: {took:?}"
    );
    assert_eq!(
        result["exit"], 124,
        "a job stopped for time exits 124, as timeout(1)"
    );
    let keys = JobKeys::new(&"alice".parse().unwrap(), &uid.parse().unwrap());
    let log = f.store.get(&keys.log()).await.unwrap().unwrap();
    let log = String::from_utf8_lossy(&log);
    assert_eq!(log, "started\n");
    let meta: Value =
        serde_json::from_slice(&f.store.get(&keys.meta()).await.unwrap().unwrap()).unwrap();
    assert!(
        meta["notes"][0].as_str().unwrap().contains("deadline"),
        "{meta}"
    );
    let meta: Value =
        serde_json::from_slice(&f.store.get(&keys.meta()).await.unwrap().unwrap()).unwrap();
    assert_eq!(meta["state"], "timed-out");
    assert!(
        f.store.get(&keys.size()).await.unwrap().is_some(),
        "size is written in time"
    );
}

#[tokio::test]
async fn job_events_a_request_could_not_make_are_refused_without_running() {
    let f = fixture().await;
    let uid = aws_exec_protocol::Uid::new(1_700_000_000);
    for job in [
        serde_json::json!({"owner": "alice", "uid": uid, "command": {"kind": "argv", "argv": []}}),
        serde_json::json!({"owner": "alice", "uid": uid, "command": {"kind": "argv", "argv": [""]}}),
        serde_json::json!({"owner": "alice", "uid": uid, "command": {"kind": "rpc", "rpc-name": "", "rpc-args": "null"}}),
        serde_json::json!({"owner": "alice", "uid": uid, "command": {"kind": "argv", "argv": ["true"]},
            "push-urls": {"log": "file:///etc/passwd", "exit": "http://x/e", "size": "http://x/s"}}),
    ] {
        let event = serde_json::json!({ JOB_EVENT_KEY: job });
        let handled = f.handle(event, context(Duration::from_secs(60))).await;
        assert!(handled.is_err(), "refused: {job}");
    }
    let keys = JobKeys::new(&"alice".parse().unwrap(), &uid);
    assert!(
        f.store.get(&keys.claim()).await.unwrap().is_none(),
        "nothing ran"
    );
}

#[tokio::test]
async fn an_end_written_first_by_housekeeping_is_never_overwritten_by_a_late_runner() {
    let f = fixture().await;
    let (_, body) = f
        .http(event("apigw-v1-post-exec.json", &[("__AUTH__", &f.key)]))
        .await;
    let uid: aws_exec_protocol::Uid = body["uid"].as_str().unwrap().parse().unwrap();
    let keys = JobKeys::new(&"alice".parse().unwrap(), &uid);
    // Housekeeping ended the job (its end claimed and exit written) just before the
    // delayed event reaches a runner.
    let end = aws_exec_protocol::JobEnd {
        exit: 255,
        state: aws_exec_protocol::JobState::Lost,
        finished: 1,
    };
    f.store
        .put(&keys.end(), serde_json::to_vec(&end).unwrap().into())
        .await
        .unwrap();
    f.store.put(&keys.exit(), "255".into()).await.unwrap();
    let results = f.deliver().await;
    assert_eq!(results[0]["ran"], true, "{results:?}");
    assert_eq!(
        results[0]["exit"],
        Value::Null,
        "the runner backed off: {results:?}"
    );
    assert_eq!(f.store.get(&keys.exit()).await.unwrap().unwrap(), "255");
    let stored: aws_exec_protocol::JobEnd =
        serde_json::from_slice(&f.store.get(&keys.end()).await.unwrap().unwrap()).unwrap();
    assert_eq!(stored, end);
}

#[tokio::test]
async fn a_runner_that_loses_its_jobs_end_to_housekeeping_writes_nothing_more() {
    let f = fixture().await;
    let body = serde_json::json!({"argv": ["sh", "-c", "echo before; sleep 4; echo after"]});
    let uid = f.submit(body).await;
    let keys = JobKeys::new(&"alice".parse().unwrap(), &uid.parse().unwrap());
    // While the runner is alive, housekeeping closes the job.
    let (ran, report, took) = run_while_swept(&f).await;
    assert_eq!(report.lost, std::slice::from_ref(&uid));
    assert!(took < Duration::from_secs(4), "the runner stopped at once");
    assert_eq!(
        ran[0]["exit"],
        Value::Null,
        "its own end was not recorded: {ran:?}"
    );
    let log = f.store.get(&keys.log()).await.unwrap().unwrap();
    let size: usize = std::str::from_utf8(&f.store.get(&keys.size()).await.unwrap().unwrap())
        .unwrap()
        .parse()
        .unwrap();
    let text = String::from_utf8_lossy(&log);
    assert_eq!(log.len(), size, "{text}");
    assert_eq!(text, "before\n", "the job's bytes, nothing after the close");
    let meta: Value =
        serde_json::from_slice(&f.store.get(&keys.meta()).await.unwrap().unwrap()).unwrap();
    assert!(
        meta["notes"][0].as_str().unwrap().contains("job lost"),
        "{meta}"
    );
    assert!(!text.contains("after"), "{text}");
    assert_eq!(f.store.get(&keys.exit()).await.unwrap().unwrap(), "255");
}

#[test]
fn an_event_that_meets_a_transient_error_is_delivered_again() {
    let infra =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra.yaml")).unwrap();
    let retries: u32 = infra
        .lines()
        .find_map(|l| l.trim().strip_prefix("MaximumRetryAttempts:"))
        .expect("infra.yaml sets MaximumRetryAttempts")
        .trim()
        .parse()
        .unwrap();
    assert!(retries >= 1, "a failed firing or upload must be retried");
    assert!(infra.contains("MAX_JOBS_PER_USER: !Ref MaxJobsPerUser"));
}

/// The function with schedules set up on moto, and alice's schedule "nightly" (an echo of
/// "fired" at 02:00), whose firing `scheduler-firing.json` delivers.
async fn with_nightly_schedule() -> (aws_exec_testkit::S3Server, Fixture) {
    let (moto, aws) = scheduler_on_moto().await;
    let f = fixture_on(&aws).await;
    let spec = serde_json::json!({
        "cron": "0 2 * * *",
        "exec": {"rpc-name": "echo", "rpc-args": "{\"text\": \"fired\"}"},
    });
    let (status, body) = f
        .http(request("PUT", "/api/schedules/nightly", &f.key, Some(spec)))
        .await;
    assert_eq!(status, 200, "{body}");
    (moto, f)
}

#[tokio::test]
async fn a_firing_that_meets_a_transient_error_fails_for_a_retry_and_starts_one_job() {
    let (_moto, f) = with_nightly_schedule().await;
    // Lambda's Invoke refuses every attempt of the SDK's: the firing fails, so that Lambda
    // delivers it again, and leaves no job behind.
    f.failing.store(10, Ordering::SeqCst);
    let failed = f
        .handle(
            event("scheduler-firing.json", &[]),
            context(Duration::from_secs(60)),
        )
        .await;
    assert!(failed.is_err(), "{failed:?}");
    f.failing.store(0, Ordering::SeqCst);
    // No half-made job: nothing listed or open; only the run claim that fences a late
    // delivery of the invoke that failed.
    for prefix in ["index/alice/", "open/alice/"] {
        assert!(f.store.list(prefix).await.unwrap().is_empty(), "{prefix}");
    }
    let left = f.store.list("jobs/alice/").await.unwrap();
    assert!(left.iter().all(|k| k.ends_with("/claim")), "{left:?}");
    // Delivered again (and again): one job.
    let first = f.call(event("scheduler-firing.json", &[])).await;
    let again = f.call(event("scheduler-firing.json", &[])).await;
    assert_eq!(first["uid"], again["uid"], "{first} {again}");
    assert_eq!(f.deliver().await.len(), 1);
}

#[tokio::test]
async fn a_user_past_max_jobs_per_user_is_answered_429() {
    let f = fixture().await;
    let submit = || {
        request(
            "POST",
            "/api/exec",
            &f.key,
            Some(serde_json::json!({"argv": ["true"]})),
        )
    };
    for _ in 0..MAX_JOBS_PER_USER {
        let (status, body) = f.http(submit()).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = f.http(submit()).await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("MAX_JOBS_PER_USER"),
        "{body}"
    );
    // Once they have run, there is room again.
    f.deliver().await;
    let (status, body) = f.http(submit()).await;
    assert_eq!(status, 200, "{body}");
}

#[test]
fn housekeeping_and_infra_agree_on_the_longest_event_wait() {
    let infra =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra.yaml")).unwrap();
    let secs = aws_exec_protocol::limits::MAX_EVENT_AGE.as_secs();
    assert!(
        infra.contains(&format!("MaximumEventAgeInSeconds: {secs}")),
        "infra.yaml's MaximumEventAgeInSeconds must be {secs}"
    );
}

/// An HTTP API v2 request to this function.
fn request(method: &str, path: &str, key: &str, body: Option<Value>) -> Value {
    let body = match body {
        Some(body) => serde_json::to_string(&body.to_string()).unwrap(),
        None => "null".to_owned(),
    };
    event(
        "apigw-v2-request.json",
        &[
            ("__METHOD__", method),
            ("__PATH__", path),
            ("__AUTH__", key),
            ("__BODY__", &body),
        ],
    )
}

const GROUP: &str = "aws-exec-schedules";
const ROLE: &str = "arn:aws:iam::210987654321:role/aws-exec-scheduler";

/// EventBridge Scheduler on moto_server, with the group infra.yaml makes.
async fn scheduler_on_moto() -> (aws_exec_testkit::S3Server, aws_sdk_scheduler::Client) {
    let moto = aws_exec_testkit::S3Server::moto();
    let client = aws_sdk_scheduler::Client::new(&aws_exec_testkit::s3::sdk_config(&moto.endpoint));
    client
        .create_schedule_group()
        .name(GROUP)
        .send()
        .await
        .expect("schedule group created");
    (moto, client)
}

/// The fixture with EventBridge Scheduler `aws` (on moto) as its scheduler.
async fn fixture_on(aws: &aws_sdk_scheduler::Client) -> Fixture {
    fixture_with(Some(Arc::new(EventBridgeScheduler::new(
        aws.clone(),
        GROUP,
        ROLE,
    ))))
    .await
}

#[tokio::test]
async fn a_schedule_is_an_eventbridge_schedule_that_invokes_this_function() {
    let (_moto, aws) = scheduler_on_moto().await;
    let f = fixture_on(&aws).await;
    let spec = serde_json::json!({
        "cron": "0 3 * * 1-5", "tz": "Europe/Berlin",
        "exec": {"rpc-name": "echo", "rpc-args": "{\"text\": \"nightly run\"}", "timeout": 600},
    });
    let (status, body) = f
        .http(request("PUT", "/api/schedules/nightly", &f.key, Some(spec)))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["next"].as_u64().is_some());

    let made = aws
        .get_schedule()
        .group_name(GROUP)
        .name("alice.nightly")
        .send()
        .await
        .expect("the schedule exists");
    assert_eq!(
        made.schedule_expression(),
        Some("cron(0 3 ? * MON,TUE,WED,THU,FRI *)")
    );
    assert_eq!(made.schedule_expression_timezone(), Some("Europe/Berlin"));
    assert_eq!(
        made.flexible_time_window().map(|w| w.mode().as_str()),
        Some("OFF")
    );
    let target = made.target().expect("a target");
    assert_eq!(target.arn(), FUNCTION_ARN);
    assert_eq!(target.role_arn(), ROLE);
    let input: Value = serde_json::from_str(target.input().unwrap()).unwrap();
    assert_eq!(
        input,
        serde_json::json!({"aws-exec-schedule": {
            "owner": "alice", "name": "nightly", "at": "<aws.scheduler.scheduled-time>"
        }})
    );

    // Replacing the definition updates the same schedule.
    let spec = serde_json::json!({"cron": "30 4 1 * *", "exec": {"argv": ["true"]}});
    let (status, _) = f
        .http(request("PUT", "/api/schedules/nightly", &f.key, Some(spec)))
        .await;
    assert_eq!(status, 200);
    let made = aws
        .get_schedule()
        .group_name(GROUP)
        .name("alice.nightly")
        .send()
        .await
        .unwrap();
    assert_eq!(made.schedule_expression(), Some("cron(30 4 1 * ? *)"));
    assert_eq!(made.schedule_expression_timezone(), Some("UTC"));

    // What EventBridge cannot run is refused before anything is stored.
    for cron in ["*/5 * * * * *", "0 3 1 * 1"] {
        let spec = serde_json::json!({"cron": cron, "exec": {"argv": ["true"]}});
        let (status, body) = f
            .http(request("PUT", "/api/schedules/other", &f.key, Some(spec)))
            .await;
        assert_eq!(status, 400, "{cron}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("EventBridge"),
            "{body}"
        );
    }
    let (_, listed) = f.http(request("GET", "/api/schedules", &f.key, None)).await;
    assert_eq!(listed["schedules"].as_array().unwrap().len(), 1, "{listed}");

    let (status, _) = f
        .http(request("DELETE", "/api/schedules/nightly", &f.key, None))
        .await;
    assert_eq!(status, 200);
    let gone = aws
        .get_schedule()
        .group_name(GROUP)
        .name("alice.nightly")
        .send()
        .await;
    assert!(gone.is_err(), "the EventBridge schedule is deleted too");
}

#[tokio::test]
async fn a_scheduler_firing_starts_one_job_however_often_it_is_delivered() {
    let (_moto, f) = with_nightly_schedule().await;

    // EventBridge Scheduler delivers at least once: the same firing twice.
    let first = f.call(event("scheduler-firing.json", &[])).await;
    let again = f.call(event("scheduler-firing.json", &[])).await;
    let uid = first["uid"].as_str().expect("a job started").to_owned();
    assert_eq!(again["uid"], uid.as_str(), "{again}");
    assert_eq!(first["at"], 1_795_572_000u64);
    let results = f.deliver().await;
    assert_eq!(results.len(), 1, "one job dispatched");
    let keys = JobKeys::new(&"alice".parse().unwrap(), &uid.parse().unwrap());
    assert_eq!(f.store.get(&keys.log()).await.unwrap().unwrap(), "fired\n");
    let meta: Value =
        serde_json::from_slice(&f.store.get(&keys.meta()).await.unwrap().unwrap()).unwrap();
    assert_eq!(meta["schedule"], "nightly");

    // A firing for a schedule deleted since starts nothing and fails no one.
    let (status, _) = f
        .http(request("DELETE", "/api/schedules/nightly", &f.key, None))
        .await;
    assert_eq!(status, 200);
    let late = f
        .call(event("scheduler-firing.json", &[("02:00", "03:00")]))
        .await;
    assert!(
        late["dropped"]
            .as_str()
            .unwrap()
            .contains("no schedule nightly"),
        "answered, not failed, so the scheduler does not retry it: {late}"
    );
    assert!(f.deliver().await.is_empty());
}

#[tokio::test]
async fn schedules_answer_503_naming_what_is_missing_when_not_set_up() {
    let f = fixture().await;
    let spec = serde_json::json!({"cron": "0 3 * * *", "exec": {"argv": ["true"]}});
    let (status, body) = f
        .http(request("PUT", "/api/schedules/nightly", &f.key, Some(spec)))
        .await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("SCHEDULE_GROUP"),
        "{body}"
    );
    let (_, listed) = f.http(request("GET", "/api/schedules", &f.key, None)).await;
    assert_eq!(
        listed["schedules"],
        serde_json::json!([]),
        "nothing half-stored"
    );
}

#[tokio::test]
async fn an_s3_upload_event_fires_the_owners_trigger_once_with_the_file_as_input() {
    let f = fixture().await;
    let trigger = serde_json::json!({
        "prefix": "photos/",
        "exec": {"argv": ["sh", "-c", "echo \"$AWS_EXEC_INPUT_PATH\"; cat \"$AWS_EXEC_INPUT\""]},
    });
    let (status, body) = f
        .http(request(
            "PUT",
            "/api/triggers/thumbs",
            &f.key,
            Some(trigger),
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    // The object the event names, as the upload left it.
    f.store
        .put("inbox/alice/photos/my cat(1).jpg", "hello photo".into())
        .await
        .unwrap();

    let first = f.call(event("s3-object-created.json", &[])).await;
    let again = f.call(event("s3-object-created.json", &[])).await;
    assert_eq!(first["started"].as_array().unwrap().len(), 1, "{first}");
    assert_eq!(
        again["started"], first["started"],
        "a redelivery starts nothing new"
    );
    let uid = first["started"][0].as_str().unwrap().to_owned();
    assert_eq!(f.deliver().await.len(), 1);
    let keys = JobKeys::new(&"alice".parse().unwrap(), &uid.parse().unwrap());
    assert_eq!(
        f.store.get(&keys.log()).await.unwrap().unwrap(),
        "photos/my cat(1).jpg\nhello photo"
    );
    let meta: Value =
        serde_json::from_slice(&f.store.get(&keys.meta()).await.unwrap().unwrap()).unwrap();
    assert_eq!(meta["trigger"], "thumbs");

    // Another key (a new sequencer) fires again; one outside the prefix does not.
    let other = event(
        "s3-object-created.json",
        &[("0067442A3B7E1F9C2D", "0067442A3B7E1F9C3E")],
    );
    assert_eq!(f.call(other).await["started"].as_array().unwrap().len(), 1);
    let outside = event(
        "s3-object-created.json",
        &[("inbox/alice/photos/", "inbox/alice/docs/")],
    );
    assert_eq!(f.call(outside).await["started"], serde_json::json!([]));
}

/// A retried job on Lambda: the attempt that fails hands the job back and a one-shot
/// EventBridge schedule wakes the function when the next is due (not a sleep in the
/// invocation); that wake-up starts the attempt with a self-invoke, and the log goes on.
#[tokio::test]
async fn a_failed_attempt_on_lambda_is_woken_by_a_one_shot_schedule_and_runs_again() {
    let (_moto, aws) = scheduler_on_moto().await;
    let f = fixture_on(&aws).await;
    let body = serde_json::json!({
        "argv": ["bash", "-c", "echo \"try $AWS_EXEC_ATTEMPT\"; [ \"$AWS_EXEC_ATTEMPT\" = 2 ] || exit 75"],
        "retry": {"attempts": 2, "delay": 2},
    });
    let uid = f.submit(body).await;
    let first = f.deliver().await;
    assert_eq!(first[0]["ran"], true, "{first:?}");
    assert_eq!(first[0]["exit"], Value::Null, "no end yet: {first:?}");
    // The jobs function tells the API function, which sets the wake-up.
    let after: Vec<Invocation> = f.recorded.lock().unwrap().clone();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(
        after[0].path,
        format!("/2015-03-31/functions/{API_FUNCTION}/invocations")
    );
    assert_eq!(after[0].tenant, "", "the API function is no tenant's");
    assert_eq!(f.deliver().await[0]["after-job"], "done");

    let keys = JobKeys::new(&"alice".parse().unwrap(), &uid.parse().unwrap());
    let meta: aws_exec_protocol::JobMeta =
        serde_json::from_slice(&f.store.get(&keys.meta()).await.unwrap().unwrap()).unwrap();
    assert_eq!(meta.state, aws_exec_protocol::JobState::Queued);
    let due = meta.retry_at.expect("the next attempt's time");
    assert!(f.store.get(&keys.exit()).await.unwrap().is_none());

    // The wake-up: one schedule at that second, invoking this function, gone once fired.
    let name = format!("aws-exec-retry-{due}");
    let made = aws
        .get_schedule()
        .group_name(GROUP)
        .name(&name)
        .send()
        .await
        .expect("a one-shot schedule");
    let at = chrono::DateTime::from_timestamp(due as i64, 0).unwrap();
    assert_eq!(
        made.schedule_expression(),
        Some(format!("at({})", at.format("%Y-%m-%dT%H:%M:%S")).as_str())
    );
    assert_eq!(
        made.action_after_completion().map(|a| a.as_str()),
        Some("DELETE")
    );
    let target = made.target().unwrap();
    assert_eq!(target.arn(), FUNCTION_ARN);
    let wake: Value = serde_json::from_str(target.input().unwrap()).unwrap();
    assert_eq!(wake, serde_json::json!({"aws-exec-retry": {"at": due}}));

    // Fired early (a clock apart), it starts nothing; at its time, the next attempt.
    f.call(wake.clone()).await;
    if now_secs() < due {
        assert!(f.recorded.lock().unwrap().is_empty());
    }
    while now_secs() < due {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    f.call(wake).await;
    let second = f.deliver().await;
    assert_eq!(second.len(), 1, "one attempt started: {second:?}");
    assert_eq!(second[0]["exit"], 0, "{second:?}");
    assert_eq!(
        f.store.get(&keys.log()).await.unwrap().unwrap(),
        "try 1\n[aws-exec] attempt 2 of 2\ntry 2\n"
    );
    assert_eq!(f.store.get(&keys.exit()).await.unwrap().unwrap(), "0");
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// On Lambda, a job whose timeout Lambda cannot run goes to Fargate (RunTask on moto, its
/// task told where the job is), and a short one self-invokes as ever.
#[tokio::test]
async fn a_long_timeout_dispatches_to_fargate_and_a_short_one_self_invokes() {
    let moto = aws_exec_testkit::S3Server::moto();
    let ecs = aws_exec_testkit::LongRunner::on(&moto);
    let config = ecs.config("svc");
    let tasks = aws_exec_backend::dispatch::FargateTasks::new(ecs.client.clone(), config);
    let f = fixture_full(None, Some(Arc::new(tasks))).await;
    let submit = |timeout: u64| {
        request(
            "POST",
            "/api/exec",
            &f.key,
            Some(serde_json::json!({"argv": ["true"], "timeout": timeout})),
        )
    };
    let (status, long) = f.http(submit(3600)).await;
    assert_eq!(status, 200, "{long}");
    let started = ecs.tasks().await;
    assert_eq!(started.len(), 1);
    let command = started[0].overrides().unwrap().container_overrides()[0].command();
    assert_eq!(command, ["run-job", "alice", long["uid"].as_str().unwrap()]);
    assert!(f.recorded.lock().unwrap().is_empty(), "no self-invoke");

    let (status, short) = f.http(submit(60)).await;
    assert_eq!(status, 200, "{short}");
    assert_eq!(ecs.tasks().await.len(), 1, "no second task");
    let recorded = f.recorded.lock().unwrap().clone();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].payload[JOB_EVENT_KEY]["uid"], short["uid"]);
}

/// A runner whose attempt housekeeping took for lost (a hung one, or one a clock misjudged)
/// must not write over the job it handed to the next attempt: it stops, writes no end and no
/// second hand-back, and the next attempt runs the job to its end.
#[tokio::test]
async fn a_runner_whose_attempt_was_taken_for_lost_writes_nothing_over_the_next() {
    let f = fixture().await;
    let body = serde_json::json!({
        "argv": ["bash", "-c", "echo \"try $AWS_EXEC_ATTEMPT\"; [ \"$AWS_EXEC_ATTEMPT\" = 2 ] || { sleep 3; echo stale; exit 1; }"],
        "retry": {"attempts": 2, "delay": 0},
    });
    let uid = f.submit(body).await;
    let keys = JobKeys::new(&"alice".parse().unwrap(), &uid.parse().unwrap());
    let (ran, report, took) = run_while_swept(&f).await;
    assert_eq!(report.retried, std::slice::from_ref(&uid), "{report:?}");
    assert!(took < Duration::from_secs(3), "it stopped at once");
    assert_eq!(ran[0]["exit"], Value::Null, "{ran:?}");
    assert_eq!(
        ran[0]["next-attempt"],
        Value::Null,
        "no second hand-back: {ran:?}"
    );
    assert!(f.store.get(&keys.end()).await.unwrap().is_none());
    let meta: aws_exec_protocol::JobMeta =
        serde_json::from_slice(&f.store.get(&keys.meta()).await.unwrap().unwrap()).unwrap();
    assert_eq!(
        (meta.state, meta.attempt, meta.attempts.len()),
        (aws_exec_protocol::JobState::Queued, Some(2), 1)
    );

    // The next attempt, started as a wake-up starts it, runs the job to its end.
    f.call(serde_json::json!({"aws-exec-retry": {"at": 0}}))
        .await;
    let second = f.deliver().await;
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(second[0]["exit"], 0, "{second:?}");
    let log = f.store.get(&keys.log()).await.unwrap().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&log),
        "try 1\n[aws-exec] attempt 2 of 2\ntry 2\n"
    );
}

/// Delivers the recorded invocations (a runner at work) while, 1.2 s in, housekeeping sweeps
/// every open job as a second serve or a misjudged clock would; answers both results and
/// how long the runner took.
async fn run_while_swept(
    f: &Fixture,
) -> (Vec<Value>, aws_exec_backend::housekeeping::Report, Duration) {
    let sweeping = async {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        aws_exec_backend::housekeeping::sweep(
            &f.store,
            aws_exec_backend::housekeeping::LostRule::AllOpen,
            None,
        )
        .await
        .unwrap()
    };
    let started = Instant::now();
    let (ran, report) = tokio::join!(f.deliver(), sweeping);
    (ran, report, started.elapsed())
}

/// Each function takes its own events only: the API function never runs a job (not even
/// one sent to it by mistake), and the jobs function answers nothing but jobs.
#[tokio::test]
async fn the_api_function_never_runs_a_job_and_the_jobs_function_nothing_else() {
    let f = fixture().await;
    let uid = f
        .submit(serde_json::json!({"argv": ["sh", "-c", "echo ran > /dev/null"]}))
        .await;
    let job = f.recorded.lock().unwrap()[0].payload.clone();
    let refused = f
        .api
        .handle(LambdaEvent::new(
            job.clone(),
            context(Duration::from_secs(60)),
        ))
        .await
        .expect_err("the API function refuses a job");
    assert!(
        refused.to_string().contains("never runs a job"),
        "{refused}"
    );
    let keys = JobKeys::new(&"alice".parse().unwrap(), &uid.parse().unwrap());
    assert!(
        f.store.get(&keys.claim()).await.unwrap().is_none(),
        "nothing ran"
    );

    let health = request("GET", "/api/health", "", None);
    let housekeeping =
        serde_json::json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
    for other in [health, housekeeping, event("scheduler-firing.json", &[])] {
        let refused = f
            .jobs
            .handle(LambdaEvent::new(
                other.clone(),
                context(Duration::from_secs(60)),
            ))
            .await
            .expect_err("the jobs function refuses it");
        assert!(
            refused.to_string().contains("jobs and nothing else"),
            "{other}: {refused}"
        );
    }
    // The job itself runs where it belongs.
    let ran = f
        .jobs
        .handle(LambdaEvent::new(job, context(Duration::from_secs(60))))
        .await
        .unwrap();
    assert_eq!(ran["exit"], 0);
}

/// A runner killed mid-job leaves the job's directory (its inputs, secret files, artifacts)
/// in the sandbox's scratch: the next runner there, and every job after, starts with the
/// work root empty.
#[tokio::test]
async fn the_work_root_is_empty_when_a_job_starts_after_a_runner_was_killed_mid_job() {
    let f = fixture().await;
    let scratch = tempfile::tempdir().unwrap();
    let work_root = scratch.path().join("aws-exec-jobs");
    let plant = || {
        let left = work_root.join("1700000000.3f2b1c3e-8d6e-4f0a-9b1e-0c1d2e3f4a5b");
        std::fs::create_dir_all(left.join("artifacts")).unwrap();
        std::fs::write(left.join("secret-file"), "a killed job's secret").unwrap();
    };
    plant();
    // The runner a new process in the same sandbox starts, as Lambda mode sets it up.
    let runner = Arc::new(Runner::new(
        f.store.clone(),
        Arc::new(Registry::new()),
        RunnerConfig {
            work_root: work_root.clone(),
            clean_scratch: Some(scratch.path().to_owned()),
            ..RunnerConfig::default()
        },
    ));
    let endpoint = aws_exec_testkit::s3::sdk_config("http://127.0.0.1:9");
    let jobs = LambdaApp::jobs(
        runner,
        LambdaDispatch::new(aws_sdk_lambda::Client::new(&endpoint), API_FUNCTION),
    );
    for _ in 0..2 {
        let uid = f
            .submit(serde_json::json!({"argv": ["sh", "-c", "ls -A \"$(dirname \"$HOME\")\""]}))
            .await;
        let job = f.recorded.lock().unwrap().drain(..).next().unwrap().payload;
        let ran = jobs
            .handle(LambdaEvent::new(job, context(Duration::from_secs(60))))
            .await
            .unwrap();
        assert_eq!(ran["exit"], 0, "{ran}");
        let keys = JobKeys::new(&"alice".parse().unwrap(), &uid.parse().unwrap());
        let log = f.store.get(&keys.log()).await.unwrap().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&log),
            format!("{uid}\n"),
            "only its own"
        );
        // And again while no job runs: the next job starts with it gone too.
        plant();
    }
}
