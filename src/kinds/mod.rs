//! The resource model: one module per kind, and the registry the core iterates.
//!
//! A kind module (`project.rs`, `dataset.rs`, ...) owns what dssctl knows about its kind: the
//! manifest spec type (serde + schemars), its documentation string, the rules of its names,
//! the checks the schema cannot express, the names it refers to, how its spec is read into a
//! [`Resource`], its identity and apply order, what observation must read for it, how it is
//! planned, and the calls apply makes to create (fields), find and delete it. The loader, the
//! schema generator, the planner and parts of apply never name a kind: they walk [`REGISTRY`]
//! or follow a [`KindId`] to its [`Kind`]. docs/architecture.md lists what is still per kind
//! outside this module.
//!
//! Trait objects (`&'static dyn Kind`) rather than an enum: a new kind is one new module whose
//! `mod` line here is its one registration line (the module registers its `KIND` in [`KINDS`]
//! itself), with no `match` to extend anywhere else (see docs/architecture.md).

pub mod build;
pub mod code_env;
pub mod connection;
pub mod dataset;
pub mod definition;
pub mod flow_zone;
pub mod group;
pub mod instance_settings;
pub mod listed;
pub mod managed_folder;
pub mod names;
pub mod plugin;
pub mod project;
pub mod project_folder;
pub mod project_list;
pub mod recipe;
pub mod scenario;
pub mod user;
pub mod variables;

use std::collections::BTreeSet;
use std::path::Path;

use futures::future::BoxFuture;
use schemars::SchemaGenerator;
use serde_json::{Map, Value};

use crate::apply::docs::ApplyDocError;
use crate::client::{ClientError, DssClient};
use crate::export::{ExportOut, ExportScope};
use crate::manifest::diagnostic::Diagnostic;
use crate::manifest::kinds::{Declared, ObjectMeta, Resource};
use crate::manifest::node::{Node, NodeValue, Pos};
use crate::observe::ObserveError;
use crate::plan::observed::Part;
use crate::plan::planner::Planner;
use crate::plan::scope::{Needs, ReadPlan};
use crate::plan::{Observed, Operation, ResourceId, SubDoc, Write};
use definition::DefinitionCalls;

pub use names::NameRule;

/// The kinds, as each registers itself (a [`Registered`] entry next to its `KIND`, collected
/// at link time by `linkme`): a kind module's `mod` line above is its one registration line.
#[linkme::distributed_slice]
#[allow(
    unsafe_code,
    reason = "linkme places the slice in a link section; nothing else is unsafe"
)]
pub static KINDS: [Registered];

/// One kind's registration: the kind, and its place in [`REGISTRY`].
pub struct Registered {
    /// Where messages, hints and schemas list the kind (ascending; unique, see the tests).
    pub order: u16,
    pub kind: &'static dyn Kind,
}

/// Every kind, in the order messages, hints and schemas list them ([`Registered::order`]; the
/// link order of the registrations is unspecified). Derefs to a slice and iterates like one.
pub static REGISTRY: Registry = Registry;

/// The handle of [`REGISTRY`].
#[derive(Clone, Copy)]
pub struct Registry;

impl Registry {
    fn kinds(self) -> &'static [&'static dyn Kind] {
        static SORTED: std::sync::LazyLock<Vec<&'static dyn Kind>> = std::sync::LazyLock::new(|| {
            let mut entries: Vec<&Registered> = KINDS.iter().collect();
            entries.sort_by_key(|entry| (entry.order, entry.kind.name()));
            entries.into_iter().map(|entry| entry.kind).collect()
        });
        &SORTED
    }
}

impl std::ops::Deref for Registry {
    type Target = [&'static dyn Kind];

    fn deref(&self) -> &Self::Target {
        self.kinds()
    }
}

impl IntoIterator for Registry {
    type Item = &'static &'static dyn Kind;
    type IntoIter = std::slice::Iter<'static, &'static dyn Kind>;

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
    pub fn parse(word: &str) -> Option<KindId> {
        REGISTRY
            .iter()
            .find(|k| k.is_resource() && k.id().as_str() == word)
            .map(|k| k.id())
    }

    /// The kind module.
    pub fn def(self) -> Option<&'static dyn Kind> {
        by_id(self)
    }

