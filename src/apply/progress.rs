//! Apply's progress on stderr while the writes run: how many operations finished out of how
//! many, how many failed, the elapsed time and the rate.
//!
//! - On a terminal (stderr is a TTY): one bar redrawn in place every [`BAR_REDRAW`], erased
//!   when the writes end, so that the report that follows starts on a clean line:
//!   `[#########...........] 2140/5350 operations, 0 failed, 12.4 s, 172.6/s`
//! - Without a terminal (CI logs, a pipe): one line every [`LINE_INTERVAL`], never redrawn,
//!   so that a log keeps a readable trace of a long apply:
//!   `apply: 2140/5350 operations (40%), 0 failed, 12 s elapsed, 172.6/s`
//! - `--quiet`, and the `watch` daemon (which logs its reconciles instead): nothing.
//!
//! The executor only bumps the [`Counters`]; the drawing runs in its own task and never
//! blocks a write. The formatting and the 10-second cadence are pure functions of a
//! [`Snapshot`], so they are tested with made-up times rather than with a clock.

use std::io::{IsTerminal, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How often the bar is redrawn on a terminal.
pub(crate) const BAR_REDRAW: Duration = Duration::from_millis(200);
/// How often a line is written without a terminal.
pub(crate) const LINE_INTERVAL: Duration = Duration::from_secs(10);
/// The width of the bar itself, in cells.
const BAR_CELLS: usize = 24;

/// How the progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Show {
    /// A bar redrawn in place (stderr is a terminal).
    Bar,
    /// A line every [`LINE_INTERVAL`] (stderr is not a terminal).
    Lines,
    /// Nothing (`--quiet`, the daemon).
    Nothing,
}

impl Show {
    /// What to show on this process's stderr: nothing when `quiet`, else a bar on a terminal
    /// and periodic lines elsewhere.
    pub(crate) fn for_stderr(quiet: bool) -> Show {
        if quiet {
            Show::Nothing
        } else if std::io::stderr().is_terminal() {
            Show::Bar
        } else {
            Show::Lines
        }
    }
}

/// What the executor counts as operations end.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    total: AtomicUsize,
    done: AtomicUsize,
    failed: AtomicUsize,
    skipped: AtomicUsize,
}

impl Counters {
    pub(crate) fn new(total: usize) -> Counters {
        Counters {
            total: AtomicUsize::new(total),
            ..Counters::default()
        }
    }

    pub(crate) fn done(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn skipped(&self) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now, `elapsed` after the start.
    pub(crate) fn snapshot(&self, elapsed: Duration) -> Snapshot {
        Snapshot {
            total: self.total.load(Ordering::Relaxed),
            done: self.done.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            elapsed,
        }
    }
}

/// The counts at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Snapshot {
    pub total: usize,
    pub done: usize,
    pub failed: usize,
    pub skipped: usize,
    pub elapsed: Duration,
}

impl Snapshot {
    /// Operations that ended, whatever their outcome.
    pub(crate) fn finished(&self) -> usize {
        self.done + self.failed + self.skipped
    }

    /// Operations ended per second so far.
    pub(crate) fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.finished() as f64 / secs
        } else {
            0.0
        }
    }

    fn failures(&self) -> String {
        let mut s = format!("{} failed", self.failed);
        if self.skipped > 0 {
            s.push_str(&format!(", {} skipped", self.skipped));
        }
        s
    }

    /// The terminal bar (without the carriage return that redraws it).
    pub(crate) fn bar(&self) -> String {
        let filled = (self.finished() * BAR_CELLS)
            .checked_div(self.total)
            .unwrap_or(BAR_CELLS)
            .min(BAR_CELLS);
        format!(
            "[{}{}] {}/{} operations, {}, {:.1} s, {:.1}/s",
            "#".repeat(filled),
            ".".repeat(BAR_CELLS - filled),
            self.finished(),
            self.total,
            self.failures(),
            self.elapsed.as_secs_f64(),
            self.rate()
        )
    }

    /// The line written without a terminal.
    pub(crate) fn line(&self) -> String {
        let percent = (self.finished() * 100).checked_div(self.total).unwrap_or(100);
        format!(
            "apply: {}/{} operations ({percent}%), {}, {} s elapsed, {:.1}/s",
            self.finished(),
            self.total,
            self.failures(),
            self.elapsed.as_secs(),
            self.rate()
        )
    }
}

/// The cadence of the lines without a terminal: the first line once `interval` has passed
/// (an apply shorter than that prints none), then one per `interval`. Driven by the elapsed
/// time of each snapshot, so any clock (or none) can drive it.
#[derive(Debug)]
pub(crate) struct LineCadence {
    interval: Duration,
    next: Duration,
}

