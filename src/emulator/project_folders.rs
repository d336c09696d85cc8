//! Project folders (`/project-folders/...`): the `ROOT` folder, folder summaries (children and
//! projects), sub-folder creation, settings (name, owner, permissions), moves of folders and of
//! projects, deletion, locating a project, and placing a new project (`projectFolderId` of
//! project create).
//!
//! A folder is one document, `{id, name, parentId, owner, permissions, projectKeys}`; `ROOT`
//! exists from the start (owner `admin`, no parent) and is written to disk once its settings
//! are saved. A project belongs to the folder whose `projectKeys` names it, or else to `ROOT`;
//! keys of deleted projects are ignored, so deleting a project needs no folder write. Folder ids
//! are generated (DSS assigns them too; the client only ever passes ids back).
//!
//! Refusals (400 IllegalArgumentException unless said): deleting a folder that still holds
//! sub-folders or projects (DSS refuses it, the official client documents that the folder must
//! be empty), deleting, moving or renaming `ROOT`, moving a folder into itself or below itself,
//! a name that is empty or holds `/`, a name already used by a sibling (409), moving a project
//! from a folder that does not hold it. A missing folder or project is 404.

use axum::routing;
use serde_json::{Value, json};

use super::http::{self, ApiError, ApiResult};
use super::persist::Pending;
use super::router::{Api, App, Params, Req, Routes};
use super::store::{self, Doc, Store, paths};

pub(crate) const ROOT: &str = "ROOT";

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
    Routes::new()
        .route(
            "/project-folders/locate-project/{projectKey}",
            routing::get(|Params(k): K, a: Api| async move { locate(&a.app, &a.req, &k) }),
        )
        .route(
            "/project-folders/{folderId}",
            routing::get(|Params(id): K, a: Api| async move { get(&a.app, &a.req, &id) })
                .delete(|Params(id): K, a: Api| async move { delete(&a.app, &a.req, &id).await }),
        )
        .route(
            "/project-folders/{folderId}/settings",
            routing::get(|Params(id): K, a: Api| async move { get_settings(&a.app, &a.req, &id) })
                .put(|Params(id): K, a: Api| async move { put_settings(&a.app, &a.req, &id).await }),
        )
        .route(
            "/project-folders/{folderId}/children",
            routing::post(|Params(id): K, a: Api| async move { create_child(&a.app, &a.req, &id).await }),
        )
        .route(
            "/project-folders/{folderId}/default-for-project-creation",
            routing::get(|Params(id): K, a: Api| async move { get(&a.app, &a.req, &id) }),
        )
        .route(
            "/project-folders/{folderId}/move",
            routing::post(|Params(id): K, a: Api| async move { move_folder(&a.app, &a.req, &id).await }),
        )
        .route(
            "/project-folders/{folderId}/projects/{projectKey}/move",
            routing::post(|Params((id, k)): KN, a: Api| async move {
                move_project(&a.app, &a.req, &id, &k).await
            }),
        )
}

fn root_doc() -> Doc {
    match json!({"id": ROOT, "name": ROOT, "owner": "admin", "permissions": [], "projectKeys": []}) {
        Value::Object(m) => m,
        _ => Doc::new(),
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Project folder '{id}' does not exist"))
}

/// The stored document of folder `id`.
pub(crate) fn folder(st: &Store, id: &str) -> Result<Doc, ApiError> {
    match st.project_folders.get(id) {
        Some(doc) => Ok(doc.clone()),
        None if id == ROOT => Ok(root_doc()),
        None => Err(not_found(id)),
    }
}

fn str_field<'a>(doc: &'a Doc, k: &str) -> Option<&'a str> {
    doc.get(k).and_then(Value::as_str)
}

fn holds(doc: &Doc, key: &str) -> bool {
    doc.get("projectKeys")
        .and_then(Value::as_array)
        .is_some_and(|keys| keys.iter().any(|k| k.as_str() == Some(key)))
}

/// The folder holding project `key`.
pub(crate) fn folder_of(st: &Store, key: &str) -> String {
    st.project_folders
        .iter()
        .find(|(id, doc)| id.as_str() != ROOT && holds(doc, key))
        .map_or_else(|| ROOT.to_string(), |(id, _)| id.clone())
}

