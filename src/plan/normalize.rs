//! Normalisation: the values DSS rewrites on its own (sorted tags, lower-cased column types,
//! numbers re-encoded, implied permission flags, unresolved `${projectKey}`, empty strings for
//! unset texts) are brought to one form on both sides before comparing, so that what DSS
//! normalises never shows as a change.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::manifest::SecretRef;
use crate::manifest::specs::PermissionSpec;

/// A list DSS treats as a set (tags, a user's groups, allowed groups): sorted, deduplicated.
pub(crate) fn set_of<S: AsRef<str>>(items: &[S]) -> Vec<String> {
    let mut out: Vec<String> = items.iter().map(|s| s.as_ref().to_string()).collect();
    out.sort();
    out.dedup();
    out
}

/// `${projectKey}` is stored unresolved by DSS and may be written either way in a manifest;
/// both sides are compared resolved.
pub(crate) fn resolve_project_key(value: &Value, project_key: Option<&str>) -> Value {
    match (value, project_key) {
        (Value::String(s), Some(key)) if s.contains("${projectKey}") => {
            Value::String(s.replace("${projectKey}", key))
        }
        _ => value.clone(),
    }
}

/// Semantic equality of two JSON values: numbers by value (`1` equals `1.0`, as DSS's Java
/// side re-encodes them), objects key by key, arrays element by element.
pub(crate) fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                x == y
            } else {
                match (x.as_f64(), y.as_f64()) {
                    (Some(x), Some(y)) => x == y,
                    _ => x == y,
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => a == b,
    }
}

/// Equality of a managed scalar: an absent live value equals the field's DSS default, and an
/// empty string equals an absent text (DSS returns `""` for texts never set).
pub(crate) fn same_scalar(live: Option<&Value>, desired: &Value, default: Option<&Value>) -> bool {
    let live = match live {
        None | Some(Value::Null) => default.cloned().unwrap_or(Value::Null),
        Some(v) => v.clone(),
    };
    let empty = |v: &Value| v.is_null() || v.as_str() == Some("");
    if empty(&live) && empty(desired) {
        return true;
    }
    // A YAML block scalar (`description: |`) ends with a newline that editors and DSS's UI
    // may drop; a difference of trailing newlines alone is not a change.
    if let (Value::String(a), Value::String(b)) = (&live, desired) {
        return a.trim_end_matches(['\n', '\r']) == b.trim_end_matches(['\n', '\r']);
    }
    same_value(&live, desired)
}

/// A secret reference written inside a free-form map (`params: {password: {fromEnv: X}}`).
pub(crate) fn as_secret_ref(value: &Value) -> Option<SecretRef> {
    let obj = value.as_object()?;
    if obj.len() != 1 {
        return None;
    }
    if obj.contains_key("fromEnv") || obj.contains_key("fromFile") {
        serde_json::from_value(value.clone()).ok()
    } else {
        None
    }
}

/// Column types are case-insensitive in DSS and returned lower-case.
pub(crate) fn column_type(t: &str) -> String {
    t.to_ascii_lowercase()
}

/// The per-flag rights of a project grant, in DSS's order.
pub(crate) const PERMISSION_FLAGS: [&str; 15] = [
    "admin",
    "editPermissions",
    "readProjectContent",
    "writeProjectContent",
    "exportDatasetsData",
    "readDashboards",
    "writeDashboards",
    "moderateDashboards",
    "runScenarios",
    "manageDashboardAuthorizations",
    "manageExposedElements",
    "manageAdditionalDashboardUsers",
    "executeApp",
    "shareToWorkspaces",
    "publishToDataCollections",
];

/// The legacy single-`type` grants of the 2015 API, from the most to the least privileged.
pub(crate) const PERMISSION_TYPES: [&str; 4] = ["ADMIN", "ANALYST_READWRITE", "ANALYST_READONLY", "READER"];

/// Effective rights: flag → granted.
pub(crate) type Flags = BTreeMap<&'static str, bool>;

