//! Code envs (`/admin/code-envs/...`): list, create (Python and R, from a preset, DSS-internal),
//! definition get/put, package updates, Jupyter support, image builds, usages, logs and delete.
//!
//! A code env is its definition document, its logs and the failure of its last package
//! installation (`store::CodeEnv`). No package index is reachable from the emulator, so an
//! installation checks every requested line (a pip requirement for Python, a CRAN package for
//! R), records the valid ones as installed (`actualPackageList`) and says so in its log. An
//! invalid line fails the installation the way DSS reports it: the answer is 200 with
//! `messages.error: true` (what the official client turns into "Env update failed"), and the env
//! then answers 500 on GET until a later installation succeeds.
//!
//! Defaults at create: `usableByAll: false`, `permissions: []`, `allContainerConfs: true`,
//! `containerConfs: []`, `allSparkKubernetesConfs: false`, `sparkKubernetesConfs: []`, empty
//! package lists, and in `desc`: `owner` (the caller), `installCorePackages: true`,
//! `installJupyterSupport: true`, `corePackagesSet: "AUTO"`, `conda: false` and, for Python,
//! `pythonInterpreter: "PYTHON39"`. A PUT copies the top-level `usableByAll`,
//! `allContainerConfs` and `containerConfs` into `desc`, as DSS does; identity fields and the
//! installed package lists are DSS's own and cannot be changed by a PUT.

use axum::http::StatusCode;
use axum::routing;
use serde_json::{Value, json};

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
    type K3 = Params<(String, String, String)>;
    Routes::new()
        .route(
            "/admin/code-envs",
            routing::get(|a: Api| async move { list(&a.app, &a.req) }),
        )
        .route(
            "/admin/code-envs/usages",
            routing::get(|a: Api| async move { all_usages(&a.app, &a.req) }),
        )
        .route(
            "/admin/code-envs/internal-env/create",
            routing::post(|a: Api| async move { create_internal(&a.app, &a.req).await }),
        )
        .route(
            "/admin/code-envs/from-python-preset/{presetName}",
            routing::post(|Params(p): K, a: Api| async move { from_preset(&a.app, &a.req, &p).await }),
        )
        .route(
            "/admin/code-envs/{envLang}/{envName}",
            routing::post(|Params((l, n)): KN, a: Api| async move { create(&a.app, &a.req, &l, &n).await })
                .get(|Params((l, n)): KN, a: Api| async move { get(&a.app, &a.req, &l, &n) })
                .put(|Params((l, n)): KN, a: Api| async move { put(&a.app, &a.req, &l, &n).await })
                .delete(|Params((l, n)): KN, a: Api| async move { delete(&a.app, &a.req, &l, &n).await }),
        )
        .route(
            "/admin/code-envs/{envLang}/{envName}/{projectKey}/version",
            routing::get(|Params((l, n, k)): K3, a: Api| async move { version(&a.app, &a.req, &l, &n, &k) }),
        )
        .route(
            "/admin/code-envs/{envLang}/{envName}/jupyter",
            routing::post(|Params((l, n)): KN, a: Api| async move { jupyter(&a.app, &a.req, &l, &n).await }),
        )
        .route(
            "/admin/code-envs/{envLang}/{envName}/packages",
            routing::post(|Params((l, n)): KN, a: Api| async move { packages(&a.app, &a.req, &l, &n).await }),
        )
        .route(
            "/admin/code-envs/{envLang}/{envName}/images",
            routing::post(|Params((l, n)): KN, a: Api| async move { images(&a.app, &a.req, &l, &n).await }),
        )
        .route(
            "/admin/code-envs/{envLang}/{envName}/usages",
            routing::get(|Params((l, n)): KN, a: Api| async move { usages(&a.app, &a.req, &l, &n) }),
        )
        .route(
            "/admin/code-envs/{envLang}/{envName}/logs",
            routing::get(|Params((l, n)): KN, a: Api| async move { logs(&a.app, &a.req, &l, &n) }),
        )
        .route(
            "/admin/code-envs/{envLang}/{envName}/logs/{logName}",
            routing::get(|Params((l, n, f)): K3, a: Api| async move { log(&a.app, &a.req, &l, &n, &f) }),
        )
}

/// Deployment modes a design node accepts; the automation ones belong to automation nodes.
const DESIGN_MODES: &[&str] = &[
    "DESIGN_MANAGED",
    "DESIGN_NON_MANAGED",
    "PLUGIN_MANAGED",
    "PLUGIN_NON_MANAGED",
    "EXTERNAL_CONDA_NAMED",
];

