//! Manifests: the typed kinds users write, loading from files and directories with exact
//! `file:line:column` error locations, offline validation, the JSON Schemas, and secret
//! references (resolved only by apply, when a value is about to be sent).

pub mod annotations;
pub mod diagnostic;
pub mod kinds;
pub mod load;
pub mod node;
pub mod schema;
pub mod secrets;

pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use kinds::*;
pub use load::{LoadedManifests, load_bytes, load_paths, load_str};
pub use secrets::{SecretError, resolve_secret};
