//! Users (admin): list (summaries, full documents with `includeSettings=true`), create, get,
//! update, delete, the bulk actions (`/admin/users/actions/bulk`: POST creates, PUT edits,
//! DELETE deletes, each answering one `{login, status, error}` per user); `/current-user`
//! (the caller's own user); and for every key the public info of users (`GET /users`,
//! `GET /users/{login}`: login, display name, email, groups, enabled).
//!
//! The password is write-only: stored as a salted SHA-256 (`sha256:SALT:HEX`), never answered.
//! A save without a password (or with an empty one) keeps the stored one. `secrets[].value` and
//! the secret fields of `credentials` are answered as `e:AES:...` and kept when sent back.
//! `groups` is a set: stored sorted and deduplicated.
//!
//! Defaults filled when absent: `displayName` (= login), `email: ""`, `groups: []`,
//! `userProfile: "DATA_SCIENTIST"`, `enabled: true`, `sourceType: "LOCAL"`, `userProperties:
//! {}`, `adminProperties: {}`, `secrets: []`, `credentials: {}`, `codeAllowed: false`,
//! `preferences: {}`, `creationDate` (ms, set once).

use axum::routing;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::http::{self, ApiError, ApiResult};
use super::router::{Api, App, Params, Req, Routes};
use super::secrets;
use super::store::{self, Doc, paths};

pub(super) fn fill_defaults(doc: &mut Doc, login: &str) {
    let defaults = [
        ("displayName", json!(login)),
        ("email", json!("")),
        ("groups", json!([])),
        ("userProfile", json!("DATA_SCIENTIST")),
        ("enabled", json!(true)),
        ("sourceType", json!("LOCAL")),
        ("userProperties", json!({})),
        ("adminProperties", json!({})),
        ("secrets", json!([])),
        ("credentials", json!({})),
        ("codeAllowed", json!(false)),
        ("preferences", json!({})),
    ];
    for (k, v) in defaults {
        if doc.get(k).is_none_or(Value::is_null) {
            doc.insert(k.into(), v);
        }
    }
}

/// Normalise a sent user document: groups sorted, password hashed (or dropped).
fn normalise(doc: &mut Doc) -> Result<(), ApiError> {
    store::drop_nulls(doc);
    http::check_wire::<crate::wire::User>(doc, "user")?;
    let groups = store::sorted_tags(doc.get("groups"), "user groups")?;
    for g in groups.as_array().into_iter().flatten() {
        store::validate_name(g.as_str().unwrap_or_default(), "group name")?;
    }
    doc.insert("groups".into(), groups);
    match doc.remove("password") {
        Some(Value::String(p)) if !p.is_empty() && !p.starts_with(secrets::ENCRYPTED_PREFIX) => {
            doc.insert("password".into(), json!(hash_password(&p)));
        }
        None | Some(Value::String(_)) => {}
        Some(other) => {
            return Err(ApiError::illegal(format!(
                "user: 'password' must be a string, got {}",
                http::kind_of(&other)
            )));
        }
    }
    Ok(())
}

fn hash_password(password: &str) -> String {
    let salt = format!("{:016x}", rand::random::<u64>());
    let digest = Sha256::digest(format!("{salt}:{password}").as_bytes());
    format!("sha256:{salt}:{}", hex::encode(digest))
}

fn redacted(doc: &Doc) -> Doc {
    let mut out = doc.clone();
    secrets::redact_user(&mut out);
    out
}

fn not_found(login: &str) -> ApiError {
    ApiError::not_found(format!("User '{login}' does not exist"))
}

/// The fields of a user summary, the items of `GET /admin/users/` unless settings are asked
/// for (`includeSettings=true`, a parameter of the official client's `list_users`).
const SUMMARY_FIELDS: [&str; 9] = [
    "login",
    "displayName",
    "email",
    "groups",
    "userProfile",
    "enabled",
    "sourceType",
    "codeAllowed",
    "creationDate",
];