/// `PYTHON` or `R`, whatever the case the client used.
pub(crate) fn lang_of(raw: &str) -> Result<&'static str, ApiError> {
    match raw.to_ascii_uppercase().as_str() {
        "PYTHON" => Ok("PYTHON"),
        "R" => Ok("R"),
        _ => Err(ApiError::illegal(format!(
            "Invalid code env language '{raw}': expected PYTHON or R"
        ))),
    }
}

pub(crate) fn key(lang: &str, name: &str) -> String {
    format!("{lang}/{name}")
}

fn not_found(lang: &str, name: &str) -> ApiError {
    ApiError::not_found(format!("Code env {lang}/{name} does not exist"))
}

/// What DSS answers for an env whose last build broke: its `desc.json` cannot be read.
fn broken(lang: &str, name: &str, failure: &str) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "java.lang.IllegalStateException",
        format!(
            "Not a file: code-envs/{}/{name}/desc.json (the last package installation failed: {failure}; \
             update the packages again to rebuild the env)",
            lang.to_ascii_lowercase()
        ),
    )
}

/// The `messages` block of DSS operation results: each entry is `(severity, text)` with
/// severity `SUCCESS`, `INFO`, `WARNING` or `ERROR`.
pub(crate) fn messages(entries: &[(&str, String)]) -> Value {
    let has = |sev: &str| entries.iter().any(|(s, _)| *s == sev);
    let items: Vec<Value> = entries
        .iter()
        .map(|(sev, text)| json!({"severity": sev, "message": text, "details": ""}))
        .collect();
    json!({
        "messages": items,
        "anyMessage": !entries.is_empty(),
        "success": has("SUCCESS"),
        "warning": has("WARNING"),
        "error": has("ERROR"),
        "fatal": has("FATAL"),
    })
}

/// Answer an operation's result at once (`wait=true`, the default) or as a future.
fn answer(st: &mut Store, wait: bool, kind: &str, result: Value) -> Value {
    if wait {
        result
    } else {
        st.start_future(kind, result)
    }
}

fn list_item(env: &CodeEnv) -> Value {
    let d = &env.definition;
    let desc = d.get("desc");
    let mut item = json!({
        "envName": d.get("envName"),
        "envLang": d.get("envLang"),
        "deploymentMode": d.get("deploymentMode"),
        "owner": desc.and_then(|x| x.get("owner")),
        "usableByAll": d.get("usableByAll"),
        "isUptodate": env.failure.is_none(),
    });
    if let Some(interp) = desc.and_then(|x| x.get("pythonInterpreter")) {
        item["pythonInterpreter"] = interp.clone();
    }
    item
}

pub(crate) fn list(app: &App, req: &Req) -> ApiResult {
    req.caller.require_admin()?;
    let st = app.read();
    let items: Vec<Value> = st.code_envs.values().map(list_item).collect();
    Ok(http::json(&items))
}

/// A new definition from a create body (`params` of the official client's `create_code_env`,
/// which may carry top-level options and a partial `desc`).
pub(crate) fn new_definition(
    lang: &str,
    name: &str,
    mode: &str,
    owner: &str,
    body: &Doc,
) -> Result<Doc, ApiError> {
    let mut desc = Doc::new();
    desc.insert("owner".into(), json!(owner));
    desc.insert("deploymentMode".into(), json!(mode));
    desc.insert("installCorePackages".into(), json!(true));
    desc.insert("corePackagesSet".into(), json!("AUTO"));
    desc.insert("installJupyterSupport".into(), json!(true));
    desc.insert("conda".into(), json!(false));
    if lang == "PYTHON" {
        desc.insert("pythonInterpreter".into(), json!("PYTHON39"));
    }
    // Options given at the top level of the create body, then the body's own `desc`.
    for k in [
        "installCorePackages",
        "corePackagesSet",
        "installJupyterSupport",
        "conda",
        "pythonInterpreter",
        "owner",
    ] {
        if let Some(v) = body.get(k) {
            desc.insert(k.into(), v.clone());
        }
    }
    match body.get("desc") {
        None => {}
        Some(Value::Object(d)) => {
            for (k, v) in d {
                if !v.is_null() {
                    desc.insert(k.clone(), v.clone());
                }
            }
        }
        Some(other) => {
            return Err(ApiError::illegal(format!(
                "code env: 'desc' must be an object, got {}",
                http::kind_of(other)
            )));
        }
    }
    if lang == "R" {
        desc.remove("pythonInterpreter");
    } else {
        check_interpreter(desc.get("pythonInterpreter"))?;
    }
    let mut doc = Doc::new();
    doc.insert("envName".into(), json!(name));
    doc.insert("envLang".into(), json!(lang));
    doc.insert("deploymentMode".into(), json!(mode));
    doc.insert(
        "usableByAll".into(),
        body.get("usableByAll").cloned().unwrap_or(json!(false)),
    );
    doc.insert(
        "permissions".into(),
        normalise_permissions(body.get("permissions"))?,
    );
    doc.insert(
        "allContainerConfs".into(),
        body.get("allContainerConfs").cloned().unwrap_or(json!(true)),
    );
    doc.insert(
        "containerConfs".into(),
        body.get("containerConfs").cloned().unwrap_or(json!([])),
    );
    doc.insert(
        "allSparkKubernetesConfs".into(),
        body.get("allSparkKubernetesConfs")
            .cloned()
            .unwrap_or(json!(false)),
    );
    doc.insert(
        "sparkKubernetesConfs".into(),
        body.get("sparkKubernetesConfs").cloned().unwrap_or(json!([])),
    );
    for k in ["specPackageList", "specCondaEnvironment"] {
        let v = match body.get(k) {
            None => json!(""),
            Some(Value::String(s)) => json!(s),
            Some(other) => {
                return Err(ApiError::illegal(format!(
                    "code env: '{k}' must be a string (one requirement per line), got {}",
                    http::kind_of(other)
                )));
            }
        };
        doc.insert(k.into(), v);
    }
    doc.insert("actualPackageList".into(), json!(""));
    doc.insert("actualCondaEnvironment".into(), json!(""));
    doc.insert("desc".into(), Value::Object(desc));
    copy_into_desc(&mut doc);
    Ok(doc)
}

