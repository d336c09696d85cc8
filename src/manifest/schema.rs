//! The JSON Schema of the manifest format, generated from the Rust kinds with schemars, and the
//! small schema interpreter the loader validates YAML trees with. Using the generated schema for
//! our own validation keeps what editors check and what `dssctl validate` checks identical.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::kinds::{API_VERSION, ObjectMeta};
use super::names::WORD_PATTERN;
use super::node::{Node, NodeValue, Pos};
use super::registry::{self as kinds, KindSpec, REGISTRY};

/// The file name of the schema that covers every kind.
pub(crate) const ALL_KINDS_FILE: &str = "dssctl.schema.json";

/// The document schema of one kind (`{apiVersion, kind, metadata, spec}`), referring to the
/// generator's definitions.
fn document_schema(generator: &mut schemars::SchemaGenerator, kind: &dyn KindSpec) -> Value {
    let meta = generator.subschema_for::<ObjectMeta>().to_value();
    let spec = kind.spec_schema(generator);
    // Name formats for editors; `dssctl validate` checks them in code, with hints.
    let mut names = Map::new();
    if let Some(pattern) = kind.name_rule().pattern {
        names.insert("name".into(), json!({"pattern": pattern, "maxLength": 255}));
    }
    let metadata = if kind.in_project() {
        names.insert(
            "project".into(),
            json!({"pattern": WORD_PATTERN, "maxLength": 255}),
        );
        json!({"allOf": [meta], "required": ["name", "project"], "properties": names})
    } else {
        json!({"allOf": [meta], "not": {"required": ["project"]}, "properties": names})
    };
    let mut required = vec!["apiVersion", "kind", "metadata"];
    if kind.spec_required() {
        required.push("spec");
    }
    json!({
        "title": kind.name(),
        "description": kind.description(),
        "type": "object",
        "additionalProperties": false,
        "required": required,
        "properties": {
            "apiVersion": {"description": "The manifest format version.", "const": API_VERSION},
            "kind": {"description": "The kind of resource the document declares.", "const": kind.name()},
            "metadata": metadata,
            "spec": spec,
        }
    })
}

fn generator() -> schemars::SchemaGenerator {
    SchemaSettings::draft2020_12().for_deserialize().into_generator()
}

/// Each kind's adjustments to the generated definitions.
fn patch_definitions(defs: &mut Map<String, Value>) {
    for kind in REGISTRY {
        kind.patch_definitions(defs);
    }
}

/// The schema of one kind's documents, standalone.
pub(crate) fn kind_schema(kind: &dyn KindSpec) -> Value {
    let mut generator = generator();
    let mut doc = document_schema(&mut generator, kind);
    let mut defs = generator.take_definitions(true);
    patch_definitions(&mut defs);
    let obj = doc.as_object_mut().expect("document schema is an object");
    let mut out = Map::new();
    out.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    out.insert("$id".into(), json!(format!("{}.schema.json", kind.id())));
    out.append(obj);
    out.insert("$defs".into(), Value::Object(defs));
    Value::Object(out)
}

/// The schema covering every kind: the document is checked against the kind it names.
pub(crate) fn all_kinds_schema() -> Value {
    let mut generator = generator();
    let mut defs_docs = Map::new();
    for kind in REGISTRY {
        defs_docs.insert(
            format!("{}Manifest", kind.name()),
            document_schema(&mut generator, *kind),
        );
    }
    let mut defs = generator.take_definitions(true);
    patch_definitions(&mut defs);
    defs.append(&mut defs_docs);
    let branches: Vec<Value> = REGISTRY
        .iter()
        .map(|kind| {
            let name = kind.name();
            json!({
                "if": {"properties": {"kind": {"const": name}}, "required": ["kind"]},
                "then": {"$ref": format!("#/$defs/{name}Manifest")}
            })
        })
        .collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": ALL_KINDS_FILE,
        "title": "dssctl manifest",
        "description": "A dssctl manifest document: one DSS resource of the kind it names.",
        "type": "object",
        "required": ["apiVersion", "kind", "metadata"],
        "properties": {
            "apiVersion": {"description": "The manifest format version.", "const": API_VERSION},
            "kind": {"description": "The kind of resource the document declares.", "enum": kinds::names()},
        },
        "allOf": branches,
        "$defs": defs,
    })
}

