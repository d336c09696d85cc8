//! The kind registry as the manifest stage sees it: [`KindId`] (a kind's identity in dssctl's
//! own documents), [`KindSpec`] (what a kind tells the loader and the schema generator), the
//! link-time slice [`KINDS`] every kind module registers itself in and [`REGISTRY`] (that slice
//! in listing order), and the helpers a kind's checks report through ([`Checks`], [`RefSink`]).
//!
//! This is the lowest layer that knows kinds, so that the loader never imports
//! `crate::kinds`: the kind modules implement [`KindSpec`] (and the stages' traits above it)
//! and register themselves here.

use std::path::Path;

use schemars::SchemaGenerator;
use serde_json::{Map, Value};

use super::diagnostic::Diagnostic;
use super::kinds::{Declared, ObjectMeta, Resource};
use super::names::NameRule;
use super::node::{Node, NodeValue, Pos};

/// The kinds, as each registers itself (a [`Registered`] entry next to its `KIND`, collected
/// at link time by `linkme`; see `crate::kinds::register!`).
#[linkme::distributed_slice]
#[allow(
    unsafe_code,
    reason = "linkme places the slice in a link section; nothing else is unsafe"
)]
pub(crate) static KINDS: [Registered];

/// One kind's registration: the kind, and its place in [`REGISTRY`].
pub(crate) struct Registered {
    /// Where messages, hints and schemas list the kind (ascending; unique, see the tests).
    pub order: u16,
    pub kind: &'static dyn KindSpec,
}

/// Every kind, in the order messages, hints and schemas list them ([`Registered::order`]; the
/// link order of the registrations is unspecified). Derefs to a slice and iterates like one.
pub(crate) static REGISTRY: Registry = Registry;

/// The handle of [`REGISTRY`].
#[derive(Clone, Copy)]
pub(crate) struct Registry;

impl Registry {
    fn kinds(self) -> &'static [&'static dyn KindSpec] {
        static SORTED: std::sync::LazyLock<Vec<&'static dyn KindSpec>> = std::sync::LazyLock::new(|| {
            let mut entries: Vec<&Registered> = KINDS.iter().collect();
            entries.sort_by_key(|entry| (entry.order, entry.kind.name()));
            entries.into_iter().map(|entry| entry.kind).collect()
        });
        &SORTED
    }
}

impl std::ops::Deref for Registry {
    type Target = [&'static dyn KindSpec];

    fn deref(&self) -> &Self::Target {
        self.kinds()
    }
}

impl IntoIterator for Registry {
    type Item = &'static &'static dyn KindSpec;
    type IntoIter = std::slice::Iter<'static, &'static dyn KindSpec>;

    fn into_iter(self) -> Self::IntoIter {
        self.kinds().iter()
    }
}

/// The identity of a kind in dssctl's own documents: the lower-case word of ledger keys
/// (`project:CHURN`), of the JSON plan (`"kind": "project"`) and of messages. Ordered by apply
/// order (then by word), the order plans list operations in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KindId(pub &'static str);

impl KindId {
    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// The kind of a resource (one a plan operates on and a ledger records) written `word`;
    /// `None` for an unknown word or a kind that is not a resource (a build).
    pub(crate) fn parse(word: &str) -> Option<KindId> {
        REGISTRY
            .iter()
            .find(|k| k.is_resource() && k.id().as_str() == word)
            .map(|k| k.id())
    }

    /// Position in apply's creation order; deletes run in the reverse order.
    pub(crate) fn apply_rank(self) -> u8 {
        by_id(self).map_or(u8::MAX, |k| k.apply_rank())
    }

    /// The `kind:` name (`Dataset`), for messages that tell what to declare.
    pub(crate) fn title(self) -> &'static str {
        by_id(self).map_or(self.0, |k| k.name())
    }
}

impl PartialOrd for KindId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for KindId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // The same kind is equal whatever its rank: most comparisons (the keys of the maps of
        // resources, all of one kind or a few) end here, without looking up two ranks.
        if self.0 == other.0 {
            return std::cmp::Ordering::Equal;
        }
        (self.apply_rank(), self.0).cmp(&(other.apply_rank(), other.0))
    }
}

