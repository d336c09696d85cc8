//! Managed folders: list, create, get, save, delete (with `dropData`), rename, their contents
//! (list, upload, download, delete a file), their usages by recipes, copying their files into
//! another folder, and their built-in metrics (`basic:COUNT_FILES`, `basic:SIZE`), computed from
//! the files at each call.
//!
//! DSS generates a folder's id (8 letters and digits); the name is free and can change
//! (`actions/renameManagedFolder`). Create fills `type` from the connection when absent (the
//! official client sends `null`), `params.path` with `/${projectKey}/${odbId}` when absent, and
//! DSS-like defaults: `partitioning`, `tags`, `checklists`, `customMeta`, `customFields`,
//! `flowOptions`, `metrics`, `versionTag`, `creationTag`. The connection must exist.
//!
//! Files live under `fs/CONNECTION/PATH` of the data dir (`${projectKey}` and `${odbId}`
//! resolved), in memory without one. Upload is the official client's multipart form (one
//! part, the file); it answers `{path, size, lastModified}`. Deleting a missing file is not an
//! error (the client says so).

use axum::routing;
use serde_json::{Value, json};

use super::collections::{COLLECTIONS, Collection};
use super::flow_state::{self, clean_path, paths};
use super::http::{self, ApiError, ApiResult};
use super::router::{Api, App, Params, Req, Routes};
use super::store::{self, Doc};

/// The managed folders of a project, by id: `projects/KEY/managedfolders/ID.json`.
pub(crate) static FOLDERS: Collection = Collection::project("managedfolders");

#[linkme::distributed_slice(COLLECTIONS)]
#[allow(
    unsafe_code,
    reason = "linkme places the slice in a link section; nothing else is unsafe"
)]
static FOLDERS_STATE: &Collection = &FOLDERS;

fn not_found(key: &str, id: &str) -> ApiError {
    ApiError::not_found(format!("managed folder does not exist: {key}.{id}"))
}

fn folder<'a>(st: &'a store::Store, key: &str, id: &str) -> Result<&'a Doc, ApiError> {
    st.project(key)?
        .flow
        .collections
        .of(&FOLDERS)
        .get(id)
        .ok_or_else(|| not_found(key, id))
}

fn fill_defaults(doc: &mut Doc) {
    let defaults = [
        ("params", json!({})),
        (
            "partitioning",
            json!({"dimensions": [], "ignoreNonMatchingFile": false,
                "considerMissingRequestedPartitionsAsEmpty": false}),
        ),
        ("tags", json!([])),
        ("checklists", json!({"checklists": []})),
        ("customMeta", json!({"kv": {}})),
        ("customFields", json!({})),
        (
            "flowOptions",
            json!({"virtualizable": false, "rebuildBehavior": "NORMAL", "crossProjectBuildBehavior": "DEFAULT"}),
        ),
        (
            "metrics",
            json!({"probes": [], "engineConfig": {}, "displayedState": {"columns": [], "metrics": []}}),
        ),
        ("description", json!("")),
    ];
    for (k, v) in defaults {
        if doc.get(k).is_none_or(Value::is_null) {
            doc.insert(k.into(), v);
        }
    }
}

