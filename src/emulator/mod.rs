//! The embedded DSS API emulator: an axum server that speaks the DSS public API well enough for
//! the official Python client (`dataikuapi`) and dssctl itself.
//!
//! This module owns the public entry points ([`EmulatorConfig`], [`start`], [`RunningEmulator`])
//! and the wiring of the pieces, each in its own file:
//! - `router`: axum's router over one route table per area (`routes()` in each area module),
//!   both API prefixes, trailing slashes, statistics → faults → authentication;
//! - `http`: DSS error bodies, JSON answers, query and body parsing;
//! - `auth`: the admin key, restricted keys and their privileges;
//! - `store` / `persist`: the in-memory state and its JSON documents under the data dir;
//! - `collections`: the state of an area that is documents by name, declared and registered
//!   by the area itself (loaded, persisted and sealed without a field in `store`);
//! - `faults`: latency, error rate, rate limit and the request statistics;
//! - `secrets`: how secrets are redacted on read and kept on write-back;
//! - `cipher`: how secrets are encrypted at rest in the data dir;
//! - `builtins`: what a fresh instance holds (the admin user, default groups and connections);
//! - one file per resource family: `projects`, `datasets`, `connections`, `users`, `groups`,
//!   `variables`, `jobs`, `sql`, `logs`, `instance`;
//! - the instance plane, one file per area, each declaring its own routes: `code_envs`,
//!   `plugins`, `general_settings`, `project_folders`;
//! - the flow plane: `flow_state` (its state and files), `managed_folders`, `recipes`,
//!   `scenarios`, `flow_zones`, and `flow_exec` (what a job runs);
//! - `command`: the `dssctl emulator` command.

mod auth;
mod builtins;
mod cipher;
mod code_envs;
mod collections;
pub(crate) mod command;
mod connections;
mod datasets;
mod faults;
mod flow_exec;
mod flow_state;
mod flow_zones;
mod general_settings;
mod groups;
mod http;
mod instance;
mod jobs;
mod logs;
mod managed_folders;
mod persist;
mod plugins;
mod project_folders;
mod projects;
mod recipes;
mod router;
mod scenarios;
mod secrets;
mod sql;
mod store;
mod users;
mod variables;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use auth::{ApiKeySpec, load_keys_file};

/// How an emulator instance behaves.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// Where the state is persisted; `None` keeps it in memory only.
    pub data_dir: Option<PathBuf>,
    /// The admin API key (full rights on everything).
    pub admin_key: String,
    /// Restricted keys, limited to some projects and privileges.
    pub keys: Vec<ApiKeySpec>,
    /// How long each API answer takes from the request's arrival (see `faults`).
    pub latency: Duration,
    /// Share (0.0 to 1.0) of API requests answered 503 instead of being served.
    pub error_rate: f64,
    /// Maximum API requests per second; beyond, 429 with `Retry-After`.
    pub rate_limit: Option<u32>,
    /// Time a job takes to go from NOT_STARTED to DONE.
    pub job_duration: Duration,
    /// Start with nothing in it: no built-in user, groups or connections (a fresh DSS has them).
    pub empty: bool,
    /// How a create of a name that is taken is answered.
    pub conflict_status: ConflictStatus,
    /// What a job does with a recipe whose code the emulator never runs.
    pub code_recipes: CodeRecipes,
}

/// The answer to creating an object whose name is taken. No public source states what DSS
/// answers; both are offered so that clients can be tested against either.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ConflictStatus {
    /// 409 with `errorType` `com.dataiku.dip.exceptions.DKUSecurityException`.
    #[default]
    Conflict,
    /// 500 with `errorType` `java.lang.IllegalArgumentException` (what the DSS UI shows).
    ServerError,
}

impl std::str::FromStr for ConflictStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "409" => Ok(ConflictStatus::Conflict),
            "500" => Ok(ConflictStatus::ServerError),
            other => Err(format!("conflict status must be 409 or 500, got '{other}'")),
        }
    }
}

/// What a job does with a code recipe (python, R, shell, visual recipes other than sync): the
/// emulator never runs user code, so it either fails the job or marks the recipe done unrun.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CodeRecipes {
    /// The job fails, and its log says the recipe was not run.
    #[default]
    Fail,
    /// The recipe is marked done without running; the log says so.
    Skip,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            data_dir: None,
            admin_key: auth::generate_key(),
            keys: Vec::new(),
            latency: Duration::ZERO,
            error_rate: 0.0,
            rate_limit: None,
            job_duration: Duration::from_millis(300),
            empty: false,
            conflict_status: ConflictStatus::Conflict,
            code_recipes: CodeRecipes::Fail,
        }
    }
}

impl std::fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keys are secrets: never print them.
        f.debug_struct("EmulatorConfig")
            .field("data_dir", &self.data_dir)
            .field("admin_key", &"(sensitive)")
            .field("keys", &self.keys)
            .field("latency", &self.latency)
            .field("error_rate", &self.error_rate)
            .field("rate_limit", &self.rate_limit)
            .field("job_duration", &self.job_duration)
            .field("empty", &self.empty)
            .field("conflict_status", &self.conflict_status)
            .field("code_recipes", &self.code_recipes)
            .finish()
    }
}

/// A running emulator; dropping it without [`RunningEmulator::shutdown`] leaves the server
/// task running until the runtime stops.
pub struct RunningEmulator {
    /// The bound address (the real port when started on port 0).
    pub addr: SocketAddr,
    /// `http://ADDR`, the base URL to give clients.
    pub url: String,
    shutdown_tx: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl RunningEmulator {
    /// Stop accepting connections, let requests in flight finish, and return once the server
    /// has stopped. Every acknowledged write is already on disk (writes are synchronous with
    /// their request), so nothing else needs flushing.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown_tx.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// Start an emulator listening on `listen`: load the state from the data dir (if any), bind,
/// and serve in a background task.
pub async fn start(config: EmulatorConfig, listen: SocketAddr) -> anyhow::Result<RunningEmulator> {
    if !(0.0..=1.0).contains(&config.error_rate) {
        anyhow::bail!("error rate must be between 0 and 1, got {}", config.error_rate);
    }
    if config.rate_limit == Some(0) {
        anyhow::bail!("rate limit must be at least 1 request per second");
    }
    let app = Arc::new(router::App::new(config).context("cannot load the emulator state")?);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let service = router::build(app);
    let task = tokio::spawn(async move {
        let service = axum::ServiceExt::<axum::extract::Request>::into_make_service(service);
        let server = axum::serve(listener, service).with_graceful_shutdown(async move {
            let _ = shutdown_rx.await;
        });
        if let Err(err) = server.await {
            tracing::error!("emulator server stopped: {err}");
        }
    });
    Ok(RunningEmulator {
        addr,
        url: format!("http://{addr}"),
        shutdown_tx: Some(shutdown_tx),
        task,
    })
}
