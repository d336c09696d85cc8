//! The pure half of `dssctl export`: live DSS documents → manifest specs, keeping only the
//! fields the manifest kinds manage, in the form the plan compares them (sets sorted, column
//! types lower-cased, grants as a legacy `type` when their rights are exactly one), and leaving
//! out what the plan treats as a DSS default or never compares. Secrets are replaced by
//! `{fromEnv: ...}` references; no value DSS holds for a secret is ever copied.
//!
//! The property this module is built for: a plan of its output against the instance it was
//! read from shows every resource as an adoption with no field change.

use serde_json::{Map, Value, json};

use crate::kinds::dataset::ObservedDataset;
use crate::kinds::dataset::dataset_metadata_view;
use crate::kinds::project::ObservedProject;
use crate::kinds::project::project_metadata_view;
use crate::manifest::{
    ColumnSpec, ConnectionSpec, DatasetSpec, GroupSpec, KeyedMap, PermissionSpec, ProjectSpec,
    ProjectVariablesSpec, SchemaSpec, UserSpec, VariablesSpec,
};
use crate::plan::diff::schema_view;
use crate::plan::ledger::{RESERVED_PREFIX, is_reserved_variable};
use crate::plan::normalize::{column_type, live_grant_flags, set_of, type_of};
use crate::wire::{Connection, Group, User, is_secret_param};

