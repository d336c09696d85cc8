//! `dssctl emulator`: turn the command-line arguments into an [`EmulatorConfig`], start the
//! emulator, print the address line (and the admin key when it was generated), and serve until
//! SIGTERM or Ctrl-C, then stop cleanly (exit 0).

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context as _;

use super::{EmulatorConfig, auth, start};
use crate::cli::EmulatorArgs;

/// Build the configuration from the arguments; also says whether the admin key was generated.
pub fn config_from_args(args: &EmulatorArgs) -> anyhow::Result<(EmulatorConfig, bool)> {
    let keys = match &args.keys {
        Some(path) => auth::load_keys_file(path)?,
        None => Vec::new(),
    };
    let (admin_key, generated) = match &args.admin_key {
        Some(k) if !k.trim().is_empty() => (k.clone(), false),
        Some(_) => anyhow::bail!("--admin-key is empty"),
        None => (auth::generate_key(), true),
    };
    if !(0.0..=1.0).contains(&args.error_rate) {
        anyhow::bail!("--error-rate must be between 0 and 1, got {}", args.error_rate);
    }
    if args.rate_limit == Some(0) {
        anyhow::bail!("--rate-limit must be at least 1 (requests per second)");
    }
    Ok((
        EmulatorConfig {
            data_dir: args.data_dir.clone(),
            admin_key,
            keys,
            latency: args.latency,
            error_rate: args.error_rate,
            rate_limit: args.rate_limit,
            job_duration: args.job_duration,
            code_recipes: args.code_recipes,
        },
        generated,
    ))
}

/// Run the command until a stop signal.
pub async fn run(args: EmulatorArgs) -> anyhow::Result<ExitCode> {
    let listen: SocketAddr = args.listen.parse().with_context(|| {
        format!(
            "--listen '{}' is not an address like 127.0.0.1:11200",
            args.listen
        )
    })?;
    let (config, generated) = config_from_args(&args)?;
    let admin_key = config.admin_key.clone();
    let running = start(config, listen).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "dssctl emulator listening on {}", running.url)?;
        if generated {
            // Printed only when generated: the user has no other way to learn it.
            writeln!(out, "admin key: {admin_key}")?;
        }
        out.flush()?;
    }
    wait_for_stop().await?;
    running.shutdown().await;
    Ok(ExitCode::SUCCESS)
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
