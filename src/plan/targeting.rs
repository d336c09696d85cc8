//! Partial plans: which declared resources and ledger entries a plan covers under `--target`
//! and `--exclude`, as Terraform's `-target` and OpenTofu's `-exclude` do.
//!
//! - A target (`Dataset/SALES.orders`, `Project/CHURN`; the kind as written in manifests, in
//!   any case) brings in what it depends on, transitively, through the references the loader
//!   records for each declared resource (a dataset's project and connection, a project's owner
//!   and groups, ...). A target that is only in the ledger (no longer declared) is in scope
//!   alone: planning it means deleting it.
//! - An exclude removes what it names and, as OpenTofu does, every in-scope resource that
//!   depends on it (a kept resource could otherwise refer to something this plan does not
//!   check).
//! - A name that is neither declared nor in the ledger is an error, with the closest name.
//!
//! Pure: the engine filters the declared resources with [`Selection::keep_declared`] before
//! observing, and the plan with [`Selection::restrict`] after planning, so that nothing out
//! of scope is compared, deleted, forgotten or counted by the guards.

use std::collections::{BTreeMap, BTreeSet};

use super::kind::PlanDef;
use super::kind::REGISTRY;
use crate::manifest::Declared;

use super::model::{Plan, PlanScope, ResourceId};
use super::planner::declared_id;

/// One `KIND/NAME` of the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Selector {
    pub id: ResourceId,
    /// As given, for the plan's `scope` and messages.
    pub written: String,
}

/// Parse `KIND/NAME`: the kind as written in manifests (`Dataset`), in any case.
pub(crate) fn parse_selector(text: &str) -> Result<Selector, String> {
    let (kind, name) = text
        .split_once('/')
        .filter(|(k, n)| !k.is_empty() && !n.is_empty())
        .ok_or_else(|| {
            format!("{text:?} is not KIND/NAME (for example Dataset/SALES.orders or Project/CHURN)")
        })?;
    let found = REGISTRY
        .iter()
        .filter(|k| k.is_resource())
        .find(|k| k.name().eq_ignore_ascii_case(kind) || k.id().as_str().eq_ignore_ascii_case(kind));
    let Some(def) = found else {
        let names: Vec<&str> = REGISTRY
            .iter()
            .filter(|k| k.is_resource())
            .map(|k| k.name())
            .collect();
        return Err(format!(
            "{text:?}: unknown kind {kind:?} (one of {})",
            names.join(", ")
        ));
    };
    Ok(Selector {
        id: ResourceId::new(def.id(), name),
        written: format!("{}/{name}", def.name()),
    })
}

/// Which resources a partial plan covers.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selection {
    scope: PlanScope,
    /// `None`: every resource not excluded (no `--target`).
    targeted: Option<BTreeSet<ResourceId>>,
    excluded: BTreeSet<ResourceId>,
}

/// The identity a reference names.
fn referenced_id(r: &crate::manifest::Reference) -> ResourceId {
    match &r.project {
        Some(project) if r.kind.def().is_some_and(|k| k.in_project()) => {
            ResourceId::in_project(r.kind, project, &r.name)
        }
        _ => ResourceId::new(r.kind, r.name.clone()),
    }
}

impl Selection {
    /// Resolve the selectors against the declared resources and the ledger's entries.
    pub(crate) fn new(
        targets: &[Selector],
        excludes: &[Selector],
        desired: &[Declared],
        ledger: &[ResourceId],
    ) -> Result<Selection, String> {
        let declared: BTreeMap<ResourceId, &Declared> = desired
            .iter()
            .filter_map(|d| declared_id(&d.resource).map(|id| (id, d)))
            .collect();
        let known: BTreeSet<&ResourceId> = declared.keys().chain(ledger.iter()).collect();
        for s in targets.iter().chain(excludes) {
            if !known.contains(&s.id) {
                let names: Vec<String> = known
                    .iter()
                    .map(|id| format!("{}/{}", id.kind.title(), id.name))
                    .collect();
                let hint =
                    crate::manifest::schema::did_you_mean(&s.written, names.iter().map(String::as_str))
                        .map(|m| format!("; did you mean {m}?"))
                        .unwrap_or_default();
                return Err(format!(
                    "{} is neither declared in the manifests nor managed by this stack{hint}",
                    s.written
                ));
            }
        }
        // A dataset (any kind in a project) depends on its project by its very name, declared
        // or only in the ledger.
        let depends_on = |id: &ResourceId| -> Vec<ResourceId> {
            let mut deps: Vec<ResourceId> = declared
                .get(id)
                .map(|d| d.references.iter().map(referenced_id).collect())
                .unwrap_or_default();
            deps.extend(id.container());
            deps
        };
        let targeted = (!targets.is_empty()).then(|| {
            let mut set = BTreeSet::new();
            let mut todo: Vec<ResourceId> = targets.iter().map(|s| s.id.clone()).collect();
            while let Some(id) = todo.pop() {
                if set.insert(id.clone()) {
                    // Only declared dependencies: a name that exists only live is not planned.
                    todo.extend(depends_on(&id).into_iter().filter(|d| declared.contains_key(d)));
                }
            }
            set
        });
        // Excluded: what is named, then whatever depends on it, until nothing changes.
        let mut excluded: BTreeSet<ResourceId> = excludes.iter().map(|s| s.id.clone()).collect();
        loop {
            let more: Vec<ResourceId> = known
                .iter()
                .copied()
                .filter(|id| !excluded.contains(*id))
                .filter(|id| depends_on(id).iter().any(|d| excluded.contains(d)))
                .cloned()
                .collect();
            if more.is_empty() {
                break;
            }
            excluded.extend(more);
        }
        Ok(Selection {
            scope: PlanScope {
                targets: targets.iter().map(|s| s.written.clone()).collect(),
                excludes: excludes.iter().map(|s| s.written.clone()).collect(),
                ledger_entries: None,
            },
            targeted,
            excluded,
        })
    }

