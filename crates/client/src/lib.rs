//! The aws-exec client library: submit a command, follow its log as it grows, get its exit
//! code. Speaks only the HTTP protocol, so it works against the local service and AWS alike.
//!
//! ```no_run
//! # async fn demo() -> Result<(), aws_exec_client::ClientError> {
//! use aws_exec_client::{Client, ExecRequest};
//! let client = Client::from_env()?;
//! let code = client
//!     .exec(&ExecRequest::argv(["bash", "-c", "echo hi"]), |bytes| {
//!         print!("{}", String::from_utf8_lossy(bytes))
//!     })
//!     .await?;
//! # Ok(()) }
//! ```

mod error;
mod files;
mod lines;
mod policy;
mod schedules;
mod secrets;

use std::time::Duration;

pub use aws_exec_protocol::{
    Artifact, ExecRequest, ExecResponse, JobList, JobMeta, JobState, LastRun, ListQuery, Overlap,
    PollResponse, PushUrls, Schedule, ScheduleSpec, SecretInfo, Trigger, TriggerSpec,
};
use aws_exec_protocol::{
    AuthKey, CancelResponse, Follow, PollQuery, AUTH_HEADER, IDEMPOTENCY_HEADER,
};
use reqwest::{header, StatusCode};

/// How a followed job ended: its exit code, and what the service said of the run (timed
/// out, cancelled, its log cut at the cap), which is never in its log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ended {
    pub exit: i32,
    pub notes: Vec<String>,
}

/// GET URLs of a pushed job's three objects, which the caller presigned for its storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectUrls {
    pub log: String,
    pub exit: String,
    pub size: String,
}

pub use error::ClientError;
pub use files::{Progress, Transfer};
use policy::{Cadence, Pacer};
pub use policy::{PollPolicy, RetryPolicy};

/// How long a poll asks the service to wait for news, in seconds.
const POLL_WAIT: u64 = 20;

/// How soon a follower looks at storage again for a segment that is late, at first and at
/// most (see [`policy::Cadence`] for when one is due).
const STORAGE_POLL_FIRST: Duration = Duration::from_millis(150);
const STORAGE_POLL_MAX: Duration = Duration::from_millis(300);

/// Follow URLs are renewed this long before they expire.
const RENEW_BEFORE: u64 = 30;

/// Where a follower is: the log bytes it has, and the segment it reads next (while it
/// reads segments).
#[derive(Clone, Copy, Debug)]
struct Position {
    offset: u64,
    segment: Option<u64>,
    /// Bytes of the current segment already read (a read cut off midway).
    within: u64,
}

/// What one read of a log brought.
struct Part {
    bytes: u64,
    /// False when nothing was there yet or the body was cut off.
    whole: bool,
}

/// Where the service is when nothing else says: `aws-exec serve`'s default address.
pub const LOCAL_URL: &str = "http://127.0.0.1:8080";

/// The service URL: `explicit`, else `PROJECT_URL`, else `https://$PROJECT_DOMAIN`, else
/// the local default.
pub fn service_url(explicit: Option<&str>) -> String {
    let env = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    explicit
        .map(str::to_owned)
        .or_else(|| env("PROJECT_URL"))
        .or_else(|| env("PROJECT_DOMAIN").map(|d| format!("https://{d}")))
        .unwrap_or_else(|| LOCAL_URL.to_owned())
}

#[derive(Clone, Debug)]
pub struct Client {
    base: String,
    auth: AuthKey,
    http: reqwest::Client,
    poll: PollPolicy,
    retry: RetryPolicy,
}