fn check_interpreter(value: Option<&Value>) -> Result<(), ApiError> {
    match value {
        None => Ok(()),
        Some(Value::String(s))
            if s == "CUSTOM"
                || s.strip_prefix("PYTHON")
                    .is_some_and(|v| v.len() >= 2 && v.chars().all(|c| c.is_ascii_digit())) =>
        {
            Ok(())
        }
        Some(other) => Err(ApiError::illegal(format!(
            "Invalid python interpreter {other}: expected PYTHON39, PYTHON311, ... or CUSTOM"
        ))),
    }
}

/// Grants as DSS keeps them: a `group` and every flag, missing flags false.
fn normalise_permissions(value: Option<&Value>) -> Result<Value, ApiError> {
    let grants = match value {
        None | Some(Value::Null) => return Ok(json!([])),
        Some(Value::Array(g)) => g,
        Some(other) => {
            return Err(ApiError::illegal(format!(
                "code env: 'permissions' must be a list, got {}",
                http::kind_of(other)
            )));
        }
    };
    let mut out = Vec::new();
    for g in grants {
        let Some(obj) = g.as_object() else {
            return Err(ApiError::illegal(format!(
                "code env permissions: every grant must be an object, got {g}"
            )));
        };
        if !obj.get("group").is_some_and(Value::is_string) {
            return Err(ApiError::illegal(
                "code env permissions: every grant needs a 'group' (a string)",
            ));
        }
        let mut grant = obj.clone();
        for flag in ["use", "update", "manageUsers"] {
            if grant.get(flag).is_none_or(Value::is_null) {
                grant.insert(flag.into(), json!(false));
            }
        }
        out.push(Value::Object(grant));
    }
    Ok(Value::Array(out))
}