fn summary(doc: &Doc) -> Value {
    let mut out = Doc::new();
    for k in SUMMARY_FIELDS {
        if let Some(v) = doc.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    Value::Object(out)
}

pub(crate) fn list(app: &App, req: &Req) -> ApiResult {
    req.caller.require_admin()?;
    let settings = req.query.bool("includeSettings", false)?;
    let st = app.read();
    let items: Vec<Value> = st
        .users
        .values()
        .map(|u| {
            if settings {
                Value::Object(redacted(u))
            } else {
                summary(u)
            }
        })
        .collect();
    Ok(http::json(&items))
}

/// One line of a bulk action's answer.
fn status_line(login: &str, result: Result<(), ApiError>) -> Value {
    match result {
        Ok(()) => json!({"login": login, "status": "SUCCESS", "error": ""}),
        Err(err) => json!({"login": login, "status": "FAILURE", "error": err.body.message}),
    }
}

/// The users a bulk body names: a list of objects with a `login` (create, edit) or of logins.
fn bulk_items(body: &[u8]) -> Result<Vec<Value>, ApiError> {
    match http::body_value(body)? {
        Value::Array(items) => Ok(items),
        other => Err(ApiError::illegal(format!(
            "bulk users: the body must be a list, got {}",
            http::kind_of(&other)
        ))),
    }
}

fn sub_request(req: &Req, body: &Value) -> Req {
    Req {
        query: req.query.clone(),
        body: serde_json::to_vec(body).unwrap_or_default().into(),
        caller: req.caller.clone(),
    }
}

/// `POST /admin/users/actions/bulk`: create users, one status per user.
pub(crate) async fn bulk_create(app: &App, req: &Req) -> ApiResult {
    req.caller.require_admin()?;
    let mut out = Vec::new();
    for item in bulk_items(&req.body)? {
        let login = item
            .get("login")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let result = create(app, &sub_request(req, &item)).await.map(drop);
        out.push(status_line(&login, result));
    }
    Ok(http::json(&out))
}

/// `PUT /admin/users/actions/bulk`: change users; fields not sent keep their values.
pub(crate) async fn bulk_edit(app: &App, req: &Req) -> ApiResult {
    req.caller.require_admin()?;
    let mut out = Vec::new();
    for item in bulk_items(&req.body)? {
        let login = item
            .get("login")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let current = app.read().users.get(&login).cloned();
        let result = match (current, item.as_object()) {
            (Some(mut doc), Some(changes)) => {
                doc.remove("password");
                for (k, v) in changes {
                    doc.insert(k.clone(), v.clone());
                }
                put(app, &sub_request(req, &Value::Object(doc)), &login)
                    .await
                    .map(drop)
            }
            (None, _) => Err(not_found(&login)),
            (_, None) => Err(ApiError::illegal("bulk users: every item must be an object")),
        };
        out.push(status_line(&login, result));
    }
    Ok(http::json(&out))
}

/// `DELETE /admin/users/actions/bulk`: delete the users listed (`allowSelfDeletion` applies).
pub(crate) async fn bulk_delete(app: &App, req: &Req) -> ApiResult {
    req.caller.require_admin()?;
    let mut out = Vec::new();
    for item in bulk_items(&req.body)? {
        let login = item.as_str().unwrap_or("").to_string();
        let empty = Req {
            query: req.query.clone(),
            body: bytes::Bytes::new(),
            caller: req.caller.clone(),
        };
        let result = delete(app, &empty, &login).await.map(drop);
        out.push(status_line(&login, result));
    }
    Ok(http::json(&out))
}

/// `GET /current-user`: the caller's own user, as its settings page shows it.
pub(crate) fn get_current(app: &App, req: &Req) -> ApiResult {
    let login = req.caller.login();
    let st = app.read();
    Ok(http::json(&redacted(
        st.users.get(&login).ok_or_else(|| not_found(&login))?,
    )))
}

/// `PUT /current-user`: a user changes its own settings; what makes it who it is (login,
/// groups, profile, source, enabled) stays as the administrator set it.
pub(crate) async fn put_current(app: &App, req: &Req) -> ApiResult {
    let login = req.caller.login();
    let body = http::body_object(&req.body)?;
    let current = app
        .read()
        .users
        .get(&login)
        .cloned()
        .ok_or_else(|| not_found(&login))?;
    let mut doc = current.clone();
    doc.remove("password");
    for (k, v) in body {
        if !matches!(
            k.as_str(),
            "login" | "groups" | "userProfile" | "sourceType" | "enabled" | "adminProperties" | "password"
        ) {
            doc.insert(k, v);
        }
    }
    let admin = Req {
        query: req.query.clone(),
        body: serde_json::to_vec(&doc).unwrap_or_default().into(),
        caller: super::auth::Caller::Admin { login: login.clone() },
    };
    put(app, &admin, &login).await
}

pub(crate) async fn create(app: &App, req: &Req) -> ApiResult {
    req.caller.require_admin()?;
    let mut doc = http::body_object(&req.body)?;
    let login = http::required_str(&doc, "user", "login")?;
    store::validate_name(&login, "login")?;
    normalise(&mut doc)?;
    fill_defaults(&mut doc, &login);
    doc.insert("creationDate".into(), json!(store::now_ms()));
    let pending = {
        let mut st = app.write();
        if st.users.contains_key(&login) {
            return Err(ApiError::already_exists(format!("User '{login}' already exists")));
        }
        let p = app.persist.put(paths::user(&login), &Value::Object(doc.clone()));
        st.users.insert(login.clone(), doc);
        p
    };
    app.persist.run([pending]).await?;
    Ok(http::msg(format!("Created user {login}")))
}

pub(crate) fn get(app: &App, req: &Req, login: &str) -> ApiResult {
    req.caller.require_admin()?;
    let st = app.read();
    let doc = st.users.get(login).ok_or_else(|| not_found(login))?;
    Ok(http::json(&redacted(doc)))
}

pub(crate) async fn put(app: &App, req: &Req, login: &str) -> ApiResult {
    req.caller.require_admin()?;
    let mut body = http::body_object(&req.body)?;
    match body.get("login") {
        None | Some(Value::Null) => {
            body.insert("login".into(), json!(login));
        }
        Some(Value::String(l)) if l == login => {}
        Some(other) => {
            return Err(ApiError::illegal(format!(
                "login {other} does not match the path ('{login}'); logins cannot change"
            )));
        }
    }
    normalise(&mut body)?;
    let pending = {
        let mut st = app.write();
        let old = st.users.get(login).ok_or_else(|| not_found(login))?;
        let mut new = Value::Object(body);
        secrets::restore_placeholders(&mut new, Some(&Value::Object(old.clone())));
        let mut doc = match new {
            Value::Object(doc) => doc,
            _ => Doc::new(),
        };
        if !doc.contains_key("password")
            && let Some(p) = old.get("password")
        {
            doc.insert("password".into(), p.clone());
        }
        if let Some(c) = old.get("creationDate") {
            doc.insert("creationDate".into(), c.clone());
        }
        fill_defaults(&mut doc, login);
        let p = app.persist.put(paths::user(login), &Value::Object(doc.clone()));
        st.users.insert(login.to_string(), doc);
        p
    };
    app.persist.run([pending]).await?;
    Ok(http::msg(format!("Saved user {login}")))
}

pub(crate) async fn delete(app: &App, req: &Req, login: &str) -> ApiResult {
    req.caller.require_admin()?;
    if login == req.caller.login() && !req.query.bool("allowSelfDeletion", false)? {
        return Err(ApiError::illegal(
            "Refusing to delete the calling user (pass allowSelfDeletion=true)",
        ));
    }
    let pending = {
        let mut st = app.write();
        st.users.remove(login).ok_or_else(|| not_found(login))?;
        app.persist.remove(paths::user(login))
    };
    app.persist.run([pending]).await?;
    Ok(http::msg(format!("Deleted user {login}")))
}

/// The part of a user any key may read.
fn info(doc: &Doc) -> Value {
    let mut out = Doc::new();
    for k in ["login", "displayName", "email", "groups", "enabled"] {
        if let Some(v) = doc.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    Value::Object(out)
}

pub(crate) fn list_info(app: &App, _req: &Req) -> ApiResult {
    let st = app.read();
    let items: Vec<Value> = st.users.values().map(info).collect();
    Ok(http::json(&items))
}

pub(crate) fn get_info(app: &App, _req: &Req, login: &str) -> ApiResult {
    let st = app.read();
    Ok(http::json(&info(
        st.users.get(login).ok_or_else(|| not_found(login))?,
    )))
}

/// Served by the emulator: registered in the API table ([`super::router::AREAS`]).
#[linkme::distributed_slice(super::router::AREAS)]
#[allow(
    unsafe_code,
    reason = "linkme places the entry in a link section; nothing else is unsafe"
)]
static AREA: fn() -> Routes = routes;