fn flags_from(granted: &[&str]) -> Flags {
    PERMISSION_FLAGS
        .iter()
        .map(|f| (*f, granted.contains(f)))
        .collect()
}

/// The flags a legacy `type` grants (before implications).
pub(crate) fn type_flags(permission_type: &str) -> Option<Flags> {
    let granted: &[&str] = match permission_type.to_ascii_uppercase().as_str() {
        "ADMIN" => &PERMISSION_FLAGS,
        "ANALYST_READWRITE" => &[
            "readProjectContent",
            "writeProjectContent",
            "exportDatasetsData",
            "readDashboards",
            "writeDashboards",
            "runScenarios",
        ],
        "ANALYST_READONLY" => &["readProjectContent", "exportDatasetsData", "readDashboards"],
        "READER" => &["readDashboards"],
        _ => return None,
    };
    Some(imply(flags_from(granted)))
}

/// DSS's implications between rights (permissions.rst: admin implies everything, writing
/// implies reading, moderating dashboards implies writing them). Whether DSS stores the implied
/// flags is not documented, so both sides are compared after closing them under implication:
/// `{writeProjectContent}` and `{writeProjectContent, readProjectContent}` are the same grant.
pub(crate) fn imply(mut flags: Flags) -> Flags {
    let on = |f: &Flags, k: &str| f.get(k).copied().unwrap_or(false);
    if on(&flags, "admin") {
        for f in PERMISSION_FLAGS {
            flags.insert(f, true);
        }
        return flags;
    }
    if on(&flags, "moderateDashboards") {
        flags.insert("writeDashboards", true);
    }
    if on(&flags, "writeProjectContent") {
        flags.insert("readProjectContent", true);
    }
    if on(&flags, "readProjectContent") || on(&flags, "writeDashboards") {
        flags.insert("readDashboards", true);
    }
    flags
}

/// Effective rights of a live grant (per-flag form, or the legacy `type` when no flag is set).
pub(crate) fn live_grant_flags(grant: &Map<String, Value>) -> Flags {
    let any_flag = PERMISSION_FLAGS.iter().any(|f| grant.contains_key(*f));
    if !any_flag && let Some(flags) = grant.get("type").and_then(Value::as_str).and_then(type_flags) {
        return flags;
    }
    let flags = PERMISSION_FLAGS
        .iter()
        .map(|f| (*f, grant.get(*f).and_then(Value::as_bool).unwrap_or(false)))
        .collect();
    imply(flags)
}

/// Effective rights of a desired grant: its `type` if given, then its explicit flags on top
/// (a flag not written is not granted: the grant list is authoritative).
pub(crate) fn desired_grant_flags(spec: &PermissionSpec) -> Result<Flags, String> {
    let mut flags = match &spec.permission_type {
        Some(t) => type_flags(t).ok_or_else(|| {
            format!(
                "unknown permission type {t:?}; expected one of {}",
                PERMISSION_TYPES.join(", ")
            )
        })?,
        None => flags_from(&[]),
    };
    let explicit = [
        ("admin", spec.admin),
        ("editPermissions", spec.edit_permissions),
        ("readProjectContent", spec.read_project_content),
        ("writeProjectContent", spec.write_project_content),
        ("exportDatasetsData", spec.export_datasets_data),
        ("readDashboards", spec.read_dashboards),
        ("writeDashboards", spec.write_dashboards),
        ("moderateDashboards", spec.moderate_dashboards),
        ("runScenarios", spec.run_scenarios),
        (
            "manageDashboardAuthorizations",
            spec.manage_dashboard_authorizations,
        ),
        ("manageExposedElements", spec.manage_exposed_elements),
        (
            "manageAdditionalDashboardUsers",
            spec.manage_additional_dashboard_users,
        ),
        ("executeApp", spec.execute_app),
        ("shareToWorkspaces", spec.share_to_workspaces),
        ("publishToDataCollections", spec.publish_to_data_collections),
    ];
    for (flag, value) in explicit {
        if let Some(v) = value {
            flags.insert(flag, v);
        }
    }
    Ok(imply(flags))
}

