//! The command line: the clap definitions, and one small module per command that turns its
//! arguments into a resolved configuration before any domain code runs (ripgrep's low-level
//! args → high-level args), then calls the engine or the domain module that does the work.
//! Nothing outside this module imports clap; the domain's option types get their clap
//! `ValueEnum` here.
//!
//! The flags several commands share are declared once: [`TargetArgs`] (where DSS is),
//! [`ParallelismArgs`] (`--parallelism`), [`OutputArgs`] (`--format text|json`),
//! [`TargetingArgs`] (`--target`, `--exclude`) of plan and apply, and
//! `lock::LockArgs` (`--lock-timeout`) of the commands that write.
//!
//! Every command returns `Result<Outcome, Error>` ([`crate::error`]); `main` reports the
//! error and exits with the code of the one exit-code table.

mod apply;
mod build;
mod completions;
mod emulator;
mod export;
mod lock;
mod manifests;
mod plan;
mod render;
mod watch;

use std::path::PathBuf;

use clap::builder::PossibleValue;
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::client::Secret;
use crate::error::{Error, Outcome};
use crate::manifest::Declared;
use crate::render::{Format, OutputFormat};
use crate::target::{KeySetting, Source, TargetConfig};

/// Manage Dataiku DSS instances from YAML manifests kept in Git.
#[derive(Debug, Parser)]
#[command(name = "dssctl", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// More log output (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less output.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Never colour the output (also: NO_COLOR).
    #[arg(long, global = true)]
    pub(crate) no_color: bool,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read the live state and print what apply would do.
    Plan(plan::PlanArgs),
    /// Plan, confirm, and write the changes (or apply a saved plan with --plan).
    Apply(apply::ApplyArgs),
    /// Run the local DSS API emulator.
    Emulator(emulator::EmulatorArgs),
    /// Parse and check manifests offline (no network); exit 1 on any error.
    Validate(manifests::ValidateArgs),
    /// Write the JSON Schemas of the manifest format.
    Schema(manifests::SchemaArgs),
    /// Print the manifests an Environment amounts to, after its values and patches (offline).
    Render(render::RenderArgs),
    /// Start a DSS job that builds some outputs and follow it to its end.
    Build(build::BuildArgs),
    /// Keep the instance in line with a manifest directory: apply on every change, correct
    /// drift on an interval, serve health and metrics over HTTP.
    Watch(watch::WatchArgs),
    /// Write manifests from a live instance (to adopt it).
    Export(export::ExportArgs),
    /// Print the shell completion script of bash, zsh, fish or PowerShell.
    Completions(completions::CompletionsArgs),
    /// Print the man page, or write every command's page into a directory.
    Man(completions::ManArgs),
    /// Remove a stack's lock left by a run that is gone (--force while it has not expired).
    Unlock(lock::UnlockArgs),
}

impl Command {
    /// Whether this command is the daemon (whose log is its output).
    pub fn is_daemon(&self) -> bool {
        matches!(self, Command::Watch(_))
    }
}

/// What every command may need from the global options.
#[derive(Debug, Clone, Copy)]
struct Context {
    no_color: bool,
    quiet: bool,
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Invocation {
    /// A command to run, with the matches it came from (they say whether a value came from a
    /// flag or from the environment).
    Run(Box<Cli>, ArgMatches),
    /// Help or version, already printed on stdout: nothing left to do.
    Answered,
}

/// Parse the command line `args` (the program name first). Help and version are printed here,
/// through the one stdout writer, so that `dssctl --help > /dev/full` is an error (exit 1) as
/// for every other output and a closed pipe ends quietly; a command line clap refuses is
/// [`Error::Usage`], reported and mapped to its exit code by `main` like any other error.
pub fn parse<I, T>(args: I) -> Result<Invocation, Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = match Cli::command().try_get_matches_from(args) {
        Ok(matches) => matches,
        Err(err) => return clap_answer(&err),
    };
    let cli = Cli::from_arg_matches(&matches).map_err(|err| usage(&err))?;
    Ok(Invocation::Run(Box::new(cli), matches))
}

/// clap's answer when it did not give matches: help and version on stdout, anything else an
/// error for stderr.
fn clap_answer(err: &clap::Error) -> Result<Invocation, Error> {
    if err.use_stderr() {
        return Err(usage(err));
    }
    let rendered = err.render();
    let text = if crate::output::stdout_color(false) {
        rendered.ansi().to_string()
    } else {
        rendered.to_string()
    };
    crate::output::print(&text)?;
    Ok(Invocation::Answered)
}

/// A refused command line, coloured as clap colours it when stderr is a terminal.
fn usage(err: &clap::Error) -> Error {
    let rendered = err.render();
    Error::Usage(if crate::output::stderr_color(false) {
        rendered.ansi().to_string()
    } else {
        rendered.to_string()
    })
}

