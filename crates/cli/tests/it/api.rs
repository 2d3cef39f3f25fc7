//! The HTTP API's answers to client mistakes: clear 4xx JSON errors, never a 500.

use aws_exec::commands::registry;
use aws_exec_client::ExecRequest;
use aws_exec_testkit::{json_of, run_sh, Service};
use reqwest::StatusCode;
use serde_json::Value;

async fn post(svc: &Service, auth: Option<&str>, body: &str) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/api/exec", svc.url()))
        .body(body.to_owned());
    if let Some(auth) = auth {
        req = req.header("auth", auth);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.expect("error bodies are JSON"))
}

async fn get(svc: &Service, auth: &str, query: &str) -> (StatusCode, Value) {
    get_path(svc, auth, &format!("/api/exec?{query}")).await
}

fn error_text(body: &Value) -> &str {
    body["error"].as_str().expect("an error field")
}

#[tokio::test]
async fn bad_submissions_get_400_with_a_reason() {
    let svc = Service::start(registry()).await;
    let key = svc.key.clone();
    for (body, needle) in [
        ("{not json", "malformed JSON"),
        ("[1,2]", "malformed JSON"),
        (r#"{"argv": "ls"}"#, "malformed JSON"),
        (r#"{"argv": []}"#, "empty"),
        (r#"{"argv": [""]}"#, "empty"),
        ("{}", "either"),
        (r#"{"rpc-args": "{}"}"#, "either"),
        (r#"{"argv": ["ls"], "rpc-name": "listdir"}"#, "both"),
        (
            r#"{"rpc-name": "listdir", "rpc-args": "{nope"}"#,
            "not valid JSON",
        ),
        (
            r#"{"rpc-name": "listdir", "rpc-args": "{\"pth\": 1}"}"#,
            "bad args",
        ),
    ] {
        let (status, resp) = post(&svc, Some(&key), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {resp}");
        assert!(error_text(&resp).contains(needle), "{body}: {resp}");
    }
    let huge = format!(r#"{{"argv": ["{}"]}}"#, "x".repeat(2 << 20));
    let (status, resp) = post(&svc, Some(&key), &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{resp}");
    svc.stop().await;
}

/// A misspelt field is a 400 naming it, not a job run without what it asked for; the Go
/// client's zero-valued fields are still known, and a schedule's request is held to the
/// same.
#[tokio::test]
async fn a_typo_in_a_request_is_a_400_naming_the_field() {
    let svc = Service::start(registry()).await;
    let key = svc.key.clone();
    let (status, resp) = post(&svc, Some(&key), r#"{"argv": ["true"], "timeoutt": 5}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{resp}");
    assert!(error_text(&resp).contains("timeoutt"), "{resp}");
    let go = r#"{"argv": ["true"], "rpc-name": "", "rpc-args": "", "push-urls": null}"#;
    let (status, resp) = post(&svc, Some(&key), go).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    let put = reqwest::Client::new()
        .put(format!("{}/api/schedules/nightly", svc.url()))
        .header("auth", &key)
        .body(r#"{"cron": "0 3 * * *", "exec": {"argv": ["true"], "secret": ["X"]}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::BAD_REQUEST);
    let body: Value = put.json().await.unwrap();
    assert!(error_text(&body).contains("secret"), "{body}");
    svc.stop().await;
}

#[tokio::test]
async fn unknown_rpc_is_404_and_names_the_known_ones() {
    let svc = Service::start(registry()).await;
    let (status, resp) = post(&svc, Some(&svc.key), r#"{"rpc-name": "nope"}"#).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(error_text(&resp).contains("listdir"), "{resp}");
    svc.stop().await;
}

#[tokio::test]
async fn missing_or_wrong_auth_is_401() {
    let svc = Service::start(registry()).await;
    let body = r#"{"argv": ["true"]}"#;
    let (status, resp) = post(&svc, None, body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(error_text(&resp).contains("auth"));
    let (status, _) = post(&svc, Some("wrong"), body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = post(&svc, Some(""), body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = get(&svc, "wrong", "uid=1.x").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "auth is checked before anything else"
    );
    svc.stop().await;
}

#[tokio::test]
async fn polls_for_unknown_or_malformed_uids_are_404_and_400() {
    let svc = Service::start(registry()).await;
    let (status, _) = get(
        &svc,
        &svc.key,
        "uid=1700000000.3f2b1c3e-8d6e-4f0a-9b1e-0c1d2e3f4a5b&range-start=0",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for query in [
        "uid=../../auth",
        "uid=",
        "range-start=0",
        "uid=1.x&range-start=-1",
    ] {
        let (status, resp) = get(&svc, &svc.key, query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {resp}");
    }
    svc.stop().await;
}

#[tokio::test]
async fn one_user_can_never_read_anothers_job() {
    let svc = Service::start(registry()).await;
    let bob = svc.new_user("bob").await;
    let alice_uid = svc
        .client()
        .submit(&ExecRequest::argv(["echo", "alice's secret"]))
        .await
        .unwrap();
    let (status, resp) = get(&svc, &bob, &format!("uid={alice_uid}&range-start=0")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{resp}");
    let err = svc
        .client_for(&bob)
        .tail(&alice_uid, |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    // Alice herself still can.
    assert_eq!(svc.client().tail(&alice_uid, |_| {}).await.unwrap(), 0);
    svc.stop().await;
}

#[tokio::test]
async fn range_start_past_the_end_is_400_and_at_the_end_gives_the_exit() {
    let svc = Service::start(registry()).await;
    let client = svc.client();
    let uid = client
        .submit(&ExecRequest::argv(["printf", "abc"]))
        .await
        .unwrap();
    assert_eq!(client.tail(&uid, |_| {}).await.unwrap(), 0);
    let (status, resp) = get(&svc, &svc.key, &format!("uid={uid}&range-start=3")).await;
    assert_eq!((status, resp["exit"].as_i64()), (StatusCode::OK, Some(0)));
    let (status, resp) = get(&svc, &svc.key, &format!("uid={uid}&range-start=4")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{resp}");
    svc.stop().await;
}

#[tokio::test]
async fn log_urls_behave_like_s3_presigned_urls() {
    let svc = Service::start(registry()).await;
    let client = svc.client();
    let uid = client
        .submit(&ExecRequest::argv(["printf", "hello world"]))
        .await
        .unwrap();
    client.tail(&uid, |_| {}).await.unwrap();
    let (_, resp) = get(&svc, &svc.key, &format!("uid={uid}&range-start=0")).await;
    let url = resp["url"].as_str().expect("a url").to_owned();
    let http = reqwest::Client::new();

    let whole = http.get(&url).send().await.unwrap();
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.bytes().await.unwrap(), "hello world");

    let part = http
        .get(&url)
        .header("range", "bytes=6-")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.headers()["content-range"], "bytes 6-10/11");
    assert_eq!(part.bytes().await.unwrap(), "world");

    let end = http
        .get(&url)
        .header("range", "bytes=11-")
        .send()
        .await
        .unwrap();
    assert_eq!(end.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    let tampered = url.replace("log.txt", "exit");
    assert_eq!(
        http.get(&tampered).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let unsigned = url.split('?').next().unwrap();
    assert_eq!(
        http.get(unsigned).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    svc.stop().await;
}

#[tokio::test]
async fn non_utf8_output_and_unknown_routes_are_handled() {
    let svc = Service::start(registry()).await;
    let (log, code) = run_sh(&svc.client(), r"printf '\xff\xfe\x00ok'").await;
    assert_eq!((log.as_slice(), code), (&b"\xff\xfe\x00ok"[..], 0));
    let resp = reqwest::get(format!("{}/api/nope", svc.url()))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body: Value = resp.json().await.unwrap();
    assert!(error_text(&body).contains("/api/nope"));
    let resp = reqwest::Client::new()
        .put(format!("{}/api/exec", svc.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    svc.stop().await;
}

#[tokio::test]
async fn whoami_and_job_metadata_answer_for_the_callers_own_jobs() {
    let svc = Service::start(registry()).await;
    let resp = reqwest::Client::new()
        .get(format!("{}/api/whoami", svc.url()))
        .header("auth", &svc.key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap()["name"], "alice");

    let client = svc.client();
    let uid = client
        .submit(&ExecRequest::argv(["bash", "-c", "exit 2"]))
        .await
        .unwrap();
    assert_eq!(client.tail(&uid, |_| {}).await.unwrap(), 2);
    let (status, meta) = get_path(&svc, &svc.key, &format!("/api/job?uid={uid}")).await;
    assert_eq!(status, StatusCode::OK, "{meta}");
    assert_eq!(meta["state"], "exited");
    assert_eq!(meta["exit"], 2);
    assert_eq!(meta["command"]["argv"][2], "exit 2");
    assert!(meta["finished"].as_u64() >= meta["started"].as_u64());

    // A code over 128 from `exit` is not a signal; a real signal is.
    for (script, state) in [("exit 130", "exited"), ("kill -9 $$", "signaled")] {
        let uid = client
            .submit(&ExecRequest::argv(["bash", "-c", script]))
            .await
            .unwrap();
        client.tail(&uid, |_| {}).await.unwrap();
        let (_, meta) = get_path(&svc, &svc.key, &format!("/api/job?uid={uid}")).await;
        assert_eq!(meta["state"], state, "{script}");
    }

    let bob = svc.new_user("bob").await;
    let (status, _) = get_path(&svc, &bob, &format!("/api/job?uid={uid}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get_path(&svc, &svc.key, "/api/job?uid=nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    svc.stop().await;
}

async fn get_path(svc: &Service, auth: &str, path: &str) -> (StatusCode, Value) {
    let resp = reqwest::Client::new()
        .get(format!("{}{path}", svc.url()))
        .header("auth", auth)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.expect("bodies are JSON"))
}

#[tokio::test]
async fn the_openapi_document_describes_every_call() {
    let svc = Service::start(registry()).await;
    // No key needed: it describes the API and holds nothing of anyone's.
    let resp = reqwest::get(format!("{}/api/openapi.json", svc.url()))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let doc: Value = resp.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut calls = Vec::new();
    for (path, methods) in doc["paths"].as_object().unwrap() {
        for method in methods.as_object().unwrap().keys() {
            calls.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    calls.sort();
    assert_eq!(
        calls,
        [
            "DELETE /api/exec",
            "DELETE /api/schedules/{name}",
            "DELETE /api/schedules/{name}/state",
            "DELETE /api/secrets/{name}",
            "DELETE /api/triggers/{name}",
            "DELETE /api/triggers/{name}/state",
            "GET /api/artifacts",
            "GET /api/exec",
            "GET /api/health",
            "GET /api/job",
            "GET /api/jobs",
            "GET /api/notify/secret",
            "GET /api/openapi.json",
            "GET /api/schedules",
            "GET /api/schedules/{name}",
            "GET /api/schedules/{name}/state",
            "GET /api/secrets",
            "GET /api/triggers",
            "GET /api/triggers/{name}",
            "GET /api/triggers/{name}/state",
            "GET /api/whoami",
            "POST /api/exec",
            "POST /api/inputs",
            "POST /api/notify/secret",
            "POST /api/schedules/{name}/run",
            "POST /api/uploads",
            "PUT /api/schedules/{name}",
            "PUT /api/secrets/{name}",
            "PUT /api/triggers/{name}",
        ]
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["auth"]["name"], "auth",
        "the key's header is described"
    );
    // Requests are described as strictly as they are checked: a command or one of this
    // service's rpc names, no unknown field, no long runner where there is none.
    let exec = &doc["components"]["schemas"]["ExecRequest"];
    assert_eq!(exec["additionalProperties"], false);
    assert_eq!(exec["properties"]["argv"]["minItems"], 1);
    assert_eq!(exec["properties"]["argv"]["items"]["minLength"], 1);
    assert_eq!(
        exec["anyOf"][1]["properties"]["rpc-name"]["enum"],
        serde_json::json!(["listdir"])
    );
    assert!(exec["properties"].get("runner").is_none(), "{exec}");
    assert!(exec["properties"]["timeout"]["maximum"].as_u64().is_some());
    let upload = &doc["components"]["schemas"]["UploadRequest"]["properties"]["path"];
    assert!(upload["pattern"].as_str().is_some(), "{upload}");
    let params = doc["paths"]["/api/exec"]["post"]["parameters"]
        .as_array()
        .unwrap();
    let key = params
        .iter()
        .find(|p| p["name"] == "Idempotency-Key")
        .unwrap();
    assert!(key["schema"]["pattern"].as_str().is_some(), "{key}");
    // A method a path lacks: 405 with the methods it has, as a JSON error.
    let resp = reqwest::Client::new()
        .put(format!("{}/api/jobs", svc.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(resp.headers()["allow"], "GET");
    let body: Value = resp.json().await.unwrap();
    assert!(error_text(&body).contains("GET"));
    svc.stop().await;
}

/// On the local store an inbox file and a folder of the same name cannot both exist: the
/// second upload was a 500. It is a 409 that says why, and the first one is kept.
#[tokio::test]
async fn an_upload_where_a_file_and_a_folder_would_share_a_name_is_409() {
    let svc = Service::start(registry()).await;
    let http = reqwest::Client::new();
    let put = |path: &'static str| {
        let (http, url, key) = (http.clone(), svc.url().to_owned(), svc.key.clone());
        async move {
            let upload = json_of(
                http.post(format!("{url}/api/uploads"))
                    .header("auth", key)
                    .body(format!(r#"{{"path":"{path}"}}"#)),
            )
            .await;
            let url = upload["url"].as_str().unwrap().to_owned();
            let resp = http.put(&url).body(path).send().await.unwrap();
            (resp.status(), resp.text().await.unwrap(), url)
        }
    };
    for (first, second) in [("a", "a/b"), ("c/d", "c"), ("e", "e/f/g")] {
        let (status, _, first_url) = put(first).await;
        assert_eq!(status, StatusCode::OK, "{first}");
        let (status, text, _) = put(second).await;
        assert_eq!(
            status,
            StatusCode::CONFLICT,
            "{second} after {first}: {text}"
        );
        assert!(text.contains("folder"), "{text}");
        // The first upload is still whole, and can be replaced.
        let again = http.put(&first_url).body("again").send().await.unwrap();
        assert_eq!(again.status(), StatusCode::OK, "{first} again");
    }
    svc.stop().await;
}

/// A name in the path that is not UTF-8 got axum's plain-text 400; every error is JSON.
#[tokio::test]
async fn a_path_name_that_is_not_utf8_is_a_json_400() {
    let svc = Service::start(registry()).await;
    for path in [
        "/api/schedules/%FF",
        "/api/schedules/%FF/state",
        "/api/triggers/%C3%28",
        "/api/triggers/%FF/state",
    ] {
        let (status, body) = get_path(&svc, &svc.key, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(error_text(&body).contains("UTF-8"), "{path}: {body}");
    }
    let resp = reqwest::Client::new()
        .delete(format!("{}/api/secrets/%FF", svc.url()))
        .header("auth", &svc.key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.expect("a JSON error");
    assert!(error_text(&body).contains("UTF-8"), "{body}");
    svc.stop().await;
}
