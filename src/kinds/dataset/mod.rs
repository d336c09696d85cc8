//! `kind: Dataset`: a dataset of a project: its settings, format, schema and metadata. This
//! module owns the spec type, the dataset name rule, the checks of its schema and params, and
//! the names it refers to (its project and its connection).

/// The calls that create, read, update and delete it (an `impl DssClient` block).
mod client;
/// The dataset list decoded for observation, without what a plan does not read.
mod observed;

use super::KindRead;
/// The schema types are the manifest's (`manifest::specs`): the planner's column diff reads them.
pub(crate) use crate::manifest::specs::{ColumnSpec, SchemaSpec};

use super::{KindApply, KindExport, KindObserve, KindPlan, KindSpec};
use crate::export::convert::{custom_of, keyed, nonempty, nonempty_at, set, without_nulls};
use crate::export::{ExportOut, ExportScope, meta};
use crate::plan::normalize::column_type;
use crate::wire::is_secret_param;
use serde_json::Map;
use std::collections::HashMap;

use schemars::{JsonSchema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Checks, Kind, KindId, NameRule, RefSink, connection, flow_zone, names, overlay_of, project};
use crate::apply::docs::{ApplyDocError, json as doc_json, typed};
use futures::future::BoxFuture;

use crate::client::{ApiPath, ClientError, DssClient};
use crate::manifest::kinds::Declared;
use crate::manifest::kinds::{KeyedMap, ObjectMeta, Resource};
use crate::manifest::node::{Node, NodeValue, Pos};
use crate::manifest::schema::did_you_mean;
use crate::observe::{ObserveError, reading};
use crate::plan::diff::{Doc, schema_view};
use crate::plan::planner::{Planner, flag, text, to_json};
use crate::plan::scope::{Needs, ReadPlan};
use crate::plan::{LedgerIntent, Observed, Operation, ResourceId, SubDoc};
use crate::wire::{Dataset, DatasetSchema, Metadata};

/// One live dataset, observed with its project ([`project::ObservedProject::datasets`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedDataset {
    /// The item of the dataset list: the full definition, with `schema`, `tags`,
    /// `description`, `shortDesc`, `customMeta`.
    pub definition: Dataset,
    /// `GET .../metadata`, read only when a managed field is missing from the list item.
    pub metadata: Option<Metadata>,
    /// `GET .../schema`, read only when the list item has no schema.
    pub schema: Option<DatasetSchema>,
}

/// The attributes of a dataset definition a plan reads beyond the typed ones: the fields
/// behind its metadata view. The rest of what DSS answers (metrics and checks settings, flow
/// and read-write options, partitioning, the creation tag: about half of each definition) is
/// dropped from the observed state, which keeps a plan of thousands of datasets small; apply
/// reads each document fresh before writing it, so nothing it writes back is lost.
const OBSERVED_ATTRIBUTES: [&str; 4] = ["label", "description", "shortDesc", "customMeta"];

/// Keep of a listed definition only what a plan reads (see [`OBSERVED_ATTRIBUTES`]).
pub(crate) fn keep_observed_fields(definition: &mut Dataset) {
    definition.creation_tag = None;
    definition
        .extra
        .retain(|k, _| OBSERVED_ATTRIBUTES.contains(&k.as_str()));
}

/// The live dataset `name` of project `project`, if its project's dataset list was read.
pub(crate) fn live<'o>(observed: &'o Observed, project: &str, name: &str) -> Option<&'o ObservedDataset> {
    project::live(observed)?
        .get(project)?
        .datasets
        .as_ref()?
        .get(name)
}

/// The metadata of dataset `key.name`.
pub(crate) async fn read_dataset_metadata(
    client: &DssClient,
    key: &str,
    name: &str,
) -> Result<Metadata, ObserveError> {
    client
        .get_dataset_metadata(key, name)
        .await
        .map_err(reading(format!("the metadata of dataset {key}.{name}")))
}

/// The kind.
pub(crate) static KIND: DatasetKind = DatasetKind;

super::register!(KIND, 20);

