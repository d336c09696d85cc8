//! dssctl: manage Dataiku DSS instances from YAML manifests kept in Git.
//!
//! The crate is a pure core with thin edges:
//! - [`kinds`]: the resource model: one module per kind and the registry the core iterates;
//! - [`manifest`]: the manifest documents, loading with exact error locations, validation;
//! - [`plan`]: pure `(desired, observed) -> operations`, no I/O;
//! - [`render`]: a plan as text, JSON or Markdown;
//! - [`observe`]: reading the live state a plan needs, with the fewest requests;
//! - [`target`]: which DSS to talk to (or the embedded emulator), the stack, and the hints
//!   that say where a refused key or URL came from;
//! - [`engine`]: the one pipeline load → observe → plan → guard → write of `plan`, `apply`,
//!   `watch` and `export`;
//! - [`apply`]: guarded, ordered, verified writes and the ledger;
//! - [`export`]: manifests from a live instance (`dssctl export`);
//! - [`client`]: the DSS REST client (auth, retries, concurrency limit, typed errors);
//! - [`emulator`]: an embedded DSS API emulator (axum), the local DSS of tests and quickstarts;
//! - [`wire`]: the JSON documents of the DSS API, shared by the client and the emulator;
//! - [`build`]: start a DSS job and follow it to its end (`dssctl build`);
//! - [`lock`]: the stack lock held in DSS itself (Fischer's algorithm), `dssctl unlock`;
//! - [`daemon`]: `dssctl watch`, the GitOps daemon: its pure decision and back-off policy,
//!   the scheduling loop, the file watcher, health and metrics;
//! - [`commands`]: the command line (clap): one module per command turns its flags into a
//!   resolved configuration; the only module that knows clap;
//! - [`error`]: the one error type of the commands and the one exit-code table;
//! - [`output`]: the one writer of stdout (a full device is an error, a closed pipe is quiet).
//!
//! `main.rs` parses, runs the command, reports the error and exits.
//!
//! The library API, used by the binary, the integration tests and the benchmark, is the
//! `pub` modules: `commands` and `error` (the binary), `emulator`, `client` and `wire` (a DSS
//! emulator and client usable on their own), and `manifest`, `kinds`, `plan`, `observe`,
//! `apply` and `lock` (the tests drive their stages directly). The others are `pub(crate)`.

pub mod apply;
pub(crate) mod build;
pub mod client;
pub mod commands;
pub(crate) mod daemon;
pub mod emulator;
pub(crate) mod engine;
pub mod error;
pub(crate) mod export;
pub mod kinds;
pub mod lock;
pub mod manifest;
pub mod observe;
pub(crate) mod output;
pub mod plan;
pub(crate) mod render;
pub(crate) mod target;
pub mod wire;

/// Install the process-wide rustls crypto provider. reqwest is built without a default
/// provider, and building a client without one panics, so `main` and tests call this first.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
