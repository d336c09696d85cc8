//! The one error type of the commands and the one exit-code table.
//!
//! Every command returns `Result<Outcome, Error>`: an [`Outcome`] when it ran to its end (which
//! may still be a failure it has already reported, such as a failed operation or an invalid
//! manifest), an [`Error`] when it stopped. [`exit_code`] maps both to the documented exit
//! status, and it is the only place that does; `main` prints the error with [`report`] and is
//! the only caller of `exit`.
//!
//! | code | meaning                                                                     |
//! |------|-----------------------------------------------------------------------------|
//! | 0    | success; also `plan` with changes but without `--detailed-exitcode`;        |
//! |      | also a closed stdout (a reader such as `head` stopped reading)              |
//! | 1    | an error; invalid manifests; a failed operation, build or confirmation;     |
//! |      | stdout cannot be written (a full device)                                    |
//! | 2    | `plan --detailed-exitcode`: the plan has changes                            |
//! | 3    | a safety guard refused the apply; nothing was written                       |
//! | 4    | a saved plan is stale (the live state changed since); nothing was written   |
//! | 5    | the stack is locked by another run (after `--lock-timeout`); nothing written |
//! | 130  | `build`: a second interrupt stopped dssctl before DSS confirmed the abort    |
//!
//! A closed stdout exits 0 without a word rather than re-raising SIGPIPE: the standard
//! library ignores SIGPIPE, re-raising it needs `libc`, and 0 keeps `set -o pipefail` scripts
//! such as `dssctl schema | head -1` green.
//!
//! Each error is said once: an error type either shows its cause in its own message or
//! exposes it as `source()`, never both, so the chain printed by [`report`] has no repeats.

use crate::apply::guards::Refusal;
use crate::manifest::Diagnostics;

/// Exit status: success.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit status: an error, or a failure already reported.
pub(crate) const EXIT_ERROR: u8 = 1;
/// Exit status: `plan --detailed-exitcode` found changes.
pub(crate) const EXIT_CHANGES: u8 = 2;
/// Exit status: a safety guard refused.
pub(crate) const EXIT_GUARD: u8 = 3;
/// Exit status: a saved plan is stale.
pub(crate) const EXIT_STALE: u8 = 4;
/// Exit status: the stack is locked by another run.
pub(crate) const EXIT_LOCKED: u8 = 5;
/// Exit status: interrupted (128 + SIGINT, the shell convention).
pub(crate) const EXIT_INTERRUPTED: u8 = 130;

/// How a command that ran to its end ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything done (for `plan`: no change, or changes without `--detailed-exitcode`).
    Success,
    /// `plan --detailed-exitcode` with changes.
    Changes,
    /// The command finished and has reported what failed.
    Failed(Failure),
}

/// What an [`Outcome::Failed`] command reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// `validate` found invalid manifests.
    Invalid,
    /// The plan holds errors (text plans show them inline).
    PlanErrors,
    /// An operation of an apply failed or was skipped, or the ledger could not be written.
    Apply,
    /// The confirmation of an apply was refused.
    Cancelled,
    /// A build (`dssctl build` or a triggered one) did not end DONE.
    Build,
}

/// Why a command stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The manifests do not validate.
    #[error("invalid manifests:\n{0}")]
    InvalidManifests(Diagnostics),
    /// The plan holds errors; nothing was written.
    #[error("the plan has {0} error(s); nothing was written")]
    PlanErrors(usize),
    /// A safety guard refused the apply.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The objects of a saved plan changed since it was made.
    #[error(
        "the live state changed since the plan was made ({} object(s)); nothing was written. Make a new plan.",
        .changed.len()
    )]
    Stale {
        /// One line per changed object, printed before the error.
        changed: Vec<String>,
    },
    /// Another run holds the stack lock; nothing was written.
    #[error("{0}; nothing was written")]
    Locked(String),
    /// A second interrupt: dssctl stops without waiting for what it asked DSS to do.
    #[error("{0}")]
    Interrupted(String),
    /// stdout cannot be written. A closed pipe is reported by nobody ([`Error::is_quiet`]).
    #[error(transparent)]
    Stdout(#[from] crate::output::StdoutError),
    /// Anything else, with a hint when the user can fix it.
    #[error("{error:#}")]
    Other {
        error: anyhow::Error,
        hint: Option<String>,
    },
}

impl From<anyhow::Error> for Error {
    fn from(error: anyhow::Error) -> Self {
        Error::Other { error, hint: None }
    }
}