/// DSS keeps these three at the top level and in `desc`; the top-level copy wins.
fn copy_into_desc(doc: &mut Doc) {
    let copies: Vec<(String, Value)> = ["usableByAll", "allContainerConfs", "containerConfs"]
        .iter()
        .filter_map(|k| doc.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect();
    if let Some(Value::Object(desc)) = doc.get_mut("desc") {
        for (k, v) in copies {
            desc.insert(k, v);
        }
    }
}

/// Whether `line` is a requirement the env's package manager would accept.
pub(crate) fn check_requirement(lang: &str, line: &str) -> Result<(), String> {
    if lang == "R" {
        check_cran(line)
    } else {
        check_pip(line)
    }
}

fn is_pkg_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

fn check_pip(line: &str) -> Result<(), String> {
    let invalid = || format!("Invalid requirement: '{line}'");
    if let Some(option) = line.strip_prefix('-') {
        // The index options pip reads from a requirements file; anything else (`-r file`,
        // `-e path`) names files that do not exist on the instance.
        let known = [
            "-index-url",
            "-extra-index-url",
            "-trusted-host",
            "-find-links",
            "i ",
            "f ",
        ];
        return if known.iter().any(|k| option.starts_with(k)) {
            Ok(())
        } else {
            Err(format!("Unsupported option in a code env requirement: '{line}'"))
        };
    }
    if line.contains("://") && !line.contains(" @ ") {
        // A direct URL (`git+https://...`, a wheel URL): recorded as given.
        return Ok(());
    }
    // An environment marker (`; python_version < "3.10"`) is kept as given.
    let req = match line.split_once(';') {
        Some((r, m)) if !m.trim().is_empty() => r.trim(),
        Some(_) => return Err(invalid()),
        None => line,
    };
    let name_len = req.find(|c: char| !is_pkg_char(c)).unwrap_or(req.len());
    let name = &req[..name_len];
    if name.is_empty()
        || !name.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !name.ends_with(|c: char| c.is_ascii_alphanumeric())
    {
        return Err(invalid());
    }
    let mut rest = req[name_len..].trim_start();
    if let Some(after) = rest.strip_prefix('[') {
        let Some((extras, tail)) = after.split_once(']') else {
            return Err(invalid());
        };
        if extras
            .split(',')
            .any(|e| e.trim().is_empty() || !e.trim().chars().all(is_pkg_char))
        {
            return Err(invalid());
        }
        rest = tail.trim_start();
    }
    if rest.is_empty() {
        return Ok(());
    }
    if let Some(url) = rest.strip_prefix('@') {
        return if url.trim().contains("://") {
            Ok(())
        } else {
            Err(invalid())
        };
    }
    let rest = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or(rest);
    for spec in rest.split(',') {
        let spec = spec.trim();
        let op_len = spec
            .find(|c: char| !matches!(c, '=' | '<' | '>' | '!' | '~'))
            .unwrap_or(spec.len());
        let (op, version) = spec.split_at(op_len);
        let version = version.trim();
        let op_ok = matches!(op, "==" | "!=" | "<=" | ">=" | "<" | ">" | "~=" | "===");
        let version_ok = !version.is_empty()
            && version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '*' | '+' | '!' | '-' | '_'));
        if !op_ok || !version_ok {
            return Err(invalid());
        }
    }
    Ok(())
}

/// CRAN package names: a letter, then letters, digits and dots; optionally a version, given
/// as `name,version` or with a comparison (`name>=1.2`).
fn check_cran(line: &str) -> Result<(), String> {
    let invalid = || format!("invalid package specification '{line}'");
    let name_len = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .unwrap_or(line.len());
    let name = &line[..name_len];
    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphabetic()) || name.ends_with('.') {
        return Err(invalid());
    }
    let rest = line[name_len..].trim();
    if rest.is_empty() {
        return Ok(());
    }
    let version = rest
        .strip_prefix(',')
        .or_else(|| {
            ["==", ">=", "<=", ">", "<"]
                .iter()
                .find_map(|op| rest.strip_prefix(op))
        })
        .map(str::trim)
        .ok_or_else(invalid)?;
    if version.is_empty()
        || !version
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-'))
    {
        return Err(invalid());
    }
    Ok(())
}

