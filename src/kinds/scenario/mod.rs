//! `kind: Scenario`: a scenario of a project. This module owns the spec type (label, active,
//! type, triggers matched by name, ordered steps, the script of a custom_python scenario), the
//! scenario id rule, its checks, its observation (one scenario list per project, then the
//! settings of the managed scenarios that exist, and their script when it is managed), and
//! its planning, creation and deletion.
//!
//! The settings and the script are two DSS documents; dssctl compares and writes them as one
//! sub-document (`settings`, with the script as its `script` field), split when sent. DSS
//! generates trigger and step ids and fields such as `params.lastUpdate`, `runAsUser` and
//! `delayedTriggersBehavior`: only what a manifest declares is compared, so none of them is
//! ever a change, and the ids of matched triggers and steps are kept when they are written.

/// The calls that create, read, update and delete it (an `impl DssClient` block).
mod client;

use std::collections::{BTreeMap, BTreeSet};

use futures::future::BoxFuture;
use schemars::{JsonSchema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::recipe::{CodeSpec, check_code};
use super::{Checks, Kind, KindId, KindRead, NameRule, RefSink, items, names, project, project_list};
use super::{KindApply, KindExport, KindObserve, KindPlan, KindSpec};
use crate::apply::docs::ApplyDocError;
use crate::client::{ClientError, DssClient};
use crate::export::{ExportOut, ExportScope, meta};
use crate::manifest::kinds::{Declared, KeyedMap, ObjectMeta, Resource};
use crate::manifest::node::Node;
use crate::observe::{ObserveError, reading};
use crate::plan::diff::Doc;
use crate::plan::model::Change;
use crate::plan::planner::{Planner, flag, text};
use crate::plan::scope::{Needs, ReadPlan};
use crate::plan::{LedgerIntent, Observed, Operation, ResourceId, SubDoc};
use anyhow::Context;
use project_list::{ByProject, ProjectObjects, ProjectRead};

/// The kind.
pub(crate) static KIND: ScenarioKind = ScenarioKind;

super::register!(KIND, 100);

/// The word of scenario ledger keys and plans (`scenario:PROJECT.ID`).
pub(crate) const ID: KindId = KindId("scenario");

/// Scenario ids: letters, digits and `_`.
pub(crate) static NAME_RULE: NameRule = NameRule {
    what: "a scenario id",
    allowed: names::word_char,
    allowed_text: "letters, digits and _",
    example: "NIGHTLY",
    pattern: Some(names::WORD_PATTERN),
    no_edge_spaces: false,
    fixed: None,
};

/// One trigger, matched by its name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct TriggerSpec {
    /// The trigger's name, unique in the scenario (DSS generates its id).
    pub name: String,
    /// `temporal`, `ds_modified`, `sql_query`, `custom_python`, `manual`, ...
    #[serde(rename = "type")]
    pub trigger_type: String,
    /// Whether the trigger fires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Type-specific settings, managed key by key (`frequency`, `hour`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<KeyedMap>,
}

/// One step of a step_based scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct StepSpec {
    /// The step's name.
    pub name: String,
    /// `build_flowitem`, `exec_sql`, `custom_python`, ...
    #[serde(rename = "type")]
    pub step_type: String,
    /// Type-specific settings, managed key by key (`builds`, `jobType`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<KeyedMap>,
}

/// `kind: Scenario` spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ScenarioSpec {
    /// `step_based` or `custom_python`. Identity: cannot change in place.
    #[serde(rename = "type")]
    #[schemars(extend("enum" = ["step_based", "custom_python"]))]
    pub scenario_type: String,
    /// The scenario's name as DSS shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Whether its triggers fire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// The triggers, matched by name; authoritative when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggers: Option<Vec<TriggerSpec>>,
    /// The steps of a step_based scenario, in order; authoritative when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepSpec>>,
    /// The script of a custom_python scenario, inline or `{fromFile: PATH}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<CodeSpec>,
    /// Never deleted by dssctl, even after removal from the manifests, until an apply sets it to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect: Option<bool>,
}

