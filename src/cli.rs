//! The command line: clap definitions only, no behaviour. `main.rs` dispatches each command to
//! the module that owns it.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
    pub no_color: bool,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the DSS instance is and how to authenticate (every networked command). Flags win
/// over the environment.
#[derive(Clone, clap::Args)]
pub struct TargetArgs {
    /// DSS base URL; without one, the embedded emulator runs with its state in .dssctl/local/.
    #[arg(long, env = "DSS_URL")]
    pub url: Option<String>,
    /// DSS API key.
    #[arg(long, env = "DSS_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// A file holding the DSS API key (used when no key is given directly).
    #[arg(long, env = "DSS_API_KEY_FILE", value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,
    /// Accept any TLS certificate (self-signed test instances only).
    #[arg(long)]
    pub insecure: bool,
    /// A PEM file of CA certificates to trust.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// The ownership namespace: resources this stack manages are listed in its ledger.
    #[arg(long, env = "DSSCTL_STACK", default_value = "default")]
    pub stack: String,
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

/// `dssctl plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Manifest files or directories (read recursively for *.yaml / *.yml).
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = crate::render::Format::Text)]
    pub format: crate::render::Format,
    /// Exit 0 when there is no change, 2 when there are changes, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Save the plan (JSON, with the fingerprints `apply --plan` checks) to FILE.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// At most this many requests in flight.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallelism: u16,
}

/// `dssctl apply`.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// Manifest files or directories (read recursively for *.yaml / *.yml).
    #[arg(default_value = ".", conflicts_with = "plan")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Apply this saved plan (from `plan --out`) exactly, after checking that nothing it
    /// writes changed since (exit 4 if something did).
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long)]
    pub auto_approve: bool,
    /// Refuse (exit 3) to delete more than N resources; default: the larger of 10 and 10% of
    /// the resources in the stack's ledger.
    #[arg(long, value_name = "N")]
    pub max_deletes: Option<usize>,
    /// Allow exactly N deletions beyond --max-deletes.
    #[arg(long, value_name = "N")]
    pub allow_deletes: Option<usize>,
    /// Output format of the report.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// At most this many operations (and requests) in flight.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallelism: u16,
    /// Do not start the `Build` manifests that the apply triggers.
    #[arg(long)]
    pub no_builds: bool,
}

/// How `apply` prints its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read the live state and print what apply would do.
    Plan(PlanArgs),
    /// Plan, confirm, and write the changes (or apply a saved plan with --plan).
    Apply(ApplyArgs),
    /// Run the local DSS API emulator.
    Emulator(EmulatorArgs),
    /// Parse and check manifests offline (no network); exit 1 on any error.
    Validate(ValidateArgs),
    /// Write the JSON Schemas of the manifest format.
    Schema(SchemaArgs),
    /// Start a DSS job that builds some outputs and follow it to its end.
    Build(BuildArgs),
    /// Keep the instance in line with a manifest directory: apply on every change, correct
    /// drift on an interval, serve health and metrics over HTTP.
    Watch(WatchArgs),
    /// Write manifests from a live instance (to adopt it).
    Export(ExportArgs),
}

/// `dssctl watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// The manifest directory to watch (recursively; `.dssctl/` and hidden directories aside).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Time between two drift checks against the live instance (±10% jitter), e.g. 5m, 30s.
    #[arg(long, default_value = "5m", value_parser = parse_interval)]
    pub interval: std::time::Duration,
    /// Address of the HTTP endpoints /healthz, /readyz and /metrics (port 0 picks a free port;
    /// the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:9898")]
    pub listen: std::net::SocketAddr,
    /// Only report drift found on the interval; do not correct it.
    #[arg(long)]
    pub no_self_heal: bool,
    /// Apply deletions of resources no longer declared (otherwise they are reported as pending).
    #[arg(long)]
    pub prune: bool,
    /// Refuse to delete more than N resources in one reconcile (see `apply --max-deletes`).
    #[arg(long, value_name = "N")]
    pub max_deletes: Option<usize>,
    /// At most this many requests in flight.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallelism: u16,
}

/// `dssctl export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Directory to write the manifests into.
    #[arg(long, default_value = "exported")]
    pub out: PathBuf,
    /// Overwrite files that already exist.
    #[arg(long)]
    pub force: bool,
    /// Export only this project (repeatable); default: every project.
    #[arg(long, value_name = "KEY")]
    pub project: Vec<String>,
    /// The kinds to export, comma-separated; default: all.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub include: Option<Vec<ExportKind>>,
    #[command(flatten)]
    pub target: TargetArgs,
    /// At most this many requests in flight.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallelism: u16,
}

fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e}"))?;
    if d < std::time::Duration::from_millis(100) {
        return Err(format!("{text:?}: the interval must be at least 100ms"));
    }
    Ok(d)
}

/// What `export --include` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportKind {
    Projects,
    Datasets,
    Connections,
    Users,
    Groups,
    Variables,
}

impl ExportKind {
    /// Every kind, the default.
    pub const ALL: [ExportKind; 6] = [
        ExportKind::Projects,
        ExportKind::Datasets,
        ExportKind::Connections,
        ExportKind::Users,
        ExportKind::Groups,
        ExportKind::Variables,
    ];
}

/// `dssctl validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Manifest files or directories (read recursively for *.yaml / *.yml); default `.`.
    pub paths: Vec<PathBuf>,
    /// Output format: text, or a JSON array of diagnostics (for CI annotations).
    #[arg(long, value_enum, default_value_t = DiagnosticFormat::Text)]
    pub format: DiagnosticFormat,
}

/// How `validate` prints its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiagnosticFormat {
    Text,
    Json,
}

/// `dssctl schema`.
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// Directory to write `dssctl.schema.json` and one `<kind>.schema.json` per kind into;
    /// without it, the all-kinds schema is printed.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `dssctl emulator`.
#[derive(Debug, clap::Args)]
pub struct EmulatorArgs {
    /// Address to listen on (port 0 picks a free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:11200")]
    pub listen: String,
    /// Directory of the persisted state; without it the state lives in memory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The admin API key; generated and printed when not given.
    #[arg(long, env = "DSS_EMULATOR_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// A JSON or YAML file of restricted API keys (see docs/emulator.md).
    #[arg(long)]
    pub keys: Option<PathBuf>,
    /// Delay added to every API request (e.g. 20ms).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0ms")]
    pub latency: std::time::Duration,
    /// Share of API requests answered 503, between 0 and 1 (e.g. 0.1).
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Maximum API requests per second; beyond, 429 with Retry-After.
    #[arg(long)]
    pub rate_limit: Option<u32>,
    /// Time a job takes from start to DONE (e.g. 200ms).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "300ms")]
    pub job_duration: std::time::Duration,
    /// What a job does with a recipe whose code the emulator never runs (python, R, shell,
    /// visual recipes other than sync): `fail` the job, or `skip` it and mark it done.
    #[arg(long, value_enum, default_value = "fail")]
    pub code_recipes: crate::emulator::CodeRecipes,
}

/// `dssctl build`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 when the job ends DONE; 1 when it ends FAILED or ABORTED, \
passes --timeout (dssctl aborts it), or is interrupted by Ctrl-C or SIGTERM (dssctl aborts it and \
waits for DSS to confirm); 130 when a second Ctrl-C stops dssctl before the abort was confirmed."
)]
pub struct BuildArgs {
    /// The project key.
    pub project: String,
    /// The outputs to build: dataset names of the project, or PROJECT.DATASET.
    #[arg(required = true)]
    pub outputs: Vec<String>,
    /// The job type: RECURSIVE_BUILD, NON_RECURSIVE_FORCED_BUILD, RECURSIVE_FORCED_BUILD or
    /// RECURSIVE_MISSING_ONLY_BUILD (case-insensitive; `-` for `_` accepted).
    #[arg(long, default_value = "RECURSIVE_BUILD", value_parser = parse_build_mode)]
    pub mode: crate::build::BuildMode,
    /// Abort the job when it has not ended after this long (e.g. 30m, 1h); default: no limit.
    #[arg(long, value_parser = crate::build::parse_duration)]
    pub timeout: Option<std::time::Duration>,
    /// Time between two reads of the job's state.
    #[arg(long, default_value = "1s", value_parser = crate::build::parse_duration)]
    pub poll: std::time::Duration,
    /// Output format of the result on stdout (progress and the job log go to stderr).
    #[arg(long, value_enum, default_value_t = BuildFormat::Text)]
    pub format: BuildFormat,
    #[command(flatten)]
    pub target: TargetArgs,
}

fn parse_build_mode(text: &str) -> Result<crate::build::BuildMode, String> {
    text.parse()
}

/// How `build` prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BuildFormat {
    Text,
    Json,
}
