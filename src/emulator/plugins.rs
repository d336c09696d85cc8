//! Plugins (`/plugins/...`): list, install from the store, from a Git repository or from a zip,
//! update from each, usages, delete, instance and project settings, the plugin's code env
//! (create, update), download, and the plugin's files (list, get, put, rename, move).
//!
//! A plugin is one document: `id`, `version`, `installedFrom` (`STORE`, `GIT`, `ZIP`), `meta`,
//! `desc` (its `plugin.json`), `components` (one `{type, id}` per component directory:
//! `custom-recipes/X`, `python-connectors/X`, `parameter-sets/X`, ...), `codeEnvSpec` when it
//! ships `code-env/<lang>/desc.json`, `gitReference` for Git installs, `settings`,
//! `projectSettings` (by project key) and `files` (path → base64 content).
//!
//! Sources: a zip is unpacked and its `plugin.json` read (at the root or in the archive's single
//! top directory); a Git repository is cloned with the `git` program (`gitCheckout` checked
//! out, `gitSubpath` taken as the plugin root), so local and reachable repositories work and an
//! unreachable one fails like DSS's clone does. No plugin store is reachable from the emulator:
//! a store install records the plugin at the version asked for (`version` or `pluginVersion` in
//! the body; `1.0.0` otherwise) with a generated `plugin.json` and no components.
//!
//! Results follow the official client and the Ansible collection: installs and updates answer
//! a future whose result holds `pluginDesc` (with `codeEnvSpec` when the plugin declares one);
//! the plugin code env create answers a future whose result holds `envName`. Refusals:
//! installing a plugin that is installed (409, use an update), deleting a used plugin without
//! `force`, a settings `codeEnvName` naming no code env, creating a code env for a plugin that
//! declares none (400).

use axum::routing;
use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};

use base64::Engine as _;
use serde_json::{Value, json};

use super::code_envs;
use super::http::{self, ApiError, ApiResult};
use super::router::{Api, App, Params, Req, Routes};
use super::store::{self, CodeEnv, Doc, Store, paths};

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
            "/projects/{projectKey}/plugins/usages",
            routing::get(|Params(k): K, a: Api| async move { project_usages(&a.app, &a.req, &k) }),
        )
        .route(
            "/plugins",
            routing::get(|a: Api| async move { list(&a.app, &a.req) }),
        )
        .route(
            "/plugins/actions/installFromZip",
            routing::post(|a: Api| async move { install_zip(&a.app, &a.req, false).await }),
        )
        .route(
            "/plugins/actions/future/installFromZip",
            routing::post(|a: Api| async move { install_zip(&a.app, &a.req, true).await }),
        )
        .route(
            "/plugins/actions/installFromStore",
            routing::post(|a: Api| async move { install_store(&a.app, &a.req).await }),
        )
        .route(
            "/plugins/actions/installFromGit",
            routing::post(|a: Api| async move { install_git(&a.app, &a.req).await }),
        )
        .route(
            "/plugins/{pluginId}/download",
            routing::get(|Params(id): K, a: Api| async move { download(&a.app, &a.req, &id) }),
        )
        .route(
            "/plugins/{pluginId}/settings",
            routing::get(|Params(id): K, a: Api| async move { get_settings(&a.app, &a.req, &id) })
                .post(|Params(id): K, a: Api| async move { save_settings(&a.app, &a.req, &id, false).await }),
        )
        .route(
            "/plugins/{pluginId}/settings/future",
            routing::post(
                |Params(id): K, a: Api| async move { save_settings(&a.app, &a.req, &id, true).await },
            ),
        )
        .route(
            "/plugins/{pluginId}/code-env/actions/create",
            routing::post(|Params(id): K, a: Api| async move { create_code_env(&a.app, &a.req, &id).await }),
        )
        .route(
            "/plugins/{pluginId}/code-env/actions/update",
            routing::post(|Params(id): K, a: Api| async move { update_code_env(&a.app, &a.req, &id).await }),
        )
        .route(
            "/plugins/{pluginId}/actions/updateFromZip",
            routing::post(
                |Params(id): K, a: Api| async move { update_zip(&a.app, &a.req, &id, false).await },
            ),
        )
        .route(
            "/plugins/{pluginId}/actions/future/updateFromZip",
            routing::post(|Params(id): K, a: Api| async move { update_zip(&a.app, &a.req, &id, true).await }),
        )
        .route(
            "/plugins/{pluginId}/actions/updateFromStore",
            routing::post(|Params(id): K, a: Api| async move { update_store(&a.app, &a.req, &id).await }),
        )
        .route(
            "/plugins/{pluginId}/actions/updateFromGit",
            routing::post(|Params(id): K, a: Api| async move { update_git(&a.app, &a.req, &id).await }),
        )
        .route(
            "/plugins/{pluginId}/actions/listUsages",
            routing::get(|Params(id): K, a: Api| async move { usages(&a.app, &a.req, &id) }),
        )
        .route(
            "/plugins/{pluginId}/actions/delete",
            routing::post(|Params(id): K, a: Api| async move { delete(&a.app, &a.req, &id).await }),
        )
        .route(
            "/plugins/{pluginId}/contents",
            routing::get(|Params(id): K, a: Api| async move { list_files(&a.app, &a.req, &id) }),
        )
        .route(
            "/plugins/{pluginId}/contents/{*path}",
            routing::get(
                |Params((id, path)): KN, a: Api| async move { get_file(&a.app, &a.req, &id, &path) },
            )
            .post(|Params((id, path)): KN, a: Api| async move { put_file(&a.app, &a.req, &id, &path).await }),
        )
        .route(
            "/plugins/{pluginId}/contents-actions/rename",
            routing::post(
                |Params(id): K, a: Api| async move { rename_file(&a.app, &a.req, &id, false).await },
            ),
        )
        .route(
            "/plugins/{pluginId}/contents-actions/move",
            routing::post(
                |Params(id): K, a: Api| async move { rename_file(&a.app, &a.req, &id, true).await },
            ),
        )
}

