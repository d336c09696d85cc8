//! `dssctl watch DIR`: the GitOps daemon. It connects once, reconciles at start, then again
//! on every change under DIR ([`watcher`], debounced) and on every interval (±10% jitter) to
//! correct drift ([`reconcile`], through the engine); failures back off exponentially up to
//! the interval and never stop the daemon. What to do with a plan and when to come back are
//! pure functions ([`decision`]); this module only schedules. A reconcile that writes holds
//! the stack lock; [`notify`] posts its events to the `--notify` URLs. [`http`] serves
//! `/healthz`, `/readyz`, `/metrics` and the read-only status page (`/`, `/api/status`, model
//! in [`status`]) on `--listen` (127.0.0.1:9898 unless told otherwise); the bound address is
//! printed on stdout at start. SIGTERM or SIGINT: the reconcile in flight
//! finishes, then the daemon exits 0.

pub(crate) mod decision;
pub(crate) mod http;
pub(crate) mod notify;
pub(crate) mod reconcile;
pub(crate) mod status;
pub(crate) mod watcher;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::mpsc;

use crate::error::{Error, Outcome};
use crate::lock;
use crate::target::{TargetConfig, connect};
use decision::{Policy, Schedule};
use http::{ReconcileResult, Status};
use reconcile::{Desired, Options, reconcile};

/// The resolved configuration of `dssctl watch`.
#[derive(Debug, Clone)]
pub(crate) struct WatchConfig {
    /// The manifest directory.
    pub(crate) dir: PathBuf,
    pub(crate) target: TargetConfig,
    /// Time between two drift checks (±10% jitter).
    pub(crate) interval: Duration,
    /// Address of the HTTP endpoints.
    pub(crate) listen: SocketAddr,
    pub(crate) policy: Policy,
    pub(crate) parallelism: usize,
    /// The stack lock's settings (a reconcile that writes takes the lock).
    pub(crate) lock: crate::lock::LockSettings,
    /// Where the events are POSTed (`--notify`).
    pub(crate) notify: Vec<String>,
}

/// Run `dssctl watch` until SIGTERM or SIGINT.
pub(crate) async fn run(config: &WatchConfig) -> Result<Outcome, Error> {
    if !config.dir.is_dir() {
        return Err(anyhow::anyhow!("{} is not a directory", config.dir.display()).into());
    }
    let mut stop = StopSignal::new().context("cannot listen for SIGTERM/SIGINT")?;
    let target = connect(&config.target, config.parallelism).await?;
    let result = serve(config, &target, &mut stop).await;
    target.close().await;
    result
}

