//! Field semantics per kind: the pure comparison of one declared
//! resource with its live documents, producing the writes, the changed fields and the errors.
//!
//! Rules, in one place:
//! - a field the manifest leaves out is not managed: never compared, never written;
//! - given scalars and lists are authoritative; tags, a user's groups and allowed groups are
//!   sets; permission grants are matched by group/user; schema columns are ordered;
//! - maps are managed key by key (recursively), a `null` key is removed (and a `null` for a
//!   key that is already absent is no change);
//! - server-managed fields are never compared, simply because only managed paths are;
//! - values DSS normalises go through [`super::normalize`] on both sides;
//! - secrets are judged by their keyed fingerprint in the ledger, never by value;
//! - identity fields (dataset and connection types) never change in place: an error says what
//!   to do instead.

use serde_json::{Map, Value, json};

use crate::manifest::specs::{ColumnSpec, PermissionSpec, SchemaSpec};
use crate::manifest::{KeyedMap, SecretRef};
use crate::wire::{DatasetSchema, ProjectPermissions};

use super::fingerprint::content_fingerprint;
use super::model::{Change, ListRule, SecretField, SubDoc, Write};
use super::normalize::{
    Flags, as_secret_ref, column_type, desired_grant_flags, flags_json, live_grant_flags, principal,
    resolve_project_key, same_scalar, same_value, set_of, type_of,
};
use super::overlay::{list_rule_at, whole_values_at};

/// Fields of any document that DSS treats as sets.
pub(crate) const SET_FIELDS: [&str; 3] = ["tags", "groups", "allowedGroups"];

/// A secret reference found in a document, before it is judged.
#[derive(Debug, Clone)]
pub(crate) struct PendingSecret {
    /// Dotted path in the sub-document (`params.password`).
    pub path: String,
    pub reference: SecretRef,
    /// Whether the live document holds a value there (DSS returns it encrypted).
    pub live_has_value: bool,
}

/// The comparison of one sub-document, built field by field.
pub(crate) struct Doc<'a> {
    pub sub: SubDoc,
    /// The live document, `None` when the object is created.
    pub live: Option<&'a Value>,
    project_key: Option<&'a str>,
    /// Prepended to change paths (`schema.`, `variables.`) where the document's own keys
    /// would not say which document they are in.
    prefix: &'static str,
    pub overlay: Map<String, Value>,
    pub changes: Vec<Change>,
    pub pending_secrets: Vec<PendingSecret>,
    pub secrets: Vec<SecretField>,
    /// A probe ([`Doc::write_of`]) only tells whether the live document differs: it builds no
    /// overlay and describes no change.
    probe: bool,
    /// Whether a probe met a difference.
    differs: bool,
}

impl<'a> Doc<'a> {
    pub(crate) fn new(sub: SubDoc, live: Option<&'a Value>, project_key: Option<&'a str>) -> Self {
        Doc {
            sub,
            live,
            project_key,
            prefix: sub.shape().path_prefix,
            overlay: Map::new(),
            changes: Vec::new(),
            pending_secrets: Vec::new(),
            secrets: Vec::new(),
            probe: false,
            differs: false,
        }
    }

    /// The write of one sub-document whose fields `fill` declares, as [`Doc::finish`] makes
    /// it; `None` for a live document `fill` finds unchanged and without secrets.
    ///
    /// A plan of a converged repository compares thousands of live documents and writes none
    /// of them, and the planner drops the writes of a live object that change nothing
    /// ([`crate::plan::planner::Planner::finish`]). So a live document is first compared by a
    /// probe, which builds no overlay (the clones of the declared values, their maps, the
    /// written columns); only one that differs, or holds a secret (judged by the planner), is
    /// compared again in full.
    pub(crate) fn write_of(
        sub: SubDoc,
        live: Option<&'a Value>,
        project_key: Option<&'a str>,
        version_tag: Option<u64>,
        fill: impl Fn(&mut Doc<'a>),
    ) -> Option<Write> {
        if live.is_some() {
            let mut probe = Doc::new(sub, live, project_key);
            probe.probe = true;
            fill(&mut probe);
            if !probe.differs && probe.pending_secrets.is_empty() && probe.secrets.is_empty() {
                return None;
            }
        }
        let mut doc = Doc::new(sub, live, project_key);
        fill(&mut doc);
        doc.finish(version_tag)
    }

    fn creating(&self) -> bool {
        self.live.is_none()
    }

    fn live_get(&self, key: &str) -> Option<&'a Value> {
        self.live.and_then(|l| l.get(key))
    }

