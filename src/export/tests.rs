//! Unit tests of the kinds' pure export conversions (live documents → manifests) and of its key property: the
//! plan of an export against the state it was read from adopts everything with no change.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::convert::*;
use super::*;
use crate::kinds::connection::{connection_spec, secret_env_name};
use crate::kinds::dataset::{ObservedDataset, dataset_spec};
use crate::kinds::group::group_spec;
use crate::kinds::project::{ObservedProject, project_spec};
use crate::kinds::simulate::simulate_apply;
use crate::kinds::user::user_spec;
use crate::kinds::variables::variables_spec;
use crate::manifest::{Declared, Origin};
use crate::plan::{Action, PlanInput, plan};
use crate::wire::{Connection, Dataset, Group, Metadata, PermissionGrant, ProjectPermissions, User};

fn from<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

#[test]
fn secret_env_names_are_upper_case_with_underscores() {
    assert_eq!(
        secret_env_name("warehouse", "password"),
        "DSS_CONN_WAREHOUSE_PASSWORD"
    );
    assert_eq!(
        secret_env_name("s3-prod.eu", "secretKey"),
        "DSS_CONN_S3_PROD_EU_SECRETKEY"
    );
}

#[test]
fn connection_secrets_become_env_references_and_defaults_are_left_out() {
    let conn: Connection = from(json!({
        "name": "wh", "type": "PostgreSQL", "description": "",
        "params": {"host": "h", "port": 5432, "password": "e:AES:abcdef", "apiKey": "",
                   "usePrivateKey": false, "old": null,
                   "extra": {"token": "e:AES:zz", "region": "eu"}},
        "usableBy": "ALL", "allowedGroups": ["b", "a", "b"], "allowWrite": true,
        "creationTag": {"versionNumber": 1, "lastModifiedBy": {"login": "admin"}, "lastModifiedOn": 0},
        "credentialsMode": "GLOBAL"
    }));
    let mut secrets = Vec::new();
    let spec = connection_spec(&conn, &mut secrets);
    let params = spec.params.unwrap();
    assert_eq!(params["password"], json!({"fromEnv": "DSS_CONN_WH_PASSWORD"}));
    assert_eq!(
        params["extra"],
        json!({"token": {"fromEnv": "DSS_CONN_WH_EXTRA_TOKEN"}, "region": "eu"})
    );
    // Nothing held (empty), not a text, or null: left out.
    for gone in ["apiKey", "usePrivateKey", "old"] {
        assert!(!params.contains_key(gone), "{gone}");
    }
    assert_eq!(params["port"], json!(5432));
    assert_eq!(spec.usable_by, None);
    assert_eq!(spec.description, None);
    assert_eq!(spec.allowed_groups, Some(vec!["a".to_string(), "b".to_string()]));
    assert_eq!(spec.allow_write, Some(true));
    assert_eq!(spec.allow_managed_datasets, None);
    assert_eq!(
        env_names(&secrets),
        vec!["DSS_CONN_WH_EXTRA_TOKEN", "DSS_CONN_WH_PASSWORD"]
    );
    // No encrypted value anywhere in the spec.
    assert!(!serde_json::to_string(&params).unwrap().contains("e:AES:"));
}

#[test]
fn groups_keep_granted_abilities_only() {
    let g: Group = from(json!({"name": "g", "description": "d", "admin": false,
        "sourceType": "LOCAL", "mayCreateProjects": true, "mayWriteSafeCode": false,
        "ldapGroupNames": "x"}));
    let spec = group_spec(&g);
    assert_eq!(spec.description.as_deref(), Some("d"));
    assert_eq!(spec.admin, None);
    assert_eq!(spec.source_type, None);
    assert_eq!(spec.abilities.len(), 1);
    assert_eq!(spec.abilities.get("mayCreateProjects"), Some(&true));
}

#[test]
fn users_never_carry_a_password_and_drop_defaults() {
    let u: User = from(json!({"login": "bob", "displayName": "Bob", "email": "",
        "groups": ["z", "a"], "userProfile": "READER", "enabled": true, "sourceType": "LDAP",
        "codeAllowed": false, "password": "hunter2"}));
    let spec = user_spec(&u);
    assert_eq!(spec.password, None);
    assert_eq!(spec.email, None);
    assert_eq!(spec.enabled, None);
    assert_eq!(spec.code_allowed, None);
    assert_eq!(spec.source_type.as_deref(), Some("LDAP"));
    assert_eq!(spec.groups, Some(vec!["a".to_string(), "z".to_string()]));
    let disabled: User = from(json!({"login": "x", "enabled": false}));
    assert_eq!(user_spec(&disabled).enabled, Some(false));
}