async fn serve(
    args: &WatchConfig,
    target: &crate::target::Target,
    stop: &mut StopSignal,
) -> Result<Outcome, Error> {
    let status = Arc::new(Status::with_info(
        args.interval,
        http::PageInfo {
            stack: target.stack.clone(),
            target: target.url.clone(),
            dir: args.dir.display().to_string(),
            self_heal: args.policy.self_heal,
            prune: args.policy.prune,
        },
    ));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let bound = listener.local_addr().context("cannot read the bound address")?;
    let (http_stop, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        axum::serve(listener, http::router(status.clone()))
            .with_graceful_shutdown(async {
                let _ = http_stopped.await;
            })
            .into_future(),
    );
    crate::output::println(&format!(
        "dssctl watch: serving the status page, /api/status, /healthz, /readyz and /metrics on http://{bound}"
    ))?;
    tracing::info!(
        dir = %args.dir.display(),
        target = %target.url,
        stack = %target.stack,
        interval = %humantime::format_duration(args.interval),
        listen = %bound,
        "watching"
    );

    let (tx, mut changes) = mpsc::unbounded_channel();
    let _watcher = watcher::watch(&args.dir, tx.clone())?;
    // An Environment's includes outside DIR (`../../base`) are watched too, as they are at start.
    let _included = watch_includes(&args.dir, &tx);
    let opts = Options {
        dir: args.dir.clone(),
        policy: args.policy,
        parallelism: args.parallelism,
        lock: args.lock,
    };
    let notifier = notify::Notifier::start(args.notify.clone(), status.notifications.clone());
    let mut desired = Desired::default();
    let mut schedule = Schedule::default();
    let me = lock::Holder::current("watch", |name| std::env::var(name).ok());
    loop {
        let trigger = schedule.trigger();
        let started = Instant::now();
        let outcome = reconcile(target, &mut desired, trigger, &opts, &notifier).await;
        let took = started.elapsed();
        status.record(outcome.result, took, outcome.drift);
        // Read only after a reconcile that reached the instance, and bounded: an unreachable
        // instance must not delay the next retry. `None`: the page keeps what it showed.
        let held = if outcome.drift.is_some() {
            tokio::time::timeout(Duration::from_secs(5), lock_status(target, &me.id))
                .await
                .ok()
        } else {
            None
        };
        let trigger_name = match trigger {
            decision::Trigger::Change => "change",
            decision::Trigger::Interval => "interval",
        };
        status.record_page(outcome.result, trigger_name, took, outcome.page, held);
        tracing::info!(
            result = outcome.result.as_str(),
            ?trigger,
            seconds = took.as_secs_f64(),
            "reconcile finished"
        );
        let wait;
        (schedule, wait) = schedule.after(outcome.result, args.interval, rand::random::<f64>());
        if outcome.result == ReconcileResult::Error {
            tracing::warn!(
                failures = schedule.failures,
                retry_in = %humantime::format_duration(wait),
                "reconcile failed; retrying"
            );
        }
        tokio::select! {
            biased;
            () = stop.recv() => break,
            change = changes.recv() => {
                let Some(first) = change else { break };
                // Events that arrived meanwhile are part of the same reconcile.
                let mut paths = first.paths;
                while let Ok(more) = changes.try_recv() {
                    paths.extend(more.paths);
                }
                tracing::info!(paths = ?paths, "manifests changed");
                schedule.change_pending = true;
            }
            () = tokio::time::sleep(wait) => {}
        }
    }
    tracing::info!("stopping");
    let _ = http_stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    Ok(Outcome::Success)
}

/// The stack lock as the page shows it, read after a reconcile (`None`: free, or unreadable
/// from here: the page then shows no holder rather than a guess).
async fn lock_status(target: &crate::target::Target, me: &str) -> Option<status::LockStatus> {
    let state = lock::peek(&target.client, &target.stack, me).await.ok()?;
    Some(status::LockStatus {
        holder: state.describe()?,
        mine: matches!(state, lock::LockState::Mine(_)),
    })
}

/// SIGTERM or SIGINT (Ctrl-C elsewhere than Unix). Registered once at start, so a signal
/// that arrives during a reconcile is seen right after it.
struct StopSignal {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl StopSignal {
    #[cfg(unix)]
    fn new() -> std::io::Result<StopSignal> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(StopSignal {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    #[cfg(not(unix))]
    fn new() -> std::io::Result<StopSignal> {
        Ok(StopSignal {})
    }

    #[cfg(unix)]
    async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => tracing::info!("SIGTERM received"),
            _ = self.int.recv() => tracing::info!("SIGINT received"),
        }
    }

    #[cfg(not(unix))]
    async fn recv(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Watchers of the includes of DIR's Environment that lie outside DIR.
fn watch_includes(
    dir: &std::path::Path,
    tx: &mpsc::UnboundedSender<watcher::Change>,
) -> Vec<watcher::Watcher> {
    let root = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let includes =
        crate::manifest::entry_environment(&[dir.to_path_buf()]).map_or_else(Vec::new, |env| env.includes);
    includes
        .iter()
        .filter(|path| !path.canonicalize().is_ok_and(|p| p.starts_with(&root)))
        .filter_map(|path| match watcher::watch(path, tx.clone()) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, path = %path.display(), "cannot watch an include; it is read on every reconcile");
                None
            }
        })
        .collect()
}
