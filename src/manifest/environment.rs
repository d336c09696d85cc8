//! `kind: Environment`: the entry point of one deployment of a repository (dev, prod). It is
//! not a resource: nothing is sent to DSS for it. It says which manifests make the deployment
//! (`include`), the values their `${{ values.NAME }}` placeholders take ([`super::substitute`]),
//! the merge patches applied to some of them afterwards ([`super::merge_patch`]), and the
//! default stack. The loader finds it before any per-kind parsing and reads the included
//! manifests through an [`Expansion`]; this module owns the document's format, its JSON
//! Schema, and the expansion of one manifest document.
//!
//! An Environment may include another Environment (a file, or a directory holding one): the
//! included one's manifests and patches come along, its values are overridden by the
//! including one's, and its own patches apply first. Includes may not form a cycle.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::diagnostic::Diagnostic;
use super::kinds::API_VERSION;
use super::merge_patch::merge_patch;
use super::node::{Node, NodeValue, Pos};
use super::schema;
use super::substitute::{Scope, SubstError, Values, substitute};

/// The `kind:` of an Environment document.
pub(crate) const KIND: &str = "Environment";

/// The file name of the Environment's JSON Schema.
pub(crate) const SCHEMA_FILE: &str = "environment.schema.json";

/// The JSON Schema of an Environment document.
pub(crate) fn environment_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_FILE,
        "title": KIND,
        "description": "The entry point of one deployment (dev, prod): the manifests it includes, the values of their \
                        `${{ values.NAME }}` placeholders, merge patches on some of them, and its default stack. \
                        Not a DSS resource.",
        "type": "object",
        "additionalProperties": false,
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"description": "The manifest format version.", "const": API_VERSION},
            "kind": {"description": "An Environment.", "const": KIND},
            "metadata": {
                "type": "object",
                "additionalProperties": false,
                "required": ["name"],
                "properties": {
                    "name": {"description": "The environment's name (dev, prod), for messages.", "type": "string"}
                }
            },
            "spec": {
                "type": "object",
                "additionalProperties": false,
                "required": ["include"],
                "properties": {
                    "stack": {
                        "description": "The stack plan, apply and watch use for this environment unless --stack or DSSCTL_STACK says otherwise.",
                        "type": "string"
                    },
                    "include": {
                        "description": "Manifest files or directories (read recursively), relative to this file. An included Environment brings its own includes and patches.",
                        "type": "array",
                        "items": {"type": "string"}
                    },
                    "values": {
                        "description": "The values placeholders `${{ values.NAME }}` read: scalars, lists or mappings.",
                        "type": "object",
                        "additionalProperties": true
                    },
                    "patches": {
                        "description": "JSON merge patches (RFC 7386), applied after substitution to the manifest each targets.",
                        "type": "array",
                        "items": {"$ref": "#/$defs/Patch"}
                    }
                }
            }
        },
        "$defs": {
            "Patch": {
                "type": "object",
                "additionalProperties": false,
                "required": ["target", "patch"],
                "properties": {
                    "target": {
                        "description": "The manifest patched: its kind, metadata.name and, for a kind that belongs to a project, metadata.project.",
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["kind", "name"],
                        "properties": {
                            "kind": {"type": "string", "enum": super::registry::names()},
                            "name": {"type": "string"},
                            "project": {"type": "string"}
                        }
                    },
                    "patch": {
                        "description": "Merged into the manifest: a mapping merges key by key, null removes a key, anything else replaces the value.",
                        "type": "object",
                        "additionalProperties": true
                    }
                }
            }
        }
    })
}

/// Whether a YAML text may hold an Environment: `kind: Environment` written in any style. A
/// cheap test on the text, so that the files that cannot hold one are parsed only once.
pub(crate) fn mentions_environment(text: &str) -> bool {
    // Borrowed, never copied: a copy of the rest of the text at each `kind` made this test
    // quadratic (tens of milliseconds on a large repository, twice per command).
    fn unquoted(s: &str) -> &str {
        s.trim_start_matches([' ', '\t', '"', '\''])
    }
    // memchr's substring search: several times faster than `str::match_indices`, and this
    // test runs on every file before the first request of a plan.
    memchr::memmem::find_iter(text.as_bytes(), b"kind").any(|i| {
        let rest = unquoted(&text[i + 4..]);
        rest.strip_prefix(':')
            .is_some_and(|after| unquoted(after).starts_with(KIND))
    })
}

