//! `dssctl build` followed to its end: the terminal edge of [`crate::build`]. It connects to the target, turns SIGINT
//! and SIGTERM into an abort of the job, shows progress on stderr (one line per state change;
//! on a terminal also a spinner line with the elapsed time), prints the job log on stderr when
//! the job did not end DONE, and prints the result on stdout as a line of text or one JSON
//! object.
//!
//! Outcomes (the codes are in [`crate::error`]): success when the job ends DONE; a build
//! failure when it ends FAILED or ABORTED, passes `--timeout` (dssctl then aborts it), or
//! dssctl is interrupted (the job is aborted and the abort waited for); an interrupt error
//! when a second Ctrl-C stops dssctl before DSS acknowledged the abort.

use std::io::{IsTerminal, Write as _};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use owo_colors::OwoColorize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::build::report::{fmt_elapsed, print_log};
use crate::build::{BuildEvent, BuildOutcome, BuildRequest, Ending, run_build};
use crate::error::{Error, Failure, Outcome};
use crate::render::OutputFormat;
use crate::target::{TargetConfig, connect};

/// The resolved configuration of `dssctl build`.
#[derive(Debug, Clone)]
pub(crate) struct BuildConfig {
    pub request: BuildRequest,
    /// How the result is printed on stdout.
    pub format: OutputFormat,
    pub target: TargetConfig,
    /// Colour the progress on stderr.
    pub color: bool,
    /// `-q`: no progress lines.
    pub quiet: bool,
}

/// Run `dssctl build`.
pub(crate) async fn run(config: &BuildConfig) -> Result<Outcome, Error> {
    let request = &config.request;
    let target = connect(&config.target, 2).await?;
    let cancel = CancellationToken::new();
    let stop = CancellationToken::new();
    let stderr_tty = std::io::stderr().is_terminal();
    let progress = Progress::new(stderr_tty && !config.quiet, config.color, config.quiet);
    let signals = watch_signals(cancel.clone(), stop.clone(), progress.clone())?;
    let ticker = progress.start_ticker();

    let build = run_build(&target.client, request, &cancel, |event| {
        progress.event(request, event);
    });
    // A second signal stops waiting: the build future is dropped, and the code flows back
    // to `main` like any other ending.
    let result = tokio::select! {
        result = build => Some(result),
        () = stop.cancelled() => None,
    };

    signals.abort();
    if let Some(ticker) = ticker {
        ticker.abort();
    }
    progress.clear();
    target.close().await;
    let Some(result) = result else {
        return Err(Error::Interrupted(
            "interrupted again: exiting without waiting; the job may still be running".into(),
        ));
    };
    let outcome = result.map_err(anyhow::Error::new)?;

    if !outcome.succeeded() {
        print_log(&outcome);
    }
    let text = match config.format {
        OutputFormat::Text => format!("{}\n", summary(&outcome, request)),
        OutputFormat::Json => {
            let mut text =
                serde_json::to_string_pretty(&json_result(&outcome, request)).map_err(anyhow::Error::new)?;
            text.push('\n');
            text
        }
    };
    crate::output::print(&text)?;
    Ok(if outcome.succeeded() {
        Outcome::Success
    } else {
        Outcome::Failed(Failure::Build)
    })
}

/// First SIGINT/SIGTERM: cancel (the job is aborted and the abort awaited). Second: `stop`, so
/// that dssctl stops at once (exit 130), saying the job may still be running. The handlers are
/// installed before the job is started, so no signal can kill dssctl between the start and the
/// first poll.
fn watch_signals(
    cancel: CancellationToken,
    stop: CancellationToken,
    progress: Progress,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mut signals = Signals::install()?;
    Ok(tokio::spawn(async move {
        let name = signals.next().await;
        progress.line(&format!(
            "{name}: aborting the job (again to exit without waiting for the abort)"
        ));
        cancel.cancel();
        signals.next().await;
        stop.cancel();
    }))
}

#[cfg(unix)]
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "interrupted",
            _ = self.term.recv() => "terminated",
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> anyhow::Result<Self> {
        Ok(Signals)
    }

    async fn next(&mut self) -> &'static str {
        let _ = tokio::signal::ctrl_c().await;
        "interrupted"
    }
}

/// Progress on stderr. Lines are permanent; on a terminal a spinner line below them shows the
/// current state and the elapsed time, redrawn by a ticker. Everything that writes to stderr
/// goes through the one lock so the spinner never tears a line.
#[derive(Clone)]
struct Progress {
    inner: Arc<Mutex<ProgressState>>,
}

struct ProgressState {
    spinner: bool,
    color: bool,
    quiet: bool,
    /// The spinner's text; `None` while there is nothing to show.
    status: Option<String>,
    shown: bool,
    frame: usize,
    started: Instant,
}

const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

