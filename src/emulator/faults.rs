//! Fault injection (latency, error rate, rate limit) and request statistics.
//!
//! Faults apply to API routes only, never to `/__emulator/stats`. Order for each API request:
//! count it, then the rate limit (429 with `Retry-After`), then the error rate (503): a refused
//! request is still a request the client made, so it is counted. The rate limit is a fixed
//! one-second window: simple, and what a test can predict.
//!
//! The latency is the time each answer takes, from the request's arrival: the request is
//! handled at once and its answer held back until the latency has passed ([`Faults::hold`]),
//! as a DSS whose requests take that long would answer. The handling's own time (a write's
//! fsync) is inside the latency, not added to it, so a client making N requests, P at a time,
//! cannot finish faster than N / P x latency and an ideal one finishes in just that.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};

use super::http::ApiError;
use crate::wire::EmulatorStats;

/// The end of each held answer's wait, left to a thread's precise sleep ([`Faults::hold`]).
const FINE_WAIT: Duration = Duration::from_millis(5);

/// The thread that ends the held answers' last [`FINE_WAIT`]: it keeps their deadlines in
/// order and sleeps until the earliest (a condition variable's timed wait, which ends within
/// tens of microseconds). One for the process, started at its first use. Deadlines come in
/// nearly in order (arrival + the latency), so a new one rarely needs to wake it.
struct FineTimer {
    queue: Mutex<BinaryHeap<Reverse<Due>>>,
    earlier: Condvar,
}

/// A held answer's deadline, and how to tell it the deadline has passed.
struct Due {
    at: Instant,
    done: tokio::sync::oneshot::Sender<()>,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.at.cmp(&other.at)
    }
}

fn fine_timer() -> &'static FineTimer {
    static TIMER: OnceLock<&'static FineTimer> = OnceLock::new();
    TIMER.get_or_init(|| {
        let timer: &'static FineTimer = Box::leak(Box::new(FineTimer {
            queue: Mutex::new(BinaryHeap::new()),
            earlier: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("emulator-latency".into())
            .spawn(move || timer.run())
            .expect("cannot start the emulator's latency thread");
        timer
    })
}

impl FineTimer {
    /// Wait `left`, to within the kernel's timer precision.
    async fn wait(&self, left: Duration) {
        let (done, ended) = tokio::sync::oneshot::channel();
        let at = Instant::now() + left;
        {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            let first = queue.peek().is_none_or(|Reverse(next)| at < next.at);
            queue.push(Reverse(Due { at, done }));
            if first {
                self.earlier.notify_one();
            }
        }
        // The thread never drops a deadline unsent; a closed channel would only end the wait.
        let _ = ended.await;
    }

    fn run(&self) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let now = Instant::now();
            while queue.peek().is_some_and(|Reverse(next)| next.at <= now) {
                if let Some(Reverse(due)) = queue.pop() {
                    // The request may be gone (its client hung up): nobody to tell.
                    let _ = due.done.send(());
                }
            }
            let next = queue.peek().map(|Reverse(next)| next.at);
            queue = match next {
                None => self.earlier.wait(queue).unwrap_or_else(|e| e.into_inner()),
                Some(at) => {
                    let left = at.saturating_duration_since(now);
                    match self.earlier.wait_timeout(queue, left) {
                        Ok((queue, _)) => queue,
                        Err(e) => e.into_inner().0,
                    }
                }
            };
        }
    }
}

/// `errorType` of an injected 503.
const ERROR_UNAVAILABLE: &str = "com.dataiku.dip.exceptions.ServiceUnavailableException";
/// `errorType` of a rate-limited request.
const ERROR_TOO_MANY: &str = "com.dataiku.dip.exceptions.TooManyRequestsException";

pub(crate) struct Faults {
    latency: Duration,
    error_rate: f64,
    rate_limit: Option<u32>,
    window: Mutex<(Instant, u32)>,
}

impl Faults {
    pub(crate) fn new(latency: Duration, error_rate: f64, rate_limit: Option<u32>) -> Self {
        Faults {
            latency,
            error_rate,
            rate_limit,
            window: Mutex::new((Instant::now(), 0)),
        }
    }

    /// Hold an answer until the latency has passed since the request `arrived`, to within a
    /// fraction of a millisecond.
    ///
    /// The runtime's timer alone is not that precise: it rounds a deadline up to the next
    /// millisecond and its driver wakes late, so that `--latency 20ms` answered in about 23 ms
    /// and every client looked slower than it is. The bulk of the wait is on that timer; its
    /// last [`FINE_WAIT`] is left to a thread that sleeps until the earliest deadline
    /// ([`FineTimer`]), which the kernel ends on time.
    pub(crate) async fn hold(&self, arrived: tokio::time::Instant) {
        if self.latency.is_zero() {
            return;
        }
        let deadline = arrived + self.latency;
        tokio::time::sleep_until(deadline.checked_sub(FINE_WAIT).unwrap_or(arrived)).await;
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if !left.is_zero() {
            fine_timer().wait(left).await;
        }
        // On a paused clock (tests) the thread's sleep did not move it: finish on it.
        if tokio::time::Instant::now() < deadline {
            tokio::time::sleep_until(deadline).await;
        }
    }