    /// Position in apply's creation order; deletes run in the reverse order.
    pub fn apply_rank(self) -> u8 {
        self.def().map_or(u8::MAX, |k| k.apply_rank())
    }

    /// The `kind:` name (`Dataset`), for messages that tell what to declare.
    pub fn title(self) -> &'static str {
        self.def().map_or(self.0, |k| k.name())
    }
}

impl PartialOrd for KindId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for KindId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
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
pub fn by_name(name: &str) -> Option<&'static dyn Kind> {
    REGISTRY.iter().copied().find(|k| k.name() == name)
}

/// The kind whose word is `id`.
pub fn by_id(id: KindId) -> Option<&'static dyn Kind> {
    REGISTRY.iter().copied().find(|k| k.id() == id)
}

/// The `kind:` names, in registry order.
pub fn names() -> Vec<&'static str> {
    REGISTRY.iter().map(|k| k.name()).collect()
}

/// What a kind tells the core. Every method but the identity has a default that fits a kind
/// without that concern, so a kind module implements only what it has.
pub trait Kind: Sync + Send {
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

    /// The identity of a declared resource of this kind (`None` for a kind that is not a
    /// resource): its name, or `PROJECT.name` for a kind that belongs to a project.
    fn resource_id(&self, meta: &ObjectMeta) -> Option<ResourceId> {
        if !self.is_resource() {
            return None;
        }
        Some(match (self.in_project(), &meta.project) {
            (true, Some(project)) => ResourceId::new(self.id(), format!("{project}.{}", meta.name)),
            (true, None) => ResourceId::new(self.id(), format!(".{}", meta.name)),
            (false, _) => ResourceId::new(self.id(), &meta.name),
        })
    }

    /// Plan one declared resource of this kind: compare its managed fields with the observed
    /// state and hand the planner its writes ([`Planner::finish`]) or its errors.
    fn plan(&self, _planner: &mut Planner<'_>, _declared: &Declared) {}

    /// What observation must read for a declared resource of this kind (the lists and
    /// sub-documents its planning compares, and the names it refers to).
    /// By default, for a definition kind, its list.
    fn add_reads(&self, _resource: &Resource, needs: &mut Needs<'_>) {
        if self.definition().is_some() {
            needs.reads.mark(self.id());
        }
    }

    /// What observation must read for a resource of this kind the ledger lists as `name` (to
    /// delete or forget it). By default, for a definition kind, its list.
    fn need_live(&self, _name: &str, reads: &mut ReadPlan) {
        if self.definition().is_some() {
            reads.mark(self.id());
        }
    }

    /// What observation must read to check that `name`, referred to and not declared, exists.
    /// By default, for a definition kind, its list.
    fn need_referenced(&self, _name: &str, reads: &mut ReadPlan) {
        if self.definition().is_some() {
            reads.mark(self.id());
        }
    }

    /// For a kind whose live object is one definition document (users, groups, connections):
    /// its calls, which the defaults of the observation, sub-document, create and delete
    /// methods use (see [`definition`]). `None` for any other kind.
    fn definition(&self) -> Option<&'static dyn DefinitionCalls> {
        None
    }