/// The files prefix of a folder: `CONNECTION/PATH`.
pub(crate) fn files_prefix(key: &str, doc: &Doc) -> Result<String, ApiError> {
    let id = doc.get("id").and_then(Value::as_str).unwrap_or("");
    let params = doc.get("params");
    let conn = params
        .and_then(|p| p.get("connection"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if conn.is_empty() {
        return Err(ApiError::illegal(format!(
            "managed folder {key}.{id} has no connection"
        )));
    }
    let path = params
        .and_then(|p| p.get("path"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .replace("${projectKey}", key)
        .replace("${odbId}", id);
    let path = clean_path(&path)?;
    Ok(if path.is_empty() {
        conn.to_string()
    } else {
        format!("{conn}/{path}")
    })
}

pub(crate) fn list(app: &App, req: &Req, key: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let st = app.read();
    let items: Vec<&Doc> = st.project(key)?.flow.collections.of(&FOLDERS).values().collect();
    Ok(http::json(&items))
}

/// Create a folder from a definition; returns the stored document.
pub(crate) async fn create_folder(app: &App, key: &str, mut body: Doc, login: &str) -> Result<Doc, ApiError> {
    store::drop_nulls(&mut body);
    let name = http::required_str(&body, "managed folder", "name")?;
    if name.trim().is_empty() {
        return Err(ApiError::illegal("managed folder: 'name' is empty"));
    }
    let mut params = body
        .get("params")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let conn = params
        .get("connection")
        .and_then(Value::as_str)
        .unwrap_or("filesystem_folders")
        .to_string();
    params.insert("connection".into(), json!(conn));
    if params.get("path").is_none_or(Value::is_null) {
        params.insert("path".into(), json!("/${projectKey}/${odbId}"));
    }
    let (doc, pending) = {
        let mut st = app.write();
        let conn_type = st
            .connections
            .get(&conn)
            .map(|c| {
                c.get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("Filesystem")
                    .to_string()
            })
            .ok_or_else(|| ApiError::no_connection(&conn))?;
        let project = st.project_mut(key)?;
        let id = match body.get("id").and_then(Value::as_str) {
            Some(id) => {
                flow_state::validate_id(id, "managed folder id")?;
                if project.flow.collections.of(&FOLDERS).contains_key(id) {
                    return Err(ApiError::already_exists(format!(
                        "Managed folder '{key}.{id}' already exists"
                    )));
                }
                id.to_string()
            }
            None => flow_state::fresh_id(project.flow.collections.of(&FOLDERS), 8),
        };
        let mut doc = body;
        doc.insert("id".into(), json!(id));
        doc.insert("projectKey".into(), json!(key));
        doc.insert("name".into(), json!(name));
        if doc.get("type").is_none() {
            doc.insert("type".into(), json!(conn_type));
        }
        doc.insert("params".into(), Value::Object(params));
        let tags = store::sorted_tags(doc.get("tags"), "managed folder")?;
        doc.insert("tags".into(), tags);
        fill_defaults(&mut doc);
        doc.insert("creationTag".into(), store::creation_tag(login));
        store::bump_version(&mut doc, None, login);
        let pending = app
            .persist
            .put(FOLDERS.path(key, &id), &Value::Object(doc.clone()));
        project.flow.collections.of_mut(&FOLDERS).insert(id, doc.clone());
        (doc, pending)
    };
    app.persist.run([pending]).await?;
    Ok(doc)
}

pub(crate) async fn create(app: &App, req: &Req, key: &str) -> ApiResult {
    req.caller.require(key, "WRITE_CONF")?;
    let body = http::body_object(&req.body)?;
    let doc = create_folder(app, key, body, &req.caller.login()).await?;
    Ok(http::json(&doc))
}

pub(crate) fn get(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let st = app.read();
    Ok(http::json(folder(&st, key, id)?))
}

pub(crate) async fn put(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    req.caller.require(key, "WRITE_CONF")?;
    let mut body = http::body_object(&req.body)?;
    store::drop_nulls(&mut body);
    if let Some(other) = body.get("id").and_then(Value::as_str)
        && other != id
    {
        return Err(ApiError::illegal(format!(
            "managed folder id '{other}' does not match the path ('{id}')"
        )));
    }
    let login = req.caller.login();
    let pending = {
        let mut st = app.write();
        let project = st.project_mut(key)?;
        let old = project
            .flow
            .collections
            .of(&FOLDERS)
            .get(id)
            .ok_or_else(|| not_found(key, id))?;
        let mut doc = body;
        doc.insert("id".into(), json!(id));
        doc.insert("projectKey".into(), json!(key));
        if doc
            .get("name")
            .and_then(Value::as_str)
            .is_none_or(|n| n.trim().is_empty())
        {
            doc.insert("name".into(), old.get("name").cloned().unwrap_or(json!(id)));
        }
        let tags = store::sorted_tags(doc.get("tags"), "managed folder")?;
        doc.insert("tags".into(), tags);
        fill_defaults(&mut doc);
        match old.get("creationTag") {
            Some(tag) => doc.insert("creationTag".into(), tag.clone()),
            None => doc.remove("creationTag"),
        };
        store::bump_version(&mut doc, old.get("versionTag"), &login);
        let pending = app
            .persist
            .put(FOLDERS.path(key, id), &Value::Object(doc.clone()));
        project
            .flow
            .collections
            .of_mut(&FOLDERS)
            .insert(id.to_string(), doc);
        pending
    };
    app.persist.run([pending]).await?;
    Ok(http::msg(format!("Saved managed folder {key}.{id}")))
}

pub(crate) async fn delete(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    req.caller.require(key, "WRITE_CONF")?;
    let drop_data = req.query.bool("dropData", false)?;
    let (removed, pending) = {
        let mut st = app.write();
        let project = st.project_mut(key)?;
        let removed = project
            .flow
            .collections
            .of_mut(&FOLDERS)
            .remove(id)
            .ok_or_else(|| not_found(key, id))?;
        let changed = flow_state::remove_from_zones(&mut project.flow, "MANAGED_FOLDER", id);
        let mut pending: Vec<_> = changed
            .iter()
            .filter_map(|z| project.flow.zones.get(z).map(|d| (z, d)))
            .map(|(z, d)| app.persist.put(paths::zone(key, z), &Value::Object(d.clone())))
            .collect();
        pending.push(app.persist.remove(FOLDERS.path(key, id)));
        (removed, pending)
    };
    app.persist.run(pending).await?;
    if drop_data {
        app.files.delete_all(&files_prefix(key, &removed)?).await?;
    }
    Ok(http::json(
        &json!({"msg": format!("Deleted managed folder {key}.{id}")}),
    ))
}

pub(crate) async fn rename(app: &App, req: &Req, key: &str) -> ApiResult {
    req.caller.require(key, "WRITE_CONF")?;
    let body = http::body_object(&req.body)?;
    let id = http::required_str(&body, "rename", "id")?;
    let new_name = http::required_str(&body, "rename", "newName")?;
    if new_name.trim().is_empty() {
        return Err(ApiError::illegal(
            "rename: the new name cannot be made of whitespace only",
        ));
    }
    let login = req.caller.login();
    let pending = {
        let mut st = app.write();
        let project = st.project_mut(key)?;
        let doc = project
            .flow
            .collections
            .of_mut(&FOLDERS)
            .get_mut(&id)
            .ok_or_else(|| not_found(key, &id))?;
        let previous = doc.get("versionTag").cloned();
        doc.insert("name".into(), json!(new_name));
        store::bump_version(doc, previous.as_ref(), &login);
        app.persist
            .put(FOLDERS.path(key, &id), &Value::Object(doc.clone()))
    };
    app.persist.run([pending]).await?;
    Ok(http::empty())
}

fn prefix_of(app: &App, key: &str, id: &str) -> Result<String, ApiError> {
    let st = app.read();
    files_prefix(key, folder(&st, key, id)?)
}

pub(crate) async fn list_contents(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    req.caller.require(key, "READ_DATA")?;
    let prefix = prefix_of(app, key, id)?;
    let items: Vec<Value> = app
        .files
        .list(&prefix)
        .await?
        .into_iter()
        .map(|f| json!({"path": format!("/{}", f.path), "size": f.size, "lastModified": f.last_modified}))
        .collect();
    Ok(http::json(&json!({"items": items})))
}

pub(crate) async fn get_file(app: &App, req: &Req, key: &str, id: &str, path: &str) -> ApiResult {
    req.caller.require(key, "READ_DATA")?;
    let prefix = prefix_of(app, key, id)?;
    let rel = clean_path(path)?;
    let bytes = app.files.get(&format!("{prefix}/{rel}")).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "File '/{rel}' does not exist in managed folder {key}.{id}"
        ))
    })?;
    Ok(http::text("application/octet-stream", bytes))
}

