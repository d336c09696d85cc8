//! The daemon's notifications (`watch --notify URL`, repeatable): a JSON event with a
//! Slack-compatible `text` field, POSTed to every URL, for drift detected, drift corrected,
//! apply failed, guard refused and lock contention.
//!
//! The reconcile never waits for a receiver: [`Notifier::send`] puts the event in a small
//! bounded queue (dropped and counted when it is full), and one background task delivers the
//! queue in order, retrying each POST with exponential backoff a bounded number of times.
//! Events carry what happened and to which resources (kind and name), never a field value or
//! an error text from DSS, so no secret can reach a receiver. Every event raised is counted
//! per type for `/metrics`, with or without a URL.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;

/// Events waiting for delivery beyond this are dropped (and counted).
pub(crate) const QUEUE: usize = 64;
/// Attempts per event and URL.
const ATTEMPTS: u32 = 4;
/// The first retry's wait; doubled at each retry.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// How long one POST may take.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// Resources named in one event, at most (the count says how many there are).
const MAX_RESOURCES: usize = 20;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum EventKind {
    /// The interval found the instance different from the manifests.
    DriftDetected,
    /// The drift found on the interval was written back.
    DriftCorrected,
    /// An apply of the daemon failed (an operation, or the apply as a whole).
    ApplyFailed,
    /// A plan error or a safety guard stopped an apply; nothing was written.
    GuardRefused,
    /// Another run held the stack lock; the reconcile will retry.
    LockContention,
}

impl EventKind {
    pub(crate) const ALL: [EventKind; 5] = [
        Self::DriftDetected,
        Self::DriftCorrected,
        Self::ApplyFailed,
        Self::GuardRefused,
        Self::LockContention,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::DriftDetected => "drift_detected",
            Self::DriftCorrected => "drift_corrected",
            Self::ApplyFailed => "apply_failed",
            Self::GuardRefused => "guard_refused",
            Self::LockContention => "lock_contention",
        }
    }

    fn headline(self) -> &'static str {
        match self {
            Self::DriftDetected => "drift detected",
            Self::DriftCorrected => "drift corrected",
            Self::ApplyFailed => "apply failed",
            Self::GuardRefused => "apply refused",
            Self::LockContention => "stack locked by another run",
        }
    }
}

/// One notification, as POSTed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Event {
    pub event: EventKind,
    /// One line for people (and Slack).
    pub text: String,
    pub stack: String,
    /// The instance's base URL (never with credentials).
    pub target: String,
    /// `kind/name` (as in the text plan) of the resources concerned, at most [`MAX_RESOURCES`].
    pub resources: Vec<String>,
    /// How many resources are concerned.
    pub count: usize,
    /// What dssctl says about it (a refusal, a lock holder), never from DSS's answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it was raised (RFC 3339, UTC).
    pub at: String,
}

impl Event {
    /// An event about `resources` (all of them counted, the first few named).
    pub(crate) fn new(
        kind: EventKind,
        stack: &str,
        target: &str,
        resources: Vec<String>,
        reason: Option<String>,
    ) -> Event {
        let count = resources.len();
        let mut text = format!("dssctl watch, stack {stack} on {target}: {}", kind.headline());
        if count > 0 {
            let _ = write!(
                text,
                " ({count} resource(s): {}",
                resources[..count.min(5)].join(", ")
            );
            if count > 5 {
                text.push_str(", ...");
            }
            text.push(')');
        }
        if let Some(reason) = &reason {
            let _ = write!(text, ": {reason}");
        }
        Event {
            event: kind,
            text,
            stack: stack.to_string(),
            target: target.to_string(),
            resources: resources.into_iter().take(MAX_RESOURCES).collect(),
            count,
            reason,
            at: crate::apply::ledger::now_rfc3339(),
        }
    }
}

/// The notification counters of `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct NotifyStats {
    raised: [AtomicU64; 5],
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

