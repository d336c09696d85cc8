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

pub(crate) mod build;
pub(crate) mod code_env;
pub mod connection;
pub mod dataset;
pub(crate) mod definition;
pub mod flow_zone;
pub mod group;
pub(crate) mod instance_settings;
pub(crate) mod listed;
pub mod managed_folder;
pub mod plugin;
pub mod project;
pub(crate) mod project_folder;
pub(crate) mod project_list;
pub(crate) mod recipe;
pub(crate) mod scenario;
/// Test support only: compiled for tests and for the benchmark (`--features test-support`).
#[cfg(any(test, feature = "test-support"))]
pub mod simulate;
pub mod user;
pub mod variables;

use futures::future::BoxFuture;
use serde_json::Value;

use crate::export::ExportScope;
use crate::manifest::node::{Node, NodeValue};
use crate::plan::scope::ReadPlan;
use crate::plan::{Operation, ResourceId, SubDoc};
use definition::DefinitionCalls;

pub(crate) use crate::apply::kind::KindApply;
pub(crate) use crate::export::kind::KindExport;
pub(crate) use crate::manifest::names;
pub(crate) use crate::manifest::registry::{Checks, KindId, KindSpec, RefSink, env_name_for, items, names};
pub(crate) use crate::observe::{KindObserve, KindRead};
pub(crate) use crate::plan::kind::KindPlan;

pub(crate) use names::NameRule;

/// The kind modules as the stages above the manifest see them (`&dyn Kind`), each registered by
/// [`register!`] next to its `KIND`, in no particular order: [`REGISTRY`] lists them in the
/// manifest's order.
#[linkme::distributed_slice]
#[allow(
    unsafe_code,
    reason = "linkme places the slice in a link section; nothing else is unsafe"
)]
pub(crate) static KIND_MODULES: [&'static dyn Kind];

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

        #[linkme::distributed_slice(crate::plan::kind::PLAN_KINDS)]
        #[allow(
            unsafe_code,
            reason = "linkme places the entry in a link section; nothing else is unsafe"
        )]
        static REGISTERED_PLAN: &'static dyn crate::plan::kind::KindPlan = &$kind;

        #[linkme::distributed_slice(crate::observe::OBSERVE_KINDS)]
        #[allow(
            unsafe_code,
            reason = "linkme places the entry in a link section; nothing else is unsafe"
        )]
        static REGISTERED_OBSERVE: &'static dyn crate::observe::KindObserve = &$kind;

        #[linkme::distributed_slice(crate::apply::kind::APPLY_KINDS)]
        #[allow(
            unsafe_code,
            reason = "linkme places the entry in a link section; nothing else is unsafe"
        )]
        static REGISTERED_APPLY: &'static dyn crate::apply::kind::KindApply = &$kind;

        #[linkme::distributed_slice(crate::export::kind::EXPORT_KINDS)]
        #[allow(
            unsafe_code,
            reason = "linkme places the entry in a link section; nothing else is unsafe"
        )]
        static REGISTERED_EXPORT: &'static dyn crate::export::kind::KindExport = &$kind;

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
pub(crate) static REGISTRY: Registry = Registry;

/// The handle of [`REGISTRY`].
#[derive(Clone, Copy)]
pub(crate) struct Registry;

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
pub(crate) fn by_id(id: KindId) -> Option<&'static dyn Kind> {
    KIND_MODULES.iter().copied().find(|k| k.id() == id)
}

/// The kind module a [`KindId`] names, for the stages above the manifest (the identity itself
/// lives in the manifest stage, which cannot name [`Kind`]).
pub(crate) trait KindDef {
    /// The kind module.
    fn def(self) -> Option<&'static dyn Kind>;
}

impl KindDef for KindId {
    fn def(self) -> Option<&'static dyn Kind> {
        by_id(self)
    }
}