/// One project's live scenarios.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ProjectScenarios {
    /// The items of the scenario list (`id`, `name`, `type`, `active`, ...), by id.
    pub summaries: BTreeMap<String, Value>,
    /// The settings of the managed scenarios that exist, with `script` when it was read.
    pub settings: BTreeMap<String, Value>,
}

impl ProjectObjects for ProjectScenarios {
    fn document(&self, id: &str) -> Option<Value> {
        self.summaries.get(id).cloned()
    }
}

/// The live scenarios by project; `None` for a project that does not exist.
pub(crate) type Live = ByProject<Option<ProjectScenarios>>;

/// What to read in one project: the managed scenarios, and whether their script is managed.
pub(crate) type Reads = BTreeMap<String, BTreeMap<String, bool>>;

/// This kind's part of the observed state.
pub(crate) fn live(observed: &Observed) -> Option<&Live> {
    observed.kinds.get(ID)
}

fn reads(r: &ReadPlan) -> Option<&Reads> {
    r.kinds.get(ID)
}

/// The spec of a scenario resource.
pub(crate) fn spec_of(resource: &Resource) -> Option<(&ObjectMeta, &ScenarioSpec)> {
    resource.typed::<ScenarioSpec>()
}

/// The `Scenario` kind.
#[derive(Debug)]
pub(crate) struct ScenarioKind;

impl KindSpec for ScenarioKind {
    fn name(&self) -> &'static str {
        "Scenario"
    }

    fn id(&self) -> KindId {
        ID
    }

    fn description(&self) -> &'static str {
        "A scenario of a project: its triggers and its steps, or its Python script."
    }

    fn spec_schema(&self, generator: &mut SchemaGenerator) -> Value {
        generator.subschema_for::<ScenarioSpec>().to_value()
    }

    fn spec_required(&self) -> bool {
        true
    }

    fn in_project(&self) -> bool {
        true
    }

    fn apply_rank(&self) -> u8 {
        7
    }

    fn name_rule(&self) -> &'static NameRule {
        &NAME_RULE
    }

    fn referable(&self) -> bool {
        true
    }

    fn check_spec(&self, checks: &mut Checks<'_>, spec: &Node) {
        let ty = spec.get("type").and_then(Node::as_str);
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for (i, t) in items(spec.get("triggers")).iter().enumerate() {
            let Some(name) = t.get("name") else { continue };
            let Some(text) = name.as_str() else { continue };
            if let Some(line) = seen.insert(text.to_string(), name.pos.line) {
                checks
                    .error(
                        name.pos,
                        format!(
                            "spec.triggers[{i}]: trigger {text:?} is declared twice (first at line {line})"
                        ),
                    )
                    .hint = Some("triggers are matched by name: give each a unique name".into());
            }
        }
        if let Some(script) = spec.get("script") {
            check_code(checks, "spec.script", script);
            if ty == Some("step_based") {
                checks
                    .error(
                        script.pos,
                        "spec.script: only a custom_python scenario has a script",
                    )
                    .hint = Some("a step_based scenario lists `steps`".into());
            }
        }
        if let Some(steps) = spec.get("steps")
            && ty == Some("custom_python")
        {
            checks
                .error(steps.pos, "spec.steps: a custom_python scenario has no steps")
                .hint = Some("its code is `script`".into());
        }
    }

    fn references<'n>(&self, meta: Option<&'n Node>, _spec: Option<&'n Node>, refs: &mut RefSink<'_, 'n>) {
        refs.push(project::ID, meta.and_then(|m| m.get("project")), None);
    }

    fn parse(&self, meta: ObjectMeta, spec: Value) -> Result<Resource, serde_json::Error> {
        Ok(Resource::new(
            &KIND,
            meta,
            serde_json::from_value::<ScenarioSpec>(spec)?,
        ))
    }
}

impl KindPlan for ScenarioKind {
    fn plan(&self, planner: &mut Planner<'_>, declared: &Declared) {
        if let Some((meta, spec)) = spec_of(&declared.resource) {
            plan_scenario(planner, declared, meta, spec);
        }
    }

