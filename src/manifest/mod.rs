//! Manifests: the typed kinds users write, loading from files and directories with exact
//! `file:line:column` error locations, and offline validation.

pub mod kinds;

pub use kinds::*;
