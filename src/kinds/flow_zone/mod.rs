//! `kind: FlowZone`: a zone of a project's flow (its name and color), and the placement of
//! flow objects in zones (`zone:` on Dataset, ManagedFolder and Recipe).
//!
//! DSS generates a zone's id; manifests name a zone by its name. dssctl finds the zone by its
//! name in the project's zone list (one list per project, which also says which zone holds
//! each object), records the id the name maps to in its ledger, and refuses a name that two
//! live zones share (the error names both ids). The built-in zone `default` exists in every
//! project: it is never created, changed or deleted, and `zone: default` moves an object out
//! of the other zones.
//!
//! Placement is a sub-document of the placed object ([`ZONE`], `{"zone": NAME}`): the planner
//! compares it like any field, and apply writes it through the zone's items endpoint. The
//! functions [`plan_placement`], [`get_placement`], [`put_placement`] (over [`assign_zone`])
//! and [`placement_references`] are what a kind with a `zone` field calls.

/// The calls that create, read, update and delete it (an `impl DssClient` block).
mod client;
pub use client::{DEFAULT_ZONE_ID, FlowZone, ZoneItem};

use std::collections::BTreeSet;

use futures::future::BoxFuture;
use schemars::{JsonSchema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Checks, Kind, KindId, KindRead, NameRule, RefSink, overlay_of, project, project_list};
use super::{KindApply, KindExport, KindObserve, KindPlan, KindSpec};
use crate::apply::docs::{ApplyDocError, json as doc_json, typed};
use crate::client::{ClientError, DssClient};
use crate::export::{ExportOut, ExportScope};
use crate::manifest::kinds::{Declared, ObjectMeta, Resource};
use crate::manifest::node::Node;
use crate::observe::{ObserveError, reading};
use crate::plan::diff::Doc;
use crate::plan::model::DocShape;
use crate::plan::planner::{Planner, text, to_json};
use crate::plan::scope::{Needs, ReadPlan};
use crate::plan::{LedgerIntent, Observed, Operation, ResourceId, SubDoc, Write};
use project_list::{ByProject, ProjectObjects, ProjectRead};

/// The kind.
pub(crate) static KIND: FlowZoneKind = FlowZoneKind;

super::register!(KIND, 30);

/// The word of flow zone ledger keys and plans (`flow_zone:PROJECT.name`).
pub(crate) const ID: KindId = KindId("flow_zone");

/// The zone an object is in, as a sub-document of that object: `{"zone": NAME}`.
pub(crate) const ZONE: SubDoc = SubDoc::new(&DocShape::plain("zone"));

/// The built-in zone's name in manifests (DSS displays it `Default`; its id is `default`).
pub(crate) const DEFAULT: &str = DEFAULT_ZONE_ID;

/// Whether `text` is a `#RRGGBB` color, the only form DSS accepts for a zone.
pub(crate) fn is_color(text: &str) -> bool {
    text.len() == 7 && text.starts_with('#') && text[1..].chars().all(|c| c.is_ascii_hexdigit())
}

/// Whether `name` names the built-in zone (in any case: DSS displays it `Default`).
pub(crate) fn is_default(name: &str) -> bool {
    name.eq_ignore_ascii_case(DEFAULT)
}

/// Zone names are free text (`Data preparation`): no control characters, no edge spaces.
pub(crate) static NAME_RULE: NameRule = NameRule {
    what: "a flow zone name",
    allowed: |c| !c.is_control(),
    allowed_text: "printable characters",
    example: "reporting",
    pattern: None,
    no_edge_spaces: true,
    fixed: None,
};

/// `kind: FlowZone` spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct FlowZoneSpec {
    /// The zone's color in the flow, `#RRGGBB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^#[0-9a-fA-F]{6}$"))]
    pub color: Option<String>,
    /// Never deleted by dssctl, even after removal from the manifests, until an apply sets it
    /// to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect: Option<bool>,
}

/// The zones of each project read, keyed by project key; a project that does not exist has
/// none.
pub(crate) type Live = ByProject<Vec<FlowZone>>;

impl ProjectObjects for Vec<FlowZone> {
    /// A declared zone's live document: never the built-in zone, which dssctl never deletes.
    fn document(&self, name: &str) -> Option<Value> {
        named(self, name)
            .first()
            .copied()
            .filter(|z| !z.is_default())
            .map(to_json)
    }

