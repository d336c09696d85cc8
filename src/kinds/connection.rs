//! `kind: Connection`: an instance connection. This module owns the spec type, the connection
//! name rule, the rule that secret parameters are references (never literals), and the names a
//! connection refers to (its allowed groups).

use super::definition::{Definition, DefinitionCalls, Definitions};
use super::{KindApply, KindExport, KindObserve, KindPlan, KindSpec};
use crate::export::convert::{ExpectedSecret, keyed, nonempty, set, without_nulls};
use crate::export::{ExportOut, ExportScope, meta};
use crate::wire::{Connection, is_secret_param};
use schemars::{JsonSchema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::Map;
use serde_json::{Value, json};

use super::{
    Checks, Kind, KindId, NameRule, RefSink, env_name_for, group, items, names, overlay_of, string_items,
};
use futures::future::BoxFuture;
use std::collections::BTreeMap;

use super::KindRead;

use crate::client::{ClientError, DssClient};
use crate::manifest::kinds::Declared;
use crate::manifest::kinds::{KeyedMap, ObjectMeta, Resource, SecretRef};
use crate::manifest::node::{Node, NodeValue};
use crate::plan::diff::Doc;
use crate::plan::planner::{Planner, flag, text, to_json};
use crate::plan::scope::Needs;
use crate::plan::{LedgerIntent, Observed, Operation, ResourceId, SubDoc};

/// The live connections as observed (`None`: the list was not read), keyed by name.
pub(crate) type Live = BTreeMap<String, crate::wire::Connection>;

/// This kind's part of the observed state.
pub fn live(observed: &Observed) -> Option<&Live> {
    observed.kinds.get(ID)
}

/// This kind's part of the observed state, to change (tests, simulation).
#[cfg(test)]
pub(crate) fn live_mut(observed: &mut Observed) -> Option<&mut Live> {
    observed.kinds.get_mut(ID)
}

/// The kind.
pub(crate) static KIND: ConnectionKind = ConnectionKind;

super::register!(KIND, 50);

/// The word of connection ledger keys and plans.
pub const ID: KindId = KindId("connection");

/// Connection names: letters, digits, `_`, `-` and `.`.
pub(crate) static NAME_RULE: NameRule = NameRule {
    what: "a connection name",
    allowed: names::dotted_char,
    allowed_text: "letters, digits, _, - and .",
    example: "warehouse_prod",
    pattern: Some(names::DOTTED_PATTERN),
    no_edge_spaces: false,
    fixed: None,
};

/// `kind: Connection` spec. Secret parameters are references, never literals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ConnectionSpec {
    /// DSS connection type (`PostgreSQL`, `Filesystem`, ...). Identity: cannot change in place.
    #[serde(rename = "type")]
    pub connection_type: String,
    /// Markdown description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether datasets may write to this connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_write: Option<bool>,
    /// Whether managed datasets may be created on this connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_managed_datasets: Option<bool>,
    /// `ALL` or `ALLOWED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["ALL", "ALLOWED", null]))]
    pub usable_by: Option<String>,
    /// Compared as a set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_groups: Option<Vec<String>>,
    /// Connection parameters, managed key by key. Secret parameters (password, token, key,
    /// secret, ...) must be `{fromEnv: NAME}` or `{fromFile: PATH}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<KeyedMap>,
    /// Never deleted by dssctl, even after removal from the manifests, until an apply sets it to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect: Option<bool>,
}

/// The `Connection` kind.
#[derive(Debug)]
pub(crate) struct ConnectionKind;

impl KindSpec for ConnectionKind {
    fn name(&self) -> &'static str {
        "Connection"
    }

    fn id(&self) -> KindId {
        ID
    }

    fn description(&self) -> &'static str {
        "An instance connection. Secret parameters are references, never literals."
    }

    fn spec_schema(&self, generator: &mut SchemaGenerator) -> Value {
        generator.subschema_for::<ConnectionSpec>().to_value()
    }

    fn spec_required(&self) -> bool {
        true
    }

    fn apply_rank(&self) -> u8 {
        2
    }

    fn name_rule(&self) -> &'static NameRule {
        &NAME_RULE
    }

    fn referable(&self) -> bool {
        true
    }

    fn check_spec(&self, checks: &mut Checks<'_>, spec: &Node) {
        for (i, g) in items(spec.get("allowedGroups")).iter().enumerate() {
            checks.name(&format!("spec.allowedGroups[{i}]"), g, &group::NAME_RULE);
        }
        check_params(checks, spec);
    }

    fn references<'n>(&self, _meta: Option<&'n Node>, spec: Option<&'n Node>, refs: &mut RefSink<'_, 'n>) {
        for g in items(spec.and_then(|s| s.get("allowedGroups"))) {
            refs.push(group::ID, Some(g), None);
        }
    }

    fn is_secret_path(&self, path: &str) -> bool {
        path.strip_prefix("spec.params.")
            .is_some_and(|rest| crate::wire::is_secret_param(rest.split(['.', '[']).next().unwrap_or(rest)))
    }

    fn parse(&self, meta: ObjectMeta, spec: Value) -> Result<Resource, serde_json::Error> {
        Ok(Resource::new(
            &KIND,
            meta,
            serde_json::from_value::<ConnectionSpec>(spec)?,
        ))
    }
}