/// Whether a parsed document is an Environment.
pub(crate) fn is_environment(doc: &Node) -> bool {
    doc.get("kind").and_then(Node::as_str) == Some(KIND)
}

/// The Environment an entry point uses, as the commands need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentInfo {
    pub name: String,
    /// The Environment's file.
    pub file: PathBuf,
    /// Its default stack.
    pub stack: Option<String>,
    /// Every file or directory its includes (and those of the Environments it includes) name,
    /// that exists: what `watch` watches besides the entry point.
    pub includes: Vec<PathBuf>,
}

/// One merge patch of an Environment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Patch {
    pub kind: String,
    pub name: String,
    pub project: Option<String>,
    /// Where the target is written (in the Environment's file).
    pub pos: Pos,
    /// The Environment file that declares it.
    pub file: PathBuf,
    /// The patch, its positions tagged with its file (see [`Expansion::untag`]).
    pub patch: Node,
}

impl Patch {
    /// `Project CHURN`, `Dataset CHURN.customers`, as the user wrote the target.
    pub(crate) fn target_text(&self) -> String {
        match &self.project {
            Some(p) => format!("{} {p}.{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }

    fn matches(&self, id: &DocumentId) -> bool {
        self.kind == id.kind && self.name == id.name && self.project == id.project
    }
}

/// A parsed Environment document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Environment {
    pub file: PathBuf,
    /// Where the document starts.
    pub pos: Pos,
    pub name: String,
    pub stack: Option<String>,
    /// The include entries as written, with their places.
    pub includes: Vec<(String, Pos)>,
    pub values: Values,
    pub patches: Vec<Patch>,
}

impl Environment {
    /// Reads an Environment document of `file`: every mistake, at its place.
    pub(crate) fn parse(file: &Path, doc: &Node) -> Result<Environment, Vec<Diagnostic>> {
        let mut diagnostics = Vec::new();
        for (first, repeat) in doc.duplicate_keys() {
            diagnostics.push(
                Diagnostic::error(
                    file,
                    repeat.pos.line,
                    repeat.pos.column,
                    format!(
                        "duplicate key \"{}\": already given at line {}",
                        repeat.key_text(),
                        first.pos.line
                    ),
                )
                .with_hint("a key may appear once in a mapping: remove or merge the repeated one"),
            );
        }
        let root = environment_schema();
        for issue in schema::validate(&root, &root, doc, "") {
            let mut d = Diagnostic::error(file, issue.pos.line, issue.pos.column, issue.message);
            d.hint = issue.hint;
            diagnostics.push(d);
        }
        let name = doc
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Node::as_str)
            .unwrap_or_default()
            .to_string();
        let spec = doc.get("spec");
        let includes: Vec<(String, Pos)> = match spec.and_then(|s| s.get("include")).map(|n| &n.value) {
            Some(NodeValue::Seq(items)) => items
                .iter()
                .filter_map(|i| Some((i.as_str()?.to_string(), i.pos)))
                .collect(),
            _ => Vec::new(),
        };
        if let Some((key, NodeValue::Seq(items))) =
            spec.and_then(|s| s.entry("include")).map(|(k, v)| (k, &v.value))
            && items.is_empty()
        {
            diagnostics.push(
                Diagnostic::error(file, key.pos.line, key.pos.column, "spec.include: includes nothing")
                    .with_hint("list the manifest files or directories of this environment, e.g. `include: [../../base]`"),
            );
        }
        let values = match spec.and_then(|s| s.get("values")).map(|n| &n.value) {
            Some(NodeValue::Map(entries)) => entries.iter().map(|(k, v)| (k.key_text(), v.clone())).collect(),
            _ => BTreeMap::new(),
        };
        let patches = match spec.and_then(|s| s.get("patches")).map(|n| &n.value) {
            Some(NodeValue::Seq(items)) => items.iter().filter_map(|p| read_patch(file, p)).collect(),
            _ => Vec::new(),
        };
        if diagnostics.is_empty() {
            Ok(Environment {
                file: file.to_path_buf(),
                pos: doc.pos,
                name,
                stack: spec
                    .and_then(|s| s.get("stack"))
                    .and_then(Node::as_str)
                    .map(str::to_string),
                includes,
                values,
                patches,
            })
        } else {
            let resource = format!("environment {name}");
            Err(diagnostics
                .into_iter()
                .map(|d| d.with_resource(Some(resource.clone())))
                .collect())
        }
    }

    /// The directory its includes are relative to.
    pub(crate) fn dir(&self) -> &Path {
        match self.file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        }
    }