    /// `default` always exists.
    fn contains(&self, name: &str) -> bool {
        !named(self, name).is_empty()
    }
}

/// The projects whose zone list is read.
pub(crate) type Reads = BTreeSet<String>;

/// This kind's part of the observed state.
pub(crate) fn live(observed: &Observed) -> Option<&Live> {
    observed.kinds.get(ID)
}

/// Read the zone list of `project` (for a zone, or an object placed in one).
pub(crate) fn need_zones(reads: &mut ReadPlan, project: &str) {
    reads.kinds.entry::<Reads>(ID).insert(project.to_string());
}

/// The live zones named `name` in `zones` (the built-in one for `default`).
pub(crate) fn named<'z>(zones: &'z [FlowZone], name: &str) -> Vec<&'z FlowZone> {
    zones
        .iter()
        .filter(|z| {
            if is_default(name) {
                z.is_default()
            } else {
                !z.is_default() && z.name == name
            }
        })
        .collect()
}

/// The zone object `object_id` of type `object_type` is in, by the name manifests use
/// (`default` when no other zone holds it).
pub(crate) fn zone_of(zones: &[FlowZone], object_type: &str, object_id: &str) -> String {
    zones
        .iter()
        .find(|z| !z.is_default() && z.holds(object_type, object_id))
        .map_or_else(|| DEFAULT.to_string(), |z| z.name.clone())
}

fn split(name: &str) -> (&str, &str) {
    name.split_once('.').unwrap_or(("", name))
}

/// `project P has two flow zones named "x" (ids A, B)`, for a plan error.
fn duplicates_message(what: &str, project: &str, name: &str, ids: &[&str]) -> String {
    format!(
        "project {project} has {} {what}s named {name:?} (ids {}), so dssctl cannot tell which one the manifest means",
        ids.len(),
        ids.join(", ")
    )
}

/// The `FlowZone` kind.
#[derive(Debug)]
pub(crate) struct FlowZoneKind;

impl KindSpec for FlowZoneKind {
    fn name(&self) -> &'static str {
        "FlowZone"
    }

    fn id(&self) -> KindId {
        ID
    }

    fn description(&self) -> &'static str {
        "A zone of a project's flow: its name and color. DSS generates its id."
    }

    fn spec_schema(&self, generator: &mut SchemaGenerator) -> Value {
        generator.subschema_for::<FlowZoneSpec>().to_value()
    }

    fn in_project(&self) -> bool {
        true
    }

    fn apply_rank(&self) -> u8 {
        // With the projects: after its project (a write refers to it), before the datasets
        // and recipes placed in it or using it, so that deletions run the other way round.
        3
    }

    fn name_rule(&self) -> &'static NameRule {
        &NAME_RULE
    }

    fn referable(&self) -> bool {
        true
    }

    fn check_spec(&self, checks: &mut Checks<'_>, spec: &Node) {
        // The schema says the pattern for editors; the loader checks it here, at its line.
        if let Some(color) = spec.get("color")
            && let Some(text) = color.as_str()
            && !is_color(text)
        {
            checks
                .error(color.pos, format!("spec.color: {} is not a #RRGGBB color", color.describe()))
                .hint = Some(
                "write six hexadecimal digits after `#`, quoted (`#` starts a YAML comment): `color: \"#2ab1ac\"`"
                    .into(),
            );
        }
    }

    fn references<'n>(&self, meta: Option<&'n Node>, _spec: Option<&'n Node>, refs: &mut RefSink<'_, 'n>) {
        refs.push(project::ID, meta.and_then(|m| m.get("project")), None);
    }

    fn parse(&self, meta: ObjectMeta, spec: Value) -> Result<Resource, serde_json::Error> {
        let spec: FlowZoneSpec = serde_json::from_value(spec)?;
        Ok(Resource::new(&KIND, meta, spec))
    }
}

