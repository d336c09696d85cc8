//! Loading manifests: finding the files under the given paths, parsing every YAML document with
//! its locations, checking each document against the schema and the rules DSS applies to names
//! and secrets, then the checks across documents (duplicates, references). Every mistake is
//! collected, so that one run reports them all. Nothing here touches the network, and secret
//! references are never resolved here.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::diagnostic::{self, Diagnostic, Diagnostics};
use super::kinds::{
    API_VERSION, Declared, KINDS, ObjectMeta, Origin, Reference, ReferenceKind, Resource, SecretRef,
    display_name,
};
use super::node::{Node, NodeValue, Pos, parse_sections};
use super::schema::{self, Issue, did_you_mean};

/// A manifest file larger than this is refused: manifests are written by hand, and the limit
/// keeps a mistaken path (a data file, a dump) from exhausting memory.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Longest DSS identifier accepted (project keys, names, logins).
pub const MAX_NAME_CHARS: usize = 255;

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
    names: BTreeMap<ReferenceKind, BTreeSet<(Option<String>, String)>>,
}

fn is_manifest_file(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

fn is_skipped_entry(name: &str) -> bool {
    // Hidden entries (.git, .github, editor files) and dssctl's own `.dssctl/` state.
    name.starts_with('.')
}

impl Loader {
    fn error(&mut self, file: &Path, pos: Pos, message: impl Into<String>) -> &mut Diagnostic {
        self.diagnostics
            .push(Diagnostic::error(file, pos.line, pos.column, message));
        self.diagnostics.last_mut().expect("just pushed")
    }

    fn discover(&mut self, paths: &[PathBuf]) -> Vec<PathBuf> {
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

    fn walk(&mut self, dir: &Path, depth: usize, files: &mut Vec<PathBuf>, seen: &mut BTreeSet<PathBuf>) {
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

    /// Parses and checks the files on every core: YAML parsing dominates the load time of a
    /// large repository, and files are independent until [`Loader::cross_checks`]. Each thread
    /// takes a contiguous run of files, so merging the runs in order keeps the resources in
    /// file order, exactly as a sequential load would.
    fn load_files_in_parallel(&mut self, files: &[PathBuf]) {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk_size = files.len().div_ceil(threads).max(1);
        let partial: Vec<Loader> = std::thread::scope(|scope| {
            let workers: Vec<_> = files
                .chunks(chunk_size)
                .map(|chunk| {
                    std::thread::Builder::new()
                        // As much stack as the main thread: deeply nested YAML recurses.
                        .stack_size(LOADER_STACK_BYTES)
                        .spawn_scoped(scope, move || {
                            let mut loader = Loader::default();
                            for file in chunk {
                                loader.load_file(file);
                            }
                            loader
                        })
                        .expect("cannot start a manifest loader thread")
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| worker.join().expect("a manifest loader thread panicked"))
                .collect()
        });
        for part in partial {
            self.diagnostics.extend(part.diagnostics);
            self.resources.extend(part.resources);
            for (kind, names) in part.names {
                self.names.entry(kind).or_default().extend(names);
            }
        }
    }

    fn load_file(&mut self, file: &Path) {
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

    fn load_bytes(&mut self, file: &Path, bytes: Vec<u8>) {
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

    fn load_text(&mut self, file: &Path, text: &str) {
        let mut documents = 0;
        let mut broken = false;
        for section in parse_sections(text) {
            match section.result {
                Ok(docs) => {
                    documents += docs.len();
                    for doc in &docs {
                        self.load_document(file, doc);
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

    /// A parser error in a section starting `line_offset` lines into the file.
    fn yaml_error(&mut self, file: &Path, text: &str, line_offset: usize, err: &serde_saphyr::Error) {
        let location = err.location();
        let pos = match location {
            Some(l) if l.line() > 0 => Pos {
                line: usize::try_from(l.line()).unwrap_or(0) + line_offset,
                column: usize::try_from(l.column()).unwrap_or(0),
            },
            _ => Pos {
                line: line_offset + 1,
                column: 1,
            },
        };
        let raw = err.without_snippet().to_string();
        let (message, budget_hint) = match budget_message(&raw) {
            Some((message, hint)) => (message.to_string(), Some(hint.to_string())),
            None => (clean_yaml_message(&raw), None),
        };
        let line_text = text.lines().nth(pos.line.saturating_sub(1)).unwrap_or("");
        let hint = if text.lines().any(|l| l.trim_start_matches(' ').starts_with('\t'))
            && line_text.contains('\t')
        {
            Some("YAML does not allow tabs for indentation: indent with spaces".to_string())
        } else {
            budget_hint.or_else(|| syntax_hint(&message).map(str::to_string))
        };
        let d = self.error(file, pos, format!("invalid YAML: {message}"));
        d.hint = hint;
    }

    fn load_document(&mut self, file: &Path, doc: &Node) {
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
        let known_kind = kind_text.filter(|k| KINDS.contains(k));
        if let (Some(kind), Some(name)) = (known_kind, name) {
            let reference_kind = match kind {
                "Project" => Some(ReferenceKind::Project),
                "Dataset" => Some(ReferenceKind::Dataset),
                "Connection" => Some(ReferenceKind::Connection),
                "User" => Some(ReferenceKind::User),
                "Group" => Some(ReferenceKind::Group),
                _ => None,
            };
            if let Some(rk) = reference_kind {
                let project = project
                    .filter(|_| rk == ReferenceKind::Dataset)
                    .map(str::to_string);
                self.names
                    .entry(rk)
                    .or_default()
                    .insert((project, name.to_string()));
            }
        }
        let resource_name = match (known_kind, name) {
            (Some(kind), Some(name)) if !name.is_empty() => {
                // The project is part of the name only for kinds that belong to one.
                let project = project.filter(|_| schema::project_required(kind)).map(cut);
                Some(display_name(kind, &cut(name), project.as_deref()))
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
        let kind = match doc.entry("kind") {
            None => {
                self.error(file, doc.pos, "missing required field \"kind\"").hint =
                    Some(format!("one of: {}", KINDS.join(", ")));
                None
            }
            Some((_, v)) => match v.as_str() {
                Some(k) if KINDS.contains(&k) => Some(k),
                _ => {
                    let suggestion = v.as_str().and_then(|k| did_you_mean(k, KINDS));
                    let message = match suggestion {
                        Some(s) => format!("kind: unknown kind {}, did you mean \"{s}\"?", v.shown()),
                        None => format!("kind: unknown kind {}", v.shown()),
                    };
                    self.error(file, v.pos, message).hint = Some(format!("one of: {}", KINDS.join(", ")));
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
        let doc_schema = &root["$defs"][format!("{kind}Manifest")];
        let issues = schema::validate(root, doc_schema, doc, "");
        for issue in issues {
            if issue.path == "apiVersion" || issue.path == "kind" {
                continue; // reported above
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
        let references = collect_references(&resource, doc, &origin_of);
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
        kind: &str,
        meta: &Node,
        spec: Option<&Node>,
        pos: Pos,
    ) -> Option<Resource> {
        let meta: ObjectMeta = self.typed(file, meta)?;
        let spec_value = spec
            .map(Node::to_json)
            .filter(|v| !v.is_null())
            .unwrap_or_else(|| Value::Object(Default::default()));
        fn de<T: DeserializeOwned>(v: Value) -> Result<T, serde_json::Error> {
            serde_json::from_value(v)
        }
        let result = match kind {
            "Project" => de(spec_value).map(|spec| Resource::Project { meta, spec }),
            "Dataset" => de(spec_value).map(|spec| Resource::Dataset { meta, spec }),
            "Connection" => de(spec_value).map(|spec| Resource::Connection { meta, spec }),
            "User" => de(spec_value).map(|spec| Resource::User { meta, spec }),
            "Group" => de(spec_value).map(|spec| Resource::Group { meta, spec }),
            "Variables" => de(spec_value).map(|spec| Resource::Variables { meta, spec }),
            _ => de(spec_value).map(|spec| Resource::Build { meta, spec }),
        };
        match result {
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

    /// Rules the schema cannot express: name formats, literal secrets, the forms of a grant,
    /// durations.
    fn semantic_checks(&mut self, file: &Path, kind: &str, doc: &Node) {
        let meta = doc.get("metadata");
        if let Some(name) = meta.and_then(|m| m.get("name"))
            && let Some(text) = name.as_str()
        {
            let rule = match kind {
                "Project" => NameRule::ProjectKey,
                "Dataset" => NameRule::Dataset,
                "Connection" => NameRule::Connection,
                "User" => NameRule::Login,
                "Group" => NameRule::Group,
                "Build" => NameRule::Build,
                _ => NameRule::Variables,
            };
            if let Some((message, hint)) = rule.check(text) {
                self.error(file, name.pos, format!("metadata.name: {message}"))
                    .hint = Some(hint);
            }
        }
        if let Some(project) = meta
            .and_then(|m| m.get("project"))
            .filter(|_| schema::project_required(kind))
            && let Some(text) = project.as_str()
            && let Some((message, hint)) = NameRule::ProjectKey.check(text)
        {
            self.error(file, project.pos, format!("metadata.project: {message}"))
                .hint = Some(hint);
        }
        let Some(spec) = doc.get("spec") else { return };
        self.check_referenced_names(file, kind, spec);
        match kind {
            "Connection" => self.check_connection_params(file, spec),
            "Project" => self.check_permissions(file, spec),
            "Build" => self.check_build(file, spec),
            "Dataset" => self.check_dataset(file, spec),
            "User" => {
                if let Some(password) = spec
                    .get("password")
                    .filter(|p| matches!(p.value, NodeValue::Map(_)))
                {
                    self.check_ref_target(file, password, "spec.password");
                }
            }
            _ => {}
        }
    }

    /// Names that refer to other resources follow the same rules as the names they refer to.
    fn check_referenced_names(&mut self, file: &Path, kind: &str, spec: &Node) {
        let items = |node: Option<&Node>| -> Vec<Node> {
            match node.map(|n| &n.value) {
                Some(NodeValue::Seq(items)) => items.clone(),
                _ => Vec::new(),
            }
        };
        let mut named: Vec<(String, Node, NameRule)> = Vec::new();
        match kind {
            "Project" => {
                if let Some(owner) = spec.get("owner") {
                    named.push(("spec.owner".into(), owner.clone(), NameRule::Login));
                }
                for (i, grant) in items(spec.get("permissions")).iter().enumerate() {
                    if let Some(g) = grant.get("group") {
                        named.push((format!("spec.permissions[{i}].group"), g.clone(), NameRule::Group));
                    }
                    if let Some(u) = grant.get("user") {
                        named.push((format!("spec.permissions[{i}].user"), u.clone(), NameRule::Login));
                    }
                }
            }
            "User" => {
                for (i, g) in items(spec.get("groups")).into_iter().enumerate() {
                    named.push((format!("spec.groups[{i}]"), g, NameRule::Group));
                }
            }
            "Connection" => {
                for (i, g) in items(spec.get("allowedGroups")).into_iter().enumerate() {
                    named.push((format!("spec.allowedGroups[{i}]"), g, NameRule::Group));
                }
            }
            "Dataset" => {
                if let Some(c) = spec.get("params").and_then(|p| p.get("connection")) {
                    if c.as_str().is_none() && !matches!(c.value, NodeValue::Null) {
                        self.error(
                            file,
                            c.pos,
                            format!(
                                "spec.params.connection: expected a connection name, found {}",
                                c.describe()
                            ),
                        )
                        .hint =
                            Some("quote it if the name looks like a number: `connection: \"2024\"`".into());
                    }
                    named.push(("spec.params.connection".into(), c.clone(), NameRule::Connection));
                }
            }
            _ => {}
        }
        for (path, node, rule) in named {
            if let Some((message, hint)) = node.as_str().and_then(|text| rule.check(text)) {
                self.error(file, node.pos, format!("{path}: {message}")).hint = Some(hint);
            }
        }
    }

    fn check_connection_params(&mut self, file: &Path, spec: &Node) {
        let Some(NodeValue::Map(params)) = spec.get("params").map(|p| &p.value) else {
            return;
        };
        for (key, value) in params {
            let Some(name) = key.as_str() else { continue };
            let path = format!("spec.params.{name}");
            let is_ref_shaped = value.get("fromEnv").is_some() || value.get("fromFile").is_some();
            if is_ref_shaped {
                if SecretRef::from_value(&value.to_json()).is_none() {
                    self.error(file, value.pos, format!("{path}: a secret reference is `{{fromEnv: NAME}}` or `{{fromFile: PATH}}` with a string, and nothing else"))
                        .hint = Some(format!("for example `{name}: {{fromEnv: {}}}`", env_name_for(name)));
                } else {
                    self.check_ref_target(file, value, &path);
                }
                continue;
            }
            if crate::wire::is_secret_param(name) && !matches!(value.value, NodeValue::Null) {
                // The value itself is never repeated: it is a secret.
                self.error(
                    file,
                    value.pos,
                    format!("{path}: a secret must not be written in a manifest"),
                )
                .hint = Some(format!(
                    "write `{name}: {{fromEnv: {}}}` (or `{{fromFile: PATH}}`); it is read only when sent to DSS",
                    env_name_for(name)
                ));
            }
        }
    }

    fn check_ref_target(&mut self, file: &Path, value: &Node, path: &str) {
        if let Some(env) = value.get("fromEnv")
            && let Some(name) = env.as_str()
            && (name.is_empty()
                || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                || name.starts_with(|c: char| c.is_ascii_digit()))
        {
            self.error(
                file,
                env.pos,
                format!(
                    "{path}.fromEnv: {} is not an environment variable name",
                    env.describe()
                ),
            )
            .hint = Some("use letters, digits and underscores, e.g. `WAREHOUSE_PASSWORD`".into());
        }
        if let Some(f) = value.get("fromFile")
            && f.as_str().is_some_and(str::is_empty)
        {
            self.error(file, f.pos, format!("{path}.fromFile: the path is empty"))
                .hint = Some(
                "a path relative to this manifest's directory, e.g. `secrets/warehouse-password`".into(),
            );
        }
    }

    fn check_permissions(&mut self, file: &Path, spec: &Node) {
        let Some(NodeValue::Seq(grants)) = spec.get("permissions").map(|p| &p.value) else {
            return;
        };
        let mut seen: HashMap<(String, String), Pos> = HashMap::new();
        for (i, grant) in grants.iter().enumerate() {
            let NodeValue::Map(entries) = &grant.value else {
                continue;
            };
            let path = format!("spec.permissions[{i}]");
            let group = grant.get("group").and_then(Node::as_str);
            let user = grant.get("user").and_then(Node::as_str);
            match (group, user) {
                (Some(_), Some(_)) => {
                    self.error(
                        file,
                        grant.pos,
                        format!("{path}: give either `group` or `user`, not both"),
                    )
                    .hint = Some("write one grant per group or user".into());
                }
                (None, None) if grant.get("group").is_none() && grant.get("user").is_none() => {
                    self.error(file, grant.pos, format!("{path}: missing `group` or `user`"))
                        .hint = Some("e.g. `- {group: data_scientists, type: ANALYST_READWRITE}`".into());
                }
                _ => {}
            }
            let has_type = grant.get("type").is_some();
            let flags: Vec<&str> = entries
                .iter()
                .filter_map(|(k, _)| k.as_str())
                .filter(|k| !["group", "user", "type"].contains(k))
                .collect();
            if has_type && !flags.is_empty() {
                self.error(
                    file,
                    grant.pos,
                    format!(
                        "{path}: mixes `type` with per-flag permissions ({})",
                        flags.join(", ")
                    ),
                )
                .hint = Some("use either the `type` form or the per-flag form in one grant".into());
            } else if !has_type && flags.is_empty() {
                self.error(file, grant.pos, format!("{path}: grants nothing")).hint = Some(
                    "add `type: READER` (or ADMIN, ANALYST_READWRITE, ANALYST_READONLY), or per-flag permissions such as `readProjectContent: true`".into(),
                );
            }
            let who = group.map(|g| ("group", g)).or(user.map(|u| ("user", u)));
            if let Some((what, name)) = who {
                let key = (what.to_string(), name.to_string());
                if let Some(first) = seen.get(&key) {
                    self.error(
                        file,
                        grant.pos,
                        format!(
                            "{path}: {what} \"{name}\" is granted twice (first at line {})",
                            first.line
                        ),
                    )
                    .hint = Some("merge the two grants: permissions are matched by group or user".into());
                } else {
                    seen.insert(key, grant.pos);
                }
            }
        }
    }

    fn check_build(&mut self, file: &Path, spec: &Node) {
        if let Some(timeout) = spec.get("timeout")
            && let Some(text) = timeout.as_str()
            && humantime::parse_duration(text).is_err()
        {
            self.error(
                file,
                timeout.pos,
                format!("spec.timeout: {} is not a duration", timeout.describe()),
            )
            .hint = Some("e.g. `30m`, `2h`, `90s`".into());
        }
        if let Some(NodeValue::Seq(outputs)) = spec.get("outputs").map(|o| &o.value) {
            if outputs.is_empty() {
                self.error(
                    file,
                    spec.get("outputs").map_or(spec.pos, |o| o.pos),
                    "spec.outputs: a build needs at least one output",
                )
                .hint = Some("e.g. `outputs: [{id: customers}]`".into());
            }
            for (i, output) in outputs.iter().enumerate() {
                let is_dataset = output
                    .get("type")
                    .and_then(Node::as_str)
                    .is_none_or(|t| t == "DATASET");
                if let Some(id) = output.get("id").filter(|_| is_dataset)
                    && let Some((message, hint)) = id.as_str().and_then(|t| NameRule::Dataset.check(t))
                {
                    self.error(file, id.pos, format!("spec.outputs[{i}].id: {message}"))
                        .hint = Some(hint);
                }
            }
        }
    }

    fn check_dataset(&mut self, file: &Path, spec: &Node) {
        // `params` is free-form (each dataset type has its own keys), so a misspelt `connection`
        // would pass unnoticed and the dataset would silently lose its connection.
        if let Some(NodeValue::Map(params)) = spec.get("params").map(|p| &p.value) {
            let has_connection = params.iter().any(|(k, _)| k.as_str() == Some("connection"));
            for (key, _) in params {
                let Some(name) = key.as_str() else { continue };
                if !has_connection && name != "connection" && did_you_mean(name, ["connection"]).is_some() {
                    self.diagnostics.push(
                        Diagnostic::warning(
                            file,
                            key.pos.line,
                            key.pos.column,
                            format!("spec.params: \"{name}\" looks like a misspelt \"connection\""),
                        )
                        .with_hint("a dataset's connection is `params.connection`"),
                    );
                }
            }
        }
        if let Some(NodeValue::Seq(columns)) = spec
            .get("schema")
            .and_then(|s| s.get("columns"))
            .map(|c| &c.value)
        {
            let mut seen: HashMap<&str, Pos> = HashMap::new();
            for (i, column) in columns.iter().enumerate() {
                let Some(name) = column.get("name") else { continue };
                let Some(text) = name.as_str() else { continue };
                if text.is_empty() {
                    self.error(
                        file,
                        name.pos,
                        format!("spec.schema.columns[{i}].name: a column name cannot be empty"),
                    );
                } else if let Some(first) = seen.get(text) {
                    self.error(file, name.pos, format!("spec.schema.columns[{i}]: column \"{text}\" is declared twice (first at line {})", first.line))
                        .hint = Some("column names are unique within a schema".into());
                } else {
                    seen.insert(text, name.pos);
                }
            }
        }
    }

    /// Duplicates and references across every loaded document.
    fn cross_checks(&mut self) {
        let mut first: HashMap<(&'static str, Option<String>, String), &Origin> = HashMap::new();
        let mut duplicates = Vec::new();
        for declared in &self.resources {
            let meta = declared.resource.meta();
            let key = (declared.resource.kind(), meta.project.clone(), meta.name.clone());
            match first.get(&key) {
                Some(origin) => duplicates.push(
                    Diagnostic::error(
                        &declared.origin.file,
                        declared.origin.line,
                        declared.origin.column,
                        format!("declared twice: also declared at {origin}"),
                    )
                    .with_resource(Some(declared.resource.display_name()))
                    .with_hint(
                        "each resource is declared once across all the manifests: remove one of the two",
                    ),
                ),
                None => {
                    first.insert(key, &declared.origin);
                }
            }
        }
        self.diagnostics.extend(duplicates);

        let declared_names = &self.names;
        let mut warnings = Vec::new();
        for d in &self.resources {
            for reference in &d.references {
                let known = declared_names
                    .get(&reference.kind)
                    .is_some_and(|set| set.contains(&(reference.project.clone(), reference.name.clone())));
                if known {
                    continue;
                }
                let what = match &reference.project {
                    Some(p) => format!("{} {p}.{}", reference.kind.as_str(), reference.name),
                    None => format!("{} \"{}\"", reference.kind.as_str(), reference.name),
                };
                warnings.push(
                    Diagnostic::warning(
                        &reference.origin.file,
                        reference.origin.line,
                        reference.origin.column,
                        format!("{what} is not declared in these manifests"),
                    )
                    .with_resource(Some(d.resource.display_name()))
                    .with_hint("fine if it already exists on the instance (plan checks it there); otherwise declare it or fix the name"),
                );
            }
        }
        self.diagnostics.extend(warnings);
    }
}

/// The names a resource refers to, located at the node that writes each name.
fn collect_references(resource: &Resource, doc: &Node, origin_of: &dyn Fn(Pos) -> Origin) -> Vec<Reference> {
    let mut refs = Vec::new();
    let spec = doc.get("spec");
    let mut push = |kind: ReferenceKind, node: Option<&Node>, project: Option<&str>| {
        if let Some(node) = node
            && let Some(name) = node.as_str()
        {
            refs.push(Reference {
                kind,
                name: name.to_string(),
                project: project.map(str::to_string),
                origin: origin_of(node.pos),
            });
        }
    };
    let list = |node: Option<&Node>| -> Vec<Node> {
        match node.map(|n| &n.value) {
            Some(NodeValue::Seq(items)) => items.clone(),
            _ => Vec::new(),
        }
    };
    let meta = doc.get("metadata");
    match resource {
        Resource::Dataset { .. } => {
            push(ReferenceKind::Project, meta.and_then(|m| m.get("project")), None);
            let connection = spec
                .and_then(|s| s.get("params"))
                .and_then(|p| p.get("connection"));
            push(ReferenceKind::Connection, connection, None);
        }
        Resource::Build { meta: m, .. } => {
            push(ReferenceKind::Project, meta.and_then(|m| m.get("project")), None);
            for output in list(spec.and_then(|s| s.get("outputs"))) {
                let is_dataset = output
                    .get("type")
                    .and_then(Node::as_str)
                    .is_none_or(|t| t == "DATASET");
                if is_dataset {
                    push(ReferenceKind::Dataset, output.get("id"), m.project.as_deref());
                }
            }
        }
        Resource::Project { .. } => {
            push(ReferenceKind::User, spec.and_then(|s| s.get("owner")), None);
            for grant in list(spec.and_then(|s| s.get("permissions"))) {
                push(ReferenceKind::Group, grant.get("group"), None);
                push(ReferenceKind::User, grant.get("user"), None);
            }
        }
        Resource::User { .. } => {
            for group in list(spec.and_then(|s| s.get("groups"))) {
                push(ReferenceKind::Group, Some(&group), None);
            }
        }
        Resource::Connection { .. } => {
            for group in list(spec.and_then(|s| s.get("allowedGroups"))) {
                push(ReferenceKind::Group, Some(&group), None);
            }
        }
        Resource::Group { .. } | Resource::Variables { .. } => {}
    }
    refs
}

/// A schema finding about a secret field must not repeat the value it found there.
fn redact_secret_issue(kind: &str, mut issue: Issue) -> Issue {
    let secret_path = (kind == "User" && issue.path == "spec.password")
        || (kind == "Connection"
            && issue.path.strip_prefix("spec.params.").is_some_and(|rest| {
                crate::wire::is_secret_param(rest.split(['.', '[']).next().unwrap_or(rest))
            }));
    // Only findings that quote a scalar value are rewritten; the others name fields, not values.
    let quotes_value = [
        "found the string",
        "found the number",
        "found the boolean",
        "is not one of",
    ]
    .iter()
    .any(|m| issue.message.contains(m));
    if secret_path && quotes_value {
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

/// A plausible environment variable name for a secret field, for hints.
fn env_name_for(field: &str) -> String {
    let mut out = String::new();
    for (i, c) in field.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push('_');
        }
    }
    if out.is_empty() { "SECRET".to_string() } else { out }
}

/// The identifier rules of DSS for each kind of name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameRule {
    ProjectKey,
    Dataset,
    Connection,
    Login,
    Group,
    Build,
    Variables,
}

impl NameRule {
    /// `Some((message, hint))` when `name` breaks the rule.
    fn check(self, name: &str) -> Option<(String, String)> {
        let shown = super::node::quote_short(name);
        if self == NameRule::Variables {
            return (name != "global").then(|| {
                (
                    format!("{shown}: the global variables are named `global`"),
                    "write `metadata: {name: global}`".to_string(),
                )
            });
        }
        if name.is_empty() {
            return Some((
                "a name cannot be empty".into(),
                "give the DSS name of the resource".into(),
            ));
        }
        let count = name.chars().count();
        if count > MAX_NAME_CHARS {
            return Some((
                format!("name too long ({count} characters; at most {MAX_NAME_CHARS})"),
                "use a shorter name".into(),
            ));
        }
        let (allowed, what, example): (fn(char) -> bool, &str, &str) = match self {
            NameRule::ProjectKey => (
                |c| c.is_ascii_alphanumeric() || c == '_',
                "letters, digits and _",
                "CHURN_V2",
            ),
            NameRule::Dataset => (
                |c| c.is_ascii_alphanumeric() || c == '_',
                "letters, digits and _",
                "customers_clean",
            ),
            NameRule::Connection => (
                |c| c.is_ascii_alphanumeric() || "_-.".contains(c),
                "letters, digits, _, - and .",
                "warehouse_prod",
            ),
            NameRule::Login => (
                |c| c.is_ascii_alphanumeric() || "_-.@+".contains(c),
                "letters, digits, _, -, ., @ and +",
                "alice.martin",
            ),
            NameRule::Group => (
                |c| c.is_alphanumeric() || " _-.@".contains(c),
                "letters, digits, spaces, _, -, . and @",
                "data_scientists",
            ),
            NameRule::Build | NameRule::Variables => (
                |c| c.is_ascii_alphanumeric() || "_-.".contains(c),
                "letters, digits, _, - and .",
                "refresh-customers",
            ),
        };
        if let Some(bad) = name.chars().find(|c| !allowed(*c)) {
            let kind = match self {
                NameRule::ProjectKey => "a project key",
                NameRule::Dataset => "a dataset name",
                NameRule::Connection => "a connection name",
                NameRule::Login => "a login",
                NameRule::Group => "a group name",
                _ => "a build name",
            };
            return Some((
                format!(
                    "{shown} is not a valid {}: {bad:?} is not allowed",
                    kind.trim_start_matches("a ")
                ),
                format!("{kind} uses only {what}, e.g. `{example}`"),
            ));
        }
        if self == NameRule::Group && name.trim() != name {
            return Some((
                format!("{shown}: a group name cannot start or end with a space"),
                "remove the spaces".into(),
            ));
        }
        None
    }
}

fn io_reason(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => err.to_string(),
    }
}

/// The 1-based position just after `bytes` (valid UTF-8), to locate the first invalid byte.
fn position_after(bytes: &[u8]) -> Pos {
    let text = std::str::from_utf8(bytes).unwrap_or("");
    let line = text.matches('\n').count() + 1;
    let column = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Pos { line, column }
}

/// What to do about the parser's commonest complaints.
fn syntax_hint(message: &str) -> Option<&'static str> {
    const HINTS: [(&str, &str); 8] = [
        (
            "did not find expected key",
            "check this line's indentation: the keys of one mapping start in the same column",
        ),
        (
            "expected '-' indicator",
            "the items of a list all start with `- ` in the same column",
        ),
        (
            "unclosed bracket",
            "close the bracket (`}` or `]`), or look for a missing comma before this point",
        ),
        (
            "expected ',' or",
            "close the bracket (`}` or `]`), or look for a missing comma before this point",
        ),
        ("unclosed quote", "close the quote at the end of the value"),
        (
            "mapping values are not allowed",
            "quote a value that contains `: `, e.g. `description: \"ratio: 2\"`",
        ),
        (
            "unknown escape character",
            "in double quotes write `\\\\` for a backslash, or use single quotes",
        ),
        (
            "after single-quoted scalar",
            "inside single quotes, write a quote as `''`",
        ),
    ];
    if message.contains("unexpected character") {
        return Some("`@` and `` ` `` cannot start a plain value: quote the value");
    }
    HINTS
        .iter()
        .find(|(needle, _)| message.contains(needle))
        .map(|(_, hint)| *hint)
}

/// The parser's resource limits, said in the user's terms.
fn budget_message(raw: &str) -> Option<(&'static str, &'static str)> {
    let rest = raw.split("budget breached: ").nth(1)?;
    Some(if rest.starts_with("Depth") {
        (
            "nested more than 64 levels deep",
            "manifests are shallow: look for unbalanced brackets",
        )
    } else if rest.starts_with("Documents") {
        ("too many documents in one file", "split the file")
    } else {
        (
            "the document expands to too many values",
            "anchors and aliases that refer to each other multiply; write the values out or split the file",
        )
    })
}

/// serde-saphyr messages carry their own location suffix; ours is at the start of the line.
fn clean_yaml_message(raw: &str) -> String {
    let first = raw.lines().next().unwrap_or(raw).trim();
    let mut text = first.to_string();
    for marker in [" at line ", " at position "] {
        if let Some(i) = text.find(marker) {
            text.truncate(i);
        }
    }
    text.trim_end_matches([',', '.', ':']).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<LoadedManifests, Diagnostics> {
        load_str(Path::new("m.yaml"), text)
    }

    fn errors(text: &str) -> Vec<String> {
        load(text)
            .expect_err("should fail")
            .0
            .iter()
            .filter(|d| d.is_error())
            .map(ToString::to_string)
            .collect()
    }

    const GOOD: &str = "apiVersion: dssctl/v1\nkind: Group\nmetadata: {name: analysts}\nspec: {description: A, mayWriteSafeCode: true}\n---\napiVersion: dssctl/v1\nkind: Connection\nmetadata: {name: wh}\nspec:\n  type: PostgreSQL\n  allowedGroups: [analysts]\n  params: {host: db, password: {fromEnv: WH_PASSWORD}}\n---\napiVersion: dssctl/v1\nkind: Dataset\nmetadata: {name: customers, project: P}\nspec:\n  type: PostgreSQL\n  params: {connection: wh, mode: table, table: customers}\n";

    #[test]
    fn loads_typed_resources_with_origins_and_references() {
        let loaded = load(GOOD).unwrap();
        assert_eq!(loaded.resources.len(), 3);
        let ds = &loaded.resources[2];
        assert_eq!(ds.origin.line, 14);
        assert_eq!(ds.resource.display_name(), "dataset P.customers");
        let conn_ref = ds
            .references
            .iter()
            .find(|r| r.kind == ReferenceKind::Connection)
            .unwrap();
        assert_eq!(
            (
                conn_ref.name.as_str(),
                conn_ref.origin.line,
                conn_ref.origin.column
            ),
            ("wh", 19, 24)
        );
        // Project P is not declared: a warning, not an error.
        assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
        assert!(
            loaded.warnings[0]
                .to_string()
                .contains("project \"P\" is not declared")
        );
        match &loaded.resources[0].resource {
            Resource::Group { spec, .. } => assert_eq!(spec.abilities.get("mayWriteSafeCode"), Some(&true)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn literal_secrets_are_errors_that_never_show_the_value() {
        let text = GOOD.replace("{fromEnv: WH_PASSWORD}", "s3cr3t-value")
            + "---\napiVersion: dssctl/v1\nkind: User\nmetadata: {name: bob}\nspec: {password: hunter2-value}\n";
        let errs = errors(&text);
        assert_eq!(errs.len(), 2, "{errs:#?}");
        for e in &errs {
            assert!(!e.contains("s3cr3t") && !e.contains("hunter2"), "{e}");
            assert!(e.contains("fromEnv"), "{e}");
        }
        assert!(
            errs[0].starts_with("m.yaml:12:32: error: connection wh: spec.params.password"),
            "{errs:#?}"
        );
    }

    #[test]
    fn duplicates_name_both_places() {
        let text = format!("{GOOD}---\napiVersion: dssctl/v1\nkind: Group\nmetadata: {{name: analysts}}\n");
        let errs = errors(&text);
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(
            errs[0].starts_with(
                "m.yaml:21:1: error: group analysts: declared twice: also declared at m.yaml:1:1"
            ),
            "{errs:#?}"
        );
    }

    #[test]
    fn kind_and_api_version_mistakes() {
        let errs = errors("apiVersion: v1\nkind: Datset\nmetadata: {name: x}\n");
        assert!(
            errs[0].starts_with("m.yaml:1:13: error: apiVersion: unsupported version"),
            "{errs:#?}"
        );
        assert!(
            errs[1].contains("unknown kind \"Datset\", did you mean \"Dataset\"?"),
            "{errs:#?}"
        );
    }

    #[test]
    fn name_rules() {
        assert!(NameRule::ProjectKey.check("CHURN_2").is_none());
        assert!(NameRule::ProjectKey.check("churn-2").is_some());
        assert!(NameRule::Login.check("alice.martin@corp.com").is_none());
        assert!(NameRule::Group.check("data scientists").is_none());
        assert!(NameRule::Group.check("a/b").is_some());
        assert!(NameRule::Dataset.check(&"x".repeat(300)).is_some());
        assert!(NameRule::Variables.check("globals").is_some());
    }

    #[test]
    fn empty_and_non_mapping_documents() {
        assert!(errors("")[0].contains("no manifest in this file"));
        assert!(errors("- a\n- b\n")[0].contains("a manifest must be a mapping"));
    }

    #[test]
    fn invalid_utf8_is_located() {
        assert_eq!(position_after(b"ab\ncd"), Pos { line: 2, column: 3 });
    }

    #[test]
    fn directories_are_walked_skipping_hidden_ones_and_files_are_read_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let group = |name: &str| format!("apiVersion: dssctl/v1\nkind: Group\nmetadata: {{name: {name}}}\n");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::create_dir_all(root.join(".dssctl/local")).unwrap();
        std::fs::create_dir_all(root.join(".github")).unwrap();
        std::fs::write(root.join("a/one.yaml"), group("one")).unwrap();
        std::fs::write(root.join("a/b/two.yml"), group("two")).unwrap();
        std::fs::write(root.join("a/notes.txt"), "not: a manifest").unwrap();
        std::fs::write(root.join(".dssctl/local/state.yaml"), "{broken").unwrap();
        std::fs::write(root.join(".github/ci.yaml"), "{broken").unwrap();
        std::fs::write(root.join("three.manifest"), group("three")).unwrap();
        let paths = [
            root.to_path_buf(),
            root.join("a/one.yaml"),
            root.join("three.manifest"),
        ];
        let loaded = load_paths(&paths).unwrap();
        let names: Vec<&str> = loaded
            .resources
            .iter()
            .map(|d| d.resource.meta().name.as_str())
            .collect();
        // Path order: `a/b/two.yml` sorts before `a/one.yaml`.
        assert_eq!(names, ["two", "one", "three"]);
        assert_eq!(loaded.files, 3);
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    }

    #[test]
    fn env_names_for_hints() {
        assert_eq!(env_name_for("password"), "PASSWORD");
        assert_eq!(env_name_for("secretKey"), "SECRET_KEY");
    }

    mod round_trip {
        use proptest::prelude::*;
        use serde_json::{Value, json};

        use super::super::*;
        use crate::manifest::kinds::{
            ColumnSpec, DatasetSpec, KeyedMap, PermissionSpec, ProjectSpec, ProjectVariablesSpec, SchemaSpec,
        };

        fn text() -> impl Strategy<Value = String> {
            // Printable text, including what YAML would read as something else unquoted.
            prop_oneof![
                "\\PC{0,24}",
                Just("yes".to_string()),
                Just("null".to_string()),
                Just("1.10".to_string()),
                Just("- a: b".to_string()),
                Just(" padded ".to_string()),
            ]
        }

        fn scalar() -> impl Strategy<Value = Value> {
            prop_oneof![
                text().prop_map(Value::String),
                any::<i32>().prop_map(|i| json!(i)),
                any::<bool>().prop_map(Value::Bool),
                Just(Value::Null),
            ]
        }

        fn keyed_map() -> impl Strategy<Value = KeyedMap> {
            proptest::collection::btree_map("[a-zA-Z][a-zA-Z0-9_]{0,10}", scalar(), 0..4)
        }

        prop_compose! {
            fn dataset()(
                dataset_type in "[A-Z][A-Za-z]{1,12}",
                params in proptest::option::of(keyed_map()),
                format_type in proptest::option::of(text()),
                managed in proptest::option::of(any::<bool>()),
                columns in proptest::option::of(proptest::collection::vec(("[a-z_]{1,8}", prop_oneof![Just("string"), Just("bigint"), Just("double")], proptest::option::of(0i64..10_000)), 0..4)),
                label in proptest::option::of(text()),
                tags in proptest::option::of(proptest::collection::vec(text(), 0..3)),
                custom in proptest::option::of(keyed_map()),
            ) -> DatasetSpec {
                // Column names are unique in a schema.
                let columns = columns.map(|cols| {
                    let mut seen = std::collections::BTreeSet::new();
                    cols.into_iter()
                        .filter(|(n, _, _)| seen.insert(n.clone()))
                        .map(|(name, t, max_length)| ColumnSpec { name, column_type: t.to_string(), max_length, comment: None, meaning: None })
                        .collect()
                });
                DatasetSpec {
                    dataset_type, params, format_type, managed,
                    schema: columns.map(|columns| SchemaSpec { columns }),
                    label, tags, custom, ..DatasetSpec::default()
                }
            }
        }

        prop_compose! {
            fn project()(
                label in proptest::option::of(text()),
                description in proptest::option::of(text()),
                groups in proptest::collection::btree_set("[a-z_]{1,10}", 0..4),
                read in any::<bool>(),
                standard in proptest::option::of(keyed_map()),
                protect in proptest::option::of(any::<bool>()),
            ) -> ProjectSpec {
                let permissions = groups.into_iter().enumerate().map(|(i, group)| {
                    if i % 2 == 0 {
                        PermissionSpec { group: Some(group), permission_type: Some("READER".into()), ..PermissionSpec::default() }
                    } else {
                        PermissionSpec { group: Some(group), read_project_content: Some(read), ..PermissionSpec::default() }
                    }
                }).collect();
                ProjectSpec {
                    label, description, permissions: Some(permissions),
                    variables: standard.map(|standard| ProjectVariablesSpec { standard: Some(standard), local: None }),
                    protect, ..ProjectSpec::default()
                }
            }
        }

        fn document(kind: &str, meta: Value, spec: Value) -> String {
            let doc = json!({"apiVersion": API_VERSION, "kind": kind, "metadata": meta, "spec": spec});
            serde_saphyr::to_string(&doc).expect("serializes")
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

            /// What the types can hold, written as YAML, loads back equal: the schema the
            /// loader validates with and the types agree.
            #[test]
            fn datasets_round_trip(spec in dataset()) {
                let yaml = document("Dataset", json!({"name": "d", "project": "P"}), serde_json::to_value(&spec).unwrap());
                let loaded = load_str(std::path::Path::new("m.yaml"), &yaml).map_err(|d| TestCaseError::fail(format!("{d}\n{yaml}")))?;
                match &loaded.resources[0].resource {
                    Resource::Dataset { spec: back, .. } => prop_assert_eq!(back, &spec, "{}", yaml),
                    other => prop_assert!(false, "{:?}", other),
                }
            }

            #[test]
            fn projects_round_trip(spec in project()) {
                let yaml = document("Project", json!({"name": "P"}), serde_json::to_value(&spec).unwrap());
                let loaded = load_str(std::path::Path::new("m.yaml"), &yaml).map_err(|d| TestCaseError::fail(format!("{d}\n{yaml}")))?;
                match &loaded.resources[0].resource {
                    Resource::Project { spec: back, .. } => prop_assert_eq!(back, &spec, "{}", yaml),
                    other => prop_assert!(false, "{:?}", other),
                }
            }
        }
    }
}
