//! `kind: Group`: a DSS group and its `may*` ability flags. This module owns the spec type, the
//! group name rule and the schema patch that admits the ability flags.

use super::definition::{Definition, DefinitionCalls, Definitions, keyed};
use super::{KindApply, KindExport, KindObserve, KindPlan, KindSpec};
use crate::export::convert::nonempty;
use crate::export::{ExportOut, ExportScope, meta};
use crate::wire::Group;
use schemars::{JsonSchema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{Kind, KindId, NameRule};
use futures::future::BoxFuture;
use std::collections::BTreeMap;

use super::KindRead;

use crate::client::{ClientError, DssClient};
use crate::manifest::kinds::Declared;
use crate::manifest::kinds::{ObjectMeta, Resource};
use crate::plan::diff::Doc;
use crate::plan::planner::{Planner, flag, text, to_json};
use crate::plan::{LedgerIntent, Observed, ResourceId, SubDoc};

/// The live groups as observed (`None`: the list was not read), keyed by name.
pub(crate) type Live = BTreeMap<String, crate::wire::Group>;

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
pub(crate) static KIND: GroupKind = GroupKind;

super::register!(KIND, 70);

/// The word of group ledger keys and plans.
pub const ID: KindId = KindId("group");

/// Group names may hold any letter, spaces (not at the ends), `_`, `-`, `.` and `@`.
pub(crate) static NAME_RULE: NameRule = NameRule {
    what: "a group name",
    allowed: |c| c.is_alphanumeric() || " _-.@".contains(c),
    allowed_text: "letters, digits, spaces, _, -, . and @",
    example: "data_scientists",
    // Any letter: the validator checks it in code.
    pattern: None,
    no_edge_spaces: true,
    fixed: None,
};

/// `kind: Group`. Ability flags (`mayCreateProjects`, `mayWriteSafeCode`, ...) are written
/// directly in `spec`, as DSS names them, and managed one by one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GroupSpec {
    /// Markdown description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether the group's members are DSS administrators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<bool>,
    /// `LOCAL`, `LDAP`, ... (create-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_type: Option<String>,
    /// Never deleted by dssctl, even after removal from the manifests, until an apply sets it to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect: Option<bool>,
    /// The `may*` ability flags.
    #[serde(flatten)]
    pub abilities: BTreeMap<String, bool>,
}

/// The `Group` kind.
#[derive(Debug)]
pub(crate) struct GroupKind;

impl KindSpec for GroupKind {
    fn name(&self) -> &'static str {
        "Group"
    }

    fn id(&self) -> KindId {
        ID
    }

    fn description(&self) -> &'static str {
        "A DSS group and its ability flags."
    }

    fn spec_schema(&self, generator: &mut SchemaGenerator) -> Value {
        generator.subschema_for::<GroupSpec>().to_value()
    }

    /// Ability flags are a free map of `may*` booleans next to the named fields: editors and
    /// the validator accept only keys starting with `may` there.
    fn patch_definitions(&self, defs: &mut Map<String, Value>) {
        if let Some(Value::Object(group)) = defs.get_mut("GroupSpec") {
            group.insert("additionalProperties".into(), Value::Bool(false));
            group.insert(
                "patternProperties".into(),
                json!({"^may": {"type": "boolean", "description": "An ability flag (`mayCreateProjects`, `mayWriteSafeCode`, ...)."}}),
            );
        }
    }

    fn apply_rank(&self) -> u8 {
        0
    }

    fn name_rule(&self) -> &'static NameRule {
        &NAME_RULE
    }

    fn referable(&self) -> bool {
        true
    }

    fn parse(&self, meta: ObjectMeta, spec: Value) -> Result<Resource, serde_json::Error> {
        Ok(Resource::new(
            &KIND,
            meta,
            serde_json::from_value::<GroupSpec>(spec)?,
        ))
    }
}

impl KindPlan for GroupKind {
    fn add_reads(&self, _resource: &Resource, needs: &mut crate::plan::scope::Needs<'_>) {
        needs.reads.mark(ID);
    }
    fn is_access_path(&self, path: &str) -> bool {
        path == "admin" || path.starts_with("may")
    }

