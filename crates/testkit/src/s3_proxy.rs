//! A counting, fault-injecting HTTP proxy in front of an S3 server: what the service sends
//! to S3 (requests and bytes by method) is measured here, and chosen PUTs can be answered
//! with 503 SlowDown, as S3 does under load. Loopback only; stopped on drop.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// Counters of what passed through, and the faults to inject.
#[derive(Debug, Default)]
pub struct Stats {
    pub puts: AtomicU64,
    pub put_bytes: AtomicU64,
    pub gets: AtomicU64,
    pub other: AtomicU64,
    /// The bodies' bytes of the other requests (POSTs: the API calls of ECS and Lambda).
    pub other_bytes: AtomicU64,
    /// PUTs to keys containing [`Stats::fail_pattern`] still to refuse with 503.
    pub fail_next: AtomicU64,
    pub failed: AtomicU64,
    fail_pattern: std::sync::Mutex<String>,
    /// GETs to keys containing the pattern still to cut off halfway through the body.
    cut_next: AtomicU64,
    cut_pattern: std::sync::Mutex<String>,
    /// Every Nth request whose path contains the pattern is refused with 503.
    refuse_every: std::sync::Mutex<(String, u64, u64)>,
    /// Every Nth GET whose path contains the pattern is cut off midway.
    cut_every: std::sync::Mutex<(String, u64, u64)>,
    /// The first PUT with a body to each key containing the pattern is refused with 503
    /// (after its body was read, as a failure at the worst moment).
    refuse_first: std::sync::Mutex<(String, std::collections::HashSet<String>)>,
    /// The paths of the GETs that were cut off.
    pub cut_log: std::sync::Mutex<Vec<String>>,
    /// PUTs to keys containing the pattern wait this long before going on.
    delay: std::sync::Mutex<(String, std::time::Duration)>,
    /// Each PUT's path and when it arrived (nanoseconds since the epoch).
    pub put_log: std::sync::Mutex<Vec<(u128, String)>>,
    /// Each other request (DELETE, POST) by method and path, and when it arrived.
    pub other_log: std::sync::Mutex<Vec<(u128, String)>>,
    /// Every request as `METHOD PATH`, in the order it arrived.
    pub all_log: std::sync::Mutex<Vec<String>>,
}

impl Stats {
    /// Refuses the next `n` PUTs whose path contains `pattern` with 503.
    pub fn fail_puts(&self, pattern: &str, n: u64) {
        *self.fail_pattern.lock().unwrap() = pattern.to_owned();
        self.fail_next.store(n, Ordering::SeqCst);
    }

    /// Sends only the first half of the body of the next `n` GETs whose path contains
    /// `pattern` (at least one byte), then drops the connection, as a network cut does.
    pub fn cut_gets(&self, pattern: &str, n: u64) {
        *self.cut_pattern.lock().unwrap() = pattern.to_owned();
        self.cut_next.store(n, Ordering::SeqCst);
    }

    /// Holds every PUT whose path contains `pattern` for `by` before forwarding it.
    pub fn delay_puts(&self, pattern: &str, by: std::time::Duration) {
        *self.delay.lock().unwrap() = (pattern.to_owned(), by);
    }

    /// Refuses every `n`th request whose path contains `pattern` with 503.
    pub fn refuse_every(&self, pattern: &str, n: u64) {
        *self.refuse_every.lock().unwrap() = (pattern.to_owned(), n, 0);
    }

    /// Cuts off every `n`th GET whose path contains `pattern` midway.
    pub fn cut_every(&self, pattern: &str, n: u64) {
        *self.cut_every.lock().unwrap() = (pattern.to_owned(), n, 0);
    }

    /// Refuses the first PUT with a body to each key containing `pattern`, once.
    pub fn refuse_first_put_of_each(&self, pattern: &str) {
        *self.refuse_first.lock().unwrap() = (pattern.to_owned(), Default::default());
    }

    fn nth(rule: &std::sync::Mutex<(String, u64, u64)>, path: &str) -> bool {
        let mut rule = rule.lock().unwrap();
        if rule.1 == 0 || rule.0.is_empty() || !path.contains(&rule.0) {
            return false;
        }
        rule.2 += 1;
        rule.2 % rule.1 == 0
    }