    /// Perform the reads `reads` plans for this kind (batched: one list, then the
    /// sub-documents of what exists, up to `parallelism` at once); `None` when it plans none.
    /// The result is stored under [`Kind::id`] in the observed state.
    fn observe<'a>(
        &'a self,
        client: &'a DssClient,
        reads: &'a ReadPlan,
        _parallelism: usize,
    ) -> Option<BoxFuture<'a, Result<KindRead, ObserveError>>> {
        let calls = self.definition()?;
        reads.marked(self.id()).then(|| calls.observe(client))
    }

    /// How many requests [`Kind::observe`] makes for `reads`, beyond those that depend on
    /// what the instance answers, given the managed resources that exist (`live`). By
    /// default one list read when the kind was marked for reading (as the admin lists of
    /// users, groups and connections are), none otherwise.
    fn read_budget(&self, reads: &ReadPlan, _live: &BTreeSet<ResourceId>) -> usize {
        usize::from(reads.marked(self.id()))
    }

    /// Whether `name` exists on the instance, for a reference to it that the manifests do not
    /// declare: `None` when unknown (not read, or a kind nothing refers to).
    fn live_exists(&self, observed: &Observed, name: &str) -> Option<bool> {
        self.definition()?.live_contains(observed, self.id(), name)
    }

    /// How a review names the creation of one of these when it is a risk in itself (a new
    /// principal, new access to data): `Some("user(s)")`; `None` when creating one is not.
    fn risky_creation(&self) -> Option<&'static str> {
        None
    }

    /// Whether a changed field of this kind gives or takes away access, beyond the fields every
    /// kind shares (grants, owner, allowed groups; see `render::markdown`).
    fn is_access_path(&self, _path: &str) -> bool {
        false
    }

    /// Whether a resource the ledger lists but the manifests no longer declare is deleted
    /// (false: it is only forgotten, as the global variables are).
    fn deletable(&self) -> bool {
        true
    }

    /// Whether deleting it may drop data, as the ledger's `dropDataOnDelete` says.
    fn drops_data(&self) -> bool {
        false
    }

    /// The live object named `name` (its ledger name) as the planner fingerprints it before a
    /// deletion: `Ok(None)` when absent, `Err(what)` when `what` was not read.
    fn live_document(&self, observed: &Observed, name: &str) -> Result<Option<Value>, &'static str> {
        match self.definition() {
            Some(calls) => calls.live_document(observed, self.id(), name),
            None => Ok(None),
        }
    }

    /// A fresh GET of the main document of the live object `name` (its ledger name), which
    /// apply uses to see whether it exists and to fingerprint it before a deletion; `None` for
    /// a kind without one (the global variables: always there, never deleted).
    fn get_main<'a>(
        &self,
        client: &'a DssClient,
        name: &'a str,
    ) -> Option<BoxFuture<'a, Result<Value, ClientError>>> {
        Some(self.definition()?.get(client, name))
    }

    /// The fields its create call takes (the rest of the definition is written by an update
    /// right after).
    fn create_fields(&self) -> &'static [&'static str] {
        &[]
    }

    /// Where its create call's body starts: the sub-document whose overlay (secrets resolved)
    /// fills it, and the identity fields of the object `name`.
    fn create_seed(&self, name: &str) -> (SubDoc, Value) {
        (SubDoc::DEFINITION, serde_json::json!({ "name": name }))
    }

    /// The create call's body from `doc` (the seed with its overlay, only the
    /// [`Kind::create_fields`]); a kind whose create call takes another document reshapes it
    /// from `op`'s overlays.
    fn create_body(&self, _op: &Operation, doc: Value) -> Value {
        doc
    }

    /// The part of a live main document that identifies its state for the fingerprint of a
    /// deletion ([`crate::plan::fingerprint::live_object_fingerprint`]); by default all of it.
    /// A kind whose observation keeps only part of what DSS answers keeps the same part here,
    /// so that the plan and the staleness check of a saved plan agree.
    fn fingerprint_view(&self, _doc: &mut Value) {}

    /// The sub-documents, besides the seed's, that its create call carries whole: each is
    /// built from its overlay on an empty document (a metadata document with the stack's
    /// stamp) and folded into the body by [`Kind::fold_into_create`], and is not written again
    /// after the creation. One POST instead of a POST and a GET and PUT per sub-document.
    fn create_carries(&self) -> &'static [SubDoc] {
        &[]
    }

    /// Fold `doc`, the sub-document `sub` (one of [`Kind::create_carries`]), into the create
    /// call's `body`.
    fn fold_into_create(&self, _sub: SubDoc, _doc: Value, _body: &mut Value) {}

    /// The POST that creates the object `name` from `body`; `what` names it in a shape error.
    /// `None` for a kind that is never created (the global variables are always there).
    fn create<'a>(
        &self,
        client: &'a DssClient,
        _name: &'a str,
        body: &'a Value,
        what: &'a str,
    ) -> Option<BoxFuture<'a, Result<(), ApplyDocError>>> {
        Some(self.definition()?.create(client, body, what))
    }

    /// [`Kind::create`], answering the id DSS generated for the new object, for a kind whose
    /// objects have one (a flow zone, a managed folder: the ledger records it); `None` as the
    /// answer otherwise.
    fn create_with_id<'a>(
        &self,
        client: &'a DssClient,
        name: &'a str,
        body: &'a Value,
        what: &'a str,
    ) -> Option<BoxFuture<'a, Result<Option<String>, ApplyDocError>>> {
        let post = self.create(client, name, body, what)?;
        Some(Box::pin(async move { post.await.map(|()| None) }))
    }

    /// `op`'s writes with the names that only apply can turn into DSS ids resolved, or `None`
    /// when they are sent as planned. A recipe names a managed folder that the same run may
    /// create, and DSS refers to a folder by the id it generates on creation: the plan keeps
    /// the name, apply asks DSS for the id just before the recipe's writes (which
    /// [`Kind::write_references`] orders after the folder's creation).
    fn resolve_writes<'a>(
        &self,
        _client: &'a DssClient,
        _op: &'a Operation,
    ) -> Option<BoxFuture<'a, Result<Vec<Write>, ClientError>>> {
        None
    }

    /// Whether its metadata carries the stack's stamp (`custom.kv."dssctl.stack"`), written at
    /// creation and adoption.
    fn stamped(&self) -> bool {
        false
    }

    /// The resources a create or update of this kind refers to in what it writes (`op`'s
    /// overlays), which apply creates first. Fields a write does not carry are unchanged, so
    /// their targets already exist.
    fn write_references(&self, _op: &Operation, _out: &mut Vec<ResourceId>) {}

    /// Whether apply exports the object to a backup before deleting it (a project).
    fn backup_before_delete(&self) -> bool {
        false
    }

    /// The DELETE of the live object `name` (its ledger name), dropping its data when
    /// `drop_data` (for a kind that [`Kind::drops_data`]); `None` for a kind never deleted.
    fn delete<'a>(
        &self,
        client: &'a DssClient,
        name: &'a str,
        _drop_data: bool,
    ) -> Option<BoxFuture<'a, Result<(), ClientError>>> {
        Some(self.definition()?.delete(client, name))
    }

    /// Whether `sub` is a sub-document of its object `name`: `Some(true)` when apply GETs and
    /// PUTs it on its own ([`Kind::get_document`], [`Kind::put_document`]), `Some(false)` when
    /// it is written another way (the global variables, through the ledger writer), `None`
    /// when there is no such sub-document.
    fn sub_document(&self, _name: &str, sub: SubDoc) -> Option<bool> {
        (self.definition().is_some() && sub == SubDoc::DEFINITION).then_some(true)
    }

    /// The GET of sub-document `sub` of the live object `name`, as JSON; `None` when
    /// [`Kind::sub_document`] does not address it.
    fn get_document<'a>(
        &self,
        client: &'a DssClient,
        name: &'a str,
        sub: SubDoc,
    ) -> Option<BoxFuture<'a, Result<Value, ClientError>>> {
        let calls = self.definition().filter(|_| sub == SubDoc::DEFINITION)?;
        Some(calls.get(client, name))
    }

    /// The PUT of `doc` (a GET result with an overlay applied) as sub-document `sub` of `name`;
    /// `what` names the document in a shape error. `None` when not addressed.
    fn put_document<'a>(
        &self,
        client: &'a DssClient,
        name: &'a str,
        sub: SubDoc,
        doc: Value,
        what: String,
    ) -> Option<BoxFuture<'a, Result<(), ApplyDocError>>> {
        let calls = self.definition().filter(|_| sub == SubDoc::DEFINITION)?;
        Some(calls.put(client, name, doc, what))
    }

    /// [`Kind::put_document`], and what the write did beyond the PUT, for the apply report (a
    /// package installation's outcome). By default the PUT alone, with nothing to report.
    fn put_document_with_notes<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        sub: SubDoc,
        doc: Value,
        what: String,
    ) -> Option<BoxFuture<'a, Result<Vec<String>, ApplyDocError>>> {
        let put = self.put_document(c, name, sub, doc, what)?;
        Some(Box::pin(async move { put.await.map(|()| Vec::new()) }))
    }

    /// The sub-documents of its own (beyond [`SubDoc`]'s common ones) that its writes name,
    /// so that a saved plan naming them is read back.
    fn subdocuments(&self) -> &'static [SubDoc] {
        &[]
    }

    /// How messages name sub-document `sub` of `name` (`the schema of dataset P.d`).
    fn describe_document(&self, name: &str, sub: SubDoc) -> String {
        if self.definition().is_some() {
            return format!("{} {name}", self.id());
        }
        format!("the {} of {} {name}", sub.as_str(), self.id())
    }

    /// Fields DSS never returns (a password): apply and the stale check compare them as
    /// `"(set)"` on both sides, as the planner does.
    fn write_only_fields(&self) -> &'static [&'static str] {
        &[]
    }

    /// Whether its document is the global variables, which also hold the stacks' ledgers: apply
    /// writes it through the ledger writer, and it always exists.
    fn in_global_variables(&self) -> bool {
        false
    }

    /// Whether a create or update of this kind waits for every other create and update (the
    /// global variables, which also hold the ledger, are written last).
    fn writes_last(&self) -> bool {
        false
    }

    /// The kind whose objects contain this kind's (`project` for a dataset): deleting a
    /// container waits for the deletion of its own contents only (`PROJECT.name`).
    fn contained_in(&self) -> Option<KindId> {
        None
    }

    /// The name of the container of the object `name`, for [`Kind::contained_in`]: the
    /// project of `PROJECT.name` by default.
    fn container_of<'n>(&self, name: &'n str) -> Option<&'n str> {
        name.split_once('.').map(|(container, _)| container)
    }

    /// The word `export --include` selects this kind by (`projects`); `None` for a kind
    /// `dssctl export` never writes (a build).
    fn export_word(&self) -> Option<&'static str> {
        None
    }

    /// For `dssctl export`: read every object of this kind that `scope` selects (every one on
    /// the instance; for a kind that belongs to a project, those of the selected projects),
    /// into the part of the observed state that [`Kind::export`] reads. `None` when the kind
    /// is not exported.
    fn export_read<'a>(
        &'a self,
        _scope: &'a ExportScope<'a>,
    ) -> Option<BoxFuture<'a, anyhow::Result<KindRead>>> {
        None
    }

    /// The manifests of what `observed` holds of this kind (pure): each resource in the file
    /// it belongs in, the environment variables its secret references expect, and notes on
    /// what was left out. The property: a plan of the output against the same instance adopts
    /// every resource with no field change.
    fn export(&self, _observed: &Observed, _out: &mut ExportOut) {}

    /// The typed resource from its metadata and its spec as JSON (`{}` when not given).
    fn parse(&self, meta: ObjectMeta, spec: Value) -> Result<Resource, serde_json::Error>;
}

