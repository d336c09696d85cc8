//! Manifests: the typed kinds users write, loading from files and directories with exact
//! `file:line:column` error locations, offline validation, the JSON Schemas, and secret
//! references (resolved only by apply, when a value is about to be sent). An `Environment`
//! ([`environment`]) makes a directory an entry point: values substituted into the manifests
//! it includes ([`substitute`]) and merge patches applied to them ([`merge_patch`]).

pub mod annotations;
pub mod diagnostic;
pub mod environment;
pub mod kinds;
pub mod load;
pub mod merge_patch;
pub mod names;
pub mod node;
pub mod registry;
pub mod schema;
pub mod secrets;
pub mod specs;
pub mod substitute;

pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use environment::EnvironmentInfo;
pub use kinds::*;
pub use load::{LoadedManifests, entry_environment, load_bytes, load_paths, load_str, render_paths};
pub use secrets::{SecretError, resolve_secret};