/// Every schema file `dssctl schema` writes: `(file name, pretty JSON text)`.
pub(crate) fn schema_files() -> Vec<(String, String)> {
    let mut files = vec![(ALL_KINDS_FILE.to_string(), pretty(&all_kinds_schema()))];
    for kind in REGISTRY {
        files.push((format!("{}.schema.json", kind.id()), pretty(&kind_schema(*kind))));
    }
    // The entry point of a deployment: not a kind, but written by hand like one.
    files.push((
        super::environment::SCHEMA_FILE.to_string(),
        pretty(&super::environment::environment_schema()),
    ));
    files
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("a JSON value serializes");
    text.push('\n');
    text
}

/// Writes every schema file into `dir` (created if missing); returns the paths written.
pub(crate) fn write_schemas(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (name, text) in schema_files() {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        written.push(path);
    }
    Ok(written)
}

/// The all-kinds schema, built once, that the loader validates against.
pub(crate) fn validation_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(all_kinds_schema)
}

/// A structural mistake found in a YAML tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Issue {
    pub pos: Pos,
    /// Dotted path of the offending field (`spec.schema.columns[1].type`).
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

/// Validates `node` (found at `path`) against `schema`, whose `$ref`s resolve in `root`.
pub(crate) fn validate(root: &Value, schema: &Value, node: &Node, path: &str) -> Vec<Issue> {
    let mut issues = Vec::new();
    let table = std::ptr::eq(root, validation_schema()).then(keyword_table);
    Validator { root, table }.check(schema, node, &FieldPath::Text(path), None, &mut issues);
    issues
}

struct Validator<'a> {
    root: &'a Value,
    /// The keywords of every object of [`validation_schema`], when `root` is it.
    table: Option<&'static KeywordTable>,
}

/// The keywords of one schema object that [`Validator::check`] reads, after its `$ref`s are
/// followed, looked up once. A manifest node is checked against a dozen keywords, each a
/// lookup by name in the schema's JSON; the loader checks every node of every document
/// against the same few hundred schema objects, so [`keyword_table`] looks them up once.
struct Keywords<'s> {
    /// The schema object itself, `$ref`s followed.
    schema: &'s Value,
    all_of: Option<&'s [Value]>,
    /// `anyOf`, else `oneOf`.
    any_of: Option<&'s [Value]>,
    types: Option<&'s Value>,
    constant: Option<&'s Value>,
    enumeration: Option<&'s [Value]>,
    not_required: Option<&'s [Value]>,
    items: Option<&'s Value>,
    minimum: Option<f64>,
    properties: Option<&'s Map<String, Value>>,
    /// `patternProperties`, each pattern without its `^`.
    pattern_prefixes: Vec<(&'s str, &'s Value)>,
    additional: Option<&'s Value>,
    has_required: bool,
    required: Vec<&'s str>,
}

impl<'s> Keywords<'s> {
    fn of(root: &'s Value, schema: &'s Value) -> Keywords<'s> {
        let schema = resolve(root, schema);
        Keywords {
            schema,
            all_of: schema.get("allOf").and_then(Value::as_array).map(Vec::as_slice),
            any_of: schema
                .get("anyOf")
                .or_else(|| schema.get("oneOf"))
                .and_then(Value::as_array)
                .map(Vec::as_slice),
            types: schema.get("type"),
            constant: schema.get("const"),
            enumeration: schema.get("enum").and_then(Value::as_array).map(Vec::as_slice),
            not_required: schema
                .get("not")
                .and_then(|n| n.get("required"))
                .and_then(Value::as_array)
                .map(Vec::as_slice),
            items: schema.get("items"),
            minimum: schema.get("minimum").and_then(Value::as_f64),
            properties: schema.get("properties").and_then(Value::as_object),
            pattern_prefixes: schema
                .get("patternProperties")
                .and_then(Value::as_object)
                .map(|p| {
                    p.iter()
                        .map(|(pattern, s)| (pattern.strip_prefix('^').unwrap_or(pattern), s))
                        .collect()
                })
                .unwrap_or_default(),
            additional: schema.get("additionalProperties"),
            has_required: schema.get("required").is_some(),
            required: required_of(schema),
        }
    }
}