/// Directories whose sub-directories are plugin components.
const COMPONENT_DIRS: &[&str] = &[
    "custom-recipes",
    "python-connectors",
    "java-connectors",
    "python-formats",
    "java-formats",
    "python-exporters",
    "java-exporters",
    "python-runnables",
    "java-runnables",
    "python-steps",
    "python-triggers",
    "python-probes",
    "python-checks",
    "python-clusters",
    "python-fs-providers",
    "java-fs-providers",
    "python-prediction-algos",
    "python-llms",
    "agent-tools",
    "parameter-sets",
    "webapps",
    "custom-fields",
    "java-processors",
    "code-studio-templates",
];

/// At most this many bytes of plugin files (a zip or a clone).
const MAX_FILES_BYTES: u64 = 64 * 1024 * 1024;

type Files = BTreeMap<String, Vec<u8>>;

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Plugin '{id}' is not installed"))
}

fn plugin<'a>(st: &'a Store, id: &str) -> Result<&'a Doc, ApiError> {
    st.plugins.get(id).ok_or_else(|| not_found(id))
}

/// A path inside a plugin: relative, no `.` or `..` segment, no empty segment.
fn check_path(path: &str) -> Result<(), ApiError> {
    if path.is_empty()
        || path
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == ".." || seg.contains('\\'))
    {
        return Err(ApiError::illegal(format!("Invalid plugin file path '{path}'")));
    }
    Ok(())
}

/// The file of a multipart body's `file` part (what the official client uploads), or the body
/// itself when it is not multipart (a raw zip).
fn uploaded_file(body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let bad = || ApiError::illegal("the upload is not a multipart body with a 'file' part");
    if !body.starts_with(b"--") {
        return if body.is_empty() {
            Err(bad())
        } else {
            Ok(body.to_vec())
        };
    }
    let line_end = find(body, b"\r\n").ok_or_else(bad)?;
    let delimiter = [b"\r\n", &body[..line_end]].concat();
    let mut rest = &body[line_end + 2..];
    loop {
        let head_end = find(rest, b"\r\n\r\n").ok_or_else(bad)?;
        let headers = String::from_utf8_lossy(&rest[..head_end]).to_ascii_lowercase();
        let content = &rest[head_end + 4..];
        let end = find(content, &delimiter).ok_or_else(bad)?;
        if headers.contains("name=\"file\"") {
            return Ok(content[..end].to_vec());
        }
        let after = &content[end + delimiter.len()..];
        if after.starts_with(b"--") {
            return Err(bad());
        }
        rest = after.strip_prefix(b"\r\n").ok_or_else(bad)?;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The files of a zip, relative to the directory holding `plugin.json`.
fn unzip(bytes: &[u8]) -> Result<Files, ApiError> {
    let bad = |err: String| ApiError::illegal(format!("the plugin archive is not a valid zip: {err}"));
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| bad(e.to_string()))?;
    let mut files = Files::new();
    let mut total = 0u64;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| bad(e.to_string()))?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().trim_start_matches("./").to_string();
        total += entry.size();
        if total > MAX_FILES_BYTES {
            return Err(ApiError::illegal(
                "the plugin archive is larger than 64 MiB unpacked",
            ));
        }
        let mut content = Vec::new();
        entry.read_to_end(&mut content).map_err(|e| bad(e.to_string()))?;
        check_path(&name)?;
        files.insert(name, content);
    }
    rooted_at_plugin_json(files)
}

/// Strip the single top directory when `plugin.json` sits in it rather than at the root.
fn rooted_at_plugin_json(files: Files) -> Result<Files, ApiError> {
    if files.contains_key("plugin.json") {
        return Ok(files);
    }
    let top: Option<&str> = files.keys().next().and_then(|k| k.split('/').next());
    if let Some(top) = top
        && files.contains_key(&format!("{top}/plugin.json"))
        && files.keys().all(|k| k.starts_with(&format!("{top}/")))
    {
        let prefix = format!("{top}/");
        return Ok(files
            .into_iter()
            .map(|(k, v)| (k[prefix.len()..].to_string(), v))
            .collect());
    }
    Err(ApiError::illegal(
        "the plugin has no plugin.json (at its root or in its single top directory)",
    ))
}

/// What the files declare: `plugin.json`, components, code env.
fn describe(files: &Files) -> Result<(Doc, Vec<Value>, Option<Value>), ApiError> {
    let raw = files
        .get("plugin.json")
        .ok_or_else(|| ApiError::illegal("the plugin has no plugin.json"))?;
    let desc = match serde_json::from_slice::<Value>(raw) {
        Ok(Value::Object(d)) => d,
        Ok(_) => return Err(ApiError::illegal("plugin.json does not hold a JSON object")),
        Err(err) => return Err(ApiError::illegal(format!("plugin.json is not valid JSON: {err}"))),
    };
    let id = desc
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::illegal("plugin.json has no 'id'"))?;
    store::validate_name(id, "plugin id")?;
    if !desc.get("version").is_some_and(Value::is_string) {
        return Err(ApiError::illegal("plugin.json has no 'version' (a string)"));
    }
    let mut components = Vec::new();
    for path in files.keys() {
        let mut segs = path.split('/');
        if let (Some(dir), Some(cid), Some(_)) = (segs.next(), segs.next(), segs.next())
            && COMPONENT_DIRS.contains(&dir)
        {
            let c = json!({"type": dir, "id": cid});
            if !components.contains(&c) {
                components.push(c);
            }
        }
    }
    let mut code_env = None;
    for (dir, lang) in [("python", "PYTHON"), ("R", "R")] {
        if let Some(raw) = files.get(&format!("code-env/{dir}/desc.json")) {
            let env_desc: Value = serde_json::from_slice(raw).unwrap_or_else(|_| json!({}));
            let requirements = files
                .get(&format!("code-env/{dir}/spec/requirements.txt"))
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            code_env = Some(json!({"envLang": lang, "desc": env_desc, "specPackageList": requirements}));
            break;
        }
    }
    Ok((desc, components, code_env))
}