impl Client {
    pub fn new(url: impl Into<String>, auth: impl Into<String>) -> Result<Self, ClientError> {
        let base = url.into().trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::Config(format!(
                "service URL {base:?} must start with http:// or https://"
            )));
        }
        let auth = auth.into();
        if auth.is_empty() {
            return Err(ClientError::Config(
                "no auth key: pass one or set AUTH".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(policy::CONNECT_TIMEOUT)
            .read_timeout(policy::BETWEEN_BYTES)
            .build()
            .map_err(|e| ClientError::Config(e.to_string()))?;
        Ok(Client {
            base,
            auth: AuthKey::new(auth),
            http,
            poll: PollPolicy::default(),
            retry: RetryPolicy::default(),
        })
    }

    /// A client for [`service_url`]`(None)` with the key in `AUTH`.
    pub fn from_env() -> Result<Self, ClientError> {
        Client::new(service_url(None), std::env::var("AUTH").unwrap_or_default())
    }

    pub fn with_poll_policy(mut self, poll: PollPolicy) -> Self {
        self.poll = poll;
        self
    }

    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// Starts a job and returns its uid at once. It carries an `Idempotency-Key` made up
    /// here, so every transient failure is retried without any risk of a second job.
    pub async fn submit(&self, request: &ExecRequest) -> Result<String, ClientError> {
        self.submit_with_key(request, &new_idempotency_key()).await
    }

    /// As [`Client::submit`] with a key of the caller's: the same key and request within 24
    /// hours return the first job's uid again; the same key with another request is an
    /// error (422).
    pub async fn submit_with_key(
        &self,
        request: &ExecRequest,
        idempotency_key: &str,
    ) -> Result<String, ClientError> {
        let answer = self.post_exec(request, idempotency_key, None).await?;
        Ok(answer.uid)
    }

    /// Starts a job and waits up to `wait` seconds (at most 20) for its first news: answers
    /// its uid and, where the service can watch the job, what a first [`Client::poll`]
    /// would have (for a short job, its exit code). Hand both to [`Client::tail_after`].
    pub async fn submit_waiting(
        &self,
        request: &ExecRequest,
        wait: u64,
    ) -> Result<(String, Option<PollResponse>), ClientError> {
        let answer = self
            .post_exec(request, &new_idempotency_key(), Some(wait))
            .await?;
        Ok((answer.uid, answer.poll))
    }

    async fn post_exec(
        &self,
        request: &ExecRequest,
        idempotency_key: &str,
        wait: Option<u64>,
    ) -> Result<ExecResponse, ClientError> {
        // A short job's log may come back in the answer itself.
        let url = match wait {
            Some(wait) => format!(
                "{}/api/exec?wait={wait}&inline={}",
                self.base,
                aws_exec_protocol::wire::MAX_INLINE_LOG
            ),
            None => format!("{}/api/exec", self.base),
        };
        let body = serde_json::to_vec(request).map_err(|e| ClientError::Config(e.to_string()))?;
        let resp = self
            .retry
            .run("submit", |_| {
                let req = self
                    .http
                    .post(&url)
                    .header(AUTH_HEADER, self.auth.expose())
                    .header(IDEMPOTENCY_HEADER, idempotency_key)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
                policy::send(req, policy::answer_within(wait))
            })
            .await?;
        json_or_error(resp).await
    }

    /// Cancels job `uid`: a queued job never starts, a running one is stopped, a finished
    /// one is left as it is. Returns the job's state after the request.
    pub async fn cancel(&self, uid: &str) -> Result<JobState, ClientError> {
        let url = format!("{}/api/exec", self.base);
        let resp = self
            .retry
            .run("cancel", |_| {
                let req = self
                    .http
                    .delete(&url)
                    .header(AUTH_HEADER, self.auth.expose())
                    .query(&[("uid", uid)]);
                policy::send(req, policy::ANSWER_WITHIN)
            })
            .await?;
        let body: CancelResponse = json_or_error(resp).await?;
        Ok(body.state)
    }

    /// The name the client's key belongs to.
    pub async fn whoami(&self) -> Result<String, ClientError> {
        let me: aws_exec_protocol::WhoAmI = self.get_json("/api/whoami", &[]).await?;
        Ok(me.name)
    }

    /// A job's metadata: command, state, times, exit code, timeout.
    pub async fn status(&self, uid: &str) -> Result<JobMeta, ClientError> {
        self.get_json("/api/job", &[("uid", uid.to_owned())]).await
    }

    /// One page of the caller's jobs, newest first; pass `next` back as `filter.before` for
    /// the following page, or use [`Client::list_all`].
    pub async fn list(&self, filter: &ListQuery) -> Result<JobList, ClientError> {
        let mut query = Vec::new();
        if let Some(state) = filter.state {
            query.push(("state", state.to_string()));
        }
        if let Some(limit) = filter.limit {
            query.push(("limit", limit.to_string()));
        }
        if let Some(before) = &filter.before {
            query.push(("before", before.clone()));
        }
        self.get_json("/api/jobs", &query).await
    }

    /// Every job matching `filter` (its `before` and `limit` start and size the pages),
    /// newest first, walking all pages.
    pub async fn list_all(&self, filter: &ListQuery) -> Result<Vec<JobMeta>, ClientError> {
        let mut filter = filter.clone();
        let mut all = Vec::new();
        loop {
            let page = self.list(&filter).await?;
            all.extend(page.jobs);
            match page.next {
                Some(next) => filter.before = Some(next),
                None => return Ok(all),
            }
        }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .retry
            .run("request", |_| {
                let req = self
                    .http
                    .get(&url)
                    .header(AUTH_HEADER, self.auth.expose())
                    .query(query);
                policy::send(req, policy::ANSWER_WITHIN)
            })
            .await?;
        json_or_error(resp).await
    }

    /// A call with an optional JSON body, retried as every call is: each one made this way
    /// is idempotent, or carries an Idempotency-Key.
    pub(crate) async fn send_json<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
        idempotency_key: Option<&str>,
    ) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .retry
            .run("request", |_| {
                let mut req = self
                    .http
                    .request(method.clone(), &url)
                    .header(AUTH_HEADER, self.auth.expose());
                if let Some(body) = body {
                    req = req.json(body);
                }
                if let Some(key) = idempotency_key {
                    req = req.header(IDEMPOTENCY_HEADER, key);
                }
                policy::send(req, policy::ANSWER_WITHIN)
            })
            .await?;
        json_or_error(resp).await
    }

    /// Asks where to read the log from `range_start`, or for the exit code once it is read.
    pub async fn poll(&self, uid: &str, range_start: u64) -> Result<PollResponse, ClientError> {
        self.poll_for(uid, range_start, None, None).await
    }

    /// As [`Client::poll`], waiting up to `wait` seconds for news where the service can,
    /// and asking for URLs to follow the log's segments from `segment` on.
    pub async fn poll_for(
        &self,
        uid: &str,
        range_start: u64,
        wait: Option<u64>,
        segment: Option<u64>,
    ) -> Result<PollResponse, ClientError> {
        let url = format!("{}/api/exec", self.base);
        let query = PollQuery {
            uid: uid.to_owned(),
            range_start,
            wait,
            segment,
        };
        let resp = self
            .retry
            .run("poll", |_| {
                let req = self
                    .http
                    .get(&url)
                    .header(AUTH_HEADER, self.auth.expose())
                    .query(&query);
                policy::send(req, policy::answer_within(wait))
            })
            .await?;
        json_or_error(resp).await
    }

    /// Reads the log at `url` from `offset`, handing each chunk to `on_log` as it arrives.
    /// Returns how many bytes were read; 0 when there is nothing new yet (403/404/416). A
    /// body cut off midway counts what arrived, so the next read goes on from there.
    pub async fn read_log(
        &self,
        url: &str,
        offset: u64,
        on_log: &mut (dyn FnMut(&[u8]) + Send),
    ) -> Result<u64, ClientError> {
        Ok(self.read_log_part(url, offset, on_log).await?.bytes)
    }

    async fn read_log_part(
        &self,
        url: &str,
        offset: u64,
        on_log: &mut (dyn FnMut(&[u8]) + Send),
    ) -> Result<Part, ClientError> {
        let resp = self
            .retry
            .run("read log", |_| {
                let req = self
                    .http
                    .get(url)
                    .header(header::RANGE, format!("bytes={offset}-"));
                policy::send(req, policy::ANSWER_WITHIN)
            })
            .await;
        let mut resp = match resp {
            Ok(resp) => resp,
            Err(ClientError::Api { status, .. }) if policy::log_not_ready(status) => {
                return Ok(Part {
                    bytes: 0,
                    whole: false,
                })
            }
            Err(e) => return Err(e),
        };
        // A server that ignored the Range header sent the whole object: skip what we have.
        let mut skip = if resp.status() == StatusCode::OK {
            offset
        } else {
            0
        };
        let mut read = 0u64;
        loop {
            let chunk = match resp.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                // Cut off: what arrived is kept, and the caller asks again from there.
                Err(e) => {
                    tracing::debug!(url, read, error = %e, "a log read was cut off");
                    return Ok(Part {
                        bytes: read,
                        whole: false,
                    });
                }
            };
            let drop_n = skip.min(chunk.len() as u64) as usize;
            skip -= drop_n as u64;
            let fresh = &chunk[drop_n..];
            if !fresh.is_empty() {
                on_log(fresh);
                read += fresh.len() as u64;
            }
        }
        Ok(Part {
            bytes: read,
            whole: true,
        })
    }

    /// Follows job `uid` from the start of its log to its end; returns its exit code.
    pub async fn tail(
        &self,
        uid: &str,
        mut on_log: impl FnMut(&[u8]) + Send,
    ) -> Result<i32, ClientError> {
        self.tail_from(uid, 0, &mut on_log).await
    }

    /// As [`Client::tail`], from byte `offset` of the log. Locally each poll waits for news
    /// at the service; on S3 the log's segments and the job's end are read from storage
    /// with URLs the service hands out, and the service is asked again only to renew them.
    pub async fn tail_from(
        &self,
        uid: &str,
        offset: u64,
        on_log: &mut (dyn FnMut(&[u8]) + Send),
    ) -> Result<i32, ClientError> {
        Ok(self.tail_with(uid, offset, None, on_log).await?.exit)
    }

    /// As [`Client::tail_from`] (from the first poll's answer `first` where
    /// [`Client::submit_waiting`] brought one): the job's end with what the service said
    /// of it, which a command line shows apart from the job's own output.
    pub async fn tail_ended(
        &self,
        uid: &str,
        offset: u64,
        first: Option<PollResponse>,
        on_log: &mut (dyn FnMut(&[u8]) + Send),
    ) -> Result<Ended, ClientError> {
        self.tail_with(uid, offset, first, on_log).await
    }

    /// As [`Client::tail`], starting from the first poll's answer that
    /// [`Client::submit_waiting`] brought, if it brought one.
    pub async fn tail_after(
        &self,
        uid: &str,
        first: Option<PollResponse>,
        mut on_log: impl FnMut(&[u8]) + Send,
    ) -> Result<i32, ClientError> {
        Ok(self.tail_with(uid, 0, first, &mut on_log).await?.exit)
    }

    async fn tail_with(
        &self,
        uid: &str,
        mut offset: u64,
        mut answered: Option<PollResponse>,
        on_log: &mut (dyn FnMut(&[u8]) + Send),
    ) -> Result<Ended, ClientError> {
        let mut pacer = Pacer::new(self.poll);
        // Storage is asked more often than the service: a GET on S3 costs next to nothing.
        let mut storage_pacer = Pacer::new(PollPolicy {
            initial: STORAGE_POLL_FIRST,
            max: self.poll.max.min(STORAGE_POLL_MAX),
            ..self.poll
        });
        let mut cadence = Cadence::default();
        // Segments are followed from the start only: their boundaries are not known here.
        let mut segment = (offset == 0).then_some(0u64);
        loop {
            // Each round asks for fresh URLs, so an expired or refused one is renewed.
            let answer = match answered.take() {
                Some(answer) => answer,
                None => self.poll_for(uid, offset, Some(POLL_WAIT), segment).await?,
            };
            match answer {
                PollResponse::Exit { exit, notes } => return Ok(Ended { exit, notes }),
                PollResponse::Inline {
                    exit,
                    notes,
                    log_base64,
                } => {
                    use base64::Engine as _;
                    let log = base64::engine::general_purpose::STANDARD
                        .decode(log_base64)
                        .map_err(|e| ClientError::Protocol {
                            status: 200,
                            why: format!("log-base64: {e}"),
                        })?;
                    // From `offset` on: a first answer is read from the log's start.
                    if let Some(rest) = log.get(offset as usize..) {
                        on_log(rest);
                    }
                    return Ok(Ended { exit, notes });
                }
                PollResponse::Url {
                    follow: Some(follow),
                    ..
                } if segment.is_some() => {
                    let at = Position {
                        offset,
                        segment,
                        within: 0,
                    };
                    let (at, end) = self
                        .follow(uid, &follow, at, on_log, &mut storage_pacer, &mut cadence)
                        .await?;
                    pacer.news();
                    (offset, segment) = (at.offset, at.segment);
                    match end {
                        Some(ended) => return Ok(ended),
                        None => continue,
                    }
                }
                PollResponse::Url { url, .. } => {
                    segment = None;
                    let read = self.read_log(&url, offset, on_log).await?;
                    if read > 0 {
                        offset += read;
                        pacer.news();
                        continue;
                    }
                }
            }
            let idle = pacer.idle(&format!("job {uid} at byte {offset}")).await;
            self.unless_running(uid, idle, &mut pacer).await?;
        }
    }

    /// Reads segments from storage until the URLs run out or near their expiry (answers
    /// `None`: ask the service again) or the job's end is read (its exit code).
    async fn follow(
        &self,
        uid: &str,
        urls: &Follow,
        mut at: Position,
        on_log: &mut (dyn FnMut(&[u8]) + Send),
        pacer: &mut Pacer,
        cadence: &mut Cadence,
    ) -> Result<(Position, Option<Ended>), ClientError> {
        loop {
            let Some(seq) = at.segment else {
                return Ok((at, None));
            };
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let Some(url) = seq
                .checked_sub(urls.first)
                .and_then(|i| urls.segments.get(i as usize))
                .filter(|_| now + RENEW_BEFORE < urls.expires)
            else {
                return Ok((at, None));
            };
            let part = self.read_log_part(url, at.within, on_log).await?;
            at.offset += part.bytes;
            if part.whole && at.within + part.bytes > 0 {
                // A segment is whole once it exists: on to the next.
                at.segment = Some(seq + 1);
                at.within = 0;
                pacer.news();
                cadence.arrived();
                if let Some(wait) = cadence.after_arrival() {
                    let what = format!("segment {} at byte {}", seq + 1, at.offset);
                    pacer.idle_for(wait, &what).await?;
                }
                continue;
            }
            if part.bytes > 0 {
                // Cut off midway: the rest of this segment, at once.
                at.within += part.bytes;
                pacer.news();
                continue;
            }
            let end = match cadence.missed() {
                true => self.get_number::<u64>(&urls.size).await?,
                false => None,
            };
            if let Some(size) = end {
                // Ended. What the segments did not bring (a note housekeeping added) is in
                // the whole log, read from where the segments stopped.
                if at.offset < size {
                    at.offset += self.read_log(&urls.log, at.offset, on_log).await?;
                    at.segment = None;
                }
                if at.offset >= size {
                    return Ok((at, self.stored_end(uid, urls).await?));
                }
                return Ok((at, None));
            }
            let what = format!("segment {seq} at byte {}", at.offset);
            let idle = match cadence.until_due() {
                Some(wait) => pacer.idle_for(wait, &what).await,
                None => pacer.idle(&what).await,
            };
            match idle {
                // Silent for long: look for the end in storage before asking the service.
                Err(ClientError::NoProgress { .. }) if cadence.force_end() => continue,
                idle => self.unless_running(uid, idle, pacer).await?,
            }
        }
    }

    /// How a job ended, read from storage once its `size` is there. Its meta, written
    /// before `exit` and `size`, holds the exit code and what the service said of the run:
    /// one GET for both. Without a meta URL (an older service), `exit` and then the
    /// service's answer for the notes.
    async fn stored_end(&self, uid: &str, urls: &Follow) -> Result<Option<Ended>, ClientError> {
        if let Some(url) = &urls.meta {
            let read = self
                .retry
                .run("read meta", |_| {
                    let req = self.http.get(url);
                    policy::send(req, policy::ANSWER_WITHIN)
                })
                .await;
            if let Ok(resp) = read {
                if let Ok(JobMeta {
                    exit: Some(exit),
                    notes,
                    ..
                }) = json_or_error::<JobMeta>(resp).await
                {
                    return Ok(Some(Ended { exit, notes }));
                }
            }
        }
        let Some(exit) = self.get_number::<i32>(&urls.exit).await? else {
            return Ok(None);
        };
        let notes = match self.status(uid).await {
            Ok(meta) => meta.notes,
            Err(e) => vec![format!("cannot read what the service said of the run: {e}")],
        };
        Ok(Some(Ended { exit, notes }))
    }

    /// A follow's silence (`idle` failed with [`ClientError::NoProgress`]) is no reason to
    /// give up on a job the service says still runs, which it may allow hours: only on one
    /// that ended or is gone.
    async fn unless_running(
        &self,
        uid: &str,
        idle: Result<(), ClientError>,
        pacer: &mut Pacer,
    ) -> Result<(), ClientError> {
        match idle {
            Err(ClientError::NoProgress { .. })
                if self.status(uid).await.is_ok_and(|m| !m.state.is_final()) =>
            {
                pacer.news();
                Ok(())
            }
            other => other,
        }
    }

    /// Follows a job whose objects go to the caller's own storage (`push-urls`), through
    /// GET URLs for the same three objects; returns its exit code once `size` exists and
    /// that many log bytes were read.
    pub async fn tail_objects(
        &self,
        urls: &ObjectUrls,
        mut on_log: impl FnMut(&[u8]) + Send,
    ) -> Result<i32, ClientError> {
        let mut offset = 0u64;
        let mut pacer = Pacer::new(self.poll);
        loop {
            let size = self.get_number::<u64>(&urls.size).await?;
            let read = self.read_log(&urls.log, offset, &mut on_log).await?;
            offset += read;
            if let Some(size) = size.filter(|&s| offset >= s) {
                let exit = self.get_number::<i32>(&urls.exit).await?.ok_or_else(|| {
                    ClientError::Protocol {
                        status: 404,
                        why: format!("size is {size} but there is no exit object"),
                    }
                })?;
                return Ok(exit);
            }
            if read > 0 {
                pacer.news();
                continue;
            }
            pacer
                .idle(&format!("pushed job's log at byte {offset}"))
                .await?;
        }
    }

    /// GETs a small object holding a decimal number; `None` while it does not exist.
    async fn get_number<T: std::str::FromStr>(&self, url: &str) -> Result<Option<T>, ClientError> {
        let resp = self
            .retry
            .run("read object", |_| {
                let req = self.http.get(url);
                policy::send(req, policy::ANSWER_WITHIN)
            })
            .await;
        let resp = match resp {
            Ok(resp) => resp,
            Err(ClientError::Api { status, .. }) if policy::log_not_ready(status) => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(ClientError::Http)?;
        text.trim()
            .parse()
            .map(Some)
            .map_err(|_| ClientError::Protocol {
                status,
                why: format!(
                    "expected a number, got {:?}",
                    text.chars().take(40).collect::<String>()
                ),
            })
    }

    /// Submits a job and follows it to its end; returns its exit code.
    pub async fn exec(
        &self,
        request: &ExecRequest,
        on_log: impl FnMut(&[u8]) + Send,
    ) -> Result<i32, ClientError> {
        let uid = self.submit(request).await?;
        self.tail(&uid, on_log).await
    }
}

