//! `dssctl plan`: load, observe and plan through the engine, render to stdout, optionally save
//! the plan. Outcomes: success (no changes, or changes without `--detailed-exitcode`), changes
//! (with `--detailed-exitcode`), or a failure when the plan has errors.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::ArgMatches;

use super::{Context, ParallelismArgs, TargetArgs, TargetingArgs, hinted, leave_to_exit, load_connected};
use crate::error::{Error, Failure, Outcome};
use crate::render::{Format, render, render_json};
use crate::target::TargetConfig;

/// `dssctl plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Manifest files or directories (read recursively for *.yaml / *.yml), or an
    /// Environment's directory or file.
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub(crate) format: Format,
    /// Exit 0 when there is no change, 2 when there are changes, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Save the plan (JSON, with the fingerprints `apply --plan` checks) to FILE.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Fail (exit 1) when a secret cannot be resolved, instead of showing it as not checked.
    #[arg(long)]
    pub require_secrets: bool,
    #[command(flatten)]
    pub(crate) targeting: TargetingArgs,
    #[command(flatten)]
    pub(crate) parallelism: ParallelismArgs,
}

/// The resolved configuration of `dssctl plan`.
#[derive(Debug)]
pub(crate) struct PlanConfig {
    pub paths: Vec<PathBuf>,
    pub target: TargetConfig,
    pub(crate) format: Format,
    pub detailed_exitcode: bool,
    pub out: Option<PathBuf>,
    pub require_secrets: bool,
    pub targeting: crate::engine::Targeting,
    pub parallelism: usize,
}

impl PlanArgs {
    pub(crate) fn resolve(self, matches: &ArgMatches) -> Result<PlanConfig, Error> {
        let mut target = self.target.resolve(matches);
        super::environment_stack(&mut target, &self.paths, matches);
        Ok(PlanConfig {
            paths: self.paths,
            target,
            format: self.format,
            detailed_exitcode: self.detailed_exitcode,
            out: self.out,
            require_secrets: self.require_secrets,
            targeting: self.targeting.resolve()?,
            parallelism: self.parallelism.get(),
        })
    }
}

/// `--require-secrets`: every secret that could not be resolved is a plan error.
fn require_secrets(plan: &mut crate::plan::Plan) {
    for u in std::mem::take(&mut plan.unchecked) {
        plan.errors.push(crate::plan::PlanError {
            kind: u.kind,
            name: u.name.clone(),
            origin: plan
                .origins
                .get(&crate::plan::ResourceId::new(u.kind, u.name.clone()))
                .map(ToString::to_string),
            message: format!("cannot resolve the secret {}: {}", u.path, u.reason),
            hint: Some("--require-secrets is given".into()),
        });
    }
}

pub(super) async fn run(config: PlanConfig, ctx: Context) -> Result<Outcome, Error> {
    hinted(&config.target, plan(&config, ctx).await)
}

async fn plan(config: &PlanConfig, ctx: Context) -> Result<Outcome, Error> {
    let (desired, target) = load_connected(&config.paths, &config.target, config.parallelism).await?;
    let (planned, target) =
        crate::engine::plan(target, &desired, &config.targeting, config.parallelism).await?;
    target.close().await;
    // plan takes no lock, but says when a run holds one.
    super::lock::notice(planned.observed.global_variables.as_ref(), &config.target.stack);
    let mut plan = planned.plan;
    // The command ends with the process (freeing these was about 6% of a converged plan's CPU).
    leave_to_exit(planned.observed);
    leave_to_exit(desired);
    if config.require_secrets {
        require_secrets(&mut plan);
    } else if !plan.unchecked.is_empty() {
        eprintln!(
            "warning: {} secret(s) not checked (they cannot be resolved here; the plan neither compares nor \
             writes them on existing objects, and apply must resolve those it sends): {}",
            plan.unchecked.len(),
            crate::render::unchecked_line(&plan)
        );
    }
    let color = config.format == Format::Text && crate::output::stdout_color(ctx.no_color);
    let out = render(&plan, config.format, color);
    if config.format != Format::Text {
        // Text shows its errors inline; the other formats are for machines, so a person
        // reading the CI log sees them on stderr too.
        for err in &plan.errors {
            eprintln!("error: {err}");
        }
    }
    crate::output::print(&out)?;
    if let Some(path) = &config.out {
        std::fs::write(path, render_json(&plan))
            .with_context(|| format!("cannot write the plan to {}", path.display()))?;
    }
    Ok(if !plan.errors.is_empty() {
        Outcome::Failed(Failure::PlanErrors)
    } else if config.detailed_exitcode && plan.has_changes() {
        Outcome::Changes
    } else {
        Outcome::Success
    })
}