pub(crate) async fn delete_file(app: &App, req: &Req, key: &str, id: &str, path: &str) -> ApiResult {
    req.caller.require(key, "WRITE_DATA")?;
    let prefix = prefix_of(app, key, id)?;
    let rel = clean_path(path)?;
    app.files.delete(&format!("{prefix}/{rel}")).await?;
    Ok(http::empty())
}

pub(crate) async fn put_file(app: &App, req: &Req, key: &str, id: &str, path: &str) -> ApiResult {
    req.caller.require(key, "WRITE_DATA")?;
    let prefix = prefix_of(app, key, id)?;
    let rel = clean_path(path)?;
    if rel.is_empty() {
        return Err(ApiError::illegal("upload: the file path is empty"));
    }
    let content = multipart_file(&req.body)?;
    let size = content.len();
    app.files.put(&format!("{prefix}/{rel}"), content).await?;
    Ok(http::json(
        &json!({"path": format!("/{rel}"), "size": size, "lastModified": store::now_ms()}),
    ))
}

/// The recipes using a folder: `[{type: RECIPE_INPUT|RECIPE_OUTPUT, objectId, objectProjectKey}]`
/// (the fields the client's docstring lists).
pub(crate) fn usages(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let st = app.read();
    folder(&st, key, id)?;
    let mut out = Vec::new();
    for (pk, project) in &st.projects {
        for (name, stored) in &project.flow.recipes {
            for (ty, refs) in [
                ("RECIPE_INPUT", flow_state::recipe_inputs(stored)),
                ("RECIPE_OUTPUT", flow_state::recipe_outputs(stored)),
            ] {
                if refs.iter().any(|r| flow_state::split_ref(pk, r) == (key, id)) {
                    out.push(json!({"type": ty, "objectId": name, "objectProjectKey": pk}));
                }
            }
        }
    }
    Ok(http::json(&out))
}

