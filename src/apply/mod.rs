//! `dssctl apply`: make the plan (the one load → observe → plan pipeline of
//! [`crate::plan_command::plan_on`]) or read a saved one, check the safety guards, show the
//! plan and ask for confirmation, then execute it and report every operation's outcome.
//!
//! - [`guards`]: mass deletion, empty manifests, protected removals (exit 3, nothing written);
//! - [`stale`]: `apply --plan FILE` refuses a plan whose objects changed (exit 4);
//! - [`executor`]: dependency order and concurrency;
//! - [`writes`]: the POST/PUT/DELETE calls of each operation, secrets resolved when sent;
//! - [`ledger`]: the stack's ledger and the global variables, one serialised writer;
//! - [`backup`]: the export of a project before its deletion;
//! - [`verify`]: read-back of what was written;
//! - [`builds`]: the `Build` manifests the plan triggers, started after the writes;
//! - [`report`]: the outcome, as text or JSON.
//!
//! Exit codes: 0 all done; 1 an error, a refused confirmation, any operation failed or
//! skipped (the others still ran), or a triggered build did not end DONE; 3 a guard refused;
//! 4 a saved plan is stale.
//! Without a terminal on stdin, apply runs only with `--auto-approve`.

pub mod backup;
pub mod builds;
pub mod docs;
pub mod executor;
pub mod guards;
pub mod ledger;
pub mod report;
pub mod stale;
pub mod verify;
pub mod writes;

use std::io::{BufRead, IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::cli::{ApplyArgs, ReportFormat};
use crate::plan::planner::declared_id;
use crate::plan::{Action, Ledger, Plan};
use crate::plan_command::{Planned, plan_target, stdout_color};
use crate::target::{Target, connect};
use ledger::{LedgerChange, LedgerWriter};

/// Exit code of a guard's refusal.
pub const EXIT_GUARD: u8 = 3;
/// Exit code of a stale saved plan.
pub const EXIT_STALE: u8 = 4;

/// Run `dssctl apply`.
pub async fn run(args: ApplyArgs, no_color: bool) -> anyhow::Result<ExitCode> {
    if !args.auto_approve && !std::io::stdin().is_terminal() {
        bail!(
            "refusing to apply without confirmation: stdin is not a terminal. \
             Review the plan (dssctl plan), then rerun with --auto-approve."
        );
    }
    let parallelism = usize::from(args.parallelism);
    match &args.plan {
        None => {
            let Planned {
                plan,
                desired,
                observed,
                target,
                ..
            } = plan_target(&args.paths, &args.target, parallelism).await?;
            let declared = desired
                .iter()
                .filter(|d| declared_id(&d.resource).is_some())
                .count();
            let result = execute(&args, &target, plan, observed.ledger, Some(declared), no_color).await;
            target.close().await;
            result
        }
        Some(file) => {
            // Read the plan before connecting, so that a bad file fails without a network call.
            let plan = read_saved_plan(file)?;
            let target = connect(&args.target, parallelism).await?;
            let result = async {
                let ledger = check_saved_plan(&plan, &target).await?;
                execute(&args, &target, plan, ledger, None, no_color).await
            }
            .await;
            target.close().await;
            result
        }
    }
}

fn read_saved_plan(file: &Path) -> anyhow::Result<Plan> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the saved plan {}", file.display()))?;
    let plan: Plan = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a dssctl plan (from `dssctl plan --out`)",
            file.display()
        )
    })?;
    if plan.format_version > crate::plan::FORMAT_VERSION {
        bail!(
            "{}: plan format version {} is newer than this dssctl understands ({}); upgrade dssctl",
            file.display(),
            plan.format_version,
            crate::plan::FORMAT_VERSION
        );
    }
    Ok(plan)
}

/// A saved plan must be for this stack and this instance; returns the stack's ledger.
async fn check_saved_plan(plan: &Plan, target: &Target) -> anyhow::Result<Option<Ledger>> {
    if plan.stack != target.stack {
        bail!(
            "the saved plan is for stack {:?}, not {:?} (give --stack {})",
            plan.stack,
            target.stack,
            plan.stack
        );
    }
    // The embedded emulator listens on a new port at every run: only its URL may differ.
    if !target.is_local() && plan.target.trim_end_matches('/') != target.url {
        bail!(
            "the saved plan was made against {}, not {}",
            plan.target,
            target.url
        );
    }
    let globals = target
        .client
        .get_global_variables()
        .await
        .context("cannot read the global variables (the ledger)")?;
    Ok(Ledger::from_global_variables(&globals, &target.stack)?)
}

