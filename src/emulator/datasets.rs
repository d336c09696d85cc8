//! Datasets: list (full definitions, as DSS answers, with the tags filter), create (plain and
//! managed), get, update, delete (with `dropData`), rename, metadata, schema, data, partitions,
//! clear (whole or by partition), info, usages, last metrics, and `actions/copyTo`.
//!
//! The definition is the one stored document; metadata and schema are views onto it:
//! metadata `description`, `shortDesc`, `tags` ↔ the same top-level fields, `custom` ↔
//! `customMeta`, and `label`, `checklists`, `customFields` ↔ top-level fields of those names;
//! schema ↔ `schema`. Every save bumps `versionTag`; `creationTag` is set once (with
//! `extendedProperties: {}`).
//!
//! Defaults filled when absent, as DSS fills them (at create and on every save, never
//! overriding what was sent; a plan compares only what its manifests declare): `managed: false`,
//! `params: {}` plus `params.notReadyIfEmpty: false` and, for file-based types,
//! `params.filesSelectionRules`; `formatParams: {}` and, for `formatType: csv`, the 20 csv
//! options of [`csv_format_defaults`]; `schema: {"columns": [], "userModified": false}`,
//! `tags: []`, `customMeta: {"kv": {}}`, `checklists`, `customFields`, `flowOptions`,
//! `readWriteOptions`, `partitioning` (no dimensions), `metrics` (the basic and record-count
//! probes), `metricsChecks`, `checks: []`, `typeSystemVersion: "V2"`, `dkuProperties: []`.
//!
//! Data: a dataset whose `params.connection` is a SQL connection and whose `params.table` is set
//! reads and clears that table of the connection's SQLite database (`${projectKey}` resolved);
//! a Filesystem dataset reads the rows a recipe wrote (see `flow_exec`); any other dataset
//! holds no rows. Partitions: `["NP"]` when not partitioned; otherwise the distinct values of
//! the partitioning columns in the table, or the partition folders of a Filesystem dataset's
//! files (one folder level per dimension).

use axum::http::StatusCode;
use axum::routing;
use std::sync::Arc;

use serde_json::{Value, json};

use super::http::{self, ApiError, ApiResult};
use super::router::{Api, App, Params, Req, Routes};
use super::sql;
use super::store::{self, Doc, paths};
use crate::wire;

/// Top-level fields a metadata save must never overwrite.
const RESERVED: [&str; 11] = [
    "projectKey",
    "name",
    "type",
    "managed",
    "params",
    "formatType",
    "formatParams",
    "schema",
    "versionTag",
    "creationTag",
    "partitioning",
];

fn fill_defaults(doc: &mut Doc) {
    let defaults = [
        ("managed", json!(false)),
        ("params", json!({})),
        ("formatParams", json!({})),
        ("schema", json!({"columns": [], "userModified": false})),
        ("tags", json!([])),
        ("customMeta", json!({"kv": {}})),
        ("checklists", json!({"checklists": []})),
        ("customFields", json!({})),
        (
            "flowOptions",
            json!({"virtualizable": false, "rebuildBehavior": "NORMAL", "crossProjectBuildBehavior": "DEFAULT"}),
        ),
        (
            "readWriteOptions",
            json!({"preserveOrder": false, "writeBuckets": 1, "forceSingleOutputFile": false,
                "defaultReadOrdering": {"enabled": false, "rules": []}}),
        ),
        (
            "partitioning",
            json!({"dimensions": [], "ignoreNonMatchingFile": false,
                "considerMissingRequestedPartitionsAsEmpty": false}),
        ),
        (
            "metrics",
            json!({"probes": [{"type": "basic", "enabled": true, "computeOnBuildMode": "PARTITION",
                    "meta": {"name": "Basic data", "level": 0}, "configuration": {}},
                {"type": "records", "enabled": true, "computeOnBuildMode": "NO",
                    "meta": {"name": "Record count", "level": 0}, "configuration": {}}],
                "engineConfig": {"padRunsWithMetrics": false,
                    "hive": {"active": true, "extraConf": []},
                    "basic": {}, "dss": {"active": true, "selection": {"useMemTable": false,
                        "filter": {"distinct": false, "enabled": false}, "partitionSelectionMethod": "ALL",
                        "latestPartitionsN": 1, "ordering": {"enabled": false, "rules": []},
                        "samplingMethod": "FULL", "maxRecords": -1, "targetRatio": 0.02,
                        "ascending": true, "withinFirstN": -1, "maxReadUncompressedBytes": -1}},
                    "sql": {"active": true}, "impala": {"active": true}, "spark": {"active": true, "extraConf": []},
                    "python": {}},
                "displayedState": {"columns": [], "metrics": ["basic:COUNT_COLUMNS", "basic:COUNT_FILES",
                    "basic:SIZE", "records:COUNT_RECORDS"]}}),
        ),
        (
            "metricsChecks",
            json!({"runOnBuild": false, "checks": [], "displayedState": {"checks": []}}),
        ),
        ("checks", json!([])),
        ("typeSystemVersion", json!("V2")),
        ("dkuProperties", json!([])),
    ];
    for (k, v) in defaults {
        if doc.get(k).is_none_or(Value::is_null) {
            doc.insert(k.into(), v);
        }
    }
    let is_sql = doc
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(sql::is_sql_type);
    if let Some(Value::Object(params)) = doc.get_mut("params") {
        params.entry("notReadyIfEmpty").or_insert_with(|| json!(false));
        if !is_sql {
            params.entry("filesSelectionRules").or_insert_with(
                || json!({"mode": "ALL", "excludeRules": [], "includeRules": [], "explicitFiles": []}),
            );
        }
    }
    if doc.get("formatType").and_then(Value::as_str) == Some("csv")
        && let Some(Value::Object(format)) = doc.get_mut("formatParams")
    {
        for (k, v) in csv_format_defaults() {
            format.entry(k).or_insert(v);
        }
    }
}

