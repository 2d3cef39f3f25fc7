//! One conformance suite for every Store: what the runner and the API rely on. Each
//! implementation gets the same checks, its signed URLs fetched by a plain HTTP client.

use std::sync::Arc;
use std::time::Duration;

use aws_exec_backend::store::{LocalStore, S3Store, Store};
use aws_exec_testkit::S3Server;
use bytes::Bytes;
use reqwest::StatusCode;

/// A store under test, and how to turn its presigned URLs into fetchable ones.
struct Subject {
    store: Arc<dyn Store>,
    base: String,
    /// s3s-fs rewrites a file in place, so a GET racing a PUT of the same key can fail
    /// (never return mixed bytes). S3, moto and the local store replace objects atomically.
    read_may_fail_during_overwrite: bool,
    /// s3s-fs answers 500 to a suffix range longer than the object, which S3 and the local
    /// store serve whole, as HTTP says.
    long_suffix_fails: bool,
}

impl Subject {
    fn absolute(&self, url: &str) -> String {
        if url.starts_with('/') {
            format!("{}{url}", self.base)
        } else {
            url.to_owned()
        }
    }

    async fn fetch(&self, key: &str, range_start: Option<u64>) -> (StatusCode, Bytes) {
        let url = self
            .store
            .presign_get(key, range_start, Duration::from_secs(60))
            .await
            .unwrap();
        let mut req = reqwest::Client::new().get(self.absolute(&url));
        if let Some(start) = range_start {
            req = req.header("range", format!("bytes={start}-"));
        }
        let resp = req.send().await.unwrap();
        (resp.status(), resp.bytes().await.unwrap())
    }
}

impl Subject {
    /// The last `n` bytes of `key` by a suffix range, and the Content-Range answered.
    async fn fetch_last(&self, key: &str, n: u64) -> (StatusCode, Option<String>, Bytes) {
        let url = self
            .store
            .presign_get(key, None, Duration::from_secs(60))
            .await
            .unwrap();
        let resp = reqwest::Client::new()
            .get(self.absolute(&url))
            .header("range", format!("bytes=-{n}"))
            .send()
            .await
            .unwrap();
        let total = resp
            .headers()
            .get("content-range")
            .map(|v| v.to_str().unwrap().to_owned());
        (resp.status(), total, resp.bytes().await.unwrap())
    }
}