impl KindPlan for ConnectionKind {
    fn risky_creation(&self) -> Option<&'static str> {
        Some("connection(s)")
    }

    /// Planned from its own list: never from the projects' documents.
    fn reads_project_documents(&self) -> bool {
        false
    }

    fn plan(&self, planner: &mut Planner<'_>, declared: &Declared) {
        if let Some((meta, spec)) = declared.resource.typed::<ConnectionSpec>() {
            plan_connection(planner, declared, meta, spec);
        }
    }

    fn add_reads(&self, resource: &Resource, needs: &mut Needs<'_>) {
        let Some(spec) = resource.spec::<ConnectionSpec>() else {
            return;
        };
        needs.reads.mark(ID);
        for g in spec.allowed_groups.iter().flatten() {
            needs.referenced(group::ID, g);
        }
    }

    super::definition::plan_calls!();
}

impl KindObserve for ConnectionKind {
    super::definition::observe_calls!();
}

impl KindApply for ConnectionKind {
    fn create_fields(&self) -> &'static [&'static str] {
        &[
            "name",
            "type",
            "description",
            "params",
            "usableBy",
            "allowedGroups",
        ]
    }

    fn write_references(&self, op: &Operation, out: &mut Vec<ResourceId>) {
        let groups = overlay_of(op, SubDoc::DEFINITION).and_then(|o| o.get("allowedGroups"));
        for g in string_items(groups) {
            out.push(ResourceId::new(group::ID, g));
        }
    }

    super::definition::apply_calls!();
}

impl KindExport for ConnectionKind {
    fn export_word(&self) -> Option<&'static str> {
        Some("connections")
    }

    fn export_read<'a>(
        &'a self,
        scope: &'a ExportScope<'a>,
    ) -> Option<BoxFuture<'a, anyhow::Result<KindRead>>> {
        super::export_list(self, scope)
    }

    fn export(&self, observed: &Observed, out: &mut ExportOut) {
        for (name, conn) in live(observed).into_iter().flatten() {
            let spec = connection_spec(conn, &mut out.secrets);
            out.put("connections.yaml", Resource::new(&KIND, meta(name, None), spec));
        }
    }
}

impl Kind for ConnectionKind {
    fn definition(&self) -> Option<&'static dyn DefinitionCalls> {
        Some(&Definitions::<Connection>::NEW)
    }
}

/// Secret parameters are `{fromEnv: NAME}` or `{fromFile: PATH}`; a literal is refused
/// without ever being repeated.
fn check_params(checks: &mut Checks<'_>, spec: &Node) {
    let Some(NodeValue::Map(params)) = spec.get("params").map(|p| &p.value) else {
        return;
    };
    for (key, value) in params {
        let Some(name) = key.as_str() else { continue };
        let path = format!("spec.params.{name}");
        let is_ref_shaped = value.get("fromEnv").is_some() || value.get("fromFile").is_some();
        if is_ref_shaped {
            if SecretRef::from_value(&value.to_json()).is_none() {
                checks.error(value.pos, format!("{path}: a secret reference is `{{fromEnv: NAME}}` or `{{fromFile: PATH}}` with a string, and nothing else"))
                    .hint = Some(format!("for example `{name}: {{fromEnv: {}}}`", env_name_for(name)));
            } else {
                checks.secret_ref_target(value, &path);
            }
            continue;
        }
        if crate::wire::is_secret_param(name) && !matches!(value.value, NodeValue::Null) {
            checks
                .error(
                    value.pos,
                    format!("{path}: a secret must not be written in a manifest"),
                )
                .hint = Some(format!(
                "write `{name}: {{fromEnv: {}}}` (or `{{fromFile: PATH}}`); it is read only when sent to DSS",
                env_name_for(name)
            ));
        }
    }
}

