//! How often to poll and how to retry: the numbers in one place.

use std::future::Future;
use std::time::Duration;

use aws_exec_protocol::limits::{LOST_MARGIN, MAX_RUN_TIME};
use reqwest::StatusCode;

use crate::ClientError;

/// Polling starts quick and slows while nothing new arrives.
#[derive(Clone, Copy, Debug)]
pub struct PollPolicy {
    pub initial: Duration,
    pub max: Duration,
    /// Each empty poll waits this much longer than the one before.
    pub factor: f64,
    /// Following gives up, with an error saying so, after this long without a new byte or
    /// the end, unless the service says the job still runs (then the silence starts over):
    /// a log URL that stays refused, or a pushed job whose runner died, must not keep a
    /// caller waiting forever, and a quiet job allowed hours must not be given up on.
    pub give_up_after: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        // Short jobs end within milliseconds: a quick first look pays; doubling keeps a
        // long job's idle polls down to about one a second.
        PollPolicy {
            initial: Duration::from_millis(10),
            max: Duration::from_secs(1),
            factor: 2.0,
            give_up_after: MAX_RUN_TIME + LOST_MARGIN,
        }
    }
}

impl PollPolicy {
    pub(crate) fn next(&self, wait: Duration) -> Duration {
        wait.mul_f64(self.factor).min(self.max)
    }
}

/// Paces one follow: quick polls after news, slower ones while there is none, and an error
/// once there has been none for [`PollPolicy::give_up_after`].
pub(crate) struct Pacer {
    policy: PollPolicy,
    wait: Duration,
    last_news: tokio::time::Instant,
}

impl Pacer {
    pub(crate) fn new(policy: PollPolicy) -> Self {
        Pacer {
            policy,
            wait: policy.initial,
            last_news: tokio::time::Instant::now(),
        }
    }

    pub(crate) fn news(&mut self) {
        self.wait = self.policy.initial;
        self.last_news = tokio::time::Instant::now();
    }

    /// Sleeps before the next poll, or fails if the silence has lasted too long.
    pub(crate) async fn idle(&mut self, what: &str) -> Result<(), ClientError> {
        self.check_silence(what)?;
        tokio::time::sleep(self.wait).await;
        self.wait = self.policy.next(self.wait);
        Ok(())
    }

    /// As [`Pacer::idle`], sleeping `wait` (news is not expected before), the pace kept.
    pub(crate) async fn idle_for(&mut self, wait: Duration, what: &str) -> Result<(), ClientError> {
        self.check_silence(what)?;
        tokio::time::sleep(wait).await;
        Ok(())
    }

    fn check_silence(&self, what: &str) -> Result<(), ClientError> {
        let silent = self.last_news.elapsed();
        if silent >= self.policy.give_up_after {
            return Err(ClientError::NoProgress {
                silent,
                why: format!("{what}: no new log bytes and no exit code"),
            });
        }
        Ok(())
    }
}

/// When to look in storage for a log's next segment, and for the job's end. Segments come
/// at their writer's pace (about one a second on S3), so once two have come the next is due
/// about as long after the last: the follower waits for most of that, then looks often until
/// it comes. The end (`size`) is looked for only once the next segment is clearly late, at
/// most once a second: a log that streams costs about two looks a segment, not fifteen.
/// A segment found right after a look that found nothing means the follower has caught up
/// with the writer: the next is not looked for before it is due. One found at the first
/// look may have others queued behind it (a follower that started late, or was held up),
/// so the next is looked for at once.
#[derive(Default)]
pub(crate) struct Cadence {
    last: Option<tokio::time::Instant>,
    every: Option<Duration>,
    /// Looks that found nothing since the next segment was due.
    late: u32,
    /// A look found nothing since the last segment came.
    in_vain: bool,
    /// The last segment came after such a look: the follower is at the writer's heels.
    caught_up: bool,
    end_looked: Option<tokio::time::Instant>,
    /// The next look is for the end too, whatever the pace says (a long silence).
    forced: bool,
}

impl Cadence {
    /// Looked for a little before it is due, so that an early one is not waited for long.
    const EARLY: f64 = 0.8;
    /// Late by this much of the pace (or by `OVERDUE_MAX`), the job may have ended.
    const OVERDUE: f64 = 1.3;
    const OVERDUE_MAX: Duration = Duration::from_millis(1500);
    const DUE_WAIT_MAX: Duration = Duration::from_secs(1);
    const END_EVERY: Duration = Duration::from_secs(1);
    /// Due this soon counts as due: a look a few milliseconds early (after a wait cut to
    /// `DUE_WAIT_MAX`) is not followed by another a few milliseconds later.
    const NEARLY_DUE: Duration = Duration::from_millis(50);

    pub(crate) fn arrived(&mut self) {
        let now = tokio::time::Instant::now();
        if let Some(last) = self.last {
            let gap = now - last;
            // The pace drifts (a burst, a quiet spell): the last gap counts for a quarter.
            self.every = Some(self.every.map_or(gap, |every| (every * 3 + gap) / 4));
        }
        self.last = Some(now);
        self.late = 0;
        self.forced = false;
        self.caught_up = std::mem::take(&mut self.in_vain);
    }