impl serde::Serialize for KindId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for KindId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let word = String::deserialize(d)?;
        KindId::parse(&word).ok_or_else(|| serde::de::Error::custom(format!("unknown kind {word:?}")))
    }
}

impl std::fmt::Display for KindId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// The kind written `kind:` as `name` in a manifest.
pub(crate) fn by_name(name: &str) -> Option<&'static dyn KindSpec> {
    REGISTRY.iter().copied().find(|k| k.name() == name)
}

/// The kind whose word is `id`.
pub(crate) fn by_id(id: KindId) -> Option<&'static dyn KindSpec> {
    REGISTRY.iter().copied().find(|k| k.id() == id)
}

/// The `kind:` names, in registry order.
pub(crate) fn names() -> Vec<&'static str> {
    REGISTRY.iter().map(|k| k.name()).collect()
}

/// What a kind tells the loader and the schema generator: its identity, its spec type and
/// schema, the rules of its names, its checks and references, and how its spec is read into a
/// [`Resource`]. The manifest stage owns this trait (it sits below every other stage); the
/// stages above extend it (`crate::kinds::Kind: KindSpec`). Every method but the identity has a
/// default that fits a kind without that concern.
pub(crate) trait KindSpec: Sync + Send {
    /// The `kind:` of its manifests (`Dataset`).
    fn name(&self) -> &'static str;

    /// The lower-case word of ledger keys, plans and messages (`dataset`).
    fn id(&self) -> KindId;

    /// One sentence for the JSON Schema and `dssctl schema`.
    fn description(&self) -> &'static str;

    /// The JSON Schema of `spec`.
    fn spec_schema(&self, generator: &mut SchemaGenerator) -> Value;

    /// Adjust the generated definitions (a free map of flags next to named fields).
    fn patch_definitions(&self, _defs: &mut Map<String, Value>) {}

    /// Whether `spec` must be given (its type has required fields).
    fn spec_required(&self) -> bool {
        false
    }

    /// Whether the resource belongs to a project (`metadata.project` required), or is an
    /// instance-level one (`metadata.project` not allowed).
    fn in_project(&self) -> bool {
        false
    }

    /// Whether a plan operates on it and a ledger records it (false for a build, a job).
    fn is_resource(&self) -> bool {
        true
    }

    /// Position in apply's creation order (what a kind refers to is created first); deletes
    /// run in the reverse order.
    fn apply_rank(&self) -> u8 {
        u8::MAX
    }

    /// The rule `metadata.name` follows.
    fn name_rule(&self) -> &'static NameRule;

    /// Whether other resources refer to this kind by name (and so whether the loader records
    /// its declared names for the "not declared in these manifests" warning).
    fn referable(&self) -> bool {
        false
    }

    /// Checks the schema cannot express (literal secrets, forms of a grant, durations, names
    /// written in the spec), on the YAML tree the schema accepted.
    fn check_spec(&self, _checks: &mut Checks<'_>, _spec: &Node) {}

    /// The names the document refers to, with the node that writes each.
    fn references<'n>(&self, _meta: Option<&'n Node>, _spec: Option<&'n Node>, _refs: &mut RefSink<'_, 'n>) {}

    /// Whether a schema finding at `path` is about a secret value (and so must not quote it).
    fn is_secret_path(&self, _path: &str) -> bool {
        false
    }

    /// The typed resource from its metadata and its spec as JSON (`{}` when not given).
    fn parse(&self, meta: ObjectMeta, spec: Value) -> Result<Resource, serde_json::Error>;
    /// Checks across every loaded resource (of any kind) that one document's checks cannot
    /// make: a cycle among recipes. Run once, after every document loaded.
    fn cross_check(&self, _resources: &[Declared]) -> Vec<Diagnostic> {
        Vec::new()
    }
}

/// Where a kind's checks report: the file being loaded and its diagnostics.
pub(crate) struct Checks<'a> {
    pub file: &'a Path,
    pub diagnostics: &'a mut Vec<Diagnostic>,
}