    pub(crate) fn info(&self) -> EnvironmentInfo {
        EnvironmentInfo {
            name: self.name.clone(),
            file: self.file.clone(),
            stack: self.stack.clone(),
            includes: Vec::new(),
        }
    }
}

fn read_patch(file: &Path, node: &Node) -> Option<Patch> {
    let target = node.get("target")?;
    let text = |key: &str| target.get(key).and_then(Node::as_str).map(str::to_string);
    Some(Patch {
        kind: text("kind")?,
        name: text("name")?,
        project: text("project"),
        pos: target.pos,
        file: file.to_path_buf(),
        patch: node.get("patch")?.clone(),
    })
}

/// What identifies a manifest document for a patch: its kind, name and project as written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct DocumentId {
    pub kind: String,
    pub name: String,
    pub project: Option<String>,
}

impl DocumentId {
    fn of(doc: &Node) -> Option<DocumentId> {
        let meta = doc.get("metadata");
        let text = |n: Option<&Node>| n.and_then(Node::as_str).map(str::to_string);
        Some(DocumentId {
            kind: text(doc.get("kind"))?,
            name: text(meta.and_then(|m| m.get("name")))?,
            project: text(meta.and_then(|m| m.get("project"))),
        })
    }
}

/// Lines of a patch are tagged with its Environment file: `line + (index + 1) * TAG_UNIT`.
/// A manifest file has fewer lines than this (it is at most 16 MiB), so a tagged position
/// cannot be mistaken for one of the manifest's, and a finding about a value a patch brought
/// is reported in the Environment's file, at the patch's line.
const TAG_UNIT: usize = 1 << 26;

/// How the manifests of an entry point are read: the values and patches of its Environment
/// (none when the manifests were given directly).
#[derive(Debug, Clone, Default)]
pub(crate) struct Expansion {
    /// The entry point's Environment.
    pub environment: Option<EnvironmentInfo>,
    /// The values, the including Environment's over the included ones'.
    pub values: Values,
    /// In the order they apply: an included Environment's first.
    pub patches: Vec<Patch>,
    /// The Environment files whose patches are tagged, by tag.
    tagged_files: Vec<PathBuf>,
}

/// A manifest document after substitution and patches, and what happened to it.
#[derive(Debug)]
pub(crate) struct Expanded {
    pub doc: Node,
    /// Mistakes in placeholders (the document is then not patched).
    pub errors: Vec<SubstError>,
    /// The indices of the patches that applied.
    pub matched: Vec<usize>,
    pub id: Option<DocumentId>,
}

impl Expansion {
    /// The expansion of an entry point's Environment: `environments` from the innermost
    /// included to the entry point itself, each overriding the values of those before it.
    pub(crate) fn new(environments: &[Environment]) -> (Expansion, Vec<Diagnostic>) {
        let mut expansion = Expansion {
            environment: environments.last().map(Environment::info),
            ..Expansion::default()
        };
        for env in environments {
            expansion.values.extend(env.values.clone());
        }
        let mut diagnostics = Vec::new();
        let scope_file = environments
            .last()
            .map(|e| e.file.display().to_string())
            .unwrap_or_default();
        for env in environments {
            let tag = expansion.tagged_files.len() + 1;
            expansion.tagged_files.push(env.file.clone());
            for patch in &env.patches {
                let mut patch = patch.clone();
                // Patches may use the values too; their mistakes are at the patch's line.
                let mut errors = Vec::new();
                substitute(
                    &mut patch.patch,
                    &expansion.values,
                    Scope::Environment(&scope_file),
                    &mut errors,
                );
                for e in errors {
                    diagnostics.push(subst_diagnostic(&env.file, e));
                }
                tag_lines(&mut patch.patch, tag * TAG_UNIT);
                expansion.patches.push(patch);
            }
        }
        (expansion, diagnostics)
    }