/// The object type of a dataset in a zone's items.
pub(crate) const OBJECT_TYPE: &str = "DATASET";

/// The word of dataset ledger keys and plans (`dataset:PROJECT.name`).
pub const ID: KindId = KindId("dataset");

/// Dataset names: letters, digits and `_`.
pub(crate) static NAME_RULE: NameRule = NameRule {
    what: "a dataset name",
    allowed: names::word_char,
    allowed_text: "letters, digits and _",
    example: "customers_clean",
    pattern: Some(names::WORD_PATTERN),
    no_edge_spaces: false,
    fixed: None,
};

/// `kind: Dataset` spec: the dataset's settings, format, schema and metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct DatasetSpec {
    /// DSS dataset type (`Filesystem`, `PostgreSQL`, ...). Identity: cannot change in place.
    #[serde(rename = "type")]
    pub dataset_type: String,
    /// Type-specific parameters, managed key by key (`connection`, `path`, `table`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<KeyedMap>,
    /// File format (`csv`, `parquet`, `json`, ...) for file-based datasets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_type: Option<String>,
    /// Format parameters, managed key by key (`separator`, `style`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_params: Option<KeyedMap>,
    /// Whether DSS manages the dataset's storage (a managed dataset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<bool>,
    /// The schema; when given, the columns are authoritative and ordered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<SchemaSpec>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Markdown description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// One-line summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_desc: Option<String>,
    /// Compared as a set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Custom metadata, managed key by key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<KeyedMap>,
    /// Default false: deleting the dataset keeps its data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_data_on_delete: Option<bool>,
    /// Never deleted by dssctl, even after removal from the manifests, until an apply sets it to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect: Option<bool>,
    /// The flow zone the dataset is in (`default`: the built-in zone); absent: not moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
}

/// The `Dataset` kind.
#[derive(Debug)]
pub(crate) struct DatasetKind;

impl KindSpec for DatasetKind {
    fn name(&self) -> &'static str {
        "Dataset"
    }

    fn id(&self) -> KindId {
        ID
    }

    fn description(&self) -> &'static str {
        "A dataset of a project: settings, format, schema and metadata."
    }

    fn spec_schema(&self, generator: &mut SchemaGenerator) -> Value {
        generator.subschema_for::<DatasetSpec>().to_value()
    }

    fn spec_required(&self) -> bool {
        true
    }

    fn in_project(&self) -> bool {
        true
    }

    fn apply_rank(&self) -> u8 {
        4
    }

    fn name_rule(&self) -> &'static NameRule {
        &NAME_RULE
    }

    fn referable(&self) -> bool {
        true
    }

    fn check_spec(&self, checks: &mut Checks<'_>, spec: &Node) {
        super::check_connection_and_zone(checks, spec);
        check_params_and_columns(checks, spec);
    }

    fn references<'n>(&self, meta: Option<&'n Node>, spec: Option<&'n Node>, refs: &mut RefSink<'_, 'n>) {
        super::connection_and_zone_references(meta, spec, refs);
    }

    fn parse(&self, meta: ObjectMeta, spec: Value) -> Result<Resource, serde_json::Error> {
        Ok(Resource::new(
            &KIND,
            meta,
            serde_json::from_value::<DatasetSpec>(spec)?,
        ))
    }
}

impl KindPlan for DatasetKind {
    fn plan(&self, planner: &mut Planner<'_>, declared: &Declared) {
        if let Some((meta, spec)) = declared.resource.typed::<DatasetSpec>() {
            plan_dataset(planner, declared, meta, spec);
        }
    }

    fn drops_data(&self) -> bool {
        true
    }

    /// A dataset is planned from its project's dataset list (and the dataset metadata read
    /// with it), the connections and the flow zones; never from the project's documents.
    fn reads_project_documents(&self) -> bool {
        false
    }

