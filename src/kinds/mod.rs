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
//! `mod` line here is its one registration line (the module registers its `KIND` itself, with
//! [`register!`]), with no `match` to extend anywhere else (see docs/architecture.md).
//!
//! The kinds sit above the stages: each stage owns the trait of what it needs from a kind (the
//! manifest stage [`KindSpec`], which the other stages' traits extend) and its link-time slice,
//! and a kind module implements those traits and registers itself in the slices.

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
pub mod plugin;
pub mod project;
pub mod project_folder;
pub mod project_list;
pub mod recipe;
pub mod scenario;
pub mod user;
pub mod variables;

use std::collections::BTreeSet;

use futures::future::BoxFuture;
use serde_json::Value;

use crate::apply::docs::ApplyDocError;
use crate::client::{ClientError, DssClient};
use crate::export::{ExportOut, ExportScope};
use crate::manifest::kinds::{Declared, ObjectMeta, Resource};
use crate::observe::ObserveError;
use crate::plan::observed::Part;
use crate::plan::planner::Planner;
use crate::plan::scope::{Needs, ReadPlan};
use crate::plan::{Observed, Operation, ResourceId, SubDoc, Write};
use definition::DefinitionCalls;

pub use crate::manifest::names;
pub use crate::manifest::registry::{Checks, KindId, KindSpec, RefSink, by_name, env_name_for, items, names};

pub use names::NameRule;

/// The kind modules as the stages above the manifest see them (`&dyn Kind`), each registered by
/// [`register!`] next to its `KIND`, in no particular order: [`REGISTRY`] lists them in the
/// manifest's order.
#[linkme::distributed_slice]
#[allow(
    unsafe_code,
    reason = "linkme places the slice in a link section; nothing else is unsafe"
)]
pub static KIND_MODULES: [&'static dyn Kind];

/// Register a kind module's `KIND` (a unit struct implementing [`Kind`]) at `order`, where
/// messages, hints and schemas list it: one entry in the manifest's slice (as a [`KindSpec`])
/// and one in [`KIND_MODULES`] (as a [`Kind`]). The entries sit in link sections, which the
/// `unsafe_code` lint counts as unsafe; each allows that lint for itself alone.
macro_rules! register {
    ($kind:ident, $order:literal) => {
        #[linkme::distributed_slice(crate::manifest::registry::KINDS)]
        #[allow(
            unsafe_code,
            reason = "linkme places the entry in a link section; nothing else is unsafe"
        )]
        static REGISTERED: crate::manifest::registry::Registered = crate::manifest::registry::Registered {
            order: $order,
            kind: &$kind,
        };

        #[linkme::distributed_slice(crate::kinds::KIND_MODULES)]
        #[allow(
            unsafe_code,
            reason = "linkme places the entry in a link section; nothing else is unsafe"
        )]
        static REGISTERED_KIND: &'static dyn crate::kinds::Kind = &$kind;
    };
}
pub(crate) use register;

/// Every kind, in the order messages, hints and schemas list them (the manifest's
/// [`crate::manifest::registry::REGISTRY`] order). Derefs to a slice and iterates like one.
pub static REGISTRY: Registry = Registry;

/// The handle of [`REGISTRY`].
#[derive(Clone, Copy)]
pub struct Registry;

impl Registry {
    fn kinds(self) -> &'static [&'static dyn Kind] {
        static SORTED: std::sync::LazyLock<Vec<&'static dyn Kind>> = std::sync::LazyLock::new(|| {
            crate::manifest::registry::REGISTRY
                .iter()
                .filter_map(|spec| KIND_MODULES.iter().copied().find(|k| k.id() == spec.id()))
                .collect()
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

/// The kind module of `id` (`None` for an unknown word).
pub fn by_id(id: KindId) -> Option<&'static dyn Kind> {
    KIND_MODULES.iter().copied().find(|k| k.id() == id)
}

/// The kind module a [`KindId`] names, for the stages above the manifest (the identity itself
/// lives in the manifest stage, which cannot name [`Kind`]).
pub trait KindDef {
    /// The kind module.
    fn def(self) -> Option<&'static dyn Kind>;
}

impl KindDef for KindId {
    fn def(self) -> Option<&'static dyn Kind> {
        by_id(self)
    }
}

/// The kind module of a loaded resource.
pub fn of(resource: &Resource) -> &'static dyn Kind {
    by_id(resource.kind_id()).expect("every loaded resource's kind is registered")
}

/// What a kind tells the stages above the manifest (planning, observation, apply, export),
/// beyond what it tells the loader ([`KindSpec`]). Every method has a default that fits a kind
/// without that concern, so a kind module implements only what it has.
pub trait Kind: KindSpec {
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
        let entries = &crate::manifest::registry::KINDS;
        assert_eq!(
            KIND_MODULES.len(),
            entries.len(),
            "a kind registered in one slice only"
        );
        assert_eq!(
            entries.len(),
            15,
            "a kind module without its `Registered` entry, or one too many"
        );
        let mut orders: Vec<u16> = entries.iter().map(|entry| entry.order).collect();
        orders.sort_unstable();
        orders.dedup();
        assert_eq!(orders.len(), entries.len(), "two kinds share a registry order");
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
