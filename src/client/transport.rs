//! The transport: builds API URLs from validated path segments, bounds the requests in flight,
//! sends one call with bounded retries (exponential backoff with jitter, honouring
//! `Retry-After`), and turns failed answers into typed [`ClientError`]s.
//!
//! Retry rules (product contract, section 3): GET, PUT and DELETE are repeated on connection
//! errors, 429, 502, 503 and 504. A POST is never repeated after a failure that leaves its effect
//! unknown; it is repeated only when it certainly had no effect: the connection could not be
//! opened, or the server answered 429, a refusal before any processing. Calls that are POSTs on
//! the wire but change nothing (export, abort) declare themselves repeatable.

use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;

use super::config::{ClientConfig, Secret};
use super::error::ClientError;

/// The documented prefix of the DSS public API.
pub(crate) const API_PREFIX: [&str; 2] = ["public", "api"];
/// Longest wait between two attempts computed by the exponential backoff.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Longest `Retry-After` honoured; a server asking for more gets retried after this long.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// A path under the API prefix, made of literal segments and validated object names.
/// Names are percent-encoded by the URL builder, so `/`, `?` or `#` in a name stay inside its
/// segment; `.` and `..` are refused because URL normalisation would drop them.
#[derive(Debug, Clone, Default)]
pub(crate) struct ApiPath {
    segments: Vec<String>,
    trailing_slash: bool,
}

impl ApiPath {
    pub(crate) fn new() -> Self {
        ApiPath::default()
    }

    /// Literal segments, written as `"admin/users"`.
    pub(crate) fn lit(mut self, literal: &'static str) -> Self {
        self.segments
            .extend(literal.split('/').filter(|s| !s.is_empty()).map(str::to_string));
        self
    }

    /// One segment holding an object name (a project key, a dataset name, a login, ...).
    pub(crate) fn name(mut self, what: &'static str, value: &str) -> Result<Self, ClientError> {
        if value.is_empty() || value == "." || value == ".." {
            return Err(ClientError::InvalidName {
                what,
                name: value.to_string(),
            });
        }
        self.segments.push(value.to_string());
        Ok(self)
    }

    /// End the path with `/`, as the official client does on collections and a few items.
    pub(crate) fn slash(mut self) -> Self {
        self.trailing_slash = true;
        self
    }

    /// The path as shown in logs and errors, e.g. `/projects/P/metadata`.
    pub(crate) fn display(&self) -> String {
        let mut shown = String::new();
        for segment in &self.segments {
            shown.push('/');
            shown.push_str(segment);
        }
        if self.trailing_slash || shown.is_empty() {
            shown.push('/');
        }
        shown
    }

    fn url(&self, base: &url::Url) -> url::Url {
        let mut url = base.clone();
        {
            // `base_url` checked the URL is http(s) with a host, so it can be a base.
            let mut segments = url.path_segments_mut().expect("http(s) URLs have a path");
            segments.pop_if_empty();
            segments.extend(API_PREFIX);
            segments.extend(&self.segments);
            if self.trailing_slash {
                segments.push("");
            }
        }
        url.set_query(None);
        url.set_fragment(None);
        url
    }
}

/// Whether a call may be sent again after a retryable failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// Sending it twice has the same effect as once (GET, PUT, DELETE, read-only POSTs).
    Idempotent,
    /// A create: only repeated when the failed attempt certainly had no effect (connection not
    /// opened, 429).
    OnlyIfRefused,
}

/// One API call.
pub(crate) struct Call<'a> {
    pub method: Method,
    pub path: ApiPath,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<Bytes>,
    /// The body's media type (`application/json` unless [`Call::bytes`] says otherwise).
    pub content_type: String,
    pub repeat: Repeat,
    /// Secrets carried in the body, scrubbed from any error text.
    pub secrets: Vec<&'a str>,
}

impl<'a> Call<'a> {
    pub(crate) fn new(method: Method, path: ApiPath) -> Self {
        let repeat = if method == Method::POST {
            Repeat::OnlyIfRefused
        } else {
            Repeat::Idempotent
        };
        Call {
            method,
            path,
            query: Vec::new(),
            body: None,
            content_type: "application/json".to_string(),
            repeat,
            secrets: Vec::new(),
        }
    }

