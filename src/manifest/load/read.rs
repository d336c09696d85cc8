//! Reading the files: on every core, each file as UTF-8 text split into YAML documents, each
//! read through the entry point's values and patches when they may change it.

use std::path::{Path, PathBuf};

use super::discover::io_reason;
use super::yaml::position_after;
use super::{LOADER_STACK_BYTES, Loader, MAX_FILE_BYTES};
use crate::manifest::environment::is_environment;
use crate::manifest::node::{Pos, parse_sections};

impl Loader {
    /// Parses and checks the files on every core: YAML parsing dominates the load time of a
    /// large repository, and files are independent until [`Loader::cross_checks`]. Each thread
    /// takes a contiguous run of files, so merging the runs in order keeps the resources in
    /// file order, exactly as a sequential load would.
    pub(super) fn load_files_in_parallel(&mut self, files: &[PathBuf]) {
        let partial = crate::parallel::fold_in_runs(
            files,
            // As much stack as the main thread: deeply nested YAML recurses.
            Some(LOADER_STACK_BYTES),
            || self.worker(),
            |loader: &mut Loader, file| loader.load_file(file),
        );
        for part in partial {
            self.absorb(part);
        }
    }

    pub(super) fn load_file(&mut self, file: &Path) {
        let bytes = match std::fs::metadata(file) {
            Ok(m) if m.len() > MAX_FILE_BYTES => {
                self.error(
                    file,
                    Pos::default(),
                    format!(
                        "file too large ({} bytes; the limit is {MAX_FILE_BYTES})",
                        m.len()
                    ),
                )
                .hint = Some("is this really a manifest? split large manifests into several files".into());
                return;
            }
            _ => match std::fs::read(file) {
                Ok(bytes) => bytes,
                Err(err) => {
                    self.error(file, Pos::default(), format!("cannot read: {}", io_reason(&err)));
                    return;
                }
            },
        };
        self.load_bytes(file, bytes);
    }

    pub(super) fn load_bytes(&mut self, file: &Path, bytes: Vec<u8>) {
        match String::from_utf8(bytes) {
            Ok(text) => self.load_text(file, &text),
            Err(err) => {
                let valid = &err.as_bytes()[..err.utf8_error().valid_up_to()];
                let pos = position_after(valid);
                self.error(file, pos, "not valid UTF-8 text").hint =
                    Some("manifests must be UTF-8; re-save the file as UTF-8".into());
            }
        }
    }

    pub(super) fn load_text(&mut self, file: &Path, text: &str) {
        let mut documents = 0;
        let mut broken = false;
        let expansion = std::sync::Arc::clone(&self.expansion);
        let may_change = expansion.may_change(text);
        for section in parse_sections(text) {
            match section.result {
                Ok(docs) => {
                    documents += docs.len();
                    for doc in docs {
                        if may_change || is_environment(&doc) {
                            self.load_expanded(file, &doc, &expansion);
                        } else {
                            self.load_document(file, &doc);
                            self.keep(file, doc);
                        }
                    }
                }
                Err(err) => {
                    broken = true;
                    self.yaml_error(file, text, section.first_line - 1, &err);
                }
            }
        }
        if documents == 0 && !broken {
            self.error(file, Pos { line: 1, column: 1 }, "no manifest in this file (it is empty or only comments)")
                .hint = Some(
                "an emptied file would make apply delete what it declared: remove the file, or give it a manifest".into(),
            );
        }
    }
}
