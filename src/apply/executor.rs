//! The executor: runs a plan's operations in dependency order, independent ones concurrently
//! up to `--parallelism`, and records every operation's outcome.
//!
//! Dependencies ([`dependencies`]), derived from what each kind refers to:
//! - a user and a connection wait for the groups being created or updated (their groups,
//!   allowed groups); a project waits for groups and users (owner, grants);
//! - a dataset waits only for its own project and for the connections;
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
use crate::plan::{Action, Kind, Operation};

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
    ops.iter()
        .map(|op| {
            ops.iter()
                .enumerate()
                .filter(|(_, other)| !std::ptr::eq(*other, op))
                .filter(|(_, other)| {
                    if writes(op) {
                        writes(other)
                            && match op.kind {
                                Kind::Group => false,
                                Kind::User | Kind::Connection => other.kind == Kind::Group,
                                Kind::Project => matches!(other.kind, Kind::Group | Kind::User),
                                Kind::Dataset => match other.kind {
                                    Kind::Connection => true,
                                    Kind::Project => {
                                        op.name.split_once('.').map(|(p, _)| p) == Some(other.name.as_str())
                                    }
                                    _ => false,
                                },
                                Kind::Variables => other.kind != Kind::Variables,
                            }
                    } else if op.kind == Kind::Project && other.kind == Kind::Dataset {
                        // A project's deletion waits for its own datasets only.
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

    fn op(kind: Kind, name: &str, action: Action) -> Operation {
        Operation {
            kind,
            name: name.into(),
            action,
            subdocuments: vec![],
            changes: vec![],
            writes: vec![],
            secrets: vec![],
            ledger: None,
            drop_data: false,
            origin: None,
            fingerprint: None,
        }
    }

    fn names(ops: &[Operation], deps: &[usize]) -> Vec<String> {
        deps.iter().map(|&d| ops[d].id().to_string()).collect()
    }

    #[test]
    fn a_dataset_waits_for_its_own_project_and_the_connections_only() {
        let ops = vec![
            op(Kind::Group, "g", Action::Create),
            op(Kind::Connection, "c", Action::Update),
            op(Kind::Project, "A", Action::Create),
            op(Kind::Project, "B", Action::Create),
            op(Kind::Dataset, "A.x", Action::Create),
            op(Kind::Variables, "global", Action::Update),
        ];
        let deps = dependencies(&ops);
        assert_eq!(names(&ops, &deps[4]), vec!["connection c", "project A"]);
        assert_eq!(names(&ops, &deps[2]), vec!["group g"]);
        assert_eq!(names(&ops, &deps[1]), vec!["group g"]);
        assert!(deps[0].is_empty());
        assert_eq!(deps[5].len(), 5);
    }

    #[test]
    fn deletions_run_in_reverse_order() {
        let ops = vec![
            op(Kind::Group, "g", Action::Delete),
            op(Kind::Project, "A", Action::Delete),
            op(Kind::Dataset, "A.x", Action::Delete),
            op(Kind::Dataset, "B.y", Action::Delete),
            op(Kind::Project, "C", Action::Update),
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
