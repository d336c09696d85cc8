//! Which files to load: the files named, and the `*.yaml`/`*.yml` files under the directories
//! named (hidden entries and `.dssctl/` skipped), each read once.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::Loader;
use crate::manifest::diagnostic::Diagnostic;

fn is_manifest_file(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

fn is_skipped_entry(name: &str) -> bool {
    // Hidden entries (.git, .github, editor files) and dssctl's own `.dssctl/` state.
    name.starts_with('.')
}

impl Loader {
    pub(super) fn discover(&mut self, paths: &[PathBuf]) -> Vec<PathBuf> {
        let mut files = Vec::new();
        let mut seen = BTreeSet::new();
        for path in paths {
            let metadata = match std::fs::metadata(path) {
                Ok(m) => m,
                Err(err) => {
                    let d = Diagnostic::error(path, 0, 0, format!("cannot read: {}", io_reason(&err)))
                        .with_hint("give a manifest file or a directory of *.yaml / *.yml files");
                    self.diagnostics.push(d);
                    continue;
                }
            };
            if metadata.is_dir() {
                let before = files.len();
                self.walk(path, 0, &mut files, &mut seen);
                if files.len() == before {
                    self.diagnostics.push(
                        Diagnostic::error(path, 0, 0, "no manifests found (no *.yaml or *.yml file)")
                            .with_hint("manifests are read from *.yaml and *.yml files; hidden directories and .dssctl/ are skipped"),
                    );
                }
            } else {
                // A file named explicitly is read whatever its extension.
                let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
                if seen.insert(key) {
                    files.push(path.clone());
                }
            }
        }
        files
    }

    pub(super) fn walk(
        &mut self,
        dir: &Path,
        depth: usize,
        files: &mut Vec<PathBuf>,
        seen: &mut BTreeSet<PathBuf>,
    ) {
        // Symbolic links are followed; the depth bound stops a link cycle.
        if depth > 64 {
            self.diagnostics.push(Diagnostic::error(
                dir,
                0,
                0,
                "directories nested too deep (a symbolic link cycle?)",
            ));
            return;
        }
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(err) => {
                self.diagnostics.push(Diagnostic::error(
                    dir,
                    0,
                    0,
                    format!("cannot read directory: {}", io_reason(&err)),
                ));
                return;
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| !is_skipped_entry(&e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .collect();
        paths.sort();
        for path in paths {
            if path.is_dir() {
                self.walk(&path, depth + 1, files, seen);
            } else if is_manifest_file(&path) {
                let key = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
                if seen.insert(key) {
                    files.push(path);
                }
            }
        }
    }
}

pub(super) fn io_reason(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => err.to_string(),
    }
}
