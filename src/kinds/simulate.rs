//! What a DSS instance would hold after a first apply of a desired state: the plan against an
//! empty instance, its writes put by [`crate::plan::overlay`] on documents shaped like the ones DSS
//! creates (with the defaults DSS fills in), then DSS's own normalisations (sorted tags,
//! lower-cased column types, false permission flags omitted, groups in another order,
//! secrets encrypted with a fresh salt). Pure; used to check that a plan against the state a
//! desired state produces is empty (no perpetual diff).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::manifest::Declared;

use super::dataset::ObservedDataset;
use super::project::ObservedProject;
use super::{connection, group, project, user};
use crate::plan::fingerprint::secret_fingerprint;
use crate::plan::ledger::{Ledger, LedgerEntry};
use crate::plan::model::{Action, Operation, SubDoc};
use crate::plan::observed::Observed;
use crate::plan::overlay::{apply_overlay, set_path};
use crate::plan::planner::{PlanInput, SecretResolver, plan};

/// The observed state after applying `desired` to an empty instance, with the stack's ledger.
/// Resources whose planning fails are left out.
pub fn simulate_apply(desired: &[Declared], resolve_secret: SecretResolver<'_>) -> Observed {
    let mut empty = Observed {
        global_variables: Some(Map::new()),
        ..Observed::default()
    };
    empty.kinds.insert(project::ID, project::Live::new());
    empty.kinds.insert(connection::ID, connection::Live::new());
    empty.kinds.insert(user::ID, user::Live::new());
    empty.kinds.insert(group::ID, group::Live::new());
    let first = plan(&PlanInput {
        desired,
        observed: &empty,
        stack: "default",
        target: "simulated",
        resolve_secret,
    });
    let mut ledger = Ledger::new();
    let mut out = empty.clone();
    let mut counter = 0u64;
    for op in &first.operations {
        let id = op.id();
        let mut entry = LedgerEntry {
            kind: op.kind,
            name: op.name.clone(),
            applied_at: "1970-01-01T00:00:00Z".into(),
            git_commit: None,
            protect: op.ledger.as_ref().is_some_and(|l| l.protect),
            drop_data_on_delete: op.ledger.as_ref().is_some_and(|l| l.drop_data_on_delete),
            secrets: BTreeMap::new(),
            keep_on_removal: false,
            dss_id: op.ledger.as_ref().and_then(|l| l.dss_id.clone()),
        };
        let origin = first.origins.get(&id).cloned().unwrap_or_default();
        for w in &op.writes {
            for s in &w.secrets {
                if let Ok(value) = resolve_secret(&s.reference, &origin) {
                    entry.secrets.insert(
                        s.path.clone(),
                        secret_fingerprint(&ledger.salt, &id, &s.path, &value),
                    );
                }
            }
        }
        ledger.insert(entry);
        counter += 1;
        materialise(&mut out, op, counter);
    }
    out.ledger = Some(ledger);
    out
}

fn overlay_of(op: &Operation, sub: SubDoc) -> Option<&Value> {
    op.writes
        .iter()
        .find(|w| w.subdocument == sub)
        .map(|w| &w.overlay)
}

fn put(doc: &mut Value, op: &Operation, sub: SubDoc, salt: u64) {
    if let Some(w) = op.writes.iter().find(|w| w.subdocument == sub) {
        apply_overlay(sub, doc, &w.overlay);
        for s in &w.secrets {
            // DSS stores secrets encrypted with a fresh salt: never the same text twice.
            set_path(doc, &s.path, json!(format!("e:AES:{salt:016x}")));
        }
    }
}

fn sort_strings(v: &mut Value, key: &str, reverse: bool) {
    if let Some(items) = v.get_mut(key).and_then(Value::as_array_mut) {
        items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        if reverse {
            items.reverse();
        }
    }
}

fn from<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("simulated documents have the wire shape")
}