/// The csv `formatParams` DSS writes in a dataset definition when a format option is not set
/// (as seen in dataset definitions DSS pushes to Git).
fn csv_format_defaults() -> Vec<(String, Value)> {
    [
        ("style", json!("excel")),
        ("charset", json!("utf8")),
        ("separator", json!("\t")),
        ("quoteChar", json!("\"")),
        ("escapeChar", json!("\\")),
        ("dateSerializationFormat", json!("ISO")),
        ("arrayMapFormat", json!("json")),
        (
            "hiveSeparators",
            json!(["\u{2}", "\u{3}", "\u{4}", "\u{5}", "\u{6}", "\u{7}", "\u{8}"]),
        ),
        ("skipRowsBeforeHeader", json!(0)),
        ("parseHeaderRow", json!(false)),
        ("skipRowsAfterHeader", json!(0)),
        ("probableNumberOfRecords", json!(0)),
        ("normalizeBooleans", json!(false)),
        ("normalizeDoubles", json!(true)),
        ("readAdditionalColumnsBehavior", json!("INSERT_IN_DATA_WARNING")),
        ("readMissingColumnsBehavior", json!("DISCARD_SILENT")),
        ("readDataTypeMismatchBehavior", json!("DISCARD_WARNING")),
        ("writeDataTypeMismatchBehavior", json!("DISCARD_WARNING")),
        ("fileReadFailureBehavior", json!("FAIL")),
        ("compress", json!("")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Check a definition against the wire type (names, types of the known fields) and normalise
/// it: nulls dropped, tags sorted, project key forced to the path's.
fn check_definition(mut doc: Doc, key: &str) -> Result<Doc, ApiError> {
    store::drop_nulls(&mut doc);
    doc.insert("projectKey".into(), json!(key));
    let typed: wire::Dataset = serde_json::from_value(Value::Object(doc.clone()))
        .map_err(|err| ApiError::illegal(format!("invalid dataset definition: {err}")))?;
    store::validate_dataset_name(&typed.name)?;
    if typed.dataset_type.trim().is_empty() {
        return Err(ApiError::illegal("invalid dataset definition: 'type' is empty"));
    }
    if let Some(schema) = doc.get("schema") {
        check_schema(schema)?;
    }
    let tags = store::sorted_tags(doc.get("tags"), "dataset")?;
    doc.insert("tags".into(), tags);
    fill_defaults(&mut doc);
    Ok(doc)
}

fn check_schema(schema: &Value) -> Result<(), ApiError> {
    let columns = schema.get("columns");
    match columns {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(cols)) => {
            for (i, c) in cols.iter().enumerate() {
                let name = c.get("name").and_then(Value::as_str);
                let ty = c.get("type").and_then(Value::as_str);
                if name.is_none_or(str::is_empty) || ty.is_none_or(str::is_empty) {
                    return Err(ApiError::illegal(format!(
                        "schema column #{}: every column needs a name and a type, got {c}",
                        i + 1
                    )));
                }
            }
            Ok(())
        }
        Some(other) => Err(ApiError::illegal(format!(
            "schema columns must be a list, got {}",
            http::kind_of(other)
        ))),
    }
}

fn dataset<'a>(st: &'a store::Store, key: &str, name: &str) -> Result<&'a Arc<store::Stored>, ApiError> {
    st.project(key)?
        .datasets
        .get(name)
        .ok_or_else(|| store::dataset_not_found(key, name))
}

pub(crate) fn list(app: &App, req: &Req, key: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    // `foreign` (datasets shared from other projects) is accepted; nothing is ever shared.
    req.query.bool("foreign", false)?;
    let wanted = req.query.list("tags");
    let items: Vec<Arc<store::Stored>> = {
        let st = app.read();
        st.project(key)?
            .datasets
            .values()
            .filter(|d| wanted.is_empty() || store::has_any_tag(d.get("tags"), &wanted))
            .cloned()
            .collect()
    };
    // Serialised after the lock is released (the list can be large), each definition once.
    Ok(http::json_bytes(
        StatusCode::OK,
        store::Stored::json_array(&items),
    ))
}