    fn add_reads(&self, resource: &Resource, needs: &mut Needs<'_>) {
        let Some((meta, spec)) = spec_of(resource) else {
            return;
        };
        let key = meta.project.clone().unwrap_or_default();
        project::reads_mut(needs.reads).entry(key.clone()).or_default();
        needs
            .reads
            .kinds
            .entry::<Reads>(ID)
            .entry(key)
            .or_default()
            .insert(meta.name.clone(), spec.script.is_some());
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
            .map(|(key, managed)| {
                let per_scenario: usize = managed
                    .iter()
                    .filter(|(id, _)| live.contains(&ResourceId::new(ID, format!("{key}.{id}"))))
                    .map(|(_, script)| 1 + usize::from(*script))
                    .sum();
                1 + per_scenario
            })
            .sum()
    }

    fn live_exists(&self, observed: &Observed, name: &str) -> Option<bool> {
        project_list::live_exists::<Option<ProjectScenarios>>(observed, ID, name)
    }

    fn live_document(&self, observed: &Observed, name: &str) -> Result<Option<Value>, &'static str> {
        project_list::live_document::<Option<ProjectScenarios>>(observed, ID, name, "scenario list")
    }

    fn contained_in(&self) -> Option<KindId> {
        Some(project::ID)
    }
}

impl KindObserve for ScenarioKind {
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
            move |key, managed| async move { read_project(client, &key, &managed).await },
        )))
    }
}

impl KindApply for ScenarioKind {
    fn get_main<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
    ) -> Option<BoxFuture<'a, Result<Value, ClientError>>> {
        let (key, id) = name.split_once('.').unwrap_or_default();
        Some(Box::pin(async move { c.get_scenario(key, id).await }))
    }

    fn delete<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        _drop_data: bool,
    ) -> Option<BoxFuture<'a, Result<(), ClientError>>> {
        let (key, id) = name.split_once('.').unwrap_or_default();
        Some(Box::pin(async move { c.delete_scenario(key, id).await }))
    }

    fn sub_document(&self, name: &str, sub: SubDoc) -> Option<bool> {
        (name.contains('.') && sub == SubDoc::SETTINGS).then_some(true)
    }

    fn get_document<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        sub: SubDoc,
    ) -> Option<BoxFuture<'a, Result<Value, ClientError>>> {
        let (key, id) = name.split_once('.')?;
        (sub == SubDoc::SETTINGS).then(|| -> BoxFuture<'a, Result<Value, ClientError>> {
            Box::pin(async move { read_settings(c, key, id, true).await.map(project_settings) })
        })
    }

    fn put_document<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        sub: SubDoc,
        mut doc: Value,
        _what: String,
    ) -> Option<BoxFuture<'a, Result<(), ApplyDocError>>> {
        let (key, id) = name.split_once('.')?;
        (sub == SubDoc::SETTINGS).then(|| -> BoxFuture<'a, Result<(), ApplyDocError>> {
            Box::pin(async move {
                let script = doc.as_object_mut().and_then(|o| o.remove("script"));
                // Triggers and steps were read cut to what dssctl manages: their ids and the
                // fields DSS fills in come back from a fresh read.
                let full = c.get_scenario(key, id).await?;
                let doc = rehydrate_settings(doc, &full);
                c.save_scenario(key, id, &doc).await?;
                if let Some(Value::String(s)) = script {
                    c.save_scenario_payload(key, id, &s).await?;
                }
                Ok(())
            })
        })
    }

    fn describe_document(&self, name: &str, _sub: SubDoc) -> String {
        format!("scenario {name}")
    }

    fn create_fields(&self) -> &'static [&'static str] {
        &[
            "id",
            "projectKey",
            "name",
            "type",
            "active",
            "triggers",
            "params",
            "script",
        ]
    }

    fn create_seed(&self, name: &str) -> (SubDoc, Value) {
        let (key, id) = name.split_once('.').unwrap_or_default();
        (SubDoc::SETTINGS, json!({"projectKey": key, "id": id}))
    }

    fn create_body(&self, _op: &Operation, mut doc: Value) -> Value {
        // DSS requires a name: the id when the manifest gives no label.
        if doc.get("name").is_none_or(Value::is_null) {
            doc["name"] = doc.get("id").cloned().unwrap_or(Value::Null);
        }
        doc
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
            c.create_scenario(key, body).await?;
            Ok(())
        }))
    }

    fn write_references(&self, op: &Operation, out: &mut Vec<ResourceId>) {
        if let Some((key, _)) = op.name.split_once('.') {
            out.push(ResourceId::new(project::ID, key));
        }
    }
}

