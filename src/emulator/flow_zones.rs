//! Flow zones and the flow graph: list (with the built-in `default` zone), create, get, save
//! (name and color), delete, items (add, add several, move), shared items, a zone's graph, and
//! the project's flow graph; an AI-written description is refused (no language model).
//!
//! A zone is `{id, name, color, items, shared}`; DSS generates the id (7 letters and digits).
//! An object belongs to at most one zone: adding it to a zone takes it out of the others, and
//! adding it to `default` only takes it out of them. The `default` zone is computed: it holds
//! every dataset, folder and recipe no other zone holds; its name and color cannot be changed
//! and it cannot be deleted (no public source says otherwise; the stricter choice). Deleting a
//! zone sends its items back to `default`. Items are `{objectId, objectType}` exactly: the
//! official client finds an object's zone by comparing these documents as JSON text.

use axum::routing;
use serde_json::{Value, json};

use super::flow_state::{self, DEFAULT_ZONE, Flow, paths};
use super::http::{self, ApiError, ApiResult};
use super::persist::Pending;
use super::router::{Api, App, Params, Req, Routes};
use super::store::{self, Project};

const DEFAULT_COLOR: &str = "#ffffff";

fn zone_not_found(key: &str, id: &str) -> ApiError {
    ApiError::not_found(format!("Flow zone '{id}' does not exist in project {key}"))
}

/// Every flow object of a project as zone items (datasets, folders, recipes).
fn all_items(project: &Project) -> Vec<Value> {
    let mut out: Vec<Value> = project
        .datasets
        .keys()
        .map(|n| flow_state::zone_item("DATASET", n))
        .collect();
    out.extend(
        project
            .flow
            .collections
            .of(&super::managed_folders::FOLDERS)
            .keys()
            .map(|id| flow_state::zone_item("MANAGED_FOLDER", id)),
    );
    out.extend(
        project
            .flow
            .recipes
            .keys()
            .map(|n| flow_state::zone_item("RECIPE", n)),
    );
    out
}

fn default_zone(project: &Project) -> Value {
    let taken: Vec<&Value> = project
        .flow
        .zones
        .values()
        .filter_map(|z| z.get("items").and_then(Value::as_array))
        .flatten()
        .collect();
    let items: Vec<Value> = all_items(project)
        .into_iter()
        .filter(|i| !taken.contains(&i))
        .collect();
    json!({"id": DEFAULT_ZONE, "name": "Default", "color": DEFAULT_COLOR, "items": items, "shared": []})
}

fn zone_doc(project: &Project, key: &str, id: &str) -> Result<Value, ApiError> {
    if id == DEFAULT_ZONE {
        return Ok(default_zone(project));
    }
    project
        .flow
        .zones
        .get(id)
        .map(|z| Value::Object(z.clone()))
        .ok_or_else(|| zone_not_found(key, id))
}

pub(crate) fn list(app: &App, req: &Req, key: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let st = app.read();
    let project = st.project(key)?;
    let mut zones = vec![default_zone(project)];
    zones.extend(project.flow.zones.values().map(|z| Value::Object(z.clone())));
    Ok(http::json(&zones))
}

pub(crate) fn get(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let st = app.read();
    Ok(http::json(&zone_doc(st.project(key)?, key, id)?))
}

/// `POST .../flow/zones/{id}/generate-ai-description`: DSS has a language model of its AI
/// services write the zone's description. The emulator has no model, so after the checks
/// DSS makes first (the key's right, the zone exists) it refuses, saying so: an invented
/// description would be worse than none.
pub(crate) fn ai_description(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let st = app.read();
    zone_doc(st.project(key)?, key, id)?;
    Err(ApiError::illegal(
        "AI-generated descriptions need DSS's AI services (a language model), which the emulator does not have",
    ))
}