/// Guards, staleness (saved plans), confirmation, then the writes and the report.
/// `declared` is the number of declared resources (`None` for a saved plan).
async fn execute(
    args: &ApplyArgs,
    target: &Target,
    mut plan: Plan,
    ledger: Option<Ledger>,
    declared: Option<usize>,
    no_color: bool,
) -> anyhow::Result<ExitCode> {
    let parallelism = usize::from(args.parallelism);
    let saved = args.plan.is_some();
    if args.no_builds {
        // Not shown in the plan either: this apply starts none.
        plan.builds.clear();
    }
    if !plan.errors.is_empty() {
        for e in &plan.errors {
            eprintln!("error: {e}");
        }
        bail!("the plan has {} error(s); nothing was written", plan.errors.len());
    }
    let ledger_size = ledger.as_ref().map_or(0, |l| l.resources.len());
    let opts = guards::GuardOptions {
        max_deletes: args.max_deletes,
        allow_deletes: args.allow_deletes,
    };
    if let Err(refusal) = guards::check(&plan, declared, ledger_size, opts) {
        eprintln!("error: {refusal}");
        return Ok(ExitCode::from(EXIT_GUARD));
    }
    if saved {
        let changed = stale::stale(&target.client, &plan, parallelism)
            .await
            .context("cannot re-read the objects of the saved plan")?;
        if !changed.is_empty() {
            for c in &changed {
                eprintln!("  {c}");
            }
            eprintln!(
                "error: the live state changed since the plan was made ({} object(s)); nothing was written. Make a new plan.",
                changed.len()
            );
            return Ok(ExitCode::from(EXIT_STALE));
        }
    }

    let text = args.format == ReportFormat::Text;
    let mut stdout = std::io::stdout().lock();
    if !plan.has_changes() {
        // Only `always` builds can be triggered by an apply without changes.
        if text {
            writeln!(
                stdout,
                "No changes. The instance matches the manifests ({} unchanged).",
                plan.summary.unchanged
            )?;
            stdout.flush()?;
        }
        drop(stdout);
        let ran = builds::run(&target.client, &plan.builds, &[], &[], parallelism).await;
        let report = report::Report::new(&plan, &[], Vec::new(), Vec::new()).with_builds(ran);
        let out = if text {
            report.builds_text()
        } else {
            report.to_json()
        };
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(out.as_bytes())?;
        stdout.flush()?;
        return Ok(if report.success() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    if text {
        let color = stdout_color(no_color);
        stdout.write_all(crate::render::render_text(&plan, color).as_bytes())?;
        stdout.flush()?;
    } else if !args.auto_approve {
        // stdout is for the JSON report: the person asked to confirm reads the plan on stderr.
        eprint!("{}", crate::render::render_text(&plan, false));
    }
    drop(stdout);
    if !args.auto_approve && !confirm()? {
        eprintln!("Apply cancelled; nothing was written.");
        return Ok(ExitCode::from(1));
    }

    let commit_dir = match &args.plan {
        Some(file) => file.parent().map(Path::to_path_buf).unwrap_or_default(),
        None => args.paths.first().cloned().unwrap_or_else(|| PathBuf::from(".")),
    };
    let report = write_plan(target, &plan, ledger.as_ref(), &commit_dir, parallelism).await?;
    let out = if text { report.to_text() } else { report.to_json() };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()?;
    Ok(if report.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Execute an already-checked plan through `target` (guards and confirmation are the
/// caller's): the ledger entries written ahead, the writes in dependency order, the ledger
/// flushed. `commit_dir` is where the Git commit recorded in the ledger is read. The error is
/// only for a failure before anything was written; per-operation failures are in the report.
pub async fn write_plan(
    target: &Target,
    plan: &Plan,
    ledger: Option<&Ledger>,
    commit_dir: &Path,
    parallelism: usize,
) -> anyhow::Result<report::Report> {
    let writer = LedgerWriter::new(
        &target.client,
        &target.stack,
        ledger,
        ledger::git_commit(commit_dir),
    );
    // Written ahead: the entries of what this run creates, and the entries the plan forgets.
    let ahead: Vec<LedgerChange> = plan
        .operations
        .iter()
        .filter(|o| o.action == Action::Create)
        .map(|o| writes::record(writer.salt(), o))
        .chain(plan.forget.iter().cloned().map(LedgerChange::Remove))
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
    let outcomes = executor::run(&ctx, &plan.operations, parallelism).await;
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

/// Ask on the terminal; only `yes` proceeds.
fn confirm() -> anyhow::Result<bool> {
    ask(&mut std::io::stdin().lock(), &mut std::io::stderr())
}

/// Ask on `output`, read one line of `input`; only `yes` (surrounding blanks aside) proceeds.
fn ask(input: &mut dyn BufRead, output: &mut dyn std::io::Write) -> anyhow::Result<bool> {
    write!(
        output,
        "\nDo you want to perform these actions? Only 'yes' will be accepted: "
    )?;
    output.flush()?;
    let mut answer = String::new();
    input.read_line(&mut answer).context("cannot read the answer")?;
    Ok(answer.trim() == "yes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_yes_confirms() {
        for (answer, expected) in [
            ("yes\n", true),
            ("  yes \r\n", true),
            ("y\n", false),
            ("YES\n", false),
            ("no\n", false),
            ("", false),
        ] {
            let mut out = Vec::new();
            let ok = ask(&mut answer.as_bytes(), &mut out).unwrap();
            assert_eq!(ok, expected, "{answer:?}");
            assert!(String::from_utf8(out).unwrap().contains("Only 'yes'"));
        }
    }
}