/// The requested lines of a package list: comments and blank lines dropped.
pub(crate) fn requested_lines(spec: &str) -> Vec<String> {
    spec.lines()
        .map(|l| l.split(" #").next().unwrap_or("").trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

fn log_stamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(time::macros::format_description!(
        "[year]-[month]-[day]-[hour]-[minute]-[second]-[subsecond digits:3]"
    ))
    .unwrap_or_else(|_| store::now_ms().to_string())
}

/// Install the env's requested packages: record the valid ones as installed, or fail on the
/// first invalid ones. Writes a log named after `action` and answers the operation's messages.
pub(crate) fn install(env: &mut CodeEnv, action: &str, force_rebuild: bool) -> Value {
    let d = &env.definition;
    let lang = d
        .get("envLang")
        .and_then(Value::as_str)
        .unwrap_or("PYTHON")
        .to_string();
    let name = d.get("envName").and_then(Value::as_str).unwrap_or("").to_string();
    let mode = d
        .get("deploymentMode")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let desc = d.get("desc").cloned().unwrap_or(Value::Null);
    let spec = d
        .get("specPackageList")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut log = Vec::new();
    log.push(format!(
        "[{}] {action} of code env {lang}/{name} ({mode})",
        log_stamp()
    ));
    if mode.contains("NON_MANAGED") || mode == "EXTERNAL_CONDA_NAMED" {
        log.push("The env is not managed by DSS: nothing to install.".to_string());
        env.logs
            .insert(format!("{action}-{}.log", log_stamp()), log.join("\n") + "\n");
        return messages(&[(
            "INFO",
            format!("Code env {name} is not managed by DSS: nothing installed"),
        )]);
    }
    if let Some(interp) = desc.get("pythonInterpreter").and_then(Value::as_str) {
        log.push(format!("Interpreter: {interp}"));
    }
    if force_rebuild {
        log.push("Rebuilding the env from scratch (forceRebuildEnv).".to_string());
    }
    if desc.get("installCorePackages").and_then(Value::as_bool) == Some(true) {
        let set = desc
            .get("corePackagesSet")
            .and_then(Value::as_str)
            .unwrap_or("AUTO");
        log.push(format!("Core packages: set {set}"));
    }
    if desc.get("installJupyterSupport").and_then(Value::as_bool) == Some(true) {
        log.push("Jupyter support: requested".to_string());
    }
    let lines = requested_lines(&spec);
    let errors: Vec<String> = lines
        .iter()
        .filter_map(|l| check_requirement(&lang, l).err())
        .collect();
    let result = if errors.is_empty() {
        for l in &lines {
            log.push(format!("Requested: {l}"));
        }
        log.push(
            "No package index is reachable from the dssctl emulator: the requested packages are \
             recorded as installed, nothing was downloaded."
                .to_string(),
        );
        log.push(format!(
            "Done: {} requested package(s) recorded as installed.",
            lines.len()
        ));
        env.definition
            .insert("actualPackageList".into(), json!(lines.join("\n")));
        env.failure = None;
        messages(&[(
            "SUCCESS",
            format!(
                "Code env {name}: {} requested package(s) recorded as installed",
                lines.len()
            ),
        )])
    } else {
        for e in &errors {
            log.push(format!("ERROR: {e}"));
        }
        log.push("Installation failed: the env must be rebuilt once its package list is fixed.".to_string());
        let summary = errors.join("; ");
        env.failure = Some(summary.clone());
        messages(&[(
            "ERROR",
            format!("Failed to install packages in code env {name}: {summary}"),
        )])
    };
    env.logs
        .insert(format!("{action}-{}.log", log_stamp()), log.join("\n") + "\n");
    // Keep the newest logs only (names sort by time within one action).
    while env.logs.len() > 50 {
        let oldest = env.logs.keys().next().cloned().unwrap_or_default();
        env.logs.remove(&oldest);
    }
    result
}

/// Create `lang/name`, install its packages, persist; answer the creation result or future.
async fn create_env(app: &App, req: &Req, lang: &str, name: &str, mode: &str, body: &Doc) -> ApiResult {
    store::validate_name(name, "code env name")?;
    if !DESIGN_MODES.contains(&mode) {
        return Err(ApiError::illegal(format!(
            "Invalid deployment mode '{mode}' for a design node: expected one of {}",
            DESIGN_MODES.join(", ")
        )));
    }
    let wait = req.query.bool("wait", true)?;
    let definition = new_definition(lang, name, mode, &req.caller.login(), body)?;
    let mut env = CodeEnv {
        definition,
        ..Default::default()
    };
    let mut result = install(&mut env, "create", false);
    result = json!({"envName": name, "envLang": lang, "messages": result});
    let (pending, answer) = {
        let mut st = app.write();
        if st.code_envs.contains_key(&key(lang, name)) {
            return Err(ApiError::already_exists(format!(
                "Code env {lang}/{name} already exists"
            )));
        }
        let p = app.persist.put(paths::code_env(lang, name), &env.to_record());
        st.code_envs.insert(key(lang, name), env);
        (p, self::answer(&mut st, wait, "code-env-create", result))
    };
    app.persist.run([pending]).await?;
    Ok(http::json(&answer))
}

pub(crate) async fn create(app: &App, req: &Req, lang: &str, name: &str) -> ApiResult {
    req.caller.require_admin()?;
    let lang = lang_of(lang)?;
    let mut body = http::body_object(&req.body)?;
    store::drop_nulls(&mut body);
    let mode = http::required_str(&body, "code env", "deploymentMode")?;
    create_env(app, req, lang, name, &mode, &body).await
}

/// `POST /admin/code-envs/internal-env/create?dssInternalCodeEnvType=T`: the env DSS uses for
/// one of its features, named `INTERNAL_<T>` here.
pub(crate) async fn create_internal(app: &App, req: &Req) -> ApiResult {
    req.caller.require_admin()?;
    let kind = req
        .query
        .get("dssInternalCodeEnvType")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::illegal("'dssInternalCodeEnvType' is required"))?;
    if !kind
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(ApiError::illegal(format!(
            "Invalid internal code env type '{kind}'"
        )));
    }
    let mut body = Doc::new();
    if let Some(interp) = req.query.get("pythonInterpreter").filter(|s| !s.is_empty()) {
        body.insert("pythonInterpreter".into(), json!(interp));
    }
    let name = format!("INTERNAL_{kind}");
    create_env(app, req, "PYTHON", &name, "DESIGN_MANAGED", &body).await
}