    fn live_document(&self, observed: &Observed, name: &str) -> Result<Option<Value>, &'static str> {
        let (project, dataset) = name.split_once('.').ok_or("dataset name")?;
        match project::live(observed).ok_or("project list")?.get(project) {
            None => Ok(None),
            Some(p) => Ok(p
                .datasets
                .as_ref()
                .ok_or("dataset list")?
                .get(dataset)
                .map(|ds| to_json(&ds.definition))),
        }
    }

    fn add_reads(&self, resource: &Resource, needs: &mut Needs<'_>) {
        let Some((meta, spec)) = resource.typed::<DatasetSpec>() else {
            return;
        };
        let project = meta.project.clone().unwrap_or_default();
        let p = project::reads_mut(needs.reads)
            .entry(project.clone())
            .or_default();
        p.datasets = true;
        if spec.label.is_some() {
            p.dataset_labels.insert(meta.name.clone());
        }
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
        let projects = project::reads_mut(reads);
        if let Some((project, _)) = name.split_once('.') {
            projects.entry(project.to_string()).or_default().datasets = true;
        }
    }

    fn contained_in(&self) -> Option<KindId> {
        Some(project::ID)
    }

    /// The part of the definition the observation keeps ([`keep_observed_fields`]): read
    /// through the same typed definition, so that the plan and the staleness check agree.
    fn fingerprint_view(&self, doc: &mut Value) {
        if let Ok(mut definition) = serde_json::from_value::<Dataset>(doc.clone()) {
            keep_observed_fields(&mut definition);
            *doc = to_json(&definition);
        }
    }
}

impl KindObserve for DatasetKind {
    /// The datasets are read with their project's dataset list (by the project kind).
    fn likely_reads(&self, name: &str) -> Vec<ApiPath> {
        name.split_once('.')
            .and_then(|(project, _)| client::dataset_list_path(project).ok())
            .into_iter()
            .collect()
    }
}

impl KindApply for DatasetKind {
    fn sub_document(&self, name: &str, sub: SubDoc) -> Option<bool> {
        (name.contains('.')
            && matches!(
                sub,
                SubDoc::SETTINGS | SubDoc::SCHEMA | SubDoc::METADATA | flow_zone::ZONE
            ))
        .then_some(true)
    }