fn parameter_sets(components: &[Value], files: &Files) -> (Vec<Value>, Vec<Value>) {
    let mut descs = Vec::new();
    let mut sets = Vec::new();
    for c in components.iter().filter(|c| c["type"] == "parameter-sets") {
        let id = c["id"].as_str().unwrap_or("");
        let desc = files
            .get(&format!("parameter-sets/{id}/parameter-set.json"))
            .and_then(|b| serde_json::from_slice::<Value>(b).ok())
            .unwrap_or_else(|| json!({}));
        descs.push(json!({"id": id, "elementType": id, "desc": desc}));
        sets.push(json!({"name": id, "type": id,
            "defaultPermission": {"definableInline": false, "definableAtProjectLevel": false},
            "permissions": []}));
    }
    (descs, sets)
}

fn default_settings(record: &Doc) -> Value {
    let (descs, sets) = parameter_sets(&components_of(record), &files_of(record));
    json!({"config": {}, "presets": [], "parameterSets": sets, "accessibleParameterSetDescs": descs,
        "permissions": [], "defaultPermission": {}})
}

fn default_project_settings(record: &Doc, project: &str) -> Value {
    let (descs, _) = parameter_sets(&components_of(record), &files_of(record));
    json!({"projectKey": project, "presets": [], "accessibleParameterSetDescs": descs})
}

fn components_of(record: &Doc) -> Vec<Value> {
    record
        .get("components")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn files_of(record: &Doc) -> Files {
    record
        .get("files")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    let b = base64::engine::general_purpose::STANDARD
                        .decode(v.as_str().unwrap_or(""))
                        .ok()?;
                    Some((k.clone(), b))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn files_value(files: &Files) -> Value {
    Value::Object(
        files
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    json!(base64::engine::general_purpose::STANDARD.encode(v)),
                )
            })
            .collect(),
    )
}

/// A plugin record from its files; `previous` keeps its settings across an update.
fn record(
    files: Files,
    installed_from: &str,
    git: Option<Value>,
    previous: Option<&Doc>,
    login: &str,
) -> Result<Doc, ApiError> {
    let (desc, components, code_env) = describe(&files)?;
    let mut r = Doc::new();
    r.insert("id".into(), desc["id"].clone());
    r.insert("version".into(), desc["version"].clone());
    r.insert("installedFrom".into(), json!(installed_from));
    r.insert("isDev".into(), json!(false));
    r.insert(
        "meta".into(),
        desc.get("meta").cloned().unwrap_or_else(|| json!({})),
    );
    r.insert("components".into(), json!(components));
    if let Some(c) = code_env {
        r.insert("codeEnvSpec".into(), c);
    }
    if let Some(g) = git {
        r.insert("gitReference".into(), g);
    }
    r.insert("desc".into(), Value::Object(desc));
    r.insert("files".into(), files_value(&files));
    r.insert("installedBy".into(), json!(login));
    r.insert("installedOn".into(), json!(store::now_ms()));
    let settings = previous
        .and_then(|p| p.get("settings").cloned())
        .unwrap_or_else(|| default_settings(&r));
    r.insert("settings".into(), settings);
    r.insert(
        "projectSettings".into(),
        previous
            .and_then(|p| p.get("projectSettings").cloned())
            .unwrap_or_else(|| json!({})),
    );
    Ok(r)
}

/// The result of an install or update: what the official client and Ansible read.
fn install_result(r: &Doc, action: &str) -> Value {
    let mut desc = r.get("desc").cloned().unwrap_or_else(|| json!({}));
    if let Some(spec) = r.get("codeEnvSpec") {
        desc["codeEnvSpec"] = spec.clone();
    }
    let id = r.get("id").and_then(Value::as_str).unwrap_or("");
    let version = r.get("version").and_then(Value::as_str).unwrap_or("");
    json!({
        "success": true,
        "pluginId": id,
        "pluginVersion": version,
        "pluginDesc": desc,
        "needsRestart": false,
        "messages": code_envs::messages(&[("SUCCESS", format!("Plugin {id} {version} {action}"))]),
    })
}

fn list_item(r: &Doc) -> Value {
    let mut item = Doc::new();
    for k in [
        "id",
        "version",
        "isDev",
        "installedFrom",
        "meta",
        "components",
        "codeEnvSpec",
        "gitReference",
    ] {
        if let Some(v) = r.get(k) {
            item.insert(k.into(), v.clone());
        }
    }
    if let Some(env) = r.get("settings").and_then(|s| s.get("codeEnvName")) {
        item.insert("codeEnvName".into(), env.clone());
    }
    Value::Object(item)
}

pub(crate) fn list(app: &App, req: &Req) -> ApiResult {
    req.caller.require_admin()?;
    let st = app.read();
    let items: Vec<Value> = st.plugins.values().map(list_item).collect();
    Ok(http::json(&items))
}

