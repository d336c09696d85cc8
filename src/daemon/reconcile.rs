//! One reconcile of `dssctl watch`: load and validate the manifests (keeping the last good
//! set when they do not validate), read the live state and plan through the engine, then do
//! what [`decide`] says: everything after a change of the manifests, drift corrections on the
//! interval unless `--no-self-heal`, deletions only with `--prune` (otherwise counted as
//! pending). The apply guards still hold; a refusal is reported as a failed reconcile, never
//! fatal. Everything is reported through tracing: the daemon's log is its output.
//!
//! A reconcile that writes takes the stack lock first ([`crate::lock`]) and plans again under
//! it (another run may have written meanwhile); a lock held by another run is a failed
//! reconcile, retried with the back-off. The events of [`super::notify`] are raised here.

use std::path::PathBuf;

use crate::engine;
use crate::lock::{self, Holder, LockError, LockSettings};
use crate::manifest::Declared;
use crate::plan::{Action, Plan};
use crate::target::Target;

use super::decision::{Decision, Policy, Trigger, decide, without_deletes};
use super::http::ReconcileResult;
use super::notify::{Event, EventKind, Notifier};

/// The daemon's options for a reconcile.
#[derive(Debug, Clone)]
pub struct Options {
    pub dir: PathBuf,
    pub policy: Policy,
    pub parallelism: usize,
    pub lock: LockSettings,
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
pub async fn reconcile(
    target: &Target,
    desired: &mut Desired,
    trigger: Trigger,
    opts: &Options,
    notify: &Notifier,
) -> Outcome {
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
    let event = |kind, plan: Option<&Plan>, reason: Option<String>| {
        let resources = plan.map_or_else(Vec::new, |p| {
            p.operations
                .iter()
                .map(|o| format!("{}/{}", o.kind, o.name))
                .collect()
        });
        notify.send(Event::new(kind, &target.stack, &target.url, resources, reason));
    };
    let failed = |drift| Outcome {
        result: ReconcileResult::Error,
        drift,
    };
    let first = match assess(target, resources, trigger, opts, true).await {
        Ok(a) => a,
        Err(drift) => return failed(drift),
    };
    if trigger == Trigger::Interval && first.drifted > 0 {
        event(EventKind::DriftDetected, Some(&first.plan), None);
    }
    match &first.decision {
        Decision::InSync | Decision::ReportDrift => return first.settle(settled),
        Decision::Refuse(why) => {
            event(EventKind::GuardRefused, Some(&first.plan), Some(why.clone()));
            return failed(Some(first.drift()));
        }
        Decision::Apply => {}
    }

    // Writing: under the stack lock, from a plan made under it.
    let holder = Holder::current("watch", |name| std::env::var(name).ok());
    let guard = match lock::acquire(&target.client, &target.stack, &holder, opts.lock, |who| {
        tracing::info!(holder = who, "waiting for the stack lock");
    })
    .await
    {
        Ok(g) => g,
        Err(LockError::Held { holder, .. }) => {
            tracing::warn!(holder = %holder, "the stack is locked by another run; nothing applied");
            event(EventKind::LockContention, None, Some(format!("held by {holder}")));
            return failed(Some(first.drift()));
        }
        Err(err) => {
            tracing::error!(error = %err, "reconcile failed");
            return failed(Some(first.drift()));
        }
    };
    let outcome = write_locked(target, resources, trigger, opts, settled, &event).await;
    if guard.lost() {
        tracing::error!("another run took the stack lock over during this reconcile");
    }
    if let Err(e) = guard.release().await {
        tracing::warn!(error = %e, "cannot release the stack lock; it expires by itself");
    }
    outcome
}

/// Plan again under the lock, then write.
async fn write_locked(
    target: &Target,
    resources: &[Declared],
    trigger: Trigger,
    opts: &Options,
    settled: ReconcileResult,
    event: &impl Fn(EventKind, Option<&Plan>, Option<String>),
) -> Outcome {
    let failed = |drift| Outcome {
        result: ReconcileResult::Error,
        drift,
    };
    let now = match assess(target, resources, trigger, opts, false).await {
        Ok(a) => a,
        Err(drift) => return failed(drift),
    };
    match &now.decision {
        Decision::InSync | Decision::ReportDrift => return now.settle(settled),
        Decision::Refuse(why) => {
            event(EventKind::GuardRefused, Some(&now.plan), Some(why.clone()));
            return failed(Some(now.drift()));
        }
        Decision::Apply => {}
    }
    let Assessed {
        plan,
        ledger,
        pending,
        ..
    } = now;
    let report = match engine::write(target, &plan, ledger.as_ref(), &opts.dir, opts.parallelism).await {
        Ok(r) => r,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "apply failed");
            event(EventKind::ApplyFailed, Some(&plan), None);
            return failed(Some((plan.operations.len(), pending)));
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
        let failing: Vec<String> = report
            .operations
            .iter()
            .filter(|o| o.error.is_some())
            .map(|o| format!("{}/{}", o.kind, o.name))
            .collect();
        notify_failed(event, &plan, failing);
        return failed(Some((plan.operations.len(), pending)));
    }
    if trigger == Trigger::Interval {
        event(EventKind::DriftCorrected, Some(&plan), None);
    }
    Outcome {
        result: settled,
        // Everything due was written: nothing differs any more but the pending deletions.
        drift: Some((0, pending)),
    }
}