async fn conformance(s: &Subject, prefix: &str) {
    let store = s.store.as_ref();
    let key = |name: &str| format!("{prefix}{name}");

    // put / get / overwrite / missing
    assert_eq!(store.get(&key("missing")).await.unwrap(), None);
    store.put(&key("a"), "one".into()).await.unwrap();
    assert_eq!(store.get(&key("a")).await.unwrap().unwrap(), "one");
    store.put(&key("a"), "two".into()).await.unwrap();
    assert_eq!(store.get(&key("a")).await.unwrap().unwrap(), "two");
    store.put(&key("empty"), Bytes::new()).await.unwrap();
    assert_eq!(store.get(&key("empty")).await.unwrap().unwrap().len(), 0);

    // put_new claims exactly once
    assert!(store.put_new(&key("claim"), "first".into()).await.unwrap());
    assert!(!store.put_new(&key("claim"), "second".into()).await.unwrap());
    assert_eq!(store.get(&key("claim")).await.unwrap().unwrap(), "first");

    // copy within the store, whole, to a key in another "directory"; a missing source
    assert!(store
        .copy(&key("claim"), &key("copies/sub dir/claim+1"))
        .await
        .unwrap());
    assert_eq!(
        store
            .get(&key("copies/sub dir/claim+1"))
            .await
            .unwrap()
            .unwrap(),
        "first"
    );
    assert!(!store.copy(&key("missing"), &key("copies/x")).await.unwrap());
    assert_eq!(store.head(&key("copies/x")).await.unwrap(), None);
    store.delete(&key("copies/sub dir/claim+1")).await.unwrap();

    // append, where the store can: bytes from an offset on, replacing what stood there
    if store.appends() {
        store.append(&key("log"), "abc".into(), 0).await.unwrap();
        store.append(&key("log"), "def".into(), 3).await.unwrap();
        assert_eq!(store.get(&key("log")).await.unwrap().unwrap(), "abcdef");
        // After a failed upload the runner resends from what it knows was stored.
        store.append(&key("log"), "DEFgh".into(), 3).await.unwrap();
        assert_eq!(store.get(&key("log")).await.unwrap().unwrap(), "abcDEFgh");
        store.put(&key("log"), "abcdefgh".into()).await.unwrap();
    } else {
        assert!(store.append(&key("log"), "abc".into(), 0).await.is_err());
        store.put(&key("log"), "abcdefgh".into()).await.unwrap();
    }

    // list: sorted, only the prefix, nested keys included
    store.put(&key("dir/x"), "x".into()).await.unwrap();
    let listed = store.list(prefix).await.unwrap();
    let want: Vec<String> = ["a", "claim", "dir/x", "empty", "log"]
        .iter()
        .map(|k| key(k))
        .collect();
    assert_eq!(listed, want);
    assert_eq!(store.list(&key("dir/")).await.unwrap(), vec![key("dir/x")]);
    assert!(store
        .list(&format!("{prefix}nothing/"))
        .await
        .unwrap()
        .is_empty());

    // list_page: one page from after a key, sorted, at most `max`
    let page = store
        .list_page(prefix, Some(&key("claim")), 2)
        .await
        .unwrap();
    assert_eq!(page, vec![key("dir/x"), key("empty")]);
    let page = store.list_page(prefix, None, 1).await.unwrap();
    assert_eq!(page, vec![key("a")]);
    let page = store
        .list_page(prefix, Some(&key("log")), 10)
        .await
        .unwrap();
    assert!(page.is_empty(), "{page:?}");

    // list_page of one folder, page after page, sees writes and deletes at once
    let folder = key("pages/");
    for i in 0..30 {
        store
            .put(&format!("{folder}{i:03}"), Bytes::from_static(b"x"))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_page(&folder, after.as_deref(), 7).await.unwrap();
        assert!(page.len() <= 7);
        let Some(last) = page.last().cloned() else {
            break;
        };
        seen.extend(page);
        after = Some(last);
    }
    let want: Vec<String> = (0..30).map(|i| format!("{folder}{i:03}")).collect();
    assert_eq!(seen, want);
    store.delete(&format!("{folder}000")).await.unwrap();
    store
        .put(&format!("{folder}0005"), Bytes::from_static(b"x"))
        .await
        .unwrap();
    let page = store.list_page(&folder, None, 2).await.unwrap();
    assert_eq!(page, [format!("{folder}0005"), format!("{folder}001")]);
    for listed in store.list(&folder).await.unwrap() {
        store.delete(&listed).await.unwrap();
    }
    assert!(store.list_page(&folder, None, 5).await.unwrap().is_empty());
    store
        .put(&format!("{folder}again"), Bytes::from_static(b"x"))
        .await
        .unwrap();
    assert_eq!(
        store.list_page(&folder, None, 5).await.unwrap(),
        [format!("{folder}again")]
    );
    store.delete(&format!("{folder}again")).await.unwrap();

    // delete, idempotent
    store.delete(&key("a")).await.unwrap();
    store.delete(&key("a")).await.unwrap();
    assert_eq!(store.get(&key("a")).await.unwrap(), None);

    // presigned GET: S3's answers
    let (status, body) = s.fetch(&key("log"), None).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"abcdefgh"[..]));
    let (status, body) = s.fetch(&key("log"), Some(5)).await;
    assert_eq!(
        (status, &body[..]),
        (StatusCode::PARTIAL_CONTENT, &b"fgh"[..])
    );
    let (status, _) = s.fetch(&key("log"), Some(8)).await;
    assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
    // The last N bytes (a page opening a large log at its end), with the whole length
    let (status, total, body) = s.fetch_last(&key("log"), 3).await;
    assert_eq!(
        (status, total.as_deref(), &body[..]),
        (
            StatusCode::PARTIAL_CONTENT,
            Some("bytes 5-7/8"),
            &b"fgh"[..]
        )
    );
    if !s.long_suffix_fails {
        let (status, total, body) = s.fetch_last(&key("log"), 100).await;
        assert_eq!(
            (status, total.as_deref(), &body[..]),
            (
                StatusCode::PARTIAL_CONTENT,
                Some("bytes 0-7/8"),
                &b"abcdefgh"[..]
            )
        );
    }
    let (status, _) = s.fetch(&key("empty"), Some(0)).await;
    assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
    let (status, _) = s.fetch(&key("missing"), Some(0)).await;
    assert!(
        status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN,
        "missing object: {status}"
    );

    // readers never see a torn whole-object write
    let big_a = Bytes::from(vec![b'a'; 1 << 20]);
    let big_b = Bytes::from(vec![b'b'; 1 << 20]);
    store.put(&key("size"), big_a.clone()).await.unwrap();
    let writer = {
        let store = s.store.clone();
        let (k, a, b) = (key("size"), big_a.clone(), big_b.clone());
        tokio::spawn(async move {
            for i in 0..20 {
                store
                    .put(&k, if i % 2 == 0 { b.clone() } else { a.clone() })
                    .await
                    .unwrap();
            }
        })
    };
    let mut reads = 0;
    while !writer.is_finished() {
        match store.get(&key("size")).await {
            Ok(got) => {
                let got = got.unwrap();
                assert!(
                    got == big_a || got == big_b,
                    "torn read of {} bytes",
                    got.len()
                );
                reads += 1;
            }
            Err(e) => assert!(s.read_may_fail_during_overwrite, "read failed: {e}"),
        }
    }
    assert!(reads > 0 || s.read_may_fail_during_overwrite);
    writer.await.unwrap();
}

async fn local_subject() -> (Subject, tempfile::TempDir, tokio::task::JoinHandle<()>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalStore::open(dir.path()).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = aws_exec_backend::api::signed_objects::routes(store.clone(), None);
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (
        Subject {
            store,
            base,
            read_may_fail_during_overwrite: false,
            long_suffix_fails: false,
        },
        dir,
        server,
    )
}

