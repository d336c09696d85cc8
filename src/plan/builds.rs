//! Which `Build` manifests an apply starts: the plan decides it from its operations, so that
//! `plan` can list the builds apply would trigger and a saved plan carries them to
//! `apply --plan`. (Here rather than under `crate::build`, which runs jobs: the plan depends on
//! nothing that does I/O.)
//!
//! - `onChange` (the default): the plan creates, updates or adopts with writes the build's
//!   project or one of its datasets;
//! - `always`: every apply, changes or not;
//! - `manual`: never by apply, only by `dssctl build`.
//!
//! Builds are not resources: they are not counted as operations and never reach the ledger.

use serde::{Deserialize, Serialize};
use std::borrow::Borrow;

use super::kind::PlanDef;
use crate::manifest::Declared;
use crate::manifest::specs::BuildSpec;
pub(crate) use crate::manifest::specs::Trigger;
use crate::plan::{Action, Operation};

/// A build the apply of a plan starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedBuild {
    /// The Build manifest's name.
    pub name: String,
    /// Its project key.
    pub project: String,
    pub trigger: Trigger,
    /// Why it runs: the first change of its project (`onChange`), or `always`.
    pub reason: String,
    /// Where the manifest is declared (`file:line:column`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The manifest's spec, so that a saved plan can run it as declared.
    pub spec: BuildSpec,
}

impl PlannedBuild {
    /// `build NAME (PROJECT: out1, out2)`, for plans and reports.
    pub(crate) fn describe(&self) -> String {
        if let Some(id) = &self.spec.scenario {
            return format!("build {} ({}: scenario {id})", self.name, self.project);
        }
        let outputs: Vec<&str> = self.spec.outputs.iter().map(|o| o.id.as_str()).collect();
        format!("build {} ({}: {})", self.name, self.project, outputs.join(", "))
    }
}

/// Whether `op` changes project `project` in a way that triggers its `onChange` builds: a
/// creation, an update, or an adoption that writes something, of the project or of an object
/// it contains (a dataset, a recipe, a scenario). Deletions do not trigger (there may be
/// nothing left to build).
fn changes_project(op: &Operation, project: &str) -> bool {
    let writes = match op.action {
        Action::Create | Action::Update => true,
        Action::Adopt => !op.writes.is_empty(),
        Action::Delete => false,
    };
    writes && belongs_to(op, project)
}

/// Whether `op` is one of the operations of `project` (itself or an object it contains: its
/// datasets, recipes, scenarios), whose success a build of that project waits for.
pub(crate) fn belongs_to(op: &Operation, project: &str) -> bool {
    let Some(kind) = op.kind.def() else {
        return false;
    };
    if kind.in_project() {
        op.name.split_once('.').map(|(p, _)| p) == Some(project)
    } else {
        // The project itself: the kind that contains the project-scoped kinds.
        super::kind::REGISTRY
            .iter()
            .any(|k| k.contained_in() == Some(op.kind))
            && op.name == project
    }
}

/// The builds an apply of `operations` starts, in declaration order.
pub(crate) fn triggered<O: Borrow<Operation>>(desired: &[Declared], operations: &[O]) -> Vec<PlannedBuild> {
    desired
        .iter()
        .filter_map(|d| {
            let (meta, spec) = d.resource.typed::<BuildSpec>()?;
            let project = meta.project.clone().unwrap_or_default();
            let trigger = spec.trigger.unwrap_or_default();
            let reason = match trigger {
                Trigger::Manual => return None,
                Trigger::Always => "always".to_string(),
                Trigger::OnChange => {
                    let op = operations
                        .iter()
                        .map(Borrow::borrow)
                        .find(|o| changes_project(o, &project))?;
                    format!("{} {} {}", op.kind, op.name, past(op.action))
                }
            };
            Some(PlannedBuild {
                name: meta.name.clone(),
                project,
                trigger,
                reason,
                origin: Some(d.origin.to_string()),
                spec: spec.clone(),
            })
        })
        .collect()
}

fn past(action: Action) -> &'static str {
    match action {
        Action::Create => "created",
        Action::Update => "updated",
        Action::Adopt => "adopted",
        Action::Delete => "deleted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::kinds::{ObjectMeta, Origin, Resource};
    use crate::manifest::specs::BuildOutputSpec;
    use crate::plan::Kind;

    fn build(name: &str, project: &str, trigger: Option<Trigger>) -> Declared {
        Declared::new(
            Resource::new(
                &crate::kinds::build::KIND,
                ObjectMeta {
                    name: name.into(),
                    project: Some(project.into()),
                    annotations: Default::default(),
                },
                BuildSpec {
                    outputs: vec![BuildOutputSpec {
                        id: "out".into(),
                        output_type: None,
                        partition: None,
                    }],
                    scenario: None,
                    mode: None,
                    trigger,
                    timeout: None,
                },
            ),
            Origin::default(),
        )
    }

    fn op(kind: Kind, name: &str, action: Action) -> Operation {
        crate::plan::fixtures::operation(kind, name, action)
    }

    fn names(builds: &[PlannedBuild]) -> Vec<&str> {
        builds.iter().map(|b| b.name.as_str()).collect()
    }

    #[test]
    fn triggers_follow_the_changes_of_the_build_project() {
        let desired = vec![
            build("on-a", "A", None),
            build("on-b", "B", Some(Trigger::OnChange)),
            build("always-b", "B", Some(Trigger::Always)),
            build("manual-a", "A", Some(Trigger::Manual)),
        ];
        // Nothing changes: only `always` runs.
        assert_eq!(names(&triggered::<Operation>(&desired, &[])), vec!["always-b"]);
        // A dataset of A is created: A's onChange build runs, with the reason.
        let ops = vec![
            op(crate::kinds::group::ID, "g", Action::Create),
            op(crate::kinds::dataset::ID, "A.x", Action::Create),
        ];
        let builds = triggered(&desired, &ops);
        assert_eq!(names(&builds), vec!["on-a", "always-b"]);
        assert_eq!(builds[0].reason, "dataset A.x created");
        assert_eq!(builds[0].describe(), "build on-a (A: out)");
        // Changes elsewhere, a deletion and an adoption without writes do not trigger.
        let ops = vec![
            op(crate::kinds::project::ID, "AB", Action::Update),
            op(crate::kinds::dataset::ID, "B.y", Action::Delete),
            op(crate::kinds::project::ID, "B", Action::Adopt),
            op(crate::kinds::connection::ID, "A", Action::Update),
        ];
        assert_eq!(names(&triggered(&desired, &ops)), vec!["always-b"]);
        assert!(belongs_to(&ops[1], "B") && !belongs_to(&ops[0], "A"));
    }
}