pub(crate) async fn create(app: &App, req: &Req, key: &str) -> ApiResult {
    req.caller.require(key, "WRITE_CONF")?;
    let body = http::body_object(&req.body)?;
    let mut doc = check_definition(body, key)?;
    let login = req.caller.login();
    doc.insert("creationTag".into(), store::creation_tag(&login));
    store::bump_version(&mut doc, None, &login);
    insert_new(app, key, doc).await
}

async fn insert_new(app: &App, key: &str, mut doc: Doc) -> ApiResult {
    let name = doc["name"].as_str().unwrap_or_default().to_string();
    if let Some(Value::Object(tag)) = doc.get_mut("creationTag") {
        tag.entry("extendedProperties").or_insert_with(|| json!({}));
    }
    let pending = {
        let mut st = app.write();
        let project = st.project_mut(key)?;
        if project.datasets.contains_key(&name) {
            return Err(ApiError::already_exists(format!(
                "Dataset '{key}.{name}' already exists"
            )));
        }
        let pending = app
            .persist
            .put(paths::dataset(key, &name), &Value::Object(doc.clone()));
        project.datasets.insert(name.clone(), store::Stored::new(doc));
        pending
    };
    app.persist.run([pending]).await?;
    Ok(http::msg(format!("Created dataset {key}.{name}")))
}

/// `POST /projects/{k}/datasets/managed`: a dataset stored by DSS in a connection.
pub(crate) async fn create_managed(app: &App, req: &Req, key: &str) -> ApiResult {
    req.caller.require(key, "WRITE_CONF")?;
    let body = http::body_object(&req.body)?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::illegal("managed dataset: 'name' is required"))?
        .to_string();
    store::validate_dataset_name(&name)?;
    let settings = body.get("creationSettings").cloned().unwrap_or(json!({}));
    let conn_name = settings
        .get("connectionId")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::illegal("managed dataset: 'creationSettings.connectionId' is required"))?
        .to_string();
    let conn_type = {
        let st = app.read();
        st.project(key)?;
        st.connections
            .get(&conn_name)
            .and_then(|c| c.get("type"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| ApiError::no_connection(&conn_name))?
    };
    let mut doc = Doc::new();
    doc.insert("name".into(), json!(name));
    doc.insert("managed".into(), json!(true));
    if sql::is_sql_type(&conn_type) {
        doc.insert("type".into(), json!(conn_type));
        doc.insert(
            "params".into(),
            json!({"connection": conn_name, "mode": "table", "table": format!("${{projectKey}}_{name}"), "notReadyIfEmpty": false}),
        );
    } else {
        let ty = if conn_type.is_empty() {
            "Filesystem".to_string()
        } else {
            conn_type
        };
        doc.insert("type".into(), json!(ty));
        doc.insert(
            "params".into(),
            json!({"connection": conn_name, "path": format!("${{projectKey}}/{name}"), "notReadyIfEmpty": false}),
        );
        let format = settings
            .get("specificSettings")
            .and_then(|s| s.get("formatOptionId"))
            .and_then(Value::as_str)
            .unwrap_or("csv");
        doc.insert("formatType".into(), json!(format));
        doc.insert(
            "formatParams".into(),
            json!({"style": "excel", "charset": "utf8", "separator": "\t", "quoteChar": "\"", "escapeChar": "\\"}),
        );
    }
    let mut doc = check_definition(doc, key)?;
    let login = req.caller.login();
    doc.insert("creationTag".into(), store::creation_tag(&login));
    store::bump_version(&mut doc, None, &login);
    insert_new(app, key, doc).await
}

pub(crate) fn get(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let doc = dataset(&app.read(), key, name)?.clone();
    Ok(http::json_bytes(StatusCode::OK, doc.json().clone()))
}

/// Replace a stored dataset by `f(old)`, bumping its version; returns the answer message.
async fn save_with(
    app: &App,
    req: &Req,
    key: &str,
    name: &str,
    what: &str,
    f: impl FnOnce(&Doc) -> Result<Doc, ApiError>,
) -> ApiResult {
    let login = req.caller.login();
    let pending = {
        let mut st = app.write();
        let project = st.project_mut(key)?;
        let old = project
            .datasets
            .get(name)
            .ok_or_else(|| store::dataset_not_found(key, name))?;
        let mut doc = f(old)?;
        match old.get("creationTag") {
            Some(tag) => doc.insert("creationTag".into(), tag.clone()),
            None => doc.remove("creationTag"),
        };
        store::bump_version(&mut doc, old.get("versionTag"), &login);
        let pending = app
            .persist
            .put(paths::dataset(key, name), &Value::Object(doc.clone()));
        project.datasets.insert(name.to_string(), store::Stored::new(doc));
        pending
    };
    app.persist.run([pending]).await?;
    Ok(http::msg(format!("Saved {what} of dataset {key}.{name}")))
}

