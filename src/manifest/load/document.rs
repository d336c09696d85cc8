//! One manifest document: its apiVersion and kind, the schema of its kind, the kind's own
//! checks and name rules, then the typed resource and the names it refers to. The kind is
//! looked up in the registry; nothing here knows a kind by name.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::Loader;
use crate::manifest::annotations;
use crate::manifest::diagnostic::Diagnostic;
use crate::manifest::kinds::{API_VERSION, Declared, ObjectMeta, Origin, Reference, Resource, display_name};
use crate::manifest::names::PROJECT_KEY_RULE;
use crate::manifest::node::{Node, NodeValue, Pos};
use crate::manifest::registry::{self as kinds, Checks, KindSpec, RefSink, env_name_for};
use crate::manifest::schema::{self, Issue, did_you_mean};

impl Loader {
    pub(super) fn load_document(&mut self, file: &Path, doc: &Node) {
        let origin_of = |pos: Pos| Origin {
            file: file.to_path_buf(),
            line: pos.line,
            column: pos.column,
        };
        let NodeValue::Map(entries) = &doc.value else {
            self.error(
                file,
                doc.pos,
                format!(
                    "a manifest must be a mapping (apiVersion, kind, metadata, spec), found {}",
                    doc.describe()
                ),
            );
            return;
        };
        let before = self.diagnostics.len();
        for (first, repeat) in doc.duplicate_keys() {
            let key = repeat.key_text();
            self.error(
                file,
                repeat.pos,
                format!(
                    "duplicate key \"{key}\": already given at line {}",
                    first.pos.line
                ),
            )
            .hint = Some("a key may appear once in a mapping: remove or merge the repeated one".into());
        }

        // The resource's name for messages, as far as it can be read.
        let kind_text = doc.get("kind").and_then(Node::as_str);
        let meta = doc.get("metadata");
        let name = meta.and_then(|m| m.get("name")).and_then(Node::as_str);
        let project = meta.and_then(|m| m.get("project")).and_then(Node::as_str);
        let known_kind = kind_text.and_then(kinds::by_name);
        if let (Some(kind), Some(name)) = (known_kind, name)
            && kind.referable()
        {
            let project = project.filter(|_| kind.in_project()).map(str::to_string);
            self.names
                .entry(kind.id())
                .or_default()
                .insert((project, name.to_string()));
        }
        let resource_name = match (known_kind, name) {
            (Some(kind), Some(name)) if !name.is_empty() => {
                // The project is part of the name only for kinds that belong to one.
                let project = project.filter(|_| kind.in_project()).map(cut);
                Some(display_name(kind.name(), &cut(name), project.as_deref()))
            }
            _ => None,
        };

        // apiVersion and kind first, with messages of their own.
        match doc.entry("apiVersion") {
            None => {
                self.error(file, doc.pos, "missing required field \"apiVersion\"")
                    .hint = Some(format!("start the document with `apiVersion: {API_VERSION}`"));
            }
            Some((_, v)) if v.as_str() == Some(API_VERSION) => {}
            Some((_, v)) => {
                self.error(
                    file,
                    v.pos,
                    format!("apiVersion: unsupported version {}", v.shown()),
                )
                .hint = Some(format!(
                    "this version of dssctl reads `apiVersion: {API_VERSION}`"
                ));
            }
        }
        let all_kinds = kinds::names();
        let kind = match doc.entry("kind") {
            None => {
                self.error(file, doc.pos, "missing required field \"kind\"").hint =
                    Some(format!("one of: {}", all_kinds.join(", ")));
                None
            }
            Some((_, v)) => match v.as_str().and_then(kinds::by_name) {
                Some(k) => Some(k),
                None => {
                    let suggestion = v
                        .as_str()
                        .and_then(|k| did_you_mean(k, all_kinds.iter().copied()));
                    let message = match suggestion {
                        Some(s) => format!("kind: unknown kind {}, did you mean \"{s}\"?", v.shown()),
                        None => format!("kind: unknown kind {}", v.shown()),
                    };
                    self.error(file, v.pos, message).hint = Some(format!("one of: {}", all_kinds.join(", ")));
                    None
                }
            },
        };
        let Some(kind) = kind else {
            // Without a kind the rest cannot be checked against a schema; still flag unknown
            // top-level fields.
            for (k, _) in entries {
                if let Some(key) = k
                    .as_str()
                    .filter(|k| !["apiVersion", "kind", "metadata", "spec"].contains(k))
                {
                    self.error(file, k.pos, format!("unknown field \"{key}\""));
                }
            }
            return;
        };

        let root = schema::validation_schema();
        let doc_schema = &root["$defs"][format!("{}Manifest", kind.name())];
        let issues = schema::validate(root, doc_schema, doc, "");
        for issue in issues {
            if issue.path == "apiVersion" || issue.path == "kind" {
                continue; // reported above
            }
            if issue.path.starts_with("metadata.annotations.dssctl.io/") {
                continue; // reported with a hint by the semantic checks
            }
            let issue = redact_secret_issue(kind, issue);
            let d = self.error(file, issue.pos, issue.message);
            d.hint = issue.hint;
        }
        self.semantic_checks(file, kind, doc);

        let has_errors = self.diagnostics[before..].iter().any(Diagnostic::is_error);
        for d in &mut self.diagnostics[before..] {
            if d.resource.is_none() {
                d.resource.clone_from(&resource_name);
            }
        }
        if has_errors {
            return;
        }

        let (Some(meta_node), spec_node) = (meta, doc.get("spec")) else {
            return;
        };
        let origin = origin_of(doc.pos);
        let resource = match self.typed_resource(file, kind, meta_node, spec_node, doc.pos) {
            Some(r) => r,
            None => return,
        };
        let references = collect_references(kind, doc, &origin_of);
        self.resources.push(Declared {
            resource,
            origin,
            references,
        });
    }

