//! The entry point: whether the paths given hold an Environment and, when they do, which
//! manifest files it includes (following included Environments, refusing cycles), and how each
//! manifest document is read through its values and patches. Without an Environment the
//! documents are read as written, and a placeholder in them is an error.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Loader;
use super::discover::io_reason;
use crate::manifest::diagnostic::Diagnostic;
use crate::manifest::environment::{self, Environment, Expansion, subst_diagnostic};
use crate::manifest::kinds::display_name;
use crate::manifest::node::{Node, parse_sections};

/// A document of the entry point after values and patches, for `dssctl render`.
#[derive(Debug, Clone)]
pub struct ExpandedDocument {
    /// The manifest file it was read from.
    pub file: PathBuf,
    /// The line it starts on.
    pub line: usize,
    pub doc: Node,
}

/// What reading a file for an Environment found.
enum EnvFile {
    /// No Environment in it: a manifest file.
    Manifest,
    Environment(Box<Environment>),
    /// An Environment with mistakes (reported).
    Broken,
}

/// Files as the include chain names them: the path shown, and the canonical one compared.
struct Chain(Vec<(PathBuf, PathBuf)>);

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `envs/prod/../../base` as `base`: the paths in messages and in `render` are the ones a
/// reader would write. Only `..` after a normal component is folded.
fn lexical(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.is_empty() {
        PathBuf::from(".")
    } else {
        out.iter().collect()
    }
}

/// What resolving an Environment's includes collects.
#[derive(Default)]
struct Resolved {
    /// The Environments, innermost included first, the entry point last.
    layers: Vec<Environment>,
    /// Canonical paths of the Environments resolved (one included twice is read once).
    done: BTreeSet<PathBuf>,
    /// The manifest files, in include order, each once.
    files: Vec<PathBuf>,
    seen: BTreeSet<PathBuf>,
    /// The include entries that exist, as paths.
    roots: Vec<PathBuf>,
}

impl Loader {
    /// Finds the Environment among `files` (the files under the paths given). Without one,
    /// the files are the manifests. With one, the manifests are the files it includes, and
    /// the loader reads them through its values and patches. Returns the manifest files and
    /// how many Environment files were read.
    pub(super) fn entry_point(&mut self, files: Vec<PathBuf>) -> (Vec<PathBuf>, usize) {
        let mut manifests = Vec::new();
        let mut found: Vec<(PathBuf, Option<Box<Environment>>)> = Vec::new();
        for file in files {
            match self.read_environment(&file) {
                EnvFile::Manifest => manifests.push(file),
                EnvFile::Environment(env) => found.push((file, Some(env))),
                EnvFile::Broken => found.push((file, None)),
            }
        }
        let Some((first_file, first)) = found.first() else {
            return (manifests, 0);
        };
        if found.len() > 1 {
            let first_name = first
                .as_ref()
                .map_or(String::new(), |e| format!(" \"{}\"", e.name));
            for (file, env) in &found[1..] {
                let (line, column) = env.as_ref().map_or((0, 0), |e| (e.pos.line, e.pos.column));
                self.diagnostics.push(
                    Diagnostic::error(
                        file,
                        line,
                        column,
                        format!(
                            "two Environments in one entry point: Environment{first_name} is in {}",
                            first_file.display()
                        ),
                    )
                    .with_hint(
                        "give dssctl one environment's directory or file (e.g. `dssctl plan envs/prod`); \
                         to build one on another, include it from the other's spec.include",
                    ),
                );
            }
            return (Vec::new(), found.len());
        }
        let Some(env) = first else {
            return (Vec::new(), 1);
        };
        let mut resolved = Resolved::default();
        let mut chain = Chain(vec![(env.file.clone(), canonical(&env.file))]);
        self.resolve(env, &mut chain, &mut resolved);
        for file in manifests {
            if !resolved.seen.contains(&canonical(&file)) {
                self.diagnostics.push(
                    Diagnostic::error(
                        &file,
                        0,
                        0,
                        format!(
                            "not included by Environment \"{}\" ({})",
                            env.name,
                            env.file.display()
                        ),
                    )
                    .with_hint(
                        "an Environment's manifests are the files it includes: add this one to its spec.include, \
                         or move it out of the directory given",
                    ),
                );
            }
        }
        let (mut expansion, diagnostics) = Expansion::new(&resolved.layers);
        self.diagnostics.extend(diagnostics);
        if let Some(info) = &mut expansion.environment {
            info.includes = std::mem::take(&mut resolved.roots);
        }
        self.expansion = Arc::new(expansion);
        let environments = resolved.layers.len();
        (resolved.files, environments)
    }

    /// Reads `file` far enough to know whether it holds an Environment. An unreadable or
    /// broken file is left to the manifest reader, which reports it.
    fn read_environment(&mut self, file: &Path) -> EnvFile {
        let Ok(text) = std::fs::read_to_string(file) else {
            return EnvFile::Manifest;
        };
        if !environment::mentions_environment(&text) {
            return EnvFile::Manifest;
        }
        let docs: Vec<Node> = parse_sections(&text)
            .into_iter()
            .filter_map(|s| s.result.ok())
            .flatten()
            .collect();
        let Some(doc) = docs.iter().find(|d| environment::is_environment(d)) else {
            return EnvFile::Manifest;
        };
        if docs.len() > 1 {
            self.diagnostics.push(
                Diagnostic::error(
                    file,
                    doc.pos.line,
                    doc.pos.column,
                    "an Environment must be alone in its file",
                )
                .with_hint("move the other documents to a file of their own and include it"),
            );
            return EnvFile::Broken;
        }
        match Environment::parse(file, doc) {
            Ok(env) => EnvFile::Environment(Box::new(env)),
            Err(diagnostics) => {
                self.diagnostics.extend(diagnostics);
                EnvFile::Broken
            }
        }
    }