    /// Whether a document of a file with this text could change: a placeholder in the text,
    /// or patches to apply. Documents that cannot are loaded as parsed, without a copy.
    pub(crate) fn may_change(&self, text: &str) -> bool {
        !self.patches.is_empty() || text.contains("${{")
    }

    /// Substitutes the values into `doc`, then applies the patches that target it.
    pub(crate) fn expand(&self, doc: &Node) -> Expanded {
        let mut doc = doc.clone();
        let mut errors = Vec::new();
        let scope_file = self.environment.as_ref().map(|e| e.file.display().to_string());
        let scope = match &scope_file {
            Some(f) => Scope::Environment(f),
            None => Scope::None,
        };
        substitute(&mut doc, &self.values, scope, &mut errors);
        let id = DocumentId::of(&doc);
        let mut matched = Vec::new();
        if let Some(id) = &id {
            for (i, patch) in self.patches.iter().enumerate() {
                if patch.matches(id) {
                    // A document with a placeholder mistake is not loaded, so it is not
                    // patched either; its patches still found their target.
                    if errors.is_empty() {
                        merge_patch(&mut doc, &patch.patch);
                    }
                    matched.push(i);
                }
            }
        }
        Expanded {
            doc,
            errors,
            matched,
            id,
        }
    }

    /// The file and line of a position that may come from a patch.
    pub(crate) fn untag(&self, file: &Path, line: usize) -> (PathBuf, usize) {
        match (line / TAG_UNIT)
            .checked_sub(1)
            .and_then(|i| self.tagged_files.get(i))
        {
            Some(env_file) => (env_file.clone(), line % TAG_UNIT),
            None => (file.to_path_buf(), line),
        }
    }

    /// The error of a patch that matched no document, given the documents seen.
    pub(crate) fn unmatched(&self, index: usize, seen: &[DocumentId]) -> Diagnostic {
        let patch = &self.patches[index];
        let same_kind: Vec<String> = seen
            .iter()
            .filter(|id| id.kind == patch.kind)
            .map(|id| match &id.project {
                Some(p) => format!("{p}.{}", id.name),
                None => id.name.clone(),
            })
            .collect();
        let wanted = match &patch.project {
            Some(p) => format!("{p}.{}", patch.name),
            None => patch.name.clone(),
        };
        let hint = if same_kind.is_empty() {
            format!("no {} is included by this environment", patch.kind)
        } else if let Some(s) = schema::did_you_mean(&wanted, same_kind.iter().map(String::as_str)) {
            format!(
                "did you mean {} {s}? (a target names the kind, metadata.name and, for a kind in a project, metadata.project)",
                patch.kind
            )
        } else {
            format!("the included {}s are: {}", patch.kind, same_kind.join(", "))
        };
        Diagnostic::error(
            &patch.file,
            patch.pos.line,
            patch.pos.column,
            format!(
                "patch target {} matches no included manifest",
                patch.target_text()
            ),
        )
        .with_hint(hint)
    }
}

/// A placeholder mistake as a finding of `file`.
pub(crate) fn subst_diagnostic(file: &Path, e: SubstError) -> Diagnostic {
    let mut d = Diagnostic::error(file, e.pos.line, e.pos.column, e.message);
    d.hint = e.hint;
    d
}