/// Store `r` as installed (`update`: it must exist; otherwise it must not), answer the result
/// at once or as a future.
async fn commit(app: &App, r: Doc, update: bool, future: bool, action: &str) -> ApiResult {
    let id = r.get("id").and_then(Value::as_str).unwrap_or("").to_string();
    let result = install_result(&r, action);
    let (pending, answer) = {
        let mut st = app.write();
        match (st.plugins.contains_key(&id), update) {
            (true, false) => {
                return Err(ApiError::already_exists(format!(
                    "Plugin '{id}' is already installed: update it instead"
                )));
            }
            (false, true) => return Err(not_found(&id)),
            _ => {}
        }
        let p = app.persist.put(paths::plugin(&id), &Value::Object(r.clone()));
        st.plugins.insert(id, r);
        let answer = if future {
            st.start_future("plugin-install", result)
        } else {
            result
        };
        (p, answer)
    };
    app.persist.run([pending]).await?;
    Ok(http::json(&answer))
}

pub(crate) async fn install_zip(app: &App, req: &Req, future: bool) -> ApiResult {
    req.caller.require_admin()?;
    let files = unzip(&uploaded_file(&req.body)?)?;
    let r = record(files, "ZIP", None, None, &req.caller.login())?;
    commit(app, r, false, future, "installed").await
}

pub(crate) async fn update_zip(app: &App, req: &Req, id: &str, future: bool) -> ApiResult {
    req.caller.require_admin()?;
    let files = unzip(&uploaded_file(&req.body)?)?;
    let previous = app.read().plugins.get(id).cloned().ok_or_else(|| not_found(id))?;
    let r = record(files, "ZIP", None, Some(&previous), &req.caller.login())?;
    if r["id"] != id {
        return Err(ApiError::illegal(format!(
            "The archive holds plugin {}, not '{id}'",
            r["id"]
        )));
    }
    commit(app, r, true, future, "updated").await
}

/// The files of a store plugin: the store is not reachable, so only its `plugin.json`.
fn store_files(id: &str, version: &str) -> Files {
    let desc = json!({"id": id, "version": version, "meta": {"label": id}});
    let mut files = Files::new();
    files.insert(
        "plugin.json".into(),
        serde_json::to_vec_pretty(&desc).unwrap_or_default(),
    );
    files
}

fn requested_version(body: &Doc) -> Result<String, ApiError> {
    match body.get("version").or_else(|| body.get("pluginVersion")) {
        None => Ok("1.0.0".to_string()),
        Some(Value::String(v)) if !v.trim().is_empty() && v.chars().all(|c| !c.is_whitespace()) => {
            Ok(v.clone())
        }
        Some(other) => Err(ApiError::illegal(format!("Invalid plugin version {other}"))),
    }
}

pub(crate) async fn install_store(app: &App, req: &Req) -> ApiResult {
    req.caller.require_admin()?;
    let mut body = http::body_object(&req.body)?;
    store::drop_nulls(&mut body);
    let id = http::required_str(&body, "plugin install", "pluginId")?;
    store::validate_name(&id, "plugin id")?;
    let version = requested_version(&body)?;
    let r = record(
        store_files(&id, &version),
        "STORE",
        None,
        None,
        &req.caller.login(),
    )?;
    commit(app, r, false, true, "installed from the store").await
}

pub(crate) async fn update_store(app: &App, req: &Req, id: &str) -> ApiResult {
    req.caller.require_admin()?;
    let mut body = http::body_object(&req.body)?;
    store::drop_nulls(&mut body);
    let previous = app.read().plugins.get(id).cloned().ok_or_else(|| not_found(id))?;
    let version = match body.get("version").or_else(|| body.get("pluginVersion")) {
        Some(_) => requested_version(&body)?,
        None => previous
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or("1.0.0")
            .to_string(),
    };
    let r = record(
        store_files(id, &version),
        "STORE",
        None,
        Some(&previous),
        &req.caller.login(),
    )?;
    commit(app, r, true, true, "updated from the store").await
}

/// Clone `url` at `checkout` and read the plugin under `subpath`.
async fn clone_files(url: &str, checkout: &str, subpath: &str) -> Result<Files, ApiError> {
    let dir = std::env::temp_dir().join(format!("dssctl-plugin-{:016x}", rand::random::<u64>()));
    let result = clone_into(&dir, url, checkout, subpath).await;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    result
}

async fn git(args: &[&str]) -> Result<(), String> {
    let mut cmd = tokio::process::Command::new("git");
    cmd.args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output())
        .await
        .map_err(|_| "git timed out after 120s".to_string())?
        .map_err(|err| format!("cannot run git: {err}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

async fn clone_into(
    dir: &std::path::Path,
    url: &str,
    checkout: &str,
    subpath: &str,
) -> Result<Files, ApiError> {
    let failed = |what: &str, err: String| {
        ApiError::illegal(format!("Failed to {what} the plugin repository {url}: {err}"))
    };
    if url.starts_with('-') || checkout.starts_with('-') {
        return Err(ApiError::illegal("Invalid Git repository URL or checkout"));
    }
    let target = dir.to_string_lossy().into_owned();
    git(&["clone", "--quiet", "--", url, &target])
        .await
        .map_err(|e| failed("clone", e))?;
    git(&["-C", &target, "checkout", "--quiet", checkout, "--"])
        .await
        .map_err(|e| failed(&format!("check out '{checkout}' of"), e))?;
    let sub = subpath.trim_matches('/');
    if !sub.is_empty() {
        check_path(sub)?;
    }
    let root = if sub.is_empty() {
        dir.to_path_buf()
    } else {
        dir.join(sub)
    };
    let root_for_walk = root.clone();
    let files = tokio::task::spawn_blocking(move || read_tree(&root_for_walk))
        .await
        .map_err(|err| ApiError::internal(format!("reading the clone failed: {err}")))??;
    if !files.contains_key("plugin.json") {
        return Err(ApiError::illegal(format!(
            "No plugin.json in {url} at '{checkout}'{}",
            if sub.is_empty() {
                String::new()
            } else {
                format!(" under '{sub}'")
            }
        )));
    }
    Ok(files)
}

fn read_tree(root: &std::path::Path) -> Result<Files, ApiError> {
    let mut files = Files::new();
    let mut total = 0u64;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|err| ApiError::illegal(format!("cannot read {}: {err}", dir.display())))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_name() == ".git" {
                continue;
            }
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let rel = path
                    .strip_prefix(root)
                    .map(|p| p.to_string_lossy().replace('\\', "/"))
                    .unwrap_or_default();
                let content = std::fs::read(&path)
                    .map_err(|err| ApiError::illegal(format!("cannot read {rel}: {err}")))?;
                total += content.len() as u64;
                if total > MAX_FILES_BYTES {
                    return Err(ApiError::illegal("the plugin is larger than 64 MiB"));
                }
                files.insert(rel, content);
            }
        }
    }
    Ok(files)
}

