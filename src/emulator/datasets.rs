//! Datasets: list (full definitions, as DSS answers, with the tags filter), create (plain and
//! managed), get, update, delete (with `dropData`), rename, metadata, schema, data, partitions,
//! clear, info.
//!
//! The definition is the one stored document; metadata and schema are views onto it:
//! metadata `description`, `shortDesc`, `tags` ↔ the same top-level fields, `custom` ↔
//! `customMeta`, and `label`, `checklists`, `customFields` ↔ top-level fields of those names;
//! schema ↔ `schema`. Every save bumps `versionTag`; `creationTag` is set once.
//!
//! Defaults DSS-like filled when absent (at create and on every save, never overriding what
//! was sent; a plan must ignore them): `managed: false`, `params: {}`, `formatParams: {}`,
//! `schema: {"columns": [], "userModified": false}`, `tags: []`, `customMeta: {"kv": {}}`,
//! `checklists: {"checklists": []}`, `customFields: {}`, `flowOptions: {"virtualizable": false,
//! "rebuildBehavior": "NORMAL", "crossProjectBuildBehavior": "DEFAULT"}`, `readWriteOptions:
//! {"preserveOrder": false, "writeBuckets": 1, "forceSingleOutputFile": false,
//! "defaultReadOrdering": {"enabled": false, "rules": []}}`, `partitioning: {"dimensions": [],
//! "ignoreNonMatchingFile": false, "considerMissingRequestedPartitionsAsEmpty": false}`.
//! `formatParams` defaults are NOT invented: what was sent is kept.
//!
//! Data: a dataset whose `params.connection` is a SQL connection and whose `params.table` is set
//! reads and clears that table of the connection's SQLite database (`${projectKey}` resolved);
//! a Filesystem dataset reads the rows a recipe wrote (see `flow_exec`); any other dataset
//! holds no rows. Partitions: none (an empty list).

use std::sync::Arc;

use serde_json::{Value, json};

use super::http::{self, ApiError, ApiResult};
use super::router::{App, Req};
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
    ];
    for (k, v) in defaults {
        if doc.get(k).is_none_or(Value::is_null) {
            doc.insert(k.into(), v);
        }
    }
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

fn dataset<'a>(st: &'a store::Store, key: &str, name: &str) -> Result<&'a Arc<Doc>, ApiError> {
    st.project(key)?
        .datasets
        .get(name)
        .ok_or_else(|| store::dataset_not_found(key, name))
}

pub fn list(app: &App, req: &Req, key: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    // `foreign` (datasets shared from other projects) is accepted; nothing is ever shared.
    req.query.bool("foreign", false)?;
    let wanted = req.query.list("tags");
    let items: Vec<Arc<Doc>> = {
        let st = app.read();
        st.project(key)?
            .datasets
            .values()
            .filter(|d| store::has_any_tag(d.get("tags"), &wanted))
            .cloned()
            .collect()
    };
    // Serialised after the lock is released: the list can be large.
    let refs: Vec<&Doc> = items.iter().map(|d| &**d).collect();
    Ok(http::json(&refs))
}

pub async fn create(app: &App, req: &Req, key: &str) -> ApiResult {
    req.caller.require(key, "WRITE_CONF")?;
    let body = http::body_object(&req.body)?;
    let mut doc = check_definition(body, key)?;
    let login = req.caller.login();
    doc.insert("creationTag".into(), store::creation_tag(&login));
    store::bump_version(&mut doc, None, &login);
    insert_new(app, key, doc).await
}

async fn insert_new(app: &App, key: &str, doc: Doc) -> ApiResult {
    let name = doc["name"].as_str().unwrap_or_default().to_string();
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
        project.datasets.insert(name.clone(), Arc::new(doc));
        pending
    };
    app.persist.run([pending]).await?;
    Ok(http::msg(format!("Created dataset {key}.{name}")))
}

/// `POST /projects/{k}/datasets/managed`: a dataset stored by DSS in a connection.
pub async fn create_managed(app: &App, req: &Req, key: &str) -> ApiResult {
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

pub fn get(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let doc = dataset(&app.read(), key, name)?.clone();
    Ok(http::json(&*doc))
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
        project.datasets.insert(name.to_string(), Arc::new(doc));
        pending
    };
    app.persist.run([pending]).await?;
    Ok(http::msg(format!("Saved {what} of dataset {key}.{name}")))
}

pub async fn put(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
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

pub async fn delete(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
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

pub async fn rename(app: &App, req: &Req, key: &str) -> ApiResult {
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
        project.datasets.insert(new_name.clone(), Arc::new(doc));
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

pub fn get_metadata(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
    req.caller.require(key, "READ_METADATA")?;
    let doc = dataset(&app.read(), key, name)?.clone();
    Ok(http::json(&metadata_of(&doc)))
}

pub async fn put_metadata(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
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

pub fn get_schema(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
    req.caller.require(key, "READ_SCHEMA")?;
    let doc = dataset(&app.read(), key, name)?.clone();
    Ok(http::json(
        doc.get("schema")
            .unwrap_or(&json!({"columns": [], "userModified": false})),
    ))
}

pub async fn put_schema(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
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

pub async fn data(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
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

pub fn finish_streaming(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
    req.caller.require(key, "READ_DATA")?;
    dataset(&app.read(), key, name)?;
    Ok(http::empty())
}

pub async fn clear(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
    req.caller.require(key, "WRITE_DATA")?;
    let doc = dataset(&app.read(), key, name)?.clone();
    if let Some((conn, table)) = sql_table(app, key, &doc)
        && app.sql.table_exists(&conn, &table).await?
    {
        app.sql
            .execute_admin(&conn, &format!("DELETE FROM {}", sql::quote_ident(&table)))
            .await?;
    }
    Ok(http::msg(format!("Cleared dataset {key}.{name}")))
}

pub fn partitions(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
    req.caller.require(key, "READ_DATA")?;
    dataset(&app.read(), key, name)?;
    Ok(http::json(&Vec::<String>::new()))
}

pub fn info(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let doc = dataset(&app.read(), key, name)?.clone();
    Ok(http::json(&json!({"dataset": &*doc, "partitioned": false})))
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
}
