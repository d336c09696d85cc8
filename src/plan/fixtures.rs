//! Test fixtures: declared resources built from JSON, a sample stack, and a secret resolver
//! that reads a fixed table instead of the environment.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::manifest::{Declared, ObjectMeta, Origin, SecretRef};

/// A declared resource of `kind` from JSON `metadata` and `spec`, declared at `line`.
pub(crate) fn declared(kind: &str, meta: Value, spec: Value, line: usize) -> Declared {
    let meta: ObjectMeta = serde_json::from_value(meta).expect("valid metadata");
    let resource = crate::manifest::registry::by_name(kind)
        .unwrap_or_else(|| panic!("unknown kind {kind}"))
        .parse(meta, spec)
        .expect("a valid spec");
    Declared::new(
        resource,
        Origin {
            file: PathBuf::from("stack/app.yaml"),
            line,
            column: 1,
        },
    )
}

/// Secret values of the fixtures, by environment variable name.
pub(crate) fn secret_table(name: &str) -> Option<&'static str> {
    match name {
        "DWH_PASSWORD" => Some("s3cr3t-dwh"),
        "ALICE_PASSWORD" => Some("alice-pw-1"),
        "ROTATED" => Some("rotated-value"),
        _ => None,
    }
}

/// Resolves `fromEnv` through [`secret_table`]; `fromFile` is refused.
pub(crate) fn resolver(r: &SecretRef, _origin: &Origin) -> Result<String, String> {
    match r {
        SecretRef::FromEnv { from_env } => secret_table(from_env)
            .map(str::to_string)
            .ok_or_else(|| format!("environment variable {from_env} is not set")),
        SecretRef::FromFile { from_file } => Err(format!("cannot read {from_file} in tests")),
    }
}

/// A stack with one of each kind, in the spirit of the README quickstart.
pub(crate) fn sample() -> Vec<Declared> {
    vec![
        declared(
            "Group",
            json!({"name": "data_scientists"}),
            json!({"description": "Data scientists", "admin": false, "mayWriteSafeCode": true}),
            1,
        ),
        declared(
            "Group",
            json!({"name": "analysts"}),
            json!({"description": "Analysts"}),
            5,
        ),
        declared(
            "User",
            json!({"name": "alice"}),
            json!({"displayName": "Alice Martin",
            "groups": ["data_scientists", "analysts"], "codeAllowed": true,
            "password": {"fromEnv": "ALICE_PASSWORD"}}),
            9,
        ),
        declared(
            "Connection",
            json!({"name": "warehouse"}),
            json!({"type": "PostgreSQL",
            "allowWrite": true, "usableBy": "ALLOWED", "allowedGroups": ["data_scientists"],
            "params": {"host": "db.internal", "db": "dwh", "user": "dss",
                "password": {"fromEnv": "DWH_PASSWORD"}}}),
            16,
        ),
        declared(
            "Project",
            json!({"name": "CHURN"}),
            json!({"label": "Churn prediction",
            "description": "Predicts churn from billing data.\nUpdated weekly.\n",
            "shortDesc": "churn model", "tags": ["ml", "churn"],
            "custom": {"kv": {"costCenter": "42"}}, "owner": "alice",
            "permissions": [{"group": "data_scientists", "type": "ANALYST_READWRITE"},
                {"group": "analysts", "type": "ANALYST_READONLY"}],
            "variables": {"standard": {"threshold": 0.7}}, "protect": true}),
            26,
        ),
        declared(
            "Dataset",
            json!({"name": "customers", "project": "CHURN"}),
            json!({
            "type": "PostgreSQL",
            "params": {"connection": "warehouse", "mode": "table", "table": "${projectKey}_customers"},
            "schema": {"columns": [{"name": "id", "type": "BIGINT"},
                {"name": "email", "type": "string", "maxLength": 200}]},
            "label": "Customers", "description": "One row per customer.", "tags": ["pii"],
            "custom": {"kv": {"owner": "crm"}}}),
            44,
        ),
        declared(
            "Variables",
            json!({"name": "global"}),
            json!({"values": {"env": "prod", "region": "eu-west-1", "legacy": null}}),
            60,
        ),
        declared(
            "Build",
            json!({"name": "refresh", "project": "CHURN"}),
            json!({"outputs": [{"id": "customers"}]}),
            66,
        ),
    ]
}

/// An operation with nothing to write: for tests of what runs operations and reports them.
pub(crate) fn operation(kind: super::Kind, name: &str, action: super::Action) -> super::Operation {
    super::Operation {
        kind,
        name: name.into(),
        action,
        subdocuments: vec![],
        changes: vec![],
        writes: vec![],
        secrets: vec![],
        ledger: None,
        drop_data: false,
        origin: None,
        fingerprint: None,
        policy: Default::default(),
    }
}
