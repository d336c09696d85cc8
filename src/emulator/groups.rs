//! Groups (admin): list, create, get, update, delete; `GET /groups` lists names and
//! descriptions for every key. Groups are answered whole, with every ability flag: a flag not
//! sent is `false` ([`ABILITY_FLAGS`], the flags DSS reports in a caller's group-level
//! permissions), and flags the emulator does not know are kept as sent. Other defaults filled
//! when absent: `description: ""`, `admin: false`, `sourceType: "LOCAL"`, and the external
//! mappings `ldapGroupNames`, `ssoGroupNames`, `azureADGroupNames`, `customGroupNames` (`[]`).

use axum::routing;
use serde_json::{Value, json};

use super::collections::{COLLECTIONS, Collection};
use super::http::{self, ApiError, ApiResult};
use super::router::{Api, App, Params, Req, Routes};
use super::store::{self, Doc};

/// The groups, by name: `admin/groups/NAME.json` under the data dir.
pub(crate) static GROUPS: Collection = Collection::instance("admin/groups");

#[linkme::distributed_slice(COLLECTIONS)]
#[allow(
    unsafe_code,
    reason = "linkme places the slice in a link section; nothing else is unsafe"
)]
static GROUPS_STATE: &Collection = &GROUPS;

/// The ability flags of a group, as DSS lists them in a caller's group-level permissions.
pub(crate) const ABILITY_FLAGS: [&str; 27] = [
    "mayManageUDM",
    "mayCreateProjects",
    "mayCreateProjectsFromMacros",
    "mayCreateProjectsFromTemplates",
    "mayCreateProjectsFromDataikuApps",
    "mayWriteUnsafeCode",
    "mayWriteSafeCode",
    "mayCreateAuthenticatedConnections",
    "mayCreateCodeEnvs",
    "mayCreateClusters",
    "mayCreateCodeStudioTemplates",
    "mayDevelopPlugins",
    "mayEditLibFolders",
    "mayManageCodeEnvs",
    "mayManageClusters",
    "mayManageCodeStudioTemplates",
    "mayViewIndexedHiveConnections",
    "mayCreatePublishedAPIServices",
    "mayCreatePublishedProjects",
    "mayWriteInRootProjectFolder",
    "mayCreateActiveWebContent",
    "mayCreateWorkspaces",
    "mayShareToWorkspaces",
    "mayCreateDataCollections",
    "mayPublishToDataCollections",
    "mayManageFeatureStore",
    "mayCreateCodeStudios",
];

pub(super) fn fill_defaults(doc: &mut Doc) {
    for (k, v) in [
        ("description", json!("")),
        ("admin", json!(false)),
        ("sourceType", json!("LOCAL")),
        ("ldapGroupNames", json!([])),
        ("ssoGroupNames", json!([])),
        ("azureADGroupNames", json!([])),
        ("customGroupNames", json!([])),
    ] {
        if doc.get(k).is_none_or(Value::is_null) {
            doc.insert(k.into(), v);
        }
    }
    for flag in ABILITY_FLAGS {
        if doc.get(flag).is_none_or(Value::is_null) {
            doc.insert(flag.into(), json!(false));
        }
    }
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("Group '{name}' does not exist"))
}

pub(crate) fn list(app: &App, req: &Req) -> ApiResult {
    req.caller.require_admin()?;
    let st = app.read();
    let items: Vec<&Doc> = st.collections.of(&GROUPS).values().collect();
    Ok(http::json(&items))
}