pub(crate) async fn put(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
    req.caller.require(key, "WRITE_CONF")?;
    let mut body = http::body_object(&req.body)?;
    match body.get("name") {
        None | Some(Value::Null) => {
            body.insert("name".into(), json!(name));
        }
        Some(Value::String(n)) if n == name => {}
        Some(other) => {
            return Err(ApiError::illegal(format!(
                "dataset name {other} does not match the path ('{name}'); rename with actions/renameDataset"
            )));
        }
    }
    let doc = check_definition(body, key)?;
    save_with(app, req, key, name, "settings", |_| Ok(doc)).await
}

pub(crate) async fn delete(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
    req.caller.require(key, "WRITE_CONF")?;
    req.caller.require(key, "WRITE_DATA")?;
    // `dropData` comes as a query parameter, or in a body from some clients.
    let mut drop_data = req.query.bool("dropData", false)?;
    if let Ok(Value::Object(b)) = http::body_value(&req.body)
        && let Some(v) = b.get("dropData")
    {
        drop_data |= v.as_bool().unwrap_or(false) || v.as_str().and_then(http::parse_bool).unwrap_or(false);
    }
    let (pending, removed) = {
        let mut st = app.write();
        let project = st.project_mut(key)?;
        let removed = project
            .datasets
            .remove(name)
            .ok_or_else(|| store::dataset_not_found(key, name))?;
        (app.persist.remove(paths::dataset(key, name)), removed)
    };
    app.persist.run([pending]).await?;
    if drop_data && let Some((conn, table)) = sql_table(app, key, &removed) {
        app.sql
            .execute_admin(
                &conn,
                &format!("DROP TABLE IF EXISTS {}", sql::quote_ident(&table)),
            )
            .await?;
    }
    Ok(http::msg(format!("Deleted dataset {key}.{name}")))
}

pub(crate) async fn rename(app: &App, req: &Req, key: &str) -> ApiResult {
    req.caller.require(key, "WRITE_CONF")?;
    let body = http::body_object(&req.body)?;
    let get = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| ApiError::illegal(format!("rename: '{k}' is required")))
    };
    let (old_name, new_name) = (get("oldName")?, get("newName")?);
    store::validate_dataset_name(&new_name)?;
    let login = req.caller.login();
    let pending = {
        let mut st = app.write();
        let project = st.project_mut(key)?;
        if project.datasets.contains_key(&new_name) {
            return Err(ApiError::already_exists(format!(
                "Dataset '{key}.{new_name}' already exists"
            )));
        }
        let old = project
            .datasets
            .remove(&old_name)
            .ok_or_else(|| store::dataset_not_found(key, &old_name))?;
        let mut doc = (*old).clone();
        doc.insert("name".into(), json!(new_name));
        store::bump_version(&mut doc, old.get("versionTag"), &login);
        let write = app
            .persist
            .put(paths::dataset(key, &new_name), &Value::Object(doc.clone()));
        let remove = app.persist.remove(paths::dataset(key, &old_name));
        project.datasets.insert(new_name.clone(), store::Stored::new(doc));
        [write, remove]
    };
    app.persist.run(pending).await?;
    Ok(http::msg(format!(
        "Renamed dataset {key}.{old_name} to {new_name}"
    )))
}

