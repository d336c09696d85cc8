//! Loading manifests: finding the files under the given paths, parsing every YAML document with
//! its locations, checking each document against the schema and the rules DSS applies to names
//! and secrets, then the checks across documents (duplicates, references). Every mistake is
//! collected, so that one run reports them all. Nothing here touches the network, and secret
//! references are never resolved here.
//!
//! - [`discover`]: which files, under which paths;
//! - [`entry`]: the Environment of an entry point: the files it includes, its values and
//!   patches applied to every document;
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
mod entry;
mod read;
mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::diagnostic::{self, Diagnostic, Diagnostics};
use super::environment::{DocumentId, EnvironmentInfo, Expansion};
use super::kinds::Declared;
use super::node::Pos;
use super::registry::KindId;

pub(crate) use entry::ExpandedDocument;

/// A manifest file larger than this is refused: manifests are written by hand, and the limit
/// keeps a mistaken path (a data file, a dump) from exhausting memory.
pub(crate) const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The manifests found under some paths, all valid.
#[derive(Debug, Clone, Default)]
pub struct LoadedManifests {
    /// The resources, in file order.
    pub resources: Vec<Declared>,
    /// Findings that do not stop a plan (references to names not declared here, ...).
    pub warnings: Vec<Diagnostic>,
    /// How many manifest files were read (an Environment's included).
    pub files: usize,
    /// The Environment of the entry point, when the paths held one.
    pub environment: Option<EnvironmentInfo>,
    /// The documents after values and patches, in include order ([`render_paths`] only).
    pub documents: Vec<ExpandedDocument>,
}

/// Loads and validates every manifest under `paths` (files, or directories read recursively for
/// `*.yaml`/`*.yml`, hidden directories and `.dssctl/` skipped). No network. On any error, every
/// finding (errors and warnings) is returned, sorted by place.
pub fn load_paths(paths: &[PathBuf]) -> Result<LoadedManifests, Diagnostics> {
    load_entry(paths, Loader::default())
}

/// [`load_paths`], keeping every document as it is after values and patches (`dssctl render`).
pub fn render_paths(paths: &[PathBuf]) -> Result<LoadedManifests, Diagnostics> {
    load_entry(
        paths,
        Loader {
            keep_documents: true,
            ..Loader::default()
        },
    )
}

fn load_entry(paths: &[PathBuf], mut loader: Loader) -> Result<LoadedManifests, Diagnostics> {
    let files = loader.discover(paths);
    let (files, environments) = loader.entry_point(files);
    loader.load_files_in_parallel(&files);
    loader.check_patches();
    loader.cross_checks();
    let Loader {
        diagnostics,
        resources,
        expansion,
        documents,
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
        files: files.len() + environments,
        environment: expansion.environment.clone(),
        documents,
    })
}

/// The Environment the paths hold, if exactly one: what the commands need before loading (its
/// default stack). Its mistakes are left to the load, which reports them.
pub fn entry_environment(paths: &[PathBuf]) -> Option<EnvironmentInfo> {
    let mut loader = Loader::default();
    let files = loader.discover(paths);
    loader.entry_point(files);
    loader.expansion.environment.clone()
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
        ..LoadedManifests::default()
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
    /// The entry point's values and patches (none without an Environment).
    expansion: Arc<Expansion>,
    /// The patches that found their document, by index.
    matched_patches: BTreeSet<usize>,
    /// Every document read, for the suggestions of a patch that matches none.
    document_ids: Vec<DocumentId>,
    /// Whether to keep the expanded documents (`dssctl render`).
    keep_documents: bool,
    documents: Vec<ExpandedDocument>,
}

impl Loader {
    /// A loader for a share of the files, reading them as this one does.
    fn worker(&self) -> Loader {
        Loader {
            expansion: Arc::clone(&self.expansion),
            keep_documents: self.keep_documents,
            ..Loader::default()
        }
    }

    /// Takes in what a worker found, after what this loader holds.
    fn absorb(&mut self, part: Loader) {
        self.diagnostics.extend(part.diagnostics);
        self.resources.extend(part.resources);
        for (kind, names) in part.names {
            self.names.entry(kind).or_default().extend(names);
        }
        self.matched_patches.extend(part.matched_patches);
        self.document_ids.extend(part.document_ids);
        self.documents.extend(part.documents);
    }

    fn error(&mut self, file: &Path, pos: Pos, message: impl Into<String>) -> &mut Diagnostic {
        self.diagnostics
            .push(Diagnostic::error(file, pos.line, pos.column, message));
        self.diagnostics.last_mut().expect("just pushed")
    }
}

#[cfg(test)]
mod tests;