/// The keywords of a schema object, from the table or looked up now.
enum KeywordsRef<'s> {
    Table(&'static Keywords<'static>),
    Now(Keywords<'s>),
}

impl<'s> std::ops::Deref for KeywordsRef<'s> {
    type Target = Keywords<'s>;

    fn deref(&self) -> &Keywords<'s> {
        match self {
            KeywordsRef::Table(k) => k,
            KeywordsRef::Now(k) => k,
        }
    }
}

/// [`Keywords`] by the address of the schema object (the validation schema is built once and
/// never changes, so its objects never move).
type KeywordTable = std::collections::HashMap<usize, Keywords<'static>, BuildAddressHasher>;

/// The keywords of every object of [`validation_schema`].
fn keyword_table() -> &'static KeywordTable {
    static TABLE: OnceLock<KeywordTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        fn walk(root: &'static Value, value: &'static Value, table: &mut KeywordTable) {
            match value {
                Value::Object(map) => {
                    table.insert(address(value), Keywords::of(root, value));
                    map.values().for_each(|v| walk(root, v, table));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(root, v, table)),
                _ => {}
            }
        }
        let root = validation_schema();
        let mut table = KeywordTable::default();
        walk(root, root, &mut table);
        table
    })
}

fn address(value: &Value) -> usize {
    std::ptr::from_ref(value) as usize
}

/// Hashes an address as itself: the keys are distinct addresses, no attacker chooses them.
#[derive(Default, Clone, Copy)]
struct BuildAddressHasher;

impl std::hash::BuildHasher for BuildAddressHasher {
    type Hasher = AddressHasher;

    fn build_hasher(&self) -> AddressHasher {
        AddressHasher(0)
    }
}

struct AddressHasher(u64);

impl std::hash::Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_usize(&mut self, n: usize) {
        // Values are at least 8-byte aligned; mix the high bits down for the table's buckets.
        let n = n as u64 >> 3;
        self.0 = n ^ (n >> 17) ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// `schema` with its `$ref`s (to `#/$defs/...` in `root`) followed.
fn resolve<'s>(root: &'s Value, schema: &'s Value) -> &'s Value {
    let mut current = schema;
    // $ref chains are short; the bound protects against a cycle.
    for _ in 0..16 {
        let Some(reference) = current.get("$ref").and_then(Value::as_str) else {
            break;
        };
        let Some(name) = reference.strip_prefix("#/$defs/") else {
            break;
        };
        match root.get("$defs").and_then(|d| d.get(name)) {
            Some(target) => current = target,
            None => break,
        }
    }
    current
}

fn required_of(schema: &Value) -> Vec<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The JSON types a node matches (an integer is also a number).
fn node_types(node: &Node) -> &'static [&'static str] {
    match node.value {
        NodeValue::Null => &["null"],
        NodeValue::Bool(_) => &["boolean"],
        NodeValue::Int(_) => &["integer", "number"],
        NodeValue::Float(_) => &["number"],
        NodeValue::Str(_) => &["string"],
        NodeValue::Seq(_) => &["array"],
        NodeValue::Map(_) => &["object"],
    }
}

fn type_phrase(t: &str) -> &'static str {
    match t {
        "null" => "nothing (null)",
        "boolean" => "a boolean (true or false)",
        "integer" => "a whole number",
        "number" => "a number",
        "string" => "a string",
        "array" => "a list",
        _ => "a mapping",
    }
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

/// Where a node is (`spec.schema.columns[1].type`), written out only when an issue names it:
/// the validator visits every field of every document, and writing each one's path had
/// been about a tenth of loading a large repository.
#[derive(Clone, Copy)]
enum FieldPath<'a> {
    /// A path given as text (the document's root is empty).
    Text(&'a str),
    Field(&'a FieldPath<'a>, &'a str),
    Item(&'a FieldPath<'a>, usize),
}

impl FieldPath<'_> {
    fn is_empty(&self) -> bool {
        matches!(self, FieldPath::Text(""))
    }
}