/// The metadata view of a definition.
fn metadata_of(doc: &Doc) -> Value {
    let mut out = Doc::new();
    for k in ["label", "description", "shortDesc"] {
        if let Some(v) = doc.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    out.insert("tags".into(), doc.get("tags").cloned().unwrap_or(json!([])));
    out.insert(
        "custom".into(),
        doc.get("customMeta").cloned().unwrap_or(json!({"kv": {}})),
    );
    out.insert(
        "checklists".into(),
        doc.get("checklists")
            .cloned()
            .unwrap_or(json!({"checklists": []})),
    );
    out.insert(
        "customFields".into(),
        doc.get("customFields").cloned().unwrap_or(json!({})),
    );
    Value::Object(out)
}

pub(crate) fn get_metadata(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
    req.caller.require(key, "READ_METADATA")?;
    let doc = dataset(&app.read(), key, name)?.clone();
    Ok(http::json(&metadata_of(&doc)))
}

pub(crate) async fn put_metadata(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
    req.caller.require(key, "WRITE_METADATA")?;
    let mut body = http::body_object(&req.body)?;
    store::drop_nulls(&mut body);
    let tags = store::sorted_tags(body.get("tags"), "dataset metadata")?;
    body.insert("tags".into(), tags);
    save_with(app, req, key, name, "metadata", move |old| {
        let mut doc = old.clone();
        for (k, v) in body {
            match k.as_str() {
                "custom" => {
                    doc.insert("customMeta".into(), v);
                }
                k if RESERVED.contains(&k) => {}
                _ => {
                    doc.insert(k, v);
                }
            }
        }
        Ok(doc)
    })
    .await
}

pub(crate) fn get_schema(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
    req.caller.require(key, "READ_SCHEMA")?;
    let doc = dataset(&app.read(), key, name)?.clone();
    Ok(http::json(
        doc.get("schema")
            .unwrap_or(&json!({"columns": [], "userModified": false})),
    ))
}

pub(crate) async fn put_schema(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
    req.caller.require(key, "WRITE_SCHEMA")?;
    let mut body = http::body_object(&req.body)?;
    store::drop_nulls(&mut body);
    let schema = Value::Object(body);
    check_schema(&schema)?;
    save_with(app, req, key, name, "schema", move |old| {
        let mut doc = old.clone();
        let mut schema = schema;
        if schema.get("columns").is_none() {
            schema["columns"] = json!([]);
        }
        doc.insert("schema".into(), schema);
        Ok(doc)
    })
    .await
}

/// The SQL connection and resolved table behind a dataset, if it has one.
fn sql_table(app: &App, key: &str, doc: &Doc) -> Option<(String, String)> {
    let params = doc.get("params")?;
    let conn = params.get("connection")?.as_str()?.to_string();
    let table = params.get("table")?.as_str()?.replace("${projectKey}", key);
    let st = app.read();
    let ty = st.connections.get(&conn)?.get("type")?.as_str()?.to_string();
    sql::is_sql_type(&ty).then_some((conn, table))
}

pub(crate) async fn data(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
    req.caller.require(key, "READ_DATA")?;
    let doc = dataset(&app.read(), key, name)?.clone();
    let format = req.query.get("format").unwrap_or(sql::TSV_FORMAT).to_string();
    sql::check_format(&format)?;
    let rows = match sql_table(app, key, &doc) {
        Some((conn, table)) => {
            let q = format!("SELECT * FROM {}", sql::quote_ident(&table));
            app.sql.query_rows(&conn, &q).await?.1
        }
        // Filesystem datasets written by a recipe (see `flow_exec`); no file, no rows.
        None => super::flow_exec::read_rows(app, key, name, &doc)
            .await
            .ok()
            .flatten()
            .map(|(_, rows)| rows)
            .unwrap_or_default(),
    };
    Ok(sql::render_rows(&format, &rows))
}

pub(crate) fn finish_streaming(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
    req.caller.require(key, "READ_DATA")?;
    dataset(&app.read(), key, name)?;
    Ok(http::empty())
}

/// The partitioning dimensions of a definition (empty: not partitioned).
fn dimensions(doc: &Doc) -> Vec<String> {
    doc.get("partitioning")
        .and_then(|p| p.get("dimensions"))
        .and_then(Value::as_array)
        .map(|dims| {
            dims.iter()
                .filter_map(|d| d.get("name").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The SQL condition selecting a partition id (`v1|v2`, one value per dimension in order).
fn partition_condition(dims: &[String], id: &str) -> Result<String, ApiError> {
    let values: Vec<&str> = id.split('|').collect();
    if values.len() != dims.len() {
        return Err(ApiError::illegal(format!(
            "partition '{id}' does not match the {} dimension(s) of the dataset ({})",
            dims.len(),
            dims.join(", ")
        )));
    }
    Ok(dims
        .iter()
        .zip(values)
        .map(|(d, v)| {
            format!(
                "CAST({} AS TEXT) = '{}'",
                sql::quote_ident(d),
                v.replace('\'', "''")
            )
        })
        .collect::<Vec<_>>()
        .join(" AND "))
}

/// `DELETE .../data?partitions=a,b`: clear the whole dataset, or only the partitions named
/// (`NP` names the whole of an unpartitioned dataset).
pub(crate) async fn clear(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
    req.caller.require(key, "WRITE_DATA")?;
    let doc = dataset(&app.read(), key, name)?.clone();
    let partitions = req.query.list("partitions");
    let dims = dimensions(&doc);
    let condition = if partitions.is_empty() || (dims.is_empty() && partitions.iter().all(|p| p == "NP")) {
        None
    } else if dims.is_empty() {
        return Err(ApiError::illegal(format!(
            "dataset {key}.{name} is not partitioned: the only partition is NP"
        )));
    } else {
        let parts = partitions
            .iter()
            .map(|p| partition_condition(&dims, p).map(|c| format!("({c})")))
            .collect::<Result<Vec<_>, _>>()?;
        Some(parts.join(" OR "))
    };
    if let Some((conn, table)) = sql_table(app, key, &doc)
        && app.sql.table_exists(&conn, &table).await?
    {
        let mut statement = format!("DELETE FROM {}", sql::quote_ident(&table));
        if let Some(c) = condition {
            statement.push_str(&format!(" WHERE {c}"));
        }
        app.sql.execute_admin(&conn, &statement).await?;
    }
    Ok(http::msg(format!("Cleared dataset {key}.{name}")))
}

/// `GET .../partitions`: `["NP"]` for an unpartitioned dataset (the seed reference: "If the
/// dataset is not partitioned, returns [\"NP\"]"); for a partitioned SQL dataset, the
/// distinct values of its dimensions in its table (`v1|v2` for several dimensions); for a
/// partitioned Filesystem dataset, its partition folders: DSS's default file path pattern for
/// value dimensions is one folder level per dimension (`/%{dim1}/%{dim2}/.*`), so a file at
/// `v1/v2/part.csv` under the dataset's path is in partition `v1|v2`.
pub(crate) async fn partitions(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
    req.caller.require(key, "READ_DATA")?;
    let doc = dataset(&app.read(), key, name)?.clone();
    let dims = dimensions(&doc);
    if dims.is_empty() {
        return Ok(http::json(&["NP"]));
    }
    let mut ids: Vec<String> = Vec::new();
    if let Some((conn, table)) = sql_table(app, key, &doc)
        && app.sql.table_exists(&conn, &table).await?
    {
        let cols: Vec<String> = dims.iter().map(|d| sql::quote_ident(d)).collect();
        let q = format!(
            "SELECT DISTINCT {} FROM {}",
            cols.join(", "),
            sql::quote_ident(&table)
        );
        for row in app.sql.query_rows(&conn, &q).await?.1 {
            let parts: Vec<String> = row
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                })
                .collect();
            ids.push(parts.join("|"));
        }
    } else if let Some(prefix) = super::flow_exec::files_prefix(app, key, name, &doc) {
        for file in app.files.list(&prefix).await? {
            ids.extend(partition_of_file(&file.path, dims.len()));
        }
    }
    ids.sort();
    ids.dedup();
    Ok(http::json(&ids))
}

/// The partition a file of a partitioned Filesystem dataset is in: its first `dimensions`
/// folders, `|`-joined; `None` for a file not that deep (it is in no partition).
fn partition_of_file(path: &str, dimensions: usize) -> Option<String> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    (parts.len() > dimensions).then(|| parts[..dimensions].join("|"))
}

/// `GET .../usages`: where the dataset is used. The emulator has no recipes, analyses or
/// dashboards, so nothing uses a dataset.
pub(crate) fn usages(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    dataset(&app.read(), key, name)?;
    Ok(http::json(&Vec::<Value>::new()))
}

/// `GET .../metrics/last/{partition}`: the last computed metrics. The emulator computes none,
/// so the document is empty (`NP` for an unpartitioned dataset, `ALL` for all partitions).
pub(crate) fn last_metrics(app: &App, req: &Req, key: &str, name: &str, partition: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    dataset(&app.read(), key, name)?;
    Ok(http::json(&json!({"partition": partition, "metrics": []})))
}

/// `POST .../actions/copyTo`: copy the rows to another dataset (`writeMode` OVERWRITE or
/// APPEND, `syncSchema`), answered as a finished future. Data lives in SQL tables only: a copy
/// between datasets that are not both SQL tables copies the schema and no rows.
pub(crate) async fn copy_to(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
    req.caller.require(key, "READ_DATA")?;
    let body = http::body_object(&req.body)?;
    let target_key = body
        .get("targetProjectKey")
        .and_then(Value::as_str)
        .unwrap_or(key)
        .to_string();
    let target_name = http::required_str(&body, "copy", "targetDatasetName")?;
    let sync_schema = body.get("syncSchema").and_then(Value::as_bool).unwrap_or(true);
    let write_mode = body
        .get("writeMode")
        .and_then(Value::as_str)
        .unwrap_or("OVERWRITE")
        .to_string();
    if !matches!(write_mode.as_str(), "OVERWRITE" | "APPEND") {
        return Err(ApiError::illegal(format!(
            "copy: writeMode must be OVERWRITE or APPEND, got '{write_mode}'"
        )));
    }
    req.caller.require(&target_key, "WRITE_DATA")?;
    let (source, target) = {
        let st = app.read();
        (
            dataset(&st, key, name)?.clone(),
            dataset(&st, &target_key, &target_name)?.clone(),
        )
    };
    if sync_schema && let Some(schema) = source.get("schema").cloned() {
        let req_login = req.caller.login();
        let pending = {
            let mut st = app.write();
            let project = st.project_mut(&target_key)?;
            let old = project
                .datasets
                .get(&target_name)
                .ok_or_else(|| store::dataset_not_found(&target_key, &target_name))?;
            let mut doc = (**old).clone();
            doc.insert("schema".into(), schema);
            store::bump_version(&mut doc, old.get("versionTag"), &req_login);
            let p = app.persist.put(
                paths::dataset(&target_key, &target_name),
                &Value::Object(doc.clone()),
            );
            project
                .datasets
                .insert(target_name.clone(), store::Stored::new(doc));
            p
        };
        app.persist.run([pending]).await?;
    }
    let mut copied = 0usize;
    if let (Some((src_conn, src_table)), Some((dst_conn, dst_table))) =
        (sql_table(app, key, &source), sql_table(app, &target_key, &target))
        && app.sql.table_exists(&src_conn, &src_table).await?
    {
        let (columns, rows) = app
            .sql
            .query_rows(
                &src_conn,
                &format!("SELECT * FROM {}", sql::quote_ident(&src_table)),
            )
            .await?;
        let names: Vec<String> = columns.iter().map(|c| sql::quote_ident(&c.name)).collect();
        let mut statements = vec![format!(
            "CREATE TABLE IF NOT EXISTS {} ({})",
            sql::quote_ident(&dst_table),
            names.join(", ")
        )];
        if write_mode == "OVERWRITE" {
            statements.push(format!("DELETE FROM {}", sql::quote_ident(&dst_table)));
        }
        for row in &rows {
            let values: Vec<String> = row.iter().map(sql_literal).collect();
            statements.push(format!(
                "INSERT INTO {} ({}) VALUES ({})",
                sql::quote_ident(&dst_table),
                names.join(", "),
                values.join(", ")
            ));
        }
        for statement in statements {
            app.sql.execute_admin(&dst_conn, &statement).await?;
        }
        copied = rows.len();
    }
    let future_id = format!("copy-{key}-{name}-{}", store::now_ms());
    let finished = json!({"jobId": future_id, "hasResult": true, "alive": false,
        "result": {"copiedRecords": copied}, "progress": {"states": []}});
    app.write().futures.insert(future_id, finished.clone());
    Ok(http::json(&finished))
}

fn sql_literal(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Bool(b) => if *b { "1" } else { "0" }.into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        other => format!("'{}'", other.to_string().replace('\'', "''")),
    }
}

pub(crate) fn info(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let doc = dataset(&app.read(), key, name)?.clone();
    Ok(http::json(&json!({"dataset": &*doc, "partitioned": false})))
}

/// Served by the emulator: registered in the API table ([`super::router::AREAS`]).
#[linkme::distributed_slice(super::router::AREAS)]
#[allow(
    unsafe_code,
    reason = "linkme places the entry in a link section; nothing else is unsafe"
)]
static AREA: fn() -> Routes = routes;