fn git_request(body: &Doc) -> Result<(String, String, String), ApiError> {
    let url = http::required_str(body, "plugin install from Git", "gitRepositoryUrl")?;
    let checkout = body
        .get("gitCheckout")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .unwrap_or("master")
        .to_string();
    let subpath = body
        .get("gitSubpath")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Ok((url, checkout, subpath))
}

pub(crate) async fn install_git(app: &App, req: &Req) -> ApiResult {
    req.caller.require_admin()?;
    let mut body = http::body_object(&req.body)?;
    store::drop_nulls(&mut body);
    let (url, checkout, subpath) = git_request(&body)?;
    let files = clone_files(&url, &checkout, &subpath).await?;
    let git = json!({"remote": url, "checkout": checkout, "path": subpath});
    let r = record(files, "GIT", Some(git), None, &req.caller.login())?;
    commit(app, r, false, true, "installed from Git").await
}

pub(crate) async fn update_git(app: &App, req: &Req, id: &str) -> ApiResult {
    req.caller.require_admin()?;
    let mut body = http::body_object(&req.body)?;
    store::drop_nulls(&mut body);
    let previous = app.read().plugins.get(id).cloned().ok_or_else(|| not_found(id))?;
    let (url, checkout, subpath) = git_request(&body)?;
    let files = clone_files(&url, &checkout, &subpath).await?;
    let git = json!({"remote": url, "checkout": checkout, "path": subpath});
    let r = record(files, "GIT", Some(git), Some(&previous), &req.caller.login())?;
    if r["id"] != id {
        return Err(ApiError::illegal(format!(
            "The repository holds plugin {}, not '{id}'",
            r["id"]
        )));
    }
    commit(app, r, true, true, "updated from Git").await
}

/// Datasets whose type is one of the plugin's connectors (`Custom..._<pluginId>_<connector>`).
fn usages_in(st: &Store, r: &Doc, only_project: Option<&str>) -> Vec<Value> {
    let id = r.get("id").and_then(Value::as_str).unwrap_or("");
    let connectors: Vec<String> = components_of(r)
        .iter()
        .filter(|c| c["type"].as_str().is_some_and(|t| t.ends_with("-connectors")))
        .filter_map(|c| c["id"].as_str().map(|cid| format!("_{id}_{cid}")))
        .collect();
    let mut out = Vec::new();
    for (key, project) in &st.projects {
        if only_project.is_some_and(|p| p != key) {
            continue;
        }
        for (name, ds) in &project.datasets {
            let ty = ds.get("type").and_then(Value::as_str).unwrap_or("");
            if ty.starts_with("Custom") && connectors.iter().any(|suffix| ty.ends_with(suffix.as_str())) {
                out.push(json!({"elementKind": "python-connectors", "elementType": ty,
                    "objectType": "DATASET", "objectId": name, "projectKey": key}));
            }
        }
    }
    out
}

pub(crate) fn usages(app: &App, req: &Req, id: &str) -> ApiResult {
    req.caller.require_admin()?;
    let st = app.read();
    let r = plugin(&st, id)?;
    let project = req.query.get("projectKey").filter(|p| !p.is_empty());
    if let Some(p) = project {
        st.project(p)?;
    }
    Ok(http::json(
        &json!({"usages": usages_in(&st, r, project), "missingTypes": []}),
    ))
}

pub(crate) fn project_usages(app: &App, req: &Req, key: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let st = app.read();
    st.project(key)?;
    let items: Vec<Value> = st
        .plugins
        .iter()
        .filter_map(|(id, r)| {
            let used = usages_in(&st, r, Some(key));
            (!used.is_empty())
                .then(|| json!({"pluginId": id, "pluginUsages": {"usages": used, "missingTypes": []}}))
        })
        .collect();
    Ok(http::json(&items))
}

pub(crate) async fn delete(app: &App, req: &Req, id: &str) -> ApiResult {
    req.caller.require_admin()?;
    let body = http::body_object(&req.body)?;
    let force = match body.get("force") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(ApiError::illegal(format!(
                "'force' must be a boolean, got {other}"
            )));
        }
    };
    let (pending, answer) = {
        let mut st = app.write();
        let r = plugin(&st, id)?;
        let used = usages_in(&st, r, None);
        if !used.is_empty() && !force {
            return Err(ApiError::illegal(format!(
                "Plugin '{id}' is used by {} object(s) (first: {}.{}): delete with force to remove it anyway",
                used.len(),
                used[0]["projectKey"].as_str().unwrap_or(""),
                used[0]["objectId"].as_str().unwrap_or("")
            )));
        }
        st.plugins.remove(id);
        let result = json!({"success": true, "pluginId": id,
            "messages": code_envs::messages(&[("SUCCESS", format!("Plugin {id} deleted"))])});
        (
            app.persist.remove(paths::plugin(id)),
            st.start_future("plugin-delete", result),
        )
    };
    app.persist.run([pending]).await?;
    Ok(http::json(&answer))
}

