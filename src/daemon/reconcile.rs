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
//!
//! A `dssctl.io/sync: detect-only` resource that differs is never written: its difference is
//! counted as drift and notified as `drift_detected` at every reconcile that sees it. Each
//! reconcile also reports what the status page shows ([`PageUpdate`]): every resource's
//! state, the plan in one line, the error when it failed (secrets sent redacted).

use std::path::PathBuf;

use std::collections::BTreeMap;

use crate::engine;
use crate::lock::{self, Holder, LockError, LockSettings};
use crate::manifest::Declared;
use crate::plan::{Action, Operation, Plan, ResourceId};
use crate::target::Target;

use super::decision::{Decision, Policy, Trigger, decide, without_deletes};
use super::http::ReconcileResult;
use super::notify::{Event, EventKind, Notifier};
use super::status::{self, Applied, ResourceStatus};

/// The daemon's options for a reconcile.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub dir: PathBuf,
    pub policy: Policy,
    pub parallelism: usize,
    pub lock: LockSettings,
}

/// What a reconcile found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub result: ReconcileResult,
    /// `(drifted, pending deletes)` after the reconcile, when the live state was compared:
    /// drifted counts the creations, updates and adoptions still due (0 once applied).
    pub drift: Option<(usize, usize)>,
    pub page: PageUpdate,
}

/// What a reconcile tells the status page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PageUpdate {
    /// Every managed resource's state (`None`: keep the last known states).
    pub resources: Option<Vec<ResourceStatus>>,
    /// The plan in one line, or what stopped the reconcile.
    pub summary: String,
    /// Why it failed (no secret value: the ones sent are redacted).
    pub error: Option<String>,
}

impl PageUpdate {
    fn new(
        resources: Option<Vec<ResourceStatus>>,
        summary: impl Into<String>,
        error: Option<String>,
    ) -> Self {
        PageUpdate {
            resources,
            summary: summary.into(),
            error,
        }
    }
}

/// `kind/name` of each operation, as the events name resources.
fn names<'a>(ops: impl Iterator<Item = &'a Operation>) -> Vec<String> {
    ops.map(|o| format!("{}/{}", o.kind, o.name)).collect()
}

/// The declared resources with their origins (a Build is no resource).
fn declared_ids(resources: &[Declared]) -> Vec<(ResourceId, String)> {
    resources
        .iter()
        .filter_map(|d| {
            Some((
                crate::plan::planner::declared_id(&d.resource)?,
                d.origin.to_string(),
            ))
        })
        .collect()
}

/// The manifests last seen valid, kept across reconciles.
#[derive(Debug, Default)]
pub(crate) struct Desired {
    pub resources: Option<Vec<Declared>>,
}

/// Reconcile once.
pub(crate) async fn reconcile(
    target: &Target,
    desired: &mut Desired,
    trigger: Trigger,
    opts: &Options,
    notify: &Notifier,
) -> Outcome {
    let mut invalid_text = None;
    // The reads the ledger names start while the manifests load, as for `plan` and `apply`.
    let invalid = match engine::load_prefetching(target, std::slice::from_ref(&opts.dir)).await {
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
            invalid_text = Some(diagnostics.to_string());
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
                page: PageUpdate::new(
                    None,
                    "invalid manifests: nothing applied, the last good ones kept",
                    invalid_text,
                ),
            };
        }
    };
    let declared = declared_ids(resources);
    let event = |kind, resources: Vec<String>, reason: Option<String>| {
        notify.send(Event::new(kind, &target.stack, &target.url, resources, reason));
    };
    let first = match assess(target, resources, trigger, opts, true).await {
        Ok(a) => a,
        Err(error) => return not_read(&declared, error),
    };
    // Drift: on the interval, everything that differs; at any reconcile, what differs and
    // is kept so by `dssctl.io/sync: detect-only`.
    let drifted: Vec<String> = if trigger == Trigger::Interval {
        names(
            first
                .plan
                .operations
                .iter()
                .filter(|o| o.action != Action::Delete),
        )
    } else {
        names(first.plan.detect_only())
    };
    if !drifted.is_empty() {
        event(EventKind::DriftDetected, drifted, None);
    }
    match &first.decision {
        Decision::InSync | Decision::ReportDrift => return first.settle(settled, &declared),
        Decision::Refuse(why) => {
            event(
                EventKind::GuardRefused,
                names(first.plan.writable()),
                Some(why.clone()),
            );
            return first.unwritten(&declared, format!("apply refused: {why}"));
        }
        Decision::Apply => {}
    }

    // Writing: under the stack lock, from a plan made under it, whose reads run during the
    // lock's settle wait (see `lock::acquire_reading`).
    let holder = Holder::current("watch", |name| std::env::var(name).ok());
    let acquired = lock::acquire_reading(
        &target.client,
        &target.stack,
        &holder,
        opts.lock,
        |who| tracing::info!(holder = who, "waiting for the stack lock"),
        || assess(target, resources, trigger, opts, false),
    )
    .await;
    let (guard, now) = match acquired {
        Ok(taken) => taken,
        Err(LockError::Held { holder, .. }) => {
            tracing::warn!(holder = %holder, "the stack is locked by another run; nothing applied");
            event(
                EventKind::LockContention,
                Vec::new(),
                Some(format!("held by {holder}")),
            );
            return first.unwritten(
                &declared,
                format!("the stack is locked by another run ({holder}); nothing applied"),
            );
        }
        Err(err) => {
            tracing::error!(error = %err, "reconcile failed");
            return first.unwritten(&declared, format!("cannot take the stack lock: {err}"));
        }
    };
    let outcome = write_locked(target, now, &declared, trigger, opts, settled, &event).await;
    if guard.lost() {
        tracing::error!("another run took the stack lock over during this reconcile");
    }
    if let Err(e) = guard.release().await {
        tracing::warn!(error = %e, "cannot release the stack lock; it expires by itself");
    }
    outcome
}