impl KindPlan for FlowZoneKind {
    fn subdocuments(&self) -> &'static [SubDoc] {
        // The placement of the objects of every kind with a `zone` (defined here, with the
        // placement code).
        &[ZONE]
    }

    fn plan(&self, planner: &mut Planner<'_>, declared: &Declared) {
        if let Some((meta, spec)) = declared.resource.typed::<FlowZoneSpec>() {
            plan_flow_zone(planner, declared, meta, spec);
        }
    }

    fn add_reads(&self, resource: &Resource, needs: &mut Needs<'_>) {
        let project = resource.meta().project.clone().unwrap_or_default();
        project::reads_mut(needs.reads)
            .entry(project.clone())
            .or_default();
        need_zones(needs.reads, &project);
    }

    fn need_live(&self, name: &str, reads: &mut ReadPlan) {
        need_zones(reads, split(name).0);
    }

    fn read_budget(&self, reads: &ReadPlan, _live: &BTreeSet<ResourceId>) -> usize {
        reads.kinds.get::<Reads>(ID).map_or(0, BTreeSet::len)
    }

    fn live_exists(&self, observed: &Observed, name: &str) -> Option<bool> {
        project_list::live_exists::<Vec<FlowZone>>(observed, ID, name)
    }

    fn live_document(&self, observed: &Observed, name: &str) -> Result<Option<Value>, &'static str> {
        project_list::live_document::<Vec<FlowZone>>(observed, ID, name, "flow zone list")
    }

    fn contained_in(&self) -> Option<KindId> {
        Some(project::ID)
    }
}

impl KindObserve for FlowZoneKind {
    fn observe<'a>(
        &'a self,
        client: &'a DssClient,
        reads: &'a ReadPlan,
        parallelism: usize,
    ) -> Option<BoxFuture<'a, Result<KindRead, ObserveError>>> {
        let planned = reads.kinds.get::<Reads>(ID)?;
        Some(Box::pin(read_zones(client, planned, parallelism)))
    }
}

impl KindApply for FlowZoneKind {
    fn sub_document(&self, name: &str, sub: SubDoc) -> Option<bool> {
        (name.contains('.') && sub == SubDoc::DEFINITION).then_some(true)
    }

    fn get_document<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        sub: SubDoc,
    ) -> Option<BoxFuture<'a, Result<Value, ClientError>>> {
        if sub != SubDoc::DEFINITION {
            return None;
        }
        let (project, zone) = split(name);
        Some(Box::pin(async move {
            c.find_flow_zone(project, zone).await.map(doc_json)
        }))
    }

    fn put_document<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        sub: SubDoc,
        doc: Value,
        what: String,
    ) -> Option<BoxFuture<'a, Result<(), ApplyDocError>>> {
        if sub != SubDoc::DEFINITION {
            return None;
        }
        let (project, _) = split(name);
        Some(Box::pin(async move {
            // The document is a fresh GET with the overlay: it carries the zone's id.
            let zone: FlowZone = typed(doc, &what)?;
            c.update_flow_zone(project, &zone.id, &zone).await?;
            Ok(())
        }))
    }

    fn describe_document(&self, name: &str, _sub: SubDoc) -> String {
        format!("flow zone {name}")
    }

    fn get_main<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
    ) -> Option<BoxFuture<'a, Result<Value, ClientError>>> {
        let (project, zone) = split(name);
        Some(Box::pin(async move {
            c.find_flow_zone(project, zone).await.map(doc_json)
        }))
    }

    fn delete<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        _drop_data: bool,
    ) -> Option<BoxFuture<'a, Result<(), ClientError>>> {
        let (project, zone) = split(name);
        Some(Box::pin(async move {
            let found = c.find_flow_zone(project, zone).await?;
            c.delete_flow_zone(project, &found.id).await
        }))
    }

    fn create_fields(&self) -> &'static [&'static str] {
        &["name", "color"]
    }

    fn create_seed(&self, name: &str) -> (SubDoc, Value) {
        (SubDoc::DEFINITION, json!({ "name": split(name).1 }))
    }

    fn create_with_id<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        body: &'a Value,
        _what: &'a str,
    ) -> Option<BoxFuture<'a, Result<Option<String>, ApplyDocError>>> {
        let (project, zone) = split(name);
        let color = body.get("color").and_then(Value::as_str);
        Some(Box::pin(async move {
            let created = c.create_flow_zone(project, zone, color).await?;
            Ok(Some(created.id))
        }))
    }

    fn write_references(&self, op: &Operation, out: &mut Vec<ResourceId>) {
        out.push(ResourceId::new(project::ID, split(&op.name).0));
    }
}

