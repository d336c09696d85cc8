//! Loading manifests: finding the files under the given paths, parsing every YAML document with
//! its locations, checking each document against the schema and the rules DSS applies to names
//! and secrets, then the checks across documents (duplicates, references). Every mistake is
//! collected, so that one run reports them all. Nothing here touches the network, and secret
//! references are never resolved here.
//!
//! - [`discover`]: which files, under which paths;
//! - [`read`]: reading and parsing the files on every core;
//! - [`yaml`]: parser errors said in the user's terms, with hints;
//! - [`document`]: one document: apiVersion, kind, schema, the kind's own checks, the typed
//!   resource and its references;
//! - [`cross`]: duplicates and references across documents.
//!
//! The rules of names are the kinds' (`crate::kinds::names`).

mod cross;
mod discover;
mod document;
mod read;
mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::diagnostic::{self, Diagnostic, Diagnostics};
use super::kinds::Declared;
use super::node::Pos;
use crate::kinds::KindId;

pub use crate::kinds::names::MAX_NAME_CHARS;

/// A manifest file larger than this is refused: manifests are written by hand, and the limit
/// keeps a mistaken path (a data file, a dump) from exhausting memory.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The manifests found under some paths, all valid.
#[derive(Debug, Clone, Default)]
pub struct LoadedManifests {
    /// The resources, in file order.
    pub resources: Vec<Declared>,
    /// Findings that do not stop a plan (references to names not declared here, ...).
    pub warnings: Vec<Diagnostic>,
    /// How many manifest files were read.
    pub files: usize,
}

/// Loads and validates every manifest under `paths` (files, or directories read recursively for
/// `*.yaml`/`*.yml`, hidden directories and `.dssctl/` skipped). No network. On any error, every
/// finding (errors and warnings) is returned, sorted by place.
pub fn load_paths(paths: &[PathBuf]) -> Result<LoadedManifests, Diagnostics> {
    let mut loader = Loader::default();
    let files = loader.discover(paths);
    loader.load_files_in_parallel(&files);
    loader.cross_checks();
    let Loader {
        diagnostics,
        resources,
        ..
    } = loader;
    let mut diagnostics = diagnostics;
    diagnostic::sort(&mut diagnostics);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(Diagnostics(diagnostics));
    }
    Ok(LoadedManifests {
        resources,
        warnings: diagnostics,
        files: files.len(),
    })
}

/// Loads manifests from a YAML text as if read from `file` (tests, stdin).
pub fn load_str(file: &Path, text: &str) -> Result<LoadedManifests, Diagnostics> {
    load_bytes(file, text.as_bytes())
}

/// Loads manifests from raw bytes as if read from `file` (any bytes: invalid UTF-8 is reported).
pub fn load_bytes(file: &Path, bytes: &[u8]) -> Result<LoadedManifests, Diagnostics> {
    let mut loader = Loader::default();
    loader.load_bytes(file, bytes.to_vec());
    loader.cross_checks();
    let mut diagnostics = loader.diagnostics;
    diagnostic::sort(&mut diagnostics);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(Diagnostics(diagnostics));
    }
    Ok(LoadedManifests {
        resources: loader.resources,
        warnings: diagnostics,
        files: 1,
    })
}

/// Stack of each loader thread (the main thread's default on Linux).
const LOADER_STACK_BYTES: usize = 8 * 1024 * 1024;

#[derive(Default)]
struct Loader {
    diagnostics: Vec<Diagnostic>,
    resources: Vec<Declared>,
    /// Every `(project, name)` declared per kind, invalid documents included, so that a
    /// reference to a resource whose manifest has an error is not also reported as undeclared.
    names: BTreeMap<KindId, BTreeSet<(Option<String>, String)>>,
}

impl Loader {
    fn error(&mut self, file: &Path, pos: Pos, message: impl Into<String>) -> &mut Diagnostic {
        self.diagnostics
            .push(Diagnostic::error(file, pos.line, pos.column, message));
        self.diagnostics.last_mut().expect("just pushed")
    }
}

#[cfg(test)]
mod tests;
