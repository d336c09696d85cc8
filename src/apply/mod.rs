//! Applying a plan: the guarded, ordered, verified writes and the ledger. The engine
//! ([`crate::engine`]) calls [`write_plan`] once the plan passed the guards; the `apply`
//! command ([`crate::commands`]) shows the plan and asks for confirmation before that.
//!
//! - [`guards`]: mass deletion, empty manifests, protected removals (exit 3, nothing written);
//! - [`stale`]: `apply --plan FILE` refuses a plan whose objects changed (exit 4);
//! - [`executor`]: dependency order and concurrency;
//! - [`progress`]: the progress bar (terminal) or periodic line (logs) while the writes run;
//! - [`writes`]: the POST/PUT/DELETE calls of each operation, secrets resolved when sent;
//! - [`ledger`]: the stack's ledger and the global variables, one serialised writer;
//! - [`backup`]: the export of a project before its deletion;
//! - [`verify`]: read-back of what was written;
//! - [`builds`]: the `Build` manifests the plan triggers, started after the writes;
//! - [`report`]: the outcome, as text or JSON.

pub(crate) mod backup;
pub(crate) mod builds;
pub(crate) mod docs;
pub mod executor;
pub(crate) mod guards;
pub(crate) mod kind;
pub mod ledger;
pub(crate) mod progress;
pub(crate) mod report;
pub(crate) mod stale;
pub(crate) mod verify;
pub(crate) mod writes;

use std::borrow::Cow;
use std::path::Path;

use anyhow::Context;

use crate::plan::{Action, Ledger, Plan};
use crate::target::Target;
use ledger::{LedgerChange, LedgerWriter};

/// What writing a plan needs that depends on the plan alone (no request): the operations'
/// dependency graph (tens of milliseconds for thousands of operations, most of it reading
/// what each one writes) and the Git commit the ledger records. Apply makes it while the
/// stack lock settles ([`crate::commands`]), so that the first write follows the lock at once.
pub(crate) struct WritePrep {
    /// [`executor::dependencies`] of the operations that will run (detect-only ones aside).
    deps: Vec<Vec<usize>>,
    git_commit: Option<String>,
}

impl WritePrep {
    pub(crate) fn of(plan: &Plan, commit_dir: &Path) -> WritePrep {
        WritePrep {
            deps: executor::dependencies(&writable(plan).operations),
            git_commit: ledger::git_commit(commit_dir),
        }
    }
}

/// What of `plan` is written: a detect-only difference (`dssctl.io/sync: detect-only`) is
/// shown, never written.
fn writable(plan: &Plan) -> Cow<'_, Plan> {
    if plan.detect_only().next().is_some() {
        Cow::Owned(plan.without_detect_only())
    } else {
        Cow::Borrowed(plan)
    }
}

/// Execute an already-checked plan through `target` (guards and confirmation are the
/// caller's): the ledger entries written ahead, the writes in dependency order, the ledger
/// flushed. `commit_dir` is where the Git commit recorded in the ledger is read. The error is
/// only for a failure before anything was written; per-operation failures are in the report.
/// No progress is shown (see [`write_plan_showing`]).
pub(crate) async fn write_plan(
    target: &Target,
    plan: &Plan,
    ledger: Option<&Ledger>,
    commit_dir: &Path,
    parallelism: usize,
) -> anyhow::Result<report::Report> {
    write_plan_showing(
        target,
        plan,
        ledger,
        commit_dir,
        parallelism,
        progress::Show::Nothing,
        None,
    )
    .await
}

/// [`write_plan`], showing the progress of the operations on stderr as `show` says.
pub(crate) async fn write_plan_showing(
    target: &Target,
    plan: &Plan,
    ledger: Option<&Ledger>,
    commit_dir: &Path,
    parallelism: usize,
    show: progress::Show,
    prepared: Option<WritePrep>,
) -> anyhow::Result<report::Report> {
    let writable = writable(plan);
    let plan = &*writable;
    let WritePrep { deps, git_commit } = match prepared {
        Some(p) if p.deps.len() == plan.operations.len() => p,
        _ => WritePrep::of(plan, commit_dir),
    };
    let writer = LedgerWriter::new(&target.client, &target.stack, ledger, git_commit);
    // Written ahead: the entries of what this run creates, and the entries the plan forgets
    // or releases (`dssctl.io/prune: "false"`: the live object is left alone).
    let ahead: Vec<LedgerChange> = plan
        .operations
        .iter()
        .filter(|o| o.action == Action::Create)
        .map(|o| writes::record(writer.salt(), o))
        .chain(plan.forget.iter().cloned().map(LedgerChange::Remove))
        .chain(plan.released.iter().cloned().map(LedgerChange::Remove))
        .collect();
    writer.write_now(ahead).await.context("nothing was written")?;

    let ctx = writes::Ctx {
        client: &target.client,
        stack: &target.stack,
        ledger: &writer,
        backups: std::env::current_dir()
            .context("cannot read the current directory")?
            .join(backup::BACKUP_DIR),
    };
    let shown = progress::Progress::start(show, plan.operations.len());
    let outcomes = executor::run(&ctx, &plan.operations, &deps, parallelism, shown.counters()).await;
    shown.finish();
    // A creation that was skipped created nothing: drop its entry written ahead.
    for (op, outcome) in plan.operations.iter().zip(&outcomes) {
        if op.action == Action::Create && matches!(outcome, executor::Outcome::Skipped(_)) {
            writer.queue(LedgerChange::Remove(op.id()));
        }
    }
    let mut errors = Vec::new();
    if let Err(e) = writer.flush().await {
        errors.push(format!("{e}; the next apply records these resources again"));
    }
    tracing::debug!(ledger_writes = writer.writes(), "apply finished");
    // The builds come last: after the writes of their project and the ledger.
    let ran = builds::run(
        &target.client,
        &plan.builds,
        &plan.operations,
        &outcomes,
        parallelism,
    )
    .await;
    Ok(report::Report::new(plan, &plan.operations, outcomes, errors).with_builds(ran))
}