    fn take_one(counter: &AtomicU64, pattern: &std::sync::Mutex<String>, path: &str) -> bool {
        let pattern = pattern.lock().unwrap().clone();
        if pattern.is_empty() || !path.contains(&pattern) {
            return false;
        }
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok()
    }

    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.puts.load(Ordering::SeqCst),
            self.put_bytes.load(Ordering::SeqCst),
            self.gets.load(Ordering::SeqCst),
        )
    }
}

pub struct S3Proxy {
    pub endpoint: String,
    pub stats: Arc<Stats>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for S3Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Upstream {
    base: String,
    http: reqwest::Client,
    stats: Arc<Stats>,
}

impl S3Proxy {
    /// Proxies to `upstream` (an S3 server's endpoint that does not check signatures,
    /// such as moto_server: the Host header changes on the way).
    pub async fn start(upstream: &str) -> Self {
        let stats = Arc::new(Stats::default());
        let state = Upstream {
            base: upstream.trim_end_matches('/').to_owned(),
            // Loopback to loopback: a proxy named in the environment is never on the way.
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            stats: stats.clone(),
        };
        let app = axum::Router::new().fallback(forward).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        S3Proxy {
            endpoint,
            stats,
            task,
        }
    }
}

async fn forward(State(up): State<Upstream>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let stats = &up.stats;
    stats
        .all_log
        .lock()
        .unwrap()
        .push(format!("{} {path}", parts.method));
    if Stats::nth(&stats.refuse_every, &path) {
        stats.failed.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
        )
            .into_response();
    }
    match parts.method.as_str() {
        "PUT" => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            stats.put_log.lock().unwrap().push((now, path.clone()));
            stats.puts.fetch_add(1, Ordering::SeqCst);
            stats
                .put_bytes
                .fetch_add(body.len() as u64, Ordering::SeqCst);
            let delay = stats.delay.lock().unwrap().clone();
            if !delay.0.is_empty() && path.contains(&delay.0) {
                tokio::time::sleep(delay.1).await;
            }
            let first = {
                let mut rule = stats.refuse_first.lock().unwrap();
                let key = path.split('?').next().unwrap_or("").to_owned();
                !rule.0.is_empty()
                    && !body.is_empty()
                    && key.contains(&rule.0)
                    && rule.1.insert(key)
            };
            if first || Stats::take_one(&stats.fail_next, &stats.fail_pattern, &path) {
                stats.failed.fetch_add(1, Ordering::SeqCst);
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
                )
                    .into_response();
            }
        }
        "GET" | "HEAD" => {
            stats.gets.fetch_add(1, Ordering::SeqCst);
        }
        method => {
            stats.other.fetch_add(1, Ordering::SeqCst);
            stats
                .other_bytes
                .fetch_add(body.len() as u64, Ordering::SeqCst);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            stats
                .other_log
                .lock()
                .unwrap()
                .push((now, format!("{method} {path}")));
        }
    }
    let mut headers = HeaderMap::new();
    for (name, value) in parts.headers.iter() {
        if name != "host" && name != "content-length" {
            headers.append(name, value.clone());
        }
    }
    let sent = up
        .http
        .request(parts.method.clone(), format!("{}{path}", up.base))
        .headers(headers)
        .body(body)
        .send()
        .await;
    let Ok(resp) = sent else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let cut = parts.method == "GET"
        && resp.status().is_success()
        && (Stats::take_one(&stats.cut_next, &stats.cut_pattern, &path)
            || Stats::nth(&stats.cut_every, &path));
    if cut {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let Ok(whole) = resp.bytes().await else {
            return StatusCode::BAD_GATEWAY.into_response();
        };
        let half = whole.slice(..whole.len().div_ceil(2));
        let mut out = Response::builder().status(status);
        for (name, value) in headers.iter() {
            if name != "transfer-encoding" && name != "connection" {
                out = out.header(name, value);
            }
        }
        // The length promised is the whole body's: the connection drops after the half, once
        // the head and the half have gone out.
        use futures_util::StreamExt;
        let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(half) })
            .chain(futures_util::stream::once(async {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                Err(std::io::Error::other("cut"))
            }));
        stats.failed.fetch_add(1, Ordering::SeqCst);
        stats.cut_log.lock().unwrap().push(path.clone());
        return out
            .body(Body::from_stream(stream))
            .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response());
    }
    let mut out = Response::builder().status(resp.status().as_u16());
    for (name, value) in resp.headers() {
        if name != "transfer-encoding" && name != "connection" {
            out = out.header(name, value);
        }
    }
    out.body(Body::from_stream(resp.bytes_stream()))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}