/// `POST /admin/code-envs/from-python-preset/{preset}`: a Python env named `<prefix><preset>`;
/// with `allowUpdate` (the default) an existing one is reinstalled instead of refused.
pub(crate) async fn from_preset(app: &App, req: &Req, preset: &str) -> ApiResult {
    req.caller.require_admin()?;
    let allow_update = req.query.bool("allowUpdate", true)?;
    let name = format!("{}{preset}", req.query.get("prefix").unwrap_or(""));
    store::validate_name(&name, "code env name")?;
    let exists = app.read().code_envs.contains_key(&key("PYTHON", &name));
    if exists && allow_update {
        return run_packages(app, req, "PYTHON", &name, "update-packages", false).await;
    }
    let mut body = Doc::new();
    if let Some(interp) = req.query.get("interpreter").filter(|s| !s.is_empty()) {
        body.insert("pythonInterpreter".into(), json!(interp));
    }
    create_env(app, req, "PYTHON", &name, "DESIGN_MANAGED", &body).await
}

pub(crate) fn get(app: &App, req: &Req, lang: &str, name: &str) -> ApiResult {
    req.caller.require_admin()?;
    let lang = lang_of(lang)?;
    let st = app.read();
    let env = st
        .code_envs
        .get(&key(lang, name))
        .ok_or_else(|| not_found(lang, name))?;
    if let Some(failure) = &env.failure {
        return Err(broken(lang, name, failure));
    }
    Ok(http::json(&env.definition))
}

pub(crate) async fn put(app: &App, req: &Req, lang: &str, name: &str) -> ApiResult {
    req.caller.require_admin()?;
    let lang = lang_of(lang)?;
    let mut body = http::body_object(&req.body)?;
    store::drop_nulls(&mut body);
    let (pending, doc) = {
        let mut st = app.write();
        let env = st
            .code_envs
            .get_mut(&key(lang, name))
            .ok_or_else(|| not_found(lang, name))?;
        let old = &env.definition;
        // Identity and what was installed are DSS's own: a PUT cannot change them.
        for k in [
            "envName",
            "envLang",
            "deploymentMode",
            "actualPackageList",
            "actualCondaEnvironment",
        ] {
            match old.get(k) {
                Some(v) => body.insert(k.into(), v.clone()),
                None => body.remove(k),
            };
        }
        let mut desc = match body.get("desc") {
            None => old
                .get("desc")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            Some(Value::Object(d)) => d.clone(),
            Some(other) => {
                return Err(ApiError::illegal(format!(
                    "code env: 'desc' must be an object, got {}",
                    http::kind_of(other)
                )));
            }
        };
        if desc.get("owner").is_none_or(Value::is_null)
            && let Some(owner) = old.get("desc").and_then(|d| d.get("owner"))
        {
            desc.insert("owner".into(), owner.clone());
        }
        if lang == "PYTHON" {
            check_interpreter(desc.get("pythonInterpreter"))?;
        }
        body.insert("desc".into(), Value::Object(desc));
        let perms = normalise_permissions(body.get("permissions"))?;
        body.insert("permissions".into(), perms);
        for k in ["specPackageList", "specCondaEnvironment"] {
            match body.get(k) {
                None => {
                    body.insert(k.into(), old.get(k).cloned().unwrap_or(json!("")));
                }
                Some(Value::String(_)) => {}
                Some(other) => {
                    return Err(ApiError::illegal(format!(
                        "code env: '{k}' must be a string (one requirement per line), got {}",
                        http::kind_of(other)
                    )));
                }
            }
        }
        copy_into_desc(&mut body);
        env.definition = body;
        let p = app.persist.put(paths::code_env(lang, name), &env.to_record());
        (p, env.definition.clone())
    };
    app.persist.run([pending]).await?;
    Ok(http::json(&doc))
}

pub(crate) async fn delete(app: &App, req: &Req, lang: &str, name: &str) -> ApiResult {
    req.caller.require_admin()?;
    let lang = lang_of(lang)?;
    let wait = req.query.bool("wait", true)?;
    let (pending, answer) = {
        let mut st = app.write();
        st.code_envs
            .remove(&key(lang, name))
            .ok_or_else(|| not_found(lang, name))?;
        let result = messages(&[("SUCCESS", format!("Code env {lang}/{name} deleted"))]);
        let result = json!({"messages": result});
        (
            app.persist.remove(paths::code_env(lang, name)),
            answer(&mut st, wait, "code-env-delete", result),
        )
    };
    app.persist.run([pending]).await?;
    Ok(http::json(&answer))
}

/// `GET .../{projectKey}/version`: design-node envs are not versioned, so the answer is empty.
pub(crate) fn version(app: &App, req: &Req, lang: &str, name: &str, project: &str) -> ApiResult {
    req.caller.require_admin()?;
    let lang = lang_of(lang)?;
    let st = app.read();
    st.project(project)?;
    st.code_envs
        .get(&key(lang, name))
        .ok_or_else(|| not_found(lang, name))?;
    Ok(http::json(&json!({})))
}

