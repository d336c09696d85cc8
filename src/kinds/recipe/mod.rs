//! `kind: Recipe`: a recipe of a project's flow. This module owns the spec type (inputs and
//! outputs by name, the code or payload, the type-specific params, the zone), the recipe name
//! rule, the checks of the spec (a `{fromFile}` that exists, no recipe reading what it writes),
//! the cycle check across the declared recipes, the names a recipe refers to, its observation
//! (one recipe list per project, then the payload of the managed recipes that declare code),
//! and its planning, creation and deletion.
//!
//! DSS serves a recipe as one document, `{"recipe": definition, "payload": text}`. dssctl
//! compares and writes it as one sub-document (`settings`): the definition with the payload
//! next to its fields, split again when it is sent. DSS refers to a managed folder by the id
//! it generated; the plan refers to it by name (`folder:NAME`, compared with the live ids
//! translated through the project's folder list), so that a recipe can use a folder created
//! in the same run: apply asks DSS for the ids just before the recipe's writes
//! ([`crate::apply::kind::KindApply::resolve_writes`]), which it orders after the folder's creation.

/// The calls that create, read, update and delete it (an `impl DssClient` block).
mod client;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use futures::future::BoxFuture;
use schemars::{JsonSchema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::managed_folder::ManagedFolder;
use super::managed_folder::client::pick_by_name;
use super::{
    Checks, Kind, KindId, KindRead, NameRule, RefSink, dataset, flow_zone, items, managed_folder, names,
    overlay_of, project, project_list,
};
use super::{KindApply, KindExport, KindObserve, KindPlan, KindSpec};
use crate::apply::docs::ApplyDocError;
use crate::client::{ClientError, DssClient};
use crate::export::{ExportOut, ExportScope, meta};
use crate::manifest::diagnostic::Diagnostic;
use crate::manifest::kinds::{Declared, KeyedMap, ObjectMeta, Resource};
use crate::manifest::node::Node;
use crate::observe::{ObserveError, reading};
use crate::plan::diff::Doc;
use crate::plan::model::Change;
use crate::plan::planner::Planner;
use crate::plan::scope::{Needs, ReadPlan};
use crate::plan::{LedgerIntent, Observed, Operation, ResourceId, SubDoc, Write};
use anyhow::Context;
use project_list::{ByProject, ProjectObjects, ProjectRead};

/// The object type of a recipe in a zone's items.
const OBJECT_TYPE: &str = "RECIPE";

/// The kind.
pub(crate) static KIND: RecipeKind = RecipeKind;

super::register!(KIND, 90);

/// The word of recipe ledger keys and plans (`recipe:PROJECT.name`).
pub(crate) const ID: KindId = KindId("recipe");

/// Recipe names: letters, digits and `_` (DSS's rule for flow object ids).
pub(crate) static NAME_RULE: NameRule = NameRule {
    what: "a recipe name",
    allowed: names::word_char,
    allowed_text: "letters, digits and _",
    example: "compute_orders_by_customer",
    pattern: Some(names::WORD_PATTERN),
    no_edge_spaces: false,
    fixed: None,
};

/// Recipe types whose payload is code (sent as `creationSettings.script` at creation); the
/// payload of the other (visual) recipes is a JSON text.
pub(crate) const CODE_TYPES: [&str; 10] = [
    "python",
    "r",
    "sql_script",
    "sql_query",
    "pyspark",
    "sparkr",
    "spark_scala",
    "shell",
    "spark_sql_query",
    "hive",
];

/// How a plan writes a managed folder in a recipe's inputs or outputs: `folder:NAME`. DSS
/// refers to a folder by the id it generates, which a folder created in the same run does not
/// have yet; apply puts the id in its place ([`crate::apply::kind::KindApply::resolve_writes`]). No dataset name has a
/// `:`, so the form cannot be taken for a dataset.
pub(crate) const FOLDER_REF: &str = "folder:";

/// One input or output of a recipe: a dataset by name, or a managed folder by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum FlowRef {
    /// A dataset of the recipe's project.
    Dataset(String),
    /// A managed folder of the recipe's project, by its name.
    Folder {
        /// The folder's name (DSS refers to it by its generated id; dssctl looks it up).
        folder: String,
    },
}

impl FlowRef {
    /// How plans show and write it: `orders`, `folder:raw_files` ([`FOLDER_REF`]).
    pub(crate) fn display(&self) -> String {
        match self {
            FlowRef::Dataset(n) => n.clone(),
            FlowRef::Folder { folder } => format!("{FOLDER_REF}{folder}"),
        }
    }
}

/// Text given inline, or read from a file relative to the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum CodeSpec {
    /// The text itself.
    Inline(String),
    /// `{fromFile: PATH}`: the content of a file, relative to the manifest's directory.
    FromFile {
        #[serde(rename = "fromFile")]
        from_file: String,
    },
}

impl CodeSpec {
    /// The text, reading the file relative to `base` (the manifest's directory).
    pub(crate) fn text(&self, base: &Path) -> Result<String, String> {
        match self {
            CodeSpec::Inline(t) => Ok(t.clone()),
            CodeSpec::FromFile { from_file } => {
                let path = base.join(from_file);
                std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
            }
        }
    }
}