    /// Apply the configured refusals to one API request: `Err` is the answer to send instead.
    pub(crate) fn apply(&self) -> Result<(), ApiError> {
        if let Some(limit) = self.rate_limit {
            let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if now.duration_since(window.0) >= Duration::from_secs(1) {
                *window = (now, 0);
            }
            if window.1 >= limit {
                let left = Duration::from_secs(1).saturating_sub(now.duration_since(window.0));
                let mut err = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    ERROR_TOO_MANY,
                    format!("Rate limit of {limit} requests per second exceeded"),
                );
                err.retry_after = Some(left.as_secs_f64().ceil().max(1.0) as u64);
                return Err(err);
            }
            window.1 += 1;
        }
        if self.error_rate > 0.0 && rand::random::<f64>() < self.error_rate {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ERROR_UNAVAILABLE,
                "Service temporarily unavailable (injected fault)",
            ));
        }
        Ok(())
    }
}

/// The header dssctl puts on the writes it makes while holding a stack lock.
pub(crate) const LOCK_HOLDER_HEADER: &str = "x-dssctl-lock-holder";

/// Request counters.
#[derive(Default)]
pub(crate) struct Stats {
    inner: Mutex<EmulatorStats>,
    /// Writes in flight per lock holder.
    holders: Mutex<BTreeMap<String, usize>>,
}

/// A write of a lock holder in flight; dropping it ends the write.
pub(crate) struct HolderWrite<'a> {
    stats: &'a Stats,
    holder: String,
}

impl Drop for HolderWrite<'_> {
    fn drop(&mut self) {
        let mut holders = self.stats.holders.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = holders.get_mut(&self.holder) {
            *n -= 1;
            if *n == 0 {
                holders.remove(&self.holder);
            }
        }
    }
}

impl Stats {
    /// Count one request to `template` (a route template without the API prefix).
    pub(crate) fn count(&self, method: &Method, template: &str) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        s.total += 1;
        if method == Method::GET || method == Method::HEAD {
            s.reads += 1;
        } else {
            s.writes += 1;
        }
        *s.by_method.entry(method.as_str().to_string()).or_default() += 1;
        *s.by_route
            .entry(format!("{} {template}", method.as_str()))
            .or_default() += 1;
    }

    /// A write by lock holder `holder` starts; the maximum of distinct holders writing at
    /// once is kept in the statistics.
    pub(crate) fn holder_write(&self, holder: &str) -> HolderWrite<'_> {
        let mut holders = self.holders.lock().unwrap_or_else(|e| e.into_inner());
        *holders.entry(holder.to_string()).or_default() += 1;
        let distinct = holders.len() as u64;
        drop(holders);
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        s.max_overlapping_lock_holders = s.max_overlapping_lock_holders.max(distinct);
        HolderWrite {
            stats: self,
            holder: holder.to_string(),
        }
    }

    pub(crate) fn snapshot(&self) -> EmulatorStats {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn reset(&self) {
        *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = EmulatorStats {
            by_method: BTreeMap::new(),
            by_route: BTreeMap::new(),
            ..Default::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_answers_429_with_retry_after() {
        let f = Faults::new(Duration::ZERO, 0.0, Some(2));
        f.apply().unwrap();
        f.apply().unwrap();
        let err = f.apply().unwrap_err();
        assert_eq!(err.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(err.retry_after, Some(1));
    }

    #[test]
    fn full_error_rate_always_fails() {
        let f = Faults::new(Duration::ZERO, 1.0, None);
        assert_eq!(f.apply().unwrap_err().status, 503);
        let none = Faults::new(Duration::ZERO, 0.0, None);
        none.apply().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_is_held_until_the_latency_has_passed_since_arrival() {
        let f = Faults::new(Duration::from_millis(20), 0.0, None);
        let arrived = tokio::time::Instant::now();
        // Handling that took 5 ms: the answer waits the other 15.
        tokio::time::advance(Duration::from_millis(5)).await;
        f.hold(arrived).await;
        assert_eq!(arrived.elapsed(), Duration::from_millis(20));
        // Handling longer than the latency: no wait on top.
        let arrived = tokio::time::Instant::now();
        tokio::time::advance(Duration::from_millis(30)).await;
        f.hold(arrived).await;
        assert_eq!(arrived.elapsed(), Duration::from_millis(30));
    }

    #[tokio::test]
    async fn the_fine_timer_never_ends_a_wait_early() {
        for ms in [0, 1, 3] {
            let asked = Duration::from_millis(ms);
            let started = Instant::now();
            fine_timer().wait(asked).await;
            assert!(started.elapsed() >= asked, "{ms} ms");
        }
    }

    #[test]
    fn stats_count_reads_writes_and_routes() {
        let s = Stats::default();
        s.count(&Method::GET, "/projects");
        s.count(&Method::PUT, "/projects/{projectKey}/metadata");
        s.count(&Method::GET, "/projects");
        let snap = s.snapshot();
        assert_eq!((snap.total, snap.reads, snap.writes), (3, 2, 1));
        assert_eq!(snap.by_route["GET /projects"], 2);
        assert_eq!(snap.by_method["PUT"], 1);
        s.reset();
        assert_eq!(s.snapshot(), EmulatorStats::default());
    }

    #[test]
    fn overlapping_writes_of_distinct_holders_are_counted() {
        let s = Stats::default();
        {
            let _a = s.holder_write("a");
            let _again = s.holder_write("a");
        }
        assert_eq!(s.snapshot().max_overlapping_lock_holders, 1);
        let _a = s.holder_write("a");
        let _b = s.holder_write("b");
        assert_eq!(s.snapshot().max_overlapping_lock_holders, 2);
    }
}