pub(crate) fn get_settings(app: &App, req: &Req, id: &str) -> ApiResult {
    req.caller.require_admin()?;
    let st = app.read();
    let r = plugin(&st, id)?;
    match req.query.get("projectKey").filter(|p| !p.is_empty()) {
        None => Ok(http::json(r.get("settings").unwrap_or(&Value::Null))),
        Some(project) => {
            st.project(project)?;
            let doc = r
                .get("projectSettings")
                .and_then(|p| p.get(project))
                .cloned()
                .unwrap_or_else(|| default_project_settings(r, project));
            Ok(http::json(&doc))
        }
    }
}

/// `POST /plugins/{id}/settings` (`?projectKey=` for the project-level settings) and its
/// `/future` variant (which the official client sends without `projectKey`: the body's
/// `projectKey` then says which project, if any).
pub(crate) async fn save_settings(app: &App, req: &Req, id: &str, future: bool) -> ApiResult {
    req.caller.require_admin()?;
    let mut body = http::body_object(&req.body)?;
    store::drop_nulls(&mut body);
    let project = req
        .query
        .get("projectKey")
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .or_else(|| body.get("projectKey").and_then(Value::as_str).map(str::to_string));
    for k in ["presets", "parameterSets", "permissions"] {
        if let Some(v) = body.get(k)
            && !v.is_array()
        {
            return Err(ApiError::illegal(format!(
                "plugin settings: '{k}' must be a list, got {}",
                http::kind_of(v)
            )));
        }
    }
    let (pending, answer) = {
        let mut st = app.write();
        let mut r = plugin(&st, id)?.clone();
        // The parameter set descriptions come from the plugin's files, not from the client.
        let (descs, _) = parameter_sets(&components_of(&r), &files_of(&r));
        body.insert("accessibleParameterSetDescs".into(), json!(descs));
        match &project {
            Some(p) => {
                st.project(p)?;
                body.insert("projectKey".into(), json!(p));
                let mut all = r
                    .get("projectSettings")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                all.insert(p.clone(), Value::Object(body));
                r.insert("projectSettings".into(), Value::Object(all));
            }
            None => {
                match body.get("codeEnvName") {
                    None => {}
                    Some(Value::String(env)) if env.is_empty() => {}
                    Some(Value::String(env)) => {
                        let lang = r
                            .get("codeEnvSpec")
                            .and_then(|c| c.get("envLang"))
                            .and_then(Value::as_str)
                            .unwrap_or("PYTHON");
                        if !st.code_envs.contains_key(&code_envs::key(lang, env)) {
                            return Err(ApiError::illegal(format!(
                                "Code env {lang}/{env} does not exist: create it before naming it in the plugin settings"
                            )));
                        }
                    }
                    Some(other) => {
                        return Err(ApiError::illegal(format!(
                            "'codeEnvName' must be a string, got {other}"
                        )));
                    }
                }
                if body.get("config").is_none() {
                    body.insert("config".into(), json!({}));
                }
                r.insert("settings".into(), Value::Object(body));
            }
        }
        let p = app.persist.put(paths::plugin(id), &Value::Object(r.clone()));
        st.plugins.insert(id.to_string(), r);
        let answer = if future {
            let result = json!({"messages": code_envs::messages(&[("SUCCESS", format!("Settings of plugin {id} saved"))])});
            st.start_future("plugin-settings", result)
        } else {
            json!({"msg": format!("Saved settings of plugin {id}")})
        };
        (p, answer)
    };
    app.persist.run([pending]).await?;
    Ok(http::json(&answer))
}

fn env_name(id: &str) -> String {
    format!("plugin_{id}_managed")
}

pub(crate) async fn create_code_env(app: &App, req: &Req, id: &str) -> ApiResult {
    req.caller.require_admin()?;
    let mut body = http::body_object(&req.body)?;
    store::drop_nulls(&mut body);
    let mode = body
        .get("deploymentMode")
        .and_then(Value::as_str)
        .unwrap_or("PLUGIN_MANAGED")
        .to_string();
    if mode != "PLUGIN_MANAGED" && mode != "PLUGIN_NON_MANAGED" {
        return Err(ApiError::illegal(format!(
            "Invalid deployment mode '{mode}' for a plugin code env: PLUGIN_MANAGED or PLUGIN_NON_MANAGED"
        )));
    }
    let (pending, answer) = {
        let mut st = app.write();
        let r = plugin(&st, id)?;
        let spec = r
            .get("codeEnvSpec")
            .cloned()
            .ok_or_else(|| ApiError::illegal(format!("Plugin '{id}' does not declare a code env")))?;
        let lang = spec["envLang"].as_str().unwrap_or("PYTHON").to_string();
        let name = env_name(id);
        if st.code_envs.contains_key(&code_envs::key(&lang, &name)) {
            return Err(ApiError::already_exists(format!(
                "Code env {lang}/{name} of plugin '{id}' already exists: update it instead"
            )));
        }
        let mut params = Doc::new();
        params.insert("specPackageList".into(), spec["specPackageList"].clone());
        if let Some(interp) = body.get("pythonInterpreter") {
            params.insert("pythonInterpreter".into(), interp.clone());
        }
        if let Some(conda) = body.get("conda") {
            params.insert("conda".into(), conda.clone());
        }
        let definition = code_envs::new_definition(&lang, &name, &mode, &req.caller.login(), &params)?;
        let mut env = CodeEnv {
            definition,
            ..Default::default()
        };
        let messages = code_envs::install(&mut env, "create", false);
        let p = app.persist.put(paths::code_env(&lang, &name), &env.to_record());
        st.code_envs.insert(code_envs::key(&lang, &name), env);
        let result = json!({"envName": name, "envLang": lang, "messages": messages});
        (p, st.start_future("plugin-code-env-create", result))
    };
    app.persist.run([pending]).await?;
    Ok(http::json(&answer))
}