/// An apply failed: name the operations that failed (all of the plan's when none is named).
fn notify_failed(
    event: &impl Fn(EventKind, Option<&Plan>, Option<String>),
    plan: &Plan,
    failing: Vec<String>,
) {
    if failing.is_empty() {
        event(EventKind::ApplyFailed, Some(plan), None);
        return;
    }
    let mut only = plan.clone();
    only.operations
        .retain(|o| failing.contains(&format!("{}/{}", o.kind, o.name)));
    event(EventKind::ApplyFailed, Some(&only), None);
}

/// A plan and what to do with it.
struct Assessed {
    plan: Plan,
    ledger: Option<crate::plan::Ledger>,
    decision: Decision,
    drifted: usize,
    pending: usize,
}

impl Assessed {
    fn drift(&self) -> (usize, usize) {
        (self.drifted, self.pending)
    }

    /// The outcome of a reconcile that writes nothing.
    fn settle(&self, settled: ReconcileResult) -> Outcome {
        match self.decision {
            Decision::ReportDrift => {
                tracing::warn!(
                    drifted = self.drifted,
                    "drift found; not corrected (--no-self-heal)"
                );
                Outcome {
                    result: ReconcileResult::Success,
                    drift: Some(self.drift()),
                }
            }
            _ => {
                tracing::info!(unchanged = self.plan.summary.unchanged, "in sync");
                Outcome {
                    result: settled,
                    drift: Some(self.drift()),
                }
            }
        }
    }
}

/// Read the live state, plan and decide. `report` logs what the plan would change (once per
/// reconcile: not again for the plan made under the lock). `Err` holds the drift to report
/// when the live state could not be read (none).
async fn assess(
    target: &Target,
    resources: &[Declared],
    trigger: Trigger,
    opts: &Options,
    report: bool,
) -> Result<Assessed, Option<(usize, usize)>> {
    let planned = match engine::plan_on(target, resources, opts.parallelism).await {
        Ok(p) => p,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "reconcile failed");
            return Err(None);
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
    if report && pending > 0 && plan.errors.is_empty() {
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
    if report && plan.errors.is_empty() && plan.has_changes() {
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
    if let Decision::Refuse(why) = &decision {
        for e in &plan.errors {
            tracing::error!(error = %e, "plan error; nothing applied");
        }
        tracing::error!(refusal = %why, "apply refused; nothing applied");
    }
    Ok(Assessed {
        plan,
        ledger: observed.ledger,
        decision,
        drifted,
        pending,
    })
}
