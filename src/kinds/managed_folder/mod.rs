//! `kind: ManagedFolder`: a managed folder of a project (its type, its params key by key) and
//! the zone it is in.
//!
//! DSS generates a folder's id; manifests name a folder by its name. dssctl finds the folder
//! by its name in the project's folder list (one list per project), records the id the name
//! maps to in its ledger, and refuses a name that two live folders share (the error names
//! both ids). Apply finds the folder by its name again before each write, so a folder created
//! earlier in the same run is addressed by the id DSS gave it.

/// The calls that create, read, update and delete it (an `impl DssClient` block).
pub(super) mod client;
pub use client::ManagedFolder;

use std::collections::BTreeSet;

use futures::future::BoxFuture;
use schemars::{JsonSchema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::flow_zone::{self, ZONE, check_project};
use super::{
    Checks, Kind, KindId, KindRead, NameRule, RefSink, connection, overlay_of, project, project_list,
};
use super::{KindApply, KindExport, KindObserve, KindPlan, KindSpec};
use crate::apply::docs::{ApplyDocError, json as doc_json, typed};
use crate::client::{ClientError, DssClient};
use crate::export::{ExportOut, ExportScope};
use crate::manifest::kinds::{Declared, KeyedMap, ObjectMeta, Resource};
use crate::manifest::node::Node;
use crate::observe::{ObserveError, reading};
use crate::plan::diff::Doc;
use crate::plan::fingerprint::version_number;
use crate::plan::planner::{Planner, to_json};
use crate::plan::scope::{Needs, ReadPlan};
use crate::plan::{LedgerIntent, Observed, Operation, ResourceId, SubDoc};
use project_list::{ByProject, ProjectObjects, ProjectRead};

/// The kind.
pub(crate) static KIND: ManagedFolderKind = ManagedFolderKind;

super::register!(KIND, 40);

/// The word of managed folder ledger keys and plans (`managed_folder:PROJECT.name`).
pub(crate) const ID: KindId = KindId("managed_folder");

/// The object type of a folder in a zone's items.
pub(crate) const OBJECT_TYPE: &str = "MANAGED_FOLDER";

/// Folder names are free text (`Raw files`): no control characters, no edge spaces.
pub(crate) static NAME_RULE: NameRule = NameRule {
    what: "a managed folder name",
    allowed: |c| !c.is_control(),
    allowed_text: "printable characters",
    example: "raw_files",
    pattern: None,
    no_edge_spaces: true,
    fixed: None,
};

/// `kind: ManagedFolder` spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ManagedFolderSpec {
    /// The folder's storage type (`Filesystem`, `S3`, ...). Identity: cannot change in place.
    #[serde(rename = "type")]
    pub folder_type: String,
    /// Type-specific parameters, managed key by key (`connection`, `path`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<KeyedMap>,
    /// The flow zone the folder is in (`default`: the built-in zone); absent: not moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Default false: deleting the folder keeps its files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_data_on_delete: Option<bool>,
    /// Never deleted by dssctl, even after removal from the manifests, until an apply sets it
    /// to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect: Option<bool>,
}

/// The folders of each project read, keyed by project key; a project that does not exist has
/// none.
pub(crate) type Live = ByProject<Vec<ManagedFolder>>;

impl ProjectObjects for Vec<ManagedFolder> {
    fn document(&self, name: &str) -> Option<Value> {
        named(self, name).first().copied().map(to_json)
    }
}

/// The projects whose folder list is read.
pub(crate) type Reads = BTreeSet<String>;

/// This kind's part of the observed state.
pub(crate) fn live(observed: &Observed) -> Option<&Live> {
    observed.kinds.get(ID)
}

/// Read the folder list of `project` (for a folder, or a recipe that uses one).
pub(crate) fn need_folders(reads: &mut ReadPlan, project: &str) {
    reads.kinds.entry::<Reads>(ID).insert(project.to_string());
}

/// The live folders named `name` in `folders`.
pub(crate) fn named<'f>(folders: &'f [ManagedFolder], name: &str) -> Vec<&'f ManagedFolder> {
    folders.iter().filter(|f| f.name == name).collect()
}

/// The id of the live folder `name` of `project`, when its list was read and exactly one
/// folder has that name (a recipe refers to a folder by its id).
#[cfg(test)]
pub(crate) fn folder_id<'o>(observed: &'o Observed, project: &str, name: &str) -> Option<&'o str> {
    match named(live(observed)?.get(project)?, name).as_slice() {
        [one] => Some(one.id.as_str()),
        _ => None,
    }
}

/// The id of the folder `name` of `project` as DSS answers now (apply: a folder created
/// earlier in the same run has an id the plan did not know).
pub(crate) async fn resolve_folder_id(
    c: &DssClient,
    project: &str,
    name: &str,
) -> Result<String, ClientError> {
    Ok(c.find_managed_folder(project, name).await?.id)
}