/// `kind: Recipe` spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RecipeSpec {
    /// DSS recipe type (`sync`, `sql_query`, `python`, `shell`, ...). Identity: cannot change in
    /// place.
    #[serde(rename = "type")]
    pub recipe_type: String,
    /// What the recipe reads: dataset names, a folder as `{folder: NAME}`. Ordered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Vec<FlowRef>>,
    /// What the recipe writes, in the same form; each output must be declared or exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<FlowRef>>,
    /// The payload: the code of a code recipe (SQL, Python, ...), inline or `{fromFile: PATH}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<CodeSpec>,
    /// Type-specific settings, managed key by key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<KeyedMap>,
    /// The flow zone the recipe belongs to, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Never deleted by dssctl, even after removal from the manifests, until an apply sets it to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect: Option<bool>,
}

/// One project's live recipes.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ProjectRecipes {
    /// The items of the recipe list (definitions, no payload), by name.
    pub recipes: BTreeMap<String, Value>,
    /// The payloads read (only for managed recipes that declare `code`).
    pub payloads: BTreeMap<String, String>,
    /// The managed folders, id to name, when a managed recipe uses one.
    pub folders: Option<BTreeMap<String, String>>,
}

impl ProjectObjects for ProjectRecipes {
    fn document(&self, name: &str) -> Option<Value> {
        self.recipes.get(name).cloned()
    }
}

/// The live recipes by project; `None` for a project that does not exist.
pub(crate) type Live = ByProject<Option<ProjectRecipes>>;

/// What to read in one project.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ProjectReads {
    /// Managed recipes whose payload is compared.
    pub payloads: BTreeSet<String>,
    /// Whether a managed recipe uses a folder (the folder list is read).
    pub folders: bool,
}

/// The planned reads by project.
pub(crate) type Reads = BTreeMap<String, ProjectReads>;

/// This kind's part of the observed state.
pub(crate) fn live(observed: &Observed) -> Option<&Live> {
    observed.kinds.get(ID)
}

fn reads(r: &ReadPlan) -> Option<&Reads> {
    r.kinds.get(ID)
}

/// The spec of a recipe resource.
pub(crate) fn spec_of(resource: &Resource) -> Option<(&ObjectMeta, &RecipeSpec)> {
    resource.typed::<RecipeSpec>()
}

/// The `Recipe` kind.
#[derive(Debug)]
pub(crate) struct RecipeKind;

impl KindSpec for RecipeKind {
    fn cross_check(&self, resources: &[Declared]) -> Vec<Diagnostic> {
        cycle_diagnostics(resources)
    }

    fn name(&self) -> &'static str {
        "Recipe"
    }

    fn id(&self) -> KindId {
        ID
    }

    fn description(&self) -> &'static str {
        "A recipe of a project's flow: its inputs, outputs, code and settings."
    }

    fn spec_schema(&self, generator: &mut SchemaGenerator) -> Value {
        generator.subschema_for::<RecipeSpec>().to_value()
    }

    fn spec_required(&self) -> bool {
        true
    }

    fn in_project(&self) -> bool {
        true
    }

    fn apply_rank(&self) -> u8 {
        6
    }

    fn name_rule(&self) -> &'static NameRule {
        &NAME_RULE
    }

    fn referable(&self) -> bool {
        true
    }

    fn check_spec(&self, checks: &mut Checks<'_>, spec: &Node) {
        let mut inputs = BTreeMap::new();
        for field in ["inputs", "outputs"] {
            for (i, item) in items(spec.get(field)).iter().enumerate() {
                let path = format!("spec.{field}[{i}]");
                let key = match (item.as_str(), item.get("folder")) {
                    (Some(_), _) => {
                        checks.name(&path, item, &dataset::NAME_RULE);
                        item.as_str().map(str::to_string)
                    }
                    (None, Some(f)) => f.as_str().map(|f| format!("folder:{f}")),
                    // Anything else is a schema error at its line already.
                    (None, None) => None,
                };
                let Some(key) = key else { continue };
                if field == "inputs" {
                    inputs.insert(key, item.pos);
                } else if let Some(at) = inputs.get(&key) {
                    checks
                        .error(
                            item.pos,
                            format!(
                                "{path}: the recipe reads and writes {key} (input at line {}): a cycle",
                                at.line
                            ),
                        )
                        .hint = Some("a recipe writes a new dataset: give the output another name".into());
                }
            }
        }
        if let Some(code) = spec.get("code") {
            check_code(checks, "spec.code", code);
        }
        if let Some(zone) = spec.get("zone")
            && zone.as_str().is_some_and(str::is_empty)
        {
            checks.error(zone.pos, "spec.zone: the zone name is empty").hint =
                Some("name a FlowZone, or `default`".into());
        } else if let Some(zone) = spec.get("zone") {
            checks.name("spec.zone", zone, &flow_zone::NAME_RULE);
        }
    }

    fn references<'n>(&self, meta: Option<&'n Node>, spec: Option<&'n Node>, refs: &mut RefSink<'_, 'n>) {
        let project_node = meta.and_then(|m| m.get("project"));
        refs.push(project::ID, project_node, None);
        let key = project_node.and_then(Node::as_str);
        for field in ["inputs", "outputs"] {
            for item in items(spec.and_then(|s| s.get(field))) {
                if item.as_str().is_some() {
                    refs.push(dataset::ID, Some(item), key);
                } else {
                    refs.push(managed_folder::ID, item.get("folder"), key);
                }
            }
        }
        flow_zone::push_zone_reference(spec, key, refs);
    }

    fn parse(&self, meta: ObjectMeta, spec: Value) -> Result<Resource, serde_json::Error> {
        Ok(Resource::new(
            &KIND,
            meta,
            serde_json::from_value::<RecipeSpec>(spec)?,
        ))
    }
}

