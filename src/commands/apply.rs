//! `dssctl apply`: make the plan through the engine (or read a saved one and check that it is
//! for this target and still current), pass the guards, show the plan and ask for
//! confirmation, then write it through the engine and report every operation's outcome.
//! Without a terminal on stdin, apply runs only with `--auto-approve`.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::ArgMatches;

use super::lock::{LockArgs, with_lock};
use super::{
    Context, OutputArgs, ParallelismArgs, TargetArgs, TargetingArgs, hinted, leave_to_exit, load_connected,
};
use crate::apply::WritePrep;
use crate::apply::guards::GuardOptions;
use crate::engine::{self, GuardInput};
use crate::error::{Error, Failure, Outcome};
use crate::lock::LockSettings;
use crate::plan::Plan;
use crate::render::OutputFormat;
use crate::target::{Target, TargetConfig, connect};

/// `dssctl apply`.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// Manifest files or directories (read recursively for *.yaml / *.yml), or an
    /// Environment's directory or file.
    #[arg(default_value = ".", conflicts_with = "plan")]
    pub(crate) paths: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    /// Apply this saved plan (from `plan --out`) exactly, after checking that nothing it
    /// writes changed since (exit 4 if something did).
    #[arg(long, value_name = "FILE")]
    pub(crate) plan: Option<PathBuf>,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long)]
    pub(crate) auto_approve: bool,
    /// Refuse (exit 3) to delete more than N resources; default: the larger of 10 and 10% of
    /// the resources in the stack's ledger.
    #[arg(long, value_name = "N")]
    pub(crate) max_deletes: Option<usize>,
    /// Allow exactly N deletions beyond --max-deletes.
    #[arg(long, value_name = "N")]
    pub(crate) allow_deletes: Option<usize>,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
    #[command(flatten)]
    pub(crate) parallelism: ParallelismArgs,
    #[command(flatten)]
    pub(crate) lock: LockArgs,
    #[command(flatten)]
    pub(crate) targeting: TargetingArgs,
    /// Do not start the `Build` manifests that the apply triggers.
    #[arg(long)]
    pub(crate) no_builds: bool,
}

/// Where the plan of an apply comes from.
#[derive(Debug)]
pub(crate) enum PlanSource {
    /// Made from the manifests under these paths.
    Manifests(Vec<PathBuf>),
    /// A saved plan file (`plan --out`).
    Saved(PathBuf),
}

/// The resolved configuration of `dssctl apply`.
#[derive(Debug)]
pub(crate) struct ApplyConfig {
    pub(crate) source: PlanSource,
    pub(crate) target: TargetConfig,
    /// Whether `--stack` or `DSSCTL_STACK` named the stack: otherwise a saved plan is applied
    /// to the stack it was made for (an Environment's, say).
    pub(crate) stack_given: bool,
    pub(crate) auto_approve: bool,
    pub(crate) guards: GuardOptions,
    pub(crate) format: OutputFormat,
    pub(crate) parallelism: usize,
    pub(crate) no_builds: bool,
    pub(crate) lock: LockSettings,
    /// `--target` / `--exclude` (a saved plan carries its own scope).
    pub(crate) targeting: engine::Targeting,
}

impl ApplyArgs {
    pub(crate) fn resolve(self, matches: &ArgMatches) -> Result<ApplyConfig, Error> {
        let targeting = self.targeting.resolve()?;
        if self.plan.is_some() && !targeting.is_everything() {
            return Err(anyhow::anyhow!(
                "--target and --exclude do not apply to a saved plan: it was made with its own scope \
                 (give them to `dssctl plan --out`)"
            )
            .into());
        }
        let mut target = self.target.resolve(matches);
        let stack_given = matches.value_source("stack") != Some(clap::parser::ValueSource::DefaultValue);
        if self.plan.is_none() {
            super::environment_stack(&mut target, &self.paths, matches);
        }
        Ok(ApplyConfig {
            targeting,
            source: match self.plan {
                Some(file) => PlanSource::Saved(file),
                None => PlanSource::Manifests(self.paths),
            },
            target,
            stack_given,
            auto_approve: self.auto_approve,
            guards: GuardOptions {
                max_deletes: self.max_deletes,
                allow_deletes: self.allow_deletes,
            },
            format: self.output.format,
            parallelism: self.parallelism.get(),
            no_builds: self.no_builds,
            lock: self.lock.settings(),
        })
    }
}

pub(super) async fn run(config: ApplyConfig, ctx: Context) -> Result<Outcome, Error> {
    hinted(&config.target, apply(&config, ctx).await)
}