    /// Planned from its own list: never from the projects' documents.
    fn reads_project_documents(&self) -> bool {
        false
    }

    fn plan(&self, planner: &mut Planner<'_>, declared: &Declared) {
        if let Some((meta, spec)) = declared.resource.typed::<GroupSpec>() {
            plan_group(planner, declared, meta, spec);
        }
    }

    super::definition::plan_calls!();
}

impl KindObserve for GroupKind {
    super::definition::observe_calls!();
}

impl KindApply for GroupKind {
    fn create_fields(&self) -> &'static [&'static str] {
        &["name", "description", "sourceType"]
    }

    super::definition::apply_calls!();
}

impl KindExport for GroupKind {
    fn export_word(&self) -> Option<&'static str> {
        Some("groups")
    }

    fn export_read<'a>(
        &'a self,
        scope: &'a ExportScope<'a>,
    ) -> Option<BoxFuture<'a, anyhow::Result<KindRead>>> {
        super::export_list(self, scope)
    }

    fn export(&self, observed: &Observed, out: &mut ExportOut) {
        for (name, group) in live(observed).into_iter().flatten() {
            out.put(
                "groups.yaml",
                Resource::new(&KIND, meta(name, None), group_spec(group)),
            );
        }
    }
}

impl Kind for GroupKind {
    fn definition(&self) -> Option<&'static dyn DefinitionCalls> {
        Some(&Definitions::<Group>::NEW)
    }
}

/// Plan one declared group: its writes, compared with the live state.
pub(crate) fn plan_group(p: &mut Planner<'_>, d: &Declared, meta: &ObjectMeta, spec: &GroupSpec) {
    let id = ResourceId::new(ID, &meta.name);
    let Some(groups) = live(p.observed()) else {
        return p.not_read(&id, &d.origin, "group list");
    };
    let live = groups.get(&meta.name).map(to_json);
    let mut doc = Doc::new(SubDoc::DEFINITION, live.as_ref(), None);
    if live.is_none() {
        doc.scalar("sourceType", text(&spec.source_type), None);
    }
    doc.scalar("description", text(&spec.description), None);
    doc.scalar("admin", flag(spec.admin), Some(json!(false)));
    for (ability, on) in &spec.abilities {
        doc.scalar(ability, Some(json!(on)), Some(json!(false)));
    }
    let write = doc.finish(None);
    let intent = LedgerIntent {
        protect: spec.protect.unwrap_or(false),
        drop_data_on_delete: false,
        dss_id: None,
    };
    p.finish(id, &d.origin, live.is_some(), vec![write], intent);
}

/// `kind: Group`: the description, the admin flag and the granted `may*` abilities. A false
/// ability or admin flag is DSS's default and left out; `LOCAL` is the default source type.
pub(crate) fn group_spec(group: &Group) -> GroupSpec {
    let abilities = group
        .extra
        .iter()
        .filter(|(k, _)| k.starts_with("may"))
        .filter_map(|(k, v)| v.as_bool().filter(|on| *on).map(|on| (k.clone(), on)))
        .collect();
    GroupSpec {
        description: nonempty(group.description.as_deref()),
        admin: group.admin.filter(|a| *a),
        source_type: group
            .source_type
            .clone()
            .filter(|s| s != "LOCAL" && !s.is_empty()),
        protect: None,
        abilities,
    }
}

/// The group document: read and written whole, by name.
impl Definition for Group {
    const LIST: &'static str = "group list";

    fn key(&self) -> &str {
        &self.name
    }

    fn list_path() -> crate::client::ApiPath {
        crate::client::group_list_path()
    }

    async fn list(c: &DssClient) -> Result<BTreeMap<String, Self>, ClientError> {
        c.list_groups().await.map(keyed)
    }

    async fn get(c: &DssClient, name: &str) -> Result<Self, ClientError> {
        c.get_group(name).await
    }

    async fn update(c: &DssClient, name: &str, doc: &Self) -> Result<(), ClientError> {
        c.update_group(name, doc).await
    }

    async fn create(c: &DssClient, doc: &Self) -> Result<(), ClientError> {
        c.create_group(doc).await
    }

    async fn delete(c: &DssClient, name: &str) -> Result<(), ClientError> {
        c.delete_group(name).await
    }
}
