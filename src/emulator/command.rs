//! The settings of `dssctl emulator` and the [`EmulatorConfig`] they make (keys loaded, the
//! admin key generated when none is given, fault rates checked). Serving them until a stop
//! signal is the command's, in `crate::commands`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{EmulatorConfig, auth};

/// The settings of `dssctl emulator`, as resolved from the command line.
#[derive(Debug, Clone)]
pub(crate) struct EmulatorSettings {
    pub listen: SocketAddr,
    /// Directory of the persisted state; `None`: in memory.
    pub data_dir: Option<PathBuf>,
    /// The admin API key; generated when `None`.
    pub admin_key: Option<String>,
    /// A JSON or YAML file of restricted API keys.
    pub keys: Option<PathBuf>,
    pub latency: Duration,
    pub error_rate: f64,
    pub rate_limit: Option<u32>,
    pub job_duration: Duration,
    /// Start with nothing in it (no built-in user, groups or connections).
    pub empty: bool,
    /// Status answered to a create whose name is taken.
    pub conflict_status: crate::emulator::ConflictStatus,
    /// What a job does with a recipe whose code the emulator never runs.
    pub code_recipes: crate::emulator::CodeRecipes,
}

/// Build the configuration from the settings; also says whether the admin key was generated.
pub(crate) fn config_from(settings: &EmulatorSettings) -> anyhow::Result<(EmulatorConfig, bool)> {
    let keys = match &settings.keys {
        Some(path) => auth::load_keys_file(path)?,
        None => Vec::new(),
    };
    let (admin_key, generated) = match &settings.admin_key {
        Some(k) if !k.trim().is_empty() => (k.clone(), false),
        Some(_) => anyhow::bail!("--admin-key is empty"),
        None => (auth::generate_key(), true),
    };
    if !(0.0..=1.0).contains(&settings.error_rate) {
        anyhow::bail!(
            "--error-rate must be between 0 and 1, got {}",
            settings.error_rate
        );
    }
    if settings.rate_limit == Some(0) {
        anyhow::bail!("--rate-limit must be at least 1 (requests per second)");
    }
    Ok((
        EmulatorConfig {
            data_dir: settings.data_dir.clone(),
            admin_key,
            keys,
            latency: settings.latency,
            error_rate: settings.error_rate,
            rate_limit: settings.rate_limit,
            job_duration: settings.job_duration,
            empty: settings.empty,
            conflict_status: settings.conflict_status,
            code_recipes: settings.code_recipes,
        },
        generated,
    ))
}