impl KindPlan for RecipeKind {
    fn plan(&self, planner: &mut Planner<'_>, declared: &Declared) {
        if let Some((meta, spec)) = spec_of(&declared.resource) {
            plan_recipe(planner, declared, meta, spec);
        }
    }

    fn add_reads(&self, resource: &Resource, needs: &mut Needs<'_>) {
        let Some((meta, spec)) = spec_of(resource) else {
            return;
        };
        let key = meta.project.clone().unwrap_or_default();
        // The project list (does the project exist) and its datasets (do the inputs exist).
        project::reads_mut(needs.reads)
            .entry(key.clone())
            .or_default()
            .datasets = true;
        if spec.zone.is_some() {
            flow_zone::need_zones(needs.reads, &key);
        }
        let r = needs.reads.kinds.entry::<Reads>(ID).entry(key).or_default();
        if spec.code.is_some() {
            r.payloads.insert(meta.name.clone());
        }
        let folder =
            |refs: &Option<Vec<FlowRef>>| refs.iter().flatten().any(|r| matches!(r, FlowRef::Folder { .. }));
        r.folders |= folder(&spec.inputs) || folder(&spec.outputs);
    }

    fn need_live(&self, name: &str, reads: &mut ReadPlan) {
        if let Some((key, _)) = name.split_once('.') {
            reads.kinds.entry::<Reads>(ID).entry(key.to_string()).or_default();
        }
    }

    fn read_budget(&self, reads: &ReadPlan, live: &BTreeSet<ResourceId>) -> usize {
        let Some(planned) = self::reads(reads) else {
            return 0;
        };
        planned
            .iter()
            .map(|(key, r)| {
                let payloads = r
                    .payloads
                    .iter()
                    .filter(|n| live.contains(&ResourceId::new(ID, format!("{key}.{n}"))))
                    .count();
                1 + payloads
            })
            .sum()
    }

    fn live_exists(&self, observed: &Observed, name: &str) -> Option<bool> {
        project_list::live_exists::<Option<ProjectRecipes>>(observed, ID, name)
    }

    fn live_document(&self, observed: &Observed, name: &str) -> Result<Option<Value>, &'static str> {
        project_list::live_document::<Option<ProjectRecipes>>(observed, ID, name, "recipe list")
    }

    fn contained_in(&self) -> Option<KindId> {
        Some(project::ID)
    }
}

impl KindObserve for RecipeKind {
    fn observe<'a>(
        &'a self,
        client: &'a DssClient,
        reads: &'a ReadPlan,
        parallelism: usize,
    ) -> Option<BoxFuture<'a, Result<KindRead, ObserveError>>> {
        let planned = self::reads(reads)?;
        Some(Box::pin(project_list::observe(
            planned.clone(),
            parallelism,
            move |key, r| async move { read_project(client, &key, &r).await },
        )))
    }
}

