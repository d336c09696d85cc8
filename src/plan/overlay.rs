//! Overlays: how a write's desired managed fields are put on a live document. DSS PUTs replace
//! whole documents, so apply GETs the document fresh, calls [`apply_overlay`], sets the
//! changed secrets with [`set_path`], and PUTs the result: every field the manifests do not
//! manage goes back unchanged.
//!
//! An overlay is a JSON merge patch (RFC 7396: objects merge key by key, `null` removes a key,
//! anything else replaces) with two list rules, because DSS lists that carry unmanaged
//! attributes must not lose them:
//! - `permissions` of the permissions document merge by principal (`group`/`user`): a grant
//!   keeps the flags dssctl does not know, grants not listed are removed;
//! - `columns` of a schema merge by column name: a column keeps `originalType`, `comment`, ...
//!   when the manifest does not give them; the order is the manifest's.

use serde_json::{Map, Value};

use super::model::{ListRule, SubDoc};

/// Put `overlay` on `live` (see the module documentation).
pub fn apply_overlay(sub: SubDoc, live: &mut Value, overlay: &Value) {
    merge(sub, live, overlay, 0);
}

fn merge(sub: SubDoc, target: &mut Value, patch: &Value, depth: usize) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let target = target.as_object_mut().expect("made an object above");
    for (key, value) in patch {
        match value {
            Value::Null => {
                target.remove(key);
            }
            Value::Array(items) if let Some(rule) = list_rule_at(sub, depth, key, items) => {
                let live = target.remove(key);
                let key_of: &dyn Fn(&Value) -> Option<String> = match rule {
                    ListRule::Grants => &grant_key,
                    ListRule::Columns | ListRule::ByName => &name_key,
                };
                let keep_unlisted = rule == ListRule::ByName;
                target.insert(key.clone(), merge_by(sub, live, items, key_of, keep_unlisted));
            }
            Value::Object(_) if whole_values_at(sub, depth) => {
                target.insert(key.clone(), value.clone());
            }
            Value::Object(_) => {
                let slot = target.entry(key.clone()).or_insert(Value::Null);
                merge(sub, slot, value, depth + 1);
            }
            other => {
                target.insert(key.clone(), other.clone());
            }
        }
    }
}

/// Whether the entries at `depth` of a document are whole values rather than maps to merge:
/// a variable's value (`values.NAME`, `standard.NAME`, `local.NAME`) is authoritative as
/// written, even when it is an object; only the variables are managed one by one.
pub(crate) fn whole_values_at(sub: SubDoc, depth: usize) -> bool {
    sub.shape().whole_values_at == Some(depth)
}

/// How the list `items` written at `key` (at `depth`) of `sub` is merged, when item by item:
/// a top-level list its shape names, or, in a document whose named lists are merged by name,
/// a non-empty list of objects that all carry a `name`.
pub(crate) fn list_rule_at(sub: SubDoc, depth: usize, key: &str, items: &[Value]) -> Option<ListRule> {
    if depth == 0
        && let Some(rule) = sub.list_rule(key)
    {
        return Some(rule);
    }
    let named = !items.is_empty() && items.iter().all(|i| i.get("name").is_some_and(Value::is_string));
    (sub.shape().named_lists && named).then_some(ListRule::ByName)
}

fn grant_key(item: &Value) -> Option<String> {
    let g = item.get("group").and_then(Value::as_str);
    let u = item.get("user").and_then(Value::as_str);
    super::normalize::principal(g, u)
}

fn name_key(item: &Value) -> Option<String> {
    item.get("name").and_then(Value::as_str).map(str::to_string)
}