impl From<crate::lock::LockError> for Error {
    fn from(error: crate::lock::LockError) -> Self {
        match error {
            held @ crate::lock::LockError::Held { .. } => Error::Locked(held.to_string()),
            other => Error::from(anyhow::Error::new(other)),
        }
    }
}

impl Error {
    /// Whether nothing should be said: the reader of stdout went away.
    pub(crate) fn is_quiet(&self) -> bool {
        matches!(self, Error::Stdout(e) if e.is_quiet())
    }

    /// The hint shown under the error, if any.
    pub(crate) fn hint(&self) -> Option<&str> {
        match self {
            Error::Other { hint, .. } => hint.as_deref(),
            _ => None,
        }
    }

    /// Attach the hint `find` gives for a generic error that has none yet.
    pub(crate) fn with_hint(self, find: impl FnOnce(&anyhow::Error) -> Option<String>) -> Self {
        match self {
            Error::Other { error, hint: None } => {
                let hint = find(&error);
                Error::Other { error, hint }
            }
            other => other,
        }
    }
}

/// The exit-code table: the only place an outcome or an error becomes a status.
pub fn exit_code(result: &Result<Outcome, Error>) -> u8 {
    match result {
        Ok(Outcome::Success) => EXIT_OK,
        Ok(Outcome::Changes) => EXIT_CHANGES,
        Ok(Outcome::Failed(_)) => EXIT_ERROR,
        Err(Error::Refused(_)) => EXIT_GUARD,
        Err(Error::Stale { .. }) => EXIT_STALE,
        Err(Error::Locked(_)) => EXIT_LOCKED,
        Err(Error::Interrupted(_)) => EXIT_INTERRUPTED,
        Err(e) if e.is_quiet() => EXIT_OK,
        Err(Error::InvalidManifests(_) | Error::PlanErrors(_) | Error::Stdout(_) | Error::Other { .. }) => {
            EXIT_ERROR
        }
    }
}

/// The text `main` writes on stderr for `err` (empty for a closed stdout): the details first
/// (the changed objects of a stale plan), then `error: ...`, then `hint: ...`.
pub fn report(err: &Error) -> String {
    if err.is_quiet() {
        return String::new();
    }
    let mut out = String::new();
    if let Error::Stale { changed } = err {
        for c in changed {
            out.push_str(&format!("  {c}\n"));
        }
    }
    out.push_str(&format!("error: {err}\n"));
    if let Some(hint) = err.hint() {
        out.push_str(&format!("hint: {hint}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_and_error_has_its_documented_code() {
        let io = |kind| Error::Stdout(crate::output::StdoutError(std::io::Error::from(kind)));
        let cases: Vec<(Result<Outcome, Error>, u8)> = vec![
            (Ok(Outcome::Success), 0),
            (Ok(Outcome::Changes), 2),
            (Ok(Outcome::Failed(Failure::Invalid)), 1),
            (Ok(Outcome::Failed(Failure::Build)), 1),
            (Ok(Outcome::Failed(Failure::Cancelled)), 1),
            (
                Err(Error::Refused(Refusal::EmptyManifests {
                    stack: "s".into(),
                    ledger_size: 2,
                })),
                3,
            ),
            (
                Err(Error::Stale {
                    changed: vec!["x".into()],
                }),
                4,
            ),
            (Err(Error::Locked("stack \"s\" is locked by u@h".into())), 5),
            (Err(Error::Interrupted("again".into())), 130),
            (Err(io(std::io::ErrorKind::BrokenPipe)), 0),
            (Err(io(std::io::ErrorKind::StorageFull)), 1),
            (Err(Error::PlanErrors(2)), 1),
            (Err(anyhow::anyhow!("boom").into()), 1),
        ];
        for (result, code) in cases {
            assert_eq!(exit_code(&result), code, "{result:?}");
        }
    }

    #[test]
    fn a_report_says_the_error_once_with_its_details_and_hint() {
        let stale = Error::Stale {
            changed: vec!["group g changed since the plan".into()],
        };
        assert_eq!(
            report(&stale),
            "  group g changed since the plan\nerror: the live state changed since the plan was made \
             (1 object(s)); nothing was written. Make a new plan.\n"
        );
        let err =
            Error::from(anyhow::anyhow!("inner").context("outer")).with_hint(|_| Some("try again".into()));
        assert_eq!(report(&err), "error: outer: inner\nhint: try again\n");
        let quiet = Error::Stdout(crate::output::StdoutError(std::io::Error::from(
            std::io::ErrorKind::BrokenPipe,
        )));
        assert_eq!(report(&quiet), "");
    }
}