/// What one kind's [`Kind::observe`] read.
pub struct KindRead {
    /// The kind's part of the observed state.
    pub part: Box<dyn Part>,
    /// The managed resources that exist and whose sub-documents were read.
    pub live: Vec<ResourceId>,
    /// Requests made because a list lacked a managed field.
    pub conditional_reads: usize,
}

impl KindRead {
    /// A part read with one list and nothing else.
    pub fn list<T: Part>(part: T) -> Self {
        KindRead {
            part: Box::new(part),
            live: Vec::new(),
            conditional_reads: 0,
        }
    }
}

/// The export read of a kind whose observation reads one whole list (users, groups,
/// connections): that observation.
pub fn export_list<'a>(
    kind: &'a dyn Kind,
    scope: &'a ExportScope<'a>,
) -> Option<BoxFuture<'a, anyhow::Result<KindRead>>> {
    let mut reads = ReadPlan::default();
    reads.mark(kind.id());
    Some(Box::pin(async move {
        let read = kind.observe(scope.client, &reads, scope.parallelism);
        match read {
            Some(read) => Ok(read.await?),
            None => Ok(KindRead::list(())),
        }
    }))
}

/// Where a kind's checks report: the file being loaded and its diagnostics.
pub struct Checks<'a> {
    pub file: &'a Path,
    pub diagnostics: &'a mut Vec<Diagnostic>,
}