impl KindExport for ScenarioKind {
    fn export_word(&self) -> Option<&'static str> {
        Some("scenarios")
    }

    fn export_read<'a>(
        &'a self,
        scope: &'a ExportScope<'a>,
    ) -> Option<BoxFuture<'a, anyhow::Result<KindRead>>> {
        Some(Box::pin(async move {
            let keys: Vec<String> = project::read_for_export(scope, &[]).await?.into_keys().collect();
            let mut read = Live::new();
            for key in keys {
                // Every scenario's settings, with the script of a custom_python one.
                let managed: BTreeMap<String, bool> = scope
                    .client
                    .list_scenarios(&key)
                    .await
                    .with_context(|| format!("cannot read the scenario list of project {key}"))?
                    .iter()
                    .filter_map(|item| {
                        let id = item.get("id").and_then(Value::as_str)?.to_string();
                        let script = item.get("type").and_then(Value::as_str) == Some("custom_python");
                        Some((id, script))
                    })
                    .collect();
                let scenarios = read_project(scope.client, &key, &managed).await?;
                read.insert(key, scenarios.objects);
            }
            Ok(KindRead::list(read))
        }))
    }

    fn export(&self, observed: &Observed, out: &mut ExportOut) {
        for (key, scenarios) in live(observed).into_iter().flatten() {
            for (id, settings) in scenarios.iter().flat_map(|s| &s.settings) {
                out.put(
                    project::export_file(key),
                    Resource::new(&KIND, meta(id, Some(key)), export_spec(settings)),
                );
            }
        }
    }
}

impl Kind for ScenarioKind {}

/// The settings of scenario `key.id`, with its script as `script` when `with_script` and the
/// scenario is a custom_python one.
async fn read_settings(c: &DssClient, key: &str, id: &str, with_script: bool) -> Result<Value, ClientError> {
    let mut settings = c.get_scenario(key, id).await?;
    if with_script && settings.get("type").and_then(Value::as_str) == Some("custom_python") {
        let payload = c.get_scenario_payload(key, id).await?;
        settings["script"] = payload.get("script").cloned().unwrap_or(json!(""));
    }
    Ok(settings)
}

/// One project's scenario list, then the settings of the managed scenarios that exist (with
/// the script when it is managed).
async fn read_project(
    client: &DssClient,
    key: &str,
    managed: &BTreeMap<String, bool>,
) -> Result<ProjectRead<Option<ProjectScenarios>>, ObserveError> {
    let read = client.list_scenarios(key).await;
    let Some(list) = project_list::absent_if_missing(read)
        .map_err(reading(format!("the scenario list of project {key}")))?
    else {
        return Ok(ProjectRead::list(None));
    };
    let mut out = ProjectScenarios::default();
    for item in list {
        if let Some(id) = item.get("id").and_then(Value::as_str) {
            out.summaries.insert(id.to_string(), item.clone());
        }
    }
    let mut ids = Vec::new();
    for (id, script) in managed.iter().filter(|(id, _)| out.summaries.contains_key(*id)) {
        let settings = read_settings(client, key, id, *script)
            .await
            .map_err(reading(format!("the settings of scenario {key}.{id}")))?;
        out.settings.insert(id.clone(), settings);
        ids.push(ResourceId::new(ID, format!("{key}.{id}")));
    }
    Ok(ProjectRead {
        objects: Some(out),
        read_one_by_one: ids,
        conditional_reads: 0,
    })
}