/// `actions/copyTo`: copy every file into another folder (`writeMode` OVERWRITE clears the
/// target first, APPEND keeps its files); answers a finished future, also served by
/// `/futures/{id}`.
pub(crate) async fn copy_to(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    req.caller.require(key, "READ_DATA")?;
    let body = http::body_object(&req.body)?;
    let target_key = body
        .get("targetProjectKey")
        .and_then(Value::as_str)
        .unwrap_or(key)
        .to_string();
    let target_id = http::required_str(&body, "copyTo", "targetFolderId")?;
    let mode = body
        .get("writeMode")
        .and_then(Value::as_str)
        .unwrap_or("OVERWRITE")
        .to_string();
    if mode != "OVERWRITE" && mode != "APPEND" {
        return Err(ApiError::illegal(format!(
            "copyTo: unknown writeMode '{mode}' (OVERWRITE or APPEND)"
        )));
    }
    req.caller.require(&target_key, "WRITE_DATA")?;
    let (from, to) = {
        let st = app.read();
        (
            files_prefix(key, folder(&st, key, id)?)?,
            files_prefix(&target_key, folder(&st, &target_key, &target_id)?)?,
        )
    };
    if mode == "OVERWRITE" {
        app.files.delete_all(&to).await?;
    }
    let files = app.files.list(&from).await?;
    for f in &files {
        if let Some(bytes) = app.files.get(&format!("{from}/{}", f.path)).await? {
            app.files.put(&format!("{to}/{}", f.path), bytes).await?;
        }
    }
    let future_id = format!("copy-folder-{key}-{id}-{}", store::now_ms());
    let result = json!({"messages": [], "anyMessage": false, "success": true, "warning": false,
        "error": false, "fatal": false, "copiedFiles": files.len()});
    let finished = json!({"jobId": future_id, "hasResult": true, "alive": false,
        "result": result, "progress": {"states": []}});
    app.write().futures.insert(future_id, finished.clone());
    Ok(http::json(&finished))
}

/// The built-in metrics of a folder, computed from its files now: `basic:COUNT_FILES` and
/// `basic:SIZE` as `(id, value)`.
async fn basic_metrics(app: &App, key: &str, id: &str) -> Result<Vec<(&'static str, u64)>, ApiError> {
    let prefix = prefix_of(app, key, id)?;
    let files = app.files.list(&prefix).await?;
    let size = files.iter().map(|f| f.size).sum();
    Ok(vec![
        ("basic:COUNT_FILES", files.len() as u64),
        ("basic:SIZE", size),
    ])
}

fn metric_def(id: &str) -> Value {
    let kind = id.split_once(':').map_or(id, |(_, k)| k);
    json!({"id": id, "type": "basic", "metricType": kind, "dataType": "BIGINT"})
}