fn split(name: &str) -> (&str, &str) {
    name.split_once('.').unwrap_or(("", name))
}

/// The `ManagedFolder` kind.
#[derive(Debug)]
pub(crate) struct ManagedFolderKind;

impl KindSpec for ManagedFolderKind {
    fn name(&self) -> &'static str {
        "ManagedFolder"
    }

    fn id(&self) -> KindId {
        ID
    }

    fn description(&self) -> &'static str {
        "A managed folder of a project: its type, params and flow zone. DSS generates its id."
    }

    fn spec_schema(&self, generator: &mut SchemaGenerator) -> Value {
        generator.subschema_for::<ManagedFolderSpec>().to_value()
    }

    fn spec_required(&self) -> bool {
        true
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
        super::check_connection_and_zone(checks, spec);
    }

    fn references<'n>(&self, meta: Option<&'n Node>, spec: Option<&'n Node>, refs: &mut RefSink<'_, 'n>) {
        super::connection_and_zone_references(meta, spec, refs);
    }

    fn parse(&self, meta: ObjectMeta, spec: Value) -> Result<Resource, serde_json::Error> {
        let spec: ManagedFolderSpec = serde_json::from_value(spec)?;
        Ok(Resource::new(&KIND, meta, spec))
    }
}

impl KindPlan for ManagedFolderKind {
    fn subdocuments(&self) -> &'static [SubDoc] {
        &[ZONE]
    }

    fn plan(&self, planner: &mut Planner<'_>, declared: &Declared) {
        if let Some((meta, spec)) = declared.resource.typed::<ManagedFolderSpec>() {
            plan_folder(planner, declared, meta, spec);
        }
    }

    fn add_reads(&self, resource: &Resource, needs: &mut Needs<'_>) {
        let Some((meta, spec)) = resource.typed::<ManagedFolderSpec>() else {
            return;
        };
        let project = meta.project.clone().unwrap_or_default();
        project::reads_mut(needs.reads)
            .entry(project.clone())
            .or_default();
        need_folders(needs.reads, &project);
        if spec.zone.is_some() {
            flow_zone::need_zones(needs.reads, &project);
        }
        if let Some(c) = spec
            .params
            .as_ref()
            .and_then(|p| p.get("connection"))
            .and_then(|c| c.as_str())
        {
            needs.referenced(connection::ID, c);
        }
    }

    fn need_live(&self, name: &str, reads: &mut ReadPlan) {
        need_folders(reads, split(name).0);
    }

    fn read_budget(&self, reads: &ReadPlan, _live: &BTreeSet<ResourceId>) -> usize {
        reads.kinds.get::<Reads>(ID).map_or(0, BTreeSet::len)
    }

    fn live_exists(&self, observed: &Observed, name: &str) -> Option<bool> {
        project_list::live_exists::<Vec<ManagedFolder>>(observed, ID, name)
    }

    fn drops_data(&self) -> bool {
        true
    }

    fn live_document(&self, observed: &Observed, name: &str) -> Result<Option<Value>, &'static str> {
        project_list::live_document::<Vec<ManagedFolder>>(observed, ID, name, "managed folder list")
    }

    fn contained_in(&self) -> Option<KindId> {
        Some(project::ID)
    }
}

impl KindObserve for ManagedFolderKind {
    fn observe<'a>(
        &'a self,
        client: &'a DssClient,
        reads: &'a ReadPlan,
        parallelism: usize,
    ) -> Option<BoxFuture<'a, Result<KindRead, ObserveError>>> {
        let planned = reads.kinds.get::<Reads>(ID)?;
        Some(Box::pin(read_folders(client, planned, parallelism)))
    }
}

impl KindApply for ManagedFolderKind {
    fn sub_document(&self, name: &str, sub: SubDoc) -> Option<bool> {
        (name.contains('.') && (sub == SubDoc::SETTINGS || sub == ZONE)).then_some(true)
    }

