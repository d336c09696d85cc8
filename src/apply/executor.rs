//! The executor: runs a plan's operations in dependency order, independent ones concurrently
//! up to `--parallelism`, and records every operation's outcome.
//!
//! Dependencies ([`dependencies`]), derived from what each write refers to ([`references`]):
//! - a user waits for its groups, a connection for its allowed groups, a project for its
//!   owner and the groups and users it grants rights to, when those are created or updated
//!   in the same run;
//! - a dataset waits only for its own project and its connection;
//! - the global variables come after every other create or update;
//! - a deletion waits for every create or update of a kind after its own (which may stop
//!   referring to it) and for the deletions of those kinds (a project after its datasets, a
//!   connection after the datasets and projects, ...): deletions run in reverse order.
//!
//! A failed operation skips everything that depends on it (transitively); everything else
//! still runs. Nothing here writes: [`super::writes::execute`] does.

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use super::writes::{Ctx, Done, Failed, execute};
use crate::plan::{Action, Operation, ResourceId};

/// What became of one operation.
#[derive(Debug)]
pub enum Outcome {
    Done(Done),
    Failed(Failed),
    /// Not run because an operation it depends on failed or was skipped (named here).
    Skipped(String),
}

impl Outcome {
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Done(_))
    }
}

/// For each operation, the indices of the operations it waits for.
pub fn dependencies(ops: &[Operation]) -> Vec<Vec<usize>> {
    let rank = |o: &Operation| o.kind.apply_rank();
    let writes = |o: &Operation| o.action != Action::Delete;
    let last = |o: &Operation| o.kind.def().is_some_and(|k| k.writes_last());
    let contained = |o: &Operation| o.kind.def().and_then(|k| k.contained_in());
    ops.iter()
        .map(|op| {
            let refs = references(op);
            ops.iter()
                .enumerate()
                .filter(|(_, other)| !std::ptr::eq(*other, op))
                .filter(|(_, other)| {
                    if writes(op) {
                        writes(other)
                            && if last(op) {
                                other.kind != op.kind
                            } else {
                                refs.contains(&other.id())
                            }
                    } else if contained(other) == Some(op.kind) {
                        // A container's deletion waits for its own contents only.
                        other.name.split_once('.').map(|(p, _)| p) == Some(op.name.as_str())
                    } else {
                        rank(other) > rank(op)
                    }
                })
                .map(|(i, _)| i)
                .collect()
        })
        .collect()
}

/// The resources a create or update refers to in what it writes: a user's groups, a
/// connection's allowed groups, a project's owner and grantees, a dataset's project and
/// connection. (Fields a write does not carry are unchanged, so their targets already exist.)
pub fn references(op: &Operation) -> Vec<ResourceId> {
    let mut out = Vec::new();
    if let Some(kind) = op.kind.def() {
        kind.write_references(op, &mut out);
    }
    out
}

#[derive(Debug)]
enum State {
    Waiting,
    Running,
    Finished(Outcome),
}