fn color_of(body: &store::Doc) -> Result<Option<String>, ApiError> {
    match body.get("color") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(c)) => {
            let ok = c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|ch| ch.is_ascii_hexdigit());
            if ok {
                Ok(Some(c.clone()))
            } else {
                Err(ApiError::illegal(format!(
                    "Invalid zone color '{c}': expected #RRGGBB"
                )))
            }
        }
        Some(other) => Err(ApiError::illegal(format!(
            "zone color must be a string, got {}",
            http::kind_of(other)
        ))),
    }
}

fn name_of(body: &store::Doc) -> Result<String, ApiError> {
    let name = http::required_str(body, "flow zone", "name")?;
    if name.trim().is_empty() {
        return Err(ApiError::illegal("flow zone: 'name' is empty"));
    }
    Ok(name)
}

pub(crate) async fn create(app: &App, req: &Req, key: &str) -> ApiResult {
    req.caller.require(key, "WRITE_CONF")?;
    let body = http::body_object(&req.body)?;
    let name = name_of(&body)?;
    let color = color_of(&body)?.unwrap_or_else(|| "#2ab1ac".to_string());
    let (doc, pending) = {
        let mut st = app.write();
        let project = st.project_mut(key)?;
        let id = flow_state::fresh_id(&project.flow.zones, 7);
        let doc = json!({"id": id, "name": name, "color": color, "items": [], "shared": []});
        let pending = app.persist.put(paths::zone(key, &id), &doc);
        project
            .flow
            .zones
            .insert(id, doc.as_object().cloned().unwrap_or_default());
        (doc, pending)
    };
    app.persist.run([pending]).await?;
    Ok(http::json(&doc))
}

pub(crate) async fn put(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    req.caller.require(key, "WRITE_CONF")?;
    let body = http::body_object(&req.body)?;
    if id == DEFAULT_ZONE {
        return Err(ApiError::illegal("The default zone cannot be modified"));
    }
    let name = name_of(&body)?;
    let color = color_of(&body)?;
    let pending = {
        let mut st = app.write();
        let project = st.project_mut(key)?;
        let zone = project
            .flow
            .zones
            .get_mut(id)
            .ok_or_else(|| zone_not_found(key, id))?;
        // Items and shared items change through their own endpoints only.
        zone.insert("name".into(), json!(name));
        if let Some(c) = color {
            zone.insert("color".into(), json!(c));
        }
        app.persist
            .put(paths::zone(key, id), &Value::Object(zone.clone()))
    };
    app.persist.run([pending]).await?;
    Ok(http::msg(format!("Saved flow zone {id}")))
}

pub(crate) async fn delete(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    req.caller.require(key, "WRITE_CONF")?;
    if id == DEFAULT_ZONE {
        return Err(ApiError::illegal("The default zone cannot be deleted"));
    }
    let pending = {
        let mut st = app.write();
        let project = st.project_mut(key)?;
        project
            .flow
            .zones
            .remove(id)
            .ok_or_else(|| zone_not_found(key, id))?;
        app.persist.remove(paths::zone(key, id))
    };
    app.persist.run([pending]).await?;
    Ok(http::msg(format!("Deleted flow zone {id}")))
}

/// The `(objectType, objectId)` of a smart ref, checked to exist in the project.
fn checked_ref(project: &Project, key: &str, body: &Value) -> Result<(String, String), ApiError> {
    let ty = body
        .get("objectType")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::illegal("zone item: 'objectType' is required"))?;
    let id = body
        .get("objectId")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::illegal("zone item: 'objectId' is required"))?;
    if let Some(pk) = body.get("projectKey").and_then(Value::as_str)
        && pk != key
    {
        return Err(ApiError::illegal(format!(
            "zone item {ty} {pk}.{id}: only objects of project {key} can be moved to its zones"
        )));
    }
    let exists = match ty {
        "DATASET" => project.datasets.contains_key(id),
        "MANAGED_FOLDER" => project
            .flow
            .collections
            .of(&super::managed_folders::FOLDERS)
            .contains_key(id),
        "RECIPE" => project.flow.recipes.contains_key(id),
        other => {
            return Err(ApiError::illegal(format!(
                "zone item: objects of type {other} are not served by the emulator"
            )));
        }
    };
    if !exists {
        return Err(ApiError::not_found(format!(
            "{ty} '{id}' does not exist in project {key}"
        )));
    }
    Ok((ty.to_string(), id.to_string()))
}