impl Checks<'_> {
    /// Report an error at `pos`; the caller may set its hint.
    pub fn error(&mut self, pos: Pos, message: impl Into<String>) -> &mut Diagnostic {
        self.diagnostics
            .push(Diagnostic::error(self.file, pos.line, pos.column, message));
        self.diagnostics.last_mut().expect("just pushed")
    }

    /// Report a warning at `pos`, with a hint.
    pub fn warning(&mut self, pos: Pos, message: impl Into<String>, hint: &str) {
        self.diagnostics
            .push(Diagnostic::warning(self.file, pos.line, pos.column, message).with_hint(hint));
    }

    /// A name written at `path` that must follow `rule` (a name referring to another resource).
    pub fn name(&mut self, path: &str, node: &Node, rule: &NameRule) {
        if let Some((message, hint)) = node.as_str().and_then(|text| rule.check(text)) {
            self.error(node.pos, format!("{path}: {message}")).hint = Some(hint);
        }
    }

    /// The target of a secret reference (`{fromEnv: NAME}` / `{fromFile: PATH}`) at `path`.
    pub fn secret_ref_target(&mut self, value: &Node, path: &str) {
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
pub struct RefSink<'s, 'n> {
    pub found: &'s mut Vec<(KindId, &'n Node, Option<String>)>,
}