    pub(crate) fn query(mut self, name: &'static str, value: impl ToString) -> Self {
        self.query.push((name, value.to_string()));
        self
    }

    pub(crate) fn json<B: Serialize + ?Sized>(mut self, body: &B) -> Result<Self, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Decode {
            method: self.method.to_string(),
            path: self.path.display(),
            message: format!("cannot encode the request body: {e}"),
        })?;
        self.body = Some(Bytes::from(bytes));
        Ok(self)
    }

    /// A body that is not JSON (a multipart upload), sent with `content_type`.
    pub(crate) fn bytes(mut self, content_type: impl Into<String>, body: Vec<u8>) -> Self {
        self.content_type = content_type.into();
        self.body = Some(Bytes::from(body));
        self
    }

    pub(crate) fn repeat(mut self, repeat: Repeat) -> Self {
        self.repeat = repeat;
        self
    }

    pub(crate) fn secret(mut self, secret: &'a str) -> Self {
        self.secrets.push(secret);
        self
    }
}

/// A successful answer.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: Bytes,
}

/// The shared state behind every clone of a `DssClient`.
pub(crate) struct Transport {
    http: reqwest::Client,
    base: url::Url,
    in_flight: Semaphore,
    max_in_flight: usize,
    max_retries: u32,
    base_backoff: Duration,
    api_key: Secret,
    /// The stack-lock holder named on every write (`X-Dssctl-Lock-Holder`) while a lock is held.
    lock_holder: std::sync::Mutex<Option<reqwest::header::HeaderValue>>,
    /// Serialises this process's read-modify-writes of the global variables (one document).
    pub(crate) variables: tokio::sync::Mutex<()>,
    /// GETs started ahead of need (see `prefetch`).
    pub(crate) prefetched: super::prefetch::Prefetched,
}

/// The header naming the stack-lock holder on writes.
pub(crate) const LOCK_HOLDER_HEADER: &str = "x-dssctl-lock-holder";

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("base", &self.base.as_str())
            .field("max_in_flight", &self.max_in_flight)
            .field("max_retries", &self.max_retries)
            .field("base_backoff", &self.base_backoff)
            .field("api_key", &self.api_key)
            .finish()
    }
}

impl Transport {
    pub(crate) fn new(config: &ClientConfig) -> Result<Self, ClientError> {
        let base = config.base_url()?;
        let http = config.http_client()?;
        let max_in_flight = config.max_in_flight.max(1);
        Ok(Transport {
            http,
            base,
            in_flight: Semaphore::new(max_in_flight),
            max_in_flight,
            max_retries: config.max_retries,
            base_backoff: config.base_backoff,
            api_key: config.api_key.clone(),
            lock_holder: std::sync::Mutex::new(None),
            variables: tokio::sync::Mutex::new(()),
            prefetched: super::prefetch::Prefetched::default(),
        })
    }

    /// Name `holder` on every later write (`None`: no more). A holder that is not a valid
    /// header value is not sent.
    pub(crate) fn set_lock_holder(&self, holder: Option<&str>) {
        let value = holder.and_then(|h| reqwest::header::HeaderValue::from_str(h).ok());
        *self.lock_holder.lock().unwrap_or_else(|e| e.into_inner()) = value;
    }

    fn lock_holder(&self) -> Option<reqwest::header::HeaderValue> {
        self.lock_holder.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn base_url(&self) -> &url::Url {
        &self.base
    }

    /// Send a call, repeating it as its [`Repeat`] allows.
    pub(crate) async fn execute(&self, call: Call<'_>) -> Result<Answer, ClientError> {
        let path = call.path.display();
        let url = call.path.url(&self.base);
        let mut secrets = call.secrets.clone();
        secrets.push(self.api_key.expose());
        let mut may_have_applied = false;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let result = self.send_once(&call, &url, &path, attempt).await;
            let err = match result {
                Ok(answer) => return Ok(answer),
                Err(err) => err.scrub(&secrets),
            };
            // A DELETE repeated after an attempt that may have gone through finds nothing: the
            // earlier attempt did the work.
            if call.method == Method::DELETE && may_have_applied && err.is_not_found() {
                tracing::debug!(method = %call.method, path = %path, attempt, "already deleted by an earlier attempt");
                return Ok(Answer {
                    status: 200,
                    body: Bytes::new(),
                });
            }
            let repeatable = match call.repeat {
                Repeat::Idempotent => err.is_retryable(),
                Repeat::OnlyIfRefused => err.is_unprocessed(),
            };
            if !repeatable || attempt > self.max_retries {
                return Err(err);
            }
            may_have_applied |= err.is_ambiguous();
            let delay = backoff_delay(self.base_backoff, attempt, err.retry_after(), &mut rand::rng());
            tracing::debug!(method = %call.method, path = %path, attempt, error = %err, delay_ms = delay.as_millis() as u64, "retrying");
            tokio::time::sleep(delay).await;
        }
    }