impl Progress {
    fn new(spinner: bool, color: bool, quiet: bool) -> Self {
        Progress {
            inner: Arc::new(Mutex::new(ProgressState {
                spinner,
                color,
                quiet,
                status: None,
                shown: false,
                frame: 0,
                started: Instant::now(),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ProgressState> {
        // A panic while holding the lock only interrupts drawing; keep going.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn start_ticker(&self) -> Option<tokio::task::JoinHandle<()>> {
        if !self.lock().spinner {
            return None;
        }
        let me = self.clone();
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tick.tick().await;
                let mut st = me.lock();
                st.frame = (st.frame + 1) % FRAMES.len();
                st.draw();
            }
        }))
    }

    /// A permanent progress line (suppressed by `-q`).
    fn line(&self, text: &str) {
        let mut st = self.lock();
        if st.quiet {
            return;
        }
        st.erase();
        eprintln!("{text}");
        st.draw();
    }

    fn event(&self, request: &BuildRequest, event: BuildEvent<'_>) {
        match event {
            BuildEvent::Started { job_id } => {
                let subject = match &request.scenario {
                    Some(s) => {
                        self.line(&format!(
                            "started scenario {s} run {job_id} in project {}",
                            request.project
                        ));
                        format!("scenario {s} run {job_id}")
                    }
                    None => {
                        self.line(&format!(
                            "started job {job_id} in project {} ({}: {})",
                            request.project,
                            request.mode,
                            request.output_names().join(", ")
                        ));
                        format!("job {job_id}")
                    }
                };
                let mut st = self.lock();
                st.started = Instant::now();
                st.status = Some(subject);
            }
            BuildEvent::State { state, elapsed } => {
                // The status first, so the spinner redrawn under the line shows the new state.
                let color = {
                    let mut st = self.lock();
                    st.status = Some(state.to_string());
                    st.color
                };
                self.line(&format!(
                    "{:>8}  {}",
                    fmt_elapsed(elapsed),
                    paint_state(state, color)
                ));
            }
            BuildEvent::Aborting { reason, elapsed } => {
                let why = match (reason, request.timeout) {
                    (Ending::TimedOut, Some(t)) => {
                        format!("timeout of {} passed", humantime::format_duration(t))
                    }
                    _ => "interrupted".to_string(),
                };
                self.lock().status = Some("aborting".into());
                self.line(&format!(
                    "{:>8}  {why}: aborting the job and waiting for DSS to confirm",
                    fmt_elapsed(elapsed)
                ));
            }
        }
    }

    /// Remove the spinner line for good.
    fn clear(&self) {
        let mut st = self.lock();
        st.erase();
        st.status = None;
    }
}

impl ProgressState {
    fn erase(&mut self) {
        if self.shown {
            eprint!("\r\x1b[2K");
            self.shown = false;
        }
    }