fn children(st: &Store, id: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = st
        .project_folders
        .iter()
        .filter(|(_, d)| str_field(d, "parentId") == Some(id))
        .map(|(cid, d)| (str_field(d, "name").unwrap_or("").to_string(), cid.clone()))
        .collect();
    out.sort();
    out
}

fn project_keys(st: &Store, id: &str) -> Vec<String> {
    st.projects
        .keys()
        .filter(|k| folder_of(st, k) == id)
        .cloned()
        .collect()
}

/// The folder as `GET /project-folders/{id}` answers it.
fn view(st: &Store, id: &str) -> Result<Value, ApiError> {
    let doc = folder(st, id)?;
    let mut out = json!({
        "id": id,
        "name": doc.get("name"),
        "owner": doc.get("owner"),
        "childrenIds": children(st, id).into_iter().map(|(_, c)| c).collect::<Vec<_>>(),
        "projectKeys": project_keys(st, id),
    });
    if let Some(parent) = doc.get("parentId") {
        out["parentId"] = parent.clone();
    }
    Ok(out)
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.len() > 255 {
        return Err(ApiError::illegal(format!(
            "Invalid project folder name '{name}': must be 1 to 255 characters, not only spaces"
        )));
    }
    if name.contains('/') || name.chars().any(char::is_control) {
        return Err(ApiError::illegal(format!(
            "Invalid project folder name '{name}': '/' and control characters are not allowed"
        )));
    }
    Ok(())
}

/// Refuse `name` under `parent` when a sibling other than `except` already has it.
fn check_free(st: &Store, parent: &str, name: &str, except: Option<&str>) -> Result<(), ApiError> {
    if children(st, parent)
        .iter()
        .any(|(n, id)| n == name && Some(id.as_str()) != except)
    {
        return Err(ApiError::already_exists(format!(
            "A project folder named '{name}' already exists in folder '{parent}'"
        )));
    }
    Ok(())
}

fn new_id(st: &Store) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    loop {
        let id: String = (0..7)
            .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
            .collect();
        if id != ROOT && !st.project_folders.contains_key(&id) {
            return id;
        }
    }
}

/// Save folder `id` in memory and decide its write.
fn save(app: &App, st: &mut Store, id: &str, doc: Doc) -> Option<Pending> {
    let p = app
        .persist
        .put(paths::project_folder(id), &Value::Object(doc.clone()));
    st.project_folders.insert(id.to_string(), doc);
    p
}

/// Grants as kept: every flag present, missing ones false.
fn normalise_permissions(value: Option<&Value>) -> Result<Value, ApiError> {
    let grants = match value {
        None | Some(Value::Null) => return Ok(json!([])),
        Some(Value::Array(g)) => g,
        Some(other) => {
            return Err(ApiError::illegal(format!(
                "project folder permissions must be a list, got {}",
                http::kind_of(other)
            )));
        }
    };
    let mut out = Vec::new();
    for g in grants {
        let Some(obj) = g.as_object() else {
            return Err(ApiError::illegal(format!(
                "project folder permissions: every grant must be an object, got {g}"
            )));
        };
        if !obj.get("group").is_some_and(Value::is_string) && !obj.get("user").is_some_and(Value::is_string) {
            return Err(ApiError::illegal(
                "project folder permissions: every grant needs a 'group' or a 'user'",
            ));
        }
        let mut grant = obj.clone();
        for flag in ["read", "writeContents", "admin"] {
            if grant.get(flag).is_none_or(Value::is_null) {
                grant.insert(flag.into(), json!(false));
            }
        }
        out.push(Value::Object(grant));
    }
    Ok(Value::Array(out))
}