/// Run the command of `cli`; `matches` are the parsed arguments `cli` came from (they say
/// whether a value came from a flag or from the environment).
pub async fn run(cli: Cli, matches: &ArgMatches) -> Result<Outcome, Error> {
    let ctx = Context {
        no_color: cli.global.no_color,
        quiet: cli.global.quiet,
    };
    let empty = ArgMatches::default();
    let sub = matches.subcommand().map_or(&empty, |(_, m)| m);
    match cli.command {
        Command::Plan(args) => plan::run(args.resolve(sub)?, ctx).await,
        Command::Apply(args) => apply::run(args.resolve(sub)?, ctx).await,
        Command::Emulator(args) => emulator::run(args).await,
        Command::Validate(args) => manifests::validate(args),
        Command::Schema(args) => manifests::schema(args),
        Command::Render(args) => render::render(args),
        Command::Export(args) => export::run(args.resolve(sub)?).await,
        Command::Unlock(args) => lock::unlock(args.resolve(sub)?).await,
        Command::Build(args) => build::run(args.resolve(sub, ctx)?).await,
        Command::Watch(args) => watch::run(args.resolve(sub)?).await,
        Command::Completions(args) => completions::completions(&args),
        Command::Man(args) => completions::man(&args),
    }
}

/// Where the DSS instance is and how to authenticate (every networked command). Flags win
/// over the environment.
#[derive(Clone, clap::Args)]
pub struct TargetArgs {
    /// DSS base URL; without one, the embedded emulator runs with its state in .dssctl/local/.
    #[arg(long, env = "DSS_URL")]
    pub(crate) url: Option<String>,
    /// DSS API key.
    #[arg(long, env = "DSS_API_KEY", hide_env_values = true)]
    pub(crate) api_key: Option<String>,
    /// A file holding the DSS API key (used when no key is given directly).
    #[arg(long, env = "DSS_API_KEY_FILE", value_name = "FILE")]
    pub(crate) api_key_file: Option<PathBuf>,
    /// Accept any TLS certificate (self-signed test instances only).
    #[arg(long)]
    pub(crate) insecure: bool,
    /// A PEM file of CA certificates to trust.
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_cert: Option<PathBuf>,
    /// The ownership namespace: resources this stack manages are listed in its ledger.
    #[arg(long, env = "DSSCTL_STACK", default_value = "default")]
    pub(crate) stack: String,
}

// Hand-written so that the API key never reaches Debug output.
impl std::fmt::Debug for TargetArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetArgs")
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "(sensitive)"))
            .field("api_key_file", &self.api_key_file)
            .field("insecure", &self.insecure)
            .field("ca_cert", &self.ca_cert)
            .field("stack", &self.stack)
            .finish()
    }
}

fn source_of(matches: &ArgMatches, id: &str) -> Source {
    match matches.value_source(id) {
        Some(ValueSource::EnvVariable) => Source::Env,
        _ => Source::Flag,
    }
}

impl TargetArgs {
    /// The target configuration: the URL with an API path at its end taken off (with a note
    /// on stderr), the key setting with where it came from.
    pub(crate) fn resolve(self, matches: &ArgMatches) -> TargetConfig {
        let url = self
            .url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(|given| {
                let source = source_of(matches, "url");
                let (base, stripped) = crate::target::base_url(given);
                if stripped {
                    eprintln!(
                        "note: {} {given} is an API address; using the instance's base URL {base}",
                        match source {
                            Source::Flag => "--url",
                            Source::Env => "DSS_URL",
                        }
                    );
                }
                (base, source)
            });
        let key = match (self.api_key.filter(|k| !k.is_empty()), self.api_key_file) {
            (Some(key), _) => Some(KeySetting::Direct {
                key: Secret::new(key.trim()),
                source: source_of(matches, "api_key"),
            }),
            (None, Some(path)) => Some(KeySetting::File {
                path,
                source: source_of(matches, "api_key_file"),
            }),
            (None, None) => None,
        };
        TargetConfig {
            url,
            key,
            insecure: self.insecure,
            ca_cert: self.ca_cert,
            stack: self.stack,
        }
    }
}

/// The stack a command on `paths` uses: `--stack` or `DSSCTL_STACK` when given, else the
/// `spec.stack` of the Environment the paths hold, else `default`. Read before the load so that
/// the target is complete when the command starts; a broken Environment is reported by the
/// load itself.
fn environment_stack(target: &mut TargetConfig, paths: &[PathBuf], matches: &ArgMatches) {
    if matches.value_source("stack") != Some(ValueSource::DefaultValue) {
        return;
    }
    if let Some(stack) = crate::manifest::entry_environment(paths).and_then(|env| env.stack) {
        target.stack = stack;
    }
}