/// `metrics/last`: the built-in metrics, as computed from the files at the time of the call
/// (the emulator keeps no metric history).
pub(crate) async fn last_metrics(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    req.caller.require(key, "READ_DATA")?;
    let now = store::now_ms();
    let metrics: Vec<Value> = basic_metrics(app, key, id)
        .await?
        .into_iter()
        .map(|(mid, v)| {
            json!({"metric": metric_def(mid), "metricId": mid, "displayedAsMetric": true,
                "lastValues": [{"partition": "NP", "value": v.to_string(), "time": now, "dataType": "BIGINT"}]})
        })
        .collect();
    Ok(http::json(&json!({"metrics": metrics, "checks": []})))
}

/// `metrics/history?metricLookup=ID`: one value, the current one.
pub(crate) async fn metric_history(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    req.caller.require(key, "READ_DATA")?;
    let lookup = req.query.get("metricLookup").unwrap_or("").to_string();
    let now = store::now_ms();
    let (mid, value) = basic_metrics(app, key, id)
        .await?
        .into_iter()
        .find(|(mid, _)| *mid == lookup)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Metric '{lookup}' is not computed on managed folder {key}.{id}"
            ))
        })?;
    let point = json!({"time": now, "value": value});
    Ok(http::json(
        &json!({"metricId": mid, "metric": metric_def(mid), "lastValue": point, "values": [point]}),
    ))
}

