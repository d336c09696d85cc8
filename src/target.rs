//! Target resolution for every networked command: which DSS to talk to and with which key
//! (`--url`/`DSS_URL`, `--api-key`/`DSS_API_KEY`/`DSS_API_KEY_FILE`, `--insecure`,
//! `--ca-cert`), and the stack (`--stack`/`DSSCTL_STACK`). With no URL at all, the embedded
//! emulator is started in-process on a loopback port with its state in `.dssctl/local/`
//! under the current directory, and stderr says so on every run.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::cli::TargetArgs;
use crate::client::{ClientConfig, DssClient, Secret};
use crate::emulator::{EmulatorConfig, RunningEmulator};
use crate::plan::ledger::validate_stack_name;

/// Where the embedded emulator keeps its state, relative to the current directory.
pub const LOCAL_STATE_DIR: &str = ".dssctl/local";

/// A connected target: a client, the stack, and the embedded emulator when one was started.
pub struct Target {
    pub client: DssClient,
    /// The base URL (never with credentials), as shown in plans.
    pub url: String,
    pub stack: String,
    local: Option<RunningEmulator>,
}

impl Target {
    /// Whether this is the embedded emulator.
    pub fn is_local(&self) -> bool {
        self.local.is_some()
    }

    /// Stop the embedded emulator, if any (its state is already on disk).
    pub async fn close(self) {
        if let Some(emulator) = self.local {
            emulator.shutdown().await;
        }
    }
}

/// The API key from the flags or the environment: `--api-key`/`DSS_API_KEY` first, then the
/// file of `--api-key-file`/`DSS_API_KEY_FILE` (trailing whitespace removed).
pub fn api_key(args: &TargetArgs) -> anyhow::Result<Option<Secret>> {
    if let Some(key) = args.api_key.as_deref().filter(|k| !k.is_empty()) {
        return Ok(Some(Secret::new(key.trim())));
    }
    match &args.api_key_file {
        None => Ok(None),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the API key file {}", path.display()))?;
            let key = text.trim();
            if key.is_empty() {
                bail!("the API key file {} is empty", path.display());
            }
            Ok(Some(Secret::new(key)))
        }
    }
}

/// Resolve the target and connect (starting the embedded emulator when no URL is given).
/// `parallelism` bounds the requests in flight.
pub async fn connect(args: &TargetArgs, parallelism: usize) -> anyhow::Result<Target> {
    validate_stack_name(&args.stack).map_err(anyhow::Error::msg)?;
    let url = args.url.as_deref().map(str::trim).filter(|u| !u.is_empty());
    let (config, local) = match url {
        Some(url) => {
            let key = api_key(args)?.with_context(|| {
                format!("no API key for {url}: give --api-key, DSS_API_KEY or DSS_API_KEY_FILE")
            })?;
            (ClientConfig::new(url, key), None)
        }
        None => {
            let dir = std::env::current_dir()
                .context("cannot read the current directory")?
                .join(LOCAL_STATE_DIR);
            let emulator = start_local(&dir).await?;
            eprintln!(
                "dssctl: no DSS URL given (--url or DSS_URL): using the embedded DSS emulator at {}, state in {}/",
                emulator.url, LOCAL_STATE_DIR
            );
            let config = ClientConfig::new(emulator.url.clone(), local_key());
            (config, Some(emulator))
        }
    };
    let config = ClientConfig {
        insecure: args.insecure,
        ca_cert: args.ca_cert.clone(),
        max_in_flight: parallelism.max(1),
        ..config
    };
    let client = DssClient::new(config).context("cannot set up the DSS client")?;
    Ok(Target {
        url: client.url().trim_end_matches('/').to_string(),
        client,
        stack: args.stack.clone(),
        local,
    })
}

/// The embedded emulator's admin key: fixed per process, never leaves it.
fn local_key() -> String {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let mut bytes = [0u8; 24];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
        hex::encode(bytes)
    })
    .clone()
}

async fn start_local(dir: &Path) -> anyhow::Result<RunningEmulator> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the local state directory {}", dir.display()))?;
    // The state holds the emulator's secrets and key: a `.gitignore` of `*` in `.dssctl/`
    // keeps a quickstart run inside an infrastructure repository from ever committing it.
    if let Some(state_root) = dir.parent() {
        let ignore = state_root.join(".gitignore");
        if !ignore.exists() {
            std::fs::write(&ignore, "*\n").with_context(|| format!("cannot write {}", ignore.display()))?;
        }
    }
    let config = EmulatorConfig {
        data_dir: Some(PathBuf::from(dir)),
        admin_key: local_key(),
        ..EmulatorConfig::default()
    };
    crate::emulator::start(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .context("cannot start the embedded DSS emulator")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> TargetArgs {
        TargetArgs {
            url: None,
            api_key: None,
            api_key_file: None,
            insecure: false,
            ca_cert: None,
            stack: "default".into(),
        }
    }

    #[test]
    fn the_key_flag_wins_over_the_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        std::fs::write(&file, "from-file\n").unwrap();
        let mut a = args();
        a.api_key_file = Some(file.clone());
        assert_eq!(api_key(&a).unwrap().unwrap().expose(), "from-file");
        a.api_key = Some("from-flag".into());
        assert_eq!(api_key(&a).unwrap().unwrap().expose(), "from-flag");
        assert!(!format!("{a:?}").contains("from-flag"));
        std::fs::write(&file, "\n").unwrap();
        a.api_key = None;
        assert!(api_key(&a).unwrap_err().to_string().contains("is empty"));
        assert!(api_key(&args()).unwrap().is_none());
    }

    #[tokio::test]
    async fn a_url_without_a_key_or_a_bad_stack_is_refused() {
        let mut a = args();
        a.url = Some("http://127.0.0.1:1".into());
        let err = connect(&a, 8).await.err().unwrap().to_string();
        assert!(err.contains("no API key"), "{err}");
        let mut a = args();
        a.stack = "no spaces".into();
        assert!(
            connect(&a, 8)
                .await
                .err()
                .unwrap()
                .to_string()
                .contains("stack name")
        );
    }
}