impl<'n> RefSink<'_, 'n> {
    /// `node`, when given and a string, names a resource of kind `kind` (in `project` for a
    /// kind that belongs to one).
    pub fn push(&mut self, kind: KindId, node: Option<&'n Node>, project: Option<&str>) {
        if let Some(node) = node.filter(|n| n.as_str().is_some()) {
            self.found.push((kind, node, project.map(str::to_string)));
        }
    }
}

/// The items of a YAML list (none when `node` is absent or not a list).
pub fn items(node: Option<&Node>) -> &[Node] {
    match node.map(|n| &n.value) {
        Some(NodeValue::Seq(items)) => items,
        _ => &[],
    }
}

/// The overlay `op` writes to sub-document `sub`, if it writes it.
pub fn overlay_of(op: &Operation, sub: SubDoc) -> Option<&Value> {
    op.writes
        .iter()
        .find(|w| w.subdocument == sub)
        .map(|w| &w.overlay)
}

/// The users and groups an owner and a list of grants (`[{group|user, ...}]`) in a write name,
/// which apply creates first (a project's, a project folder's, a code env's).
pub(crate) fn access_references(owner: Option<&Value>, grants: Option<&Value>, out: &mut Vec<ResourceId>) {
    if let Some(owner) = owner.and_then(Value::as_str) {
        out.push(ResourceId::new(user::ID, owner));
    }
    for grant in grants.and_then(Value::as_array).into_iter().flatten() {
        if let Some(g) = grant.get("group").and_then(Value::as_str) {
            out.push(ResourceId::new(group::ID, g));
        }
        if let Some(u) = grant.get("user").and_then(Value::as_str) {
            out.push(ResourceId::new(user::ID, u));
        }
    }
}

/// The strings of a JSON list (none when `v` is absent or not a list).
pub fn string_items(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// A plausible environment variable name for a secret field, for hints.
pub fn env_name_for(field: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_are_unique() {
        let mut names = names();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), REGISTRY.len());
        let mut ids: Vec<KindId> = REGISTRY.iter().map(|k| k.id()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), REGISTRY.len());
        assert_eq!(by_name("Dataset").map(|k| k.id()), Some(KindId("dataset")));
    }

    #[test]
    fn every_kind_module_registers_once_with_its_own_order() {
        assert_eq!(
            KINDS.len(),
            15,
            "a kind module without its `Registered` entry, or one too many"
        );
        let mut orders: Vec<u16> = KINDS.iter().map(|entry| entry.order).collect();
        orders.sort_unstable();
        orders.dedup();
        assert_eq!(orders.len(), KINDS.len(), "two kinds share a registry order");
        let listed: Vec<&str> = REGISTRY.iter().map(|k| k.name()).collect();
        assert_eq!(listed[..3], ["Project", "Dataset", "FlowZone"]);
        assert_eq!(listed.last(), Some(&"Build"));
        assert!(by_name("dataset").is_none());
    }

    #[test]
    fn env_names_for_hints() {
        assert_eq!(env_name_for("password"), "PASSWORD");
        assert_eq!(env_name_for("secretKey"), "SECRET_KEY");
    }
}
