//! `kind: Project`: a DSS project's metadata, owner, permissions and variables. This module
//! owns the spec type, the project key rule, the checks of grants and the names a project
//! refers to (its owner, the groups and users it grants).

use std::collections::HashMap;

use schemars::{JsonSchema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Checks, Kind, KindId, NameRule, RefSink, group, items, names, overlay_of, user};
use futures::future::BoxFuture;

use crate::client::{ClientError, DssClient};
use crate::manifest::kinds::Declared;
use crate::manifest::kinds::{KeyedMap, ObjectMeta, Resource};
use crate::manifest::node::{Node, NodeValue, Pos};
use crate::plan::diff::{Doc, permissions_view};
use crate::plan::planner::{Planner, text, to_json};
use crate::plan::scope::{Needs, ReadPlan};
use crate::plan::{LedgerIntent, Observed, ObservedProject, Operation, ResourceId, SubDoc};

/// The kind.
pub static KIND: ProjectKind = ProjectKind;

/// The word of project ledger keys and plans.
pub const ID: KindId = KindId("project");

/// Project keys: letters, digits and `_`.
pub static KEY_RULE: NameRule = NameRule {
    what: "a project key",
    allowed: names::word_char,
    allowed_text: "letters, digits and _",
    example: "CHURN_V2",
    pattern: Some(names::WORD_PATTERN),
    no_edge_spaces: false,
    fixed: None,
};

/// A project grant in either form: the seed's single `type`, or the per-flag form of newer DSS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PermissionSpec {
    /// The group granted (exactly one of `group` and `user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The user granted (exactly one of `group` and `user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Seed form: `ADMIN`, `ANALYST_READWRITE`, `ANALYST_READONLY`, `READER`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["ADMIN", "ANALYST_READWRITE", "ANALYST_READONLY", "READER", null]))]
    pub permission_type: Option<String>,
    /// Full project administration (per-flag form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<bool>,
    /// May change the project's permissions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_permissions: Option<bool>,
    /// May read the project's content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_project_content: Option<bool>,
    /// May change the project's content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_project_content: Option<bool>,
    /// May export datasets' data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_datasets_data: Option<bool>,
    /// May read dashboards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_dashboards: Option<bool>,
    /// May write dashboards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_dashboards: Option<bool>,
    /// May moderate dashboards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderate_dashboards: Option<bool>,
    /// May run scenarios.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_scenarios: Option<bool>,
    /// May manage dashboard authorizations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manage_dashboard_authorizations: Option<bool>,
    /// May manage exposed elements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manage_exposed_elements: Option<bool>,
    /// May manage additional dashboard users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manage_additional_dashboard_users: Option<bool>,
    /// May execute the project as an application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execute_app: Option<bool>,
    /// May share objects to workspaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_to_workspaces: Option<bool>,
    /// May publish to data collections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_to_data_collections: Option<bool>,
}

/// Project variables: `standard` and `local`, each managed key by key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ProjectVariablesSpec {
    /// Standard project variables, managed key by key (`null` removes one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standard: Option<KeyedMap>,
    /// Local project variables (not exported with the project), managed key by key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<KeyedMap>,
}

/// `kind: Project` spec: project metadata, owner, permissions and variables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProjectSpec {
    /// Display name (`metadata.label`).
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
    /// The project owner's login (`permissions.owner`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Authoritative when given: grants not listed are removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<PermissionSpec>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<ProjectVariablesSpec>,
    /// Never deleted by dssctl, even after removal from the manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect: Option<bool>,
}

/// The `Project` kind.
#[derive(Debug)]
pub struct ProjectKind;