impl KindApply for RecipeKind {
    fn get_main<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
    ) -> Option<BoxFuture<'a, Result<Value, ClientError>>> {
        let (key, recipe) = name.split_once('.').unwrap_or_default();
        Some(Box::pin(async move {
            c.get_recipe(key, recipe)
                .await
                .map(|d| d.get("recipe").cloned().unwrap_or(d))
        }))
    }

    fn delete<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        _drop_data: bool,
    ) -> Option<BoxFuture<'a, Result<(), ClientError>>> {
        let (key, recipe) = name.split_once('.').unwrap_or_default();
        Some(Box::pin(async move { c.delete_recipe(key, recipe).await }))
    }

    fn sub_document(&self, name: &str, sub: SubDoc) -> Option<bool> {
        (name.contains('.') && (sub == SubDoc::SETTINGS || sub == flow_zone::ZONE)).then_some(true)
    }

    fn get_document<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        sub: SubDoc,
    ) -> Option<BoxFuture<'a, Result<Value, ClientError>>> {
        let (key, recipe) = name.split_once('.')?;
        if sub == flow_zone::ZONE {
            return Some(Box::pin(flow_zone::get_placement(c, key, OBJECT_TYPE, recipe)));
        }
        (sub == SubDoc::SETTINGS).then(|| -> BoxFuture<'a, Result<Value, ClientError>> {
            Box::pin(async move {
                c.get_recipe(key, recipe)
                    .await
                    .map(|d| project_roles(flatten(&d)))
            })
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
        let (key, recipe) = name.split_once('.')?;
        if sub == flow_zone::ZONE {
            return Some(Box::pin(flow_zone::put_placement(
                c,
                key,
                OBJECT_TYPE,
                recipe,
                doc,
                what,
            )));
        }
        (sub == SubDoc::SETTINGS).then(|| -> BoxFuture<'a, Result<(), ApplyDocError>> {
            Box::pin(async move {
                // The document was read with its items cut to their refs: the attributes DSS
                // keeps on them (`deps`, `appendMode`) come back from a fresh read.
                let full = flatten(&c.get_recipe(key, recipe).await?);
                c.save_recipe(key, recipe, &unflatten(rehydrate_roles(doc, &full)))
                    .await?;
                Ok(())
            })
        })
    }

    fn describe_document(&self, name: &str, _sub: SubDoc) -> String {
        format!("recipe {name}")
    }

    fn create_fields(&self) -> &'static [&'static str] {
        &[
            "name",
            "projectKey",
            "type",
            "inputs",
            "outputs",
            "payload",
            "params",
        ]
    }

    fn create_seed(&self, name: &str) -> (SubDoc, Value) {
        let (key, recipe) = name.split_once('.').unwrap_or_default();
        (SubDoc::SETTINGS, json!({"projectKey": key, "name": recipe}))
    }

    fn create_body(&self, _op: &Operation, doc: Value) -> Value {
        creation_body(doc)
    }

    fn create<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        body: &'a Value,
        _what: &'a str,
    ) -> Option<BoxFuture<'a, Result<(), ApplyDocError>>> {
        let (key, _) = name.split_once('.').unwrap_or_default();
        Some(Box::pin(async move {
            c.create_recipe(key, body).await?;
            Ok(())
        }))
    }

    fn write_references(&self, op: &Operation, out: &mut Vec<ResourceId>) {
        let Some((key, _)) = op.name.split_once('.') else {
            return;
        };
        out.push(ResourceId::new(project::ID, key));
        flow_zone::placement_references(op, key, out);
        let Some(overlay) = overlay_of(op, SubDoc::SETTINGS) else {
            return;
        };
        for field in ["inputs", "outputs"] {
            for r in role_refs(overlay.get(field)) {
                match r.strip_prefix(FOLDER_REF) {
                    Some(folder) => out.push(ResourceId::new(managed_folder::ID, format!("{key}.{folder}"))),
                    None => out.push(ResourceId::new(dataset::ID, format!("{key}.{r}"))),
                }
            }
        }
    }

    fn resolve_writes<'a>(
        &self,
        c: &'a DssClient,
        op: &'a Operation,
    ) -> Option<BoxFuture<'a, Result<Vec<Write>, ClientError>>> {
        let (key, _) = op.name.split_once('.')?;
        let names_folder = op.writes.iter().any(|w| {
            w.subdocument == SubDoc::SETTINGS
                && ["inputs", "outputs"]
                    .iter()
                    .flat_map(|f| role_refs(w.overlay.get(*f)))
                    .any(|r| r.starts_with(FOLDER_REF))
        });
        names_folder.then(|| -> BoxFuture<'a, Result<Vec<Write>, ClientError>> {
            Box::pin(async move {
                // One folder list for every folder the recipe names: the ids as DSS has them
                // now, after the creations this run made before the recipe.
                let folders = c.list_managed_folders(key).await?;
                let mut writes = op.writes.clone();
                for w in writes.iter_mut().filter(|w| w.subdocument == SubDoc::SETTINGS) {
                    for field in ["inputs", "outputs"] {
                        if let Some(roles) = w.overlay.get_mut(field) {
                            resolve_folder_refs(key, roles, &folders)?;
                        }
                    }
                }
                Ok(writes)
            })
        })
    }
}

impl KindExport for RecipeKind {
    fn export_word(&self) -> Option<&'static str> {
        Some("recipes")
    }

    fn export_read<'a>(
        &'a self,
        scope: &'a ExportScope<'a>,
    ) -> Option<BoxFuture<'a, anyhow::Result<KindRead>>> {
        Some(Box::pin(async move {
            let keys: Vec<String> = project::read_for_export(scope, &[]).await?.into_keys().collect();
            let mut read = Live::new();
            for key in keys {
                // Every recipe's payload, and the folders (inputs and outputs may be folders).
                let names = scope
                    .client
                    .list_recipes(&key)
                    .await
                    .with_context(|| format!("cannot read the recipe list of project {key}"))?
                    .iter()
                    .filter_map(|d| d.get("name").and_then(Value::as_str).map(str::to_string))
                    .collect();
                let wanted = ProjectReads {
                    payloads: names,
                    folders: true,
                };
                let recipes = read_project(scope.client, &key, &wanted).await?;
                read.insert(key, recipes.objects);
            }
            Ok(KindRead::list(read))
        }))
    }

    fn export(&self, observed: &Observed, out: &mut ExportOut) {
        for (key, recipes) in live(observed).into_iter().flatten() {
            let Some(recipes) = recipes else { continue };
            let zones = flow_zone::live(observed).and_then(|l| l.get(key));
            for (name, def) in &recipes.recipes {
                let mut spec = export_spec(
                    def,
                    recipes.payloads.get(name).map(String::as_str),
                    recipes.folders.as_ref(),
                );
                spec.zone = zones.and_then(|zs| flow_zone::exported_zone(zs, OBJECT_TYPE, name));
                out.put(
                    project::export_file(key),
                    Resource::new(&KIND, meta(name, Some(key)), spec),
                );
            }
        }
    }
}

impl Kind for RecipeKind {}