impl KindExport for FlowZoneKind {
    fn export_word(&self) -> Option<&'static str> {
        Some("zones")
    }

    fn export_read<'a>(
        &'a self,
        scope: &'a ExportScope<'a>,
    ) -> Option<BoxFuture<'a, anyhow::Result<KindRead>>> {
        Some(Box::pin(async move {
            let projects: Reads = project::read_for_export(scope, &[]).await?.into_keys().collect();
            Ok(read_zones(scope.client, &projects, scope.parallelism).await?)
        }))
    }

    fn export(&self, observed: &Observed, out: &mut ExportOut) {
        for (key, zones) in live(observed).into_iter().flatten() {
            // By name: an export does not change when DSS lists the zones in another order.
            let mut zones: Vec<&FlowZone> = zones.iter().filter(|z| !z.is_default()).collect();
            zones.sort_by(|a, b| a.name.cmp(&b.name));
            for z in zones {
                let meta = ObjectMeta {
                    name: z.name.clone(),
                    project: Some(key.clone()),
                    annotations: Default::default(),
                };
                out.put(
                    project::export_file(key),
                    Resource::new(&KIND, meta, export_spec(z)),
                );
            }
        }
    }
}

impl Kind for FlowZoneKind {}

/// The zone lists of the planned projects, concurrently; a project that does not exist (404)
/// has no zones.
async fn read_zones(
    client: &DssClient,
    planned: &Reads,
    parallelism: usize,
) -> Result<KindRead, ObserveError> {
    let projects: Vec<(String, ())> = planned.iter().map(|key| (key.clone(), ())).collect();
    project_list::observe(projects, parallelism, |key, ()| async move {
        let read = client.list_flow_zones(&key).await;
        let zones = project_list::absent_if_missing(read)
            .map_err(reading(format!("the flow zones of project {key}")))?;
        Ok(ProjectRead::list(zones.unwrap_or_default()))
    })
    .await
}

/// Whether project `project` of a declared object is declared or live; reports the error when
/// neither.
pub(crate) fn check_project(p: &mut Planner<'_>, d: &Declared, id: &ResourceId, project: &str) -> bool {
    let Some(projects) = project::live(p.observed()) else {
        p.not_read(id, &d.origin, "project list");
        return false;
    };
    if projects.contains_key(project) || p.is_declared(project::ID, project) {
        return true;
    }
    p.error_at(
        id,
        Some(&d.origin),
        format!("project {project:?} is neither declared in the manifests nor present on the instance"),
        Some(format!(
            "declare a Project named {project:?} or fix metadata.project"
        )),
    );
    false
}

/// Plan one declared zone: its color, compared with the live zone of that name.
fn plan_flow_zone(p: &mut Planner<'_>, d: &Declared, meta: &ObjectMeta, spec: &FlowZoneSpec) {
    let project = meta.project.clone().unwrap_or_default();
    let id = ResourceId::new(ID, format!("{project}.{}", meta.name));
    if is_default(&meta.name) {
        return p.error_at(
            &id,
            Some(&d.origin),
            "the built-in zone `default` exists in every project: dssctl never creates, changes or deletes it",
            Some("remove this FlowZone; an object goes back to the built-in zone with `zone: default`".into()),
        );
    }
    if !check_project(p, d, &id, &project) {
        return;
    }
    let Some(zones) = live(p.observed()) else {
        return p.not_read(&id, &d.origin, "flow zone list");
    };
    let found = zones
        .get(&project)
        .map(|zs| named(zs, &meta.name))
        .unwrap_or_default();
    if found.len() > 1 {
        let ids: Vec<&str> = found.iter().map(|z| z.id.as_str()).collect();
        return p.error_at(
            &id,
            Some(&d.origin),
            duplicates_message("flow zone", &project, &meta.name, &ids),
            Some("rename or delete all but one of them in DSS".into()),
        );
    }
    let live = found.first().copied();
    let definition = live.map(to_json);
    let mut doc = Doc::new(SubDoc::DEFINITION, definition.as_ref(), None);
    // The name is the identity: written, never a change.
    doc.write_only("name", json!(meta.name));
    doc.scalar("color", text(&spec.color), None);
    let intent = LedgerIntent {
        protect: spec.protect.unwrap_or(false),
        drop_data_on_delete: false,
        dss_id: live.map(|z| z.id.clone()),
    };
    p.finish(id, &d.origin, live.is_some(), vec![doc.finish(None)], intent);
}

/// A placement that could not be planned: the error is already reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reported;