    /// Builds the typed resource from a tree the schema accepted.
    fn typed_resource(
        &mut self,
        file: &Path,
        kind: &dyn KindSpec,
        meta: &Node,
        spec: Option<&Node>,
        pos: Pos,
    ) -> Option<Resource> {
        let meta: ObjectMeta = self.typed(file, meta)?;
        let spec_value = spec
            .map(Node::to_json)
            .filter(|v| !v.is_null())
            .unwrap_or_else(|| Value::Object(Default::default()));
        match kind.parse(meta, spec_value) {
            Ok(r) => Some(r),
            Err(err) => {
                // The schema and the types agree, so this is a bug in dssctl; still report it
                // where it happened rather than panicking.
                let at = spec.map_or(pos, |s| s.pos);
                self.error(file, at, format!("spec: {err}"));
                None
            }
        }
    }

    fn typed<T: DeserializeOwned>(&mut self, file: &Path, node: &Node) -> Option<T> {
        match serde_json::from_value(node.to_json()) {
            Ok(v) => Some(v),
            Err(err) => {
                self.error(file, node.pos, err.to_string());
                None
            }
        }
    }

    /// Rules the schema cannot express: the name formats, then the kind's own checks
    /// (literal secrets, the forms of a grant, durations, the names written in its spec).
    fn semantic_checks(&mut self, file: &Path, kind: &dyn KindSpec, doc: &Node) {
        let mut checks = Checks {
            file,
            diagnostics: &mut self.diagnostics,
        };
        let meta = doc.get("metadata");
        if let Some(name) = meta.and_then(|m| m.get("name")) {
            checks.name("metadata.name", name, kind.name_rule());
        }
        if let Some(project) = meta.and_then(|m| m.get("project")).filter(|_| kind.in_project()) {
            checks.name("metadata.project", project, &PROJECT_KEY_RULE);
        }
        if let Some(NodeValue::Map(entries)) = meta.and_then(|m| m.get("annotations")).map(|a| &a.value) {
            for (key, value) in entries {
                let Some(text) = key.as_str() else { continue };
                if let Err(invalid) = annotations::check(text, value.as_str()) {
                    let pos = if invalid.unknown_key { key.pos } else { value.pos };
                    checks.error(pos, invalid.message).hint = Some(invalid.hint);
                }
            }
        }
        if let Some(spec) = doc.get("spec") {
            kind.check_spec(&mut checks, spec);
        }
    }
}

/// The names a resource refers to, located at the node that writes each name.
fn collect_references(kind: &dyn KindSpec, doc: &Node, origin_of: &dyn Fn(Pos) -> Origin) -> Vec<Reference> {
    let mut found = Vec::new();
    kind.references(
        doc.get("metadata"),
        doc.get("spec"),
        &mut RefSink { found: &mut found },
    );
    found
        .into_iter()
        .filter_map(|(kind, node, project)| {
            Some(Reference {
                kind,
                name: node.as_str()?.to_string(),
                project,
                origin: origin_of(node.pos),
            })
        })
        .collect()
}

/// A schema finding about a secret field must not repeat the value it found there.
fn redact_secret_issue(kind: &dyn KindSpec, mut issue: Issue) -> Issue {
    // Only findings that quote a scalar value are rewritten; the others name fields, not values.
    let quotes_value = [
        "found the string",
        "found the number",
        "found the boolean",
        "is not one of",
    ]
    .iter()
    .any(|m| issue.message.contains(m));
    if kind.is_secret_path(&issue.path) && quotes_value {
        let field = issue.path.rsplit('.').next().unwrap_or("password").to_string();
        issue.message = format!("{}: a secret must not be written in a manifest", issue.path);
        issue.hint = Some(format!(
            "write `{field}: {{fromEnv: {}}}` (or `{{fromFile: PATH}}`); it is read only when sent to DSS",
            env_name_for(&field)
        ));
    }
    issue
}

/// A name cut for messages: a 400-character name repeated on every line helps no one.
fn cut(name: &str) -> String {
    const MAX: usize = 60;
    if name.chars().count() <= MAX {
        name.to_string()
    } else {
        format!("{}...", name.chars().take(MAX).collect::<String>())
    }
}