/// The environment variable an exported manifest reads a connection's secret parameter from:
/// `DSS_CONN_<NAME>_<PARAM>`, upper-cased, every other character than a letter or digit as `_`.
pub fn secret_env_name(connection: &str, param: &str) -> String {
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

/// A text DSS returns: `None` when absent or empty (the plan compares `""` as absent).
fn text(v: Option<&str>) -> Option<String> {
    v.filter(|s| !s.is_empty()).map(str::to_string)
}

/// A text from a JSON document.
fn text_at(doc: &Value, key: &str) -> Option<String> {
    text(doc.get(key).and_then(Value::as_str))
}

/// A set (tags, groups): sorted and deduplicated, `None` when empty.
fn set(items: &[String]) -> Option<Vec<String>> {
    (!items.is_empty()).then(|| set_of(items))
}

/// A JSON map without its `null` entries (a `null` in a manifest map means "remove").
fn without_nulls(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn keyed(map: Map<String, Value>) -> Option<KeyedMap> {
    (!map.is_empty()).then(|| map.into_iter().collect())
}

/// `kind: Group`: the description, the admin flag and the granted `may*` abilities. A false
/// ability or admin flag is DSS's default and left out; `LOCAL` is the default source type.
pub fn group_spec(group: &Group) -> GroupSpec {
    let abilities = group
        .extra
        .iter()
        .filter(|(k, _)| k.starts_with("may"))
        .filter_map(|(k, v)| v.as_bool().filter(|on| *on).map(|on| (k.clone(), on)))
        .collect();
    GroupSpec {
        description: text(group.description.as_deref()),
        admin: group.admin.filter(|a| *a),
        source_type: group
            .source_type
            .clone()
            .filter(|s| s != "LOCAL" && !s.is_empty()),
        protect: None,
        abilities,
    }
}

/// `kind: User`: never a password (DSS never returns one, and an adopted user keeps its own).
/// `enabled: true` and `codeAllowed: false` are DSS's defaults and left out.
pub fn user_spec(user: &User) -> UserSpec {
    UserSpec {
        display_name: text(user.display_name.as_deref()),
        groups: set(&user.groups),
        source_type: user.source_type.clone().filter(|s| s != "LOCAL" && !s.is_empty()),
        code_allowed: user.code_allowed.filter(|c| *c),
        email: text(user.email.as_deref()),
        user_profile: text(user.user_profile.as_deref()),
        enabled: user.enabled.filter(|e| !*e),
        password: None,
        protect: None,
    }
}

/// A secret parameter an exported connection expects from the environment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExpectedSecret {
    /// The environment variable.
    pub env: String,
    /// `connection NAME, params.PATH`, for the list printed on stderr.
    pub used_by: String,
}

/// `kind: Connection`. A secret parameter DSS holds a value for becomes
/// `{fromEnv: DSS_CONN_<NAME>_<PARAM>}` (recorded in `secrets`); one it holds nothing for, or
/// that is not a text, is left out (a manifest may not write it literally, and leaving it out
/// leaves it unmanaged). `usableBy: ALL` is DSS's default and left out.
pub fn connection_spec(conn: &Connection, secrets: &mut Vec<ExpectedSecret>) -> ConnectionSpec {
    let params = redact_params(&conn.name, "", &without_nulls(&conn.params), secrets);
    ConnectionSpec {
        connection_type: conn.connection_type.clone(),
        description: text(conn.description.as_deref()),
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

/// A metadata `custom` map without dssctl's own stamps (`custom.kv."dssctl.*"`), which apply
/// writes and no manifest manages; `None` when nothing is left.
fn custom_of(custom: Option<&Value>) -> Option<KeyedMap> {
    let mut custom = custom.and_then(Value::as_object).map(without_nulls)?;
    if let Some(Value::Object(kv)) = custom.get_mut("kv") {
        kv.retain(|k, v| !k.starts_with(RESERVED_PREFIX) && !v.is_null());
        if kv.is_empty() {
            custom.remove("kv");
        }
    }
    custom.retain(|_, v| !v.as_object().is_some_and(Map::is_empty));
    keyed(custom)
}

/// One live grant as a manifest permission: `type: X` when its rights are exactly a legacy
/// type, else the granted flags (a flag not written is not granted).
fn permission_spec(grant: &Map<String, Value>) -> Option<PermissionSpec> {
    let group = grant.get("group").and_then(Value::as_str).map(str::to_string);
    let user = grant.get("user").and_then(Value::as_str).map(str::to_string);
    if group.is_some() == user.is_some() {
        return None;
    }
    let flags = live_grant_flags(grant);
    let mut spec = PermissionSpec {
        group,
        user,
        ..PermissionSpec::default()
    };
    if let Some(t) = type_of(&flags) {
        spec.permission_type = Some(t.to_string());
        return Some(spec);
    }
    let on = |f: &str| flags.get(f).copied().unwrap_or(false).then_some(true);
    spec.admin = on("admin");
    spec.edit_permissions = on("editPermissions");
    spec.read_project_content = on("readProjectContent");
    spec.write_project_content = on("writeProjectContent");
    spec.export_datasets_data = on("exportDatasetsData");
    spec.read_dashboards = on("readDashboards");
    spec.write_dashboards = on("writeDashboards");
    spec.moderate_dashboards = on("moderateDashboards");
    spec.run_scenarios = on("runScenarios");
    spec.manage_dashboard_authorizations = on("manageDashboardAuthorizations");
    spec.manage_exposed_elements = on("manageExposedElements");
    spec.manage_additional_dashboard_users = on("manageAdditionalDashboardUsers");
    spec.execute_app = on("executeApp");
    spec.share_to_workspaces = on("shareToWorkspaces");
    spec.publish_to_data_collections = on("publishToDataCollections");
    Some(spec)
}

/// `kind: Project`: metadata, owner, grants (authoritative, so all of them, in principal
/// order) and variables. The sub-documents not read are left out (unmanaged).
pub fn project_spec(project: &ObservedProject) -> ProjectSpec {
    let metadata = project_metadata_view(project);
    let tags: Vec<String> = metadata
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let owner = match &project.permissions {
        Some(p) => text(p.owner.as_deref()),
        None => text(project.summary.owner_login.as_deref()),
    };
    let permissions = project.permissions.as_ref().map(|p| {
        let mut grants: Vec<PermissionSpec> = p
            .permissions
            .iter()
            .filter_map(|g| {
                let mut m = g.flags.clone();
                if let Some(group) = &g.group {
                    m.insert("group".into(), json!(group));
                }
                if let Some(user) = &g.user {
                    m.insert("user".into(), json!(user));
                }
                permission_spec(&m)
            })
            .collect();
        grants.sort_by(|a, b| (&a.group, &a.user).cmp(&(&b.group, &b.user)));
        grants.dedup_by(|a, b| a.group == b.group && a.user == b.user);
        grants
    });
    let variables = project.variables.as_ref().and_then(|v| {
        let spec = ProjectVariablesSpec {
            standard: keyed(v.standard.clone()),
            local: keyed(v.local.clone()),
        };
        (spec.standard.is_some() || spec.local.is_some()).then_some(spec)
    });
    ProjectSpec {
        label: text_at(&metadata, "label"),
        description: text_at(&metadata, "description"),
        short_desc: text_at(&metadata, "shortDesc"),
        tags: set(&tags),
        custom: custom_of(metadata.get("custom")),
        owner,
        permissions,
        variables,
        protect: None,
    }
}

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
pub fn dataset_spec(dataset: &ObservedDataset) -> DatasetSpec {
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
        format_type: text(def.format_type.as_deref()),
        format_params: keyed(format_params),
        managed: def.managed.filter(|m| *m),
        schema: (!columns.is_empty()).then_some(SchemaSpec { columns }),
        label: text_at(&metadata, "label"),
        description: text_at(&metadata, "description"),
        short_desc: text_at(&metadata, "shortDesc"),
        tags: set(&tags),
        custom: custom_of(metadata.get("custom")),
        drop_data_on_delete: None,
        protect: None,
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
        comment: text_at(col, "comment"),
        meaning: text_at(col, "meaning"),
    })
}

/// `kind: Variables` (named `global`): the global variables but dssctl's own (the ledgers);
/// `None` when there is none. Never `prune`: an export adopts, it does not claim the rest.
pub fn variables_spec(globals: &Map<String, Value>) -> Option<VariablesSpec> {
    let values: KeyedMap = globals
        .iter()
        .filter(|(k, v)| !is_reserved_variable(k) && !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!values.is_empty()).then_some(VariablesSpec { values, prune: None })
}

/// The distinct environment variables of `secrets`, sorted.
#[cfg(test)]
pub fn env_names(secrets: &[ExpectedSecret]) -> Vec<String> {
    secrets
        .iter()
        .map(|s| s.env.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}
