//! What to read: from the declared resources and the stack's ledger, the smallest set of
//! requests that gives the planner every live value it compares. Pure; each kind performs its
//! own part (`Kind::observe`) and `crate::observe` runs them.
//!
//! List endpoints are used wherever the list carries the data: the project list (label as
//! `name`, `shortDesc`, `tags`, `ownerLogin`), a project's dataset list (full definitions with
//! schema, tags, descriptions and custom metadata), the user, group and connection lists. One
//! GET per sub-document is made only where the list lacks the data and only for what the
//! manifests manage, and nothing at all for a project that does not exist.
//!
//! Request budget (see [`ReadPlan::budget`]), with `[x]` = 1 when x else 0, over the managed
//! projects `p` that exist on the instance:
//!
//! ```text
//! requests = 1                                   GET /admin/variables/ (the ledger)
//!          + [any project or dataset]            GET /projects/
//!          + [connections] + [users] + [groups]  one list each, when managed or referenced
//!          + Σp ( [p has managed datasets]       GET /projects/{p}/datasets/
//!               + [p manages custom, or description while the list lacks it]
//!                                                GET /projects/{p}/metadata
//!               + [p manages permissions]        GET /projects/{p}/permissions
//!               + [p manages variables]          GET /projects/{p}/variables/
//!               + #(live datasets of p whose label is managed and missing from the list)
//!                                                GET /projects/{p}/datasets/{d}/metadata )
//! ```
//!
//! The two "missing from the list" terms depend on what the instance answers (the emulator's
//! lists carry descriptions and labels, so they are 0 there); they are counted by
//! `crate::observe` and passed to [`ReadPlan::budget`] as `conditional_reads`.
//!
//! Everything after the first request runs concurrently, up to `--parallelism`.

use std::collections::BTreeSet;

use super::kind::PlanDef;
use crate::manifest::Declared;

use super::ledger::Ledger;
use super::model::{Kind, ResourceId};
use super::observed::KindMap;

/// What a kind's [`crate::plan::kind::KindPlan::add_reads`] adds to: the reads, and what the manifests
/// declare (a name they declare needs no live check).
pub struct Needs<'a> {
    pub reads: &'a mut ReadPlan,
    pub declared: &'a BTreeSet<ResourceId>,
}

impl Needs<'_> {
    /// `name`, of kind `kind`, is referred to: read its live list unless it is declared.
    pub(crate) fn referenced(&mut self, kind: Kind, name: &str) {
        if self.declared.contains(&ResourceId::new(kind, name)) {
            return;
        }
        if let Some(def) = kind.def() {
            def.need_referenced(name, self.reads);
        }
    }
}

/// The reads of one plan, after the global variables (which hold the ledger): one typed part
/// per kind, which the kind fills ([`crate::plan::kind::KindPlan::add_reads`]), performs
/// ([`crate::observe::KindObserve::observe`]) and counts ([`crate::plan::kind::KindPlan::read_budget`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadPlan {
    pub kinds: KindMap,
}

impl ReadPlan {
    /// The reads `desired` and `ledger` require.
    pub fn new(desired: &[Declared], ledger: Option<&Ledger>) -> Self {
        let mut r = ReadPlan::default();
        let declared: BTreeSet<ResourceId> = desired
            .iter()
            .filter_map(|d| super::planner::declared_id(&d.resource))
            .collect();
        for d in desired {
            super::kind::of(&d.resource).add_reads(
                &d.resource,
                &mut Needs {
                    reads: &mut r,
                    declared: &declared,
                },
            );
        }
        for id in ledger.into_iter().flat_map(Ledger::ids) {
            if let Some(kind) = id.kind.def() {
                kind.need_live(&id.name, &mut r);
            }
        }
        r
    }

    /// Read `kind`'s list (a kind whose reads are that one list).
    pub(crate) fn mark(&mut self, kind: Kind) {
        self.kinds.insert(kind, ());
    }

    /// Whether `kind`'s list is read.
    pub(crate) fn marked(&self, kind: Kind) -> bool {
        self.kinds.contains(kind)
    }

    /// The number of requests of a plan (the formula of the module documentation), given
    /// which managed resources exist (those whose sub-documents are read only when they do:
    /// the projects) and how many metadata GETs the lists left necessary.
    pub fn budget(&self, live: &BTreeSet<ResourceId>, conditional_reads: usize) -> usize {
        let by_kinds: usize = super::kind::REGISTRY
            .iter()
            .map(|k| k.read_budget(self, live))
            .sum();
        1 + by_kinds + conditional_reads
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::simulate::entry_for;
    use crate::kinds::{connection, group, project, user};
    use crate::plan::fixtures::{declared, sample};
    use serde_json::json;

    #[test]
    fn reads_only_what_is_managed_or_referenced() {
        let r = ReadPlan::new(&sample(), None);
        assert!(r.marked(connection::ID) && r.marked(user::ID) && r.marked(group::ID));
        let churn = &project::reads(&r).unwrap()["CHURN"];
        assert!(churn.metadata && churn.permissions && churn.variables && churn.datasets);
        assert_eq!(churn.dataset_labels.iter().collect::<Vec<_>>(), vec!["customers"]);
        let live: BTreeSet<ResourceId> = [ResourceId::new(project::ID, "CHURN")].into();
        assert!(churn.description);
        assert_eq!(r.budget(&live, 0), 1 + 4 + 4);
        assert_eq!(r.budget(&live, 2), 1 + 4 + 4 + 2);
        // Nothing at all for a project that does not exist.
        assert_eq!(r.budget(&BTreeSet::new(), 0), 1 + 4);
    }

    #[test]
    fn a_lone_dataset_reads_its_project_list_and_referenced_connection() {
        let desired = vec![declared(
            "Dataset",
            json!({"name": "d", "project": "P"}),
            json!({"type": "Filesystem", "params": {"connection": "fs"}, "tags": ["a"]}),
            1,
        )];
        let r = ReadPlan::new(&desired, None);
        assert!(r.marked(connection::ID) && !r.marked(user::ID) && !r.marked(group::ID));
        let p = &project::reads(&r).unwrap()["P"];
        assert!(p.datasets && !p.metadata && !p.permissions && !p.variables);
        assert!(p.dataset_labels.is_empty());
    }

    #[test]
    fn the_ledger_adds_what_it_may_delete() {
        let mut ledger = Ledger::new();
        ledger.insert(entry_for(crate::kinds::dataset::ID, "OLD.d"));
        ledger.insert(entry_for(crate::kinds::user::ID, "bob"));
        let r = ReadPlan::new(&[], Some(&ledger));
        assert!(r.marked(user::ID) && !r.marked(group::ID) && !r.marked(connection::ID));
        assert!(project::reads(&r).unwrap()["OLD"].datasets);
        assert!(project::reads(&ReadPlan::new(&[], None)).is_none());
        assert_eq!(ReadPlan::new(&[], None).budget(&BTreeSet::new(), 0), 1);
    }
}
