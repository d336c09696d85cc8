//! How a finished build is told on a terminal, by `dssctl build` and by apply's triggered
//! builds alike: elapsed times, and the end of a failed job's log on stderr.

use std::io::Write as _;
use std::time::Duration;

use super::BuildOutcome;

/// `0.3s` under a minute, `12m 5s` beyond (whole seconds).
pub(crate) fn fmt_elapsed(d: Duration) -> String {
    if d < Duration::from_secs(60) {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
    }
}

/// How many lines of a failed job's log are printed on stderr: the cause is at the end, and a
/// DSS job log can run to megabytes.
const LOG_TAIL_LINES: usize = 500;

/// The last `max` lines of `log`, and how many lines came before them.
fn log_tail(log: &str, max: usize) -> (usize, &str) {
    let total = log.lines().count();
    if total <= max {
        return (0, log);
    }
    let skip = total - max;
    // The byte offset just after the `skip`-th newline.
    let start = log.match_indices('\n').nth(skip - 1).map_or(0, |(i, _)| i + 1);
    (skip, &log[start..])
}

pub(crate) fn print_log(outcome: &BuildOutcome) {
    let mut err = std::io::stderr().lock();
    let what = match &outcome.scenario {
        Some(s) => format!("scenario {s} run {}", outcome.job_id),
        None => format!("job {}", outcome.job_id),
    };
    match (&outcome.log, &outcome.log_error) {
        (Some(log), _) => {
            let _ = writeln!(err, "----- log of {what} -----");
            let (omitted, tail) = log_tail(log, LOG_TAIL_LINES);
            if omitted > 0 {
                let _ = writeln!(
                    err,
                    "({omitted} earlier lines omitted; --format json carries the whole log)"
                );
            }
            let _ = write!(err, "{tail}");
            if !log.ends_with('\n') {
                let _ = writeln!(err);
            }
            let _ = writeln!(err, "----- end of the log of {what} -----");
        }
        (None, Some(why)) => {
            let _ = writeln!(err, "cannot read the log of {what}: {why}");
        }
        (None, None) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elapsed_times_read_naturally() {
        assert_eq!(fmt_elapsed(Duration::from_millis(340)), "0.3s");
        assert_eq!(fmt_elapsed(Duration::from_millis(59_940)), "59.9s");
        assert_eq!(fmt_elapsed(Duration::from_millis(125_700)), "2m 5s");
        assert_eq!(fmt_elapsed(Duration::from_secs(3600)), "1h");
    }

    #[test]
    fn long_logs_keep_their_end() {
        assert_eq!(log_tail("a\nb\n", 5), (0, "a\nb\n"));
        assert_eq!(log_tail("a\nb\nc\nd\n", 2), (2, "c\nd\n"));
        assert_eq!(log_tail("a\nb\nc", 1), (2, "c"));
        assert_eq!(log_tail("", 1), (0, ""));
    }
}