/// Put project `key` in folder `dest` (which must exist): removed from the folder holding it,
/// added to `dest` unless `dest` is `ROOT`. Call with the state lock held.
pub(crate) fn place_project(app: &App, st: &mut Store, key: &str, dest: &str) -> Vec<Option<Pending>> {
    let mut pending = Vec::new();
    let holders: Vec<String> = st
        .project_folders
        .iter()
        .filter(|(id, d)| id.as_str() != dest && holds(d, key))
        .map(|(id, _)| id.clone())
        .collect();
    for id in holders {
        if let Some(mut doc) = st.project_folders.get(&id).cloned() {
            if let Some(Value::Array(keys)) = doc.get_mut("projectKeys") {
                keys.retain(|k| k.as_str() != Some(key));
            }
            pending.push(save(app, st, &id, doc));
        }
    }
    if dest != ROOT
        && let Some(mut doc) = st.project_folders.get(dest).cloned()
        && !holds(&doc, key)
    {
        match doc.get_mut("projectKeys") {
            Some(Value::Array(keys)) => keys.push(json!(key)),
            _ => {
                doc.insert("projectKeys".into(), json!([key]));
            }
        }
        pending.push(save(app, st, dest, doc));
    }
    pending
}

pub(crate) fn get(app: &App, _req: &Req, id: &str) -> ApiResult {
    let st = app.read();
    Ok(http::json(&view(&st, id)?))
}

pub(crate) fn locate(app: &App, req: &Req, key: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let st = app.read();
    st.project(key)?;
    Ok(http::json(&view(&st, &folder_of(&st, key))?))
}

pub(crate) async fn create_child(app: &App, req: &Req, parent: &str) -> ApiResult {
    req.caller.require_admin()?;
    let name = req
        .query
        .get("name")
        .ok_or_else(|| ApiError::illegal("'name' is required to create a project folder"))?
        .to_string();
    check_name(&name)?;
    let (pending, answer) = {
        let mut st = app.write();
        folder(&st, parent)?;
        check_free(&st, parent, &name, None)?;
        let id = new_id(&st);
        let doc = json!({"id": id, "name": name, "parentId": parent, "owner": req.caller.login(),
            "permissions": [], "projectKeys": []});
        let Value::Object(doc) = doc else {
            return Err(ApiError::internal("folder document is not an object"));
        };
        let p = save(app, &mut st, &id, doc);
        (p, view(&st, &id)?)
    };
    app.persist.run([pending]).await?;
    Ok(http::json(&answer))
}

pub(crate) fn get_settings(app: &App, req: &Req, id: &str) -> ApiResult {
    req.caller.require_admin()?;
    let st = app.read();
    let doc = folder(&st, id)?;
    Ok(http::json(&json!({
        "name": doc.get("name"),
        "owner": doc.get("owner"),
        "permissions": doc.get("permissions").cloned().unwrap_or(json!([])),
    })))
}

pub(crate) async fn put_settings(app: &App, req: &Req, id: &str) -> ApiResult {
    req.caller.require_admin()?;
    let mut body = http::body_object(&req.body)?;
    store::drop_nulls(&mut body);
    let permissions = normalise_permissions(body.get("permissions"))?;
    let pending = {
        let mut st = app.write();
        let mut doc = folder(&st, id)?;
        if let Some(name) = body.get("name") {
            let name = name
                .as_str()
                .ok_or_else(|| ApiError::illegal("project folder 'name' must be a string"))?;
            if str_field(&doc, "name") != Some(name) {
                if id == ROOT {
                    return Err(ApiError::illegal("The root project folder cannot be renamed"));
                }
                check_name(name)?;
                let parent = str_field(&doc, "parentId").unwrap_or(ROOT).to_string();
                check_free(&st, &parent, name, Some(id))?;
                doc.insert("name".into(), json!(name));
            }
        }
        if let Some(owner) = body.get("owner") {
            if !owner.is_string() {
                return Err(ApiError::illegal("project folder 'owner' must be a string"));
            }
            doc.insert("owner".into(), owner.clone());
        }
        doc.insert("permissions".into(), permissions);
        save(app, &mut st, id, doc)
    };
    app.persist.run([pending]).await?;
    Ok(http::msg(format!("Saved settings of project folder {id}")))
}