impl LineCadence {
    pub(crate) fn new(interval: Duration) -> LineCadence {
        LineCadence {
            interval,
            next: interval,
        }
    }

    /// The line to write for `now`, if one is due.
    pub(crate) fn poll(&mut self, now: &Snapshot) -> Option<String> {
        if now.elapsed < self.next {
            return None;
        }
        // After a stall (a suspended process), one line, then the cadence from now on.
        while self.next <= now.elapsed {
            self.next += self.interval;
        }
        Some(now.line())
    }
}

/// The progress of one run of the writes: the counters, and the task that shows them.
pub(crate) struct Progress {
    counters: Arc<Counters>,
    show: Show,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// Start showing the progress of `total` operations.
    pub(crate) fn start(show: Show, total: usize) -> Progress {
        let counters = Arc::new(Counters::new(total));
        let started = Instant::now();
        let task = match show {
            Show::Nothing => None,
            Show::Bar => {
                let c = counters.clone();
                Some(tokio::spawn(async move {
                    let mut tick = tokio::time::interval(BAR_REDRAW);
                    loop {
                        tick.tick().await;
                        let bar = c.snapshot(started.elapsed()).bar();
                        // `\r` and erase-line: the bar is redrawn where it stands.
                        let mut err = std::io::stderr().lock();
                        let _ = write!(err, "\r\x1b[2K{bar}");
                        let _ = err.flush();
                    }
                }))
            }
            Show::Lines => {
                let c = counters.clone();
                Some(tokio::spawn(async move {
                    let mut cadence = LineCadence::new(LINE_INTERVAL);
                    let mut tick = tokio::time::interval(Duration::from_secs(1));
                    loop {
                        tick.tick().await;
                        if let Some(line) = cadence.poll(&c.snapshot(started.elapsed())) {
                            eprintln!("{line}");
                        }
                    }
                }))
            }
        };
        Progress { counters, show, task }
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Stop showing; on a terminal the bar is erased.
    pub(crate) fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            if self.show == Show::Bar {
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[2K");
                let _ = err.flush();
            }
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        // An apply interrupted mid-way (Ctrl-C) leaves no half-drawn bar under its message.
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, done: usize, failed: usize, skipped: usize) -> Snapshot {
        Snapshot {
            total: 100,
            done,
            failed,
            skipped,
            elapsed: Duration::from_secs(secs),
        }
    }

    #[test]
    fn the_bar_shows_counts_failures_time_and_rate() {
        assert_eq!(
            at(4, 48, 2, 0).bar(),
            "[############............] 50/100 operations, 2 failed, 4.0 s, 12.5/s"
        );
        assert_eq!(
            at(0, 0, 0, 0).bar(),
            "[........................] 0/100 operations, 0 failed, 0.0 s, 0.0/s"
        );
        let full = at(10, 90, 5, 5).bar();
        assert!(full.starts_with(&format!("[{}]", "#".repeat(24))), "{full}");
        assert!(full.contains("5 failed, 5 skipped"), "{full}");
        // An empty plan never divides by zero.
        let empty = Snapshot {
            total: 0,
            ..at(1, 0, 0, 0)
        };
        assert!(empty.bar().contains("0/0 operations"));
        assert!(empty.line().contains("(100%)"));
    }

    #[test]
    fn lines_come_every_interval_and_not_before_the_first() {
        let mut cadence = LineCadence::new(Duration::from_secs(10));
        let polls: Vec<Option<String>> = [0, 3, 9, 10, 12, 19, 20, 45, 49, 50]
            .into_iter()
            .map(|s| cadence.poll(&at(s, s as usize, 0, 0)))
            .collect();
        let lines: Vec<&str> = polls.iter().flatten().map(String::as_str).collect();
        assert_eq!(
            lines,
            vec![
                "apply: 10/100 operations (10%), 0 failed, 10 s elapsed, 1.0/s",
                "apply: 20/100 operations (20%), 0 failed, 20 s elapsed, 1.0/s",
                // After a stall from 20 s to 45 s: one line, then every 10 s from there.
                "apply: 45/100 operations (45%), 0 failed, 45 s elapsed, 1.0/s",
                "apply: 50/100 operations (50%), 0 failed, 50 s elapsed, 1.0/s",
            ]
        );
    }

    #[test]
    fn counters_add_up_in_the_snapshot() {
        let c = Counters::new(3);
        c.done();
        c.failed();
        c.skipped();
        let s = c.snapshot(Duration::from_secs(2));
        assert_eq!((s.total, s.done, s.failed, s.skipped), (3, 1, 1, 1));
        assert_eq!(s.finished(), 3);
        assert!((s.rate() - 1.5).abs() < 1e-9);
    }
}