#[test]
fn projects_lose_the_stamps_and_grants_take_their_simplest_form() {
    let mut p = ObservedProject {
        summary: from(json!({"projectKey": "P", "name": "Label", "ownerLogin": "alice"})),
        ..ObservedProject::default()
    };
    p.metadata = Some(from::<Metadata>(json!({"label": "Label", "description": "",
        "tags": ["b", "a"],
        "custom": {"kv": {"dssctl.stack": "default", "costCenter": "42"}}})));
    p.permissions = Some(ProjectPermissions {
        owner: Some("alice".into()),
        permissions: vec![
            PermissionGrant {
                group: Some("readers".into()),
                user: None,
                flags: from(json!({"readDashboards": true})),
            },
            PermissionGrant {
                group: None,
                user: Some("bob".into()),
                flags: from(json!({"writeProjectContent": true, "runScenarios": false})),
            },
        ],
        extra: Map::new(),
    });
    p.variables = Some(from(json!({"standard": {"k": 1}, "local": {}})));
    let spec = project_spec(&p);
    assert_eq!(spec.label.as_deref(), Some("Label"));
    assert_eq!(spec.description, None);
    assert_eq!(spec.tags, Some(vec!["a".to_string(), "b".to_string()]));
    assert_eq!(
        serde_json::to_value(&spec.custom).unwrap(),
        json!({"kv": {"costCenter": "42"}})
    );
    assert_eq!(spec.owner.as_deref(), Some("alice"));
    let grants = spec.permissions.unwrap();
    // Rights that are exactly a legacy type are written as it; the others as granted flags.
    let bob = grants.iter().find(|g| g.user.as_deref() == Some("bob")).unwrap();
    assert_eq!(bob.permission_type, None);
    assert_eq!(bob.write_project_content, Some(true));
    assert_eq!(bob.read_project_content, Some(true));
    assert_eq!(bob.run_scenarios, None);
    let readers = grants
        .iter()
        .find(|g| g.group.as_deref() == Some("readers"))
        .unwrap();
    assert_eq!(readers.permission_type.as_deref(), Some("READER"));
    let vars = spec.variables.unwrap();
    assert_eq!(vars.standard.unwrap()["k"], json!(1));
    assert_eq!(vars.local, None);

    // A stamp alone leaves no custom map at all.
    p.metadata = Some(from::<Metadata>(
        json!({"label": "L", "custom": {"kv": {"dssctl.stack": "default"}}}),
    ));
    assert_eq!(project_spec(&p).custom, None);
}

#[test]
fn datasets_drop_creation_defaults_and_normalise_columns() {
    let def: Dataset = from(json!({"projectKey": "P", "name": "d", "type": "Filesystem",
        "managed": false,
        "params": {"connection": "fs", "path": "/p", "notReadyIfEmpty": false,
                   "filesSelectionRules": {"mode": "ALL"}},
        "formatType": "csv",
        "formatParams": {"style": "excel", "probableNumberOfRecords": 0},
        "schema": {"columns": [{"name": "id", "type": "BIGINT", "originalType": "int8"},
                               {"name": "s", "type": "string", "maxLength": -1, "comment": ""}]},
        "tags": ["t"]}));
    let ds = ObservedDataset {
        definition: def,
        metadata: Some(from(json!({"label": "D", "tags": ["t"], "custom": {"kv": {}}}))),
        schema: None,
    };
    let spec = dataset_spec(&ds);
    assert_eq!(
        serde_json::to_value(&spec.params).unwrap(),
        json!({"connection": "fs", "path": "/p"})
    );
    assert_eq!(
        serde_json::to_value(&spec.format_params).unwrap(),
        json!({"style": "excel"})
    );
    assert_eq!(spec.managed, None);
    let cols = spec.schema.unwrap().columns;
    assert_eq!(cols[0].column_type, "bigint");
    assert_eq!(cols[1].max_length, None);
    assert_eq!(cols[1].comment, None);
    assert_eq!(spec.label.as_deref(), Some("D"));
    assert_eq!(spec.custom, None);
}

#[test]
fn global_variables_never_include_the_ledgers() {
    let globals: Map<String, Value> =
        from(json!({"env": "prod", "dssctl.ledger.default": "{}", "gone": null}));
    let spec = variables_spec(&globals).unwrap();
    assert_eq!(spec.values.keys().collect::<Vec<_>>(), vec!["env"]);
    assert_eq!(spec.prune, None);
    let only_ledger: Map<String, Value> = from(json!({"dssctl.ledger.default": "{}"}));
    assert!(variables_spec(&only_ledger).is_none());
}