    /// Whether this is a whole plan.
    pub(crate) fn is_everything(&self) -> bool {
        self.scope.is_full()
    }

    /// Whether `id` is in scope.
    pub(crate) fn contains(&self, id: &ResourceId) -> bool {
        !self.excluded.contains(id) && self.targeted.as_ref().is_none_or(|t| t.contains(id))
    }

    /// What was excluded besides what `--exclude` names (the resources that depend on it).
    pub(crate) fn excluded_dependents(&self) -> Vec<ResourceId> {
        let named: BTreeSet<&str> = self.scope.excludes.iter().map(String::as_str).collect();
        self.excluded
            .iter()
            .filter(|id| !named.contains(format!("{}/{}", id.kind.title(), id.name).as_str()))
            .cloned()
            .collect()
    }

    /// The declared resources in scope; a `Build` is kept when everything it refers to is.
    pub(crate) fn keep_declared(&self, desired: &[Declared]) -> Vec<Declared> {
        desired
            .iter()
            .filter(|d| match declared_id(&d.resource) {
                Some(id) => self.contains(&id),
                None => {
                    self.is_everything()
                        || (!d.references.is_empty()
                            && d.references.iter().all(|r| self.contains(&referenced_id(r))))
                }
            })
            .cloned()
            .collect()
    }

    /// Keep only what is in scope: operations, protected skips, entries to forget, errors and
    /// unchecked secrets of resources out of scope are dropped (an out-of-scope ledger entry
    /// is never deleted), and the plan records its scope.
    pub(crate) fn restrict(&self, plan: &mut Plan, ledger: &[ResourceId]) {
        if self.is_everything() {
            return;
        }
        plan.operations.retain(|o| self.contains(&o.id()));
        plan.protected
            .retain(|p| self.contains(&ResourceId::new(p.kind, p.name.clone())));
        plan.forget.retain(|id| self.contains(id));
        plan.released.retain(|id| self.contains(id));
        plan.errors
            .retain(|e| self.contains(&ResourceId::new(e.kind, e.name.clone())));
        plan.unchecked
            .retain(|u| self.contains(&ResourceId::new(u.kind, u.name.clone())));
        plan.recount();
        plan.scope = Some(PlanScope {
            ledger_entries: Some(ledger.iter().filter(|id| self.contains(id)).count()),
            ..self.scope.clone()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::fixtures::sample;

    fn sel(t: &str) -> Selector {
        parse_selector(t).unwrap()
    }

    #[test]
    fn selectors_take_the_manifest_kind_in_any_case() {
        let s = sel("dataset/SALES.orders");
        assert_eq!(
            s.id,
            ResourceId::in_project(crate::kinds::dataset::ID, "SALES", "orders")
        );
        assert_eq!(s.written, "Dataset/SALES.orders");
        assert_eq!(sel("PROJECT/CHURN").written, "Project/CHURN");
        assert!(parse_selector("CHURN").unwrap_err().contains("KIND/NAME"));
        assert!(parse_selector("Datsets/x").unwrap_err().contains("unknown kind"));
        assert!(parse_selector("Build/x").is_err(), "a build is not a resource");
    }

    #[test]
    fn a_target_brings_what_it_depends_on_and_an_exclude_what_depends_on_it() {
        let desired = sample();
        let ids: Vec<ResourceId> = desired.iter().filter_map(|d| declared_id(&d.resource)).collect();
        let dataset = ids
            .iter()
            .find(|id| id.kind == crate::kinds::dataset::ID)
            .unwrap()
            .clone();
        let (project, _) = dataset.project_parts().unwrap();
        let project = ResourceId::new(crate::kinds::project::ID, project);
        let written = format!("Dataset/{}", dataset.name);
        let s = Selection::new(&[sel(&written)], &[], &desired, &[]).unwrap();
        assert!(s.contains(&dataset) && s.contains(&project));
        let kept = s.keep_declared(&desired);
        assert!(kept.len() >= 2 && kept.len() < desired.len(), "{}", kept.len());

        let s = Selection::new(&[], &[sel(&format!("Project/{}", project.name))], &desired, &[]).unwrap();
        assert!(
            !s.contains(&project) && !s.contains(&dataset),
            "its dataset goes with it"
        );
        assert!(s.excluded_dependents().contains(&dataset));
    }

    #[test]
    fn an_unknown_name_is_an_error_with_the_closest_one() {
        let desired = sample();
        let ledger = vec![ResourceId::new(crate::kinds::group::ID, "retired")];
        let err = Selection::new(&[sel("Group/retird")], &[], &desired, &ledger).unwrap_err();
        assert!(err.contains("did you mean Group/retired?"), "{err}");
        // In the ledger only: in scope, alone.
        let s = Selection::new(&[sel("Group/retired")], &[], &desired, &ledger).unwrap();
        assert!(s.contains(&ledger[0]));
        assert_eq!(s.keep_declared(&desired).len(), 0);
    }
}
