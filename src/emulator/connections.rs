//! Connections (admin): list (an object keyed by name), names, create, get, update, delete.
//!
//! `GET /connections/{name}/info` is open to every key (type and redacted params).
//!
//! Secret params are encrypted at rest (see `cipher`) and answered as `e:AES:...` (see `secrets`); a save that
//! sends a placeholder back keeps the stored secret. A missing connection is DSS's
//! `java.lang.IllegalArgumentException: Connection 'X' does not exist`, status 500.
//!
//! Defaults filled at create when absent: `description: ""`, `params: {}`, `usableBy: "ALL"`,
//! `allowedGroups: []`, `allowWrite: true`, `allowManagedDatasets: true`,
//! `allowManagedFolders: true`, `credentialsMode: "GLOBAL"`, `maxActivities: 0`,
//! `useGlobalProxy: false`, `detailsReadability: {"readableBy": "NONE", "allowedGroups": []}`,
//! and a `creationTag`. List values also carry `id` (= name) and `label` (= type), which the
//! Python client's list items read.

use axum::routing;
use serde_json::{Value, json};

use super::http::{self, ApiError, ApiResult};
use super::router::{Api, App, Params, Req, Routes};
use super::secrets;
use super::store::{self, Doc, paths};
use crate::wire;

pub(super) fn fill_defaults(doc: &mut Doc) {
    let defaults = [
        ("description", json!("")),
        ("params", json!({})),
        ("usableBy", json!("ALL")),
        ("allowedGroups", json!([])),
        ("allowWrite", json!(true)),
        ("allowManagedDatasets", json!(true)),
        ("allowManagedFolders", json!(true)),
        ("credentialsMode", json!("GLOBAL")),
        ("maxActivities", json!(0)),
        ("useGlobalProxy", json!(false)),
        (
            "detailsReadability",
            json!({"readableBy": "NONE", "allowedGroups": []}),
        ),
    ];
    for (k, v) in defaults {
        if doc.get(k).is_none_or(Value::is_null) {
            doc.insert(k.into(), v);
        }
    }
}

fn check(doc: &Doc) -> Result<(), ApiError> {
    http::check_wire::<wire::Connection>(doc, "connection")?;
    match doc.get("type") {
        Some(Value::String(t)) if !t.trim().is_empty() => {}
        _ => return Err(ApiError::illegal("connection: 'type' is required (a string)")),
    }
    match doc.get("params") {
        None | Some(Value::Object(_)) => Ok(()),
        Some(other) => Err(ApiError::illegal(format!(
            "connection: 'params' must be an object, got {}",
            http::kind_of(other)
        ))),
    }
}

fn redacted(doc: &Doc) -> Doc {
    let mut out = doc.clone();
    secrets::redact_connection(&mut out);
    out
}

pub(crate) fn list(app: &App, req: &Req) -> ApiResult {
    req.caller.require_admin()?;
    let st = app.read();
    let mut out = Doc::new();
    for (name, doc) in &st.connections {
        let mut item = redacted(doc);
        item.insert("id".into(), json!(name));
        item.insert("label".into(), doc.get("type").cloned().unwrap_or(Value::Null));
        out.insert(name.clone(), Value::Object(item));
    }
    Ok(http::json(&out))
}

/// `GET /connections/get-names?type=T|all`: open to every key, names only.
pub(crate) fn names(app: &App, req: &Req) -> ApiResult {
    let wanted = req.query.get("type").filter(|t| !t.is_empty() && *t != "all");
    let st = app.read();
    let names: Vec<&String> = st
        .connections
        .iter()
        .filter(|(_, d)| wanted.is_none_or(|w| d.get("type").and_then(Value::as_str) == Some(w)))
        .map(|(n, _)| n)
        .collect();
    Ok(http::json(&names))
}

/// `GET /connections/{name}/info`: what a user of the connection may know of it (type and
/// params, secrets redacted); `contextualProjectKey` resolves `${projectKey}` in the params.
pub(crate) fn info(app: &App, req: &Req, name: &str) -> ApiResult {
    let st = app.read();
    let doc = st
        .connections
        .get(name)
        .ok_or_else(|| ApiError::no_connection(name))?;
    let mut params = doc.get("params").cloned().unwrap_or_else(|| json!({}));
    secrets::redact_secret_keys(&mut params);
    if let Some(project) = req.query.get("contextualProjectKey")
        && let Ok(text) = serde_json::to_string(&params)
        && let Ok(resolved) = serde_json::from_str(&text.replace("${projectKey}", project))
    {
        params = resolved;
    }
    Ok(http::json(&json!({
        "name": name,
        "type": doc.get("type").cloned().unwrap_or(Value::Null),
        "params": params,
        "credentialsMode": doc.get("credentialsMode").cloned().unwrap_or(json!("GLOBAL")),
        "usableBy": doc.get("usableBy").cloned().unwrap_or(json!("ALL")),
        "allowWrite": doc.get("allowWrite").cloned().unwrap_or(json!(true)),
        "allowManagedDatasets": doc.get("allowManagedDatasets").cloned().unwrap_or(json!(true)),
        "allowManagedFolders": doc.get("allowManagedFolders").cloned().unwrap_or(json!(true)),
    })))
}