impl Kind for ProjectKind {
    fn name(&self) -> &'static str {
        "Project"
    }

    fn id(&self) -> KindId {
        ID
    }

    fn description(&self) -> &'static str {
        "A DSS project: metadata, owner, permissions and variables."
    }

    fn spec_schema(&self, generator: &mut SchemaGenerator) -> Value {
        generator.subschema_for::<ProjectSpec>().to_value()
    }

    fn apply_rank(&self) -> u8 {
        3
    }

    fn name_rule(&self) -> &'static NameRule {
        &KEY_RULE
    }

    fn referable(&self) -> bool {
        true
    }

    fn check_spec(&self, checks: &mut Checks<'_>, spec: &Node) {
        if let Some(owner) = spec.get("owner") {
            checks.name("spec.owner", owner, &user::LOGIN_RULE);
        }
        for (i, grant) in items(spec.get("permissions")).iter().enumerate() {
            if let Some(g) = grant.get("group") {
                checks.name(&format!("spec.permissions[{i}].group"), g, &group::NAME_RULE);
            }
            if let Some(u) = grant.get("user") {
                checks.name(&format!("spec.permissions[{i}].user"), u, &user::LOGIN_RULE);
            }
        }
        check_permissions(checks, spec);
    }

    fn references<'n>(&self, _meta: Option<&'n Node>, spec: Option<&'n Node>, refs: &mut RefSink<'_, 'n>) {
        refs.push(user::ID, spec.and_then(|s| s.get("owner")), None);
        for grant in items(spec.and_then(|s| s.get("permissions"))) {
            refs.push(group::ID, grant.get("group"), None);
            refs.push(user::ID, grant.get("user"), None);
        }
    }

    fn plan(&self, planner: &mut Planner<'_>, declared: &Declared) {
        if let Resource::Project { meta, spec } = &declared.resource {
            plan_project(planner, declared, meta, spec);
        }
    }

    fn live_document(&self, observed: &Observed, name: &str) -> Result<Option<Value>, &'static str> {
        let projects = observed.projects.as_ref().ok_or("project list")?;
        Ok(projects.get(name).map(|p| to_json(&p.summary)))
    }

    fn add_reads(&self, resource: &Resource, needs: &mut Needs<'_>) {
        let Resource::Project { meta, spec } = resource else {
            return;
        };
        needs.reads.projects_list = true;
        let p = needs.reads.projects.entry(meta.name.clone()).or_default();
        p.metadata |= spec.custom.is_some();
        p.description |= spec.description.is_some();
        p.permissions |= spec.permissions.is_some();
        p.variables |= spec.variables.is_some();
        if let Some(owner) = &spec.owner {
            needs.referenced(user::ID, owner);
        }
        for g in spec.permissions.iter().flatten() {
            if let Some(group) = &g.group {
                needs.referenced(group::ID, group);
            }
            if let Some(login) = &g.user {
                needs.referenced(user::ID, login);
            }
        }
    }

    fn need_live(&self, name: &str, reads: &mut ReadPlan) {
        reads.projects_list = true;
        reads.projects.entry(name.to_string()).or_default();
    }

    fn get_main<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
    ) -> Option<BoxFuture<'a, Result<Value, ClientError>>> {
        Some(Box::pin(
            async move { c.get_project(name).await.map(|v| to_json(&v)) },
        ))
    }

    fn backup_before_delete(&self) -> bool {
        true
    }

    fn delete<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        _drop_data: bool,
    ) -> Option<BoxFuture<'a, Result<(), ClientError>>> {
        Some(Box::pin(async move { c.delete_project(name).await }))
    }

    fn stamped(&self) -> bool {
        true
    }

    fn write_references(&self, op: &Operation, out: &mut Vec<ResourceId>) {
        let Some(p) = overlay_of(op, SubDoc::Permissions) else {
            return;
        };
        if let Some(owner) = p.get("owner").and_then(Value::as_str) {
            out.push(ResourceId::new(user::ID, owner));
        }
        for grant in p
            .get("permissions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(g) = grant.get("group").and_then(Value::as_str) {
                out.push(ResourceId::new(group::ID, g));
            }
            if let Some(u) = grant.get("user").and_then(Value::as_str) {
                out.push(ResourceId::new(user::ID, u));
            }
        }
    }

    fn parse(&self, meta: ObjectMeta, spec: Value) -> Result<Resource, serde_json::Error> {
        Ok(Resource::Project {
            meta,
            spec: serde_json::from_value(spec)?,
        })
    }
}

