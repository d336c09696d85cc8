//! `dssctl plan`: load and validate the manifests, connect to the target, observe, plan,
//! render to stdout, optionally save the plan; exit 0 (no changes, or changes without
//! `--detailed-exitcode`), 2 (changes, with `--detailed-exitcode`) or 1 (any error).

use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::{PlanArgs, TargetArgs};
use crate::manifest::Declared;
use crate::observe::observe;
use crate::plan::{Observed, Plan, PlanInput, plan};
use crate::render::{Format, render, render_json};
use crate::target::{Target, connect};

/// Whether to colour text written to stdout: not with `--no-color`, not with `NO_COLOR` set
/// (to anything non-empty), and only on a terminal.
pub fn stdout_color(no_color_flag: bool) -> bool {
    !no_color_flag
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::stdout().is_terminal()
}

/// Load the manifests of `paths`: warnings to stderr; every diagnostic in the error.
pub fn load_manifests(paths: &[std::path::PathBuf]) -> anyhow::Result<Vec<Declared>> {
    match crate::manifest::load_paths(paths) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("{w}");
            }
            Ok(loaded.resources)
        }
        Err(diagnostics) => anyhow::bail!("invalid manifests:\n{diagnostics}"),
    }
}

/// A plan made against a connected target, with what it was made from. `apply` executes
/// `plan` through `target.client` (the embedded emulator, when used, keeps running until
/// [`Target::close`]).
pub struct Planned {
    pub plan: Plan,
    pub desired: Vec<Declared>,
    pub observed: Observed,
    /// Requests made to read the live state (the formula of `plan::scope`).
    pub requests: usize,
    pub target: Target,
}

/// Load the manifests of `paths`, connect to the target, read the live state, and plan.
pub async fn plan_target(
    paths: &[std::path::PathBuf],
    target_args: &TargetArgs,
    parallelism: usize,
) -> anyhow::Result<Planned> {
    let desired = load_manifests(paths)?;
    let target = connect(target_args, parallelism).await?;
    let (plan, observed, requests) = match plan_on(&target, &desired, parallelism).await {
        Ok(planned) => planned,
        Err(err) => {
            target.close().await;
            return Err(err);
        }
    };
    Ok(Planned {
        plan,
        desired,
        observed,
        requests,
        target,
    })
}

/// Read the live state `desired` needs from an already-connected target, and plan. Returns
/// the plan, the observed state and the number of requests the reading took.
pub async fn plan_on(
    target: &Target,
    desired: &[Declared],
    parallelism: usize,
) -> anyhow::Result<(Plan, Observed, usize)> {
    let observation = observe(&target.client, desired, &target.stack, parallelism)
        .await
        .map_err(|err| anyhow::Error::new(err).context("cannot read the live state"))?;
    let requests = observation.requests();
    tracing::debug!(requests, "live state read");
    let plan = plan(&PlanInput {
        desired,
        observed: &observation.observed,
        stack: &target.stack,
        target: &target.url,
        resolve_secret: &|r, origin| {
            crate::manifest::resolve_secret(r, origin.base_dir()).map_err(|e| e.to_string())
        },
    });
    Ok((plan, observation.observed, requests))
}

/// Run `dssctl plan`.
pub async fn run(args: PlanArgs, no_color: bool) -> anyhow::Result<ExitCode> {
    let Planned { plan, target, .. } =
        plan_target(&args.paths, &args.target, usize::from(args.parallelism)).await?;
    target.close().await;
    let color = args.format == Format::Text && stdout_color(no_color);
    let out = render(&plan, args.format, color);
    if args.format != Format::Text {
        // Text shows its errors inline; the other formats are for machines, so a person
        // reading the CI log sees them on stderr too.
        for err in &plan.errors {
            eprintln!("error: {err}");
        }
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .context("cannot write the plan to stdout")?;
    if let Some(path) = &args.out {
        std::fs::write(path, render_json(&plan))
            .with_context(|| format!("cannot write the plan to {}", path.display()))?;
    }
    Ok(if !plan.errors.is_empty() {
        ExitCode::from(1)
    } else if args.detailed_exitcode && plan.has_changes() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