    fn get_document<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        sub: SubDoc,
    ) -> Option<BoxFuture<'a, Result<Value, ClientError>>> {
        let (k, n) = name.split_once('.')?;
        Some(match sub {
            SubDoc::SETTINGS => Box::pin(async move { c.get_dataset(k, n).await.map(doc_json) }),
            SubDoc::SCHEMA => Box::pin(async move { c.get_dataset_schema(k, n).await.map(doc_json) }),
            SubDoc::METADATA => Box::pin(async move { c.get_dataset_metadata(k, n).await.map(doc_json) }),
            flow_zone::ZONE => Box::pin(flow_zone::get_placement(c, k, OBJECT_TYPE, n)),
            _ => return None,
        })
    }

    fn put_document<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        sub: SubDoc,
        doc: Value,
        what: String,
    ) -> Option<BoxFuture<'a, Result<(), ApplyDocError>>> {
        let (k, n) = name.split_once('.')?;
        Some(match sub {
            SubDoc::SETTINGS => Box::pin(async move {
                c.update_dataset(k, n, &typed(doc, &what)?).await?;
                Ok(())
            }),
            SubDoc::SCHEMA => Box::pin(async move {
                c.set_dataset_schema(k, n, &typed(doc, &what)?).await?;
                Ok(())
            }),
            SubDoc::METADATA => Box::pin(async move {
                c.set_dataset_metadata(k, n, &typed(doc, &what)?).await?;
                Ok(())
            }),
            flow_zone::ZONE => Box::pin(flow_zone::put_placement(c, k, OBJECT_TYPE, n, doc, what)),
            _ => return None,
        })
    }

    fn get_main<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
    ) -> Option<BoxFuture<'a, Result<Value, ClientError>>> {
        let (project, dataset) = name.split_once('.').unwrap_or_default();
        Some(Box::pin(async move {
            c.get_dataset(project, dataset).await.map(|v| to_json(&v))
        }))
    }

    fn delete<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        drop_data: bool,
    ) -> Option<BoxFuture<'a, Result<(), ClientError>>> {
        let (project, dataset) = name.split_once('.').unwrap_or_default();
        Some(Box::pin(async move {
            c.delete_dataset(project, dataset, drop_data).await
        }))
    }

    fn create_fields(&self) -> &'static [&'static str] {
        &[
            "name",
            "projectKey",
            "type",
            "params",
            "formatType",
            "formatParams",
            "managed",
        ]
    }

    /// The public API's create call takes a whole dataset definition (its reference lists
    /// `managed`, `schema` and `tags`, and advises creating from a definition read with GET,
    /// which carries the metadata fields too): the settings, the schema and the metadata,
    /// stamp included, ride in the POST.
    fn create_carries(&self) -> &'static [SubDoc] {
        &[SubDoc::SETTINGS, SubDoc::SCHEMA, SubDoc::METADATA]
    }

    fn fold_into_create(&self, sub: SubDoc, doc: Value, body: &mut Value) {
        let (Value::Object(body), Value::Object(doc)) = (body, doc) else {
            return;
        };
        match sub {
            SubDoc::SCHEMA => {
                body.insert("schema".into(), Value::Object(doc));
            }
            SubDoc::METADATA => {
                // The definition's fields behind the metadata view: the same names, except
                // `custom`, which the definition calls `customMeta`.
                for (key, value) in doc {
                    let key = if key == "custom" {
                        "customMeta".to_string()
                    } else {
                        key
                    };
                    body.insert(key, value);
                }
            }
            _ => {}
        }
    }

    fn create_seed(&self, name: &str) -> (SubDoc, Value) {
        let (project, dataset) = name.split_once('.').unwrap_or_default();
        (SubDoc::SETTINGS, json!({"projectKey": project, "name": dataset}))
    }

    fn create<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        body: &'a Value,
        what: &'a str,
    ) -> Option<BoxFuture<'a, Result<(), ApplyDocError>>> {
        let (project, _) = name.split_once('.').unwrap_or_default();
        Some(Box::pin(async move {
            c.create_dataset(project, &typed(body.clone(), &what)?).await?;
            Ok(())
        }))
    }

    fn stamped(&self) -> bool {
        true
    }

    fn write_references(&self, op: &Operation, out: &mut Vec<ResourceId>) {
        if let Some((project, _)) = op.name.split_once('.') {
            out.push(ResourceId::new(project::ID, project));
        }
        if let Some(c) = overlay_of(op, SubDoc::SETTINGS)
            .and_then(|o| o.get("params"))
            .and_then(|p| p.get("connection"))
            .and_then(Value::as_str)
        {
            out.push(ResourceId::new(connection::ID, c));
        }
        if let Some((project, _)) = op.name.split_once('.') {
            flow_zone::placement_references(op, project, out);
        }
    }
}

impl KindExport for DatasetKind {
    fn export_word(&self) -> Option<&'static str> {
        Some("datasets")
    }

    fn export_read<'a>(
        &'a self,
        scope: &'a ExportScope<'a>,
    ) -> Option<BoxFuture<'a, anyhow::Result<KindRead>>> {
        Some(Box::pin(async move {
            let projects = project::read_for_export(scope, &[project::ProjectDoc::Datasets]).await?;
            Ok(KindRead::list(ExportedDatasets(projects)))
        }))
    }

    fn export(&self, observed: &Observed, out: &mut ExportOut) {
        // Read by `export_read`, or, in a plan's observed state, with their projects.
        let projects = match observed.kinds.get::<ExportedDatasets>(ID) {
            Some(read) => &read.0,
            None => match project::live(observed) {
                Some(projects) => projects,
                None => return,
            },
        };
        for (key, p) in projects {
            let zones = flow_zone::live(observed).and_then(|z| z.get(key));
            for (name, ds) in p.datasets.iter().flatten() {
                let mut spec = dataset_spec(ds);
                spec.zone = zones.and_then(|zs| flow_zone::exported_zone(zs, OBJECT_TYPE, name));
                let resource = Resource::new(&KIND, meta(name, Some(key)), spec);
                out.put(project::export_file(key), resource);
            }
        }
    }
}

impl Kind for DatasetKind {}