/// The users area's routes.
pub(crate) fn routes() -> Routes {
    type L = Params<String>;
    Routes::new()
        .route(
            "/admin/users",
            routing::get(|a: Api| async move { list(&a.app, &a.req) })
                .post(|a: Api| async move { create(&a.app, &a.req).await }),
        )
        .route(
            "/admin/users/actions/bulk",
            routing::post(|a: Api| async move { bulk_create(&a.app, &a.req).await })
                .put(|a: Api| async move { bulk_edit(&a.app, &a.req).await })
                .delete(|a: Api| async move { bulk_delete(&a.app, &a.req).await }),
        )
        .route(
            "/current-user",
            routing::get(|a: Api| async move { get_current(&a.app, &a.req) })
                .put(|a: Api| async move { put_current(&a.app, &a.req).await }),
        )
        .route(
            "/admin/users/{login}",
            routing::get(|Params(l): L, a: Api| async move { get(&a.app, &a.req, &l) })
                .put(|Params(l): L, a: Api| async move { put(&a.app, &a.req, &l).await })
                .delete(|Params(l): L, a: Api| async move { delete(&a.app, &a.req, &l).await }),
        )
        .route(
            "/users",
            routing::get(|a: Api| async move { list_info(&a.app, &a.req) }),
        )
        .route(
            "/users/{login}",
            routing::get(|Params(l): L, a: Api| async move { get_info(&a.app, &a.req, &l) }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hashed_and_groups_sorted() {
        let mut doc = json!({"login": "a", "password": "pw", "groups": ["z", "a", "z"]})
            .as_object()
            .unwrap()
            .clone();
        normalise(&mut doc).unwrap();
        let stored = doc["password"].as_str().unwrap();
        assert!(stored.starts_with("sha256:") && !stored.contains("pw"));
        assert_eq!(doc["groups"], json!(["a", "z"]));
        assert!(redacted(&doc).get("password").is_none());
    }
}