/// A trigger cut to what dssctl manages: name, type, active, params without `lastUpdate`.
fn project_trigger(t: &Value) -> Value {
    let mut out = json!({"name": t.get("name"), "type": t.get("type")});
    if let Some(a) = t.get("active") {
        out["active"] = a.clone();
    }
    let mut params = t
        .get("params")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    params.remove("lastUpdate");
    out["params"] = Value::Object(params);
    out
}

/// A step cut to what dssctl manages: name, type, params.
fn project_step(s: &Value) -> Value {
    json!({"name": s.get("name"), "type": s.get("type"), "params": s.get("params").cloned().unwrap_or(json!({}))})
}

/// The settings with triggers and steps cut to what dssctl manages (ids, `delay`,
/// `params.lastUpdate`, run conditions are DSS's), so that a read-back and a fingerprint
/// compare what a manifest says.
pub(crate) fn project_settings(mut settings: Value) -> Value {
    if let Some(Value::Array(ts)) = settings.get_mut("triggers") {
        for t in ts.iter_mut() {
            *t = project_trigger(t);
        }
    }
    if let Some(Value::Array(ss)) = settings.pointer_mut("/params/steps") {
        for s in ss.iter_mut() {
            *s = project_step(s);
        }
    }
    settings
}

/// `doc` (triggers and steps cut) with the other fields of each trigger (same name) and step
/// (same position, name and type) taken back from `full`, a fresh read.
fn rehydrate_settings(mut doc: Value, full: &Value) -> Value {
    if let Some(Value::Array(ts)) = doc.get_mut("triggers") {
        for t in ts.iter_mut() {
            let same = full.get("triggers").and_then(Value::as_array).and_then(|h| {
                h.iter()
                    .find(|x| name_of(x).is_some() && name_of(x) == name_of(t))
            });
            if let Some(same) = same {
                let mut merged = same.clone();
                for k in ["name", "type", "active"] {
                    if let Some(v) = t.get(k) {
                        merged[k] = v.clone();
                    }
                }
                let mut params = t.get("params").cloned().unwrap_or(json!({}));
                if let Some(last) = same.pointer("/params/lastUpdate") {
                    params["lastUpdate"] = last.clone();
                }
                merged["params"] = params;
                *t = merged;
            }
        }
    }
    if let Some(Value::Array(ss)) = doc.pointer_mut("/params/steps") {
        let have = full.pointer("/params/steps").and_then(Value::as_array);
        for (i, s) in ss.iter_mut().enumerate() {
            let same = have
                .and_then(|h| h.get(i))
                .filter(|x| name_of(x) == name_of(s) && x.get("type") == s.get("type"));
            if let Some(same) = same {
                let mut merged = same.clone();
                merged["params"] = s.get("params").cloned().unwrap_or(json!({}));
                *s = merged;
            }
        }
    }
    doc
}

/// Whether every key `want` declares has the same value in `have` (`null`: absent).
fn keys_match(have: Option<&Value>, want: &KeyedMap) -> bool {
    want.iter().all(|(k, v)| {
        let h = have.and_then(|h| h.get(k)).filter(|h| !h.is_null());
        match v {
            Value::Null => h.is_none(),
            _ => h == Some(v),
        }
    })
}