    fn draw(&mut self) {
        if !self.spinner {
            return;
        }
        if let Some(status) = &self.status {
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\r\x1b[2K{} {status} {}",
                FRAMES[self.frame],
                fmt_elapsed(self.started.elapsed())
            );
            let _ = err.flush();
            self.shown = true;
        }
    }
}

fn paint_state(state: &str, color: bool) -> String {
    if !color {
        return state.to_string();
    }
    match state {
        "DONE" => state.green().bold().to_string(),
        "FAILED" | "ABORTED" => state.red().bold().to_string(),
        _ => state.cyan().to_string(),
    }
}

/// The one-line result of the text format.
fn summary(outcome: &BuildOutcome, request: &BuildRequest) -> String {
    let id = &outcome.job_id;
    let took = fmt_elapsed(outcome.duration);
    // A scenario run says so; a job keeps its wording.
    let (subject, done) = match &outcome.scenario {
        Some(s) => (format!("scenario {s} run {id}"), "SUCCESS"),
        None => (format!("job {id}"), "DONE"),
    };
    let done = if outcome.state.is_empty() {
        done
    } else {
        outcome.state.as_str()
    };
    // After an abort: whether DSS confirmed it, and whether the job ended some other way first
    // (it may have finished between the last status read and the abort).
    let aborted = match (outcome.abort_acknowledged, outcome.state.as_str()) {
        (Some(false), state) => format!(
            "abort requested after {took}, not yet confirmed by DSS (state {state}): the job may still be running"
        ),
        (_, "ABORTED") => format!("aborted after {took}"),
        (_, state) => format!("the job ended {state} after {took}, before the abort took effect"),
    };
    match outcome.ending {
        Ending::Done => format!("{subject} {done} in {took}"),
        Ending::Failed => match &outcome.failure {
            Some(why) => format!("{subject} FAILED after {took}: {why}"),
            None => format!("{subject} FAILED after {took}"),
        },
        Ending::Aborted => format!("{subject} was ABORTED after {took}"),
        Ending::TimedOut => format!(
            "{subject} passed the timeout of {}: {aborted}",
            request
                .timeout
                .map(|t| humantime::format_duration(t).to_string())
                .unwrap_or_default()
        ),
        Ending::Interrupted => format!("{subject} interrupted: {aborted}"),
    }
}

/// The JSON result: always the same keys, `null` where a value does not apply.
fn json_result(outcome: &BuildOutcome, request: &BuildRequest) -> serde_json::Value {
    serde_json::json!({
        "project": outcome.project,
        "jobId": outcome.scenario.is_none().then_some(&outcome.job_id),
        "scenario": outcome.scenario,
        "runId": outcome.scenario.is_some().then_some(&outcome.job_id),
        "mode": request.scenario.is_none().then_some(request.mode),
        "outputs": request.output_names(),
        "state": outcome.state,
        "outcome": outcome.ending,
        "succeeded": outcome.succeeded(),
        "durationMs": u64::try_from(outcome.duration.as_millis()).unwrap_or(u64::MAX),
        "timeoutMs": request.timeout.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
        "abortAcknowledged": outcome.abort_acknowledged,
        "failure": outcome.failure,
        "log": outcome.log,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::BuildMode;

    fn outcome(ending: Ending, state: &str) -> BuildOutcome {
        BuildOutcome {
            project: "CHURN".into(),
            job_id: "Build_customers_1".into(),
            ending,
            state: state.into(),
            duration: Duration::from_millis(1250),
            abort_acknowledged: None,
            failure: None,
            log: None,
            log_error: None,
            scenario: None,
        }
    }

    fn request() -> BuildRequest {
        BuildRequest {
            timeout: Some(Duration::from_secs(90)),
            ..BuildRequest::new("CHURN", &["customers".into()], BuildMode::RecursiveBuild).unwrap()
        }
    }

    #[test]
    fn summaries_name_the_job_its_end_and_an_unconfirmed_abort() {
        let req = request();
        assert_eq!(
            summary(&outcome(Ending::Done, "DONE"), &req),
            "job Build_customers_1 DONE in 1.2s"
        );
        let mut failed = outcome(Ending::Failed, "FAILED");
        failed.failure = Some("Output dataset CHURN.x does not exist".into());
        assert!(summary(&failed, &req).ends_with("FAILED after 1.2s: Output dataset CHURN.x does not exist"));
        let mut timed_out = outcome(Ending::TimedOut, "RUNNING");
        timed_out.abort_acknowledged = Some(false);
        let text = summary(&timed_out, &req);
        assert!(text.contains("timeout of 1m 30s"), "{text}");
        assert!(text.contains("may still be running"), "{text}");
        assert!(summary(&outcome(Ending::Interrupted, "ABORTED"), &req).contains("interrupted"));
    }

    #[test]
    fn an_abort_overtaken_by_the_end_of_the_job_says_so() {
        let req = request();
        let text = summary(&outcome(Ending::Interrupted, "DONE"), &req);
        assert!(
            text.contains("ended DONE after 1.2s, before the abort took effect"),
            "{text}"
        );
        let mut acknowledged = outcome(Ending::TimedOut, "ABORTED");
        acknowledged.abort_acknowledged = Some(true);
        assert!(summary(&acknowledged, &req).ends_with("timeout of 1m 30s: aborted after 1.2s"));
    }

    #[test]
    fn the_json_result_has_stable_keys() {
        let value = json_result(&outcome(Ending::Done, "DONE"), &request());
        assert_eq!(value["jobId"], "Build_customers_1");
        assert_eq!(value["mode"], "RECURSIVE_BUILD");
        assert_eq!(value["outcome"], "done");
        assert_eq!(value["succeeded"], true);
        assert_eq!(value["durationMs"], 1250);
        assert_eq!(value["timeoutMs"], 90_000);
        assert!(value["log"].is_null());
        let value = json_result(&outcome(Ending::TimedOut, "ABORTED"), &request());
        assert_eq!(value["outcome"], "timed_out");
        assert_eq!(value["succeeded"], false);
    }

    #[test]
    fn a_scenario_run_is_named_as_such() {
        let mut o = outcome(Ending::Failed, "FAILED");
        o.scenario = Some("NIGHTLY".into());
        o.job_id = "2026-01-01-00-00-00-000".into();
        o.failure = Some("step \"b\" failed: boom".into());
        let req = BuildRequest::scenario("CHURN", "NIGHTLY").unwrap();
        let text = summary(&o, &req);
        assert!(
            text.starts_with("scenario NIGHTLY run 2026-01-01-00-00-00-000 FAILED after "),
            "{text}"
        );
        assert!(text.ends_with(": step \"b\" failed: boom"), "{text}");
        let v = json_result(&o, &req);
        assert!(v["jobId"].is_null() && v["mode"].is_null());
        assert_eq!(v["runId"], "2026-01-01-00-00-00-000");
        assert_eq!(v["outputs"], serde_json::json!(["scenario NIGHTLY"]));
    }

    #[test]
    fn states_are_coloured_only_when_asked() {
        assert_eq!(paint_state("DONE", false), "DONE");
        assert!(paint_state("FAILED", true).contains("\x1b["));
    }
}