/// The desired list, each item merged onto the live item with the same key; with
/// `keep_unlisted`, the live items no desired item names stay, in their place, and the new
/// ones follow them.
fn merge_by(
    sub: SubDoc,
    live: Option<Value>,
    desired: &[Value],
    key: &dyn Fn(&Value) -> Option<String>,
    keep_unlisted: bool,
) -> Value {
    let live_items = match live {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    let merged: Vec<Value> = desired
        .iter()
        .map(|want| {
            let k = key(want);
            let base = live_items
                .iter()
                .find(|have| k.is_some() && key(have) == k)
                .cloned();
            match base {
                Some(mut base) => {
                    // A grant written per flag replaces a legacy `type`, which would otherwise
                    // contradict the flags.
                    if let Some(obj) = base.as_object_mut()
                        && want.get("type").is_none()
                        && want.get("admin").is_some()
                    {
                        obj.remove("type");
                    }
                    merge(sub, &mut base, want, 1);
                    base
                }
                None => strip_nulls(want),
            }
        })
        .collect();
    if !keep_unlisted {
        return Value::Array(merged);
    }
    let mut merged: Vec<Option<Value>> = merged.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(live_items.len() + merged.len());
    for have in live_items {
        let k = key(&have);
        match desired.iter().position(|want| k.is_some() && key(want) == k) {
            Some(i) => out.extend(merged[i].take()),
            None => out.push(have),
        }
    }
    out.extend(merged.into_iter().flatten());
    Value::Array(out)
}

fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Set a value at a dotted path (`params.password`), creating objects on the way.
pub fn set_path(doc: &mut Value, path: &str, value: Value) {
    let mut cur = doc;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let obj = cur.as_object_mut().expect("made an object above");
        if i + 1 == parts.len() {
            obj.insert(part.to_string(), value);
            return;
        }
        cur = obj.entry(part.to_string()).or_insert(Value::Null);
    }
}

/// The value at a dotted path, if any.
pub(crate) fn get_path<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(doc, |cur, part| cur.get(part))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_keeps_unmanaged_fields_and_removes_nulls() {
        let mut live = json!({"params": {"connection": "c", "path": "/a", "notReadyIfEmpty": false},
                              "flowOptions": {"virtualizable": true}, "formatType": "csv"});
        let overlay = json!({"params": {"path": "/b", "connection": null}, "formatType": "parquet"});
        apply_overlay(SubDoc::SETTINGS, &mut live, &overlay);
        assert_eq!(
            live,
            json!({"params": {"path": "/b", "notReadyIfEmpty": false},
                   "flowOptions": {"virtualizable": true}, "formatType": "parquet"})
        );
    }

    #[test]
    fn grants_merge_by_principal_and_unlisted_grants_go() {
        let mut live = json!({"owner": "admin", "permissions": [
            {"group": "a", "readDashboards": true, "futureFlag": true},
            {"group": "gone", "admin": true},
            {"user": "bob", "type": "READER"}],
            "dashboardAuthorizations": {"allAuthorized": false}});
        let overlay = json!({"permissions": [
            {"user": "bob", "admin": false, "readDashboards": true},
            {"group": "a", "admin": false, "readDashboards": false}]});
        apply_overlay(SubDoc::PERMISSIONS, &mut live, &overlay);
        assert_eq!(
            live,
            json!({"owner": "admin", "permissions": [
                {"user": "bob", "admin": false, "readDashboards": true},
                {"group": "a", "admin": false, "readDashboards": false, "futureFlag": true}],
                "dashboardAuthorizations": {"allAuthorized": false}})
        );
    }

    #[test]
    fn columns_merge_by_name_in_the_manifest_order() {
        let mut live = json!({"columns": [
            {"name": "a", "type": "string", "originalType": "varchar"},
            {"name": "b", "type": "int"}], "userModified": true});
        let overlay = json!({"columns": [{"name": "c", "type": "date"}, {"name": "a", "type": "string"}]});
        apply_overlay(SubDoc::SCHEMA, &mut live, &overlay);
        assert_eq!(
            live,
            json!({"columns": [{"name": "c", "type": "date"},
                {"name": "a", "type": "string", "originalType": "varchar"}], "userModified": true})
        );
    }

    #[test]
    fn a_variable_object_value_is_replaced_not_merged() {
        let mut live = json!({"standard": {"cfg": {"a": 1, "b": 2}, "other": 1}, "local": {}});
        let overlay = json!({"standard": {"cfg": {"a": 1}}});
        apply_overlay(SubDoc::VARIABLES, &mut live, &overlay);
        assert_eq!(
            live,
            json!({"standard": {"cfg": {"a": 1}, "other": 1}, "local": {}})
        );
    }

    #[test]
    fn paths_are_set_and_read() {
        let mut doc = json!({"params": {"host": "h"}});
        set_path(&mut doc, "params.password", json!("s"));
        set_path(&mut doc, "password", json!("t"));
        assert_eq!(get_path(&doc, "params.password"), Some(&json!("s")));
        assert_eq!(get_path(&doc, "params.host"), Some(&json!("h")));
        assert_eq!(get_path(&doc, "password"), Some(&json!("t")));
        assert_eq!(get_path(&doc, "params.nope"), None);
    }
}
