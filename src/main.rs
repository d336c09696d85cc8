//! The `dssctl` binary: parse the command line, set up logging, dispatch, report errors and map
//! them to the documented exit codes. Behaviour lives in the library.

use std::process::ExitCode;

use clap::Parser;
use dssctl::cli::{Cli, Command};

fn main() -> ExitCode {
    dssctl::install_crypto_provider();
    let cli = Cli::parse();
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
