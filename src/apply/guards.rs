//! Safety guards, checked before anything is written; each refusal
//! exits 3 and writes nothing:
//! - empty manifests (no resource declared) while the stack's ledger is not empty: almost
//!   always a wrong path or an emptied directory, and it would delete the whole stack;
//! - more deletions than `--max-deletes` (default: the larger of [`MIN_MAX_DELETES`] and
//!   10% of the resources in the ledger), unless `--allow-deletes N` names exactly that
//!   number of deletions;
//! - a protected resource the manifests no longer declare: it is never deleted, and apply
//!   stops so that the removal is noticed (declare it again, or apply `protect: false` first
//!   and then remove it).

use crate::plan::{Action, Plan};

/// The smallest default of `--max-deletes`.
pub(crate) const MIN_MAX_DELETES: usize = 10;

/// The guard options of the command line.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct GuardOptions {
    pub max_deletes: Option<usize>,
    pub allow_deletes: Option<usize>,
}

/// The default `--max-deletes` for a ledger of `ledger_size` resources.
pub(crate) fn default_max_deletes(ledger_size: usize) -> usize {
    MIN_MAX_DELETES.max(ledger_size.div_ceil(10))
}

/// A guard's refusal: what was refused and how to proceed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The manifests declare nothing while the stack's ledger lists resources.
    #[error(
        "refusing to apply: the manifests declare no resource but the ledger of stack {stack:?} lists {ledger_size}; \
         this would delete all of them. Check the paths given to apply."
    )]
    EmptyManifests { stack: String, ledger_size: usize },
    /// Protected resources are no longer declared (`kind name` each).
    #[error(
        "refusing to apply: protected resources are no longer declared and are never deleted: {}. \
         Declare them again, or apply them with `protect: false` before removing them.",
        .names.join(", ")
    )]
    Protected { names: Vec<String> },
    /// More deletions than the limit, without the matching `--allow-deletes`.
    #[error(
        "refusing to apply: the plan deletes {deletes} resources, more than the limit of {max}{}. \
         Review the plan, then rerun with --allow-deletes {deletes}.",
        match .allow_deletes {
            Some(n) => format!(" (--allow-deletes {n} does not match)"),
            None => String::new(),
        }
    )]
    TooManyDeletes {
        deletes: usize,
        max: usize,
        allow_deletes: Option<usize>,
    },
}

/// Check every guard.
pub(crate) fn check(
    plan: &Plan,
    declared: Option<usize>,
    ledger_size: usize,
    opts: GuardOptions,
) -> Result<(), Refusal> {
    if declared == Some(0) && ledger_size > 0 {
        return Err(Refusal::EmptyManifests {
            stack: plan.stack.clone(),
            ledger_size,
        });
    }
    if !plan.protected.is_empty() {
        let names = plan
            .protected
            .iter()
            .map(|p| format!("{} {}", p.kind, p.name))
            .collect();
        return Err(Refusal::Protected { names });
    }
    let deletes = plan
        .operations
        .iter()
        .filter(|o| o.action == Action::Delete)
        .count();
    let max = opts
        .max_deletes
        .unwrap_or_else(|| default_max_deletes(ledger_size));
    if deletes > max && opts.allow_deletes != Some(deletes) {
        return Err(Refusal::TooManyDeletes {
            deletes,
            max,
            allow_deletes: opts.allow_deletes,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Operation, ProtectedSkip, Summary};

    fn plan(deletes: usize) -> Plan {
        Plan {
            format_version: 1,
            target: "t".into(),
            stack: "s".into(),
            summary: Summary::default(),
            operations: (0..deletes)
                .map(|i| Operation {
                    kind: crate::kinds::group::ID,
                    name: format!("g{i}"),
                    action: Action::Delete,
                    subdocuments: vec![],
                    changes: vec![],
                    writes: vec![],
                    secrets: vec![],
                    ledger: None,
                    drop_data: false,
                    origin: None,
                    fingerprint: None,
                    policy: Default::default(),
                })
                .collect(),
            protected: vec![],
            forget: vec![],
            errors: vec![],
            builds: vec![],
            origins: Default::default(),
            unchecked: vec![],
            scope: None,
            released: vec![],
        }
    }

    #[test]
    fn the_default_limit_is_ten_or_a_tenth() {
        assert_eq!(default_max_deletes(0), 10);
        assert_eq!(default_max_deletes(100), 10);
        assert_eq!(default_max_deletes(101), 11);
        assert_eq!(default_max_deletes(1000), 100);
    }

    #[test]
    fn deletions_beyond_the_limit_need_the_exact_count() {
        let none = GuardOptions::default();
        assert!(check(&plan(10), Some(1), 20, none).is_ok());
        let err = check(&plan(11), Some(1), 20, none).unwrap_err().to_string();
        assert!(
            err.contains("deletes 11") && err.contains("--allow-deletes 11"),
            "{err}"
        );
        let exact = GuardOptions {
            max_deletes: None,
            allow_deletes: Some(11),
        };
        assert!(check(&plan(11), Some(1), 20, exact).is_ok());
        let wrong = GuardOptions {
            max_deletes: None,
            allow_deletes: Some(12),
        };
        assert!(
            check(&plan(11), Some(1), 20, wrong)
                .unwrap_err()
                .to_string()
                .contains("does not match")
        );
        let strict = GuardOptions {
            max_deletes: Some(0),
            allow_deletes: None,
        };
        assert!(check(&plan(1), Some(1), 20, strict).is_err());
        assert!(check(&plan(0), Some(1), 20, strict).is_ok());
    }

    #[test]
    fn empty_manifests_and_protected_removals_are_refused() {
        let none = GuardOptions::default();
        assert!(
            check(&plan(0), Some(0), 3, none)
                .unwrap_err()
                .to_string()
                .contains("declare no resource")
        );
        assert!(check(&plan(0), Some(0), 0, none).is_ok());
        assert!(check(&plan(0), None, 3, none).is_ok());
        let mut p = plan(0);
        p.protected.push(ProtectedSkip {
            kind: crate::kinds::project::ID,
            name: "CHURN".into(),
        });
        assert!(
            check(&p, Some(1), 3, none)
                .unwrap_err()
                .to_string()
                .contains("project CHURN")
        );
    }
}