/// Run every operation; the outcomes are in the order of `ops`.
pub async fn run(ctx: &Ctx<'_>, ops: &[Operation], parallelism: usize) -> Vec<Outcome> {
    let deps = dependencies(ops);
    let mut state: Vec<State> = ops.iter().map(|_| State::Waiting).collect();
    let mut running = FuturesUnordered::new();
    loop {
        // Skip what depends on a failure, until nothing changes (skips cascade).
        let mut changed = true;
        while changed {
            changed = false;
            for i in 0..ops.len() {
                if !matches!(state[i], State::Waiting) {
                    continue;
                }
                let blocker = deps[i].iter().find(|&&d| {
                    matches!(
                        state[d],
                        State::Finished(Outcome::Failed(_) | Outcome::Skipped(_))
                    )
                });
                if let Some(&d) = blocker {
                    state[i] = State::Finished(Outcome::Skipped(ops[d].id().to_string()));
                    changed = true;
                }
            }
        }
        for i in 0..ops.len() {
            if running.len() >= parallelism.max(1) {
                break;
            }
            let ready = matches!(state[i], State::Waiting)
                && deps[i]
                    .iter()
                    .all(|&d| matches!(state[d], State::Finished(Outcome::Done(_))));
            if ready {
                state[i] = State::Running;
                let op = &ops[i];
                running.push(async move { (i, execute(ctx, op).await) });
            }
        }
        let Some((i, result)) = running.next().await else {
            break;
        };
        state[i] = State::Finished(match result {
            Ok(done) => Outcome::Done(done),
            Err(failed) => Outcome::Failed(failed),
        });
    }
    state
        .into_iter()
        .map(|s| match s {
            State::Finished(o) => o,
            // Unreachable with an acyclic graph; reported rather than lost.
            State::Waiting | State::Running => Outcome::Skipped("an unresolvable dependency".to_string()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Kind, SubDoc};
    use serde_json::Value;

    fn op(kind: Kind, name: &str, action: Action) -> Operation {
        crate::plan::fixtures::operation(kind, name, action)
    }

    fn names(ops: &[Operation], deps: &[usize]) -> Vec<String> {
        deps.iter().map(|&d| ops[d].id().to_string()).collect()
    }

    fn with_write(mut o: Operation, sub: SubDoc, overlay: Value) -> Operation {
        o.writes.push(crate::plan::Write {
            subdocument: sub,
            overlay,
            secrets: vec![],
            fingerprint: None,
            changes: vec![],
        });
        o
    }

    #[test]
    fn operations_wait_only_for_what_they_refer_to() {
        use serde_json::json;
        let ops = vec![
            op(crate::kinds::group::ID, "g", Action::Create),
            op(crate::kinds::group::ID, "h", Action::Create),
            with_write(
                op(crate::kinds::connection::ID, "c", Action::Update),
                SubDoc::DEFINITION,
                json!({"allowedGroups": ["h"]}),
            ),
            with_write(
                op(crate::kinds::project::ID, "A", Action::Create),
                SubDoc::PERMISSIONS,
                json!({"owner": "u", "permissions": [{"group": "g"}, {"user": "v"}]}),
            ),
            op(crate::kinds::project::ID, "B", Action::Create),
            with_write(
                op(crate::kinds::dataset::ID, "A.x", Action::Create),
                SubDoc::SETTINGS,
                json!({"params": {"connection": "c"}}),
            ),
            op(crate::kinds::user::ID, "u", Action::Create),
            with_write(
                op(crate::kinds::user::ID, "v", Action::Update),
                SubDoc::DEFINITION,
                json!({"groups": ["g", "h"]}),
            ),
            op(crate::kinds::variables::ID, "global", Action::Update),
        ];
        let deps = dependencies(&ops);
        assert_eq!(names(&ops, &deps[5]), vec!["connection c", "project A"]);
        assert_eq!(names(&ops, &deps[3]), vec!["group g", "user u", "user v"]);
        assert_eq!(names(&ops, &deps[2]), vec!["group h"]);
        assert_eq!(names(&ops, &deps[7]), vec!["group g", "group h"]);
        assert!(deps[0].is_empty() && deps[4].is_empty() && deps[6].is_empty());
        assert_eq!(deps[8].len(), 8);
    }

    #[test]
    fn deletions_run_in_reverse_order() {
        let ops = vec![
            op(crate::kinds::group::ID, "g", Action::Delete),
            op(crate::kinds::project::ID, "A", Action::Delete),
            op(crate::kinds::dataset::ID, "A.x", Action::Delete),
            op(crate::kinds::dataset::ID, "B.y", Action::Delete),
            op(crate::kinds::project::ID, "C", Action::Update),
        ];
        let deps = dependencies(&ops);
        assert_eq!(names(&ops, &deps[1]), vec!["dataset A.x"]);
        assert_eq!(
            names(&ops, &deps[0]),
            vec!["project A", "dataset A.x", "dataset B.y", "project C"]
        );
        assert!(deps[2].is_empty());
        // Creates and updates never wait for deletions.
        assert!(deps[4].is_empty());
    }
}