/// `--parallelism`, shared by the commands that read (and write) concurrently.
#[derive(Debug, Clone, Copy, clap::Args)]
pub(crate) struct ParallelismArgs {
    /// At most this many requests (and, for apply, operations) in flight.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub(crate) parallelism: u16,
}

impl ParallelismArgs {
    pub(crate) fn get(self) -> usize {
        usize::from(self.parallelism)
    }
}

/// `--target` and `--exclude`, shared by plan and apply: a partial plan.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TargetingArgs {
    /// Plan only KIND/NAME (as written in manifests: Dataset/SALES.orders, Project/CHURN) and
    /// what it depends on. Repeatable.
    #[arg(long = "target", value_name = "KIND/NAME")]
    pub(crate) targets: Vec<String>,
    /// Leave KIND/NAME, and whatever depends on it, out of the plan. Repeatable.
    #[arg(long = "exclude", value_name = "KIND/NAME")]
    pub(crate) excludes: Vec<String>,
}

impl TargetingArgs {
    /// The parsed selectors (a malformed one or an unknown kind is an error before any read).
    pub(crate) fn resolve(self) -> Result<crate::engine::Targeting, Error> {
        let parse = |list: Vec<String>, flag: &str| {
            list.iter()
                .map(|t| {
                    crate::plan::targeting::parse_selector(t)
                        .map_err(|e| Error::from(anyhow::anyhow!("{flag}: {e}")))
                })
                .collect::<Result<Vec<_>, Error>>()
        };
        Ok(crate::engine::Targeting {
            targets: parse(self.targets, "--target")?,
            excludes: parse(self.excludes, "--exclude")?,
        })
    }
}

/// `--format text|json`, shared by the commands whose result is for people or machines.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct OutputArgs {
    /// Output format on stdout: text for people, json for machines.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub(crate) format: OutputFormat,
}

impl ValueEnum for OutputFormat {
    fn value_variants<'a>() -> &'a [Self] {
        &[OutputFormat::Text, OutputFormat::Json]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(match self {
            OutputFormat::Text => "text",
            OutputFormat::Json => "json",
        }))
    }
}

impl ValueEnum for Format {
    fn value_variants<'a>() -> &'a [Self] {
        &[Format::Text, Format::Json, Format::Markdown]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Markdown => "markdown",
        }))
    }
}

impl ValueEnum for crate::emulator::CodeRecipes {
    fn value_variants<'a>() -> &'a [Self] {
        &[Self::Fail, Self::Skip]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            Self::Fail => {
                PossibleValue::new("fail").help("The job fails, and its log says the recipe was not run")
            }
            Self::Skip => {
                PossibleValue::new("skip").help("The recipe is marked done without running; the log says so")
            }
        })
    }
}

/// Load the manifests (their warnings printed on stderr), and connect to `target` meanwhile (see [`crate::engine::load_and_connect`]).
async fn load_connected(
    paths: &[PathBuf],
    target: &TargetConfig,
    parallelism: usize,
) -> Result<(Vec<Declared>, crate::target::Target), Error> {
    let (loaded, connected) = crate::engine::load_and_connect(paths, target, parallelism).await?;
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    Ok((loaded.resources, connected))
}

/// Leave `value` to the operating system instead of freeing it: for what a command holds
/// until the process ends (the manifests, the observed state, the plan). Thousands of
/// resources are millions of small allocations; freeing them one by one took about 0.4 s at
/// the end of an apply from empty of the benchmark, with the stack lock still held.
fn leave_to_exit<T>(value: T) {
    std::mem::forget(value);
}

/// Attach the target's hints (where the key or the URL came from) to an error of a
/// networked command.
fn hinted(target: &TargetConfig, result: Result<Outcome, Error>) -> Result<Outcome, Error> {
    result.map_err(|e| e.with_hint(|err| target.hint(err)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_target_remembers_where_the_url_came_from() {
        let matches = Cli::command()
            .try_get_matches_from([
                "dssctl",
                "plan",
                "--url",
                "https://dss:1/public/api/",
                "--api-key",
                "k",
            ])
            .unwrap();
        let cli = <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap();
        let Command::Plan(args) = cli.command else {
            panic!("not plan")
        };
        let sub = matches.subcommand().unwrap().1;
        let target = args.target.resolve(sub);
        assert_eq!(target.url, Some(("https://dss:1".into(), Source::Flag)));
        assert!(matches!(
            target.key,
            Some(KeySetting::Direct {
                source: Source::Flag,
                ..
            })
        ));
    }
}
