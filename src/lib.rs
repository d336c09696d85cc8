//! dssctl: manage Dataiku DSS instances from YAML manifests kept in Git.
//!
//! The crate is a pure core with thin edges:
//! - [`kinds`]: the resource model: one module per kind and the registry the core iterates;
//! - [`manifest`]: the manifest documents, loading with exact error locations, validation;
//! - [`plan`]: pure `(desired, observed) -> operations`, no I/O;
//! - [`render`]: a plan as text, JSON or Markdown;
//! - [`observe`]: reading the live state a plan needs, with the fewest requests;
//! - [`target`]: which DSS to talk to (or the embedded emulator), and the stack;
//! - [`plan_command`]: the `plan` command;
//! - [`apply`]: the `apply` command: guarded, ordered, verified writes and the ledger;
//! - [`client`]: the DSS REST client (auth, retries, concurrency limit, typed errors);
//! - [`emulator`]: an embedded DSS API emulator (axum), the local DSS of tests and quickstarts;
//! - [`wire`]: the JSON documents of the DSS API, shared by the client and the emulator;
//! - [`build`]: start a DSS job and follow it to its end (`dssctl build`);
//! - [`export`]: live objects as manifests (`dssctl export`);
//! - [`daemon`]: `dssctl watch`, the GitOps daemon: watch, reconcile, health and metrics;
//! - [`cli`]: the command line, parsed by clap; `main.rs` only dispatches.

pub mod apply;
pub mod build;
pub mod cli;
pub mod client;
pub mod daemon;
pub mod emulator;
pub mod export;
pub mod kinds;
pub mod manifest;
pub mod observe;
pub mod plan;
pub mod plan_command;
pub mod render;
pub mod target;
pub mod wire;

/// Install the process-wide rustls crypto provider. reqwest is built without a default
/// provider, and building a client without one panics, so `main` and tests call this first.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
