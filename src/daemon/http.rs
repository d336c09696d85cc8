//! The daemon's HTTP side: the shared [`Status`] the reconcile loop updates, and the axum
//! routes that read it: `GET /healthz` (200 while the process is up), `GET /readyz` (200 iff
//! the last reconcile succeeded and is more recent than twice the interval, else 503),
//! `GET /metrics` (Prometheus text exposition format 0.0.4, written by hand; the notification
//! counters come from [`super::notify::NotifyStats`]), and the status page: `GET /` (HTML)
//! and `GET /api/status` (JSON), both from [`super::status`]. Every route is a read: the
//! router has no other method than GET (and HEAD).
//!
//! `dssctl_api_requests_total` is not exported: the DSS client keeps no per-status request
//! counts.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::reconcile::PageUpdate;
use super::status::{self, LastFailure, LockStatus, ReconcileRecord, ResourceStatus, StatusDoc};

/// How a reconcile ended (the `result` label of `dssctl_reconciles_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReconcileResult {
    /// The instance was read, and every change due was applied (or only reported).
    Success,
    /// An API error, a failed operation, a plan error or a guard's refusal.
    Error,
    /// The manifests did not validate: nothing was applied, the last good state is kept.
    Invalid,
}

impl ReconcileResult {
    pub(crate) const ALL: [ReconcileResult; 3] = [Self::Success, Self::Error, Self::Invalid];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error => "error",
            Self::Invalid => "invalid",
        }
    }
}

/// Upper bounds (seconds) of the duration histogram's buckets.
const BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// What the endpoints report; updated by the reconcile loop after each reconcile.
#[derive(Debug)]
pub(crate) struct Status {
    interval: Duration,
    started: Instant,
    inner: Mutex<Inner>,
    /// The notification counters, shared with the [`super::notify::Notifier`].
    pub notifications: Arc<super::notify::NotifyStats>,
    info: PageInfo,
    page: Mutex<Page>,
}

/// What the status page says about the daemon itself (fixed at start).
#[derive(Debug, Clone, Default)]
pub(crate) struct PageInfo {
    pub stack: String,
    /// The instance's URL (never with credentials).
    pub target: String,
    pub dir: String,
    pub self_heal: bool,
    pub prune: bool,
}

/// What the status page shows, updated after each reconcile.
#[derive(Debug, Default)]
struct Page {
    resources: Vec<ResourceStatus>,
    /// Most recent first.
    reconciles: std::collections::VecDeque<ReconcileRecord>,
    last_failure: Option<LastFailure>,
    lock: Option<LockStatus>,
    started_at: String,
}

#[derive(Debug, Default)]
struct Inner {
    totals: [u64; 3],
    /// Counts per bucket of [`BUCKETS`] (not cumulative), then the overflow.
    buckets: [u64; BUCKETS.len() + 1],
    duration_sum: f64,
    duration_count: u64,
    drifted: usize,
    pending_deletes: usize,
    detect_only: usize,
    /// The end of the last reconcile (an invalid edit is not one) and whether it succeeded.
    last: Option<(Instant, bool)>,
}

impl Status {
    #[cfg(test)]
    pub(crate) fn new(interval: Duration) -> Status {
        Status::with_info(interval, PageInfo::default())
    }

    /// The status of a daemon described by `info` on its page.
    pub(crate) fn with_info(interval: Duration, info: PageInfo) -> Status {
        Status {
            interval,
            started: Instant::now(),
            inner: Mutex::new(Inner::default()),
            notifications: Arc::default(),
            info,
            page: Mutex::new(Page {
                started_at: crate::apply::ledger::now_rfc3339(),
                ..Page::default()
            }),
        }
    }