    /// How long to wait after a segment came before looking for the next: until it is due
    /// when the follower had caught up with the writer, else not at all.
    pub(crate) fn after_arrival(&self) -> Option<Duration> {
        self.until_due().filter(|_| self.caught_up)
    }

    /// A follow fell silent for long: the next look is for the end too. False when that
    /// was done already since the last segment (then the service is to be asked).
    pub(crate) fn force_end(&mut self) -> bool {
        !std::mem::replace(&mut self.forced, true)
    }

    /// How long to wait before looking for the next segment, while it is not due: never
    /// more than `DUE_WAIT_MAX`, so that a job ending after a long quiet spell is not
    /// waited on for as long.
    pub(crate) fn until_due(&self) -> Option<Duration> {
        let due = self.last? + self.every?.mul_f64(Self::EARLY);
        due.checked_duration_since(tokio::time::Instant::now())
            .filter(|wait| *wait > Self::NEARLY_DUE)
            .map(|wait| wait.min(Self::DUE_WAIT_MAX))
    }

    /// A look found no segment; answers whether to look for the job's end now.
    pub(crate) fn missed(&mut self) -> bool {
        self.in_vain = true;
        if self.forced {
            self.end_looked = Some(tokio::time::Instant::now());
            return true;
        }
        if self.until_due().is_some() {
            return false;
        }
        self.late += 1;
        let overdue = match (self.last, self.every) {
            (Some(last), Some(every)) => {
                last.elapsed() >= every.mul_f64(Self::OVERDUE).min(Self::OVERDUE_MAX)
            }
            _ => self.late >= 2,
        };
        let look = overdue
            && self
                .end_looked
                .is_none_or(|at| at.elapsed() >= Self::END_EVERY);
        if look {
            self.end_looked = Some(tokio::time::Instant::now());
        }
        look
    }
}

/// Connection errors and 5xx answers are retried with exponential backoff, within a
/// bounded total; a service that took the request and sent nothing back is not asked again.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub initial: Duration,
    pub max: Duration,
    /// A host that cannot be connected to is tried again only this long after the first
    /// attempt: a service that is not there is said at once, not after the whole backoff.
    pub connect_for: Duration,
    /// No attempt starts later than this after the first one.
    pub total: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 8,
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
            connect_for: CONNECT_FOR,
            total: RETRY_FOR,
        }
    }
}

/// How long connecting to a host may take, and how long one that refuses or does not
/// answer is tried again: together within the three seconds a person waits for an answer.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_FOR: Duration = Duration::from_secs(2);
const RETRY_FOR: Duration = Duration::from_secs(30);

/// How long the service has to start answering a request (status and headers) once it has
/// taken the connection. Every call answers within milliseconds, or a few seconds on a
/// cold Lambda; a service that is stopped, or a peer that accepts and never answers, is
/// told apart from a slow one here rather than waited on for ever.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// How long an answer's body may pause between two reads.
pub const BETWEEN_BYTES: Duration = Duration::from_secs(30);

/// [`ANSWER_WITHIN`] for a call that asked the service to wait up to `wait` seconds for
/// news: the wait is the service's to spend, the deadline comes on top of it.
pub(crate) fn answer_within(wait: Option<u64>) -> Duration {
    ANSWER_WITHIN + Duration::from_secs(wait.unwrap_or(0))
}

/// [`ANSWER_WITHIN`] for an upload of `len` bytes, whose answer comes only once the body
/// is sent: a second more for each 128 KiB, a slow link's pace.
pub(crate) fn upload_within(len: u64) -> Duration {
    ANSWER_WITHIN + Duration::from_secs(len / (128 * 1024))
}

/// Sends `req`, waiting at most `within` for the answer to begin, and sorts the answer as
/// [`retry_transient`] does. The deadline covers the connection and the request's body;
/// the answer's body is bounded by [`BETWEEN_BYTES`].
pub(crate) async fn send(
    req: reqwest::RequestBuilder,
    within: Duration,
) -> Result<reqwest::Response, Attempt> {
    let (http, req) = req.build_split();
    let req = req.map_err(|e| Attempt::Fail(ClientError::Http(e)))?;
    let url = req.url().origin().ascii_serialization();
    match tokio::time::timeout(within, http.execute(req)).await {
        Ok(sent) => retry_transient(sent).await,
        Err(_) => Err(Attempt::Fail(ClientError::NoAnswer {
            url,
            what: "request",
            within,
        })),
    }
}

pub(crate) enum Attempt {
    Retry(ClientError),
    Fail(ClientError),
}