pub(crate) async fn create(app: &App, req: &Req) -> ApiResult {
    req.caller.require_admin()?;
    let mut doc = http::body_object(&req.body)?;
    store::drop_nulls(&mut doc);
    let name = http::required_str(&doc, "group", "name")?;
    http::check_wire::<crate::wire::Group>(&doc, "group")?;
    store::validate_name(&name, "group name")?;
    fill_defaults(&mut doc);
    let pending = {
        let mut st = app.write();
        if st.collections.of(&GROUPS).contains_key(&name) {
            return Err(ApiError::already_exists(format!("Group '{name}' already exists")));
        }
        let p = app
            .persist
            .put(GROUPS.path("", &name), &Value::Object(doc.clone()));
        st.collections.of_mut(&GROUPS).insert(name.clone(), doc);
        p
    };
    app.persist.run([pending]).await?;
    Ok(http::msg(format!("Created group {name}")))
}

pub(crate) fn get(app: &App, req: &Req, name: &str) -> ApiResult {
    req.caller.require_admin()?;
    let st = app.read();
    Ok(http::json(
        st.collections
            .of(&GROUPS)
            .get(name)
            .ok_or_else(|| not_found(name))?,
    ))
}

pub(crate) async fn put(app: &App, req: &Req, name: &str) -> ApiResult {
    req.caller.require_admin()?;
    let mut doc = http::body_object(&req.body)?;
    store::drop_nulls(&mut doc);
    match doc.get("name") {
        None => {
            doc.insert("name".into(), json!(name));
        }
        Some(Value::String(n)) if n == name => {}
        Some(other) => {
            return Err(ApiError::illegal(format!(
                "group name {other} does not match the path ('{name}'); groups cannot be renamed"
            )));
        }
    }
    http::check_wire::<crate::wire::Group>(&doc, "group")?;
    fill_defaults(&mut doc);
    let pending = {
        let mut st = app.write();
        if !st.collections.of(&GROUPS).contains_key(name) {
            return Err(not_found(name));
        }
        let p = app
            .persist
            .put(GROUPS.path("", name), &Value::Object(doc.clone()));
        st.collections.of_mut(&GROUPS).insert(name.to_string(), doc);
        p
    };
    app.persist.run([pending]).await?;
    Ok(http::msg(format!("Saved group {name}")))
}

pub(crate) async fn delete(app: &App, req: &Req, name: &str) -> ApiResult {
    req.caller.require_admin()?;
    let pending = {
        let mut st = app.write();
        st.collections
            .of_mut(&GROUPS)
            .remove(name)
            .ok_or_else(|| not_found(name))?;
        app.persist.remove(GROUPS.path("", name))
    };
    app.persist.run([pending]).await?;
    Ok(http::msg(format!("Deleted group {name}")))
}

/// `GET /groups`: what any key may know of the groups.
pub(crate) fn list_info(app: &App, _req: &Req) -> ApiResult {
    let st = app.read();
    let items: Vec<Value> = st
        .collections
        .of(&GROUPS)
        .values()
        .map(|g| {
            json!({
                "name": g.get("name").cloned().unwrap_or(Value::Null),
                "description": g.get("description").cloned().unwrap_or(Value::Null),
            })
        })
        .collect();
    Ok(http::json(&items))
}

/// Served by the emulator: registered in the API table ([`super::router::AREAS`]).
#[linkme::distributed_slice(super::router::AREAS)]
#[allow(
    unsafe_code,
    reason = "linkme places the entry in a link section; nothing else is unsafe"
)]
static AREA: fn() -> Routes = routes;

/// The groups area's routes.
pub(crate) fn routes() -> Routes {
    type G = Params<String>;
    Routes::new()
        .route(
            "/groups",
            routing::get(|a: Api| async move { list_info(&a.app, &a.req) }),
        )
        .route(
            "/admin/groups",
            routing::get(|a: Api| async move { list(&a.app, &a.req) })
                .post(|a: Api| async move { create(&a.app, &a.req).await }),
        )
        .route(
            "/admin/groups/{groupName}",
            routing::get(|Params(g): G, a: Api| async move { get(&a.app, &a.req, &g) })
                .put(|Params(g): G, a: Api| async move { put(&a.app, &a.req, &g).await })
                .delete(|Params(g): G, a: Api| async move { delete(&a.app, &a.req, &g).await }),
        )
}