    fn page_lock(&self) -> std::sync::MutexGuard<'_, Page> {
        self.page.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record what a reconcile tells the page (after [`Status::record`]); `lock` is the stack
    /// lock as read at its end (`Some(None)`: free; `None`: not read, the last one is kept).
    pub(crate) fn record_page(
        &self,
        result: ReconcileResult,
        trigger: &'static str,
        took: Duration,
        update: PageUpdate,
        lock: Option<Option<LockStatus>>,
    ) {
        let at = crate::apply::ledger::now_rfc3339();
        if let Some(resources) = &update.resources {
            self.lock().detect_only = resources
                .iter()
                .filter(|r| r.state == status::ResourceState::DetectOnly)
                .count();
        }
        let mut page = self.page_lock();
        if let Some(resources) = update.resources {
            page.resources = resources;
        }
        if result != ReconcileResult::Success {
            page.last_failure = Some(LastFailure {
                at: at.clone(),
                error: update.error.clone().unwrap_or_else(|| update.summary.clone()),
            });
        }
        page.reconciles.push_front(ReconcileRecord {
            at,
            trigger,
            result: result.as_str(),
            seconds: took.as_secs_f64(),
            summary: update.summary,
            error: update.error,
        });
        page.reconciles.truncate(status::HISTORY);
        if let Some(lock) = lock {
            page.lock = lock;
        }
    }

    /// The document of `/api/status` and `/`.
    pub(crate) fn document(&self) -> StatusDoc {
        let ready = self.ready();
        let page = self.page_lock();
        StatusDoc {
            stack: self.info.stack.clone(),
            target: self.info.target.clone(),
            dir: self.info.dir.clone(),
            interval_seconds: self.interval.as_secs_f64(),
            self_heal: self.info.self_heal,
            prune: self.info.prune,
            started_at: page.started_at.clone(),
            ready,
            counts: status::counts(&page.resources),
            resources: page.resources.clone(),
            reconciles: page.reconciles.iter().cloned().collect(),
            last_failure: page.last_failure.clone(),
            lock: page.lock.clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the counters inconsistent enough to
        // matter; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record a reconcile's end. `drift` is `(drifted, pending deletes)` when the live state
    /// was compared, `None` when it was not (invalid manifests, an API error before the plan).
    pub(crate) fn record(&self, result: ReconcileResult, took: Duration, drift: Option<(usize, usize)>) {
        let mut inner = self.lock();
        inner.totals[result as usize] += 1;
        let secs = took.as_secs_f64();
        let bucket = BUCKETS.iter().position(|&b| secs <= b).unwrap_or(BUCKETS.len());
        inner.buckets[bucket] += 1;
        inner.duration_sum += secs;
        inner.duration_count += 1;
        if let Some((drifted, pending)) = drift {
            inner.drifted = drifted;
            inner.pending_deletes = pending;
        }
        if result != ReconcileResult::Invalid {
            inner.last = Some((Instant::now(), result == ReconcileResult::Success));
        }
    }

    /// Whether the last reconcile succeeded less than twice the interval ago.
    pub(crate) fn ready(&self) -> bool {
        match self.lock().last {
            Some((at, ok)) => ok && at.elapsed() < self.interval * 2,
            None => false,
        }
    }

    /// The Prometheus text exposition.
    pub(crate) fn metrics(&self) -> String {
        let inner = self.lock();
        let mut out = String::new();
        let _ = writeln!(out, "# HELP dssctl_reconciles_total Reconciles by result.");
        let _ = writeln!(out, "# TYPE dssctl_reconciles_total counter");
        for r in ReconcileResult::ALL {
            let _ = writeln!(
                out,
                "dssctl_reconciles_total{{result=\"{}\"}} {}",
                r.as_str(),
                inner.totals[r as usize]
            );
        }
        let _ = writeln!(
            out,
            "# HELP dssctl_reconcile_duration_seconds Time a reconcile takes (load, read, plan, apply)."
        );
        let _ = writeln!(out, "# TYPE dssctl_reconcile_duration_seconds histogram");
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(inner.buckets) {
            cumulative += count;
            let _ = writeln!(
                out,
                "dssctl_reconcile_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "dssctl_reconcile_duration_seconds_bucket{{le=\"+Inf\"}} {}",
            inner.duration_count
        );
        let _ = writeln!(
            out,
            "dssctl_reconcile_duration_seconds_sum {}",
            inner.duration_sum
        );
        let _ = writeln!(
            out,
            "dssctl_reconcile_duration_seconds_count {}",
            inner.duration_count
        );
        let _ = writeln!(
            out,
            "# HELP dssctl_drifted_resources Resources that differ from the manifests after the last reconcile."
        );
        let _ = writeln!(out, "# TYPE dssctl_drifted_resources gauge");
        let _ = writeln!(out, "dssctl_drifted_resources {}", inner.drifted);
        let _ = writeln!(
            out,
            "# HELP dssctl_pending_deletes Resources no longer declared and not deleted (no --prune)."
        );
        let _ = writeln!(out, "# TYPE dssctl_pending_deletes gauge");
        let _ = writeln!(out, "dssctl_pending_deletes {}", inner.pending_deletes);
        let _ = writeln!(
            out,
            "# HELP dssctl_detect_only_drifted_resources Resources that differ and are kept so by dssctl.io/sync: detect-only (counted in dssctl_drifted_resources too)."
        );
        let _ = writeln!(out, "# TYPE dssctl_detect_only_drifted_resources gauge");
        let _ = writeln!(out, "dssctl_detect_only_drifted_resources {}", inner.detect_only);
        let _ = writeln!(out, "# HELP dssctl_up_seconds Time since the daemon started.");
        let _ = writeln!(out, "# TYPE dssctl_up_seconds gauge");
        let _ = writeln!(out, "dssctl_up_seconds {}", self.started.elapsed().as_secs_f64());
        out.push_str(&self.notifications.metrics());
        out
    }
}

/// The routes, over the shared status.
pub(crate) fn router(status: Arc<Status>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/status", get(api_status))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(status)
}

async fn readyz(State(status): State<Arc<Status>>) -> impl IntoResponse {
    if status.ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the last reconcile failed, is too old, or has not happened yet\n",
        )
    }
}

async fn page(State(status): State<Arc<Status>>) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        status::render_html(&status.document()),
    )
}

async fn api_status(State(status): State<Arc<Status>>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(status.document()),
    )
}