#[test]
fn schema_references_are_relative_to_the_file() {
    assert_eq!(
        relative_path(Path::new("/r/out/projects"), Path::new("/r/schemas/s.json")),
        PathBuf::from("../../schemas/s.json")
    );
    assert_eq!(
        relative_path(Path::new("/r"), Path::new("/r/schemas/s.json")),
        PathBuf::from("schemas/s.json")
    );
}

fn quickstart() -> Vec<Declared> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    crate::manifest::load_paths(&[dir])
        .expect("the quickstart loads")
        .resources
}

fn secret(_: &crate::manifest::SecretRef, _: &Origin) -> Result<String, String> {
    Ok("a value".into())
}

#[test]
fn the_plan_of_an_export_adopts_everything_without_a_change() {
    let mut observed = simulate_apply(&quickstart(), &secret);
    // As if another tool had made the instance: no ledger, so every resource is adopted.
    observed.ledger = None;
    let all: Vec<_> = exportable().map(|k| k.id()).collect();
    let exported = export_of(&observed, &all);
    // The simulated instance's projects are owned by its built-in `admin`, which is not a
    // listed user: left unmanaged (and said), not exported as a dangling reference.
    assert_eq!(exported.notes.len(), 2, "{:?}", exported.notes);
    assert!(exported.notes.iter().all(|n| n.contains("\"admin\"")));
    assert_eq!(env_names(&exported.secrets), vec!["DSS_CONN_WAREHOUSE_PASSWORD"]);

    // Through the YAML text and the loader, as `plan DIR` would read it.
    let dir = tempfile::tempdir().unwrap();
    for (rel, resources) in &exported.files {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, file_text(resources, None).unwrap()).unwrap();
    }
    let loaded = crate::manifest::load_paths(&[dir.path().to_path_buf()]).expect("the export loads");
    // 2 groups, 3 users, 2 connections, the variables, 2 projects and their 5 datasets.
    assert_eq!(loaded.resources.len(), 15);

    let p = plan(&PlanInput {
        desired: &loaded.resources,
        observed: &observed,
        stack: "default",
        target: "test",
        resolve_secret: &secret,
    });
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    for op in &p.operations {
        assert!(
            op.changes.is_empty(),
            "{} {}: {:?}",
            op.kind.as_str(),
            op.name,
            op.changes
        );
        assert!(
            op.action == Action::Adopt || op.kind == crate::kinds::variables::ID,
            "{} {} is {:?}",
            op.kind.as_str(),
            op.name,
            op.action
        );
    }
}

#[test]
fn files_start_with_the_schema_line_and_comment_the_secrets() {
    let conn: Connection = from(json!({"name": "wh", "type": "PostgreSQL",
        "params": {"password": "e:AES:x"}}));
    let mut secrets = Vec::new();
    let r = Resource::new(
        &crate::kinds::connection::KIND,
        ObjectMeta {
            name: "wh".into(),
            project: None,
            annotations: Default::default(),
        },
        connection_spec(&conn, &mut secrets),
    );
    let text = file_text(&[r.clone(), r], Some("../schemas/dssctl.schema.json")).unwrap();
    assert!(text.starts_with(
        "# yaml-language-server: $schema=../schemas/dssctl.schema.json\napiVersion: dssctl/v1\n"
    ));
    assert_eq!(text.matches("\n---\n").count(), 1);
    assert!(
        text.contains("fromEnv: DSS_CONN_WH_PASSWORD  # secret:"),
        "{text}"
    );
}

#[test]
fn ambiguous_texts_survive_the_yaml_round_trip() {
    let vars: Map<String, Value> = from(json!({
        "a": "5432", "b": "true", "c": "null", "d": "04-01", "e": "yes", "f": "1e3",
        "g": "two\nlines", "h": "# not a comment", "i": "", "j": 0.7, "k": [1, "x"],
        "l": {"nested": "~"}
    }));
    let r = Resource::new(
        &crate::kinds::variables::KIND,
        ObjectMeta {
            name: "global".into(),
            project: None,
            annotations: Default::default(),
        },
        variables_spec(&vars).unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("variables.yaml");
    std::fs::write(&path, file_text(&[r], None).unwrap()).unwrap();
    let loaded = crate::manifest::load_paths(&[path]).expect("loads");
    match loaded.resources[0]
        .resource
        .spec::<crate::kinds::variables::VariablesSpec>()
    {
        Some(spec) => {
            let back: Map<String, Value> = spec.values.clone().into_iter().collect();
            assert_eq!(back, vars);
        }
        None => panic!("{:?}", loaded.resources[0].resource),
    }
}
