//! `kind: User`: a DSS user (its login is `metadata.name`). This module owns the spec type, the
//! login rule, the password reference check and the names a user refers to (its groups).

use super::definition::{Definition, DefinitionCalls, Definitions, keyed};
use super::{KindApply, KindExport, KindObserve, KindPlan, KindSpec};
use crate::export::convert::{nonempty, set};
use crate::export::{ExportOut, ExportScope, meta};
use crate::wire::User;
use schemars::{JsonSchema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Checks, Kind, KindId, NameRule, RefSink, group, items, overlay_of, string_items};
use futures::future::BoxFuture;
use std::collections::BTreeMap;

use super::KindRead;

use crate::client::{ClientError, DssClient};
use crate::manifest::kinds::Declared;
use crate::manifest::kinds::{ObjectMeta, Resource, SecretRef};
use crate::manifest::node::{Node, NodeValue};
use crate::plan::diff::{Doc, PendingSecret};
use crate::plan::planner::{Planner, flag, text, to_json};
use crate::plan::scope::Needs;
use crate::plan::{LedgerIntent, Observed, Operation, ResourceId, SubDoc};

/// The live users as observed (`None`: the list was not read), keyed by name.
pub(crate) type Live = BTreeMap<String, crate::wire::User>;

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
pub(crate) static KIND: UserKind = UserKind;

super::register!(KIND, 60);

/// The word of user ledger keys and plans.
pub const ID: KindId = KindId("user");

/// Logins: letters, digits, `_`, `-`, `.`, `@` and `+`.
pub(crate) static LOGIN_RULE: NameRule = NameRule {
    what: "a login",
    allowed: |c| c.is_ascii_alphanumeric() || "_-.@+".contains(c),
    allowed_text: "letters, digits, _, -, ., @ and +",
    example: "alice.martin",
    pattern: Some("^[A-Za-z0-9_.@+-]+$"),
    no_edge_spaces: false,
    fixed: None,
};

/// `kind: User` spec (the login is `metadata.name`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UserSpec {
    /// The user's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Compared as a set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// `LOCAL`, `LDAP`, ... (create-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_type: Option<String>,
    /// Whether the user may write code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_allowed: Option<bool>,
    /// The user's email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The licence profile (`DATA_SCIENTIST`, `DATA_ANALYST`, `READER`, `DESIGNER`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_profile: Option<String>,
    /// Whether the user may log in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Password reference; sent at creation and when its fingerprint changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretRef>,
    /// Never deleted by dssctl, even after removal from the manifests, until an apply sets it to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect: Option<bool>,
}

/// The `User` kind.
#[derive(Debug)]
pub(crate) struct UserKind;

impl KindSpec for UserKind {
    fn name(&self) -> &'static str {
        "User"
    }

    fn id(&self) -> KindId {
        ID
    }

    fn description(&self) -> &'static str {
        "A DSS user (its login is metadata.name)."
    }

    fn spec_schema(&self, generator: &mut SchemaGenerator) -> Value {
        generator.subschema_for::<UserSpec>().to_value()
    }

    fn apply_rank(&self) -> u8 {
        1
    }

    fn name_rule(&self) -> &'static NameRule {
        &LOGIN_RULE
    }

    fn referable(&self) -> bool {
        true
    }

    fn check_spec(&self, checks: &mut Checks<'_>, spec: &Node) {
        for (i, g) in items(spec.get("groups")).iter().enumerate() {
            checks.name(&format!("spec.groups[{i}]"), g, &group::NAME_RULE);
        }
        if let Some(password) = spec
            .get("password")
            .filter(|p| matches!(p.value, NodeValue::Map(_)))
        {
            checks.secret_ref_target(password, "spec.password");
        }
    }

    fn references<'n>(&self, _meta: Option<&'n Node>, spec: Option<&'n Node>, refs: &mut RefSink<'_, 'n>) {
        for g in items(spec.and_then(|s| s.get("groups"))) {
            refs.push(group::ID, Some(g), None);
        }
    }

    fn is_secret_path(&self, path: &str) -> bool {
        path == "spec.password"
    }

    fn parse(&self, meta: ObjectMeta, spec: Value) -> Result<Resource, serde_json::Error> {
        Ok(Resource::new(
            &KIND,
            meta,
            serde_json::from_value::<UserSpec>(spec)?,
        ))
    }
}

impl KindPlan for UserKind {
    fn risky_creation(&self) -> Option<&'static str> {
        Some("user(s)")
    }

    fn is_access_path(&self, path: &str) -> bool {
        matches!(path, "groups" | "userProfile")
    }

    /// Planned from its own list: never from the projects' documents.
    fn reads_project_documents(&self) -> bool {
        false
    }

    fn plan(&self, planner: &mut Planner<'_>, declared: &Declared) {
        if let Some((meta, spec)) = declared.resource.typed::<UserSpec>() {
            plan_user(planner, declared, meta, spec);
        }
    }

    fn add_reads(&self, resource: &Resource, needs: &mut Needs<'_>) {
        let Some(spec) = resource.spec::<UserSpec>() else {
            return;
        };
        needs.reads.mark(ID);
        for g in spec.groups.iter().flatten() {
            needs.referenced(group::ID, g);
        }
    }

    super::definition::plan_calls!();
}

