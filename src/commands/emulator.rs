//! `dssctl emulator`: resolve the flags into [`EmulatorSettings`], start the emulator, print
//! the address line (and the admin key when it was generated), and serve until SIGTERM or
//! Ctrl-C, then stop cleanly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use crate::emulator::command::EmulatorSettings;
use crate::error::{Error, Outcome};

/// `dssctl emulator`.
#[derive(Debug, clap::Args)]
pub struct EmulatorArgs {
    /// Address to listen on (port 0 picks a free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:11200")]
    pub(crate) listen: String,
    /// Directory of the persisted state; without it the state lives in memory.
    #[arg(long)]
    pub(crate) data_dir: Option<PathBuf>,
    /// The admin API key; generated and printed when not given.
    #[arg(long, env = "DSS_EMULATOR_ADMIN_KEY", hide_env_values = true)]
    pub(crate) admin_key: Option<String>,
    /// A JSON or YAML file of restricted API keys (see docs/emulator.md).
    #[arg(long)]
    pub(crate) keys: Option<PathBuf>,
    /// How long every API answer takes from the request's arrival, its handling included
    /// (e.g. 20ms).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0ms")]
    pub(crate) latency: Duration,
    /// Share of API requests answered 503, between 0 and 1 (e.g. 0.1).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) error_rate: f64,
    /// Maximum API requests per second; beyond, 429 with Retry-After.
    #[arg(long)]
    pub(crate) rate_limit: Option<u32>,
    /// Time a job takes from start to DONE (e.g. 200ms).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "300ms")]
    pub(crate) job_duration: Duration,
    /// Start with nothing in it: no built-in admin user, groups or connections.
    #[arg(long)]
    pub(crate) empty: bool,
    /// Status answered to a create whose name is taken: 409 or 500 (see docs/emulator.md).
    #[arg(long, default_value = "409")]
    pub(crate) conflict_status: crate::emulator::ConflictStatus,
    /// What a job does with a recipe whose code the emulator never runs (python, R, shell,
    /// visual recipes other than sync): `fail` the job, or `skip` it and mark it done.
    #[arg(long, value_enum, default_value = "fail")]
    pub(crate) code_recipes: crate::emulator::CodeRecipes,
}

impl EmulatorArgs {
    pub(crate) fn resolve(self) -> Result<EmulatorSettings, Error> {
        let listen: SocketAddr = self.listen.parse().with_context(|| {
            format!(
                "--listen '{}' is not an address like 127.0.0.1:11200",
                self.listen
            )
        })?;
        Ok(EmulatorSettings {
            listen,
            data_dir: self.data_dir,
            admin_key: self.admin_key,
            keys: self.keys,
            latency: self.latency,
            error_rate: self.error_rate,
            rate_limit: self.rate_limit,
            job_duration: self.job_duration,
            empty: self.empty,
            conflict_status: self.conflict_status,
            code_recipes: self.code_recipes,
        })
    }
}

pub(super) async fn run(args: EmulatorArgs) -> Result<Outcome, Error> {
    serve(&args.resolve()?).await
}

/// Run the command until a stop signal.
async fn serve(settings: &EmulatorSettings) -> Result<Outcome, Error> {
    let (config, generated) = crate::emulator::command::config_from(settings)?;
    let admin_key = config.admin_key.clone();
    let running = crate::emulator::start(config, settings.listen).await?;
    let mut text = format!("dssctl emulator listening on {}\n", running.url);
    if generated {
        // Printed only when generated: the user has no other way to learn it.
        text.push_str(&format!("admin key: {admin_key}\n"));
    }
    if let Err(err) = crate::output::print(&text) {
        running.shutdown().await;
        return Err(err.into());
    }
    wait_for_stop().await?;
    running.shutdown().await;
    Ok(Outcome::Success)
}

async fn wait_for_stop() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot listen for SIGTERM")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("cannot listen for Ctrl-C")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("cannot listen for Ctrl-C")?;
    Ok(())
}
