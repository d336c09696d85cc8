//! The instance's general settings (`GET/PUT /admin/general-settings`): one document, with
//! DSS's default until the first save; and the container image actions of the official
//! client: the push of the base images (offered on the general settings) and the build of the
//! containerized engine's image with the installed plugins.
//!
//! The default document holds the parts the official client and the official Ansible
//! collection touch: `maxRunningActivities`, `maxRunningActivitiesPerJob`, `limits`,
//! `containerSettings` (`executionConfigs`, `buildConfigs`), `sparkSettings.executionConfigs`,
//! `impersonation` (`userRules`, `groupRules`), `ldapSettings`, `ssoSettings` and
//! `azureADSettings`.
//!
//! DSS behaviours reproduced: a PUT replaces the document, a top-level field it does not know
//! is dropped silently (the answer is still 200; the emulator notes the dropped names in its
//! backend log) and a top-level field left out gets its default back. The secrets the Ansible
//! collection lists as encrypted (`ldapSettings.bindPassword`,
//! `ssoSettings.samlSPParams.keystorePassword`, `ssoSettings.openIDParams.clientSecret`,
//! `azureADSettings.credentialsClientSecret`, `azureADSettings.credentialsCertificatePassword`)
//! are answered as `e:AES:...` and a save that sends such a placeholder back keeps the stored
//! secret. Execution configs are matched by `name`, so two configs of one list may not share a
//! name.

use axum::routing;
use serde_json::{Value, json};

use super::http::{self, ApiError, ApiResult};
use super::router::{Api, App, Req, Routes};
use super::secrets;
use super::store::{Doc, Store, paths};

/// Served by the emulator: registered in the API table ([`super::router::AREAS`]).
#[linkme::distributed_slice(super::router::AREAS)]
#[allow(
    unsafe_code,
    reason = "linkme places the entry in a link section; nothing else is unsafe"
)]
static AREA: fn() -> Routes = routes;

/// This area's routes (templates as the statistics count them).
pub(crate) fn routes() -> Routes {
    Routes::new()
        .route(
            "/admin/general-settings",
            routing::get(|a: Api| async move { get(&a.app, &a.req) })
                .put(|a: Api| async move { put(&a.app, &a.req).await }),
        )
        .route(
            "/admin/container-exec/actions/push-base-images",
            routing::post(|a: Api| async move { push_base_images(&a.app, &a.req) }),
        )
        .route(
            "/admin/container-exec/actions/build-cde-plugins-image",
            routing::post(|a: Api| async move { build_cde_plugins_image(&a.app, &a.req) }),
        )
}

/// The secret fields, as paths from the document's root.
const SECRETS: &[&[&str]] = &[
    &["ldapSettings", "bindPassword"],
    &["ssoSettings", "samlSPParams", "keystorePassword"],
    &["ssoSettings", "openIDParams", "clientSecret"],
    &["azureADSettings", "credentialsClientSecret"],
    &["azureADSettings", "credentialsCertificatePassword"],
];

/// The document of a fresh instance.
pub(crate) fn default_document() -> Doc {
    let doc = json!({
        "maxRunningActivities": 5,
        "maxRunningActivitiesPerJob": 5,
        "limits": {
            "attachmentBytes": {"soft": -1, "hard": -1},
            "memSampleBytes": {"soft": 104857600, "hard": 524288000},
            "shakerMemTableBytes": {"soft": -1, "hard": 524288000},
        },
        "containerSettings": {"executionConfigs": [], "buildConfigs": []},
        "sparkSettings": {"executionConfigs": []},
        "impersonation": {"userRules": [], "groupRules": []},
        "ldapSettings": {
            "enabled": false,
            "url": "",
            "bindDN": "",
            "bindPassword": "",
            "useTls": false,
            "autoImportUsers": false,
            "userFilter": "",
            "defaultUserProfile": "READER",
            "displayNameAttribute": "",
            "emailAttribute": "",
            "enableGroups": false,
            "groupFilter": "",
            "groupNameAttribute": "",
            "groupProfiles": [],
            "authorizedGroups": "",
        },
        "ssoSettings": {
            "enabled": false,
            "protocol": "SAML",
            "samlSPParams": {"keystorePassword": ""},
            "openIDParams": {"clientSecret": ""},
        },
        "azureADSettings": {
            "enabled": false,
            "credentialsClientSecret": "",
            "credentialsCertificatePassword": "",
        },
    });
    match doc {
        Value::Object(m) => m,
        _ => Doc::new(),
    }
}

/// The settings as stored (secrets in clear).
pub(crate) fn current(st: &Store) -> Doc {
    st.general_settings.clone().unwrap_or_else(default_document)
}