/// Everything a kind module is, for the layers above the stages (the engine, the commands,
/// render): the stages' traits together, and for a definition kind its calls.
pub(crate) trait Kind: KindObserve + KindApply + KindExport {
    /// For a kind whose live object is one definition document (users, groups, connections):
    /// its calls, which the defaults of the observation, sub-document, create and delete
    /// methods use (see [`definition`]). `None` for any other kind.
    fn definition(&self) -> Option<&'static dyn DefinitionCalls> {
        None
    }
}

/// The export read of a kind whose observation reads one whole list (users, groups,
/// connections): that observation.
pub(crate) fn export_list<'a>(
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
pub(crate) fn overlay_of(op: &Operation, sub: SubDoc) -> Option<&Value> {
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

/// The spec checks of a flow object stored on a connection and placed in a zone (a dataset, a
/// managed folder): `spec.params.connection` and `spec.zone` are names.
pub(crate) fn check_connection_and_zone(checks: &mut Checks<'_>, spec: &Node) {
    if let Some(c) = spec.get("params").and_then(|p| p.get("connection")) {
        if c.as_str().is_none() && !matches!(c.value, NodeValue::Null) {
            checks
                .error(
                    c.pos,
                    format!(
                        "spec.params.connection: expected a connection name, found {}",
                        c.describe()
                    ),
                )
                .hint = Some("quote it if the name looks like a number: `connection: \"2024\"`".into());
        }
        checks.name("spec.params.connection", c, &connection::NAME_RULE);
    }
    if let Some(z) = spec.get("zone") {
        checks.name("spec.zone", z, &flow_zone::NAME_RULE);
    }
}

/// What such an object refers to by name: its project, its connection and its zone.
pub(crate) fn connection_and_zone_references<'n>(
    meta: Option<&'n Node>,
    spec: Option<&'n Node>,
    refs: &mut RefSink<'_, 'n>,
) {
    let project = meta.and_then(|m| m.get("project"));
    refs.push(project::ID, project, None);
    let connection = spec
        .and_then(|s| s.get("params"))
        .and_then(|p| p.get("connection"));
    refs.push(connection::ID, connection, None);
    flow_zone::push_zone_reference(spec, project.and_then(Node::as_str), refs);
}

/// The strings of a JSON list (none when `v` is absent or not a list).
pub(crate) fn string_items(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::registry::by_name;

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
            "a kind module without its `register!`, or one too many"
        );
        let mut orders: Vec<u16> = entries.iter().map(|entry| entry.order).collect();
        orders.sort_unstable();
        orders.dedup();
        assert_eq!(orders.len(), entries.len(), "two kinds share a registry order");
        let listed: Vec<&str> = REGISTRY.iter().map(|k| k.name()).collect();
        assert_eq!(listed[..3], ["Project", "Dataset", "FlowZone"]);
        assert_eq!(listed.last(), Some(&"Build"));
        assert!(by_name("dataset").is_none());
        // Every stage lists every kind, in the manifest's order.
        let ids: Vec<KindId> = REGISTRY.iter().map(|k| k.id()).collect();
        let manifest: Vec<KindId> = crate::manifest::registry::REGISTRY
            .iter()
            .map(|k| k.id())
            .collect();
        let plan: Vec<KindId> = crate::plan::kind::REGISTRY.iter().map(|k| k.id()).collect();
        let observe: Vec<KindId> = crate::observe::REGISTRY.iter().map(|k| k.id()).collect();
        let apply: Vec<KindId> = crate::apply::kind::REGISTRY.iter().map(|k| k.id()).collect();
        let export: Vec<KindId> = crate::export::kind::REGISTRY.iter().map(|k| k.id()).collect();
        for (stage, stage_ids) in [
            ("manifest", manifest),
            ("plan", plan),
            ("observe", observe),
            ("apply", apply),
            ("export", export),
        ] {
            assert_eq!(stage_ids, ids, "the {stage} stage's registry");
        }
    }

    #[test]
    fn env_names_for_hints() {
        assert_eq!(env_name_for("password"), "PASSWORD");
        assert_eq!(env_name_for("secretKey"), "SECRET_KEY");
    }
}