/// `base` with the declared keys of `want` set (a `null` removes the key).
fn with_keys(base: Option<&Value>, want: &KeyedMap) -> Value {
    let mut out: Map<String, Value> = base.and_then(Value::as_object).cloned().unwrap_or_default();
    for (k, v) in want {
        if v.is_null() {
            out.remove(k);
        } else {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

fn name_of(v: &Value) -> Option<&str> {
    v.get("name").and_then(Value::as_str)
}

/// The triggers to write (declared order, each merged onto the live trigger of that name, so
/// that its id and server-side fields are kept), and the changes.
fn plan_triggers(live: Option<&Value>, want: &[TriggerSpec]) -> (Value, Vec<Change>) {
    let have: Vec<&Value> = live
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let mut changes = Vec::new();
    let mut out = Vec::new();
    for t in want {
        let path = format!("triggers[name={}]", t.name);
        let found = have.iter().find(|h| name_of(h) == Some(t.name.as_str())).copied();
        // DSS makes a new trigger active unless told otherwise.
        let mut item = found.map_or_else(|| json!({"active": true}), project_trigger);
        item["name"] = json!(t.name);
        item["type"] = json!(t.trigger_type);
        if let Some(a) = t.active {
            item["active"] = json!(a);
        }
        let base = found.map(project_trigger);
        item["params"] = with_keys(
            base.as_ref().and_then(|b| b.get("params")),
            t.params.as_ref().unwrap_or(&KeyedMap::new()),
        );
        match found {
            None => changes.push(Change::new(
                path,
                Value::Null,
                serde_json::to_value(t).unwrap_or_default(),
            )),
            Some(h) => {
                if h.get("type").and_then(Value::as_str) != Some(t.trigger_type.as_str()) {
                    changes.push(Change::new(
                        format!("{path}.type"),
                        h.get("type").cloned().unwrap_or_default(),
                        json!(t.trigger_type),
                    ));
                }
                if let Some(a) = t.active
                    && h.get("active").and_then(Value::as_bool).unwrap_or(true) != a
                {
                    changes.push(Change::new(
                        format!("{path}.active"),
                        h.get("active").cloned().unwrap_or_default(),
                        json!(a),
                    ));
                }
                if let Some(p) = &t.params {
                    for (k, v) in p {
                        let before = h
                            .get("params")
                            .and_then(|x| x.get(k))
                            .cloned()
                            .unwrap_or(Value::Null);
                        if !keys_match(h.get("params"), &KeyedMap::from([(k.clone(), v.clone())])) {
                            changes.push(Change::new(format!("{path}.params.{k}"), before, v.clone()));
                        }
                    }
                }
            }
        }
        out.push(item);
    }
    for h in &have {
        let name = name_of(h).unwrap_or_default();
        if !want.iter().any(|t| t.name == name) {
            let mut shown = (*h).clone();
            if let Some(o) = shown.as_object_mut() {
                o.remove("id");
            }
            changes.push(Change::new(format!("triggers[name={name}]"), shown, Value::Null));
        }
    }
    let live_order: Vec<&str> = have
        .iter()
        .filter_map(|h| name_of(h))
        .filter(|n| want.iter().any(|t| t.name == *n))
        .collect();
    let want_order: Vec<&str> = want
        .iter()
        .map(|t| t.name.as_str())
        .filter(|n| live_order.contains(n))
        .collect();
    if live_order != want_order {
        changes.push(Change::new(
            "triggers(order)",
            json!(live_order),
            json!(want_order),
        ));
    }
    (Value::Array(out), changes)
}

/// The steps to write (each merged onto the live step at its position when it has the same
/// name and type, keeping its id), and the changes.
fn plan_steps(live: Option<&Value>, want: &[StepSpec]) -> (Value, Vec<Change>) {
    let have: Vec<&Value> = live
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let mut changes = Vec::new();
    let mut out = Vec::new();
    for (i, s) in want.iter().enumerate() {
        let found = have.get(i).copied().filter(|h| {
            name_of(h) == Some(s.name.as_str())
                && h.get("type").and_then(Value::as_str) == Some(s.step_type.as_str())
        });
        let mut item = found.map_or_else(|| json!({}), project_step);
        item["name"] = json!(s.name);
        item["type"] = json!(s.step_type);
        let params = s.params.clone().unwrap_or_default();
        item["params"] = with_keys(found.and_then(|f| f.get("params")), &params);
        let same = found.is_some_and(|f| keys_match(f.get("params"), &params));
        if !same {
            let before = have.get(i).map(|h| step_view(h, &params)).unwrap_or(Value::Null);
            changes.push(Change::new(
                format!("steps[{i}]"),
                before,
                serde_json::to_value(s).unwrap_or_default(),
            ));
        }
        out.push(item);
    }
    for (i, h) in have.iter().enumerate().skip(want.len()) {
        changes.push(Change::new(
            format!("steps[{i}]"),
            step_view(h, &KeyedMap::new()),
            Value::Null,
        ));
    }
    (Value::Array(out), changes)
}

/// A live step as a plan shows it: name, type, and the params a manifest manages.
fn step_view(h: &Value, params: &KeyedMap) -> Value {
    let mut v = json!({"name": h.get("name"), "type": h.get("type")});
    let p: Map<String, Value> = params
        .keys()
        .filter_map(|k| Some((k.clone(), h.get("params")?.get(k)?.clone())))
        .collect();
    if !p.is_empty() {
        v["params"] = Value::Object(p);
    }
    v
}

/// Plan one declared scenario.
fn plan_scenario(p: &mut Planner<'_>, d: &Declared, meta: &ObjectMeta, spec: &ScenarioSpec) {
    let key = meta.project.clone().unwrap_or_default();
    let id = ResourceId::new(ID, format!("{key}.{}", meta.name));
    let Some(projects) = live(p.observed()) else {
        return p.not_read(&id, &d.origin, "scenario list");
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
    let exists = project_live
        .as_ref()
        .is_some_and(|pr| pr.summaries.contains_key(&meta.name));
    let settings = project_live
        .as_ref()
        .and_then(|pr| pr.settings.get(&meta.name))
        .cloned();
    if exists && settings.is_none() {
        return p.not_read(&id, &d.origin, "scenario settings");
    }
    if let Some(s) = &settings {
        let ty = s.get("type").and_then(Value::as_str).unwrap_or_default();
        if ty != spec.scenario_type {
            return p.error_at(
                &id,
                Some(&d.origin),
                format!(
                    "type is {ty} on the instance but {} in the manifest; a scenario's type cannot change in place",
                    spec.scenario_type
                ),
                Some(format!("declare the new scenario under another id, or delete scenario {} in DSS first", id.name)),
            );
        }
    }
    let settings = settings.map(project_settings);
    let creating = settings.is_none();
    let version = settings
        .as_ref()
        .and_then(|s| s.pointer("/versionTag/versionNumber"))
        .and_then(Value::as_u64);
    let mut doc = Doc::new(SubDoc::SETTINGS, settings.as_ref(), Some(key.as_str()));
    doc.write_only("type", json!(spec.scenario_type));
    doc.scalar("name", text(&spec.label), None);
    doc.scalar("active", flag(spec.active), Some(json!(false)));
    if let Some(triggers) = &spec.triggers {
        let (value, changes) = plan_triggers(settings.as_ref().and_then(|s| s.get("triggers")), triggers);
        doc.write_only("triggers", value);
        doc.changes.extend(changes);
    }
    if let Some(steps) = &spec.steps {
        let live_steps = settings.as_ref().and_then(|s| s.pointer("/params/steps"));
        let (value, changes) = plan_steps(live_steps, steps);
        doc.write_only("params", json!({ "steps": value }));
        doc.changes.extend(changes);
    }
    if let Some(script) = &spec.script {
        match script.text(d.origin.base_dir()) {
            Ok(text) => doc.scalar("script", Some(json!(text)), Some(json!(""))),
            Err(e) => return p.error_at(&id, Some(&d.origin), format!("script: {e}"), None),
        }
    }
    let write = doc.finish(version);
    let intent = LedgerIntent {
        protect: spec.protect.unwrap_or(false),
        drop_data_on_delete: false,
        dss_id: None,
    };
    p.finish(id, &d.origin, !creating, vec![write], intent);
}

/// A live scenario as a spec, for export.
pub(crate) fn export_spec(settings: &Value) -> ScenarioSpec {
    let keyed = |v: Option<&Value>, skip: &[&str]| -> Option<KeyedMap> {
        let m: KeyedMap = v
            .and_then(Value::as_object)?
            .iter()
            .filter(|(k, _)| !skip.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        (!m.is_empty()).then_some(m)
    };
    let triggers = settings.get("triggers").and_then(Value::as_array).map(|ts| {
        ts.iter()
            .map(|t| TriggerSpec {
                name: name_of(t).unwrap_or_default().to_string(),
                trigger_type: t
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                active: t.get("active").and_then(Value::as_bool),
                params: keyed(t.get("params"), &["lastUpdate"]),
            })
            .collect()
    });
    let ty = settings
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let steps = (ty == "step_based").then(|| {
        settings
            .pointer("/params/steps")
            .and_then(Value::as_array)
            .map(|ss| {
                ss.iter()
                    .map(|s| StepSpec {
                        name: name_of(s).unwrap_or_default().to_string(),
                        step_type: s
                            .get("type")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        params: keyed(s.get("params"), &[]),
                    })
                    .collect()
            })
            .unwrap_or_default()
    });
    ScenarioSpec {
        label: settings.get("name").and_then(Value::as_str).map(str::to_string),
        active: settings.get("active").and_then(Value::as_bool),
        triggers,
        steps,
        script: settings
            .get("script")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(|s| CodeSpec::Inline(s.to_string())),
        scenario_type: ty,
        protect: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger(name: &str, hour: i64) -> TriggerSpec {
        TriggerSpec {
            name: name.into(),
            trigger_type: "temporal".into(),
            active: Some(true),
            params: Some(KeyedMap::from([("hour".to_string(), json!(hour))])),
        }
    }

    #[test]
    fn triggers_are_matched_by_name_and_keep_their_ids() {
        let live = json!([{"id": "abc", "name": "nightly", "type": "temporal", "active": true,
            "delay": 5, "params": {"hour": 2, "lastUpdate": 123}}]);
        let (value, changes) = plan_triggers(Some(&live), &[trigger("nightly", 2)]);
        assert!(changes.is_empty(), "{changes:?}");
        // Cut to what dssctl manages; the id and `lastUpdate` come back when it is written.
        assert_eq!(
            value,
            project_settings(json!({"triggers": live.clone()}))["triggers"]
        );
        let back = rehydrate_settings(json!({"triggers": value}), &json!({"triggers": live.clone()}));
        assert_eq!(back["triggers"], live);
        let (value, changes) = plan_triggers(Some(&live), &[trigger("nightly", 3)]);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path, "triggers[name=nightly].params.hour");
        assert_eq!(value[0]["params"]["hour"], 3);
        let (_, changes) = plan_triggers(Some(&live), &[trigger("hourly", 3)]);
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, vec!["triggers[name=hourly]", "triggers[name=nightly]"]);
    }

    #[test]
    fn steps_are_ordered_and_keep_their_ids() {
        let step = StepSpec {
            name: "build".into(),
            step_type: "build_flowitem".into(),
            params: Some(KeyedMap::from([(
                "jobType".to_string(),
                json!("RECURSIVE_BUILD"),
            )])),
        };
        let live = json!([{"id": "step_1", "name": "build", "type": "build_flowitem",
            "params": {"jobType": "RECURSIVE_BUILD"}, "runConditionType": "RUN_IF_STATUS_MATCH"}]);
        let (value, changes) = plan_steps(Some(&live), std::slice::from_ref(&step));
        assert!(changes.is_empty());
        let back = rehydrate_settings(
            json!({"params": {"steps": value}}),
            &json!({"params": {"steps": live.clone()}}),
        );
        assert_eq!(back["params"]["steps"][0]["id"], "step_1");
        let (_, changes) = plan_steps(Some(&live), &[]);
        assert_eq!(changes[0].path, "steps[0]");
        assert_eq!(changes[0].after, Value::Null);
    }

    #[test]
    fn export_leaves_out_server_fields() {
        let settings = json!({"id": "N", "type": "step_based", "name": "Nightly", "active": true,
            "runAsUser": "admin", "triggers": [{"id": "x", "name": "t", "type": "temporal", "active": true,
            "params": {"hour": 2, "lastUpdate": 1}}], "params": {"steps": [{"id": "s", "name": "b",
            "type": "build_flowitem", "params": {"jobType": "RECURSIVE_BUILD"}}]}});
        let spec = export_spec(&settings);
        assert_eq!(spec.label.as_deref(), Some("Nightly"));
        let t = &spec.triggers.as_ref().unwrap()[0];
        assert_eq!(
            t.params.as_ref().unwrap().keys().collect::<Vec<_>>(),
            vec!["hour"]
        );
        assert_eq!(spec.steps.as_ref().unwrap()[0].name, "b");
    }
}