#[tokio::test]
async fn local_store_conforms() {
    let (subject, _dir, server) = local_subject().await;
    conformance(&subject, "jobs/t/").await;
    server.abort();
}

/// The data directory holds the folders of what is stored, not of all it ever held: a
/// delete removes the folders it empties, and a write racing that removal still lands.
#[tokio::test]
async fn local_store_removes_the_folders_it_empties_and_writes_racing_it_land() {
    let (subject, dir, server) = local_subject().await;
    let store = subject.store.clone();
    store.put("jobs/u/1/a", "a".into()).await.unwrap();
    store.put("jobs/u/1/b", "b".into()).await.unwrap();
    store.put("jobs/v/keep", "k".into()).await.unwrap();
    store.delete("jobs/u/1/a").await.unwrap();
    assert!(dir.path().join("jobs/u/1").is_dir(), "b is still there");
    store.delete("jobs/u/1/b").await.unwrap();
    assert!(!dir.path().join("jobs/u").exists());
    assert!(dir.path().join("jobs/v").is_dir());
    store.delete("jobs/v/keep").await.unwrap();
    assert!(!dir.path().join("jobs").exists());
    assert!(dir.path().is_dir(), "the root stays");

    let writers: Vec<_> = (0..8)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..200 {
                    let key = format!("race/f/{w}-{i}");
                    store.put(&key, "x".into()).await.unwrap();
                    assert!(store.get(&key).await.unwrap().is_some());
                    store.delete(&key).await.unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    assert!(!dir.path().join("race").exists());
    server.abort();
}

#[tokio::test]
async fn local_store_urls_expire_and_cannot_be_tampered_with() {
    let (subject, _dir, server) = local_subject().await;
    let store = subject.store.as_ref();
    store.put("jobs/t/log.txt", "secret".into()).await.unwrap();
    store.put("jobs/t/other", "other".into()).await.unwrap();
    let url = subject.absolute(
        &store
            .presign_get("jobs/t/log.txt", None, Duration::from_secs(1))
            .await
            .unwrap(),
    );
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
    let tampered = url.replace("log.txt", "other");
    assert_eq!(
        http.get(&tampered).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let later = url.replace("expires=", "expires=9");
    assert_eq!(
        http.get(&later).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        http.get(&url).send().await.unwrap().status(),
        StatusCode::FORBIDDEN,
        "expired"
    );
    server.abort();
}

#[tokio::test]
async fn local_store_refuses_keys_that_escape_its_directory() {
    let (subject, dir, server) = local_subject().await;
    let store = subject.store.as_ref();
    for bad in ["../escape", "jobs/../../x", "/etc/passwd", ".tmp/x"] {
        assert!(store.put(bad, "x".into()).await.is_err(), "{bad}");
        assert!(store.get(bad).await.is_err(), "{bad}");
    }
    assert!(!dir.path().parent().unwrap().join("escape").exists());
    let resp = reqwest::get(format!(
        "{}/_store/..%2F..%2Fetc%2Fpasswd?expires=1&sig=00",
        subject.base
    ))
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    server.abort();
}

async fn s3_subject(server: &S3Server, bucket: &str) -> Subject {
    let client = server.bucket(bucket).await;
    Subject {
        store: Arc::new(S3Store::new(client, bucket)),
        base: String::new(),
        read_may_fail_during_overwrite: server.endpoint_kind == "s3s-fs",
        long_suffix_fails: server.endpoint_kind == "s3s-fs",
    }
}

#[tokio::test]
async fn s3_store_conforms_on_moto() {
    let server = S3Server::moto();
    conformance(&s3_subject(&server, "conform").await, "jobs/t/").await;
}

#[tokio::test]
async fn s3_store_conforms_on_s3s_fs() {
    let server = S3Server::s3s_fs();
    conformance(&s3_subject(&server, "conform").await, "jobs/t/").await;
}

#[tokio::test]
async fn s3s_fs_refuses_expired_and_tampered_urls() {
    let server = S3Server::s3s_fs();
    let subject = s3_subject(&server, "signed").await;
    let store = subject.store.as_ref();
    store.put("jobs/t/log.txt", "secret".into()).await.unwrap();
    store.put("jobs/t/other", "other".into()).await.unwrap();
    let http = reqwest::Client::new();
    let url = store
        .presign_get("jobs/t/log.txt", Some(0), Duration::from_secs(1))
        .await
        .unwrap();
    let with_range = |u: &str| http.get(u).header("range", "bytes=0-");
    assert_eq!(
        with_range(&url).send().await.unwrap().status(),
        StatusCode::PARTIAL_CONTENT
    );
    let tampered = url.replace("log.txt", "other");
    assert_eq!(
        with_range(&tampered).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let other_range = http
        .get(&url)
        .header("range", "bytes=2-")
        .send()
        .await
        .unwrap();
    assert_eq!(
        other_range.status(),
        StatusCode::FORBIDDEN,
        "the range is signed in"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        with_range(&url).send().await.unwrap().status(),
        StatusCode::FORBIDDEN,
        "expired"
    );
}