/// Write what `now`, the assessment made under the lock, decided.
async fn write_locked(
    target: &Target,
    now: Result<Assessed, String>,
    declared: &[(ResourceId, String)],
    trigger: Trigger,
    opts: &Options,
    settled: ReconcileResult,
    event: &impl Fn(EventKind, Vec<String>, Option<String>),
) -> Outcome {
    let now = match now {
        Ok(a) => a,
        Err(error) => return not_read(declared, error),
    };
    match &now.decision {
        Decision::InSync | Decision::ReportDrift => return now.settle(settled, declared),
        Decision::Refuse(why) => {
            event(
                EventKind::GuardRefused,
                names(now.plan.writable()),
                Some(why.clone()),
            );
            return now.unwritten(declared, format!("apply refused: {why}"));
        }
        Decision::Apply => {}
    }
    let summary = crate::render::summary_line(&now.plan);
    let detect_only = now.plan.summary.detect_only;
    let report = match engine::write(
        target,
        &now.plan,
        now.ledger.as_ref(),
        &opts.dir,
        opts.parallelism,
    )
    .await
    {
        Ok(r) => r,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "apply failed");
            event(EventKind::ApplyFailed, names(now.plan.writable()), None);
            let error = status::redact(
                &format!("apply failed: {err:#}"),
                &sent_secrets(now.plan.writable()),
            );
            let failed: BTreeMap<ResourceId, String> =
                now.plan.writable().map(|o| (o.id(), error.clone())).collect();
            return Outcome {
                result: ReconcileResult::Error,
                drift: Some((now.plan.operations.len(), now.pending)),
                page: PageUpdate::new(
                    Some(now.states(declared, &Applied::Written { failed })),
                    summary,
                    Some(error),
                ),
            };
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
        // An apply failed: name the operations that failed (all of the plan's when none is).
        let named = if failing.is_empty() {
            names(now.plan.writable())
        } else {
            failing
        };
        event(EventKind::ApplyFailed, named, None);
        let secrets = sent_secrets(now.plan.writable());
        let mut failed: BTreeMap<ResourceId, String> = report
            .operations
            .iter()
            .filter_map(|o| {
                let error = status::redact(o.error.as_ref()?, &secrets);
                let kind = crate::plan::Kind::parse(&o.kind)?;
                Some((ResourceId::new(kind, o.name.clone()), error))
            })
            .collect();
        let mut lines: Vec<String> = failed.iter().map(|(id, e)| format!("{id}: {e}")).collect();
        lines.extend(report.errors.iter().map(|e| status::redact(e, &secrets)));
        if failed.is_empty() {
            let error = lines
                .first()
                .cloned()
                .unwrap_or_else(|| "the apply failed".into());
            failed = now.plan.writable().map(|o| (o.id(), error.clone())).collect();
        }
        return Outcome {
            result: ReconcileResult::Error,
            drift: Some((now.plan.operations.len(), now.pending)),
            page: PageUpdate::new(
                Some(now.states(declared, &Applied::Written { failed })),
                summary,
                Some(lines.join("\n")),
            ),
        };
    }
    if trigger == Trigger::Interval {
        event(EventKind::DriftCorrected, names(now.plan.writable()), None);
    }
    let applied = Applied::Written {
        failed: BTreeMap::new(),
    };
    Outcome {
        result: settled,
        // Everything due was written: nothing differs any more but the detect-only
        // differences and the pending deletions.
        drift: Some((detect_only, now.pending)),
        page: PageUpdate::new(Some(now.states(declared, &applied)), summary, None),
    }
}

