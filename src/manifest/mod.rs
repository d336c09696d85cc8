//! Manifests: the typed kinds users write, loading from files and directories with exact
//! `file:line:column` error locations, offline validation, the JSON Schemas, and secret
//! references (resolved only by apply, when a value is about to be sent). An `Environment`
//! ([`environment`]) makes a directory an entry point: values substituted into the manifests
//! it includes ([`substitute`]) and merge patches applied to them ([`merge_patch`]).

pub(crate) mod annotations;
pub(crate) mod diagnostic;
pub(crate) mod environment;
pub(crate) mod kinds;
pub(crate) mod load;
pub(crate) mod merge_patch;
pub(crate) mod names;
pub(crate) mod node;
pub(crate) mod registry;
pub(crate) mod schema;
pub(crate) mod secrets;
pub(crate) mod specs;
pub(crate) mod substitute;

pub(crate) use diagnostic::{Diagnostic, Diagnostics};
pub use kinds::*;
pub use load::{LoadedManifests, entry_environment, load_bytes, load_paths, load_str, render_paths};
pub use secrets::{SecretError, resolve_secret};