    fn get_document<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        sub: SubDoc,
    ) -> Option<BoxFuture<'a, Result<Value, ClientError>>> {
        let (project, folder) = split(name);
        if sub == SubDoc::SETTINGS {
            Some(Box::pin(async move {
                c.find_managed_folder(project, folder).await.map(doc_json)
            }))
        } else if sub == ZONE {
            Some(Box::pin(async move {
                let id = resolve_folder_id(c, project, folder).await?;
                flow_zone::get_placement(c, project, OBJECT_TYPE, &id).await
            }))
        } else {
            None
        }
    }

    fn put_document<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        sub: SubDoc,
        doc: Value,
        what: String,
    ) -> Option<BoxFuture<'a, Result<(), ApplyDocError>>> {
        let (project, folder) = split(name);
        if sub == SubDoc::SETTINGS {
            Some(Box::pin(async move {
                // The document is a fresh GET with the overlay: it carries the folder's id.
                let settings: ManagedFolder = typed(doc, &what)?;
                c.update_managed_folder(project, &settings.id, &settings).await?;
                Ok(())
            }))
        } else if sub == ZONE {
            Some(Box::pin(async move {
                let id = resolve_folder_id(c, project, folder).await?;
                flow_zone::put_placement(c, project, OBJECT_TYPE, &id, doc, what).await
            }))
        } else {
            None
        }
    }

    fn describe_document(&self, name: &str, sub: SubDoc) -> String {
        if sub == ZONE {
            format!("the zone of managed folder {name}")
        } else {
            format!("managed folder {name}")
        }
    }

    fn get_main<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
    ) -> Option<BoxFuture<'a, Result<Value, ClientError>>> {
        let (project, folder) = split(name);
        Some(Box::pin(async move {
            c.find_managed_folder(project, folder).await.map(doc_json)
        }))
    }

    fn delete<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        drop_data: bool,
    ) -> Option<BoxFuture<'a, Result<(), ClientError>>> {
        let (project, folder) = split(name);
        Some(Box::pin(async move {
            let id = resolve_folder_id(c, project, folder).await?;
            c.delete_managed_folder(project, &id, drop_data).await
        }))
    }

    fn create_fields(&self) -> &'static [&'static str] {
        &["name", "type", "params"]
    }

    fn create_seed(&self, name: &str) -> (SubDoc, Value) {
        let (project, folder) = split(name);
        (SubDoc::SETTINGS, json!({"projectKey": project, "name": folder}))
    }

    fn create_with_id<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        body: &'a Value,
        what: &'a str,
    ) -> Option<BoxFuture<'a, Result<Option<String>, ApplyDocError>>> {
        let (project, _) = split(name);
        Some(Box::pin(async move {
            let definition: ManagedFolder = typed(body.clone(), &what)?;
            let created = c.create_managed_folder(project, &definition).await?;
            Ok(Some(created.id))
        }))
    }

    fn write_references(&self, op: &Operation, out: &mut Vec<ResourceId>) {
        let (project, _) = split(&op.name);
        out.push(ResourceId::new(project::ID, project));
        if let Some(c) = overlay_of(op, SubDoc::SETTINGS)
            .and_then(|o| o.get("params"))
            .and_then(|p| p.get("connection"))
            .and_then(Value::as_str)
        {
            out.push(ResourceId::new(connection::ID, c));
        }
        flow_zone::placement_references(op, project, out);
    }
}

impl KindExport for ManagedFolderKind {
    fn export_word(&self) -> Option<&'static str> {
        Some("folders")
    }

    fn export_read<'a>(
        &'a self,
        scope: &'a ExportScope<'a>,
    ) -> Option<BoxFuture<'a, anyhow::Result<KindRead>>> {
        Some(Box::pin(async move {
            let projects: Reads = project::read_for_export(scope, &[]).await?.into_keys().collect();
            Ok(read_folders(scope.client, &projects, scope.parallelism).await?)
        }))
    }

    fn export(&self, observed: &Observed, out: &mut ExportOut) {
        for (key, folders) in live(observed).into_iter().flatten() {
            let zones = flow_zone::live(observed).and_then(|l| l.get(key));
            // By name: an export does not change when DSS lists the folders in another order.
            let mut folders: Vec<&ManagedFolder> = folders.iter().collect();
            folders.sort_by(|a, b| a.name.cmp(&b.name));
            for f in folders {
                let meta = ObjectMeta {
                    name: f.name.clone(),
                    project: Some(key.clone()),
                    annotations: Default::default(),
                };
                let zone = zones.and_then(|zs| flow_zone::exported_zone(zs, OBJECT_TYPE, &f.id));
                out.put(
                    project::export_file(key),
                    Resource::new(&KIND, meta, export_spec(f, zone)),
                );
            }
        }
    }
}

impl Kind for ManagedFolderKind {}

/// The folder lists of the planned projects, concurrently; a project that does not exist
/// (404) has no folders.
async fn read_folders(
    client: &DssClient,
    planned: &Reads,
    parallelism: usize,
) -> Result<KindRead, ObserveError> {
    let projects: Vec<(String, ())> = planned.iter().map(|key| (key.clone(), ())).collect();
    project_list::observe(projects, parallelism, |key, ()| async move {
        let read = client.list_managed_folders(&key).await;
        let folders = project_list::absent_if_missing(read)
            .map_err(reading(format!("the managed folders of project {key}")))?;
        Ok(ProjectRead::list(folders.unwrap_or_default()))
    })
    .await
}