/// Persist every zone named in `ids` (call with the lock held).
fn save_zones(app: &App, key: &str, flow: &Flow, ids: &[String]) -> Vec<Option<Pending>> {
    ids.iter()
        .filter_map(|id| flow.zones.get(id).map(|z| (id, z)))
        .map(|(id, z)| app.persist.put(paths::zone(key, id), &Value::Object(z.clone())))
        .collect()
}

/// Move objects into zone `id` (out of every other zone).
async fn move_items(app: &App, key: &str, id: &str, refs: &[Value]) -> ApiResult {
    let (doc, pending) = {
        let mut st = app.write();
        let project = st.project_mut(key)?;
        if id != DEFAULT_ZONE && !project.flow.zones.contains_key(id) {
            return Err(zone_not_found(key, id));
        }
        let checked: Vec<(String, String)> = refs
            .iter()
            .map(|r| checked_ref(project, key, r))
            .collect::<Result<_, _>>()?;
        let mut changed = Vec::new();
        for (ty, oid) in &checked {
            for z in flow_state::remove_from_zones_items(&mut project.flow, ty, oid) {
                if !changed.contains(&z) {
                    changed.push(z);
                }
            }
            if let Some(zone) = project.flow.zones.get_mut(id) {
                let item = flow_state::zone_item(ty, oid);
                let items = zone.entry("items").or_insert_with(|| json!([]));
                if let Value::Array(list) = items
                    && !list.contains(&item)
                {
                    list.push(item);
                }
                if !changed.iter().any(|c| c == id) {
                    changed.push(id.to_string());
                }
            }
        }
        let pending = save_zones(app, key, &project.flow, &changed);
        (zone_doc(project, key, id)?, pending)
    };
    app.persist.run(pending).await?;
    Ok(http::json(&doc))
}

pub(crate) async fn add_item(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    req.caller.require(key, "WRITE_CONF")?;
    let body = http::body_value(&req.body)?;
    move_items(app, key, id, &[body]).await
}

pub(crate) async fn add_items(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    req.caller.require(key, "WRITE_CONF")?;
    let items = match http::body_value(&req.body)? {
        Value::Array(items) => items,
        other => {
            return Err(ApiError::illegal(format!(
                "add-items: the body must be a list of items, got {}",
                http::kind_of(&other)
            )));
        }
    };
    move_items(app, key, id, &items).await
}

pub(crate) async fn add_shared(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    req.caller.require(key, "WRITE_CONF")?;
    let body = http::body_value(&req.body)?;
    let (doc, pending) = {
        let mut st = app.write();
        let project = st.project_mut(key)?;
        let (ty, oid) = checked_ref(project, key, &body)?;
        let zone = project
            .flow
            .zones
            .get_mut(id)
            .ok_or_else(|| zone_not_found(key, id))?;
        let item = flow_state::zone_item(&ty, &oid);
        if let Value::Array(list) = zone.entry("shared").or_insert_with(|| json!([]))
            && !list.contains(&item)
        {
            list.push(item);
        }
        let doc = Value::Object(zone.clone());
        (doc.clone(), app.persist.put(paths::zone(key, id), &doc))
    };
    app.persist.run([pending]).await?;
    Ok(http::json(&doc))
}