    fn change(&mut self, path: String, before: Value, after: Value) {
        if self.probe {
            self.differs = true;
            return;
        }
        self.changes
            .push(Change::new(format!("{}{path}", self.prefix), before, after));
    }

    /// A managed scalar; `default` is what DSS assumes when the field is absent.
    pub(crate) fn scalar(&mut self, key: &str, desired: Option<Value>, default: Option<Value>) {
        let Some(want) = desired else { return };
        let have = self.live_get(key);
        let unchanged = !self.creating() && same_scalar(have, &want, default.as_ref());
        if !unchanged {
            self.change(
                key.to_string(),
                have.cloned().unwrap_or(Value::Null),
                want.clone(),
            );
        }
        self.keep(key, want);
    }

    /// Put `value` in the overlay at `key` (a probe keeps nothing).
    fn keep(&mut self, key: &str, value: Value) {
        if !self.probe {
            self.overlay.insert(key.to_string(), value);
        }
    }

    /// Write a field without comparing it (identity fields, create-only fields on create).
    pub(crate) fn write_only(&mut self, key: &str, value: Value) {
        self.keep(key, value);
    }

    /// A managed list that DSS treats as a set.
    pub(crate) fn set(&mut self, key: &str, desired: Option<&Vec<String>>) {
        let Some(want) = desired else { return };
        let want = set_of(want);
        let have = string_set(self.live_get(key));
        if self.creating() || have != want {
            let before = if self.creating() { Value::Null } else { json!(have) };
            self.change(key.to_string(), before, json!(want));
        }
        self.keep(key, json!(want));
    }

    /// A map managed key by key.
    pub(crate) fn keyed(&mut self, key: &str, desired: Option<&KeyedMap>) {
        let Some(want) = desired else { return };
        let live = self.live_get(key);
        let mut overlay = Map::new();
        self.keyed_at(key.to_string(), live, want, &mut overlay, 1);
        if !overlay.is_empty() {
            self.overlay.insert(key.to_string(), Value::Object(overlay));
        }
    }