async fn apply(config: &ApplyConfig, ctx: Context) -> Result<Outcome, Error> {
    if !config.auto_approve && !std::io::stdin().is_terminal() {
        return Err(anyhow::anyhow!(
            "refusing to apply without confirmation: stdin is not a terminal. \
             Review the plan (dssctl plan), then rerun with --auto-approve."
        )
        .into());
    }
    match &config.source {
        PlanSource::Manifests(paths) => {
            let (desired, target) = load_connected(paths, &config.target, config.parallelism).await?;
            let commit_dir = paths.first().cloned().unwrap_or_else(|| PathBuf::from("."));
            let run = async {
                // A first look without the lock. When the manifests declare what the ledger
                // lacks, the apply is sure to write (`engine::writes_certain`): it plans under
                // the lock, during the lock's settle wait.
                let first = if config.targeting.is_everything() {
                    let observation = engine::observe(&target, &desired, config.parallelism).await?;
                    if engine::writes_certain(&desired, observation.observed.ledger.as_ref()) {
                        leave_to_exit(observation);
                        None
                    } else {
                        Some(engine::plan_observed(&target, &desired, observation))
                    }
                } else {
                    Some(engine::plan_scoped(&target, &desired, &config.targeting, config.parallelism).await?)
                };
                let Some(first) = first else {
                    let (target, desired, commit_dir) = (&target, &desired, &commit_dir);
                    // What the writes need from the plan alone is prepared during the wait too.
                    let plan_now = || async move {
                        let planned = engine::plan_on(target, desired, config.parallelism).await?;
                        let prepared = WritePrep::of(&planned.plan, commit_dir);
                        Ok::<_, Error>((planned, prepared))
                    };
                    return with_lock(
                        target,
                        config.lock,
                        "apply",
                        plan_now,
                        |(planned, prepared)| async move {
                            let engine::Planned {
                                plan,
                                observed,
                                declared,
                            } = planned;
                            let input = GuardInput {
                                declared: Some(declared),
                                ledger: observed.ledger.as_ref(),
                            };
                            let outcome =
                                execute(config, ctx, target, plan, input, commit_dir, Some(prepared)).await;
                            leave_to_exit(observed);
                            outcome
                        },
                    )
                    .await;
                };
                // Otherwise a first plan without the lock: an apply that would write nothing (no
                // change, a plan error, a guard's refusal) ends there, without a single write.
                let engine::Planned {
                    plan,
                    observed,
                    declared,
                } = first;
                let input = GuardInput {
                    declared: Some(declared),
                    ledger: observed.ledger.as_ref(),
                };
                if !would_write(config, &plan, input) {
                    return execute(config, ctx, &target, plan, input, &commit_dir, None).await;
                }
                // What is written is planned again under the lock: another run may have
                // written since the first plan. That plan's reads run during the lock's settle
                // wait, and when they find what the first plan read, the first plan holds.
                let (target, commit_dir, desired, first_observed) =
                    (&target, &commit_dir, &desired, &observed);
                let replan = || async move {
                    Ok::<_, Error>(
                        engine::replan(
                            target,
                            desired,
                            &config.targeting,
                            config.parallelism,
                            first_observed,
                        )
                        .await?,
                    )
                };
                let outcome = with_lock(target, config.lock, "apply", replan, |again| async move {
                    let (plan, ledger, declared) = match again {
                        Some(p) => {
                            let ledger = p.observed.ledger.clone();
                            leave_to_exit(p.observed);
                            (p.plan, ledger, p.declared)
                        }
                        None => (plan, first_observed.ledger.clone(), declared),
                    };
                    let input = GuardInput {
                        declared: Some(declared),
                        ledger: ledger.as_ref(),
                    };
                    execute(config, ctx, target, plan, input, commit_dir, None).await
                })
                .await;
                leave_to_exit(observed);
                outcome
            };
            let result = run.await;
            target.close().await;
            leave_to_exit(desired);
            result
        }
        PlanSource::Saved(file) => {
            // Read the plan before connecting, so that a bad file fails without a network call.
            let plan = engine::read_saved_plan(file)?;
            let mut target_config = config.target.clone();
            if !config.stack_given {
                target_config.stack.clone_from(&plan.stack);
            }
            let target = connect(&target_config, config.parallelism).await?;
            let commit_dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
            let run = async {
                let ledger = engine::check_saved_plan(&plan, &target).await?;
                let input = GuardInput {
                    declared: None,
                    ledger: ledger.as_ref(),
                };
                if !would_write(config, &plan, input) {
                    return execute(config, ctx, &target, plan, input, &commit_dir, None).await;
                }
                // A stale plan is refused without taking the lock; under it, the check is made
                // again (in `execute`).
                engine::check_stale(&target, &plan, config.parallelism).await?;
                let (target, commit_dir, plan) = (&target, &commit_dir, &plan);
                let read_ledger =
                    || async move { Ok::<_, Error>(engine::check_saved_plan(plan, target).await?) };
                with_lock(target, config.lock, "apply", read_ledger, |ledger| async move {
                    let input = GuardInput {
                        declared: None,
                        ledger: ledger.as_ref(),
                    };
                    execute(config, ctx, target, plan.clone(), input, commit_dir, None).await
                })
                .await
            };
            let result = run.await;
            target.close().await;
            result
        }
    }
}