pub(crate) async fn remove_shared(
    app: &App,
    req: &Req,
    key: &str,
    id: &str,
    ty: &str,
    oid: &str,
) -> ApiResult {
    req.caller.require(key, "WRITE_CONF")?;
    let (doc, pending) = {
        let mut st = app.write();
        let project = st.project_mut(key)?;
        let zone = project
            .flow
            .zones
            .get_mut(id)
            .ok_or_else(|| zone_not_found(key, id))?;
        let item = flow_state::zone_item(ty, oid);
        if let Some(Value::Array(list)) = zone.get_mut("shared") {
            list.retain(|i| *i != item);
        }
        let doc = Value::Object(zone.clone());
        (doc.clone(), app.persist.put(paths::zone(key, id), &doc))
    };
    app.persist.run([pending]).await?;
    Ok(http::json(&doc))
}

/// The flow graph of a project, restricted to `only` items when given (a zone's graph).
fn graph(project: &Project, key: &str, only: Option<&[Value]>) -> Value {
    let keep = |ty: &str, id: &str| only.is_none_or(|items| items.contains(&flow_state::zone_item(ty, id)));
    let mut nodes = serde_json::Map::new();
    let mut add = |name: &str, node: Value| {
        nodes.insert(name.to_string(), node);
    };
    let mut preds: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut succs: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (name, stored) in &project.flow.recipes {
        if !keep("RECIPE", name) {
            continue;
        }
        for r in flow_state::recipe_inputs(stored) {
            succs.entry(r).or_default().push(name.clone());
        }
        for r in flow_state::recipe_outputs(stored) {
            preds.entry(r).or_default().push(name.clone());
        }
    }
    for (name, stored) in &project.flow.recipes {
        if !keep("RECIPE", name) {
            continue;
        }
        let def = flow_state::recipe_def(stored);
        add(
            name,
            json!({"ref": name, "type": "RUNNABLE_RECIPE", "projectKey": key,
                "subType": def.get("type").cloned().unwrap_or(Value::Null),
                "predecessors": flow_state::recipe_inputs(stored),
                "successors": flow_state::recipe_outputs(stored)}),
        );
    }
    let mut computable = |id: &str, ty: &str, sub: Value, kind: &str| {
        if !keep(kind, id) && !preds.contains_key(id) && !succs.contains_key(id) {
            return;
        }
        add(
            id,
            json!({"ref": id, "type": ty, "projectKey": key, "subType": sub,
                "predecessors": preds.get(id).cloned().unwrap_or_default(),
                "successors": succs.get(id).cloned().unwrap_or_default()}),
        );
    };
    for (name, ds) in &project.datasets {
        computable(
            name,
            "COMPUTABLE_DATASET",
            ds.get("type").cloned().unwrap_or(Value::Null),
            "DATASET",
        );
    }
    for (id, f) in project.flow.collections.of(&super::managed_folders::FOLDERS) {
        computable(
            id,
            "COMPUTABLE_FOLDER",
            f.get("type").cloned().unwrap_or(Value::Null),
            "MANAGED_FOLDER",
        );
    }
    // Objects of other projects used by recipes, so that every ref names a node.
    for r in preds.keys().chain(succs.keys()) {
        if !nodes.contains_key(r) {
            let (p, n) = flow_state::split_ref(key, r);
            nodes.insert(
                r.clone(),
                json!({"ref": r, "type": "COMPUTABLE_DATASET", "projectKey": p, "name": n,
                    "predecessors": preds.get(r).cloned().unwrap_or_default(),
                    "successors": succs.get(r).cloned().unwrap_or_default()}),
            );
        }
    }
    json!({"projectKey": key, "nodes": nodes})
}

pub(crate) fn flow_graph(app: &App, req: &Req, key: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let st = app.read();
    Ok(http::json(&graph(st.project(key)?, key, None)))
}