fn tag_lines(node: &mut Node, offset: usize) {
    node.pos.line += offset;
    match &mut node.value {
        NodeValue::Seq(items) => items.iter_mut().for_each(|i| tag_lines(i, offset)),
        NodeValue::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            tag_lines(k, offset);
            tag_lines(v, offset);
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::node::parse_documents;

    const ENV: &str = "apiVersion: dssctl/v1\nkind: Environment\nmetadata: {name: prod}\nspec:\n  stack: analytics-prod\n  include: [../../base]\n  values: {warehouse: dwh_prod, days: 180}\n  patches:\n    - target: {kind: Project, name: CHURN}\n      patch: {spec: {variables: {standard: {env: \"${{ values.warehouse }}\"}}}}\n";

    fn parse(text: &str) -> Result<Environment, Vec<Diagnostic>> {
        let doc = parse_documents(text).unwrap().remove(0);
        Environment::parse(Path::new("envs/prod/env.yaml"), &doc)
    }

    #[test]
    fn finds_environments_in_any_style() {
        assert!(mentions_environment("kind: Environment\n"));
        assert!(mentions_environment("{\"kind\" : \"Environment\"}"));
        assert!(mentions_environment("a: 1\nkind:   'Environment'\n"));
        assert!(!mentions_environment(
            "kind: Project\nspec: {description: Environment}\n"
        ));
    }

    #[test]
    fn reads_an_environment() {
        let env = parse(ENV).unwrap();
        assert_eq!(env.name, "prod");
        assert_eq!(env.stack.as_deref(), Some("analytics-prod"));
        assert_eq!(
            env.includes,
            [("../../base".to_string(), Pos { line: 6, column: 13 })]
        );
        assert_eq!(env.values["days"].to_json(), 180);
        assert_eq!(env.patches[0].target_text(), "Project CHURN");
        assert_eq!(env.dir(), Path::new("envs/prod"));
    }

    #[test]
    fn mistakes_are_reported_at_their_place() {
        let text = ENV
            .replace("include: [../../base]", "include: []\n  valuse: {}")
            .replace("kind: Project", "kind: Projet");
        let errors: Vec<String> = parse(&text)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("envs/prod/env.yaml:6:3:") && e.contains("includes nothing"))
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("envs/prod/env.yaml:7:3:") && e.contains("valuse"))
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("envs/prod/env.yaml:10:22:") && e.contains("Projet")),
            "{errors:#?}"
        );
    }

    #[test]
    fn expands_values_then_patches_and_locates_patched_values_in_the_environment() {
        let env = parse(ENV).unwrap();
        let (expansion, errors) = Expansion::new(&[env]);
        assert!(errors.is_empty(), "{errors:?}");
        let doc = parse_documents(
            "kind: Project\nmetadata: {name: CHURN}\nspec:\n  label: ${{ values.days }} days\n  variables: {standard: {a: 1}}\n",
        )
        .unwrap()
        .remove(0);
        let out = expansion.expand(&doc);
        assert!(out.errors.is_empty());
        assert_eq!(out.matched, [0]);
        let json = out.doc.to_json();
        assert_eq!(json["spec"]["label"], "180 days");
        assert_eq!(
            json["spec"]["variables"]["standard"],
            json!({"a": 1, "env": "dwh_prod"})
        );
        let env_node = out
            .doc
            .get("spec")
            .unwrap()
            .get("variables")
            .unwrap()
            .get("standard")
            .unwrap()
            .get("env")
            .unwrap();
        assert_eq!(
            expansion.untag(Path::new("base/p.yaml"), env_node.pos.line),
            (PathBuf::from("envs/prod/env.yaml"), 10)
        );
        assert_eq!(
            expansion.untag(Path::new("base/p.yaml"), 4),
            (PathBuf::from("base/p.yaml"), 4)
        );
    }

    #[test]
    fn an_unmatched_patch_suggests_the_close_name() {
        let env = parse(&ENV.replace("name: CHURN", "name: CHRUN")).unwrap();
        let (expansion, _) = Expansion::new(&[env]);
        let seen = [DocumentId {
            kind: "Project".into(),
            name: "CHURN".into(),
            project: None,
        }];
        let d = expansion.unmatched(0, &seen);
        assert_eq!(
            d.to_string(),
            "envs/prod/env.yaml:9:15: error: patch target Project CHRUN matches no included manifest\n  hint: did you mean Project CHURN? (a target names the kind, metadata.name and, for a kind in a project, metadata.project)"
        );
    }

    #[test]
    fn the_including_environment_overrides_values() {
        let inner = parse(ENV).unwrap();
        let outer = parse(&ENV.replace("warehouse: dwh_prod, ", "warehouse: dwh_eu, ")).unwrap();
        let (expansion, _) = Expansion::new(&[inner, outer]);
        assert_eq!(expansion.values["warehouse"].to_json(), "dwh_eu");
        assert_eq!(expansion.patches.len(), 2);
    }
}