pub(crate) async fn delete(app: &App, req: &Req, id: &str) -> ApiResult {
    req.caller.require_admin()?;
    if id == ROOT {
        return Err(ApiError::illegal("The root project folder cannot be deleted"));
    }
    let pending = {
        let mut st = app.write();
        folder(&st, id)?;
        let kids = children(&st, id);
        let projects = project_keys(&st, id);
        if !kids.is_empty() || !projects.is_empty() {
            return Err(ApiError::illegal(format!(
                "Project folder '{id}' is not empty ({} sub-folder(s), {} project(s)): move or delete its content first",
                kids.len(),
                projects.len()
            )));
        }
        st.project_folders.remove(id);
        app.persist.remove(paths::project_folder(id))
    };
    app.persist.run([pending]).await?;
    Ok(http::msg(format!("Deleted project folder {id}")))
}

fn destination(req: &Req) -> Result<String, ApiError> {
    req.query
        .get("destination")
        .filter(|d| !d.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ApiError::illegal("'destination' (a project folder id) is required"))
}

pub(crate) async fn move_folder(app: &App, req: &Req, id: &str) -> ApiResult {
    req.caller.require_admin()?;
    let dest = destination(req)?;
    if id == ROOT {
        return Err(ApiError::illegal("The root project folder cannot be moved"));
    }
    let pending = {
        let mut st = app.write();
        let mut doc = folder(&st, id)?;
        folder(&st, &dest)?;
        // Walk up from the destination: meeting the folder itself means a cycle.
        let mut cursor = Some(dest.clone());
        while let Some(c) = cursor {
            if c == id {
                return Err(ApiError::illegal(format!(
                    "Project folder '{id}' cannot be moved into itself or one of its sub-folders"
                )));
            }
            cursor = st
                .project_folders
                .get(&c)
                .and_then(|d| str_field(d, "parentId"))
                .map(str::to_string);
        }
        let name = str_field(&doc, "name").unwrap_or("").to_string();
        check_free(&st, &dest, &name, Some(id))?;
        doc.insert("parentId".into(), json!(dest));
        save(app, &mut st, id, doc)
    };
    app.persist.run([pending]).await?;
    Ok(http::msg(format!("Moved project folder {id} to {dest}")))
}

pub(crate) async fn move_project(app: &App, req: &Req, id: &str, key: &str) -> ApiResult {
    req.caller.require_admin()?;
    let dest = destination(req)?;
    let pending = {
        let mut st = app.write();
        folder(&st, id)?;
        st.project(key)?;
        folder(&st, &dest)?;
        if folder_of(&st, key) != id {
            return Err(ApiError::illegal(format!(
                "Project '{key}' is not in project folder '{id}'"
            )));
        }
        place_project(app, &mut st, key, &dest)
    };
    app.persist.run(pending).await?;
    Ok(http::msg(format!("Moved project {key} to project folder {dest}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder_doc(id: &str, name: &str, parent: &str, keys: &[&str]) -> Doc {
        json!({"id": id, "name": name, "parentId": parent, "projectKeys": keys})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn projects_not_placed_anywhere_are_in_root() {
        let mut st = Store::default();
        st.projects.insert("A".into(), Default::default());
        st.projects.insert("B".into(), Default::default());
        st.project_folders
            .insert("f1".into(), folder_doc("f1", "Sales", ROOT, &["B", "GONE"]));
        assert_eq!(folder_of(&st, "A"), ROOT);
        assert_eq!(folder_of(&st, "B"), "f1");
        let root = view(&st, ROOT).unwrap();
        assert_eq!(root["projectKeys"], json!(["A"]));
        assert_eq!(root["childrenIds"], json!(["f1"]));
        assert!(root.get("parentId").is_none());
        // The key of a deleted project is not listed.
        assert_eq!(view(&st, "f1").unwrap()["projectKeys"], json!(["B"]));
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("a/b").is_err());
        assert!(check_name(" ").is_err());
        check_name("Marketing 2026").unwrap();
        let mut st = Store::default();
        st.project_folders
            .insert("f1".into(), folder_doc("f1", "Sales", ROOT, &[]));
        assert!(check_free(&st, ROOT, "Sales", None).is_err());
        check_free(&st, ROOT, "Sales", Some("f1")).unwrap();
        check_free(&st, "f1", "Sales", None).unwrap();
    }
}