/// A `{fromFile}` must name a file that exists, relative to the manifest.
pub(crate) fn check_code(checks: &mut Checks<'_>, path: &str, code: &Node) {
    let Some(file) = code.get("fromFile") else {
        if code.as_str().is_none() {
            checks
                .error(
                    code.pos,
                    format!(
                        "{path}: expected text or {{fromFile: PATH}}, found {}",
                        code.describe()
                    ),
                )
                .hint = Some("e.g. `code: {fromFile: recipes/orders_by_customer.sql}`".into());
        }
        return;
    };
    let Some(text) = file.as_str() else { return };
    let base = match checks.file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    if text.is_empty() || !base.join(text).is_file() {
        checks
            .error(
                file.pos,
                format!("{path}.fromFile: {} is not a file", base.join(text).display()),
            )
            .hint = Some("the path is relative to this manifest's directory".into());
    }
}

/// The recipe document as dssctl compares it: the definition, with the payload as a field.
pub(crate) fn flatten(doc: &Value) -> Value {
    let mut def = doc.get("recipe").cloned().unwrap_or_else(|| json!({}));
    if let Some(obj) = def.as_object_mut() {
        obj.insert("payload".into(), doc.get("payload").cloned().unwrap_or(json!("")));
    }
    def
}

/// The flattened document as DSS takes it: `{"recipe", "payload"}`.
pub(crate) fn unflatten(mut doc: Value) -> Value {
    let payload = doc
        .as_object_mut()
        .and_then(|o| o.remove("payload"))
        .unwrap_or(Value::Null);
    json!({"recipe": doc, "payload": payload})
}

/// The document with the items of its inputs and outputs cut to their `ref`: what dssctl
/// manages of them (DSS fills `deps` and `appendMode` in), so that a read-back and a fingerprint
/// compare what a manifest says.
pub(crate) fn project_roles(mut doc: Value) -> Value {
    for field in ["inputs", "outputs"] {
        if let Some(Value::Object(roles)) = doc.get_mut(field) {
            for role in roles.values_mut() {
                if let Some(Value::Array(items)) = role.get_mut("items") {
                    for item in items.iter_mut() {
                        *item = json!({"ref": item.get("ref").cloned().unwrap_or(Value::Null)});
                    }
                }
            }
        }
    }
    doc
}

/// `doc` (items cut to their refs) with each item's other attributes taken back from the item
/// of the same ref and role in `full`.
fn rehydrate_roles(mut doc: Value, full: &Value) -> Value {
    for field in ["inputs", "outputs"] {
        let Some(Value::Object(roles)) = doc.get_mut(field) else {
            continue;
        };
        for (name, role) in roles.iter_mut() {
            let Some(Value::Array(items)) = role.get_mut("items") else {
                continue;
            };
            let have = full
                .get(field)
                .and_then(|r| r.get(name))
                .and_then(|r| r.get("items"))
                .and_then(Value::as_array);
            for item in items.iter_mut() {
                let same = have.and_then(|h| h.iter().find(|x| x.get("ref") == item.get("ref")));
                if let Some(same) = same {
                    *item = same.clone();
                }
            }
        }
    }
    doc
}

/// The create call's body (the official client's recipe creators send this shape): the
/// prototype, and the payload in the creation settings.
fn creation_body(doc: Value) -> Value {
    let mut proto = doc;
    let payload = proto.as_object_mut().and_then(|o| o.remove("payload"));
    let code = proto
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| CODE_TYPES.contains(&t));
    let mut settings = json!({});
    if let Some(p) = payload.filter(|p| p.is_string()) {
        settings[if code { "script" } else { "rawPayload" }] = p;
    }
    json!({"recipePrototype": proto, "creationSettings": settings})
}

/// The refs of every item of every role (`{"main": {"items": [{"ref": ...}]}}`), in order.
pub(crate) fn role_refs(roles: Option<&Value>) -> Vec<String> {
    roles
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|r| r.values())
        .filter_map(|role| role.get("items").and_then(Value::as_array))
        .flatten()
        .filter_map(|i| i.get("ref").and_then(Value::as_str).map(str::to_string))
        .collect()
}

/// One project's recipe list, the payloads of the managed recipes that declare code, and its
/// folders when a managed recipe uses one.
async fn read_project(
    client: &DssClient,
    key: &str,
    r: &ProjectReads,
) -> Result<ProjectRead<Option<ProjectRecipes>>, ObserveError> {
    let read = client.list_recipes(key).await;
    let Some(list) = project_list::absent_if_missing(read)
        .map_err(reading(format!("the recipe list of project {key}")))?
    else {
        return Ok(ProjectRead::list(None));
    };
    let mut out = ProjectRecipes::default();
    for def in list {
        if let Some(name) = def.get("name").and_then(Value::as_str) {
            out.recipes.insert(name.to_string(), def.clone());
        }
    }
    let mut ids = Vec::new();
    for name in r.payloads.iter().filter(|n| out.recipes.contains_key(*n)) {
        let doc = client
            .get_recipe(key, name)
            .await
            .map_err(reading(format!("recipe {key}.{name}")))?;
        let payload = doc
            .get("payload")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        out.payloads.insert(name.clone(), payload);
        ids.push(ResourceId::new(ID, format!("{key}.{name}")));
    }
    let mut extra = 0;
    if r.folders {
        let folders = client
            .list_folders_for_recipes(key)
            .await
            .map_err(reading(format!("the managed folder list of project {key}")))?;
        extra += 1;
        out.folders = Some(
            folders
                .iter()
                .filter_map(|f| {
                    Some((
                        f.get("id")?.as_str()?.to_string(),
                        f.get("name")?.as_str()?.to_string(),
                    ))
                })
                .collect(),
        );
    }
    Ok(ProjectRead {
        objects: Some(out),
        read_one_by_one: ids,
        conditional_reads: extra,
    })
}

