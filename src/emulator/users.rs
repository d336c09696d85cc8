//! Users (admin): list, create, get, update, delete; and for every key the public info of users
//! (`GET /users`, `GET /users/{login}`: login, display name, email, groups, enabled).
//!
//! The password is write-only: stored as a salted SHA-256 (`sha256:SALT:HEX`), never answered.
//! A save without a password (or with an empty one) keeps the stored one. `secrets[].value` and
//! the secret fields of `credentials` are answered as `e:AES:...` and kept when sent back.
//! `groups` is a set: stored sorted and deduplicated.
//!
//! Defaults filled when absent: `displayName` (= login), `email: ""`, `groups: []`,
//! `userProfile: "DATA_SCIENTIST"`, `enabled: true`, `sourceType: "LOCAL"`, `userProperties:
//! {}`, `adminProperties: {}`, `secrets: []`, `credentials: {}`, `creationDate` (ms, set once).

use axum::routing;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::http::{self, ApiError, ApiResult};
use super::router::{Api, App, Params, Req, Routes};
use super::secrets;
use super::store::{self, Doc, paths};

fn fill_defaults(doc: &mut Doc, login: &str) {
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

pub fn list(app: &App, req: &Req) -> ApiResult {
    req.caller.require_admin()?;
    req.query.bool("includeSettings", false)?;
    let st = app.read();
    let items: Vec<Doc> = st.users.values().map(redacted).collect();
    Ok(http::json(&items))
}

pub async fn create(app: &App, req: &Req) -> ApiResult {
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

pub fn get(app: &App, req: &Req, login: &str) -> ApiResult {
    req.caller.require_admin()?;
    let st = app.read();
    let doc = st.users.get(login).ok_or_else(|| not_found(login))?;
    Ok(http::json(&redacted(doc)))
}

pub async fn put(app: &App, req: &Req, login: &str) -> ApiResult {
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

pub async fn delete(app: &App, req: &Req, login: &str) -> ApiResult {
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

pub fn list_info(app: &App, _req: &Req) -> ApiResult {
    let st = app.read();
    let items: Vec<Value> = st.users.values().map(info).collect();
    Ok(http::json(&items))
}

pub fn get_info(app: &App, _req: &Req, login: &str) -> ApiResult {
    let st = app.read();
    Ok(http::json(&info(
        st.users.get(login).ok_or_else(|| not_found(login))?,
    )))
}

/// The users area's routes.
pub fn routes() -> Routes {
    type L = Params<String>;
    Routes::new()
        .route(
            "/admin/users",
            routing::get(|a: Api| async move { list(&a.app, &a.req) })
                .post(|a: Api| async move { create(&a.app, &a.req).await }),
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
