//! Target resolution for every networked command: which DSS to talk to and with which key,
//! and the stack. The command edge resolves the flags and the environment into a
//! [`TargetConfig`] (remembering where the URL and the key came from, for the hints of
//! [`TargetConfig::hint`]); [`connect`] turns it into a client. With no URL at all, the
//! embedded emulator is started in-process on a loopback port with its state in
//! `.dssctl/local/` under the current directory, and stderr says so on every run.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::build::BuildError;
use crate::client::{ClientConfig, ClientError, DssClient, Secret};
use crate::emulator::{EmulatorConfig, RunningEmulator};
use crate::plan::ledger::validate_stack_name;

/// Where the embedded emulator keeps its state, relative to the current directory.
pub(crate) const LOCAL_STATE_DIR: &str = ".dssctl/local";

/// Where a setting came from: said in hints, so that the user knows what to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// A command-line flag (`--url`, `--api-key`, `--api-key-file`).
    Flag,
    /// An environment variable (`DSS_URL`, `DSS_API_KEY`, `DSS_API_KEY_FILE`).
    Env,
}

/// The API key as configured; the key itself is never shown.
#[derive(Clone)]
pub(crate) enum KeySetting {
    /// Given directly (`--api-key` or `DSS_API_KEY`).
    Direct { key: Secret, source: Source },
    /// A file holding the key (`--api-key-file` or `DSS_API_KEY_FILE`).
    File { path: PathBuf, source: Source },
}

/// The resolved target of a networked command.
#[derive(Clone)]
pub(crate) struct TargetConfig {
    /// The DSS base URL and where it came from; `None`: the embedded emulator.
    pub url: Option<(String, Source)>,
    pub key: Option<KeySetting>,
    pub insecure: bool,
    pub ca_cert: Option<PathBuf>,
    pub stack: String,
}

// Hand-written so that the API key never reaches Debug output.
impl std::fmt::Debug for TargetConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetConfig")
            .field("url", &self.url)
            .field("key", &self.key.as_ref().map(KeySetting::describe))
            .field("insecure", &self.insecure)
            .field("ca_cert", &self.ca_cert)
            .field("stack", &self.stack)
            .finish()
    }
}

impl KeySetting {
    /// Where the key came from, for messages: never the key.
    pub(crate) fn describe(&self) -> String {
        match self {
            KeySetting::Direct {
                source: Source::Flag, ..
            } => "the --api-key flag".into(),
            KeySetting::Direct {
                source: Source::Env, ..
            } => "the environment variable DSS_API_KEY".into(),
            KeySetting::File {
                path,
                source: Source::Flag,
            } => format!("the file {} (--api-key-file)", path.display()),
            KeySetting::File {
                path,
                source: Source::Env,
            } => format!("the file {} (DSS_API_KEY_FILE)", path.display()),
        }
    }
}

/// The URL suffixes of the API itself, which some people give instead of the base URL.
const API_SUFFIXES: [&str; 2] = ["/public/api", "/dip/publicapi"];

/// The instance's base URL for `url`: an API path at its end (`/public/api`,
/// `/dip/publicapi`) is removed, since the client adds the API path itself. Returns the base
/// and whether something was removed.
pub(crate) fn base_url(url: &str) -> (String, bool) {
    let trimmed = url.trim().trim_end_matches('/');
    for suffix in API_SUFFIXES {
        if let Some(base) = trimmed.strip_suffix(suffix) {
            return (base.to_string(), true);
        }
    }
    (url.trim().to_string(), false)
}