/// The values of the secrets `ops` send (resolvable here), to redact from error texts: DSS
/// could quote a value it refused.
fn sent_secrets<'a>(ops: impl Iterator<Item = &'a Operation>) -> Vec<String> {
    ops.flat_map(|op| {
        let base = crate::apply::writes::base_dir(op);
        op.secrets
            .iter()
            .filter_map(move |s| crate::manifest::resolve_secret(&s.reference, &base).ok())
    })
    .collect()
}

/// The live state could not be read: every resource pending, the reconcile failed.
fn not_read(declared: &[(ResourceId, String)], error: String) -> Outcome {
    Outcome {
        result: ReconcileResult::Error,
        drift: None,
        page: PageUpdate::new(
            Some(status::pending(
                declared,
                "not compared: the live state could not be read",
            )),
            "the live state could not be read",
            Some(error),
        ),
    }
}

/// A plan and what to do with it.
struct Assessed {
    plan: Plan,
    ledger: Option<crate::plan::Ledger>,
    decision: Decision,
    drifted: usize,
    pending: usize,
    /// The resources no longer declared whose deletion waits for `--prune`.
    pending_ids: Vec<ResourceId>,
}

impl Assessed {
    fn drift(&self) -> (usize, usize) {
        (self.drifted, self.pending)
    }

    /// The resource states after this plan.
    fn states(&self, declared: &[(ResourceId, String)], applied: &Applied) -> Vec<ResourceStatus> {
        status::resource_states(declared, &self.plan, applied, &self.pending_ids)
    }

    /// The outcome of a reconcile that writes nothing.
    fn settle(&self, settled: ReconcileResult, declared: &[(ResourceId, String)]) -> Outcome {
        let page = PageUpdate::new(
            Some(self.states(declared, &Applied::Nothing)),
            crate::render::summary_line(&self.plan),
            None,
        );
        match self.decision {
            Decision::ReportDrift => {
                tracing::warn!(
                    drifted = self.drifted,
                    "drift found; not corrected (--no-self-heal)"
                );
                Outcome {
                    result: ReconcileResult::Success,
                    drift: Some(self.drift()),
                    page,
                }
            }
            _ => {
                if self.plan.summary.detect_only > 0 {
                    tracing::warn!(
                        detect_only = self.plan.summary.detect_only,
                        "drift of detect-only resources; not corrected (dssctl.io/sync: detect-only)"
                    );
                } else {
                    tracing::info!(unchanged = self.plan.summary.unchanged, "in sync");
                }
                Outcome {
                    result: settled,
                    drift: Some(self.drift()),
                    page,
                }
            }
        }
    }

    /// A reconcile that failed before writing (a refusal, the lock): nothing was written.
    fn unwritten(&self, declared: &[(ResourceId, String)], error: String) -> Outcome {
        Outcome {
            result: ReconcileResult::Error,
            drift: Some(self.drift()),
            page: PageUpdate::new(
                Some(self.states(declared, &Applied::Nothing)),
                crate::render::summary_line(&self.plan),
                Some(error),
            ),
        }
    }
}

/// Read the live state, plan and decide. `report` logs what the plan would change (once per
/// reconcile: not again for the plan made under the lock). `Err` says why the live state
/// could not be read.
async fn assess(
    target: &Target,
    resources: &[Declared],
    trigger: Trigger,
    opts: &Options,
    report: bool,
) -> Result<Assessed, String> {
    let planned = match engine::plan_on(target, resources, opts.parallelism).await {
        Ok(p) => p,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "reconcile failed");
            return Err(format!("{err:#}"));
        }
    };
    let engine::Planned {
        plan,
        observed,
        declared,
        ..
    } = planned;
    let pending_ids: Vec<ResourceId> = if opts.policy.prune {
        Vec::new()
    } else {
        plan.operations
            .iter()
            .filter(|o| o.action == Action::Delete)
            .map(Operation::id)
            .collect()
    };
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
        pending_ids,
    })
}