impl std::fmt::Display for FieldPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldPath::Text(text) => f.write_str(text),
            FieldPath::Field(parent, key) if parent.is_empty() => f.write_str(key),
            FieldPath::Field(parent, key) => write!(f, "{parent}.{key}"),
            FieldPath::Item(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

/// The closest candidate to `given`, when close enough to be a likely typo.
pub(crate) fn did_you_mean<'c>(
    given: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let lower = given.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

impl Validator<'_> {
    fn resolve<'s>(&'s self, schema: &'s Value) -> &'s Value {
        resolve(self.root, schema)
    }

    fn keywords<'s>(&'s self, schema: &'s Value) -> KeywordsRef<'s> {
        match self.table.and_then(|t| t.get(&address(schema))) {
            Some(k) => KeywordsRef::Table(k),
            None => KeywordsRef::Now(Keywords::of(self.root, schema)),
        }
    }

    /// Whether `node` matches the schema's type at the top level (used to pick the branch
    /// of an `anyOf` that the user meant).
    fn type_matches(&self, schema: &Value, node: &Node) -> bool {
        let schema = self.resolve(schema);
        if let Some(branches) = schema
            .get("anyOf")
            .or_else(|| schema.get("oneOf"))
            .and_then(Value::as_array)
        {
            return branches.iter().any(|b| self.type_matches(b, node));
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array)
            && !all.iter().all(|b| self.type_matches(b, node))
        {
            return false;
        }
        match schema.get("type") {
            Some(Value::String(t)) => node_types(node).contains(&t.as_str()),
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .any(|t| node_types(node).contains(&t)),
            _ => true,
        }
    }

    fn expected_types(&self, schema: &Value, out: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if let Some(branches) = schema
            .get("anyOf")
            .or_else(|| schema.get("oneOf"))
            .and_then(Value::as_array)
        {
            for b in branches {
                self.expected_types(b, out);
            }
            return;
        }
        let mut push = |t: &str| {
            let phrase = if t == "object" {
                // A secret reference reads better as its own shape than as "a mapping".
                match schema
                    .get("properties")
                    .and_then(Value::as_object)
                    .map(|p| p.keys().cloned().collect::<Vec<_>>())
                {
                    Some(keys) if keys == ["fromEnv"] => "{fromEnv: NAME}".to_string(),
                    Some(keys) if keys == ["fromFile"] => "{fromFile: PATH}".to_string(),
                    _ => type_phrase(t).to_string(),
                }
            } else {
                type_phrase(t).to_string()
            };
            if !out.contains(&phrase) {
                out.push(phrase);
            }
        };
        match schema.get("type") {
            Some(Value::String(t)) => push(t),
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .for_each(push),
            _ => {}
        }
    }

    fn check(
        &self,
        schema: &Value,
        node: &Node,
        path: &FieldPath<'_>,
        key_pos: Option<Pos>,
        issues: &mut Vec<Issue>,
    ) {
        let keywords = self.keywords(schema);
        let schema = keywords.schema;
        if let Some(all) = keywords.all_of {
            for sub in all {
                self.check(sub, node, path, key_pos, issues);
            }
        }
        if let Some(branches) = keywords.any_of {
            self.check_any_of(branches, node, path, key_pos, issues);
        }
        if let Some(types) = keywords.types {
            let have = node_types(node);
            // Whether the schema names a type, and whether the node is of one it names.
            let (names_one, matches) = match types {
                Value::String(t) => (true, have.contains(&t.as_str())),
                Value::Array(ts) => {
                    let mut wanted = ts.iter().filter_map(Value::as_str).peekable();
                    (wanted.peek().is_some(), wanted.any(|t| have.contains(&t)))
                }
                _ => (false, false),
            };
            if names_one && !matches {
                // An optional field left empty (`label:`) means "not given" for serde, as in
                // every YAML tool; only a present-but-null required field is an error.
                let mut expected = Vec::new();
                self.expected_types(schema, &mut expected);
                issues.push(self.type_issue(&expected, node, path));
                return;
            }
        }
        if let Some(c) = keywords.constant
            && node.to_json() != *c
        {
            issues.push(Issue {
                pos: node.pos,
                path: path.to_string(),
                message: format!("{path}: must be {c}, found {}", node.describe()),
                hint: None,
            });
        }
        if let Some(values) = keywords.enumeration {
            self.check_enum(values, node, path, issues);
        }
        if let Some(not) = keywords.not_required {
            for key in not.iter().filter_map(Value::as_str) {
                if let Some((k, _)) = node.entry(key) {
                    issues.push(Issue {
                        pos: k.pos,
                        path: FieldPath::Field(path, key).to_string(),
                        message: format!("{}: not allowed here", FieldPath::Field(path, key)),
                        hint: Some(format!(
                            "only a Dataset or a Build belongs to a project; remove `{key}`"
                        )),
                    });
                }
            }
        }
        match &node.value {
            NodeValue::Map(entries) => self.check_object(&keywords, node, entries, path, key_pos, issues),
            NodeValue::Seq(items) => {
                if let Some(item_schema) = keywords.items {
                    for (i, item) in items.iter().enumerate() {
                        self.check(item_schema, item, &FieldPath::Item(path, i), None, issues);
                    }
                }
            }
            NodeValue::Int(i) => {
                if let Some(min) = keywords.minimum
                    && (*i as f64) < min
                {
                    issues.push(Issue {
                        pos: node.pos,
                        path: path.to_string(),
                        message: format!("{path}: must be at least {min}, found {i}"),
                        hint: None,
                    });
                }
            }
            _ => {}
        }
    }

    fn type_issue(&self, expected: &[String], node: &Node, path: &FieldPath<'_>) -> Issue {
        let expected_text = join_or(expected);
        let hint = match (&node.value, expected.first().map(String::as_str)) {
            (NodeValue::Str(s), Some(first)) if first.starts_with("a boolean") => {
                let lower = s.to_ascii_lowercase();
                if lower == "true" || lower == "false" {
                    Some(format!("remove the quotes: `{lower}` (quoted, it is a string)"))
                } else if ["yes", "y", "on"].contains(&lower.as_str()) {
                    Some(format!("YAML 1.2 has no `{s}` boolean: write `true`"))
                } else if ["no", "n", "off"].contains(&lower.as_str()) {
                    Some(format!("YAML 1.2 has no `{s}` boolean: write `false`"))
                } else {
                    Some("write `true` or `false`".to_string())
                }
            }
            (NodeValue::Str(s), Some("a whole number" | "a number")) if s.trim().parse::<f64>().is_ok() => {
                Some(format!(
                    "remove the quotes: `{}` (quoted, it is a string)",
                    s.trim()
                ))
            }
            (NodeValue::Int(_) | NodeValue::Float(_) | NodeValue::Bool(_), Some("a string")) => {
                let written = node.raw.clone().unwrap_or_else(|| node.key_text());
                Some(format!("quote it to keep it as written: `\"{written}\"`"))
            }
            (NodeValue::Null, _) => Some("give a value after the colon".to_string()),
            (NodeValue::Map(_), Some(first)) if first.starts_with("{from") => {
                Some("a secret reference has exactly one key, `fromEnv` or `fromFile`".to_string())
            }
            (NodeValue::Str(_), Some(first)) if first.starts_with("{from") => {
                Some("write a secret as a reference: `{fromEnv: NAME}` or `{fromFile: PATH}`".to_string())
            }
            _ => None,
        };
        Issue {
            pos: node.pos,
            path: path.to_string(),
            message: format!("{path}: expected {expected_text}, found {}", node.describe()),
            hint,
        }
    }

    fn check_any_of(
        &self,
        branches: &[Value],
        node: &Node,
        path: &FieldPath<'_>,
        key_pos: Option<Pos>,
        issues: &mut Vec<Issue>,
    ) {
        let mut candidates: Vec<Vec<Issue>> = Vec::new();
        for branch in branches {
            let mut found = Vec::new();
            self.check(branch, node, path, key_pos, &mut found);
            if found.is_empty() {
                return;
            }
            if self.type_matches(branch, node) {
                candidates.push(found);
            }
        }
        // The branch of the right shape that is closest to the node says what is wrong inside.
        // When two are equally close (the two forms of a secret reference, `{fromVault: x}`),
        // name the forms rather than guess which was meant.
        candidates.sort_by_key(Vec::len);
        let unique_best = match candidates.as_slice() {
            [_] => true,
            [best, second, ..] => best.len() < second.len(),
            [] => false,
        };
        if unique_best {
            issues.extend(candidates.remove(0));
            return;
        }
        let mut expected = Vec::new();
        for branch in branches {
            self.expected_types(branch, &mut expected);
        }
        issues.push(self.type_issue(&expected, node, path));
    }

    fn check_enum(&self, values: &[Value], node: &Node, path: &FieldPath<'_>, issues: &mut Vec<Issue>) {
        let json = node.to_json();
        if values.contains(&json) {
            return;
        }
        let names: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
        let hint = node
            .as_str()
            .and_then(|s| did_you_mean(s, names.iter().copied()))
            .map(|m| format!("did you mean \"{m}\"?"));
        issues.push(Issue {
            pos: node.pos,
            path: path.to_string(),
            message: format!(
                "{path}: {} is not one of {}",
                node.describe(),
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            hint,
        });
    }

    fn check_object(
        &self,
        keywords: &Keywords<'_>,
        node: &Node,
        entries: &[(Node, Node)],
        path: &FieldPath<'_>,
        key_pos: Option<Pos>,
        issues: &mut Vec<Issue>,
    ) {
        let props = keywords.properties;
        let pattern_prefixes = &keywords.pattern_prefixes;
        let additional = keywords.additional;
        let is_struct = props.is_some() || additional.is_some() || keywords.has_required;
        if !is_struct {
            return;
        }
        // Fields offered as "did you mean": their absence is that typo, not a second mistake.
        let mut suggested: Vec<&str> = Vec::new();
        for (key, value) in entries {
            let NodeValue::Str(name) = &key.value else {
                issues.push(Issue {
                    pos: key.pos,
                    path: path.to_string(),
                    message: format!(
                        "{}: a key must be a string, found {}",
                        if path.is_empty() {
                            "document".to_string()
                        } else {
                            path.to_string()
                        },
                        key.describe()
                    ),
                    hint: Some("quote the key".to_string()),
                });
                continue;
            };
            let field_path = FieldPath::Field(path, name);
            if let Some(prop) = props.and_then(|p| p.get(name)) {
                // A field left empty (`label:`) is "not given", as serde reads an Option.
                if matches!(value.value, NodeValue::Null) && !keywords.required.contains(&name.as_str()) {
                    continue;
                }
                self.check(prop, value, &field_path, Some(key.pos), issues);
                continue;
            }
            if let Some((_, s)) = pattern_prefixes
                .iter()
                .find(|(prefix, _)| name.starts_with(prefix))
            {
                self.check(s, value, &field_path, Some(key.pos), issues);
                continue;
            }
            match additional {
                Some(Value::Bool(false)) => {
                    let known: Vec<&str> = props
                        .map(|p| p.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    let suggestion = did_you_mean(name, known.iter().copied());
                    if let Some(s) = suggestion {
                        suggested.push(s);
                    }
                    let message = match suggestion {
                        Some(s) => format!("{}unknown field \"{name}\", did you mean \"{s}\"?", prefix(path)),
                        None => format!("{}unknown field \"{name}\"", prefix(path)),
                    };
                    let hint = if suggestion.is_some() {
                        None
                    } else if !pattern_prefixes.is_empty() {
                        Some(format!(
                            "known fields: {}, and ability flags starting with `may`",
                            known.join(", ")
                        ))
                    } else {
                        Some(format!("known fields: {}", known.join(", ")))
                    };
                    issues.push(Issue {
                        pos: key.pos,
                        path: field_path.to_string(),
                        message,
                        hint,
                    });
                }
                Some(s @ Value::Object(_)) => self.check(s, value, &field_path, Some(key.pos), issues),
                _ => {}
            }
        }
        for &required in &keywords.required {
            let field_path = FieldPath::Field(path, required);
            match node.entry(required) {
                None if suggested.contains(&required) => {}
                None => issues.push(Issue {
                    pos: key_pos.unwrap_or(node.pos),
                    path: field_path.to_string(),
                    message: format!("{}missing required field \"{required}\"", prefix(path)),
                    hint: required_hint(&path.to_string(), required),
                }),
                // `name:` with nothing after it: say so once, whichever schema level sees it.
                Some((key, value))
                    if matches!(value.value, NodeValue::Null)
                        && !issues.iter().any(|i| i.path == field_path.to_string()) =>
                {
                    issues.push(Issue {
                        pos: key.pos,
                        path: field_path.to_string(),
                        message: format!("{field_path}: required field \"{required}\" is empty"),
                        hint: Some("give a value after the colon".to_string()),
                    });
                }
                Some(_) => {}
            }
        }
    }
}

fn prefix(path: &FieldPath<'_>) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

fn required_hint(path: &str, field: &str) -> Option<String> {
    match (path, field) {
        ("metadata", "project") => Some("add `project: <PROJECT_KEY>` under metadata".to_string()),
        ("spec", "type") => Some("the DSS type, e.g. `type: Filesystem` or `type: PostgreSQL`".to_string()),
        ("spec", "outputs") => Some("the datasets to build, e.g. `outputs: [{id: customers}]`".to_string()),
        ("", "spec") => Some("add a `spec:` section".to_string()),
        ("", "metadata") => Some("add `metadata: {name: <NAME>}`".to_string()),
        ("metadata", "name") => {
            Some("add `name: <NAME>` under metadata: the resource's DSS name".to_string())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::node::parse_documents;

    fn issues_for(yaml: &str) -> Vec<Issue> {
        let doc = parse_documents(yaml).unwrap().remove(0);
        let root = validation_schema();
        let schema = &root["$defs"]["DatasetManifest"];
        validate(root, schema, &doc, "")
    }

    #[test]
    fn a_valid_dataset_has_no_issue() {
        let issues = issues_for(
            "apiVersion: dssctl/v1\nkind: Dataset\nmetadata: {name: a, project: P}\nspec:\n  type: Filesystem\n  schema: {columns: [{name: id, type: bigint}]}\n",
        );
        assert_eq!(issues, vec![]);
    }

    #[test]
    fn reports_every_mistake_with_its_place() {
        let issues = issues_for(
            "apiVersion: dssctl/v1\nkind: Dataset\nmetadata: {name: a}\nspec:\n  formatTyp: csv\n  managed: yes\n  label: 1.5\n  schema: {columns: [{name: id, type: strng}]}\n",
        );
        let messages: Vec<String> = issues
            .iter()
            .map(|i| format!("{}:{} {}", i.pos.line, i.pos.column, i.message))
            .collect();
        assert!(
            messages.contains(&"3:1 metadata: missing required field \"project\"".to_string()),
            "{messages:#?}"
        );
        assert!(
            messages
                .contains(&"5:3 spec: unknown field \"formatTyp\", did you mean \"formatType\"?".to_string()),
            "{messages:#?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("6:12 spec.managed: expected a boolean")),
            "{messages:#?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("7:10 spec.label: expected a string, found the number 1.5")),
            "{messages:#?}"
        );
        assert!(
            messages.iter().any(
                |m| m.starts_with("8:39 spec.schema.columns[0].type: the string \"strng\" is not one of")
            ),
            "{messages:#?}"
        );
        assert!(
            messages.contains(&"4:1 spec: missing required field \"type\"".to_string()),
            "{messages:#?}"
        );
    }

    #[test]
    fn secret_reference_shape_is_checked() {
        let doc = parse_documents("password: {fromEnv: A, extra: 1}\n")
            .unwrap()
            .remove(0);
        let root = validation_schema();
        let schema = &root["$defs"]["UserSpec"];
        let issues = validate(root, schema, &doc, "spec");
        assert_eq!(issues.len(), 1, "{issues:#?}");
        assert!(
            issues[0].message.contains("unknown field \"extra\""),
            "{issues:#?}"
        );
    }

    #[test]
    fn suggestions_only_for_close_names() {
        assert_eq!(
            did_you_mean("formatTyp", ["formatType", "params"]),
            Some("formatType")
        );
        assert_eq!(did_you_mean("zzz", ["formatType", "params"]), None);
    }

    #[test]
    fn group_abilities_accept_may_flags_only() {
        let doc = parse_documents("mayCreateProjects: true\ndescripton: x\n")
            .unwrap()
            .remove(0);
        let root = validation_schema();
        let issues = validate(root, &root["$defs"]["GroupSpec"], &doc, "spec");
        assert_eq!(issues.len(), 1, "{issues:#?}");
        assert!(
            issues[0].message.contains("did you mean \"description\""),
            "{issues:#?}"
        );
    }
}