pub(crate) async fn create(app: &App, req: &Req) -> ApiResult {
    req.caller.require_admin()?;
    let mut doc = http::body_object(&req.body)?;
    store::drop_nulls(&mut doc);
    let name = http::required_str(&doc, "connection", "name")?;
    store::validate_name(&name, "connection name")?;
    check(&doc)?;
    fill_defaults(&mut doc);
    doc.insert("creationTag".into(), store::creation_tag(&req.caller.login()));
    let pending = {
        let mut st = app.write();
        if st.connections.contains_key(&name) {
            return Err(ApiError::already_exists(format!(
                "Connection '{name}' already exists"
            )));
        }
        let p = app
            .persist
            .put(paths::connection(&name), &Value::Object(doc.clone()));
        st.connections.insert(name.clone(), doc);
        p
    };
    app.persist.run([pending]).await?;
    Ok(http::msg(format!("Created connection {name}")))
}

pub(crate) fn get(app: &App, req: &Req, name: &str) -> ApiResult {
    req.caller.require_admin()?;
    let st = app.read();
    let doc = st
        .connections
        .get(name)
        .ok_or_else(|| ApiError::no_connection(name))?;
    Ok(http::json(&redacted(doc)))
}

pub(crate) async fn put(app: &App, req: &Req, name: &str) -> ApiResult {
    req.caller.require_admin()?;
    let mut body = http::body_object(&req.body)?;
    store::drop_nulls(&mut body);
    match body.get("name") {
        None => {
            body.insert("name".into(), json!(name));
        }
        Some(Value::String(n)) if n == name => {}
        Some(other) => {
            return Err(ApiError::illegal(format!(
                "connection name {other} does not match the path ('{name}'); connections cannot be renamed"
            )));
        }
    }
    check(&body)?;
    let pending = {
        let mut st = app.write();
        let old = st
            .connections
            .get(name)
            .ok_or_else(|| ApiError::no_connection(name))?;
        let old_value = Value::Object(old.clone());
        let mut new = Value::Object(body);
        secrets::restore_placeholders(&mut new, Some(&old_value));
        let mut doc = match new {
            Value::Object(doc) => doc,
            _ => Doc::new(),
        };
        fill_defaults(&mut doc);
        match old.get("creationTag") {
            Some(tag) => doc.insert("creationTag".into(), tag.clone()),
            None => doc.remove("creationTag"),
        };
        let p = app
            .persist
            .put(paths::connection(name), &Value::Object(doc.clone()));
        st.connections.insert(name.to_string(), doc);
        p
    };
    app.persist.run([pending]).await?;
    Ok(http::msg(format!("Saved connection {name}")))
}

pub(crate) async fn delete(app: &App, req: &Req, name: &str) -> ApiResult {
    req.caller.require_admin()?;
    let pending = {
        let mut st = app.write();
        st.connections
            .remove(name)
            .ok_or_else(|| ApiError::no_connection(name))?;
        app.persist.remove(paths::connection(name))
    };
    app.persist.run([pending]).await?;
    app.sql.forget(name).await?;
    Ok(http::msg(format!("Deleted connection {name}")))
}

/// Served by the emulator: registered in the API table ([`super::router::AREAS`]).
#[linkme::distributed_slice(super::router::AREAS)]
#[allow(
    unsafe_code,
    reason = "linkme places the entry in a link section; nothing else is unsafe"
)]
static AREA: fn() -> Routes = routes;

/// The connections area's routes.
pub(crate) fn routes() -> Routes {
    type N = Params<String>;
    Routes::new()
        .route(
            "/admin/connections",
            routing::get(|a: Api| async move { list(&a.app, &a.req) })
                .post(|a: Api| async move { create(&a.app, &a.req).await }),
        )
        .route(
            "/connections/get-names",
            routing::get(|a: Api| async move { names(&a.app, &a.req) }),
        )
        .route(
            "/connections/{connectionName}/info",
            routing::get(|Params(n): N, a: Api| async move { info(&a.app, &a.req, &n) }),
        )
        .route(
            "/admin/connections/{connectionName}",
            routing::get(|Params(n): N, a: Api| async move { get(&a.app, &a.req, &n) })
                .put(|Params(n): N, a: Api| async move { put(&a.app, &a.req, &n).await })
                .delete(|Params(n): N, a: Api| async move { delete(&a.app, &a.req, &n).await }),
        )
}