    /// Collects the manifest files of `env` and of the Environments it includes.
    fn resolve(&mut self, env: &Environment, chain: &mut Chain, resolved: &mut Resolved) {
        let own = canonical(&env.file);
        resolved.done.insert(own.clone());
        for (entry, pos) in &env.includes {
            let path = lexical(&env.dir().join(entry));
            let files = match std::fs::metadata(&path) {
                Err(err) => {
                    self.diagnostics.push(
                        Diagnostic::error(
                            &env.file,
                            pos.line,
                            pos.column,
                            format!("include \"{entry}\": {}", io_reason(&err)),
                        )
                        .with_resource(Some(format!("environment {}", env.name)))
                        .with_hint(format!(
                            "an include is a file or directory relative to the Environment's file (here {})",
                            env.dir().display()
                        )),
                    );
                    continue;
                }
                Ok(m) if m.is_dir() => {
                    resolved.roots.push(path.clone());
                    let mut files = Vec::new();
                    self.walk(&path, 0, &mut files, &mut BTreeSet::new());
                    if files.is_empty() {
                        self.diagnostics.push(
                            Diagnostic::error(
                                &env.file,
                                pos.line,
                                pos.column,
                                format!("include \"{entry}\": no manifests found (no *.yaml or *.yml file)"),
                            )
                            .with_resource(Some(format!("environment {}", env.name))),
                        );
                    }
                    files
                }
                Ok(_) => {
                    resolved.roots.push(path.clone());
                    vec![path]
                }
            };
            for file in files {
                let key = canonical(&file);
                if key == own {
                    // `include: [.]`: the Environment's own directory; it is not a manifest.
                    continue;
                }
                if let Some(start) = chain.0.iter().position(|(_, c)| *c == key) {
                    let mut names: Vec<String> = chain.0[start..]
                        .iter()
                        .map(|(p, _)| p.display().to_string())
                        .collect();
                    names.push(file.display().to_string());
                    self.diagnostics.push(
                        Diagnostic::error(
                            &env.file,
                            pos.line,
                            pos.column,
                            format!("include \"{entry}\": an include cycle: {}", names.join(" -> ")),
                        )
                        .with_resource(Some(format!("environment {}", env.name)))
                        .with_hint("an Environment cannot include itself, even through others: remove one include of the cycle"),
                    );
                    continue;
                }
                if resolved.done.contains(&key) {
                    continue;
                }
                match self.read_environment(&file) {
                    EnvFile::Manifest => {
                        if resolved.seen.insert(key) {
                            resolved.files.push(file);
                        }
                    }
                    EnvFile::Environment(inner) => {
                        chain.0.push((file.clone(), key));
                        self.resolve(&inner, chain, resolved);
                        chain.0.pop();
                    }
                    EnvFile::Broken => {}
                }
            }
        }
        resolved.layers.push(env.clone());
    }

    /// Loads one parsed document through the entry point's values and patches.
    pub(super) fn load_expanded(&mut self, file: &Path, doc: &Node, expansion: &Expansion) {
        if environment::is_environment(doc) {
            self.error(file, doc.pos, "an Environment cannot be read here")
                .hint = Some("give its file or directory to dssctl as a path".into());
            return;
        }
        let out = expansion.expand(doc);
        self.matched_patches.extend(out.matched);
        if !out.errors.is_empty() {
            let resource = out
                .id
                .as_ref()
                .map(|id| display_name(&id.kind, &id.name, id.project.as_deref()));
            for e in out.errors {
                self.diagnostics
                    .push(subst_diagnostic(file, e).with_resource(resource.clone()));
            }
            return;
        }
        if let Some(id) = out.id {
            self.document_ids.push(id);
        }
        let (diagnostics, resources) = (self.diagnostics.len(), self.resources.len());
        self.load_document(file, &out.doc);
        for d in &mut self.diagnostics[diagnostics..] {
            (d.file, d.line) = expansion.untag(&d.file, d.line);
        }
        for declared in &mut self.resources[resources..] {
            for reference in &mut declared.references {
                let origin = &mut reference.origin;
                (origin.file, origin.line) = expansion.untag(&origin.file, origin.line);
            }
        }
        self.keep(file, out.doc);
    }

    /// Keeps a loaded document for `dssctl render`.
    pub(super) fn keep(&mut self, file: &Path, doc: Node) {
        if self.keep_documents {
            self.documents.push(ExpandedDocument {
                file: file.to_path_buf(),
                line: doc.pos.line,
                doc,
            });
        }
    }

    /// Every patch must have changed some manifest: one that matches nothing is a typo.
    pub(super) fn check_patches(&mut self) {
        let expansion = Arc::clone(&self.expansion);
        for i in 0..expansion.patches.len() {
            if !self.matched_patches.contains(&i) {
                self.diagnostics.push(expansion.unmatched(i, &self.document_ids));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_paths_are_folded_as_written() {
        assert_eq!(lexical(Path::new("envs/prod/../../base")), PathBuf::from("base"));
        assert_eq!(
            lexical(Path::new("./envs/prod/./x.yaml")),
            PathBuf::from("envs/prod/x.yaml")
        );
        assert_eq!(lexical(Path::new("../a/../../b")), PathBuf::from("../../b"));
        assert_eq!(lexical(Path::new("envs/..")), PathBuf::from("."));
        assert_eq!(lexical(Path::new("/r/envs/../base")), PathBuf::from("/r/base"));
    }
}