/// Plan the placement of one object in zone `zone` (its manifest's `zone:`, `None`: not
/// managed, never moved): the [`ZONE`] write of object `object_id` of type `object_type`
/// (`DATASET`, `MANAGED_FOLDER`, `RECIPE`; `None` while the object does not exist yet).
/// The zone must be `default`, declared, or live in `project`; otherwise the error, at the
/// line that names the zone, is reported and `Err(Reported)` returned.
#[allow(clippy::too_many_arguments)]
pub(crate) fn plan_placement(
    p: &mut Planner<'_>,
    d: &Declared,
    id: &ResourceId,
    project: &str,
    object_type: &str,
    object_id: Option<&str>,
    zone: Option<&str>,
) -> Result<Option<Write>, Reported> {
    let Some(zone) = zone else { return Ok(None) };
    let zone = if is_default(zone) { DEFAULT } else { zone };
    let zones = live(p.observed()).and_then(|l| l.get(project));
    if !is_default(zone) && !p.is_declared(ID, &format!("{project}.{zone}")) {
        let Some(zones) = zones else {
            p.not_read(id, &d.origin, "flow zone list of the project");
            return Err(Reported);
        };
        let found = named(zones, zone);
        let origin = d
            .references
            .iter()
            .find(|r| r.kind == ID && r.name == zone)
            .map_or(&d.origin, |r| &r.origin);
        if found.is_empty() {
            p.error_at(
                id,
                Some(origin),
                format!("zone refers to flow zone {zone:?}, which is neither declared in the manifests nor present in project {project}"),
                Some(format!(
                    "declare a FlowZone named {zone:?} in project {project}, use `zone: default`, or fix the name"
                )),
            );
            return Err(Reported);
        }
        if found.len() > 1 {
            let ids: Vec<&str> = found.iter().map(|z| z.id.as_str()).collect();
            p.error_at(
                id,
                Some(origin),
                duplicates_message("flow zone", project, zone, &ids),
                Some("rename or delete all but one of them in DSS".into()),
            );
            return Err(Reported);
        }
    }
    let view = match (object_id, zones) {
        (None, _) => None,
        (Some(oid), Some(zones)) => Some(json!({ "zone": zone_of(zones, object_type, oid) })),
        (Some(_), None) => {
            p.not_read(id, &d.origin, "flow zone list of the project");
            return Err(Reported);
        }
    };
    // DSS puts a new object in the built-in zone: nothing to move.
    if view.is_none() && is_default(zone) {
        return Ok(None);
    }
    let mut doc = Doc::new(ZONE, view.as_ref(), None);
    doc.scalar("zone", Some(json!(zone)), None);
    Ok(doc.finish(None))
}

/// For an object with a `zone:` in its manifest, the reference to that zone (none for
/// `default`), in `project`.
pub(crate) fn push_zone_reference<'n>(
    spec: Option<&'n Node>,
    project: Option<&str>,
    refs: &mut RefSink<'_, 'n>,
) {
    let zone = spec.and_then(|s| s.get("zone"));
    if zone.and_then(Node::as_str).is_some_and(|z| !is_default(z)) {
        refs.push(ID, zone, project);
    }
}

/// The zone `op` moves its object to (none for `default`), which apply creates first.
pub(crate) fn placement_references(op: &Operation, project: &str, out: &mut Vec<ResourceId>) {
    if let Some(zone) = overlay_of(op, ZONE)
        .and_then(|o| o.get("zone"))
        .and_then(Value::as_str)
        .filter(|z| !is_default(z))
    {
        out.push(ResourceId::new(ID, format!("{project}.{zone}")));
    }
}

/// Move object `object_id` of type `object_type` into the zone named `zone` of `project`
/// (`default`: out of every other zone). The zone is found by its name; two zones of that
/// name is an error naming both ids.
pub(crate) async fn assign_zone(
    c: &DssClient,
    project: &str,
    object_type: &str,
    object_id: &str,
    zone: &str,
) -> Result<(), ClientError> {
    let target = c.find_flow_zone(project, zone).await?;
    let item = ZoneItem {
        object_type: object_type.to_string(),
        object_id: object_id.to_string(),
    };
    c.add_flow_zone_item(project, &target.id, &item).await
}

/// The [`ZONE`] sub-document of an object: `{"zone": NAME}` of the zone that holds it.
pub(crate) async fn get_placement(
    c: &DssClient,
    project: &str,
    object_type: &str,
    object_id: &str,
) -> Result<Value, ClientError> {
    let zones = c.list_flow_zones(project).await?;
    Ok(json!({ "zone": zone_of(&zones, object_type, object_id) }))
}