impl TargetConfig {
    /// The API key: given directly, or read from its file (trailing whitespace removed).
    pub(crate) fn api_key(&self) -> anyhow::Result<Option<Secret>> {
        match &self.key {
            None => Ok(None),
            Some(KeySetting::Direct { key, .. }) => Ok(Some(key.clone())),
            Some(KeySetting::File { path, .. }) => {
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

    /// A hint for an error a user can fix by changing the target: a key DSS refused (where
    /// the key came from), a connection refused (where the URL came from).
    pub(crate) fn hint(&self, error: &anyhow::Error) -> Option<String> {
        let client_error = error.chain().find_map(|e| {
            e.downcast_ref::<ClientError>()
                .or_else(|| match e.downcast_ref::<BuildError>()? {
                    BuildError::Start { error, .. }
                    | BuildError::Follow { error, .. }
                    | BuildError::Abort { error, .. } => Some(error),
                    BuildError::Scenario { .. } => None,
                })
        })?;
        let (url, url_source) = self.url.as_ref()?;
        match client_error {
            ClientError::Unauthorized { .. } => Some(match &self.key {
                Some(key) => format!(
                    "DSS at {url} refused the API key from {}; check that this key exists on this instance and is not expired",
                    key.describe()
                ),
                None => {
                    format!("DSS at {url} wants an API key: give --api-key, DSS_API_KEY or DSS_API_KEY_FILE")
                }
            }),
            ClientError::Transport {
                before_sending: true, ..
            } => Some(format!(
                "nothing answered at {url} (from {}); check the URL and that DSS is running",
                match url_source {
                    Source::Flag => "--url",
                    Source::Env => "the environment variable DSS_URL",
                }
            )),
            _ => None,
        }
    }
}

/// A connected target: a client, the stack, and the embedded emulator when one was started.
pub(crate) struct Target {
    pub client: DssClient,
    /// The base URL (never with credentials), as shown in plans.
    pub url: String,
    pub stack: String,
    local: Option<RunningEmulator>,
}

impl Target {
    /// Whether this is the embedded emulator.
    pub(crate) fn is_local(&self) -> bool {
        self.local.is_some()
    }

    /// Stop the embedded emulator, if any (its state is already on disk).
    pub(crate) async fn close(self) {
        if let Some(emulator) = self.local {
            emulator.shutdown().await;
        }
    }
}

/// Connect to the target (starting the embedded emulator when no URL is given).
/// `parallelism` bounds the requests in flight.
pub(crate) async fn connect(config: &TargetConfig, parallelism: usize) -> anyhow::Result<Target> {
    validate_stack_name(&config.stack).map_err(anyhow::Error::msg)?;
    let (client_config, local) = match &config.url {
        Some((url, _)) => {
            let key = config.api_key()?.with_context(|| {
                format!("no API key for {url}: give --api-key, DSS_API_KEY or DSS_API_KEY_FILE")
            })?;
            (ClientConfig::new(url.clone(), key), None)
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
            let client_config = ClientConfig::new(emulator.url.clone(), local_key());
            (client_config, Some(emulator))
        }
    };
    let client_config = ClientConfig {
        insecure: config.insecure,
        ca_cert: config.ca_cert.clone(),
        max_in_flight: parallelism.max(1),
        ..client_config
    };
    let client = DssClient::new(client_config).context("cannot set up the DSS client")?;
    Ok(Target {
        url: client.url().trim_end_matches('/').to_string(),
        client,
        stack: config.stack.clone(),
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

    fn config() -> TargetConfig {
        TargetConfig {
            url: None,
            key: None,
            insecure: false,
            ca_cert: None,
            stack: "default".into(),
        }
    }

    #[test]
    fn the_key_file_is_read_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        std::fs::write(&file, "from-file\n").unwrap();
        let mut c = config();
        c.key = Some(KeySetting::File {
            path: file.clone(),
            source: Source::Env,
        });
        assert_eq!(c.api_key().unwrap().unwrap().expose(), "from-file");
        c.key = Some(KeySetting::Direct {
            key: Secret::new("from-flag"),
            source: Source::Flag,
        });
        assert_eq!(c.api_key().unwrap().unwrap().expose(), "from-flag");
        assert!(!format!("{c:?}").contains("from-flag"));
        std::fs::write(&file, "\n").unwrap();
        c.key = Some(KeySetting::File {
            path: file,
            source: Source::Flag,
        });
        assert!(c.api_key().unwrap_err().to_string().contains("is empty"));
        assert!(config().api_key().unwrap().is_none());
    }

    #[test]
    fn api_paths_are_taken_off_the_base_url() {
        assert_eq!(base_url("https://dss:11200"), ("https://dss:11200".into(), false));
        assert_eq!(
            base_url("https://dss:11200/public/api/"),
            ("https://dss:11200".into(), true)
        );
        assert_eq!(
            base_url("https://h/dss/dip/publicapi"),
            ("https://h/dss".into(), true)
        );
    }

    #[test]
    fn hints_name_where_the_key_and_the_url_came_from() {
        let mut c = config();
        c.url = Some(("http://dss:1".into(), Source::Env));
        c.key = Some(KeySetting::Direct {
            key: Secret::new("s3cret"),
            source: Source::Env,
        });
        let unauthorized = anyhow::Error::new(ClientError::Unauthorized {
            method: "GET".into(),
            path: "/projects/".into(),
            message: "Invalid API key".into(),
        })
        .context("cannot read the live state");
        let hint = c.hint(&unauthorized).unwrap();
        assert!(hint.contains("DSS_API_KEY") && !hint.contains("s3cret"), "{hint}");
        let refused = anyhow::Error::new(ClientError::Transport {
            method: "GET".into(),
            path: "/projects/".into(),
            message: "cannot connect to DSS".into(),
            before_sending: true,
        });
        let hint = c.hint(&refused).unwrap();
        assert!(
            hint.contains("http://dss:1") && hint.contains("DSS_URL"),
            "{hint}"
        );
        assert_eq!(c.hint(&anyhow::anyhow!("other")), None);
    }

    #[tokio::test]
    async fn a_url_without_a_key_or_a_bad_stack_is_refused() {
        let mut c = config();
        c.url = Some(("http://127.0.0.1:1".into(), Source::Flag));
        let err = connect(&c, 8).await.err().unwrap().to_string();
        assert!(err.contains("no API key"), "{err}");
        let mut c = config();
        c.stack = "no spaces".into();
        assert!(
            connect(&c, 8)
                .await
                .err()
                .unwrap()
                .to_string()
                .contains("stack name")
        );
    }
}