fn materialise(out: &mut Observed, op: &Operation, n: u64) {
    if op.action == Action::Delete {
        return;
    }
    let version = json!({"versionNumber": 1, "lastModifiedBy": {"login": "admin"}, "lastModifiedOn": 0});
    match op.kind {
        crate::kinds::group::ID => {
            let mut doc = json!({"name": op.name, "description": "", "admin": false,
                "sourceType": "LOCAL", "mayCreateProjects": false, "mayWriteSafeCode": false});
            put(&mut doc, op, SubDoc::DEFINITION, n);
            out.kinds
                .entry::<group::Live>(group::ID)
                .insert(op.name.clone(), from(doc));
        }
        crate::kinds::user::ID => {
            let mut doc = json!({"login": op.name, "displayName": op.name, "groups": [],
                "userProfile": "DATA_SCIENTIST", "enabled": true, "sourceType": "LOCAL",
                "codeAllowed": false, "creationDate": 0});
            put(&mut doc, op, SubDoc::DEFINITION, n);
            // Write-only: DSS never returns a password.
            doc.as_object_mut().expect("object").remove("password");
            sort_strings(&mut doc, "groups", true);
            out.kinds
                .entry::<user::Live>(user::ID)
                .insert(op.name.clone(), from(doc));
        }
        crate::kinds::connection::ID => {
            let mut doc = json!({"name": op.name, "type": "", "params": {}, "usableBy": "ALL",
                "allowedGroups": [], "allowWrite": true, "allowManagedDatasets": true,
                "credentialsMode": "GLOBAL", "maxActivities": 0, "creationTag": version});
            put(&mut doc, op, SubDoc::DEFINITION, n);
            sort_strings(&mut doc, "allowedGroups", true);
            out.kinds
                .entry::<connection::Live>(connection::ID)
                .insert(op.name.clone(), from(doc));
        }
        crate::kinds::project::ID => {
            let mut metadata = json!({"label": op.name, "description": "", "shortDesc": "",
                "tags": [], "custom": {"kv": {}}, "checklists": {"checklists": []}});
            put(&mut metadata, op, SubDoc::METADATA, n);
            sort_strings(&mut metadata, "tags", false);
            let mut permissions = json!({"owner": "admin", "permissions": [],
                "dashboardAuthorizations": {"allAuthorized": false, "authorizations": []},
                "additionalDashboardUsers": {"users": []}});
            put(&mut permissions, op, SubDoc::PERMISSIONS, n);
            // Omit false flags, as a DSS that stores only granted rights would.
            if let Some(grants) = permissions["permissions"].as_array_mut() {
                for g in grants.iter_mut().filter_map(Value::as_object_mut) {
                    g.retain(|_, v| v != &Value::Bool(false));
                }
            }
            let mut variables = json!({"standard": {}, "local": {}});
            put(&mut variables, op, SubDoc::VARIABLES, n);
            let summary = json!({"projectKey": op.name, "name": metadata["label"],
                "shortDesc": metadata["shortDesc"], "tags": metadata["tags"],
                "ownerLogin": permissions["owner"], "versionTag": version});
            let project = ObservedProject {
                summary: from(summary),
                metadata: Some(from(metadata)),
                permissions: Some(from(permissions)),
                variables: Some(from(variables)),
                datasets: Some(BTreeMap::new()),
                folder: None,
            };
            out.kinds
                .entry::<project::Live>(project::ID)
                .insert(op.name.clone(), project);
        }
        crate::kinds::dataset::ID => {
            let (project, name) = op.name.split_once('.').expect("dataset names are PROJECT.name");
            let mut def = json!({"projectKey": project, "name": name, "type": "",
                "managed": false, "params": {"notReadyIfEmpty": false,
                    "filesSelectionRules": {"mode": "ALL"}},
                "formatParams": {"style": "excel", "charset": "utf8", "probableNumberOfRecords": 0},
                "schema": {"columns": [], "userModified": false},
                "tags": [], "customMeta": {"kv": {}}, "flowOptions": {"virtualizable": false},
                "versionTag": version, "creationTag": version});
            put(&mut def, op, SubDoc::SETTINGS, n);
            if let Some(overlay) = overlay_of(op, SubDoc::SCHEMA) {
                apply_overlay(SubDoc::SCHEMA, &mut def["schema"], overlay);
                if let Some(cols) = def["schema"]["columns"].as_array_mut() {
                    for c in cols.iter_mut() {
                        c["originalType"] = json!("varchar");
                    }
                }
            }
            let mut metadata = json!({"label": name, "description": "", "shortDesc": "",
                "tags": def["tags"], "custom": def["customMeta"]});
            put(&mut metadata, op, SubDoc::METADATA, n);
            sort_strings(&mut metadata, "tags", false);
            for (from_key, to_key) in [
                ("label", "label"),
                ("description", "description"),
                ("shortDesc", "shortDesc"),
                ("tags", "tags"),
                ("custom", "customMeta"),
            ] {
                def[to_key] = metadata[from_key].clone();
            }
            let dataset = ObservedDataset {
                definition: from(def),
                metadata: None,
                schema: None,
            };
            let projects = out.kinds.entry::<project::Live>(project::ID);
            let p = projects.entry(project.to_string()).or_default();
            p.datasets
                .get_or_insert_default()
                .insert(name.to_string(), dataset);
        }
        crate::kinds::variables::ID => {
            let mut doc = json!({"values": out.global_variables.clone().unwrap_or_default()});
            put(&mut doc, op, SubDoc::VALUES, n);
            out.global_variables = doc["values"].as_object().cloned();
        }
        other => panic!("the simulation does not know kind {other}"),
    }
}

/// A ledger entry as it would be recorded for `id` (for tests that build ledgers by hand).
#[cfg(test)]
pub(crate) fn entry_for(kind: crate::plan::model::Kind, name: &str) -> LedgerEntry {
    LedgerEntry {
        kind,
        name: name.into(),
        applied_at: "1970-01-01T00:00:00Z".into(),
        git_commit: None,
        protect: false,
        drop_data_on_delete: false,
        secrets: BTreeMap::new(),
        keep_on_removal: false,
        dss_id: None,
    }
}