pub(crate) async fn update_code_env(app: &App, req: &Req, id: &str) -> ApiResult {
    req.caller.require_admin()?;
    let (pending, answer) = {
        let mut st = app.write();
        let r = plugin(&st, id)?;
        let spec = r
            .get("codeEnvSpec")
            .cloned()
            .ok_or_else(|| ApiError::illegal(format!("Plugin '{id}' does not declare a code env")))?;
        let lang = spec["envLang"].as_str().unwrap_or("PYTHON").to_string();
        let name = r
            .get("settings")
            .and_then(|s| s.get("codeEnvName"))
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map_or_else(|| env_name(id), str::to_string);
        let mut env = st
            .code_envs
            .get(&code_envs::key(&lang, &name))
            .cloned()
            .ok_or_else(|| {
                ApiError::not_found(format!("Code env {lang}/{name} of plugin '{id}' does not exist"))
            })?;
        // The plugin's (possibly updated) requirements are what the env installs.
        env.definition
            .insert("specPackageList".into(), spec["specPackageList"].clone());
        let messages = code_envs::install(&mut env, "update-packages", false);
        let p = app.persist.put(paths::code_env(&lang, &name), &env.to_record());
        st.code_envs.insert(code_envs::key(&lang, &name), env);
        let result = json!({"envName": name, "envLang": lang, "messages": messages});
        (p, st.start_future("plugin-code-env-update", result))
    };
    app.persist.run([pending]).await?;
    Ok(http::json(&answer))
}

pub(crate) fn download(app: &App, req: &Req, id: &str) -> ApiResult {
    req.caller.require_admin()?;
    let files = {
        let st = app.read();
        files_of(plugin(&st, id)?)
    };
    let mut cursor = std::io::Cursor::new(Vec::new());
    let zipped = (|| -> zip::result::ZipResult<()> {
        let mut zw = zip::ZipWriter::new(&mut cursor);
        let opts =
            zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (path, content) in &files {
            zw.start_file(path.as_str(), opts)?;
            zw.write_all(content)?;
        }
        zw.finish()?;
        Ok(())
    })();
    zipped.map_err(|err| ApiError::internal(format!("cannot build the plugin archive: {err}")))?;
    Ok(http::text("application/zip", cursor.into_inner()))
}

/// The files as a tree of folders (`children`) and files (`size`).
fn tree(files: &Files) -> Value {
    fn insert(node: &mut Doc, parts: &[&str], prefix: &str, size: usize) {
        let Some((first, rest)) = parts.split_first() else {
            return;
        };
        let path = if prefix.is_empty() {
            first.to_string()
        } else {
            format!("{prefix}/{first}")
        };
        let children = node
            .entry("children")
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .expect("children is a list");
        if rest.is_empty() {
            children.push(json!({"name": first, "path": path, "size": size}));
            return;
        }
        let pos = children
            .iter()
            .position(|c| c["name"] == *first && c.get("children").is_some());
        let idx = match pos {
            Some(i) => i,
            None => {
                children.push(json!({"name": first, "path": path, "children": []}));
                children.len() - 1
            }
        };
        if let Some(Value::Object(child)) = children.get_mut(idx) {
            insert(child, rest, &path, size);
        }
    }
    let mut root = Doc::new();
    root.insert("name".into(), json!(""));
    root.insert("path".into(), json!(""));
    root.insert("children".into(), json!([]));
    for (path, content) in files {
        let parts: Vec<&str> = path.split('/').collect();
        insert(&mut root, &parts, "", content.len());
    }
    Value::Object(root)
}

pub(crate) fn list_files(app: &App, req: &Req, id: &str) -> ApiResult {
    req.caller.require_admin()?;
    let st = app.read();
    Ok(http::json(&tree(&files_of(plugin(&st, id)?))))
}

pub(crate) fn get_file(app: &App, req: &Req, id: &str, path: &str) -> ApiResult {
    req.caller.require_admin()?;
    check_path(path)?;
    let st = app.read();
    let files = files_of(plugin(&st, id)?);
    let content = files
        .get(path)
        .ok_or_else(|| ApiError::not_found(format!("No file '{path}' in plugin '{id}'")))?;
    Ok(http::text("application/octet-stream", content.clone()))
}

/// Replace the plugin's files with `files`, re-reading what they declare (the id stays).
async fn save_files(app: &App, id: &str, edit: impl FnOnce(&mut Files) -> Result<(), ApiError>) -> ApiResult {
    let pending = {
        let mut st = app.write();
        let mut r = plugin(&st, id)?.clone();
        let mut files = files_of(&r);
        edit(&mut files)?;
        if let Ok((desc, components, code_env)) = describe(&files) {
            r.insert("components".into(), json!(components));
            match code_env {
                Some(c) => r.insert("codeEnvSpec".into(), c),
                None => r.remove("codeEnvSpec"),
            };
            if let Some(v) = desc.get("version") {
                r.insert("version".into(), v.clone());
            }
            r.insert(
                "meta".into(),
                desc.get("meta").cloned().unwrap_or_else(|| json!({})),
            );
            r.insert("desc".into(), Value::Object(desc));
        }
        r.insert("files".into(), files_value(&files));
        let p = app.persist.put(paths::plugin(id), &Value::Object(r.clone()));
        st.plugins.insert(id.to_string(), r);
        p
    };
    app.persist.run([pending]).await?;
    Ok(http::msg(format!("Saved files of plugin {id}")))
}

