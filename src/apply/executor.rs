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

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use super::kind::ApplyDef;
use super::progress::Counters;
use super::writes::{Ctx, Done, Failed, execute};
use crate::plan::{Action, Operation, ResourceId};

/// What became of one operation.
#[derive(Debug)]
pub(crate) enum Outcome {
    Done(Done),
    Failed(Failed),
    /// Not run because an operation it depends on failed or was skipped (named here).
    Skipped(String),
}

impl Outcome {
    pub(crate) fn is_ok(&self) -> bool {
        matches!(self, Outcome::Done(_))
    }
}

/// For each operation, the indices of the operations it waits for (in plan order).
///
/// Built from an index of the writes by resource and from each operation's kind looked up
/// once, so that a plan of thousands of operations costs milliseconds, not a kind lookup and
/// a resource comparison for every pair.
pub fn dependencies(ops: &[Operation]) -> Vec<Vec<usize>> {
    let rank: Vec<u8> = ops.iter().map(|o| o.kind.apply_rank()).collect();
    let writes: Vec<bool> = ops.iter().map(|o| o.action != Action::Delete).collect();
    let contained: Vec<_> = ops
        .iter()
        .map(|o| o.kind.def().and_then(|k| k.contained_in()))
        .collect();
    let mut writers: HashMap<ResourceId, Vec<usize>> = HashMap::new();
    for (i, o) in ops.iter().enumerate().filter(|(i, _)| writes[*i]) {
        writers.entry(o.id()).or_default().push(i);
    }
    ops.iter()
        .enumerate()
        .map(|(me, op)| {
            let others = (0..ops.len()).filter(move |&i| i != me);
            let mut deps: Vec<usize> = if !writes[me] {
                others
                    .filter(|&i| {
                        if contained[i] == Some(op.kind) {
                            // A container's deletion waits for its own contents only.
                            ops[i].kind.def().and_then(|k| k.container_of(&ops[i].name))
                                == Some(op.name.as_str())
                        } else {
                            rank[i] > rank[me]
                        }
                    })
                    .collect()
            } else if op.kind.def().is_some_and(|k| k.writes_last()) {
                others.filter(|&i| writes[i] && ops[i].kind != op.kind).collect()
            } else {
                references(op)
                    .iter()
                    .filter_map(|r| writers.get(r))
                    .flatten()
                    .copied()
                    .filter(|&i| i != me)
                    .collect()
            };
            deps.sort_unstable();
            deps.dedup();
            deps
        })
        .collect()
}

/// The resources a create or update refers to in what it writes: a user's groups, a
/// connection's allowed groups, a project's owner and grantees, a dataset's project and
/// connection. (Fields a write does not carry are unchanged, so their targets already exist.)
pub(crate) fn references(op: &Operation) -> Vec<ResourceId> {
    let mut out = Vec::new();
    if let Some(kind) = op.kind.def() {
        kind.write_references(op, &mut out);
    }
    out
}

/// Run every operation; the outcomes are in the order of `ops`. `progress` counts each
/// operation as it ends.
///
/// Scheduling is per operation, not per rank: an operation starts the moment the last of its
/// own dependencies is done (a dataset as soon as its project and its connection are, while
/// other projects are still being created), and among the ready ones, those that others wait
/// for go first, so that the pipeline behind them fills early.
/// `deps` is [`dependencies`] of `ops` (computed by the caller, possibly ahead of time).
pub(crate) async fn run(
    ctx: &Ctx<'_>,
    ops: &[Operation],
    deps: &[Vec<usize>],
    parallelism: usize,
    progress: &Counters,
) -> Vec<Outcome> {
    debug_assert_eq!(deps.len(), ops.len(), "the dependencies of other operations");
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); ops.len()];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            dependents[d].push(i);
        }
    }
    let mut waiting_for: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut outcomes: Vec<Option<Outcome>> = ops.iter().map(|_| None).collect();
    // Ready operations: most dependents first, then plan order.
    let mut ready: BinaryHeap<(usize, Reverse<usize>)> = (0..ops.len())
        .filter(|&i| waiting_for[i] == 0)
        .map(|i| (dependents[i].len(), Reverse(i)))
        .collect();
    let mut running = FuturesUnordered::new();
    loop {
        while running.len() < parallelism.max(1) {
            let Some((_, Reverse(i))) = ready.pop() else {
                break;
            };
            let op = &ops[i];
            running.push(async move { (i, execute(ctx, op).await) });
        }
        let Some((i, result)) = running.next().await else {
            break;
        };
        match result {
            Ok(done) => {
                progress.done();
                outcomes[i] = Some(Outcome::Done(done));
                for &j in &dependents[i] {
                    waiting_for[j] -= 1;
                    if waiting_for[j] == 0 && outcomes[j].is_none() {
                        ready.push((dependents[j].len(), Reverse(j)));
                    }
                }
            }
            Err(failed) => {
                progress.failed();
                outcomes[i] = Some(Outcome::Failed(failed));
                skip_dependents(ops, &dependents, i, &mut outcomes, progress);
            }
        }
    }
    outcomes
        .into_iter()
        // Unreachable with an acyclic graph; reported rather than lost.
        .map(|o| o.unwrap_or_else(|| Outcome::Skipped("an unresolvable dependency".to_string())))
        .collect()
}

/// Skip, transitively, what waits for `failed` and has not ended; each names the operation it
/// directly depended on. A skipped operation never became ready (one of its dependencies had
/// not succeeded), so none of them is running.
fn skip_dependents(
    ops: &[Operation],
    dependents: &[Vec<usize>],
    failed: usize,
    outcomes: &mut [Option<Outcome>],
    progress: &Counters,
) {
    let mut stack = vec![failed];
    while let Some(blocker) = stack.pop() {
        for &j in &dependents[blocker] {
            if outcomes[j].is_none() {
                outcomes[j] = Some(Outcome::Skipped(ops[blocker].id().to_string()));
                progress.skipped();
                stack.push(j);
            }
        }
    }
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