    async fn send_once(
        &self,
        call: &Call<'_>,
        url: &url::Url,
        path: &str,
        attempt: u32,
    ) -> Result<Answer, ClientError> {
        // The permit is held for the request only, not while backing off, so that waiting
        // retries do not starve other calls.
        let _permit = self
            .in_flight
            .acquire()
            .await
            .map_err(|_| ClientError::Transport {
                method: call.method.to_string(),
                path: path.to_string(),
                message: "the client is shutting down".to_string(),
                before_sending: true,
            })?;
        let mut request = self.http.request(call.method.clone(), url.clone());
        if call.method != Method::GET
            && let Some(holder) = self.lock_holder()
        {
            request = request.header(LOCK_HOLDER_HEADER, holder);
        }
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, call.content_type.as_str())
                .body(body.clone());
        }
        let transport_error = |e: reqwest::Error| ClientError::Transport {
            method: call.method.to_string(),
            path: path.to_string(),
            before_sending: e.is_connect(),
            message: describe_reqwest_error(e),
        };
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                tracing::debug!(method = %call.method, path = %path, attempt, "request failed before an answer");
                return Err(transport_error(e));
            }
        };
        let status = response.status().as_u16();
        tracing::debug!(method = %call.method, path = %path, status, attempt, "dss request");
        let retry_after = parse_retry_after(response.headers());
        let body = response.bytes().await.map_err(transport_error)?;
        if status >= 400 {
            return Err(ClientError::from_response(
                call.method.as_str(),
                path,
                status,
                &body,
                retry_after,
            ));
        }
        Ok(Answer { status, body })
    }
}

/// The wait before retry number `retry` (1-based): `base * 2^(retry-1)`, capped, with "equal
/// jitter" (half fixed, half random) so concurrent callers spread out. A `Retry-After` from the
/// server sets the floor.
pub(crate) fn backoff_delay(
    base: Duration,
    retry: u32,
    retry_after: Option<Duration>,
    rng: &mut impl Rng,
) -> Duration {
    let exponent = retry.saturating_sub(1).min(20);
    let full = base.saturating_mul(1u32 << exponent).min(MAX_BACKOFF);
    let half = full / 2;
    let jitter_ms = rng.random_range(0..=half.as_millis() as u64);
    let computed = half + Duration::from_millis(jitter_ms);
    match retry_after {
        Some(asked) => {
            let asked = asked.min(MAX_RETRY_AFTER);
            // Never earlier than asked; a little jitter on top so callers do not all come back
            // in the same millisecond.
            asked + Duration::from_millis(rng.random_range(0..=base.as_millis() as u64 / 2))
        }
        None => computed,
    }
}