pub(crate) fn zone_graph(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let st = app.read();
    let project = st.project(key)?;
    let zone = zone_doc(project, key, id)?;
    let items = zone
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Ok(http::json(&graph(project, key, Some(&items))))
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
    type K4 = Params<(String, String, String, String)>;
    Routes::new()
        .route(
            "/projects/{projectKey}/flow/graph",
            routing::get(|Params(k): K, a: Api| async move { flow_graph(&a.app, &a.req, &k) }),
        )
        .route(
            "/projects/{projectKey}/flow/zones",
            routing::get(|Params(k): K, a: Api| async move { list(&a.app, &a.req, &k) })
                .post(|Params(k): K, a: Api| async move { create(&a.app, &a.req, &k).await }),
        )
        .route(
            "/projects/{projectKey}/flow/zones/{zoneId}",
            routing::get(|Params((k, z)): KN, a: Api| async move { get(&a.app, &a.req, &k, &z) })
                .put(|Params((k, z)): KN, a: Api| async move { put(&a.app, &a.req, &k, &z).await })
                .delete(|Params((k, z)): KN, a: Api| async move { delete(&a.app, &a.req, &k, &z).await }),
        )
        .route(
            "/projects/{projectKey}/flow/zones/{zoneId}/items",
            routing::post(|Params((k, z)): KN, a: Api| async move { add_item(&a.app, &a.req, &k, &z).await }),
        )
        .route(
            "/projects/{projectKey}/flow/zones/{zoneId}/add-items",
            routing::post(
                |Params((k, z)): KN, a: Api| async move { add_items(&a.app, &a.req, &k, &z).await },
            ),
        )
        .route(
            "/projects/{projectKey}/flow/zones/{zoneId}/shared",
            routing::post(
                |Params((k, z)): KN, a: Api| async move { add_shared(&a.app, &a.req, &k, &z).await },
            ),
        )
        .route(
            "/projects/{projectKey}/flow/zones/{zoneId}/shared/{objectType}/{objectId}",
            routing::delete(|Params((k, z, t, id)): K4, a: Api| async move {
                remove_shared(&a.app, &a.req, &k, &z, &t, &id).await
            }),
        )
        .route(
            "/projects/{projectKey}/flow/zones/{zoneId}/generate-ai-description",
            routing::post(|Params((k, z)): KN, a: Api| async move { ai_description(&a.app, &a.req, &k, &z) }),
        )
        .route(
            "/projects/{projectKey}/flow/zones/{zoneId}/graph",
            routing::get(|Params((k, z)): KN, a: Api| async move { zone_graph(&a.app, &a.req, &k, &z) }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_zone_holds_what_no_other_zone_holds() {
        let mut project = Project::default();
        for n in ["a", "b"] {
            project
                .datasets
                .insert(n.into(), store::Stored::new(store::Doc::new()));
        }
        project.flow.zones.insert(
            "z".into(),
            json!({"id": "z", "items": [flow_state::zone_item("DATASET", "a")]})
                .as_object()
                .unwrap()
                .clone(),
        );
        let d = default_zone(&project);
        assert_eq!(d["items"], json!([{"objectId": "b", "objectType": "DATASET"}]));
    }

    #[test]
    fn the_graph_links_datasets_and_recipes() {
        let mut project = Project::default();
        for n in ["a", "b"] {
            project
                .datasets
                .insert(n.into(), store::Stored::new(store::Doc::new()));
        }
        project.flow.recipes.insert(
            "r".into(),
            json!({"recipe": {"type": "sync", "inputs": {"main": {"items": [{"ref": "a"}]}},
                "outputs": {"main": {"items": [{"ref": "b"}]}}}})
            .as_object()
            .unwrap()
            .clone(),
        );
        let g = graph(&project, "K", None);
        assert_eq!(g["nodes"]["a"]["successors"], json!(["r"]));
        assert_eq!(g["nodes"]["b"]["predecessors"], json!(["r"]));
        assert_eq!(g["nodes"]["r"]["type"], "RUNNABLE_RECIPE");
    }
}
