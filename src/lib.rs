//! dssctl: manage Dataiku DSS instances from YAML manifests kept in Git.
//!
//! The crate is a pure core with thin edges. Its modules, by layer, lowest first (a module
//! uses only the layers below its own; `tests/it/layering.rs` checks it, docs/architecture.md
//! draws it):
//! - 0 [`wire`]: the JSON documents of the DSS API, shared by the client and the emulator;
//!   [`output`]: the one writer of stdout (a full device is an error, a closed pipe is quiet);
//!   `parallel`: a slice folded in one run per core, in order (loading, planning);
//! - 1 [`client`]: the DSS REST client (auth, retries, concurrency limit, typed errors; the
//!   calls of one kind live with the kind); [`emulator`]: an embedded DSS API emulator (axum),
//!   the local DSS of tests and quickstarts;
//! - 2 [`manifest`]: the manifest documents, loading with exact error locations, validation,
//!   schemas; a kind's identity (`KindId`) and what the loader needs from it (`KindSpec`);
//! - 3 [`plan`]: pure `(desired, observed) -> operations`, no I/O; what it needs from a kind
//!   (`plan::kind::KindPlan`);
//! - 4 [`observe`]: reading the live state a plan needs, with the fewest requests
//!   (`KindObserve`); [`build`]: start a DSS job or scenario run and follow it to its end
//!   (`dssctl build`); [`lock`]: the stack lock held in DSS itself (Fischer's algorithm);
//! - 5 [`target`]: which DSS to talk to (or the embedded emulator), the stack, and the hints
//!   that say where a refused key or URL came from;
//! - 6 [`apply`]: guarded, ordered, verified writes and the ledger (`KindApply`); [`export`]:
//!   manifests from a live instance (`dssctl export`, `KindExport`);
//! - 7 [`kinds`]: the resource model: one module per kind, implementing every stage's trait and
//!   registering itself in every stage's registry; [`error`]: the one error type of the
//!   commands and the one exit-code table;
//! - 8 [`render`]: a plan as text, JSON or Markdown; [`engine`]: the one pipeline load →
//!   observe → plan → guard → write of `plan`, `apply`, `watch` and `export`;
//! - 9 [`daemon`]: `dssctl watch`, the GitOps daemon: its pure decision and back-off policy,
//!   the scheduling loop, the file watcher, health and metrics;
//! - 10 [`commands`]: the command line (clap): one module per command turns its flags into a
//!   resolved configuration; the only module that knows clap.
//!
//! `main.rs` parses, runs the command, reports the error and exits.
//!
//! The library API, used by the binary, the integration tests and the benchmark, is the
//! `pub` modules: `commands` and `error` (the binary), `emulator`, `client` and `wire` (a DSS
//! emulator and client usable on their own), and `manifest`, `kinds`, `plan`, `observe`,
//! `apply` and `lock` (the tests drive their stages directly). The others are `pub(crate)`.
//! Inside the `pub` modules, an item is `pub` only when the binary, `tests/` or `benches/`
//! use it (or it appears in the signature of one that is); everything else is `pub(crate)`.

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
pub(crate) mod parallel;
pub mod plan;
pub(crate) mod render;
pub(crate) mod target;
pub mod wire;

/// Install the process-wide rustls crypto provider. reqwest is built without a default
/// provider, and building a client without one panics, so `main` and tests call this first.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