async fn metrics(State(status): State<Arc<Status>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        status.metrics(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_the_last_reconcile() {
        let status = Status::new(Duration::from_secs(60));
        assert!(!status.ready());
        status.record(ReconcileResult::Success, Duration::from_millis(30), Some((2, 1)));
        assert!(status.ready());
        // An invalid edit is not a reconcile: readiness is unchanged.
        status.record(ReconcileResult::Invalid, Duration::from_millis(1), None);
        assert!(status.ready());
        status.record(ReconcileResult::Error, Duration::from_millis(1), None);
        assert!(!status.ready());
    }

    #[test]
    fn readiness_expires_after_twice_the_interval() {
        let status = Status::new(Duration::from_millis(10));
        status.record(ReconcileResult::Success, Duration::ZERO, Some((0, 0)));
        std::thread::sleep(Duration::from_millis(25));
        assert!(!status.ready());
    }

    #[test]
    fn metrics_are_prometheus_text() {
        let status = Status::new(Duration::from_secs(60));
        status.record(ReconcileResult::Success, Duration::from_millis(200), Some((3, 2)));
        status.record(ReconcileResult::Invalid, Duration::from_millis(2), None);
        let text = status.metrics();
        for line in [
            "dssctl_reconciles_total{result=\"success\"} 1",
            "dssctl_reconciles_total{result=\"error\"} 0",
            "dssctl_reconciles_total{result=\"invalid\"} 1",
            "dssctl_reconcile_duration_seconds_bucket{le=\"0.1\"} 1",
            "dssctl_reconcile_duration_seconds_bucket{le=\"0.25\"} 2",
            "dssctl_reconcile_duration_seconds_bucket{le=\"+Inf\"} 2",
            "dssctl_reconcile_duration_seconds_count 2",
            "dssctl_drifted_resources 3",
            "dssctl_pending_deletes 2",
            "dssctl_events_total{event=\"guard_refused\"} 0",
            "dssctl_notifications_dropped_total 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from\n{text}");
        }
        // Every sample line belongs to a declared metric family.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(text.contains(&format!("# TYPE {family} ")), "{line}");
        }
    }
}
