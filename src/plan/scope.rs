//! What to read: from the declared resources and the stack's ledger, the smallest set of
//! requests that gives the planner every live value it compares. Pure; `crate::observe`
//! performs it.
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

use std::collections::{BTreeMap, BTreeSet};

use crate::manifest::Declared;

use super::ledger::Ledger;
use super::model::{Kind, ResourceId};

/// The reads for one managed project.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectReads {
    /// `custom` is managed: the project list never carries it.
    pub metadata: bool,
    /// `description` is managed: read the metadata if the list item lacks it.
    pub description: bool,
    pub permissions: bool,
    pub variables: bool,
    pub datasets: bool,
    /// Declared datasets whose managed `label` may be missing from the dataset list (read
    /// only if the list item has no label).
    pub dataset_labels: BTreeSet<String>,
}

/// What a kind's [`crate::kinds::Kind::add_reads`] adds to: the reads, and what the manifests
/// declare (a name they declare needs no live check).
pub struct Needs<'a> {
    pub reads: &'a mut ReadPlan,
    pub declared: &'a BTreeSet<ResourceId>,
}

impl Needs<'_> {
    /// `name`, of kind `kind`, is referred to: read its live list unless it is declared.
    pub fn referenced(&mut self, kind: Kind, name: &str) {
        if self.declared.contains(&ResourceId::new(kind, name)) {
            return;
        }
        if let Some(def) = kind.def() {
            def.need_referenced(name, self.reads);
        }
    }
}

/// The reads of one plan, after the global variables (which hold the ledger).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadPlan {
    pub projects_list: bool,
    /// Managed projects (declared, holding declared datasets, or in the ledger).
    pub projects: BTreeMap<String, ProjectReads>,
    pub connections: bool,
    pub users: bool,
    pub groups: bool,
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
            d.resource.kind_def().add_reads(
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

    /// The number of requests of a plan (the formula of the module documentation), given
    /// which managed projects exist and how many metadata GETs the lists left necessary.
    pub fn budget(&self, live_projects: &BTreeSet<String>, conditional_reads: usize) -> usize {
        let lists = usize::from(self.projects_list)
            + usize::from(self.connections)
            + usize::from(self.users)
            + usize::from(self.groups);
        let per_project: usize = self
            .projects
            .iter()
            .filter(|(k, _)| live_projects.contains(*k))
            .map(|(_, p)| {
                usize::from(p.datasets)
                    + usize::from(p.metadata)
                    + usize::from(p.permissions)
                    + usize::from(p.variables)
            })
            .sum();
        1 + lists + per_project + conditional_reads
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::fixtures::{declared, sample};
    use crate::plan::simulate::entry_for;
    use serde_json::json;

    #[test]
    fn reads_only_what_is_managed_or_referenced() {
        let r = ReadPlan::new(&sample(), None);
        assert!(r.projects_list && r.connections && r.users && r.groups);
        let churn = &r.projects["CHURN"];
        assert!(churn.metadata && churn.permissions && churn.variables && churn.datasets);
        assert_eq!(churn.dataset_labels.iter().collect::<Vec<_>>(), vec!["customers"]);
        let live: BTreeSet<String> = ["CHURN".to_string()].into();
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
        assert!(r.projects_list && r.connections && !r.users && !r.groups);
        let p = &r.projects["P"];
        assert!(p.datasets && !p.metadata && !p.permissions && !p.variables);
        assert!(p.dataset_labels.is_empty());
    }

    #[test]
    fn the_ledger_adds_what_it_may_delete() {
        let mut ledger = Ledger::new();
        ledger.insert(entry_for(crate::kinds::dataset::ID, "OLD.d"));
        ledger.insert(entry_for(crate::kinds::user::ID, "bob"));
        let r = ReadPlan::new(&[], Some(&ledger));
        assert!(r.projects_list && r.users && !r.groups && !r.connections);
        assert!(r.projects["OLD"].datasets);
        assert!(!ReadPlan::new(&[], None).projects_list);
        assert_eq!(ReadPlan::new(&[], None).budget(&BTreeSet::new(), 0), 1);
    }
}