/// `params` is free-form (each dataset type has its own keys), so a misspelt `connection`
/// would pass unnoticed and the dataset would silently lose its connection; column names are
/// unique.
fn check_params_and_columns(checks: &mut Checks<'_>, spec: &Node) {
    if let Some(NodeValue::Map(params)) = spec.get("params").map(|p| &p.value) {
        let has_connection = params.iter().any(|(k, _)| k.as_str() == Some("connection"));
        for (key, _) in params {
            let Some(name) = key.as_str() else { continue };
            if !has_connection && name != "connection" && did_you_mean(name, ["connection"]).is_some() {
                checks.warning(
                    key.pos,
                    format!("spec.params: \"{name}\" looks like a misspelt \"connection\""),
                    "a dataset's connection is `params.connection`",
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
                checks.error(
                    name.pos,
                    format!("spec.schema.columns[{i}].name: a column name cannot be empty"),
                );
            } else if let Some(first) = seen.get(text) {
                checks
                    .error(
                        name.pos,
                        format!(
                            "spec.schema.columns[{i}]: column \"{text}\" is declared twice (first at line {})",
                            first.line
                        ),
                    )
                    .hint = Some("column names are unique within a schema".into());
            } else {
                seen.insert(text, name.pos);
            }
        }
    }
}

/// Plan one declared dataset: its writes, compared with the live state.
pub(crate) fn plan_dataset(p: &mut Planner<'_>, d: &Declared, meta: &ObjectMeta, spec: &DatasetSpec) {
    let project = meta.project.clone().unwrap_or_default();
    let id = ResourceId::in_project(ID, &project, &meta.name);
    let Some(projects) = project::live(p.observed()) else {
        return p.not_read(&id, &d.origin, "project list");
    };
    let project_live = projects.get(&project);
    if project_live.is_none() && !p.is_declared(crate::kinds::project::ID, &project) {
        return p.error_at(
            &id,
            Some(&d.origin),
            format!("project {project:?} is neither declared in the manifests nor present on the instance"),
            Some(format!(
                "declare a Project named {project:?} or fix metadata.project"
            )),
        );
    }
    if let Some(conn) = spec
        .params
        .as_ref()
        .and_then(|p| p.get("connection"))
        .and_then(Value::as_str)
    {
        p.check_ref(d, &id, crate::kinds::connection::ID, conn, "params.connection");
    }
    let live: Option<&ObservedDataset> = match project_live {
        None => None,
        Some(project_live) => match &project_live.datasets {
            Some(datasets) => datasets.get(&meta.name),
            None => return p.not_read(&id, &d.origin, "dataset list of the project"),
        },
    };
    if let Some(ds) = live
        && ds.definition.dataset_type != spec.dataset_type
    {
        return p.error_at(
            &id,
            Some(&d.origin),
            format!(
                "type is {} on the instance but {} in the manifest; a dataset's type cannot change in place",
                ds.definition.dataset_type, spec.dataset_type
            ),
            Some(format!(
                "declare the new dataset under another name (and point its recipes at it), or delete dataset {} in DSS first",
                id.name
            )),
        );
    }
    let key = Some(project.as_str());

    let definition = live.map(|ds| settings_view(&ds.definition));
    let version = live.and_then(|ds| ds.definition.version_tag.as_ref().map(|v| v.version_number));
    let settings_write = Doc::write_of(SubDoc::SETTINGS, definition.as_ref(), key, version, |doc| {
        if live.is_none() {
            doc.scalar("type", Some(json!(spec.dataset_type)), None);
        } else {
            doc.write_only("type", json!(spec.dataset_type));
        }
        doc.keyed("params", spec.params.as_ref());
        doc.scalar("formatType", text(&spec.format_type), None);
        doc.keyed("formatParams", spec.format_params.as_ref());
        doc.scalar("managed", flag(spec.managed), Some(json!(false)));
    });

    let schema = live.map(|ds| schema_view(ds.schema.as_ref(), ds.definition.schema.as_ref()));
    let schema_write = Doc::write_of(SubDoc::SCHEMA, schema.as_ref(), key, None, |doc| {
        if let Some(s) = &spec.schema {
            doc.columns(s);
        }
    });

    let metadata = live.map(dataset_metadata_view);
    let metadata_write = Doc::write_of(SubDoc::METADATA, metadata.as_ref(), key, None, |doc| {
        doc.scalar("label", text(&spec.label), None);
        doc.scalar("description", text(&spec.description), None);
        doc.scalar("shortDesc", text(&spec.short_desc), None);
        doc.set("tags", spec.tags.as_ref());
        doc.keyed("custom", spec.custom.as_ref());
    });

    let live_name = live.map(|_| meta.name.as_str());
    let Ok(zone_write) =
        flow_zone::plan_placement(p, d, &id, &project, OBJECT_TYPE, live_name, spec.zone.as_deref())
    else {
        return;
    };

    let intent = LedgerIntent {
        protect: spec.protect.unwrap_or(false),
        drop_data_on_delete: spec.drop_data_on_delete.unwrap_or(false),
        dss_id: None,
    };
    p.finish(
        id,
        &d.origin,
        live.is_some(),
        vec![settings_write, schema_write, metadata_write, zone_write],
        intent,
    );
}

/// The fields of a live definition that the settings write of [`plan_dataset`] compares and
/// fingerprints, as its JSON has them (`managed` and `formatType` absent when unset). The
/// whole definition as JSON (schema, tags, the attributes kept) was built for each dataset of
/// a plan only to read these five fields.
fn settings_view(def: &Dataset) -> Value {
    let mut view = Map::new();
    view.insert("type".into(), Value::String(def.dataset_type.clone()));
    if let Some(managed) = def.managed {
        view.insert("managed".into(), Value::Bool(managed));
    }
    view.insert("params".into(), Value::Object(def.params.clone()));
    if let Some(format_type) = &def.format_type {
        view.insert("formatType".into(), Value::String(format_type.clone()));
    }
    view.insert("formatParams".into(), Value::Object(def.format_params.clone()));
    Value::Object(view)
}

/// A dataset's metadata as a JSON value: the document read, else the view DSS derives from
/// the definition in the dataset list (`customMeta` is the metadata's `custom`).
pub(crate) fn dataset_metadata_view(ds: &ObservedDataset) -> Value {
    match &ds.metadata {
        Some(m) => to_json(m),
        None => {
            let def = &ds.definition;
            let mut v = json!({"tags": def.tags});
            for (from, to) in [
                ("label", "label"),
                ("description", "description"),
                ("shortDesc", "shortDesc"),
                ("customMeta", "custom"),
            ] {
                if let Some(x) = def.extra.get(from) {
                    v[to] = x.clone();
                }
            }
            v
        }
    }
}

/// What `dssctl export` reads of the datasets: the selected projects with their datasets.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ExportedDatasets(pub project::Live);

/// Parameters DSS fills in when it creates a dataset, at their creation values: left out of an
/// export (they are what DSS would write anyway), kept when they were changed.
const DATASET_PARAM_DEFAULTS: [(&str, &str); 2] = [
    ("notReadyIfEmpty", "false"),
    ("filesSelectionRules", r#"{"mode":"ALL"}"#),
];

/// Format parameters DSS fills in at creation that say nothing about the format.
const FORMAT_PARAM_DEFAULTS: [(&str, &str); 1] = [("probableNumberOfRecords", "0")];

fn without_defaults(map: Map<String, Value>, defaults: &[(&str, &str)]) -> Map<String, Value> {
    map.into_iter()
        .filter(|(k, v)| {
            !defaults
                .iter()
                .any(|(dk, dv)| dk == k && serde_json::from_str::<Value>(dv).is_ok_and(|d| &d == v))
        })
        .collect()
}

/// `kind: Dataset`: settings, schema and metadata. A secret-named parameter is left out (a
/// dataset's parameters never hold one legitimately; its connection does).
pub(crate) fn dataset_spec(dataset: &ObservedDataset) -> DatasetSpec {
    let def = &dataset.definition;
    let mut params = without_defaults(without_nulls(&def.params), &DATASET_PARAM_DEFAULTS);
    params.retain(|k, _| !is_secret_param(k));
    let format_params = without_defaults(without_nulls(&def.format_params), &FORMAT_PARAM_DEFAULTS);
    let schema = schema_view(dataset.schema.as_ref(), def.schema.as_ref());
    let columns: Vec<ColumnSpec> = schema
        .get("columns")
        .and_then(Value::as_array)
        .map(|cols| cols.iter().filter_map(column_spec).collect())
        .unwrap_or_default();
    let metadata = dataset_metadata_view(dataset);
    let tags: Vec<String> = metadata
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    DatasetSpec {
        dataset_type: def.dataset_type.clone(),
        params: keyed(params),
        format_type: nonempty(def.format_type.as_deref()),
        format_params: keyed(format_params),
        managed: def.managed.filter(|m| *m),
        schema: (!columns.is_empty()).then_some(SchemaSpec { columns }),
        label: nonempty_at(&metadata, "label"),
        description: nonempty_at(&metadata, "description"),
        short_desc: nonempty_at(&metadata, "shortDesc"),
        tags: set(&tags),
        custom: custom_of(metadata.get("custom")),
        drop_data_on_delete: None,
        protect: None,
        // Set by the export from the project's zone list, when the zones are exported too.
        zone: None,
    }
}

/// One live column: name, type (lower-cased), and the attributes a manifest manages when set.
fn column_spec(col: &Value) -> Option<ColumnSpec> {
    let name = col.get("name")?.as_str()?.to_string();
    let t = col.get("type").and_then(Value::as_str).unwrap_or("string");
    Some(ColumnSpec {
        name,
        column_type: column_type(t),
        // DSS writes -1 for "no maximum": not a length, and not a valid manifest value.
        max_length: col.get("maxLength").and_then(Value::as_i64).filter(|n| *n >= 0),
        comment: nonempty_at(col, "comment"),
        meaning: nonempty_at(col, "meaning"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::fingerprint::live_object_fingerprint;

    /// A definition as DSS answers it, with the attributes a plan never reads.
    fn full_definition() -> Value {
        json!({
            "projectKey": "P", "name": "d", "type": "Filesystem", "managed": false,
            "params": {"connection": "fs", "path": "/d", "password": "e:AES:x"},
            "formatType": "csv", "formatParams": {"separator": ","},
            "schema": {"columns": [{"name": "id", "type": "bigint"}], "userModified": false},
            "tags": ["a"], "description": "orders", "customMeta": {"kv": {"dssctl.stack": "s"}},
            "metrics": {"probes": [{"type": "basic"}]}, "flowOptions": {"virtualizable": false},
            "creationTag": {"versionNumber": 0}, "versionTag": {"versionNumber": 3},
        })
    }

    #[test]
    fn the_observed_definition_keeps_what_a_plan_reads() {
        let mut d: Dataset = serde_json::from_value(full_definition()).unwrap();
        keep_observed_fields(&mut d);
        assert_eq!(d.creation_tag, None);
        assert_eq!(
            d.extra.keys().collect::<Vec<_>>(),
            vec!["customMeta", "description"]
        );
        assert_eq!(d.params["path"], "/d");
        assert!(d.schema.is_some());
    }

    #[test]
    fn a_deletion_fingerprint_is_the_same_from_the_list_and_from_a_get() {
        // The plan fingerprints the trimmed list item; the staleness check of a saved plan,
        // the whole document a GET answers. They must agree, or every saved plan deleting a
        // dataset would be refused as stale.
        let mut listed: Dataset = serde_json::from_value(full_definition()).unwrap();
        keep_observed_fields(&mut listed);
        let from_plan = live_object_fingerprint(&KIND, to_json(&listed));
        let from_get = live_object_fingerprint(&KIND, full_definition());
        assert_eq!(from_plan, from_get);
        // A save (another versionTag) still shows.
        let mut saved = full_definition();
        saved["versionTag"]["versionNumber"] = json!(4);
        assert_ne!(live_object_fingerprint(&KIND, saved), from_plan);
    }
}