/// In a role document (`{"main": {"items": [{"ref": ...}]}}`), every `folder:NAME` ref
/// replaced by the id of the folder of that name in `folders` (the project's live folders);
/// no folder, or two, of that name is an error.
fn resolve_folder_refs(key: &str, roles: &mut Value, folders: &[ManagedFolder]) -> Result<(), ClientError> {
    let items = roles
        .as_object_mut()
        .into_iter()
        .flat_map(|r| r.values_mut())
        .filter_map(|role| role.get_mut("items").and_then(Value::as_array_mut))
        .flatten();
    for item in items {
        let Some(name) = item
            .get("ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix(FOLDER_REF))
        else {
            continue;
        };
        let found = pick_by_name(key, name, folders.to_vec())?;
        item["ref"] = json!(found.id);
    }
    Ok(())
}

/// A managed folder a recipe names must be declared or live (exactly one live folder of that
/// name: DSS would not know which one the manifest means); otherwise the error is reported.
fn check_folder(
    p: &mut Planner<'_>,
    d: &Declared,
    id: &ResourceId,
    key: &str,
    field: &str,
    folder: &str,
    live: Option<&BTreeMap<String, String>>,
) -> Result<(), ()> {
    let ids: Vec<&str> = live
        .into_iter()
        .flatten()
        .filter(|(_, name)| *name == folder)
        .map(|(id, _)| id.as_str())
        .collect();
    if ids.len() > 1 {
        p.error_at(
            id,
            Some(&d.origin),
            format!(
                "{field} names managed folder {folder:?}, but project {key} has {} folders of that name (ids {})",
                ids.len(),
                ids.join(", ")
            ),
            Some("rename or delete all but one of them in DSS".into()),
        );
        return Err(());
    }
    if ids.is_empty() && !p.is_declared(managed_folder::ID, &format!("{key}.{folder}")) {
        let origin = d
            .references
            .iter()
            .find(|x| x.kind == managed_folder::ID && x.name == folder)
            .map_or(&d.origin, |x| &x.origin);
        p.error_at(
            id,
            Some(origin),
            format!(
                "{field} names managed folder {key}.{folder}, which is neither declared in the manifests nor present on the instance"
            ),
            Some(format!(
                "declare a ManagedFolder named {folder:?} in project {key}, or fix the name"
            )),
        );
        return Err(());
    }
    Ok(())
}

/// How plans show live refs: dataset names, folders as `folder:NAME`.
fn display_refs(refs: &[String], folders: Option<&BTreeMap<String, String>>) -> Value {
    json!(
        refs.iter()
            .map(|r| match folders.and_then(|f| f.get(r)) {
                Some(name) => format!("{FOLDER_REF}{name}"),
                None => r.clone(),
            })
            .collect::<Vec<_>>()
    )
}

/// The `main` role of a list of refs.
fn role_json(refs: &[String]) -> Value {
    json!({"main": {"items": refs.iter().map(|r| json!({"ref": r})).collect::<Vec<_>>()}})
}

/// Plan one declared recipe.
fn plan_recipe(p: &mut Planner<'_>, d: &Declared, meta: &ObjectMeta, spec: &RecipeSpec) {
    let key = meta.project.clone().unwrap_or_default();
    let id = ResourceId::new(ID, format!("{key}.{}", meta.name));
    let Some(projects) = live(p.observed()) else {
        return p.not_read(&id, &d.origin, "recipe list");
    };
    let project_live = projects.get(&key).cloned().flatten();
    if project_live.is_none() && !p.is_declared(project::ID, &key) {
        return p.error_at(
            &id,
            Some(&d.origin),
            format!("project {key:?} is neither declared in the manifests nor present on the instance"),
            Some(format!("declare a Project named {key:?} or fix metadata.project")),
        );
    }
    let folders = project_live.as_ref().and_then(|pr| pr.folders.as_ref());
    // Inputs and outputs: declared, or present on the instance.
    for (field, refs) in [("inputs", &spec.inputs), ("outputs", &spec.outputs)] {
        for r in refs.iter().flatten() {
            let name = match r {
                FlowRef::Folder { folder } => {
                    if check_folder(p, d, &id, &key, field, folder, folders).is_err() {
                        return;
                    }
                    continue;
                }
                FlowRef::Dataset(name) => name,
            };
            let full = format!("{key}.{name}");
            let declared = p.is_declared(dataset::ID, &full);
            let exists = dataset::live(p.observed(), &key, name).is_some();
            if !declared && !exists {
                let origin = d
                    .references
                    .iter()
                    .find(|x| x.kind == dataset::ID && x.name == *name)
                    .map_or(&d.origin, |x| &x.origin);
                p.error_at(
                    &id,
                    Some(origin),
                    format!("{field} names dataset {full}, which is neither declared in the manifests nor present on the instance"),
                    Some(format!("declare a Dataset named {name:?} in project {key}, or fix the name")),
                );
            }
        }
    }
    let live_def = project_live
        .as_ref()
        .and_then(|pr| pr.recipes.get(&meta.name))
        .cloned();
    if let Some(def) = &live_def {
        let ty = def.get("type").and_then(Value::as_str).unwrap_or_default();
        if ty != spec.recipe_type {
            return p.error_at(
                &id,
                Some(&d.origin),
                format!(
                    "type is {ty} on the instance but {} in the manifest; a recipe's type cannot change in place",
                    spec.recipe_type
                ),
                Some(format!(
                    "declare the new recipe under another name, or delete recipe {} in DSS first",
                    id.name
                )),
            );
        }
    }
    let live_view = live_def.as_ref().map(|def| {
        let mut v = project_roles(def.clone());
        if let (Some(obj), Some(payload)) = (
            v.as_object_mut(),
            project_live.as_ref().and_then(|pr| pr.payloads.get(&meta.name)),
        ) {
            obj.insert("payload".into(), json!(payload));
        }
        v
    });
    let version = live_def
        .as_ref()
        .and_then(|d| d.pointer("/versionTag/versionNumber"))
        .and_then(Value::as_u64);
    let mut doc = Doc::new(SubDoc::SETTINGS, live_view.as_ref(), Some(key.as_str()));
    doc.write_only("type", json!(spec.recipe_type));
    for (field, refs) in [("inputs", &spec.inputs), ("outputs", &spec.outputs)] {
        let Some(refs) = refs else { continue };
        // Folders by name (`folder:NAME`), compared and written so: apply puts in the id the
        // folder has then, which a folder created in this run gets only from its creation.
        let want: Vec<String> = refs.iter().map(FlowRef::display).collect();
        let have = display_refs(&role_refs(live_view.as_ref().and_then(|l| l.get(field))), folders);
        doc.write_only(field, role_json(&want));
        if live_view.is_none() || have != json!(want) {
            let before = if live_view.is_none() { Value::Null } else { have };
            doc.changes.push(Change::new(field, before, json!(want)));
        }
    }
    if let Some(code) = &spec.code {
        match code.text(d.origin.base_dir()) {
            Ok(text) => doc.scalar("payload", Some(json!(text)), Some(json!(""))),
            Err(e) => {
                return p.error_at(&id, Some(&d.origin), format!("code: {e}"), None);
            }
        }
    }
    doc.keyed("params", spec.params.as_ref());
    let write = doc.finish(version);
    let live_name = live_def.as_ref().map(|_| meta.name.as_str());
    let Ok(zone_write) =
        flow_zone::plan_placement(p, d, &id, &key, OBJECT_TYPE, live_name, spec.zone.as_deref())
    else {
        return;
    };
    let intent = LedgerIntent {
        protect: spec.protect.unwrap_or(false),
        drop_data_on_delete: false,
        dss_id: None,
    };
    p.finish(id, &d.origin, live_def.is_some(), vec![write, zone_write], intent);
}

/// A cycle among the declared recipes of a project (through their declared inputs and
/// outputs), as errors at the line of each recipe of the cycle, naming it.
pub(crate) fn cycle_diagnostics(resources: &[Declared]) -> Vec<Diagnostic> {
    // project -> (recipe name, inputs, outputs, declaration)
    type Node<'a> = (&'a str, Vec<String>, Vec<String>, &'a Declared);
    let mut by_project: BTreeMap<String, Vec<Node<'_>>> = BTreeMap::new();
    for d in resources {
        let Some((meta, spec)) = spec_of(&d.resource) else {
            continue;
        };
        let keys =
            |refs: &Option<Vec<FlowRef>>| refs.iter().flatten().map(FlowRef::display).collect::<Vec<_>>();
        by_project
            .entry(meta.project.clone().unwrap_or_default())
            .or_default()
            .push((meta.name.as_str(), keys(&spec.inputs), keys(&spec.outputs), d));
    }
    let mut out = Vec::new();
    for (key, recipes) in by_project {
        // Edge a -> b when an output of a is an input of b.
        let n = recipes.len();
        let next: Vec<Vec<usize>> = (0..n)
            .map(|a| {
                (0..n)
                    .filter(|&b| a != b && recipes[a].2.iter().any(|o| recipes[b].1.contains(o)))
                    .collect()
            })
            .collect();
        let mut reported: BTreeSet<usize> = BTreeSet::new();
        for start in 0..n {
            if reported.contains(&start) {
                continue;
            }
            if let Some(cycle) = find_cycle(start, &next) {
                let names: Vec<&str> = cycle.iter().map(|&i| recipes[i].0).collect();
                let text = format!("{} -> {}", names.join(" -> "), names[0]);
                for &i in &cycle {
                    reported.insert(i);
                }
                let d = recipes[start].3;
                out.push(
                    Diagnostic::error(
                        &d.origin.file,
                        d.origin.line,
                        d.origin.column,
                        format!("the recipes of project {key} form a cycle: {text}"),
                    )
                    .with_resource(Some(d.resource.display_name()))
                    .with_hint("a flow is acyclic: a recipe cannot (even indirectly) read what it writes"),
                );
            }
        }
    }
    out
}

/// A cycle through `start`, as the recipes on it from `start`.
fn find_cycle(start: usize, next: &[Vec<usize>]) -> Option<Vec<usize>> {
    fn walk(
        at: usize,
        start: usize,
        next: &[Vec<usize>],
        path: &mut Vec<usize>,
        seen: &mut BTreeSet<usize>,
    ) -> bool {
        for &b in &next[at] {
            if b == start {
                return true;
            }
            if seen.insert(b) {
                path.push(b);
                if walk(b, start, next, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start];
    let mut seen = BTreeSet::from([start]);
    walk(start, start, next, &mut path, &mut seen).then_some(path)
}

/// The definition fields of a live recipe a manifest manages, for export: the recipe as a
/// spec (the payload as inline code).
pub(crate) fn export_spec(
    def: &Value,
    payload: Option<&str>,
    folders: Option<&BTreeMap<String, String>>,
) -> RecipeSpec {
    let refs = |field: &str| {
        let list: Vec<FlowRef> = role_refs(def.get(field))
            .into_iter()
            .map(|r| match folders.and_then(|f| f.get(&r)) {
                Some(name) => FlowRef::Folder { folder: name.clone() },
                None => FlowRef::Dataset(r),
            })
            .collect();
        Some(list)
    };
    let params: Option<KeyedMap> = def
        .get("params")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
        .map(|m: &Map<String, Value>| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    RecipeSpec {
        recipe_type: def
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        inputs: refs("inputs"),
        outputs: refs("outputs"),
        code: payload
            .filter(|p| !p.is_empty())
            .map(|p| CodeSpec::Inline(p.to_string())),
        params,
        zone: None,
        protect: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_flattened_and_split_again() {
        let doc = json!({"recipe": {"name": "r", "type": "sql_query"}, "payload": "SELECT 1"});
        let flat = flatten(&doc);
        assert_eq!(flat["payload"], "SELECT 1");
        assert_eq!(unflatten(flat), doc);
    }

    #[test]
    fn items_are_cut_to_their_refs_and_filled_back() {
        let full = json!({"inputs": {"main": {"items": [{"ref": "a", "deps": [1]}]}}});
        let cut = project_roles(full.clone());
        assert_eq!(cut, json!({"inputs": {"main": {"items": [{"ref": "a"}]}}}));
        let mut next = cut.clone();
        next["inputs"]["main"]["items"] = json!([{"ref": "a"}, {"ref": "b"}]);
        let back = rehydrate_roles(next, &full);
        assert_eq!(
            back["inputs"]["main"]["items"],
            json!([{"ref": "a", "deps": [1]}, {"ref": "b"}])
        );
    }

    #[test]
    fn the_create_body_puts_code_in_the_script() {
        let body = creation_body(json!({"name": "r", "type": "sql_query", "payload": "SELECT 1"}));
        assert_eq!(body["creationSettings"]["script"], "SELECT 1");
        assert_eq!(body["recipePrototype"], json!({"name": "r", "type": "sql_query"}));
        let body = creation_body(json!({"name": "s", "type": "sync", "payload": "{}"}));
        assert_eq!(body["creationSettings"]["rawPayload"], "{}");
    }

    #[test]
    fn refs_of_every_role_in_order() {
        let roles = json!({"main": {"items": [{"ref": "a"}, {"ref": "b"}]}});
        assert_eq!(role_refs(Some(&roles)), vec!["a", "b"]);
        assert_eq!(role_refs(None), Vec::<String>::new());
        let folders = BTreeMap::from([("X1".to_string(), "raw".to_string())]);
        let spec = [
            FlowRef::Dataset("a".into()),
            FlowRef::Folder { folder: "raw".into() },
        ];
        let wire: Vec<String> = spec.iter().map(FlowRef::display).collect();
        assert_eq!(wire, vec!["a", "folder:raw"]);
        let live = |id: &str, name: &str| ManagedFolder {
            id: id.into(),
            name: name.into(),
            ..ManagedFolder::default()
        };
        let mut roles = role_json(&wire);
        resolve_folder_refs("P", &mut roles, &[live("X1", "raw"), live("Y2", "other")]).unwrap();
        assert_eq!(role_refs(Some(&roles)), vec!["a", "X1"]);
        let mut roles = role_json(&wire);
        let missing = resolve_folder_refs("P", &mut roles, &[live("Y2", "other")]).unwrap_err();
        assert!(missing.is_not_found(), "{missing}");
        let mut roles = role_json(&wire);
        let twice = resolve_folder_refs("P", &mut roles, &[live("X1", "raw"), live("X2", "raw")]);
        assert!(twice.unwrap_err().to_string().contains("X1, X2"));
        assert_eq!(
            display_refs(&["X1".into()], Some(&folders)),
            json!(["folder:raw"])
        );
    }

    #[test]
    fn cycles_are_found_through_several_recipes() {
        let next = vec![vec![1], vec![2], vec![0], vec![]];
        assert_eq!(find_cycle(0, &next), Some(vec![0, 1, 2]));
        assert_eq!(find_cycle(3, &next), None);
    }
}