    /// `want`: the declared map's entries, borrowed (a [`KeyedMap`] or a nested JSON object).
    fn keyed_at<'w>(
        &mut self,
        path: String,
        live: Option<&Value>,
        want: impl IntoIterator<Item = (&'w String, &'w Value)>,
        overlay: &mut Map<String, Value>,
        depth: usize,
    ) {
        // A probe builds no overlay: `keep` stands for the inserts below.
        let probe = self.probe;
        let keep = |overlay: &mut Map<String, Value>, k: &String, v: Value| {
            if !probe {
                overlay.insert(k.clone(), v);
            }
        };
        for (k, v) in want {
            // Formatted only where it is used: an unchanged scalar (nearly all of a converged
            // plan's) needs no path.
            let path_of = || {
                if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                }
            };
            let have = live.and_then(|l| l.get(k)).filter(|h| !h.is_null());
            if let Some(reference) = as_secret_ref(v) {
                self.pending_secrets.push(PendingSecret {
                    path: path_of(),
                    reference,
                    live_has_value: have.is_some_and(|h| h.as_str() != Some("")),
                });
                continue;
            }
            match v {
                Value::Null => {
                    keep(overlay, k, Value::Null);
                    if let Some(h) = have {
                        self.change(path_of(), h.clone(), Value::Null);
                    }
                }
                Value::Object(sub)
                    if !sub.is_empty()
                        && have.is_none_or(Value::is_object)
                        && !whole_values_at(self.sub, depth) =>
                {
                    let mut sub_overlay = Map::new();
                    self.keyed_at(path_of(), have, sub, &mut sub_overlay, depth + 1);
                    if !sub_overlay.is_empty() {
                        overlay.insert(k.clone(), Value::Object(sub_overlay));
                    }
                }
                Value::Array(items)
                    if (list_rule_at(self.sub, depth, k, items) == Some(ListRule::ByName))
                        && have.is_none_or(Value::is_array) =>
                {
                    let merged = self.named_list(path_of(), have, items, depth);
                    keep(overlay, k, merged);
                }
                _ => {
                    if !probe {
                        overlay.insert(k.clone(), v.clone());
                    }
                    let same = have.is_some_and(|h| {
                        same_value(
                            &resolve_project_key(h, self.project_key),
                            &resolve_project_key(v, self.project_key),
                        )
                    });
                    if !same {
                        self.change(path_of(), have.cloned().unwrap_or(Value::Null), v.clone());
                    }
                }
            }
        }
    }

    /// The whole document managed key by key from its root (the general settings), at any
    /// depth.
    pub(crate) fn keyed_root(&mut self, desired: &KeyedMap) {
        let live = self.live;
        let mut overlay = std::mem::take(&mut self.overlay);
        self.keyed_at(String::new(), live, desired, &mut overlay, 0);
        self.overlay = overlay;
    }

    /// A list of named objects matched by name (the sub-document's shape says so): each entry
    /// listed is compared key by key with the live entry of the same name (a new name is one
    /// change, the whole entry); live entries not listed are not compared. The overlay lists the
    /// entries, each with its `name`, for the merge to put on the live ones.
    fn named_list(&mut self, path: String, have: Option<&Value>, items: &[Value], depth: usize) -> Value {
        let live: Vec<&Value> = have
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        let mut out = Vec::new();
        for item in items {
            let Some(want) = item.as_object() else { continue };
            let name = want.get("name").cloned().unwrap_or(Value::Null);
            let p = format!("{path}[name={}]", name.as_str().unwrap_or_default());
            let live_item = live.iter().copied().find(|l| l.get("name") == Some(&name));
            let mut o = Map::new();
            match live_item {
                Some(l) => self.keyed_at(p, Some(l), want, &mut o, depth + 1),
                None => {
                    let before = self.changes.len();
                    self.keyed_at(p.clone(), None, want, &mut o, depth + 1);
                    self.changes.truncate(before);
                    self.change(p, Value::Null, Value::Object(o.clone()));
                }
            }
            o.insert("name".into(), name);
            out.push(Value::Object(o));
        }
        Value::Array(out)
    }

    /// Schema columns: ordered and authoritative; each column's optional attributes are
    /// compared only when the manifest gives them.
    pub(crate) fn columns(&mut self, desired: &SchemaSpec) {
        // Borrowed names, and a column's path formatted only when it has a change: a
        // converged plan compares thousands of columns and changes none.
        let live: Vec<&Map<String, Value>> = self
            .live_get("columns")
            .and_then(Value::as_array)
            .map(|cols| cols.iter().filter_map(Value::as_object).collect())
            .unwrap_or_default();
        let live_names: Vec<&str> = live
            .iter()
            .map(|c| c.get("name").and_then(Value::as_str).unwrap_or_default())
            .collect();
        let want_names: Vec<&str> = desired.columns.iter().map(|c| c.name.as_str()).collect();
        let mut changes = Vec::new();
        for spec in &desired.columns {
            match live_names.iter().position(|n| *n == spec.name) {
                None => changes.push(("columns[+]".to_string(), Value::Null, column_json(spec))),
                Some(at) => {
                    let have = live[at];
                    let base = || format!("columns[name={}]", spec.name);
                    let have_type = have.get("type").and_then(Value::as_str).unwrap_or_default();
                    if column_type(have_type) != column_type(&spec.column_type) {
                        changes.push((
                            format!("{}.type", base()),
                            json!(have_type),
                            json!(column_type(&spec.column_type)),
                        ));
                    }
                    let wanted = [
                        ("maxLength", spec.max_length.map(|n| json!(n))),
                        ("comment", spec.comment.clone().map(Value::String)),
                        ("meaning", spec.meaning.clone().map(Value::String)),
                    ];
                    for (field, want) in wanted {
                        if let Some(want) = want
                            && !same_scalar(have.get(field), &want, None)
                        {
                            let before = have.get(field).cloned().unwrap_or(Value::Null);
                            changes.push((format!("{}.{field}", base()), before, want));
                        }
                    }
                }
            }
        }
        for (have, name) in live.iter().zip(&live_names) {
            if !want_names.contains(name) {
                changes.push((
                    "columns[-]".to_string(),
                    Value::Object(project_column(have)),
                    Value::Null,
                ));
            }
        }
        let common_live: Vec<&str> = live_names
            .iter()
            .copied()
            .filter(|n| want_names.contains(n))
            .collect();
        let common_want: Vec<&str> = want_names
            .iter()
            .copied()
            .filter(|n| live_names.contains(n))
            .collect();
        if common_live != common_want {
            changes.push((
                "columns(order)".to_string(),
                json!(common_live),
                json!(common_want),
            ));
        }
        for (path, before, after) in changes {
            self.change(path, before, after);
        }
        if !self.probe {
            let want = desired.columns.iter().map(column_json).collect();
            self.overlay.insert("columns".into(), Value::Array(want));
        }
    }

    /// Project grants, authoritative, matched by principal.
    pub(crate) fn grants(&mut self, desired: &[PermissionSpec]) -> Result<(), String> {
        let live: Vec<(String, Flags)> = self
            .live_get("permissions")
            .and_then(Value::as_array)
            .map(|grants| {
                grants
                    .iter()
                    .filter_map(Value::as_object)
                    .filter_map(|g| {
                        let p = principal(
                            g.get("group").and_then(Value::as_str),
                            g.get("user").and_then(Value::as_str),
                        )?;
                        Some((p, live_grant_flags(g)))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut overlay = Vec::new();
        let mut seen = Vec::new();
        for spec in desired {
            let who = principal(spec.group.as_deref(), spec.user.as_deref())
                .ok_or("a permission names exactly one of `group` and `user`")?;
            if seen.contains(&who) {
                return Err(format!("permissions list {who} twice"));
            }
            seen.push(who.clone());
            let flags = desired_grant_flags(spec)?;
            let mut item = Map::new();
            if let Some(g) = &spec.group {
                item.insert("group".into(), json!(g));
            }
            if let Some(u) = &spec.user {
                item.insert("user".into(), json!(u));
            }
            item.extend(flags_json(&flags));
            overlay.push(Value::Object(item));
            let path = format!("permissions[{who}]");
            match live.iter().find(|(p, _)| *p == who) {
                None => self.change(path, Value::Null, grant_display(&flags)),
                Some((_, have)) if *have == flags => {}
                Some((_, have)) => match (spec.permission_type.is_some(), type_of(have)) {
                    (true, Some(live_type)) => self.change(
                        format!("{path}.type"),
                        json!(live_type),
                        json!(type_of(&flags).unwrap_or_default()),
                    ),
                    _ => {
                        for (flag, want) in &flags {
                            let before = have.get(flag).copied().unwrap_or(false);
                            if before != *want {
                                self.change(format!("{path}.{flag}"), json!(before), json!(want));
                            }
                        }
                    }
                },
            }
        }
        for (who, have) in &live {
            if !seen.contains(who) {
                self.change(format!("permissions[{who}]"), grant_display(have), Value::Null);
            }
        }
        if !self.probe {
            self.overlay.insert("permissions".into(), Value::Array(overlay));
        }
        Ok(())
    }

    /// The write, if anything is managed in this sub-document. `version_tag` is the live
    /// document's `versionTag.versionNumber` when it has one.
    ///
    /// A write that changes nothing in a live document carries no fingerprint: the planner
    /// drops such writes of a live object ([`crate::plan::planner::Planner::finish`]), and
    /// computing the fingerprint (a view, its JSON text, its SHA-256) for each of them was most
    /// of the cost of planning a converged repository.
    pub(crate) fn finish(self, version_tag: Option<u64>) -> Option<Write> {
        if self.overlay.is_empty() && self.secrets.is_empty() {
            return None;
        }
        let overlay = Value::Object(self.overlay);
        let unchanged = self.changes.is_empty();
        let fingerprint = self.live.filter(|_| !unchanged).map(|live| {
            content_fingerprint(
                &managed_view(self.sub, live, &overlay, &self.secrets),
                version_tag,
            )
        });
        Some(Write {
            subdocument: self.sub,
            overlay,
            secrets: self.secrets,
            fingerprint,
            changes: self.changes,
        })
    }
}

fn string_set(v: Option<&Value>) -> Vec<String> {
    let items: Vec<String> = v
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    set_of(&items)
}

fn column_json(c: &ColumnSpec) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(c.name));
    m.insert("type".into(), json!(column_type(&c.column_type)));
    if let Some(n) = c.max_length {
        m.insert("maxLength".into(), json!(n));
    }
    if let Some(s) = &c.comment {
        m.insert("comment".into(), json!(s));
    }
    if let Some(s) = &c.meaning {
        m.insert("meaning".into(), json!(s));
    }
    Value::Object(m)
}

/// The attributes of a live column that a manifest can manage.
fn project_column(c: &Map<String, Value>) -> Map<String, Value> {
    let mut m = Map::new();
    for key in ["name", "type", "maxLength", "comment", "meaning"] {
        if let Some(v) = c.get(key).filter(|v| !v.is_null()) {
            let v = match (key, v) {
                ("type", Value::String(t)) => json!(column_type(t)),
                _ => v.clone(),
            };
            m.insert(key.into(), v);
        }
    }
    m
}

/// A grant as shown: `{type: X}` when its rights are exactly a legacy type, else the granted
/// flags.
fn grant_display(flags: &Flags) -> Value {
    match type_of(flags) {
        Some(t) => json!({ "type": t }),
        None => Value::Object(
            flags
                .iter()
                .filter(|(_, on)| **on)
                .map(|(k, _)| (k.to_string(), Value::Bool(true)))
                .collect(),
        ),
    }
}

/// The live values of the fields a write manages, normalised: what a write's content
/// fingerprint is computed over. `apply --plan` calls this on the document it re-reads and
/// compares [`content_fingerprint`] of the result with the write's fingerprint.
pub(crate) fn managed_view(sub: SubDoc, live: &Value, overlay: &Value, secrets: &[SecretField]) -> Value {
    let mut view = view_at(sub, Some(live), overlay, 0);
    for s in secrets {
        let present =
            super::overlay::get_path(live, &s.path).is_some_and(|v| !v.is_null() && v.as_str() != Some(""));
        super::overlay::set_path(&mut view, &s.path, json!(present));
    }
    view
}

fn view_at(sub: SubDoc, live: Option<&Value>, overlay: &Value, depth: usize) -> Value {
    let Some(overlay) = overlay.as_object() else {
        return Value::Null;
    };
    let mut out = Map::new();
    for (key, want) in overlay {
        let have = live.and_then(|l| l.get(key));
        let items = want.as_array().map(Vec::as_slice).unwrap_or_default();
        let v = if let Some(rule) = list_rule_at(sub, depth, key, items) {
            list_view(sub, rule, have, items, depth)
        } else if want.as_object().is_some_and(|w| !w.is_empty()) && have.is_none_or(Value::is_object) {
            view_at(sub, have, want, depth + 1)
        } else if depth == 0 && SET_FIELDS.contains(&key.as_str()) {
            json!(string_set(have))
        } else {
            match have {
                None | Some(Value::Null) => Value::Null,
                Some(Value::String(s)) if s.is_empty() => Value::Null,
                Some(v) => v.clone(),
            }
        };
        out.insert(key.clone(), v);
    }
    Value::Object(out)
}

/// The managed view of a list merged item by item (see [`ListRule`]).
fn list_view(sub: SubDoc, rule: ListRule, have: Option<&Value>, wanted: &[Value], depth: usize) -> Value {
    let live: Vec<&Map<String, Value>> = have
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default();
    match rule {
        ListRule::Grants => {
            let mut grants: Vec<Value> = live
                .iter()
                .map(|g| {
                    let who = principal(
                        g.get("group").and_then(Value::as_str),
                        g.get("user").and_then(Value::as_str),
                    );
                    json!({"principal": who, "flags": flags_json(&live_grant_flags(g))})
                })
                .collect();
            grants.sort_by_key(|g| g["principal"].to_string());
            Value::Array(grants)
        }
        ListRule::Columns => Value::Array(live.iter().map(|c| Value::Object(project_column(c))).collect()),
        // Only the entries the manifest names are managed: each is viewed through its own
        // overlay; the others are not part of the view.
        ListRule::ByName => Value::Array(
            wanted
                .iter()
                .map(|want| {
                    let name = want.get("name");
                    let item = live.iter().find(|i| name.is_some() && i.get("name") == name);
                    match item {
                        Some(item) => view_at(sub, Some(&Value::Object((*item).clone())), want, depth + 1),
                        None => Value::Null,
                    }
                })
                .collect(),
        ),
    }
}

/// The live permissions document as a JSON value, or the owner alone from the project list
/// when the permissions were not read (only the owner is managed then).
pub(crate) fn permissions_view(permissions: Option<&ProjectPermissions>, owner_login: Option<&str>) -> Value {
    match permissions {
        Some(p) => serde_json::to_value(p).expect("wire types serialise"),
        None => json!({ "owner": owner_login }),
    }
}

/// The live schema document: the separately read one, else the one embedded in the definition.
pub(crate) fn schema_view(read: Option<&DatasetSchema>, embedded: Option<&DatasetSchema>) -> Value {
    match read.or(embedded) {
        Some(s) => serde_json::to_value(s).expect("wire types serialise"),
        None => json!({ "columns": [] }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyed(pairs: Value) -> KeyedMap {
        serde_json::from_value(pairs).unwrap()
    }

    #[test]
    fn keyed_maps_compare_key_by_key_and_nulls_remove() {
        let live = json!({"params": {"connection": "c", "path": "/a", "notReadyIfEmpty": false,
            "old": 1}});
        let mut doc = Doc::new(SubDoc::SETTINGS, Some(&live), Some("P"));
        doc.keyed(
            "params",
            Some(&keyed(
                json!({"connection": "c", "path": "/b", "old": null, "never": null}),
            )),
        );
        let paths: Vec<&str> = doc.changes.iter().map(|c| c.path.as_str()).collect();
        // DSS's default `notReadyIfEmpty` is not compared; `never` is already absent.
        assert_eq!(paths, vec!["params.old", "params.path"]);
        assert_eq!(
            doc.overlay["params"],
            json!({"connection": "c", "path": "/b", "old": null, "never": null})
        );
    }

    #[test]
    fn nested_maps_merge_and_project_key_is_resolved() {
        let live = json!({"custom": {"kv": {"costCenter": "42", "dssctl": "stamp"}},
            "params": {"path": "${projectKey}/x"}});
        let mut doc = Doc::new(SubDoc::METADATA, Some(&live), Some("CHURN"));
        doc.keyed("custom", Some(&keyed(json!({"kv": {"costCenter": "42"}}))));
        doc.keyed("params", Some(&keyed(json!({"path": "CHURN/x"}))));
        assert!(doc.changes.is_empty(), "{:?}", doc.changes);
    }

    #[test]
    fn a_variable_value_is_compared_whole() {
        let live = json!({"standard": {"cfg": {"a": 1, "b": 2}}, "local": {}});
        let mut doc = Doc::new(SubDoc::VARIABLES, Some(&live), Some("P"));
        doc.keyed("standard", Some(&keyed(json!({"cfg": {"a": 1}}))));
        assert_eq!(doc.changes.len(), 1);
        assert_eq!(doc.changes[0].path, "variables.standard.cfg");
        assert_eq!(doc.overlay["standard"]["cfg"], json!({"a": 1}));
        // Metadata's custom map, by contrast, is merged key by key.
        let live = json!({"custom": {"kv": {"a": 1, "b": 2}}});
        let mut doc = Doc::new(SubDoc::METADATA, Some(&live), None);
        doc.keyed("custom", Some(&keyed(json!({"kv": {"a": 1}}))));
        assert!(doc.changes.is_empty());
    }

    const NAMED: SubDoc = SubDoc::new(&crate::plan::model::DocShape {
        named_lists: true,
        ..crate::plan::model::DocShape::plain("named")
    });

    #[test]
    fn named_lists_match_by_name_and_leave_unlisted_entries_alone() {
        let live = json!({"max": 5, "container": {"configs": [
            {"name": "other", "type": "K8S"},
            {"name": "small", "type": "K8S", "cpu": 1, "extra": true}]}});
        let want: KeyedMap = serde_json::from_value(json!({"max": 5, "container": {"configs": [
            {"name": "small", "cpu": 2}, {"name": "large", "type": "K8S"}]}}))
        .unwrap();
        let mut doc = Doc::new(NAMED, Some(&live), None);
        doc.keyed_root(&want);
        let paths: Vec<&str> = doc.changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "container.configs[name=small].cpu",
                "container.configs[name=large]"
            ]
        );
        assert_eq!(
            doc.overlay["container"]["configs"],
            json!([{"name": "small", "cpu": 2}, {"name": "large", "type": "K8S"}])
        );
        let mut merged = live.clone();
        crate::plan::overlay::apply_overlay(NAMED, &mut merged, &Value::Object(doc.overlay.clone()));
        assert_eq!(
            merged["container"]["configs"],
            json!([{"name": "other", "type": "K8S"},
                   {"name": "small", "type": "K8S", "cpu": 2, "extra": true},
                   {"name": "large", "type": "K8S"}])
        );
        // Converged: nothing to change, and the view ignores the unlisted entry.
        let mut doc = Doc::new(NAMED, Some(&merged), None);
        doc.keyed_root(&want);
        assert!(doc.changes.is_empty(), "{:?}", doc.changes);
        let overlay = Value::Object(doc.overlay.clone());
        let mut other = merged.clone();
        other["container"]["configs"][0]["type"] = json!("changed");
        assert_eq!(
            managed_view(NAMED, &merged, &overlay, &[]),
            managed_view(NAMED, &other, &overlay, &[])
        );
    }

    #[test]
    fn sets_are_compared_sorted() {
        let live = json!({"tags": ["ml", "churn"]});
        let mut doc = Doc::new(SubDoc::METADATA, Some(&live), None);
        doc.set("tags", Some(&vec!["churn".into(), "ml".into(), "ml".into()]));
        assert!(doc.changes.is_empty());
        doc.set("groups", Some(&vec!["a".into()]));
        assert_eq!(doc.changes[0].before, json!([]));
    }

    #[test]
    fn creating_lists_every_field() {
        let mut doc = Doc::new(SubDoc::DEFINITION, None, None);
        doc.scalar("admin", Some(json!(false)), Some(json!(false)));
        doc.set("tags", Some(&vec![]));
        assert_eq!(doc.changes.len(), 2);
        let w = doc.finish(None).unwrap();
        assert!(w.fingerprint.is_none());
    }

    /// The fields of one document, as a kind declares them.
    fn fill_fields(doc: &mut Doc<'_>, params: &KeyedMap, tags: &Vec<String>) {
        doc.scalar("label", Some(json!("Orders")), None);
        doc.keyed("params", Some(params));
        doc.set("tags", Some(tags));
    }

    #[test]
    fn a_probe_skips_an_unchanged_live_document_and_a_difference_gets_the_full_write() {
        let live = json!({"label": "Orders", "params": {"path": "/a", "x": {"y": 1}}, "tags": ["b", "a"]});
        let params = keyed(json!({"path": "/a", "x": {"y": 1}}));
        let tags = vec!["a".to_string(), "b".to_string()];
        let fill = |doc: &mut Doc<'_>| fill_fields(doc, &params, &tags);
        assert!(Doc::write_of(SubDoc::SETTINGS, Some(&live), None, None, fill).is_none());

        // What a full comparison makes, the unchanged fields in the overlay included.
        let changed = keyed(json!({"path": "/b", "x": {"y": 1}}));
        let fill = |doc: &mut Doc<'_>| fill_fields(doc, &changed, &tags);
        let mut full = Doc::new(SubDoc::SETTINGS, Some(&live), None);
        fill(&mut full);
        let expected = full.finish(Some(3)).expect("a write");
        let write = Doc::write_of(SubDoc::SETTINGS, Some(&live), None, Some(3), fill).expect("a write");
        assert_eq!(write.overlay, expected.overlay);
        assert_eq!(write.overlay["label"], json!("Orders"));
        assert_eq!(write.fingerprint, expected.fingerprint);
        assert!(write.fingerprint.is_some());
        assert_eq!(write.changes.len(), 1);
        assert_eq!(write.changes[0].path, "params.path");

        // Created: no probe, every field written.
        let fill = |doc: &mut Doc<'_>| fill_fields(doc, &params, &tags);
        let created = Doc::write_of(SubDoc::SETTINGS, None, None, None, fill).expect("a write");
        let paths: Vec<&str> = created.changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["label", "params.path", "params.x.y", "tags"]);
    }

    #[test]
    fn a_probe_changes_nothing_the_planner_keeps() {
        // Whatever the live document: the write is the full comparison's, except that an
        // unchanged live document without secrets has none (the planner drops such writes).
        let lives = [
            json!({"params": {"password": "encrypted", "path": "/a"}}),
            json!({"params": {"path": "/a"}, "label": "Orders", "tags": []}),
            json!({"params": {"path": "/a", "gone": 1}}),
            json!({}),
        ];
        let declared = [
            keyed(json!({"password": {"fromEnv": "DB_PASSWORD"}, "path": "/a"})),
            keyed(json!({"path": "/a"})),
            keyed(json!({"path": "/a", "gone": null})),
            keyed(json!({"x": {"y": [1, 2]}})),
        ];
        for live in &lives {
            for params in &declared {
                let fill = |doc: &mut Doc<'_>| doc.keyed("params", Some(params));
                let mut full = Doc::new(SubDoc::SETTINGS, Some(live), None);
                fill(&mut full);
                let had_secrets = !full.pending_secrets.is_empty();
                let expected = full
                    .finish(Some(1))
                    .filter(|w| !w.changes.is_empty() || !w.secrets.is_empty() || had_secrets);
                let probed = Doc::write_of(SubDoc::SETTINGS, Some(live), None, Some(1), fill);
                assert_eq!(probed, expected, "live {live}, declared {params:?}");
            }
        }
    }

    #[test]
    fn columns_ignore_dss_extras_and_case_but_keep_order() {
        let live = json!({"columns": [
            {"name": "id", "type": "BIGINT", "originalType": "int8"},
            {"name": "email", "type": "string", "maxLength": 200}], "userModified": true});
        let spec: SchemaSpec = serde_json::from_value(json!({"columns": [
            {"name": "id", "type": "bigint"}, {"name": "email", "type": "string"}]}))
        .unwrap();
        let mut doc = Doc::new(SubDoc::SCHEMA, Some(&live), None);
        doc.columns(&spec);
        assert!(doc.changes.is_empty(), "{:?}", doc.changes);

        let spec: SchemaSpec = serde_json::from_value(json!({"columns": [
            {"name": "email", "type": "string", "maxLength": 100}, {"name": "id", "type": "bigint"},
            {"name": "signup", "type": "date"}]}))
        .unwrap();
        let mut doc = Doc::new(SubDoc::SCHEMA, Some(&live), None);
        doc.columns(&spec);
        let paths: Vec<&str> = doc.changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "schema.columns[name=email].maxLength",
                "schema.columns[+]",
                "schema.columns(order)"
            ]
        );
    }

    #[test]
    fn grants_match_by_principal_in_any_order_and_flag_order() {
        let live = json!({"owner": "admin", "permissions": [
            {"user": "bob", "readDashboards": true},
            {"group": "analysts", "readDashboards": true, "readProjectContent": true,
             "exportDatasetsData": true, "admin": false}]});
        let specs: Vec<PermissionSpec> = serde_json::from_value(json!([
            {"group": "analysts", "type": "ANALYST_READONLY"},
            {"user": "bob", "type": "READER"}]))
        .unwrap();
        let mut doc = Doc::new(SubDoc::PERMISSIONS, Some(&live), None);
        doc.grants(&specs).unwrap();
        assert!(doc.changes.is_empty(), "{:?}", doc.changes);

        let specs: Vec<PermissionSpec> = serde_json::from_value(json!([
            {"group": "analysts", "type": "ANALYST_READWRITE"}]))
        .unwrap();
        let mut doc = Doc::new(SubDoc::PERMISSIONS, Some(&live), None);
        doc.grants(&specs).unwrap();
        assert_eq!(
            doc.changes,
            vec![
                Change::new(
                    "permissions[group=analysts].type",
                    json!("ANALYST_READONLY"),
                    json!("ANALYST_READWRITE")
                ),
                Change::new("permissions[user=bob]", json!({"type": "READER"}), Value::Null),
            ]
        );
    }

    #[test]
    fn duplicate_or_principal_less_grants_are_errors() {
        let live = json!({"permissions": []});
        let mut doc = Doc::new(SubDoc::PERMISSIONS, Some(&live), None);
        let specs: Vec<PermissionSpec> =
            serde_json::from_value(json!([{"group": "a"}, {"group": "a"}])).unwrap();
        assert!(doc.grants(&specs).unwrap_err().contains("twice"));
        let specs: Vec<PermissionSpec> = serde_json::from_value(json!([{"type": "READER"}])).unwrap();
        assert!(doc.grants(&specs).unwrap_err().contains("exactly one"));
    }

    #[test]
    fn managed_view_is_independent_of_how_dss_orders_and_encodes() {
        let overlay = json!({"tags": ["a", "b"], "description": "x", "custom": {"kv": {"k": 1}}});
        let a = json!({"tags": ["b", "a"], "description": "x", "custom": {"kv": {"k": 1, "z": 2}},
            "versionTag": {"versionNumber": 3}});
        let b = json!({"tags": ["a", "b"], "description": "x", "custom": {"kv": {"k": 1}}});
        assert_eq!(
            managed_view(SubDoc::METADATA, &a, &overlay, &[]),
            managed_view(SubDoc::METADATA, &b, &overlay, &[])
        );
        let c = json!({"tags": ["a"], "description": "x"});
        assert_ne!(
            managed_view(SubDoc::METADATA, &a, &overlay, &[]),
            managed_view(SubDoc::METADATA, &c, &overlay, &[])
        );
    }
}
