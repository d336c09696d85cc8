//! `dssctl build`: resolve the flags into a [`BuildConfig`] (the request checked before
//! anything is started) and follow the job to its end ([`follow`]).

use std::time::Duration;

use clap::ArgMatches;

use super::{Context, OutputArgs, TargetArgs, hinted};
mod follow;

use crate::build::{BuildMode, BuildRequest};
use crate::error::{Error, Outcome};
use follow::BuildConfig;

/// `dssctl build`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 when the job ends DONE (a scenario run SUCCESS); 1 when it ends FAILED or ABORTED, \
passes --timeout (dssctl aborts it), or is interrupted by Ctrl-C or SIGTERM (dssctl aborts it and \
waits for DSS to confirm); 130 when a second Ctrl-C stops dssctl before the abort was confirmed."
)]
pub struct BuildArgs {
    /// The project key.
    pub project: String,
    /// The outputs to build: dataset names of the project, or PROJECT.DATASET.
    #[arg(required_unless_present = "scenario")]
    pub outputs: Vec<String>,
    /// Run this scenario of the project (its id) instead of a job, and follow the run to its
    /// outcome: exit 0 when it ends SUCCESS, 1 when it ends FAILED or ABORTED (the failing
    /// step's log is printed).
    #[arg(long, value_name = "ID", conflicts_with_all = ["outputs", "mode"])]
    pub scenario: Option<String>,
    /// The job type: RECURSIVE_BUILD, NON_RECURSIVE_FORCED_BUILD, RECURSIVE_FORCED_BUILD or
    /// RECURSIVE_MISSING_ONLY_BUILD (case-insensitive; `-` for `_` accepted).
    #[arg(long, default_value = "RECURSIVE_BUILD", value_parser = parse_build_mode)]
    pub mode: BuildMode,
    /// Abort the job when it has not ended after this long (e.g. 30m, 1h); default: no limit.
    #[arg(long, value_parser = crate::build::parse_duration)]
    pub timeout: Option<Duration>,
    /// Time between two reads of the job's state.
    #[arg(long, default_value = "1s", value_parser = crate::build::parse_duration)]
    pub poll: Duration,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub target: TargetArgs,
}

fn parse_build_mode(text: &str) -> Result<BuildMode, String> {
    text.parse()
}

impl BuildArgs {
    pub(super) fn resolve(self, matches: &ArgMatches, ctx: Context) -> Result<BuildConfig, Error> {
        let mut request = match &self.scenario {
            Some(id) => BuildRequest::scenario(&self.project, id),
            None => BuildRequest::new(&self.project, &self.outputs, self.mode),
        }
        .map_err(anyhow::Error::msg)?;
        request.timeout = self.timeout;
        request.poll = self.poll;
        Ok(BuildConfig {
            request,
            format: self.output.format,
            target: self.target.resolve(matches),
            color: crate::output::stderr_color(ctx.no_color),
            quiet: ctx.quiet,
        })
    }
}

pub(super) async fn run(config: BuildConfig) -> Result<Outcome, Error> {
    hinted(&config.target, follow::run(&config).await)
}