/// A fresh random key for one submission and its retries. Straight from the kernel: a
/// seeded generator would probe the CPU's features first, and in a virtual machine each
/// probe is a trap to the host (about 0.05 ms of a short `aws-exec exec`).
pub fn new_idempotency_key() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn json_or_error<T: serde::de::DeserializeOwned>(
    resp: reqwest::Response,
) -> Result<T, ClientError> {
    if !resp.status().is_success() {
        return Err(ClientError::from_response(resp).await);
    }
    let status = resp.status();
    let body = resp.bytes().await.map_err(ClientError::Http)?;
    serde_json::from_slice(&body).map_err(|e| ClientError::Protocol {
        status: status.as_u16(),
        why: format!(
            "{e}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ),
    })
}

/// The one-call form: run `request` on the service at `url` and stream its log to `on_log`.
pub async fn exec(
    url: &str,
    auth: &str,
    request: &ExecRequest,
    on_log: impl FnMut(&[u8]) + Send,
) -> Result<i32, ClientError> {
    Client::new(url, auth)?.exec(request, on_log).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_config_clearly() {
        assert!(matches!(
            Client::new("ftp://x", "k"),
            Err(ClientError::Config(_))
        ));
        assert!(matches!(
            Client::new("http://x", ""),
            Err(ClientError::Config(_))
        ));
        assert_eq!(Client::new("http://x/", "k").unwrap().url(), "http://x");
    }

    #[test]
    fn explicit_url_wins() {
        assert_eq!(service_url(Some("http://a:1")), "http://a:1");
    }
}
