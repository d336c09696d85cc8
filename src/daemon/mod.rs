//! `dssctl watch DIR`: the GitOps daemon. It connects once, reconciles at start, then again
//! on every change under DIR ([`watcher`], debounced) and on every interval (±10% jitter) to
//! correct drift ([`reconcile`]); failures back off exponentially up to the interval and never
//! stop the daemon. [`http`] serves `/healthz`, `/readyz` and `/metrics` on `--listen`; the
//! bound address is printed on stdout at start. SIGTERM or SIGINT: the reconcile in flight
//! finishes, then the daemon exits 0.

pub mod http;
pub mod reconcile;
pub mod watcher;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::mpsc;

use crate::cli::WatchArgs;
use crate::target::connect;
use http::{ReconcileResult, Status};
use reconcile::{Desired, Options, Trigger, backoff, jittered, reconcile};

/// Run `dssctl watch`.
pub async fn run(args: WatchArgs) -> anyhow::Result<ExitCode> {
    if !args.dir.is_dir() {
        anyhow::bail!("{} is not a directory", args.dir.display());
    }
    let mut stop = StopSignal::new().context("cannot listen for SIGTERM/SIGINT")?;
    let parallelism = usize::from(args.parallelism);
    let target = connect(&args.target, parallelism).await?;
    let result = serve(&args, &target, &mut stop).await;
    target.close().await;
    result
}

async fn serve(
    args: &WatchArgs,
    target: &crate::target::Target,
    stop: &mut StopSignal,
) -> anyhow::Result<ExitCode> {
    let status = Arc::new(Status::new(args.interval));
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
    println!("dssctl watch: serving /healthz, /readyz and /metrics on http://{bound}");
    tracing::info!(
        dir = %args.dir.display(),
        target = %target.url,
        stack = %target.stack,
        interval = %humantime::format_duration(args.interval),
        listen = %bound,
        "watching"
    );

    let (tx, mut changes) = mpsc::unbounded_channel();
    let _watcher = watcher::watch(&args.dir, tx)?;
    let opts = Options {
        dir: args.dir.clone(),
        self_heal: !args.no_self_heal,
        prune: args.prune,
        max_deletes: args.max_deletes,
        parallelism: usize::from(args.parallelism),
    };
    let mut desired = Desired::default();
    // A change not yet applied successfully: the retry after a failure applies too.
    let mut change_pending = true;
    let mut failures: u32 = 0;
    loop {
        let trigger = if change_pending {
            Trigger::Change
        } else {
            Trigger::Interval
        };
        let started = Instant::now();
        let outcome = reconcile(target, &mut desired, trigger, &opts).await;
        let took = started.elapsed();
        status.record(outcome.result, took, outcome.drift);
        tracing::info!(
            result = outcome.result.as_str(),
            ?trigger,
            seconds = took.as_secs_f64(),
            "reconcile finished"
        );
        if outcome.result == ReconcileResult::Error {
            failures = failures.saturating_add(1);
        } else {
            // Applied, or invalid: an invalid edit waits for the next edit (the interval
            // keeps checking drift against the last good manifests).
            failures = 0;
            change_pending = false;
        }
        let wait = if failures > 0 {
            backoff(failures, args.interval)
        } else {
            jittered(args.interval, rand::random::<f64>())
        };
        if failures > 0 {
            tracing::warn!(
                failures,
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
                change_pending = true;
            }
            () = tokio::time::sleep(wait) => {}
        }
    }
    tracing::info!("stopping");
    let _ = http_stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    Ok(ExitCode::SUCCESS)
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