/// Whether `plan` gets as far as writing: no error, a change, and the guards' consent. An
/// apply that would not is run without the stack lock (it writes nothing).
fn would_write(config: &ApplyConfig, plan: &Plan, input: GuardInput<'_>) -> bool {
    plan.has_changes() && engine::guard(plan, input, config.guards).is_ok()
}

/// Guards, staleness (saved plans), confirmation, then the writes and the report.
async fn execute(
    config: &ApplyConfig,
    ctx: Context,
    target: &Target,
    mut plan: Plan,
    input: GuardInput<'_>,
    commit_dir: &Path,
    prepared: Option<WritePrep>,
) -> Result<Outcome, Error> {
    let parallelism = config.parallelism;
    if config.no_builds {
        // Not shown in the plan either: this apply starts none.
        plan.builds.clear();
    }
    for e in &plan.errors {
        eprintln!("error: {e}");
    }
    engine::guard(&plan, input, config.guards)?;
    if !plan.unchecked.is_empty() {
        // Only secrets of existing objects are left here (one that must be sent was refused).
        eprintln!(
            "warning: not checked, so not written (they cannot be resolved here): {}",
            crate::render::unchecked_line(&plan)
        );
    }
    if matches!(config.source, PlanSource::Saved(_)) {
        engine::check_stale(target, &plan, parallelism).await?;
    }

    let text = config.format == OutputFormat::Text;
    let skipped = detect_only_note(&plan);
    if !plan.has_changes() {
        if let Some(note) = &skipped {
            // The differences are shown (as plan shows them), then skipped.
            if text {
                let color = crate::output::stdout_color(ctx.no_color);
                crate::output::print(&crate::render::render_text(&plan, color))?;
                crate::output::println(note)?;
            } else {
                eprintln!("{note}");
            }
        }
        // Only `always` builds can be triggered by an apply without changes.
        if skipped.is_none() && text {
            crate::output::println(&format!(
                "No changes. The instance matches the manifests ({} unchanged).",
                plan.summary.unchanged
            ))?;
        }
        let ran = crate::apply::builds::run(&target.client, &plan.builds, &[], &[], parallelism).await;
        let report = crate::apply::report::Report::new(&plan, &[], Vec::new(), Vec::new()).with_builds(ran);
        crate::output::print(&if text {
            report.builds_text()
        } else {
            report.to_json()
        })?;
        return Ok(if report.success() {
            Outcome::Success
        } else {
            Outcome::Failed(Failure::Build)
        });
    }
    // `-q` with `--auto-approve`: no plan before the writes (nobody reviews it), only errors,
    // warnings and the report. A confirmation prompt still shows the plan it asks about.
    let quiet = ctx.quiet && config.auto_approve;
    if text && !quiet {
        let color = crate::output::stdout_color(ctx.no_color);
        crate::output::print(&crate::render::render_text(&plan, color))?;
    } else if !text && !config.auto_approve {
        // stdout is for the JSON report: the person asked to confirm reads the plan on stderr.
        eprint!("{}", crate::render::render_text(&plan, false));
    }
    // Read off the runtime, so that Ctrl-C at the prompt is seen (and the lock released).
    let confirmed = config.auto_approve
        || tokio::task::spawn_blocking(confirm)
            .await
            .context("the confirmation prompt failed")??;
    if !confirmed {
        eprintln!("Apply cancelled; nothing was written.");
        return Ok(Outcome::Failed(Failure::Cancelled));
    }

    if let Some(note) = &skipped {
        if text {
            crate::output::println(note)?;
        } else {
            eprintln!("{note}");
        }
    }
    let show = crate::apply::progress::Show::for_stderr(ctx.quiet);
    let report = engine::write_showing(
        target,
        &plan,
        input.ledger,
        commit_dir,
        parallelism,
        show,
        prepared,
    )
    .await?;
    // Before the lock is released, not freed one allocation at a time: the process ends soon.
    leave_to_exit(plan);
    crate::output::print(&if text { report.to_text() } else { report.to_json() })?;
    Ok(if report.success() {
        Outcome::Success
    } else {
        Outcome::Failed(Failure::Apply)
    })
}

/// What apply says about the detect-only differences it leaves alone (`None`: there are none).
fn detect_only_note(plan: &Plan) -> Option<String> {
    let names: Vec<String> = plan
        .detect_only()
        .map(|o| format!("{} {}", o.kind, o.name))
        .collect();
    (!names.is_empty()).then(|| {
        format!(
            "Skipped {} detect-only resource(s) (dssctl.io/sync: detect-only), differences not written: {}",
            names.len(),
            names.join(", ")
        )
    })
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