pub(crate) async fn put_file(app: &App, req: &Req, id: &str, path: &str) -> ApiResult {
    req.caller.require_admin()?;
    check_path(path)?;
    let content = req.body.to_vec();
    let path = path.to_string();
    save_files(app, id, move |files| {
        if files.keys().any(|k| k.starts_with(&format!("{path}/"))) {
            return Err(ApiError::illegal(format!("'{path}' is a folder of the plugin")));
        }
        files.insert(path, content);
        Ok(())
    })
    .await
}

/// `contents-actions/rename` (`{oldPath, newName}`) and `contents-actions/move`
/// (`{oldPath, newPath}`), for a file or a folder.
pub(crate) async fn rename_file(app: &App, req: &Req, id: &str, is_move: bool) -> ApiResult {
    req.caller.require_admin()?;
    let body = http::body_object(&req.body)?;
    let old = http::required_str(&body, "plugin file action", "oldPath")?;
    check_path(&old)?;
    let new = if is_move {
        http::required_str(&body, "plugin file move", "newPath")?
    } else {
        let name = http::required_str(&body, "plugin file rename", "newName")?;
        if name.contains('/') {
            return Err(ApiError::illegal(format!(
                "Invalid new name '{name}': no '/' allowed"
            )));
        }
        match old.rsplit_once('/') {
            Some((dir, _)) => format!("{dir}/{name}"),
            None => name,
        }
    };
    check_path(&new)?;
    save_files(app, id, move |files| {
        let moved: Vec<String> = files
            .keys()
            .filter(|k| **k == old || k.starts_with(&format!("{old}/")))
            .cloned()
            .collect();
        if moved.is_empty() {
            return Err(ApiError::not_found(format!(
                "No file or folder '{old}' in the plugin"
            )));
        }
        let target = |k: &str| format!("{new}{}", &k[old.len()..]);
        if moved
            .iter()
            .any(|k| files.contains_key(&target(k)) && !moved.contains(&target(k)))
        {
            return Err(ApiError::already_exists(format!(
                "'{new}' already exists in the plugin"
            )));
        }
        let mut taken = Vec::new();
        for k in moved {
            if let Some(v) = files.remove(&k) {
                taken.push((target(&k), v));
            }
        }
        files.extend(taken);
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_of(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut cursor = std::io::Cursor::new(Vec::new());
        let mut zw = zip::ZipWriter::new(&mut cursor);
        for (name, content) in entries {
            zw.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            zw.write_all(content.as_bytes()).unwrap();
        }
        zw.finish().unwrap();
        cursor.into_inner()
    }

    #[test]
    fn a_zip_is_read_with_its_components_and_code_env() {
        let bytes = zip_of(&[
            (
                "my-plugin/plugin.json",
                r#"{"id": "my-plugin", "version": "1.2.0", "meta": {"label": "Mine"}}"#,
            ),
            ("my-plugin/custom-recipes/clean/recipe.json", "{}"),
            ("my-plugin/custom-recipes/clean/recipe.py", ""),
            (
                "my-plugin/parameter-sets/creds/parameter-set.json",
                r#"{"params": []}"#,
            ),
            (
                "my-plugin/code-env/python/desc.json",
                r#"{"acceptedPythonInterpreters": ["PYTHON311"]}"#,
            ),
            (
                "my-plugin/code-env/python/spec/requirements.txt",
                "requests==2.31.0\n",
            ),
        ]);
        let files = unzip(&bytes).unwrap();
        assert!(files.contains_key("plugin.json"));
        let r = record(files, "ZIP", None, None, "admin").unwrap();
        assert_eq!(r["id"], "my-plugin");
        assert_eq!(r["version"], "1.2.0");
        assert_eq!(
            r["components"],
            json!([{"type": "custom-recipes", "id": "clean"}, {"type": "parameter-sets", "id": "creds"}])
        );
        assert_eq!(r["codeEnvSpec"]["specPackageList"], "requests==2.31.0\n");
        assert_eq!(r["settings"]["accessibleParameterSetDescs"][0]["id"], "creds");
        assert_eq!(
            install_result(&r, "installed")["pluginDesc"]["codeEnvSpec"]["envLang"],
            "PYTHON"
        );
    }

    #[test]
    fn a_zip_without_plugin_json_is_refused() {
        assert!(unzip(&zip_of(&[("a/readme.md", "x")])).is_err());
        assert!(unzip(b"not a zip").is_err());
    }

    #[test]
    fn multipart_uploads_are_unwrapped() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nv\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.zip\"\r\n\r\nPK\x03\x04data\r\n--XyZ--\r\n";
        assert_eq!(uploaded_file(body).unwrap(), b"PK\x03\x04data");
        assert_eq!(uploaded_file(b"PKraw").unwrap(), b"PKraw");
        assert!(uploaded_file(b"--XyZ\r\nbroken").is_err());
    }

    #[test]
    fn paths_cannot_leave_the_plugin() {
        for bad in ["../x", "a/../b", "/abs", "a//b", ""] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
        check_path("python-lib/mod.py").unwrap();
    }

    #[test]
    fn files_make_a_tree() {
        let mut files = Files::new();
        files.insert("plugin.json".into(), b"{}".to_vec());
        files.insert("python-lib/a/b.py".into(), b"xx".to_vec());
        let t = tree(&files);
        assert_eq!(t["children"][0]["name"], "plugin.json");
        assert_eq!(
            t["children"][1]["children"][0]["children"][0]["path"],
            "python-lib/a/b.py"
        );
        assert_eq!(t["children"][1]["children"][0]["children"][0]["size"], 2);
    }
}