/// Write the [`ZONE`] sub-document `doc` of an object (a fresh [`get_placement`] with the
/// overlay): move it to the zone it names.
pub(crate) async fn put_placement(
    c: &DssClient,
    project: &str,
    object_type: &str,
    object_id: &str,
    doc: Value,
    what: String,
) -> Result<(), ApplyDocError> {
    let Some(zone) = doc.get("zone").and_then(Value::as_str) else {
        return Err(ApplyDocError::Shape {
            what,
            reason: "`zone` is not a zone name".into(),
        });
    };
    assign_zone(c, project, object_type, object_id, zone).await?;
    Ok(())
}

/// The `zone` an export writes for object `object_id` of type `object_type`: the zone that
/// holds it, or nothing for the built-in zone (where a new object lands anyway).
pub(crate) fn exported_zone(zones: &[FlowZone], object_type: &str, object_id: &str) -> Option<String> {
    Some(zone_of(zones, object_type, object_id)).filter(|z| !is_default(z))
}

/// The manifest spec of a live zone (export).
pub(crate) fn export_spec(zone: &FlowZone) -> FlowZoneSpec {
    FlowZoneSpec {
        color: zone.color.clone(),
        protect: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(id: &str, name: &str, items: &[(&str, &str)]) -> FlowZone {
        FlowZone {
            id: id.into(),
            name: name.into(),
            items: items
                .iter()
                .map(|(t, i)| ZoneItem {
                    object_type: (*t).into(),
                    object_id: (*i).into(),
                })
                .collect(),
            ..FlowZone::default()
        }
    }

    #[test]
    fn objects_are_in_the_zone_that_lists_them_else_in_default() {
        let zones = vec![
            zone("default", "Default", &[("DATASET", "b")]),
            zone("Zx1", "raw", &[("DATASET", "a"), ("MANAGED_FOLDER", "F1")]),
        ];
        assert_eq!(zone_of(&zones, "DATASET", "a"), "raw");
        assert_eq!(zone_of(&zones, "MANAGED_FOLDER", "F1"), "raw");
        assert_eq!(zone_of(&zones, "DATASET", "b"), "default");
        assert_eq!(zone_of(&zones, "RECIPE", "a"), "default");
    }

    #[test]
    fn the_built_in_zone_is_default_in_any_case() {
        let zones = vec![zone("default", "Default", &[]), zone("Q", "Default", &[])];
        assert_eq!(named(&zones, "default")[0].id, "default");
        assert_eq!(named(&zones, "DEFAULT")[0].id, "default");
        // A zone a user named like the built-in one is not it.
        assert_eq!(named(&zones, "Default").len(), 1);
        assert!(is_default("Default") && !is_default("defaults"));
    }

    #[test]
    fn colors_are_six_hex_digits() {
        assert!(is_color("#2ab1ac") && is_color("#FF8800"));
        assert!(!is_color("teal") && !is_color("#fff") && !is_color("#gggggg") && !is_color("#2ab1ac0"));
    }

    #[test]
    fn zone_names_are_free_text_without_edge_spaces() {
        assert!(NAME_RULE.check("Data preparation").is_none());
        assert!(NAME_RULE.check(" raw").is_some());
        assert!(NAME_RULE.check("a\tb").is_some());
    }

    #[test]
    fn moves_refer_to_their_zone_except_default() {
        let mut op =
            crate::plan::fixtures::operation(crate::kinds::dataset::ID, "P.d", crate::plan::Action::Update);
        op.writes.push(Write {
            subdocument: ZONE,
            overlay: json!({"zone": "raw"}),
            secrets: vec![],
            fingerprint: None,
            changes: vec![],
        });
        let mut out = Vec::new();
        placement_references(&op, "P", &mut out);
        assert_eq!(out, vec![ResourceId::new(ID, "P.raw")]);
        op.writes[0].overlay = json!({"zone": "default"});
        out.clear();
        placement_references(&op, "P", &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn duplicate_names_are_named_with_their_ids() {
        let msg = duplicates_message("flow zone", "P", "raw", &["A1", "B2"]);
        assert!(msg.contains("2 flow zones named \"raw\" (ids A1, B2)"), "{msg}");
    }
}