/// A grant names one principal, in one of the two forms, once.
fn check_permissions(checks: &mut Checks<'_>, spec: &Node) {
    let Some(NodeValue::Seq(grants)) = spec.get("permissions").map(|p| &p.value) else {
        return;
    };
    let mut seen: HashMap<(String, String), Pos> = HashMap::new();
    for (i, grant) in grants.iter().enumerate() {
        let NodeValue::Map(entries) = &grant.value else {
            continue;
        };
        let path = format!("spec.permissions[{i}]");
        let group = grant.get("group").and_then(Node::as_str);
        let user = grant.get("user").and_then(Node::as_str);
        match (group, user) {
            (Some(_), Some(_)) => {
                checks
                    .error(
                        grant.pos,
                        format!("{path}: give either `group` or `user`, not both"),
                    )
                    .hint = Some("write one grant per group or user".into());
            }
            (None, None) if grant.get("group").is_none() && grant.get("user").is_none() => {
                checks
                    .error(grant.pos, format!("{path}: missing `group` or `user`"))
                    .hint = Some("e.g. `- {group: data_scientists, type: ANALYST_READWRITE}`".into());
            }
            _ => {}
        }
        let has_type = grant.get("type").is_some();
        let flags: Vec<&str> = entries
            .iter()
            .filter_map(|(k, _)| k.as_str())
            .filter(|k| !["group", "user", "type"].contains(k))
            .collect();
        if has_type && !flags.is_empty() {
            checks
                .error(
                    grant.pos,
                    format!(
                        "{path}: mixes `type` with per-flag permissions ({})",
                        flags.join(", ")
                    ),
                )
                .hint = Some("use either the `type` form or the per-flag form in one grant".into());
        } else if !has_type && flags.is_empty() {
            checks.error(grant.pos, format!("{path}: grants nothing")).hint = Some(
                "add `type: READER` (or ADMIN, ANALYST_READWRITE, ANALYST_READONLY), or per-flag permissions such as `readProjectContent: true`".into(),
            );
        }
        let who = group.map(|g| ("group", g)).or(user.map(|u| ("user", u)));
        if let Some((what, name)) = who {
            let key = (what.to_string(), name.to_string());
            if let Some(first) = seen.get(&key) {
                checks
                    .error(
                        grant.pos,
                        format!(
                            "{path}: {what} \"{name}\" is granted twice (first at line {})",
                            first.line
                        ),
                    )
                    .hint = Some("merge the two grants: permissions are matched by group or user".into());
            } else {
                seen.insert(key, grant.pos);
            }
        }
    }
}

/// Plan one declared project: its writes, compared with the live state.
pub(crate) fn plan_project(p: &mut Planner<'_>, d: &Declared, meta: &ObjectMeta, spec: &ProjectSpec) {
    let id = ResourceId::new(ID, &meta.name);
    let Some(projects) = &p.observed().projects else {
        return p.not_read(&id, &d.origin, "project list");
    };
    let live: Option<&ObservedProject> = projects.get(&meta.name);
    let key = Some(meta.name.as_str());
    if let Some(owner) = &spec.owner {
        p.check_ref(d, &id, crate::kinds::user::ID, owner, "owner");
    }
    for grant in spec.permissions.iter().flatten() {
        if let Some(g) = &grant.group {
            p.check_ref(d, &id, crate::kinds::group::ID, g, "permissions");
        }
        if let Some(u) = &grant.user {
            p.check_ref(d, &id, crate::kinds::user::ID, u, "permissions");
        }
    }

    let metadata = live.map(project_metadata_view);
    let mut doc = Doc::new(SubDoc::Metadata, metadata.as_ref(), key);
    doc.scalar("label", text(&spec.label), None);
    doc.scalar("description", text(&spec.description), None);
    doc.scalar("shortDesc", text(&spec.short_desc), None);
    doc.set("tags", spec.tags.as_ref());
    doc.keyed("custom", spec.custom.as_ref());
    let metadata_write = doc.finish(None);

    if live.is_some_and(|p| p.permissions.is_none()) && spec.permissions.is_some() {
        return p.not_read(&id, &d.origin, "permissions document");
    }
    let permissions =
        live.map(|p| permissions_view(p.permissions.as_ref(), p.summary.owner_login.as_deref()));
    let mut doc = Doc::new(SubDoc::Permissions, permissions.as_ref(), key);
    doc.scalar("owner", text(&spec.owner), None);
    if let Some(grants) = &spec.permissions
        && let Err(e) = doc.grants(grants)
    {
        return p.error_at(&id, Some(&d.origin), e, None);
    }
    let permissions_write = doc.finish(None);

    if live.is_some_and(|p| p.variables.is_none()) && spec.variables.is_some() {
        return p.not_read(&id, &d.origin, "variables document");
    }
    let variables = live.and_then(|p| p.variables.as_ref()).map(to_json);
    let mut doc = Doc::new(SubDoc::Variables, variables.as_ref(), key);
    if let Some(v) = &spec.variables {
        doc.keyed("standard", v.standard.as_ref());
        doc.keyed("local", v.local.as_ref());
    }
    let variables_write = doc.finish(None);

    let intent = LedgerIntent {
        protect: spec.protect.unwrap_or(false),
        drop_data_on_delete: false,
    };
    p.finish(
        id,
        &d.origin,
        live.is_some(),
        vec![metadata_write, permissions_write, variables_write],
        intent,
    );
}

/// A project's metadata as a JSON value: the document read, else what the project list
/// carries (`name` is the label there).
pub(crate) fn project_metadata_view(p: &ObservedProject) -> Value {
    match &p.metadata {
        Some(m) => to_json(m),
        None => {
            let s = &p.summary;
            let mut v = json!({"label": s.name, "shortDesc": s.short_desc, "tags": s.tags});
            if let Some(d) = &s.description {
                v["description"] = json!(d);
            }
            v
        }
    }
}