/// Plan one declared folder: its settings and its zone, compared with the live folder of that
/// name.
fn plan_folder(p: &mut Planner<'_>, d: &Declared, meta: &ObjectMeta, spec: &ManagedFolderSpec) {
    let project = meta.project.clone().unwrap_or_default();
    let id = ResourceId::new(ID, format!("{project}.{}", meta.name));
    if !check_project(p, d, &id, &project) {
        return;
    }
    if let Some(conn) = spec
        .params
        .as_ref()
        .and_then(|p| p.get("connection"))
        .and_then(Value::as_str)
    {
        p.check_ref(d, &id, connection::ID, conn, "params.connection");
    }
    let Some(folders) = live(p.observed()) else {
        return p.not_read(&id, &d.origin, "managed folder list");
    };
    let found = folders
        .get(&project)
        .map(|fs| named(fs, &meta.name))
        .unwrap_or_default();
    if found.len() > 1 {
        let ids: Vec<&str> = found.iter().map(|f| f.id.as_str()).collect();
        return p.error_at(
            &id,
            Some(&d.origin),
            format!(
                "project {project} has {} managed folders named {:?} (ids {}), so dssctl cannot tell which one the manifest means",
                ids.len(),
                meta.name,
                ids.join(", ")
            ),
            Some("rename or delete all but one of them in DSS".into()),
        );
    }
    let live = found.first().copied();
    if let Some(f) = live
        && let Some(live_type) = &f.folder_type
        && *live_type != spec.folder_type
    {
        return p.error_at(
            &id,
            Some(&d.origin),
            format!(
                "type is {live_type} on the instance but {} in the manifest; a managed folder's type cannot change in place",
                spec.folder_type
            ),
            Some(format!(
                "declare the new folder under another name, or delete managed folder {} in DSS first",
                id.name
            )),
        );
    }
    let settings = live.map(to_json);
    let mut doc = Doc::new(SubDoc::SETTINGS, settings.as_ref(), Some(project.as_str()));
    doc.write_only("name", json!(meta.name));
    if live.is_none() {
        doc.scalar("type", Some(json!(spec.folder_type)), None);
    } else {
        doc.write_only("type", json!(spec.folder_type));
    }
    doc.keyed("params", spec.params.as_ref());
    let settings_write = doc.finish(settings.as_ref().and_then(version_number));

    let Ok(zone_write) = flow_zone::plan_placement(
        p,
        d,
        &id,
        &project,
        OBJECT_TYPE,
        live.map(|f| f.id.as_str()),
        spec.zone.as_deref(),
    ) else {
        return;
    };

    let intent = LedgerIntent {
        protect: spec.protect.unwrap_or(false),
        drop_data_on_delete: spec.drop_data_on_delete.unwrap_or(false),
        dss_id: live.map(|f| f.id.clone()),
    };
    p.finish(
        id,
        &d.origin,
        live.is_some(),
        vec![settings_write, zone_write],
        intent,
    );
}

/// The manifest spec of a live folder in zone `zone` (export): its type and params, without
/// the connection's default path.
pub(crate) fn export_spec(folder: &ManagedFolder, zone: Option<String>) -> ManagedFolderSpec {
    let params: KeyedMap = folder
        .params
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    ManagedFolderSpec {
        folder_type: folder.folder_type.clone().unwrap_or_else(|| "Filesystem".into()),
        params: (!params.is_empty()).then_some(params),
        zone,
        drop_data_on_delete: None,
        protect: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_keeps_type_params_and_zone() {
        let folder: ManagedFolder = serde_json::from_value(json!({
            "id": "Ab12Cd34", "name": "raw", "projectKey": "P", "type": "Filesystem",
            "params": {"connection": "filesystem_folders", "path": "${projectKey}/raw", "x": null},
            "versionTag": {"versionNumber": 2}
        }))
        .unwrap();
        let spec = export_spec(&folder, Some("ingestion".into()));
        assert_eq!(spec.folder_type, "Filesystem");
        let params = spec.params.unwrap();
        assert_eq!(params.get("path"), Some(&json!("${projectKey}/raw")));
        assert!(!params.contains_key("x"));
        assert_eq!(spec.zone.as_deref(), Some("ingestion"));
    }

    #[test]
    fn folders_are_found_by_name_with_their_id() {
        let folder = |id: &str, name: &str| ManagedFolder {
            id: id.into(),
            name: name.into(),
            ..ManagedFolder::default()
        };
        let mut observed = Observed::default();
        observed.kinds.insert::<Live>(
            ID,
            [(
                "P".to_string(),
                vec![folder("A1", "raw"), folder("B2", "out"), folder("C3", "out")],
            )]
            .into(),
        );
        assert_eq!(folder_id(&observed, "P", "raw"), Some("A1"));
        assert_eq!(folder_id(&observed, "P", "out"), None);
        assert_eq!(folder_id(&observed, "Q", "raw"), None);
    }
}