/// Plan one declared connection: its writes, compared with the live state.
pub(crate) fn plan_connection(p: &mut Planner<'_>, d: &Declared, meta: &ObjectMeta, spec: &ConnectionSpec) {
    let id = ResourceId::new(ID, &meta.name);
    let Some(connections) = live(p.observed()) else {
        return p.not_read(&id, &d.origin, "connection list");
    };
    for g in spec.allowed_groups.iter().flatten() {
        p.check_ref(d, &id, crate::kinds::group::ID, g, "allowedGroups");
    }
    let live_conn = connections.get(&meta.name);
    if let Some(c) = live_conn
        && c.connection_type != spec.connection_type
    {
        return p.error_at(
            &id,
            Some(&d.origin),
            format!(
                "type is {} on the instance but {} in the manifest; a connection's type cannot change in place",
                c.connection_type, spec.connection_type
            ),
            Some(format!(
                "declare the new connection under another name and move its users to it, or delete connection {:?} in DSS first",
                meta.name
            )),
        );
    }
    let live = live_conn.map(to_json);
    let mut doc = Doc::new(SubDoc::DEFINITION, live.as_ref(), None);
    if live.is_none() {
        doc.scalar("type", Some(json!(spec.connection_type)), None);
    } else {
        doc.write_only("type", json!(spec.connection_type));
    }
    doc.scalar("description", text(&spec.description), None);
    doc.scalar("allowWrite", flag(spec.allow_write), None);
    doc.scalar("allowManagedDatasets", flag(spec.allow_managed_datasets), None);
    doc.scalar("usableBy", text(&spec.usable_by), Some(json!("ALL")));
    doc.set("allowedGroups", spec.allowed_groups.as_ref());
    doc.keyed("params", spec.params.as_ref());
    p.judge_secrets(&id, &d.origin, &mut doc);
    let write = doc.finish(None);
    let intent = LedgerIntent {
        protect: spec.protect.unwrap_or(false),
        drop_data_on_delete: false,
        dss_id: None,
    };
    p.finish(id, &d.origin, live.is_some(), vec![write], intent);
}

/// The environment variable an exported manifest reads a connection's secret parameter from:
/// `DSS_CONN_<NAME>_<PARAM>`, upper-cased, every other character than a letter or digit as `_`.
pub(crate) fn secret_env_name(connection: &str, param: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!("DSS_CONN_{}_{}", clean(connection), clean(param))
}

/// `kind: Connection`. A secret parameter DSS holds a value for becomes
/// `{fromEnv: DSS_CONN_<NAME>_<PARAM>}` (recorded in `secrets`); one it holds nothing for, or
/// that is not a text, is left out (a manifest may not write it literally, and leaving it out
/// leaves it unmanaged). `usableBy: ALL` is DSS's default and left out.
pub(crate) fn connection_spec(conn: &Connection, secrets: &mut Vec<ExpectedSecret>) -> ConnectionSpec {
    let params = redact_params(&conn.name, "", &without_nulls(&conn.params), secrets);
    ConnectionSpec {
        connection_type: conn.connection_type.clone(),
        description: nonempty(conn.description.as_deref()),
        allow_write: conn.allow_write,
        allow_managed_datasets: conn.allow_managed_datasets,
        usable_by: conn.usable_by.clone().filter(|u| u != "ALL" && !u.is_empty()),
        allowed_groups: set(&conn.allowed_groups),
        params: keyed(params),
        protect: None,
    }
}

fn redact_params(
    connection: &str,
    prefix: &str,
    params: &Map<String, Value>,
    secrets: &mut Vec<ExpectedSecret>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in params {
        let path = format!("{prefix}{k}");
        if is_secret_param(k) {
            if v.as_str().is_some_and(|s| !s.is_empty()) {
                let env = secret_env_name(connection, &path);
                secrets.push(ExpectedSecret {
                    env: env.clone(),
                    used_by: format!("connection {connection}, params.{path}"),
                });
                out.insert(k.clone(), json!({ "fromEnv": env }));
            }
            continue;
        }
        match v {
            Value::Object(sub) => {
                let sub = redact_params(connection, &format!("{path}."), &without_nulls(sub), secrets);
                out.insert(k.clone(), Value::Object(sub));
            }
            other => {
                out.insert(k.clone(), other.clone());
            }
        }
    }
    out
}

/// The connection document: read and written whole, by name.
impl Definition for Connection {
    const LIST: &'static str = "connection list";

    fn key(&self) -> &str {
        &self.name
    }

    fn list_path() -> crate::client::ApiPath {
        crate::client::connection_list_path()
    }

    async fn list(c: &DssClient) -> Result<BTreeMap<String, Self>, ClientError> {
        c.list_connections().await
    }

    async fn get(c: &DssClient, name: &str) -> Result<Self, ClientError> {
        c.get_connection(name).await
    }

    async fn update(c: &DssClient, name: &str, doc: &Self) -> Result<(), ClientError> {
        c.update_connection(name, doc).await
    }

    async fn create(c: &DssClient, doc: &Self) -> Result<(), ClientError> {
        c.create_connection(doc).await
    }

    async fn delete(c: &DssClient, name: &str) -> Result<(), ClientError> {
        c.delete_connection(name).await
    }
}
