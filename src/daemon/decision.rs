//! The daemon's policy, pure and separate from its scheduling (as kube-runtime separates a
//! reconciler and its error policy from the controller that runs them): [`decide`] says what
//! to do with a plan (apply it, report drift, or refuse), [`Schedule::after`] says when to
//! reconcile again (the interval with jitter, or an exponential back-off after failures).

use std::time::Duration;

use crate::apply::guards::GuardOptions;
use crate::engine::{self, GuardInput};
use crate::plan::{Action, Plan};

use super::http::ReconcileResult;

/// Why a reconcile runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// The first reconcile, or a change under the directory: the manifests are applied.
    Change,
    /// The periodic drift check: drift is corrected only with self-heal.
    Interval,
}

/// The daemon's options that shape a decision.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    /// Correct drift found on the interval (`--no-self-heal` turns it off).
    pub self_heal: bool,
    /// Apply deletions (`--prune`); otherwise they are only counted as pending.
    pub prune: bool,
    pub max_deletes: Option<usize>,
}

/// What to do with a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Nothing differs.
    InSync,
    /// Drift found on the interval without self-heal: reported, not corrected.
    ReportDrift,
    /// The plan has errors, or a guard refuses it: nothing is applied, the reconcile failed.
    Refuse(String),
    /// Write the plan.
    Apply,
}

/// Decide what to do with `plan` (its deletions already taken out without `prune`, see
/// [`without_deletes`]).
pub(crate) fn decide(plan: &Plan, trigger: Trigger, policy: Policy, guard: GuardInput<'_>) -> Decision {
    if !plan.errors.is_empty() {
        return Decision::Refuse(format!("the plan has {} error(s)", plan.errors.len()));
    }
    if !plan.has_changes() {
        return Decision::InSync;
    }
    if trigger == Trigger::Interval && !policy.self_heal {
        return Decision::ReportDrift;
    }
    let opts = GuardOptions {
        max_deletes: policy.max_deletes,
        allow_deletes: None,
    };
    match engine::guard(plan, guard, opts) {
        Ok(()) => Decision::Apply,
        Err(refusal) => Decision::Refuse(refusal.to_string()),
    }
}

/// Without `prune`, the plan's deletions are taken out (and counted): they are only
/// reported. Deletions depend on nothing the remaining operations need, so the rest of the
/// plan stays executable.
pub(crate) fn without_deletes(mut plan: Plan, prune: bool) -> (Plan, usize) {
    if prune {
        return (plan, 0);
    }
    let before = plan.operations.len();
    plan.operations.retain(|o| o.action != Action::Delete);
    let pending = before - plan.operations.len();
    plan.recount();
    (plan, pending)
}

/// The state the scheduling carries from one reconcile to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Schedule {
    /// Consecutive failed reconciles.
    pub failures: u32,
    /// A change not yet applied successfully: the retry after a failure applies too.
    pub change_pending: bool,
}

impl Default for Schedule {
    /// At start the manifests are applied.
    fn default() -> Self {
        Schedule {
            failures: 0,
            change_pending: true,
        }
    }
}

impl Schedule {
    /// The trigger of the next reconcile, unless a change arrives first.
    pub(crate) fn trigger(self) -> Trigger {
        if self.change_pending {
            Trigger::Change
        } else {
            Trigger::Interval
        }
    }

    /// After a reconcile that ended with `result`: the new state and the wait before the
    /// next reconcile. An error backs off; success, or an invalid edit (which waits for the
    /// next edit, the interval still checking drift against the last good manifests), waits
    /// the interval with jitter (`unit` in `[0, 1)` picks the point in the range).
    pub(crate) fn after(
        self,
        result: ReconcileResult,
        interval: Duration,
        unit: f64,
    ) -> (Schedule, Duration) {
        if result == ReconcileResult::Error {
            let failures = self.failures.saturating_add(1);
            let next = Schedule { failures, ..self };
            (next, backoff(failures, interval))
        } else {
            let next = Schedule {
                failures: 0,
                change_pending: false,
            };
            (next, jittered(interval, unit))
        }
    }
}

/// The interval with ±10% jitter; `unit` in `[0, 1)` picks the point in the range.
pub(crate) fn jittered(interval: Duration, unit: f64) -> Duration {
    interval.mul_f64(0.9 + 0.2 * unit.clamp(0.0, 1.0))
}