/// The legacy type whose rights are exactly these, if any (to show `type: A -> B`).
pub(crate) fn type_of(flags: &Flags) -> Option<&'static str> {
    PERMISSION_TYPES
        .iter()
        .find(|t| type_flags(t).as_ref() == Some(flags))
        .copied()
}

/// Flags as a JSON object, every flag explicit (DSS keeps a flag that is omitted on PUT).
pub(crate) fn flags_json(flags: &Flags) -> Map<String, Value> {
    flags
        .iter()
        .map(|(k, v)| (k.to_string(), Value::Bool(*v)))
        .collect()
}

/// The principal of a grant, as shown in paths: `group=analysts` or `user=alice`.
pub(crate) fn principal(group: Option<&str>, user: Option<&str>) -> Option<String> {
    match (group, user) {
        (Some(g), None) => Some(format!("group={g}")),
        (None, Some(u)) => Some(format!("user={u}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sets_ignore_order_and_duplicates() {
        assert_eq!(set_of(&["pii", "ml", "pii"]), vec!["ml", "pii"]);
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(same_value(&json!(1), &json!(1.0)));
        assert!(same_value(&json!({"a": [0.5, 2]}), &json!({"a": [0.5, 2.0]})));
        assert!(!same_value(&json!(1), &json!("1")));
        assert!(!same_value(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
    }

    #[test]
    fn absent_live_values_take_the_dss_default_and_empty_texts_are_absent() {
        assert!(same_scalar(None, &json!(false), Some(&json!(false))));
        assert!(!same_scalar(None, &json!(true), Some(&json!(false))));
        assert!(same_scalar(Some(&json!("")), &Value::Null, None));
        assert!(same_scalar(None, &json!(""), None));
        assert!(!same_scalar(None, &json!("x"), None));
        assert!(same_scalar(
            Some(&json!("Two\nlines")),
            &json!("Two\nlines\n"),
            None
        ));
        assert!(!same_scalar(
            Some(&json!("Two\nlines")),
            &json!("Two\nlines!\n"),
            None
        ));
    }

    #[test]
    fn project_key_variables_are_resolved() {
        assert_eq!(
            resolve_project_key(&json!("${projectKey}/customers"), Some("CHURN")),
            json!("CHURN/customers")
        );
        assert_eq!(resolve_project_key(&json!(3), Some("CHURN")), json!(3));
    }

    #[test]
    fn secret_refs_are_recognised_in_maps() {
        assert!(as_secret_ref(&json!({"fromEnv": "PW"})).is_some());
        assert!(as_secret_ref(&json!({"fromFile": "s/pw"})).is_some());
        assert!(as_secret_ref(&json!({"fromEnv": "PW", "x": 1})).is_none());
        assert!(as_secret_ref(&json!("e:AES:abc")).is_none());
    }

    #[test]
    fn permission_types_and_implied_flags() {
        let rw = type_flags("ANALYST_READWRITE").unwrap();
        assert_eq!(type_of(&rw), Some("ANALYST_READWRITE"));
        // Written with only the write flag, DSS-style implications fill the reads in.
        let mut partial = Map::new();
        partial.insert("writeProjectContent".into(), json!(true));
        let flags = live_grant_flags(&partial);
        assert!(flags["readProjectContent"] && flags["readDashboards"]);
        // A live grant in the legacy form.
        let mut legacy = Map::new();
        legacy.insert("type".into(), json!("READER"));
        assert_eq!(type_of(&live_grant_flags(&legacy)), Some("READER"));
        let spec = PermissionSpec {
            group: Some("g".into()),
            permission_type: Some("nonsense".into()),
            ..Default::default()
        };
        assert!(
            desired_grant_flags(&spec)
                .unwrap_err()
                .contains("ANALYST_READONLY")
        );
        let admin = type_flags("admin").unwrap();
        assert!(admin.values().all(|v| *v));
    }
}