impl RetryPolicy {
    pub(crate) async fn run<T, F, Fut>(
        &self,
        what: &'static str,
        mut f: F,
    ) -> Result<T, ClientError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, Attempt>>,
    {
        let mut wait = self.initial;
        let mut attempt = 1;
        let first = tokio::time::Instant::now();
        loop {
            match f(attempt).await {
                Ok(v) => return Ok(v),
                Err(Attempt::Fail(ClientError::NoAnswer { url, within, .. })) => {
                    return Err(ClientError::NoAnswer { url, what, within })
                }
                Err(Attempt::Fail(e)) => return Err(e),
                Err(Attempt::Retry(ClientError::Http(e)))
                    if e.is_connect() && first.elapsed() + wait > self.connect_for =>
                {
                    return Err(ClientError::unreachable(&e))
                }
                Err(Attempt::Retry(e))
                    if attempt >= self.attempts.max(1) || first.elapsed() + wait > self.total =>
                {
                    return Err(ClientError::GaveUp {
                        what,
                        attempts: attempt,
                        last: Box::new(e),
                    })
                }
                Err(Attempt::Retry(e)) => {
                    tracing::debug!(what, attempt, error = %e, "retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(self.max);
                    attempt += 1;
                }
            }
        }
    }
}

/// Sorts a response for an idempotent request: success passes; 502, 503 and 504 (a
/// gateway or a busy service), 409 (an earlier request with the same Idempotency-Key still
/// in progress) and connection errors are retried; other errors, 500 among them (the
/// service failed in a way a retry does not mend, and says why), fail with the service's
/// message.
pub(crate) async fn retry_transient(
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<reqwest::Response, Attempt> {
    let transient = |status: StatusCode| {
        matches!(
            status,
            StatusCode::BAD_GATEWAY
                | StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::GATEWAY_TIMEOUT
                | StatusCode::CONFLICT
        )
    };
    match sent {
        Err(e) => Err(Attempt::Retry(ClientError::Http(e))),
        Ok(resp) if transient(resp.status()) => {
            Err(Attempt::Retry(ClientError::from_response(resp).await))
        }
        Ok(resp) if resp.status().is_success() => Ok(resp),
        Ok(resp) => Err(Attempt::Fail(ClientError::from_response(resp).await)),
    }
}

/// 403 (S3 without list rights, or not yet signed for), 404 and 416 (nothing past the end)
/// all mean "no new log yet".
pub(crate) fn log_not_ready(status: u16) -> bool {
    status == StatusCode::FORBIDDEN.as_u16()
        || status == StatusCode::NOT_FOUND.as_u16()
        || status == StatusCode::RANGE_NOT_SATISFIABLE.as_u16()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_backs_off_to_a_ceiling() {
        let p = PollPolicy::default();
        let mut w = p.initial;
        for _ in 0..50 {
            w = p.next(w);
        }
        assert_eq!(w, p.max);
        assert!(p.next(p.initial) > p.initial);
    }

    /// Segments a second apart, each found by the look after one that found nothing.
    #[tokio::test(start_paused = true)]
    async fn a_follower_at_the_writers_heels_waits_until_the_next_segment_is_due() {
        let mut cadence = Cadence::default();
        cadence.arrived();
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(900)).await;
            assert!(!cadence.missed(), "not late: no look for the end");
            tokio::time::sleep(Duration::from_millis(100)).await;
            cadence.arrived();
        }
        let wait = cadence.after_arrival().expect("waits");
        assert_eq!(wait, Duration::from_millis(800));
    }

    /// Two segments a second apart, the second found at the first look for it.
    async fn two_segments_a_second_apart() -> Cadence {
        let mut cadence = Cadence::default();
        cadence.arrived();
        tokio::time::sleep(Duration::from_secs(1)).await;
        cadence.arrived();
        cadence
    }

    /// A follower behind the writer reads what is queued without waiting.
    #[tokio::test(start_paused = true)]
    async fn a_follower_behind_the_writer_looks_for_the_next_segment_at_once() {
        let mut cadence = two_segments_a_second_apart().await;
        assert_eq!(cadence.after_arrival(), None);
        // Caught up, then behind again (held up): at once again.
        tokio::time::sleep(Duration::from_secs(1)).await;
        cadence.missed();
        cadence.arrived();
        assert!(cadence.after_arrival().is_some());
        tokio::time::sleep(Duration::from_secs(3)).await;
        cadence.arrived();
        assert_eq!(cadence.after_arrival(), None);
    }

    /// A look a few milliseconds before the next segment is due counts as due, so the miss
    /// is not looked at again a few milliseconds later.
    #[tokio::test(start_paused = true)]
    async fn a_look_just_before_due_counts_as_due() {
        let mut cadence = two_segments_a_second_apart().await;
        // Due at 0.8 s; looked at 0.78 s.
        tokio::time::sleep(Duration::from_millis(780)).await;
        assert_eq!(cadence.until_due(), None);
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert!(cadence.missed(), "overdue by then: look for the end");
    }

    #[tokio::test]
    async fn retries_then_gives_up_with_the_last_error() {
        let policy = RetryPolicy {
            attempts: 3,
            initial: Duration::from_millis(1),
            max: Duration::from_millis(2),
            connect_for: Duration::from_secs(1),
            total: Duration::from_secs(10),
        };
        let mut calls = 0;
        let err = policy
            .run::<(), _, _>("thing", |_| {
                calls += 1;
                async { Err(Attempt::Retry(ClientError::Config("down".into()))) }
            })
            .await
            .unwrap_err();
        assert_eq!(calls, 3);
        assert!(matches!(err, ClientError::GaveUp { attempts: 3, .. }));
    }
}