/// The wait after `failures` consecutive failed reconciles: 1 s doubling, capped at the
/// interval.
pub(crate) fn backoff(failures: u32, interval: Duration) -> Duration {
    let exp = failures.saturating_sub(1).min(20);
    Duration::from_secs(1u64 << exp).min(interval)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::fixtures::operation;
    use crate::plan::{Ledger, Summary};

    fn plan(ops: &[(Action, &str)]) -> Plan {
        let mut plan = Plan {
            format_version: crate::plan::FORMAT_VERSION,
            target: "t".into(),
            stack: "s".into(),
            summary: Summary::default(),
            operations: ops
                .iter()
                .map(|(action, name)| operation(crate::kinds::group::ID, name, *action))
                .collect(),
            protected: vec![],
            forget: vec![],
            errors: vec![],
            builds: vec![],
            origins: Default::default(),
            unchecked: vec![],
            scope: None,
            released: vec![],
        };
        plan.recount();
        plan
    }

    const HEAL: Policy = Policy {
        self_heal: true,
        prune: true,
        max_deletes: None,
    };

    fn input(declared: usize) -> GuardInput<'static> {
        GuardInput {
            declared: Some(declared),
            ledger: None,
        }
    }

    #[test]
    fn a_plan_is_applied_reported_or_refused() {
        let empty = plan(&[]);
        assert_eq!(decide(&empty, Trigger::Change, HEAL, input(1)), Decision::InSync);
        let create = plan(&[(Action::Create, "g")]);
        assert_eq!(decide(&create, Trigger::Change, HEAL, input(1)), Decision::Apply);
        assert_eq!(
            decide(&create, Trigger::Interval, HEAL, input(1)),
            Decision::Apply
        );
        let no_heal = Policy {
            self_heal: false,
            ..HEAL
        };
        assert_eq!(
            decide(&create, Trigger::Interval, no_heal, input(1)),
            Decision::ReportDrift
        );
        // A change is applied even without self-heal: self-heal is about drift only.
        assert_eq!(
            decide(&create, Trigger::Change, no_heal, input(1)),
            Decision::Apply
        );
        let mut broken = create.clone();
        broken.errors.push(crate::plan::PlanError {
            kind: crate::kinds::group::ID,
            name: "g".into(),
            origin: None,
            message: "secret X is not set".into(),
            hint: None,
        });
        assert!(matches!(
            decide(&broken, Trigger::Change, HEAL, input(1)),
            Decision::Refuse(why) if why.contains("1 error")
        ));
    }

    #[test]
    fn the_guards_still_hold() {
        let strict = Policy {
            max_deletes: Some(0),
            ..HEAL
        };
        let delete = plan(&[(Action::Delete, "g")]);
        assert!(matches!(
            decide(&delete, Trigger::Change, strict, input(1)),
            Decision::Refuse(why) if why.contains("more than the limit of 0")
        ));
        let entry = crate::plan::LedgerEntry {
            kind: crate::kinds::group::ID,
            name: "g".into(),
            applied_at: String::new(),
            git_commit: None,
            protect: false,
            drop_data_on_delete: false,
            secrets: Default::default(),
            keep_on_removal: false,
            dss_id: None,
        };
        let mut ledger = Ledger::default();
        ledger.resources.insert("group:g".into(), entry);
        let emptied = GuardInput {
            declared: Some(0),
            ledger: Some(&ledger),
        };
        assert!(matches!(
            decide(&delete, Trigger::Change, HEAL, emptied),
            Decision::Refuse(why) if why.contains("declare no resource")
        ));
    }

    #[test]
    fn deletions_wait_for_prune() {
        let p = plan(&[
            (Action::Delete, "a"),
            (Action::Create, "b"),
            (Action::Delete, "c"),
        ]);
        let (kept, pending) = without_deletes(p.clone(), false);
        assert_eq!(pending, 2);
        assert_eq!(kept.operations.len(), 1);
        assert_eq!(kept.summary.delete, 0);
        let (all, pending) = without_deletes(p, true);
        assert_eq!((all.operations.len(), pending), (3, 0));
    }

    #[test]
    fn failures_back_off_and_success_resets() {
        let interval = Duration::from_secs(60);
        let start = Schedule::default();
        assert_eq!(start.trigger(), Trigger::Change);
        let (s, wait) = start.after(ReconcileResult::Error, interval, 0.5);
        assert_eq!(
            (s.failures, s.change_pending, wait),
            (1, true, Duration::from_secs(1))
        );
        assert_eq!(s.trigger(), Trigger::Change, "the retry applies the change too");
        let (s, wait) = s.after(ReconcileResult::Error, interval, 0.5);
        assert_eq!((s.failures, wait), (2, Duration::from_secs(2)));
        let (s, wait) = s.after(ReconcileResult::Success, interval, 0.5);
        assert_eq!((s.failures, s.change_pending, wait), (0, false, interval));
        assert_eq!(s.trigger(), Trigger::Interval);
        let (s, _) = start.after(ReconcileResult::Invalid, interval, 0.0);
        assert_eq!(
            s,
            Schedule {
                failures: 0,
                change_pending: false
            }
        );
    }

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