/// Change an env under the lock with `f` (which answers the operation's result), persist it,
/// and answer the result or a future.
async fn operate(
    app: &App,
    req: &Req,
    lang: &str,
    name: &str,
    kind: &str,
    f: impl FnOnce(&mut CodeEnv, &Store) -> Result<Value, ApiError>,
) -> ApiResult {
    let wait = req.query.bool("wait", true)?;
    let (pending, answer) = {
        let mut st = app.write();
        let mut env = st
            .code_envs
            .get(&key(lang, name))
            .cloned()
            .ok_or_else(|| not_found(lang, name))?;
        let result = f(&mut env, &st)?;
        let p = app.persist.put(paths::code_env(lang, name), &env.to_record());
        st.code_envs.insert(key(lang, name), env);
        (p, self::answer(&mut st, wait, kind, json!({"messages": result})))
    };
    app.persist.run([pending]).await?;
    Ok(http::json(&answer))
}

async fn run_packages(app: &App, req: &Req, lang: &str, name: &str, action: &str, force: bool) -> ApiResult {
    let action = action.to_string();
    operate(app, req, lang, name, "code-env-update", move |env, _| {
        Ok(install(env, &action, force))
    })
    .await
}

pub(crate) async fn packages(app: &App, req: &Req, lang: &str, name: &str) -> ApiResult {
    req.caller.require_admin()?;
    let lang = lang_of(lang)?;
    let force = req.query.bool("forceRebuildEnv", false)?;
    if req.query.get("versionToUpdate").is_some_and(|v| !v.is_empty()) {
        return Err(ApiError::illegal(
            "versionToUpdate applies to versioned code envs of automation nodes; this is a design node",
        ));
    }
    run_packages(app, req, lang, name, "update-packages", force).await
}

pub(crate) async fn jupyter(app: &App, req: &Req, lang: &str, name: &str) -> ApiResult {
    req.caller.require_admin()?;
    let lang = lang_of(lang)?;
    let active = req.query.bool("active", true)?;
    operate(app, req, lang, name, "code-env-jupyter", move |env, _| {
        if let Some(Value::Object(desc)) = env.definition.get_mut("desc") {
            desc.insert("installJupyterSupport".into(), json!(active));
        }
        let text = if active { "installed" } else { "removed" };
        env.logs.insert(
            format!("jupyter-{}.log", log_stamp()),
            format!("Jupyter support {text} (recorded by the dssctl emulator).\n"),
        );
        Ok(messages(&[("SUCCESS", format!("Jupyter support {text}"))]))
    })
    .await
}

/// `POST .../images`: one image per container execution config the env is built for (all of
/// the general settings' configs, or those named in `containerConfs`). Recorded, not built.
pub(crate) async fn images(app: &App, req: &Req, lang: &str, name: &str) -> ApiResult {
    req.caller.require_admin()?;
    let lang = lang_of(lang)?;
    if req.query.get("envVersion").is_some_and(|v| !v.is_empty()) {
        return Err(ApiError::illegal(
            "envVersion applies to versioned code envs of automation nodes; this is a design node",
        ));
    }
    operate(app, req, lang, name, "code-env-images", |env, st| {
        let configured = super::general_settings::execution_config_names(st);
        let d = &env.definition;
        let targets: Vec<String> = if d.get("allContainerConfs").and_then(Value::as_bool) == Some(true) {
            configured
        } else {
            let wanted: Vec<&str> = d
                .get("containerConfs")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            configured
                .into_iter()
                .filter(|c| wanted.contains(&c.as_str()))
                .collect()
        };
        let text = if targets.is_empty() {
            "No container execution config to build an image for".to_string()
        } else {
            format!("Image recorded as built for: {}", targets.join(", "))
        };
        env.logs
            .insert(format!("images-{}.log", log_stamp()), format!("{text}\n"));
        Ok(messages(&[("SUCCESS", text)]))
    })
    .await
}

/// Where `lang/name` is used: projects whose settings select it explicitly, and plugins whose
/// settings name it as their code env.
fn usages_of(st: &Store, lang: &str, name: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let scope = if lang == "R" { "r" } else { "python" };
    for (key, project) in &st.projects {
        let env = project
            .doc
            .get("settings")
            .and_then(|s| s.get("settings"))
            .and_then(|s| s.get("codeEnvs"))
            .and_then(|c| c.get(scope));
        let explicit = env.and_then(|e| e.get("mode")).and_then(Value::as_str) == Some("EXPLICIT_ENV");
        if explicit && env.and_then(|e| e.get("envName")).and_then(Value::as_str) == Some(name) {
            out.push(
                json!({"envUsage": "PROJECT", "projectKey": key, "objectType": "PROJECT", "objectId": key}),
            );
        }
    }
    if lang == "PYTHON" {
        for (id, plugin) in &st.plugins {
            let named = plugin
                .get("settings")
                .and_then(|s| s.get("codeEnvName"))
                .and_then(Value::as_str);
            if named == Some(name) {
                out.push(
                    json!({"envUsage": "PLUGIN", "projectKey": null, "objectType": "PLUGIN", "objectId": id}),
                );
            }
        }
    }
    out
}