impl KindObserve for UserKind {
    super::definition::observe_calls!();
}

impl KindApply for UserKind {
    fn write_only_fields(&self) -> &'static [&'static str] {
        &["password"]
    }

    fn create_fields(&self) -> &'static [&'static str] {
        &[
            "login",
            "password",
            "displayName",
            "sourceType",
            "groups",
            "userProfile",
            "email",
        ]
    }

    fn create_seed(&self, name: &str) -> (SubDoc, Value) {
        (SubDoc::DEFINITION, json!({ "login": name }))
    }

    fn write_references(&self, op: &Operation, out: &mut Vec<ResourceId>) {
        let groups = overlay_of(op, SubDoc::DEFINITION).and_then(|o| o.get("groups"));
        for g in string_items(groups) {
            out.push(ResourceId::new(group::ID, g));
        }
    }

    super::definition::apply_calls!();
}

impl KindExport for UserKind {
    fn export_word(&self) -> Option<&'static str> {
        Some("users")
    }

    fn export_read<'a>(
        &'a self,
        scope: &'a ExportScope<'a>,
    ) -> Option<BoxFuture<'a, anyhow::Result<KindRead>>> {
        super::export_list(self, scope)
    }

    fn export(&self, observed: &Observed, out: &mut ExportOut) {
        for (login, user) in live(observed).into_iter().flatten() {
            out.put(
                "users.yaml",
                Resource::new(&KIND, meta(login, None), user_spec(user)),
            );
        }
    }
}

impl Kind for UserKind {
    fn definition(&self) -> Option<&'static dyn DefinitionCalls> {
        Some(&Definitions::<User>::NEW)
    }
}

/// Plan one declared user: its writes, compared with the live state.
pub(crate) fn plan_user(p: &mut Planner<'_>, d: &Declared, meta: &ObjectMeta, spec: &UserSpec) {
    let id = ResourceId::new(ID, &meta.name);
    let Some(users) = live(p.observed()) else {
        return p.not_read(&id, &d.origin, "user list");
    };
    for g in spec.groups.iter().flatten() {
        p.check_ref(d, &id, crate::kinds::group::ID, g, "groups");
    }
    let live = users.get(&meta.name).map(|u| {
        let mut v = to_json(u);
        // DSS never returns a password; the user's existence stands for "has one".
        v["password"] = json!("(set)");
        v
    });
    let mut doc = Doc::new(SubDoc::DEFINITION, live.as_ref(), None);
    if live.is_none() {
        doc.scalar("sourceType", text(&spec.source_type), None);
    }
    doc.scalar("displayName", text(&spec.display_name), None);
    doc.scalar("email", text(&spec.email), None);
    doc.set("groups", spec.groups.as_ref());
    doc.scalar("userProfile", text(&spec.user_profile), None);
    doc.scalar("enabled", flag(spec.enabled), Some(json!(true)));
    doc.scalar("codeAllowed", flag(spec.code_allowed), Some(json!(false)));
    if let Some(password) = &spec.password {
        doc.pending_secrets.push(PendingSecret {
            path: "password".into(),
            reference: password.clone(),
            live_has_value: live.is_some(),
        });
    }
    p.judge_secrets(&id, &d.origin, &mut doc);
    let write = doc.finish(None);
    let intent = LedgerIntent {
        protect: spec.protect.unwrap_or(false),
        drop_data_on_delete: false,
        dss_id: None,
    };
    p.finish(id, &d.origin, live.is_some(), vec![write], intent);
}

/// `kind: User`: never a password (DSS never returns one, and an adopted user keeps its own).
/// `enabled: true` and `codeAllowed: false` are DSS's defaults and left out.
pub(crate) fn user_spec(user: &User) -> UserSpec {
    UserSpec {
        display_name: nonempty(user.display_name.as_deref()),
        groups: set(&user.groups),
        source_type: user.source_type.clone().filter(|s| s != "LOCAL" && !s.is_empty()),
        code_allowed: user.code_allowed.filter(|c| *c),
        email: nonempty(user.email.as_deref()),
        user_profile: nonempty(user.user_profile.as_deref()),
        enabled: user.enabled.filter(|e| !*e),
        password: None,
        protect: None,
    }
}

/// The user document: read and written whole, by name.
impl Definition for User {
    const LIST: &'static str = "user list";

    fn key(&self) -> &str {
        &self.login
    }

    fn list_path() -> crate::client::ApiPath {
        crate::client::user_list_path()
    }

    async fn list(c: &DssClient) -> Result<BTreeMap<String, Self>, ClientError> {
        c.list_users().await.map(keyed)
    }

    async fn get(c: &DssClient, name: &str) -> Result<Self, ClientError> {
        c.get_user(name).await
    }

    async fn update(c: &DssClient, name: &str, doc: &Self) -> Result<(), ClientError> {
        c.update_user(name, doc).await
    }

    async fn create(c: &DssClient, doc: &Self) -> Result<(), ClientError> {
        c.create_user(doc).await
    }

    async fn delete(c: &DssClient, name: &str) -> Result<(), ClientError> {
        c.delete_user(name).await
    }
}