impl NotifyStats {
    fn raised(&self, kind: EventKind) {
        self.raised[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text of these counters.
    pub(crate) fn metrics(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP dssctl_events_total Daemon events raised, by type.");
        let _ = writeln!(out, "# TYPE dssctl_events_total counter");
        for kind in EventKind::ALL {
            let _ = writeln!(
                out,
                "dssctl_events_total{{event=\"{}\"}} {}",
                kind.as_str(),
                self.raised[kind as usize].load(Ordering::Relaxed)
            );
        }
        for (name, help, value) in [
            (
                "delivered",
                "Notifications a receiver accepted (one per URL).",
                &self.delivered,
            ),
            (
                "failed",
                "Notifications given up after every retry (one per URL).",
                &self.failed,
            ),
            (
                "dropped",
                "Events dropped because the notification queue was full.",
                &self.dropped,
            ),
        ] {
            let _ = writeln!(out, "# HELP dssctl_notifications_{name}_total {help}");
            let _ = writeln!(out, "# TYPE dssctl_notifications_{name}_total counter");
            let _ = writeln!(
                out,
                "dssctl_notifications_{name}_total {}",
                value.load(Ordering::Relaxed)
            );
        }
        out
    }
}

/// The sending side, used by the reconciles.
#[derive(Debug, Clone)]
pub(crate) struct Notifier {
    queue: Option<mpsc::Sender<Event>>,
    stats: Arc<NotifyStats>,
}

impl Notifier {
    /// Deliver to `urls` (none: events are only counted) from a background task.
    pub(crate) fn start(urls: Vec<String>, stats: Arc<NotifyStats>) -> Notifier {
        if urls.is_empty() {
            return Notifier { queue: None, stats };
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(deliver(rx, urls, stats.clone()));
        Notifier {
            queue: Some(tx),
            stats,
        }
    }

    /// Raise `event`: counted, then queued without waiting (dropped when the queue is full).
    pub(crate) fn send(&self, event: Event) {
        self.stats.raised(event.event);
        let Some(queue) = &self.queue else { return };
        if queue.try_send(event).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("notification queue full; event dropped");
        }
    }
}

async fn deliver(mut rx: mpsc::Receiver<Event>, urls: Vec<String>, stats: Arc<NotifyStats>) {
    let http = match reqwest::Client::builder().timeout(POST_TIMEOUT).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the notification client; notifications are off");
            return;
        }
    };
    while let Some(event) = rx.recv().await {
        for url in &urls {
            if post(&http, url, &event).await {
                stats.delivered.fetch_add(1, Ordering::Relaxed);
            } else {
                stats.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// POST `event` to `url`, retrying connection errors, 429 and 5xx with backoff.
async fn post(http: &reqwest::Client, url: &str, event: &Event) -> bool {
    for attempt in 1..=ATTEMPTS {
        let outcome = http.post(url).json(event).send().await;
        let retry = match &outcome {
            Ok(r) if r.status().is_success() => return true,
            Ok(r) => r.status().is_server_error() || r.status().as_u16() == 429,
            Err(_) => true,
        };
        let why = match outcome {
            Ok(r) => format!("HTTP {}", r.status().as_u16()),
            Err(e) => e.without_url().to_string(),
        };
        if !retry || attempt == ATTEMPTS {
            tracing::warn!(event = event.event.as_str(), error = %why, attempt, "notification not delivered");
            return false;
        }
        tracing::debug!(event = event.event.as_str(), error = %why, attempt, "notification failed; retrying");
        tokio::time::sleep(FIRST_BACKOFF * 2u32.pow(attempt - 1)).await;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_a_slack_text_and_name_resources() {
        let resources: Vec<String> = (0..30).map(|i| format!("Group/g{i}")).collect();
        let e = Event::new(EventKind::DriftDetected, "prod", "https://dss", resources, None);
        assert_eq!(e.count, 30);
        assert_eq!(e.resources.len(), MAX_RESOURCES);
        assert_eq!(
            e.text,
            "dssctl watch, stack prod on https://dss: drift detected (30 resource(s): Group/g0, Group/g1, Group/g2, Group/g3, Group/g4, ...)"
        );
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["event"], "drift_detected");
        assert!(json.get("reason").is_none());
        let refused = Event::new(
            EventKind::GuardRefused,
            "s",
            "u",
            vec![],
            Some("too many deletes".into()),
        );
        assert_eq!(
            refused.text,
            "dssctl watch, stack s on u: apply refused: too many deletes"
        );
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_and_every_event_is_counted() {
        let stats = Arc::new(NotifyStats::default());
        // A receiver that never answers: the queue fills behind the first event.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let n = Notifier::start(vec![url], stats.clone());
        for _ in 0..QUEUE + 10 {
            n.send(Event::new(EventKind::LockContention, "s", "u", vec![], None));
        }
        let text = stats.metrics();
        assert!(
            text.contains(&format!(
                "dssctl_events_total{{event=\"lock_contention\"}} {}",
                QUEUE + 10
            )),
            "{text}"
        );
        let dropped = stats.dropped.load(Ordering::Relaxed);
        assert!((9..=10).contains(&dropped), "{dropped}");
        assert!(text.contains("dssctl_events_total{event=\"drift_detected\"} 0"));
        // Without a URL, events are only counted.
        let quiet = Notifier::start(vec![], Arc::new(NotifyStats::default()));
        quiet.send(Event::new(EventKind::ApplyFailed, "s", "u", vec![], None));
        assert_eq!(
            quiet.stats.raised[EventKind::ApplyFailed as usize].load(Ordering::Relaxed),
            1
        );
        drop(listener);
    }
}