pub(crate) fn usages(app: &App, req: &Req, lang: &str, name: &str) -> ApiResult {
    req.caller.require_admin()?;
    let lang = lang_of(lang)?;
    let st = app.read();
    st.code_envs
        .get(&key(lang, name))
        .ok_or_else(|| not_found(lang, name))?;
    Ok(http::json(&usages_of(&st, lang, name)))
}

pub(crate) fn all_usages(app: &App, req: &Req) -> ApiResult {
    req.caller.require_admin()?;
    let st = app.read();
    let mut out = Vec::new();
    for k in st.code_envs.keys() {
        let (lang, name) = k.split_once('/').unwrap_or(("PYTHON", k));
        for mut u in usages_of(&st, lang, name) {
            u["envLang"] = json!(lang);
            u["envName"] = json!(name);
            out.push(u);
        }
    }
    Ok(http::json(&out))
}

pub(crate) fn logs(app: &App, req: &Req, lang: &str, name: &str) -> ApiResult {
    req.caller.require_admin()?;
    let lang = lang_of(lang)?;
    let st = app.read();
    let env = st
        .code_envs
        .get(&key(lang, name))
        .ok_or_else(|| not_found(lang, name))?;
    let items: Vec<Value> = env
        .logs
        .iter()
        .map(|(n, text)| json!({"name": n, "size": text.len()}))
        .collect();
    Ok(http::json(&items))
}

pub(crate) fn log(app: &App, req: &Req, lang: &str, name: &str, log: &str) -> ApiResult {
    req.caller.require_admin()?;
    let lang = lang_of(lang)?;
    let st = app.read();
    let env = st
        .code_envs
        .get(&key(lang, name))
        .ok_or_else(|| not_found(lang, name))?;
    let text = env.logs.get(log).ok_or_else(|| {
        ApiError::not_found(format!("Log '{log}' of code env {lang}/{name} does not exist"))
    })?;
    Ok(http::text("text/plain; charset=utf-8", text.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pip_requirements() {
        for ok in [
            "pandas",
            "pandas==2.2.2",
            "scikit-learn>=1.4",
            "numpy>=1.20,<2",
            "requests[socks,security]==2.31",
            "zope.interface~=5.0",
            "pkg ; python_version < '3.10'",
            "mylib @ https://example.com/mylib-1.0.whl",
            "git+https://github.com/org/repo.git",
            "--extra-index-url https://pypi.example.com/simple",
        ] {
            check_requirement("PYTHON", ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "pandas===",
            "pan das",
            "-r other.txt",
            "numpy>>1",
            "==1.0",
            "pkg[",
            "pkg;",
        ] {
            assert!(check_requirement("PYTHON", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cran_packages() {
        for ok in ["dplyr", "data.table,1.14.8", "ggplot2>=3.4"] {
            check_requirement("R", ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in ["1abc", "dplyr==", "gg plot", "x,1.a"] {
            assert!(check_requirement("R", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_failed_install_marks_the_env_and_a_good_one_clears_it() {
        let body = json!({"specPackageList": "pandas==2.2.2\nnot a requirement"});
        let def = new_definition(
            "PYTHON",
            "e",
            "DESIGN_MANAGED",
            "admin",
            body.as_object().unwrap(),
        )
        .unwrap();
        let mut env = CodeEnv {
            definition: def,
            ..Default::default()
        };
        let result = install(&mut env, "update-packages", false);
        assert_eq!(result["error"], true);
        assert!(env.failure.is_some());
        env.definition
            .insert("specPackageList".into(), json!("pandas==2.2.2\n# comment\n"));
        let result = install(&mut env, "update-packages", false);
        assert_eq!(result["success"], true);
        assert!(env.failure.is_none());
        assert_eq!(env.definition["actualPackageList"], "pandas==2.2.2");
        let log = env.logs.values().last().unwrap();
        assert!(log.contains("No package index is reachable"), "{log}");
    }

    #[test]
    fn top_level_fields_are_copied_into_desc() {
        let mut doc = json!({"usableByAll": true, "containerConfs": ["a"], "desc": {"usableByAll": false}})
            .as_object()
            .unwrap()
            .clone();
        copy_into_desc(&mut doc);
        assert_eq!(doc["desc"]["usableByAll"], true);
        assert_eq!(doc["desc"]["containerConfs"], json!(["a"]));
    }
}