/// The datasets area's routes.
pub(crate) fn routes() -> Routes {
    type K = Params<String>;
    type KN = Params<(String, String)>;
    Routes::new()
        .route(
            "/projects/{projectKey}/datasets",
            routing::get(|Params(k): K, a: Api| async move { list(&a.app, &a.req, &k) })
                .post(|Params(k): K, a: Api| async move { create(&a.app, &a.req, &k).await }),
        )
        .route(
            "/projects/{projectKey}/datasets/managed",
            routing::post(|Params(k): K, a: Api| async move { create_managed(&a.app, &a.req, &k).await }),
        )
        .route(
            "/projects/{projectKey}/actions/renameDataset",
            routing::post(|Params(k): K, a: Api| async move { rename(&a.app, &a.req, &k).await }),
        )
        .route(
            "/projects/{projectKey}/datasets/{datasetName}",
            routing::get(|Params((k, n)): KN, a: Api| async move { get(&a.app, &a.req, &k, &n) })
                .put(|Params((k, n)): KN, a: Api| async move { put(&a.app, &a.req, &k, &n).await })
                .delete(|Params((k, n)): KN, a: Api| async move { delete(&a.app, &a.req, &k, &n).await }),
        )
        .route(
            "/projects/{projectKey}/datasets/{datasetName}/metadata",
            routing::get(|Params((k, n)): KN, a: Api| async move { get_metadata(&a.app, &a.req, &k, &n) })
                .put(|Params((k, n)): KN, a: Api| async move { put_metadata(&a.app, &a.req, &k, &n).await }),
        )
        .route(
            "/projects/{projectKey}/datasets/{datasetName}/schema",
            routing::get(|Params((k, n)): KN, a: Api| async move { get_schema(&a.app, &a.req, &k, &n) })
                .put(|Params((k, n)): KN, a: Api| async move { put_schema(&a.app, &a.req, &k, &n).await }),
        )
        .route(
            "/projects/{projectKey}/datasets/{datasetName}/data",
            routing::get(|Params((k, n)): KN, a: Api| async move { data(&a.app, &a.req, &k, &n).await })
                .delete(|Params((k, n)): KN, a: Api| async move { clear(&a.app, &a.req, &k, &n).await }),
        )
        .route(
            "/projects/{projectKey}/datasets/{datasetName}/finish-streaming",
            routing::get(
                |Params((k, n)): KN, a: Api| async move { finish_streaming(&a.app, &a.req, &k, &n) },
            ),
        )
        .route(
            "/projects/{projectKey}/datasets/{datasetName}/partitions",
            routing::get(
                |Params((k, n)): KN, a: Api| async move { partitions(&a.app, &a.req, &k, &n).await },
            ),
        )
        .route(
            "/projects/{projectKey}/datasets/{datasetName}/usages",
            routing::get(|Params((k, n)): KN, a: Api| async move { usages(&a.app, &a.req, &k, &n) }),
        )
        .route(
            "/projects/{projectKey}/datasets/{datasetName}/metrics/last/{partition}",
            routing::get(
                |Params((k, n, p)): Params<(String, String, String)>, a: Api| async move {
                    last_metrics(&a.app, &a.req, &k, &n, &p)
                },
            ),
        )
        .route(
            "/projects/{projectKey}/datasets/{datasetName}/actions/copyTo",
            routing::post(|Params((k, n)): KN, a: Api| async move { copy_to(&a.app, &a.req, &k, &n).await }),
        )
        .route(
            "/projects/{projectKey}/datasets/{datasetName}/info",
            routing::get(|Params((k, n)): KN, a: Api| async move { info(&a.app, &a.req, &k, &n) }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_get_defaults_but_keep_what_was_sent() {
        let doc = json!({"name": "d", "type": "Filesystem", "formatParams": {"separator": ";"},
            "tags": ["b", "a"], "flowOptions": {"virtualizable": true}, "unknownField": 1});
        let doc = check_definition(doc.as_object().unwrap().clone(), "P").unwrap();
        assert_eq!(doc["projectKey"], "P");
        assert_eq!(doc["managed"], false);
        assert_eq!(doc["formatParams"], json!({"separator": ";"}));
        assert_eq!(doc["flowOptions"], json!({"virtualizable": true}));
        assert_eq!(doc["schema"]["columns"], json!([]));
        assert_eq!(doc["tags"], json!(["a", "b"]));
        assert_eq!(doc["unknownField"], 1);
    }

    #[test]
    fn bad_definitions_are_refused_with_the_reason() {
        let no_type = json!({"name": "d"}).as_object().unwrap().clone();
        assert!(
            check_definition(no_type, "P")
                .unwrap_err()
                .body
                .message
                .contains("type")
        );
        let bad_name = json!({"name": "../x", "type": "T"}).as_object().unwrap().clone();
        assert!(check_definition(bad_name, "P").is_err());
        let bad_schema = json!({"name": "d", "type": "T", "schema": {"columns": [{"name": "a"}]}});
        assert!(check_definition(bad_schema.as_object().unwrap().clone(), "P").is_err());
    }

    #[test]
    fn metadata_is_a_view_of_the_definition() {
        let doc = json!({"name": "d", "description": "x", "tags": ["t"], "customMeta": {"kv": {"a": 1}}});
        let m = metadata_of(doc.as_object().unwrap());
        assert_eq!(m["custom"]["kv"]["a"], 1);
        assert_eq!(m["description"], "x");
        assert_eq!(m["tags"], json!(["t"]));
    }

    #[test]
    fn partition_folders_of_files() {
        assert_eq!(
            partition_of_file("2024-01-01/part.csv", 1).as_deref(),
            Some("2024-01-01")
        );
        assert_eq!(
            partition_of_file("2024-01-01/fr/out.tsv", 2).as_deref(),
            Some("2024-01-01|fr")
        );
        assert_eq!(partition_of_file("part.csv", 1), None);
        assert_eq!(partition_of_file("2024-01-01/part.csv", 2), None);
    }

    #[test]
    fn partition_ids_select_one_value_per_dimension() {
        let dims = vec!["day".to_string(), "country".to_string()];
        let c = partition_condition(&dims, "2024-01-01|f'r").unwrap();
        assert_eq!(
            c,
            format!(
                "CAST({} AS TEXT) = '2024-01-01' AND CAST({} AS TEXT) = 'f''r'",
                sql::quote_ident("day"),
                sql::quote_ident("country")
            )
        );
        assert!(partition_condition(&dims, "2024-01-01").is_err());
        let doc = json!({"partitioning": {"dimensions": [{"name": "day", "type": "value"}]}});
        assert_eq!(dimensions(doc.as_object().unwrap()), vec!["day"]);
        assert!(dimensions(&Doc::new()).is_empty());
    }

    #[test]
    fn csv_definitions_get_dss_format_defaults_around_what_was_sent() {
        let doc = json!({"name": "d", "type": "Filesystem", "formatType": "csv",
            "formatParams": {"separator": ","}, "params": {"connection": "c"}});
        let doc = check_definition(doc.as_object().unwrap().clone(), "P").unwrap();
        assert_eq!(doc["formatParams"]["separator"], ",");
        assert_eq!(doc["formatParams"]["quoteChar"], "\"");
        assert_eq!(doc["formatParams"].as_object().unwrap().len(), 20);
        assert_eq!(doc["params"]["notReadyIfEmpty"], false);
        assert!(doc["params"]["filesSelectionRules"].is_object());
        assert_eq!(doc["typeSystemVersion"], "V2");
    }
}