/// Names of the container execution configs (for the code env image builds).
pub(crate) fn execution_config_names(st: &Store) -> Vec<String> {
    current(st)
        .get("containerSettings")
        .and_then(|c| c.get("executionConfigs"))
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn redacted(doc: &Doc) -> Value {
    let mut value = Value::Object(doc.clone());
    for path in SECRETS {
        let (last, parents) = path.split_last().expect("secret paths are not empty");
        let mut node = Some(&mut value);
        for p in parents {
            node = node.and_then(|n| n.get_mut(*p));
        }
        if let Some(v) = node.and_then(|n| n.get_mut(*last))
            && v.as_str().is_some_and(|s| !s.is_empty())
        {
            *v = secrets::encrypted_placeholder();
        }
    }
    value
}

/// Check the named lists: every execution config has a distinct string `name`.
fn check(doc: &Doc) -> Result<(), ApiError> {
    for section in ["containerSettings", "sparkSettings"] {
        let Some(configs) = doc.get(section).and_then(|s| s.get("executionConfigs")) else {
            continue;
        };
        let Some(list) = configs.as_array() else {
            return Err(ApiError::illegal(format!(
                "{section}.executionConfigs must be a list, got {}",
                http::kind_of(configs)
            )));
        };
        let mut seen = std::collections::BTreeSet::new();
        for c in list {
            let Some(name) = c.get("name").and_then(Value::as_str) else {
                return Err(ApiError::illegal(format!(
                    "{section}.executionConfigs: every config needs a 'name' (a string)"
                )));
            };
            if !seen.insert(name) {
                return Err(ApiError::illegal(format!(
                    "{section}.executionConfigs: two configs are named '{name}'"
                )));
            }
        }
    }
    Ok(())
}

/// What DSS keeps of a saved document: known top-level fields only, defaults for the missing
/// ones. Answers the document and the names of the dropped fields.
pub(crate) fn normalise(body: Doc) -> (Doc, Vec<String>) {
    let mut doc = default_document();
    let mut dropped = Vec::new();
    for (k, v) in body {
        if doc.contains_key(&k) {
            if !v.is_null() {
                doc.insert(k, v);
            }
        } else {
            dropped.push(k);
        }
    }
    (doc, dropped)
}

pub(crate) fn get(app: &App, req: &Req) -> ApiResult {
    req.caller.require_admin()?;
    let st = app.read();
    Ok(http::json(&redacted(&current(&st))))
}

pub(crate) async fn put(app: &App, req: &Req) -> ApiResult {
    req.caller.require_admin()?;
    let body = http::body_object(&req.body)?;
    let (doc, dropped) = normalise(body);
    check(&doc)?;
    if !dropped.is_empty() {
        app.logs.push(format!(
            "general settings: unknown top-level field(s) dropped: {}",
            dropped.join(", ")
        ));
    }
    let pending = {
        let mut st = app.write();
        let old = Value::Object(current(&st));
        let mut new = Value::Object(doc);
        secrets::restore_placeholders(&mut new, Some(&old));
        let Value::Object(doc) = new else {
            return Err(ApiError::internal("general settings are not an object"));
        };
        let p = app
            .persist
            .put(paths::general_settings(), &Value::Object(doc.clone()));
        st.general_settings = Some(doc);
        p
    };
    app.persist.run([pending]).await?;
    Ok(http::msg("Saved general settings"))
}

/// `POST /admin/container-exec/actions/push-base-images` (a method of the client's general
/// settings): one base image per container execution config, recorded as pushed. The official
/// client reads the answer both as an operation result (`messages`) and as a future, so it is
/// both: a finished future whose `messages` repeat its result's.
pub(crate) fn push_base_images(app: &App, req: &Req) -> ApiResult {
    req.caller.require_admin()?;
    let names = execution_config_names(&app.read());
    let text = if names.is_empty() {
        "No container execution config: no base image to push".to_string()
    } else {
        format!("Base images recorded as pushed for: {}", names.join(", "))
    };
    let messages = super::code_envs::messages(&[("SUCCESS", text)]);
    Ok(http::json(&json!({
        "hasResult": true,
        "alive": false,
        "result": {"messages": messages},
        "messages": messages,
    })))
}

/// `POST /admin/container-exec/actions/build-cde-plugins-image` (the client's
/// `build_cde_plugins_image`): a future whose result says which installed plugins the image
/// was recorded as built with (no image is built: there is no container runtime here).
pub(crate) fn build_cde_plugins_image(app: &App, req: &Req) -> ApiResult {
    req.caller.require_admin()?;
    let mut st = app.write();
    let ids: Vec<String> = st.plugins.keys().cloned().collect();
    let text = if ids.is_empty() {
        "Image for the containerized engine recorded as built, with no plugin".to_string()
    } else {
        format!(
            "Image for the containerized engine recorded as built with plugins: {}",
            ids.join(", ")
        )
    };
    let messages = super::code_envs::messages(&[("SUCCESS", text)]);
    let future = st.start_future("build-cde-plugins-image", json!({ "messages": messages }));
    Ok(http::json(&future))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_top_level_fields_are_dropped_and_missing_ones_defaulted() {
        let body = json!({"maxRunningActivities": 8, "noSuchSetting": 1, "limits": null})
            .as_object()
            .unwrap()
            .clone();
        let (doc, dropped) = normalise(body);
        assert_eq!(dropped, vec!["noSuchSetting".to_string()]);
        assert_eq!(doc["maxRunningActivities"], 8);
        assert_eq!(doc["limits"], default_document()["limits"]);
        assert!(doc.contains_key("ldapSettings"));
    }

    #[test]
    fn secrets_are_hidden() {
        let mut doc = default_document();
        doc["ldapSettings"]["bindPassword"] = json!("s3cret");
        let out = redacted(&doc);
        let shown = out["ldapSettings"]["bindPassword"].as_str().unwrap();
        assert!(shown.starts_with("e:AES:"), "{shown}");
        // An empty secret stays empty: there is nothing to hide.
        assert_eq!(out["ssoSettings"]["openIDParams"]["clientSecret"], "");
    }

    #[test]
    fn execution_configs_need_distinct_names() {
        let mut doc = default_document();
        doc["containerSettings"]["executionConfigs"] = json!([{"name": "a"}, {"name": "a"}]);
        assert!(check(&doc).is_err());
        doc["containerSettings"]["executionConfigs"] = json!([{"name": "a"}, {"name": "b"}]);
        check(&doc).unwrap();
    }
}
