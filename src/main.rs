//! The `dssctl` binary: parse the command line, set up logging, dispatch, report errors and map
//! them to the documented exit codes. Behaviour lives in the library.

use std::process::ExitCode;

use clap::Parser;
use dssctl::cli::{Cli, Command};

fn main() -> ExitCode {
    dssctl::install_crypto_provider();
    let cli = Cli::parse();
    // The daemon's log is its output: it reports at info level unless asked otherwise.
    init_logging(&cli.global, matches!(cli.command, Command::Watch(_)));
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Plan(args) => dssctl::plan_command::run(args, cli.global.no_color).await,
            Command::Apply(args) => dssctl::apply::run(args, cli.global.no_color).await,
            Command::Emulator(args) => dssctl::emulator::command::run(args).await,
            Command::Validate(args) => dssctl::manifest::commands::validate(&args),
            Command::Schema(args) => dssctl::manifest::commands::schema(&args),
            Command::Export(args) => dssctl::export::run(args).await,
            Command::Build(args) => {
                dssctl::build::command::run(args, cli.global.no_color, cli.global.quiet).await
            }
            Command::Watch(args) => dssctl::daemon::run(args).await,
            Command::Completions(args) => dssctl::completions::completions(&args),
            Command::Man(args) => dssctl::completions::man(&args),
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}

/// Logs go to stderr: warnings by default, `-v` info, `-vv` debug, `-vvv` trace (dssctl's own
/// events; dependencies stay at warnings), `-q` errors only; `RUST_LOG` overrides.
fn init_logging(global: &dssctl::cli::GlobalArgs, daemon: bool) {
    let verbose = global.verbose.saturating_add(u8::from(daemon));
    let level = match (global.quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("warn,dssctl={level}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match global.log_format {
        dssctl::cli::LogFormat::Json => builder.json().try_init(),
        dssctl::cli::LogFormat::Text => builder.with_ansi(false).try_init(),
    };
}