/// `actions/computeMetrics` and `actions/computeMetricsFromIds`: the built-in metrics (all, or
/// those named in `metricIds`), answered as a finished future.
pub(crate) async fn compute_metrics(app: &App, req: &Req, key: &str, id: &str, from_ids: bool) -> ApiResult {
    req.caller.require(key, "READ_DATA")?;
    let wanted: Option<Vec<String>> = if from_ids {
        let body = http::body_object(&req.body)?;
        Some(
            body.get("metricIds")
                .and_then(Value::as_array)
                .map(|ids| {
                    ids.iter()
                        .filter_map(|i| i.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        )
    } else {
        None
    };
    let start = store::now_ms();
    let computed: Vec<Value> = basic_metrics(app, key, id)
        .await?
        .into_iter()
        .filter(|(mid, _)| wanted.as_ref().is_none_or(|w| w.iter().any(|x| x == mid)))
        .map(|(mid, v)| json!({"metricId": mid, "value": v.to_string(), "dataType": "BIGINT", "partition": "NP"}))
        .collect();
    let result =
        json!({"computed": computed, "startTime": start, "endTime": store::now_ms(), "partition": "NP"});
    Ok(http::json(
        &json!({"hasResult": true, "alive": false, "result": result, "progress": {"states": []}}),
    ))
}

/// The content of the first part of a `multipart/form-data` body (the boundary is its first
/// line); a body that is not multipart is taken as the file itself.
fn multipart_file(body: &[u8]) -> Result<Vec<u8>, ApiError> {
    if !body.starts_with(b"--") {
        return Ok(body.to_vec());
    }
    let line_end =
        find(body, b"\r\n").ok_or_else(|| ApiError::illegal("upload: malformed multipart body"))?;
    let boundary = &body[..line_end];
    let headers_end = find(&body[line_end..], b"\r\n\r\n")
        .map(|i| line_end + i + 4)
        .ok_or_else(|| ApiError::illegal("upload: malformed multipart part"))?;
    let mut closing = b"\r\n".to_vec();
    closing.extend_from_slice(boundary);
    let end = find(&body[headers_end..], &closing)
        .map(|i| headers_end + i)
        .ok_or_else(|| ApiError::illegal("upload: the multipart body is not terminated"))?;
    Ok(body[headers_end..end].to_vec())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Served by the emulator: registered in the API table ([`super::router::AREAS`]).
#[linkme::distributed_slice(super::router::AREAS)]
#[allow(
    unsafe_code,
    reason = "linkme places the entry in a link section; nothing else is unsafe"
)]
static AREA: fn() -> Routes = routes;

/// This area's routes (templates as the statistics count them).
pub(crate) fn routes() -> Routes {
    type K = Params<String>;
    type KN = Params<(String, String)>;
    type K3 = Params<(String, String, String)>;
    Routes::new()
        .route(
            "/projects/{projectKey}/managedfolders",
            routing::get(|Params(k): K, a: Api| async move { list(&a.app, &a.req, &k) })
                .post(|Params(k): K, a: Api| async move { create(&a.app, &a.req, &k).await }),
        )
        .route(
            "/projects/{projectKey}/managedfolders/{folderId}",
            routing::get(|Params((k, id)): KN, a: Api| async move { get(&a.app, &a.req, &k, &id) })
                .put(|Params((k, id)): KN, a: Api| async move { put(&a.app, &a.req, &k, &id).await })
                .delete(|Params((k, id)): KN, a: Api| async move { delete(&a.app, &a.req, &k, &id).await }),
        )
        .route(
            "/projects/{projectKey}/actions/renameManagedFolder",
            routing::post(|Params(k): K, a: Api| async move { rename(&a.app, &a.req, &k).await }),
        )
        .route(
            "/projects/{projectKey}/managedfolders/{folderId}/contents",
            routing::get(|Params((k, id)): KN, a: Api| async move {
                list_contents(&a.app, &a.req, &k, &id).await
            }),
        )
        .route(
            "/projects/{projectKey}/managedfolders/{folderId}/contents/{*path}",
            routing::get(|Params((k, id, p)): K3, a: Api| async move {
                get_file(&a.app, &a.req, &k, &id, &p).await
            })
            .post(|Params((k, id, p)): K3, a: Api| async move { put_file(&a.app, &a.req, &k, &id, &p).await })
            .delete(|Params((k, id, p)): K3, a: Api| async move {
                delete_file(&a.app, &a.req, &k, &id, &p).await
            }),
        )
        .route(
            "/projects/{projectKey}/managedfolders/{folderId}/usages",
            routing::get(|Params((k, id)): KN, a: Api| async move { usages(&a.app, &a.req, &k, &id) }),
        )
        .route(
            "/projects/{projectKey}/managedfolders/{folderId}/actions/copyTo",
            routing::post(
                |Params((k, id)): KN, a: Api| async move { copy_to(&a.app, &a.req, &k, &id).await },
            ),
        )
        .route(
            "/projects/{projectKey}/managedfolders/{folderId}/metrics/last",
            routing::get(
                |Params((k, id)): KN, a: Api| async move { last_metrics(&a.app, &a.req, &k, &id).await },
            ),
        )
        .route(
            "/projects/{projectKey}/managedfolders/{folderId}/metrics/history",
            routing::get(|Params((k, id)): KN, a: Api| async move {
                metric_history(&a.app, &a.req, &k, &id).await
            }),
        )
        .route(
            "/projects/{projectKey}/managedfolders/{folderId}/actions/computeMetrics",
            routing::post(|Params((k, id)): KN, a: Api| async move {
                compute_metrics(&a.app, &a.req, &k, &id, false).await
            }),
        )
        .route(
            "/projects/{projectKey}/managedfolders/{folderId}/actions/computeMetricsFromIds",
            routing::post(|Params((k, id)): KN, a: Api| async move {
                compute_metrics(&a.app, &a.req, &k, &id, true).await
            }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_bodies_give_their_file() {
        let body = b"--abc\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\"\r\nExpires: 0\r\n\r\nhello\r\nworld\r\n--abc--\r\n";
        assert_eq!(multipart_file(body).unwrap(), b"hello\r\nworld");
        assert_eq!(multipart_file(b"raw").unwrap(), b"raw");
        assert!(multipart_file(b"--abc\r\nno end").is_err());
    }

    #[test]
    fn folder_files_live_under_connection_and_path() {
        let doc = json!({"id": "AbC", "params": {"connection": "fs", "path": "/${projectKey}/${odbId}"}});
        assert_eq!(files_prefix("P", doc.as_object().unwrap()).unwrap(), "fs/P/AbC");
        let bad = json!({"id": "x", "params": {"connection": "fs", "path": "../up"}});
        assert!(files_prefix("P", bad.as_object().unwrap()).is_err());
    }
}
