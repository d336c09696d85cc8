//! One reconcile of `dssctl watch`: load and validate the manifests (keeping the last good
//! set when they do not validate), read the live state and plan, then apply what is due:
//! everything after a change of the manifests, drift corrections on the interval unless
//! `--no-self-heal`, deletions only with `--prune` (otherwise counted as pending). The apply
//! guards still hold; a refusal is reported as a failed reconcile, never fatal.
//! Also the scheduling arithmetic: interval jitter and the error back-off.

use std::path::PathBuf;
use std::time::Duration;

use crate::apply::guards::{self, GuardOptions};
use crate::manifest::Declared;
use crate::plan::planner::declared_id;
use crate::plan::{Action, Plan};
use crate::plan_command::plan_on;
use crate::target::Target;

use super::http::ReconcileResult;

/// Why a reconcile runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The first reconcile, or a change under the directory: the manifests are applied.
    Change,
    /// The periodic drift check: drift is corrected only with self-heal.
    Interval,
}

/// The daemon's options for a reconcile.
#[derive(Debug, Clone)]
pub struct Options {
    pub dir: PathBuf,
    pub self_heal: bool,
    pub prune: bool,
    pub max_deletes: Option<usize>,
    pub parallelism: usize,
}

/// What a reconcile found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub result: ReconcileResult,
    /// `(drifted, pending deletes)` after the reconcile, when the live state was compared:
    /// drifted counts the creations, updates and adoptions still due (0 once applied).
    pub drift: Option<(usize, usize)>,
}

/// The manifests last seen valid, kept across reconciles.
#[derive(Debug, Default)]
pub struct Desired {
    pub resources: Option<Vec<Declared>>,
}

/// Reconcile once.
pub async fn reconcile(target: &Target, desired: &mut Desired, trigger: Trigger, opts: &Options) -> Outcome {
    let paths = vec![opts.dir.clone()];
    let invalid = match crate::manifest::load_paths(&paths) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                tracing::warn!(diagnostic = %w, "manifest warning");
            }
            desired.resources = Some(loaded.resources);
            false
        }
        Err(diagnostics) => {
            tracing::error!(
                diagnostics = %diagnostics,
                "invalid manifests: nothing applied, the last good state is kept"
            );
            true
        }
    };
    // An invalid edit applies nothing; the interval still checks drift against the last
    // good manifests.
    if invalid && trigger == Trigger::Change {
        return Outcome {
            result: ReconcileResult::Invalid,
            drift: None,
        };
    }
    let Some(resources) = desired.resources.as_deref() else {
        return Outcome {
            result: ReconcileResult::Invalid,
            drift: None,
        };
    };
    let (plan, observed, _) = match plan_on(target, resources, opts.parallelism).await {
        Ok(p) => p,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "reconcile failed");
            return Outcome {
                result: ReconcileResult::Error,
                drift: None,
            };
        }
    };
    let (plan, pending) = without_deletes(plan, opts.prune);
    let drifted = plan
        .operations
        .iter()
        .filter(|o| o.action != Action::Delete)
        .count();
    let drift = Some((drifted, pending));
    let failed = |drift| Outcome {
        result: ReconcileResult::Error,
        drift,
    };
    if !plan.errors.is_empty() {
        for e in &plan.errors {
            tracing::error!(error = %e, "plan error; nothing applied");
        }
        return failed(drift);
    }
    if pending > 0 {
        tracing::warn!(
            pending_deletes = pending,
            "resources no longer declared are not deleted without --prune"
        );
    }
    if !plan.has_changes() {
        tracing::info!(unchanged = plan.summary.unchanged, ?trigger, "in sync");
        let result = if invalid {
            ReconcileResult::Invalid
        } else {
            ReconcileResult::Success
        };
        return Outcome { result, drift };
    }
    for op in &plan.operations {
        tracing::info!(
            action = op.action.as_str(),
            kind = %op.kind,
            name = %op.name,
            "{}",
            if trigger == Trigger::Interval { "drift" } else { "change" }
        );
    }
    if trigger == Trigger::Interval && !opts.self_heal {
        tracing::warn!(drifted, "drift found; not corrected (--no-self-heal)");
        return Outcome {
            result: ReconcileResult::Success,
            drift,
        };
    }
    let declared = resources
        .iter()
        .filter(|d| declared_id(&d.resource).is_some())
        .count();
    let ledger_size = observed.ledger.as_ref().map_or(0, |l| l.resources.len());
    let guard_opts = GuardOptions {
        max_deletes: opts.max_deletes,
        allow_deletes: None,
    };
    if let Err(refusal) = guards::check(&plan, Some(declared), ledger_size, guard_opts) {
        tracing::error!(refusal = %refusal, "apply refused; nothing applied");
        return failed(drift);
    }
    let report = match crate::apply::write_plan(
        target,
        &plan,
        observed.ledger.as_ref(),
        &opts.dir,
        opts.parallelism,
    )
    .await
    {
        Ok(r) => r,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "apply failed");
            return failed(drift);
        }
    };
    for op in &report.operations {
        if let Some(error) = &op.error {
            tracing::error!(kind = %op.kind, name = %op.name, error = %error, "operation failed");
        }
    }
    for e in &report.errors {
        tracing::error!(error = %e, "apply error");
    }
    let s = &report.summary;
    tracing::info!(
        created = s.created,
        updated = s.updated,
        adopted = s.adopted,
        deleted = s.deleted,
        failed = s.failed,
        skipped = s.skipped,
        "applied"
    );
    if !report.success() {
        return failed(drift);
    }
    Outcome {
        result: if invalid {
            ReconcileResult::Invalid
        } else {
            ReconcileResult::Success
        },
        // Everything due was written: nothing differs any more but the pending deletions.
        drift: Some((0, pending)),
    }
}

/// Without `prune`, the plan's deletions are taken out (and counted): they are only
/// reported. Deletions depend on nothing the remaining operations need, so the rest of the
/// plan stays executable.
pub fn without_deletes(mut plan: Plan, prune: bool) -> (Plan, usize) {
    if prune {
        return (plan, 0);
    }
    let before = plan.operations.len();
    plan.operations.retain(|o| o.action != Action::Delete);
    let pending = before - plan.operations.len();
    plan.recount();
    (plan, pending)
}

/// The interval with ±10% jitter; `unit` in `[0, 1)` picks the point in the range.
pub fn jittered(interval: Duration, unit: f64) -> Duration {
    interval.mul_f64(0.9 + 0.2 * unit.clamp(0.0, 1.0))
}

/// The wait after `failures` consecutive failed reconciles: 1 s doubling, capped at the
/// interval.
pub fn backoff(failures: u32, interval: Duration) -> Duration {
    let exp = failures.saturating_sub(1).min(20);
    Duration::from_secs(1u64 << exp).min(interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_interval() {
        let interval = Duration::from_secs(60);
        let waits: Vec<u64> = (1..=8).map(|n| backoff(n, interval).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(backoff(1000, interval), interval);
        assert_eq!(backoff(3, Duration::from_secs(1)), Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let interval = Duration::from_secs(100);
        assert_eq!(jittered(interval, 0.0), Duration::from_secs(90));
        assert_eq!(jittered(interval, 0.5), Duration::from_secs(100));
        assert!(jittered(interval, 0.999_999) <= Duration::from_secs(110));
        assert!(jittered(interval, 0.999_999) > Duration::from_secs(109));
    }
}