impl Checks<'_> {
    /// Report an error at `pos`; the caller may set its hint.
    pub(crate) fn error(&mut self, pos: Pos, message: impl Into<String>) -> &mut Diagnostic {
        self.diagnostics
            .push(Diagnostic::error(self.file, pos.line, pos.column, message));
        self.diagnostics.last_mut().expect("just pushed")
    }

    /// Report a warning at `pos`, with a hint.
    pub(crate) fn warning(&mut self, pos: Pos, message: impl Into<String>, hint: &str) {
        self.diagnostics
            .push(Diagnostic::warning(self.file, pos.line, pos.column, message).with_hint(hint));
    }

    /// A name written at `path` that must follow `rule` (a name referring to another resource).
    pub(crate) fn name(&mut self, path: &str, node: &Node, rule: &NameRule) {
        if let Some((message, hint)) = node.as_str().and_then(|text| rule.check(text)) {
            self.error(node.pos, format!("{path}: {message}")).hint = Some(hint);
        }
    }

    /// The target of a secret reference (`{fromEnv: NAME}` / `{fromFile: PATH}`) at `path`.
    pub(crate) fn secret_ref_target(&mut self, value: &Node, path: &str) {
        if let Some(env) = value.get("fromEnv")
            && let Some(name) = env.as_str()
            && (name.is_empty()
                || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                || name.starts_with(|c: char| c.is_ascii_digit()))
        {
            self.error(
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
            self.error(f.pos, format!("{path}.fromFile: the path is empty"))
                .hint = Some(
                "a path relative to this manifest's directory, e.g. `secrets/warehouse-password`".into(),
            );
        }
    }
}

/// Collects the names a document refers to.
pub(crate) struct RefSink<'s, 'n> {
    pub found: &'s mut Vec<(KindId, &'n Node, Option<String>)>,
}

impl<'n> RefSink<'_, 'n> {
    /// `node`, when given and a string, names a resource of kind `kind` (in `project` for a
    /// kind that belongs to one).
    pub(crate) fn push(&mut self, kind: KindId, node: Option<&'n Node>, project: Option<&str>) {
        if let Some(node) = node.filter(|n| n.as_str().is_some()) {
            self.found.push((kind, node, project.map(str::to_string)));
        }
    }
}

/// The items of a YAML list (none when `node` is absent or not a list).
pub(crate) fn items(node: Option<&Node>) -> &[Node] {
    match node.map(|n| &n.value) {
        Some(NodeValue::Seq(items)) => items,
        _ => &[],
    }
}

/// A plausible environment variable name for a secret field, for hints.
pub(crate) fn env_name_for(field: &str) -> String {
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

/// One stage's view of the kinds: the link-time slice of its own trait objects (each kind
/// module registers itself in every stage's slice with `crate::kinds::register!`), listed in
/// the manifest's order ([`REGISTRY`]). Derefs to a slice.
pub(crate) struct StageKinds<T: ?Sized + 'static> {
    slice: &'static linkme::DistributedSlice<[&'static T]>,
    sorted: std::sync::OnceLock<Vec<&'static T>>,
}

impl<T: ?Sized + KindSpec + 'static> StageKinds<T> {
    pub(crate) const fn new(slice: &'static linkme::DistributedSlice<[&'static T]>) -> Self {
        StageKinds {
            slice,
            sorted: std::sync::OnceLock::new(),
        }
    }

    /// The kind whose word is `id`.
    pub(crate) fn by_id(&self, id: KindId) -> Option<&'static T> {
        self.slice.iter().copied().find(|k| k.id() == id)
    }

    fn sorted(&self) -> &[&'static T] {
        self.sorted.get_or_init(|| {
            let mut kinds: Vec<&'static T> = self.slice.iter().copied().collect();
            kinds.sort_by_key(|k| REGISTRY.iter().position(|spec| spec.id() == k.id()));
            kinds
        })
    }
}

impl<T: ?Sized + KindSpec + 'static> std::ops::Deref for StageKinds<T> {
    type Target = [&'static T];

    fn deref(&self) -> &Self::Target {
        self.sorted()
    }
}