/// `Retry-After` as delta-seconds (integer or decimal) or as an HTTP date (IMF-fixdate, e.g.
/// `Wed, 21 Oct 2015 07:28:00 GMT`), relative to now.
pub(crate) fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0)
            .then(|| Duration::from_secs_f64(seconds.min(86_400.0)));
    }
    let at = parse_http_date(value)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// Seconds since the Unix epoch of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn parse_http_date(value: &str) -> Option<u64> {
    let parts: Vec<&str> = value.split_whitespace().collect();
    let [_weekday, day, month, year, clock, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day: u64 = day.parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as u64
        + 1;
    let year: u64 = year.parse().ok()?;
    let hms: Vec<u64> = clock.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    if !(1..=31).contains(&day) || year < 1970 || *h > 23 || *m > 59 || *s > 60 {
        return None;
    }
    // Days from 1970-01-01 to the date (Howard Hinnant's days_from_civil).
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

/// A reqwest error with its causes, without the URL (the path is already in the error).
fn describe_reqwest_error(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect to DSS"
    } else {
        "request failed"
    };
    let mut message = kind.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// Decode a JSON answer.
pub(crate) fn decode<T: DeserializeOwned>(
    method: &str,
    path: &ApiPath,
    answer: &Answer,
) -> Result<T, ClientError> {
    serde_json::from_slice(&answer.body).map_err(|e| ClientError::Decode {
        method: method.to_string(),
        path: path.display(),
        message: format!("{e} (HTTP {}, {} bytes)", answer.status, answer.body.len()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn paths_are_encoded_and_validated() {
        let base = url::Url::parse("http://127.0.0.1:1/dss/").unwrap();
        let path = ApiPath::new()
            .lit("projects")
            .name("project key", "A B/C")
            .unwrap()
            .lit("datasets")
            .slash();
        assert_eq!(path.display(), "/projects/A B/C/datasets/");
        assert_eq!(
            path.url(&base).as_str(),
            "http://127.0.0.1:1/dss/public/api/projects/A%20B%2FC/datasets/"
        );
        let dotted = ApiPath::new()
            .lit("admin/users")
            .name("login", "john.doe")
            .unwrap();
        assert_eq!(
            dotted.url(&url::Url::parse("http://h:1").unwrap()).as_str(),
            "http://h:1/public/api/admin/users/john.doe"
        );
        for bad in ["", ".", ".."] {
            let err = ApiPath::new()
                .lit("projects")
                .name("project key", bad)
                .unwrap_err();
            assert!(err.to_string().contains("project key"), "{err}");
        }
    }

    #[test]
    fn backoff_grows_exponentially_within_jitter_bounds() {
        let mut rng = StdRng::seed_from_u64(7);
        let base = Duration::from_millis(100);
        for retry in 1..=6 {
            let full = (base * 2u32.pow(retry - 1)).min(MAX_BACKOFF);
            for _ in 0..50 {
                let d = backoff_delay(base, retry, None, &mut rng);
                assert!(
                    d >= full / 2 && d <= full,
                    "retry {retry}: {d:?} not in [{:?}, {full:?}]",
                    full / 2
                );
            }
        }
        let capped = backoff_delay(base, 40, None, &mut rng);
        assert!(capped <= MAX_BACKOFF);
    }

    #[test]
    fn retry_after_sets_the_floor_and_is_capped() {
        let mut rng = StdRng::seed_from_u64(1);
        let base = Duration::from_millis(10);
        let d = backoff_delay(base, 1, Some(Duration::from_secs(2)), &mut rng);
        assert!(
            d >= Duration::from_secs(2) && d <= Duration::from_millis(2005),
            "{d:?}"
        );
        let capped = backoff_delay(base, 1, Some(Duration::from_secs(3600)), &mut rng);
        assert!(capped <= MAX_RETRY_AFTER + base, "{capped:?}");
    }

    #[test]
    fn http_dates_are_parsed() {
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(1_445_412_480)
        );
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2000 12:00:00 GMT"),
            Some(951_825_600)
        );
        assert_eq!(parse_http_date("Wed, 21 Oct 2015 07:28:00 CET"), None);
        assert_eq!(parse_http_date("21 Oct 2015"), None);
        assert_eq!(parse_http_date("Wed, 21 Foo 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn retry_after_header_parsing() {
        let mut headers = HeaderMap::new();
        assert_eq!(parse_retry_after(&headers), None);
        headers.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(parse_retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(RETRY_AFTER, "0.25".parse().unwrap());
        assert_eq!(parse_retry_after(&headers), Some(Duration::from_millis(250)));
        // A date in the past means "now".
        headers.insert(RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(parse_retry_after(&headers), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(parse_retry_after(&headers), None);
        headers.insert(RETRY_AFTER, "-1".parse().unwrap());
        assert_eq!(parse_retry_after(&headers), None);
    }
}
