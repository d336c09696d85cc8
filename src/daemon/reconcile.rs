//! One reconcile of `dssctl watch`: load and validate the manifests (keeping the last good
//! set when they do not validate), read the live state and plan through the engine, then do
//! what [`decide`] says: everything after a change of the manifests, drift corrections on the
//! interval unless `--no-self-heal`, deletions only with `--prune` (otherwise counted as
//! pending). The apply guards still hold; a refusal is reported as a failed reconcile, never
//! fatal. Everything is reported through tracing: the daemon's log is its output.

use std::path::PathBuf;

use crate::engine;
use crate::manifest::Declared;
use crate::plan::Action;
use crate::target::Target;

use super::decision::{Decision, Policy, Trigger, decide, without_deletes};
use super::http::ReconcileResult;

/// The daemon's options for a reconcile.
#[derive(Debug, Clone)]
pub struct Options {
    pub dir: PathBuf,
    pub policy: Policy,
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
    let invalid = match engine::load(std::slice::from_ref(&opts.dir)) {
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
    let settled = if invalid {
        ReconcileResult::Invalid
    } else {
        ReconcileResult::Success
    };
    // An invalid edit applies nothing; the interval still checks drift against the last
    // good manifests.
    let resources = match desired.resources.as_deref() {
        Some(resources) if !(invalid && trigger == Trigger::Change) => resources,
        _ => {
            return Outcome {
                result: ReconcileResult::Invalid,
                drift: None,
            };
        }
    };
    let planned = match engine::plan_on(target, resources, opts.parallelism).await {
        Ok(p) => p,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "reconcile failed");
            return Outcome {
                result: ReconcileResult::Error,
                drift: None,
            };
        }
    };
    let engine::Planned {
        plan,
        observed,
        declared,
        ..
    } = planned;
    let (plan, pending) = without_deletes(plan, opts.policy.prune);
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
    if pending > 0 && plan.errors.is_empty() {
        tracing::warn!(
            pending_deletes = pending,
            "resources no longer declared are not deleted without --prune"
        );
    }
    let guard = engine::GuardInput {
        declared: Some(declared),
        ledger: observed.ledger.as_ref(),
    };
    let decision = decide(&plan, trigger, opts.policy, guard);
    if plan.errors.is_empty() && plan.has_changes() {
        for op in &plan.operations {
            tracing::info!(
                action = op.action.as_str(),
                kind = %op.kind,
                name = %op.name,
                "{}",
                if trigger == Trigger::Interval { "drift" } else { "change" }
            );
        }
    }
    match decision {
        Decision::InSync => {
            tracing::info!(unchanged = plan.summary.unchanged, ?trigger, "in sync");
            return Outcome {
                result: settled,
                drift,
            };
        }
        Decision::ReportDrift => {
            tracing::warn!(drifted, "drift found; not corrected (--no-self-heal)");
            return Outcome {
                result: ReconcileResult::Success,
                drift,
            };
        }
        Decision::Refuse(why) => {
            for e in &plan.errors {
                tracing::error!(error = %e, "plan error; nothing applied");
            }
            tracing::error!(refusal = %why, "apply refused; nothing applied");
            return failed(drift);
        }
        Decision::Apply => {}
    }
    let report = match engine::write(
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
        result: settled,
        // Everything due was written: nothing differs any more but the pending deletions.
        drift: Some((0, pending)),
    }
}
