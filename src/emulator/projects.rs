//! Projects: list (with the tags filter), create, summary, delete (answering the future JSON),
//! metadata, permissions, settings, variables, resolved variables, tags (the project's tag
//! definitions), and export as a zip.
//!
//! A project is one document holding its parts: `metadata`, `permissions`, `variables`,
//! `settings`, plus `versionTag` (bumped on every save of any part) and `creationTag`. The
//! summary (list items, `GET /projects/{k}`) is derived from them: `name` = `metadata.label`,
//! `shortDesc`, `description`, `tags` (sorted) from the metadata, `ownerLogin` =
//! `permissions.owner`. So metadata and summary can never disagree.
//!
//! Defaults filled at create (and therefore present on every GET): metadata `custom: {"kv":{}}`,
//! `checklists: {"checklists": []}`, `customFields: {}`, `tags: []`; permissions
//! `dashboardAuthorizations: {"allAuthorized": false, "authorizations": []}`,
//! `additionalDashboardUsers: {"users": []}`, `permissionsVersion: "V2"`; variables
//! `{"standard": {}, "local": {}}`; settings: DSS's full default document
//! ([`default_settings`]), whose keys a save leaves out are filled back.
//!
//! Permissions as DSS saves them: a grant is matched with the stored one by group or user, a
//! flag it leaves out keeps its stored value (false for a new grant), and every grant is
//! answered with every flag ([`PERMISSION_FLAGS`]); grants not sent are removed.
//!
//! Privileges (DSS reference): listing shows only projects where the key has READ_CONF; create
//! needs an admin key; summary, settings and variables need READ_CONF / WRITE_CONF; metadata,
//! permissions, delete and export need ADMIN on the project.

use axum::routing;
use std::io::Write as _;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::http::{self, ApiError, ApiResult};
use super::project_folders;
use super::router::{Api, App, Params, Req, Routes};
use super::store::{self, Doc, Project, paths};
use crate::wire::{CreateProjectRequest, PermissionGrant};

/// The editable parts of a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Metadata,
    Permissions,
    Settings,
    Variables,
}

impl Part {
    fn key(self) -> &'static str {
        match self {
            Part::Metadata => "metadata",
            Part::Permissions => "permissions",
            Part::Settings => "settings",
            Part::Variables => "variables",
        }
    }
    fn read_privilege(self) -> &'static str {
        match self {
            Part::Metadata | Part::Permissions => "ADMIN",
            Part::Settings | Part::Variables => "READ_CONF",
        }
    }
    fn write_privilege(self) -> &'static str {
        match self {
            Part::Metadata | Part::Permissions => "ADMIN",
            Part::Settings | Part::Variables => "WRITE_CONF",
        }
    }
}

/// The summary of a project, as listed.
pub(crate) fn summary(project: &Project) -> Value {
    let doc = &project.doc;
    let meta = doc.get("metadata");
    let field = |k: &str| meta.and_then(|m| m.get(k)).cloned();
    let mut out = Map::new();
    out.insert(
        "projectKey".into(),
        doc.get("projectKey").cloned().unwrap_or(Value::Null),
    );
    out.insert("name".into(), field("label").unwrap_or(Value::Null));
    for k in ["shortDesc", "description"] {
        if let Some(v) = field(k) {
            out.insert(k.into(), v);
        }
    }
    out.insert("tags".into(), field("tags").unwrap_or_else(|| json!([])));
    if let Some(owner) = doc.get("permissions").and_then(|p| p.get("owner")) {
        out.insert("ownerLogin".into(), owner.clone());
    }
    out.insert(
        "projectStatus".into(),
        doc.get("projectStatus").cloned().unwrap_or_else(|| json!("")),
    );
    for k in ["versionTag", "creationTag"] {
        if let Some(v) = doc.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    Value::Object(out)
}

pub(crate) fn list(app: &App, req: &Req) -> ApiResult {
    let wanted = req.query.list("tags");
    let st = app.read();
    let items: Vec<Value> = st
        .projects
        .iter()
        .filter(|(key, _)| req.caller.can(key, "READ_CONF"))
        .filter(|(_, p)| store::has_any_tag(p.doc.get("metadata").and_then(|m| m.get("tags")), &wanted))
        .map(|(_, p)| summary(p))
        .collect();
    Ok(http::json(&items))
}

pub(crate) async fn create(app: &App, req: &Req) -> ApiResult {
    req.caller.require_admin()?;
    let body: CreateProjectRequest = http::body_typed(&req.body, "project creation request")?;
    let key = body.project_key.clone();
    store::validate_key(&key)?;
    let login = req.caller.login();
    let owner = body
        .owner
        .clone()
        .filter(|o| !o.is_empty())
        .unwrap_or_else(|| login.clone());
    let mut metadata = Doc::new();
    metadata.insert(
        "label".into(),
        json!(body.name.clone().unwrap_or_else(|| key.clone())),
    );
    if let Some(d) = &body.description {
        metadata.insert("description".into(), json!(d));
    }
    if let Some(sd) = body.extra.get("shortDesc").filter(|v| !v.is_null()) {
        metadata.insert("shortDesc".into(), sd.clone());
    }
    let tags = body.tags.clone().map(|t| json!(t));
    metadata.insert("tags".into(), store::sorted_tags(tags.as_ref(), "tags")?);
    metadata.insert("custom".into(), json!({"kv": {}}));
    metadata.insert("checklists".into(), json!({"checklists": []}));
    metadata.insert("customFields".into(), json!({}));
    let grants = merge_grants(&body.permissions.clone().unwrap_or_default(), &[]);
    let permissions = json!({
        "owner": owner,
        "permissions": grants,
        "permissionsVersion": PERMISSIONS_VERSION,
        "dashboardAuthorizations": {"allAuthorized": false, "authorizations": []},
        "additionalDashboardUsers": {"users": []},
    });
    let settings = match &body.settings {
        Some(Value::Object(s)) => {
            let mut s = Value::Object(s.clone());
            fill_missing(&mut s, &default_settings());
            s
        }
        Some(Value::Null) | None => default_settings(),
        Some(other) => {
            return Err(ApiError::illegal(format!(
                "project settings must be an object, got {}",
                http::kind_of(other)
            )));
        }
    };
    let mut doc = Doc::new();
    doc.insert("projectKey".into(), json!(key));
    doc.insert("metadata".into(), Value::Object(metadata));
    doc.insert("permissions".into(), permissions);
    doc.insert("variables".into(), json!({"standard": {}, "local": {}}));
    doc.insert("settings".into(), settings);
    doc.insert("creationTag".into(), store::creation_tag(&login));
    store::bump_version(&mut doc, None, &login);

    let folder = req
        .query
        .get("projectFolderId")
        .filter(|f| !f.is_empty())
        .unwrap_or(project_folders::ROOT)
        .to_string();
    let pending = {
        let mut st = app.write();
        if st.projects.contains_key(&key) {
            return Err(ApiError::already_exists(format!(
                "Project '{key}' already exists"
            )));
        }
        project_folders::folder(&st, &folder)?;
        // Clear whatever a deleted project of the same key left behind (a dataset write that
        // landed after the delete), so that it cannot come back at the next load.
        let mut pending = vec![
            app.persist.remove_dir(paths::project_dir(&key)),
            app.persist.put(paths::project(&key), &Value::Object(doc.clone())),
        ];
        st.projects.insert(
            key.clone(),
            Project {
                doc,
                ..Default::default()
            },
        );
        // `?projectFolderId=`: the folder it is created in (the root folder by default).
        pending.extend(project_folders::place_project(app, &mut st, &key, &folder));
        pending
    };
    app.persist.run(pending).await?;
    Ok(http::msg(format!("Created project {key}")))
}

/// The settings document of a new project, as DSS fills it.
fn default_settings() -> Value {
    json!({
        "settings": {
            "codeEnvs": {
                "python": {"mode": "INHERIT", "preventOverride": false},
                "r": {"mode": "INHERIT", "preventOverride": false},
            },
            "container": {"containerMode": "INHERIT"},
            "cluster": {"clusterMode": "INHERIT"},
            "k8sCluster": {"clusterMode": "INHERIT"},
            "gitCommitMode": "AUTO",
            "flowBuildSettings": {
                "mergeSqlPipelines": false,
                "mergeSparkPipelines": false,
                "pruneBeforeSparkPipelines": false,
                "sparkPipelinesMergeRule": "ALL",
                "enableVirtualizationOnNewDatasets": false,
            },
            "limitsSettings": {
                "maxJobs": {"limit": 0},
                "maxActivities": {"limit": 0},
            },
            "datasetsCreationSettings": {
                "useGlobal": true,
                "preferedConnections": [],
                "allowUploadsWithoutConnection": true,
                "virtualizable": false,
            },
            "integrations": {"integrations": []},
            "disableAutomaticTriggers": false,
            "relatedProjects": [],
            "metrics": {"probes": [], "displayedState": {"metrics": []}},
            "metricsChecks": {"checks": [], "runOnBuild": false},
            "bundleExporterSettings": {"exportOptions": {}, "configContent": []},
            "wikiSettings": {"restrictedEditMode": false},
            "dashboardsSettings": {"allowDashboardLinks": true},
            "projectAppType": "REGULAR",
        },
        "exposedObjects": {"objects": []},
    })
}

/// Add to `doc`, recursively, the keys of `defaults` it lacks (what a save leaves out, DSS
/// keeps as its default).
fn fill_missing(doc: &mut Value, defaults: &Value) {
    if let (Value::Object(d), Value::Object(def)) = (doc, defaults) {
        for (k, v) in def {
            match d.get_mut(k) {
                None | Some(Value::Null) => {
                    d.insert(k.clone(), v.clone());
                }
                Some(existing) => fill_missing(existing, v),
            }
        }
    }
}

/// `permissionsVersion` DSS answers with project permissions.
const PERMISSIONS_VERSION: &str = "V2";

/// The per-flag rights of a project grant.
pub(crate) const PERMISSION_FLAGS: [&str; 15] = [
    "admin",
    "editPermissions",
    "readProjectContent",
    "writeProjectContent",
    "exportDatasetsData",
    "readDashboards",
    "writeDashboards",
    "moderateDashboards",
    "runScenarios",
    "manageDashboardAuthorizations",
    "manageExposedElements",
    "manageAdditionalDashboardUsers",
    "executeApp",
    "shareToWorkspaces",
    "publishToDataCollections",
];

/// Grants as DSS saves them: each sent grant is matched (by group or user) with the stored
/// one, and a flag the grant leaves out keeps its stored value (false for a new grant), so
/// every grant comes back with every flag. Grants not sent are removed.
fn merge_grants(sent: &[PermissionGrant], stored: &[Value]) -> Vec<Value> {
    sent.iter()
        .map(|grant| {
            let previous = stored.iter().find(|old| {
                old.get("group").and_then(Value::as_str) == grant.group.as_deref()
                    && old.get("user").and_then(Value::as_str) == grant.user.as_deref()
            });
            let mut out = Doc::new();
            if let Some(g) = &grant.group {
                out.insert("group".into(), json!(g));
            }
            if let Some(u) = &grant.user {
                out.insert("user".into(), json!(u));
            }
            for flag in PERMISSION_FLAGS {
                let kept = previous
                    .and_then(|p| p.get(flag))
                    .cloned()
                    .unwrap_or(json!(false));
                out.insert(flag.into(), kept);
            }
            for (k, v) in &grant.flags {
                if !v.is_null() {
                    out.insert(k.clone(), v.clone());
                }
            }
            Value::Object(out)
        })
        .collect()
}

/// `GET /projects/{k}/tags`: the project's tag definitions (colours and descriptions of the
/// tags used in it), `{"tags": {}}` for a new project.
pub(crate) fn get_tags(app: &App, req: &Req, key: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let st = app.read();
    let project = st.project(key)?;
    Ok(http::json(
        project.doc.get("tagsFile").unwrap_or(&json!({"tags": {}})),
    ))
}

pub(crate) async fn put_tags(app: &App, req: &Req, key: &str) -> ApiResult {
    req.caller.require(key, "WRITE_CONF")?;
    let mut body = http::body_object(&req.body)?;
    match body.get("tags") {
        None | Some(Value::Null) => {
            body.insert("tags".into(), json!({}));
        }
        Some(Value::Object(_)) => {}
        Some(other) => {
            return Err(ApiError::illegal(format!(
                "tags: 'tags' must be an object keyed by tag name, got {}",
                http::kind_of(other)
            )));
        }
    }
    let login = req.caller.login();
    let pending = {
        let mut st = app.write();
        let project = st.project_mut(key)?;
        project.doc.insert("tagsFile".into(), Value::Object(body));
        let previous = project.doc.get("versionTag").cloned();
        store::bump_version(&mut project.doc, previous.as_ref(), &login);
        app.persist
            .put(paths::project(key), &Value::Object(project.doc.clone()))
    };
    app.persist.run([pending]).await?;
    Ok(http::msg(format!("Saved tags of project {key}")))
}

pub(crate) fn get(app: &App, req: &Req, key: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let st = app.read();
    Ok(http::json(&summary(st.project(key)?)))
}

pub(crate) async fn delete(app: &App, req: &Req, key: &str) -> ApiResult {
    req.caller.require(key, "ADMIN")?;
    // Accepted for every client generation; the emulator holds no data files to clear.
    for flag in [
        "clearManagedDatasets",
        "clearOutputManagedFolders",
        "clearJobAndScenarioLogs",
        "dropData",
    ] {
        req.query.bool(flag, false)?;
    }
    let wait = req.query.bool("wait", true)?;
    let future_id = format!("delete-project-{key}-{}", store::now_ms());
    let result = json!({"messages": [], "anyMessage": false, "success": true,
        "warning": false, "error": false, "fatal": false});
    let finished = json!({"jobId": future_id, "hasResult": true, "alive": false,
        "result": result, "progress": {"states": []}});
    let pending = {
        let mut st = app.write();
        let project = st
            .projects
            .remove(key)
            .ok_or_else(|| store::project_not_found(key))?;
        drop(project);
        st.futures.insert(future_id.clone(), finished.clone());
        app.persist.remove_dir(paths::project_dir(key))
    };
    app.persist.run([pending]).await?;
    if wait {
        Ok(http::json(&finished))
    } else {
        Ok(http::json(
            &json!({"jobId": future_id, "hasResult": false, "alive": true}),
        ))
    }
}

pub(crate) fn get_part(app: &App, req: &Req, key: &str, part: Part) -> ApiResult {
    req.caller.require(key, part.read_privilege())?;
    let st = app.read();
    let project = st.project(key)?;
    Ok(http::json(project.doc.get(part.key()).unwrap_or(&Value::Null)))
}

pub(crate) async fn put_part(app: &App, req: &Req, key: &str, part: Part) -> ApiResult {
    req.caller.require(key, part.write_privilege())?;
    let mut body = http::body_object(&req.body)?;
    let login = req.caller.login();
    let pending = {
        let mut st = app.write();
        let project = st.project_mut(key)?;
        let old = project.doc.get(part.key()).cloned().unwrap_or(Value::Null);
        normalise_part(part, &mut body, &old)?;
        project.doc.insert(part.key().into(), Value::Object(body));
        let previous = project.doc.get("versionTag").cloned();
        store::bump_version(&mut project.doc, previous.as_ref(), &login);
        app.persist
            .put(paths::project(key), &Value::Object(project.doc.clone()))
    };
    app.persist.run([pending]).await?;
    Ok(http::msg(format!("Saved {} of project {key}", part.key())))
}

/// What DSS normalises when a part is saved.
fn normalise_part(part: Part, body: &mut Doc, old: &Value) -> Result<(), ApiError> {
    match part {
        Part::Metadata => {
            let tags = store::sorted_tags(body.get("tags"), "metadata")?;
            body.insert("tags".into(), tags);
            if body.get("label").is_none_or(Value::is_null)
                && let Some(label) = old.get("label")
            {
                body.insert("label".into(), label.clone());
            }
            if body.get("custom").is_none_or(Value::is_null) {
                body.insert("custom".into(), json!({"kv": {}}));
            }
        }
        Part::Permissions => {
            if body.get("owner").is_none_or(Value::is_null)
                && let Some(owner) = old.get("owner")
            {
                body.insert("owner".into(), owner.clone());
            }
            match body.get("permissions") {
                None | Some(Value::Null) => {
                    body.insert("permissions".into(), json!([]));
                }
                Some(Value::Array(grants)) => {
                    if let Some(bad) = grants.iter().find(|g| !g.is_object()) {
                        return Err(ApiError::illegal(format!(
                            "permissions: every grant must be an object, got {bad}"
                        )));
                    }
                    let sent: Vec<PermissionGrant> = serde_json::from_value(Value::Array(grants.clone()))
                        .map_err(|err| ApiError::illegal(format!("permissions: {err}")))?;
                    let stored = old
                        .get("permissions")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    body.insert("permissions".into(), Value::Array(merge_grants(&sent, &stored)));
                }
                Some(other) => {
                    return Err(ApiError::illegal(format!(
                        "permissions must be a list, got {}",
                        http::kind_of(other)
                    )));
                }
            }
        }
        Part::Variables => {
            for k in ["standard", "local"] {
                match body.get(k) {
                    None | Some(Value::Null) => {
                        body.insert(k.into(), json!({}));
                    }
                    Some(Value::Object(_)) => {}
                    Some(other) => {
                        return Err(ApiError::illegal(format!(
                            "variables: '{k}' must be an object, got {}",
                            http::kind_of(other)
                        )));
                    }
                }
            }
        }
        Part::Settings => {
            let mut doc = Value::Object(std::mem::take(body));
            fill_missing(&mut doc, &default_settings());
            if let Value::Object(map) = doc {
                *body = map;
            }
        }
    }
    if part == Part::Permissions {
        body.insert("permissionsVersion".into(), json!(PERMISSIONS_VERSION));
    }
    Ok(())
}

pub(crate) fn resolved_variables(app: &App, req: &Req, key: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let st = app.read();
    let project = st.project(key)?;
    let mut out = st.variables.clone();
    let vars = project.doc.get("variables");
    for scope in ["standard", "local"] {
        if let Some(Value::Object(m)) = vars.and_then(|v| v.get(scope)) {
            out.extend(m.clone());
        }
    }
    Ok(http::json(&out))
}

/// `POST /projects/{k}/export`: a zip of the project's documents (summary, parts, datasets).
pub(crate) fn export(app: &App, req: &Req, key: &str) -> ApiResult {
    req.caller.require(key, "ADMIN")?;
    // Options are accepted and ignored: there is no data to export beyond configuration.
    http::body_value(&req.body)?;
    let files: Vec<(String, Value)> = {
        let st = app.read();
        let project = st.project(key)?;
        let mut files = vec![("project.json".to_string(), summary(project))];
        for part in ["metadata", "permissions", "variables", "settings"] {
            files.push((
                format!("{part}.json"),
                project.doc.get(part).cloned().unwrap_or(Value::Null),
            ));
        }
        for (name, ds) in &project.datasets {
            files.push((format!("datasets/{name}.json"), Value::Object((**ds).clone())));
        }
        files
    };
    let bytes = zip_files(&files)
        .map_err(|err| ApiError::internal(format!("cannot build the export archive: {err}")))?;
    let mut resp = http::text("application/zip", bytes);
    resp.headers_mut().insert(
        axum::http::header::CONTENT_DISPOSITION,
        axum::http::HeaderValue::from_str(&format!("attachment; filename=\"{key}.zip\""))
            .map_err(|err| ApiError::internal(err.to_string()))?,
    );
    *resp.status_mut() = StatusCode::OK;
    Ok(resp)
}

fn zip_files(files: &[(String, Value)]) -> anyhow::Result<Vec<u8>> {
    let mut cursor = std::io::Cursor::new(Vec::new());
    {
        let mut zw = zip::ZipWriter::new(&mut cursor);
        let opts =
            zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, doc) in files {
            zw.start_file(name.as_str(), opts)?;
            zw.write_all(&serde_json::to_vec_pretty(doc)?)?;
        }
        zw.finish()?;
    }
    Ok(cursor.into_inner())
}

/// Served by the emulator: registered in the API table ([`super::router::AREAS`]).
#[linkme::distributed_slice(super::router::AREAS)]
#[allow(
    unsafe_code,
    reason = "linkme places the entry in a link section; nothing else is unsafe"
)]
static AREA: fn() -> Routes = routes;

/// The projects area's routes.
pub(crate) fn routes() -> Routes {
    type K = Params<String>;
    let part = |path: &str, p: Part| {
        (
            format!("/projects/{{projectKey}}/{path}"),
            routing::get(move |Params(k): K, a: Api| async move { get_part(&a.app, &a.req, &k, p) })
                .put(move |Params(k): K, a: Api| async move { put_part(&a.app, &a.req, &k, p).await }),
        )
    };
    let mut routes = Routes::new()
        .route(
            "/projects",
            routing::get(|a: Api| async move { list(&a.app, &a.req) })
                .post(|a: Api| async move { create(&a.app, &a.req).await }),
        )
        .route(
            "/projects/{projectKey}",
            routing::get(|Params(k): K, a: Api| async move { get(&a.app, &a.req, &k) })
                .delete(|Params(k): K, a: Api| async move { delete(&a.app, &a.req, &k).await }),
        )
        .route(
            "/projects/{projectKey}/tags",
            routing::get(|Params(k): K, a: Api| async move { get_tags(&a.app, &a.req, &k) })
                .put(|Params(k): K, a: Api| async move { put_tags(&a.app, &a.req, &k).await }),
        )
        .route(
            "/projects/{projectKey}/variables-resolved",
            routing::get(|Params(k): K, a: Api| async move { resolved_variables(&a.app, &a.req, &k) }),
        )
        .route(
            "/projects/{projectKey}/export",
            routing::get(|Params(k): K, a: Api| async move { export(&a.app, &a.req, &k) })
                .post(|Params(k): K, a: Api| async move { export(&a.app, &a.req, &k) }),
        );
    for (path, p) in [
        ("metadata", Part::Metadata),
        ("permissions", Part::Permissions),
        ("settings", Part::Settings),
        ("variables", Part::Variables),
    ] {
        let (path, method_router) = part(path, p);
        routes = routes.route(&path, method_router);
    }
    routes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_derives_from_metadata_and_permissions() {
        let mut doc = Doc::new();
        doc.insert("projectKey".into(), json!("P"));
        doc.insert(
            "metadata".into(),
            json!({"label": "Nice", "shortDesc": "s", "tags": ["a", "b"]}),
        );
        doc.insert("permissions".into(), json!({"owner": "bob"}));
        let s = summary(&Project {
            doc,
            ..Default::default()
        });
        assert_eq!(s["name"], "Nice");
        assert_eq!(s["ownerLogin"], "bob");
        assert_eq!(s["tags"], json!(["a", "b"]));
    }

    #[test]
    fn metadata_save_sorts_tags_and_keeps_label() {
        let mut body = json!({"tags": ["z", "a"]}).as_object().unwrap().clone();
        normalise_part(Part::Metadata, &mut body, &json!({"label": "L"})).unwrap();
        assert_eq!(body["tags"], json!(["a", "z"]));
        assert_eq!(body["label"], "L");
    }

    #[test]
    fn export_zip_is_readable() {
        let bytes = zip_files(&[("a.json".into(), json!({"x": 1}))]).unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut f = archive.by_name("a.json").unwrap();
        let mut s = String::new();
        std::io::Read::read_to_string(&mut f, &mut s).unwrap();
        assert!(s.contains("\"x\": 1"));
    }

    #[test]
    fn grants_keep_left_out_flags_and_carry_every_flag() {
        let stored = vec![json!({"group": "g", "readProjectContent": true, "writeProjectContent": true})];
        let sent: Vec<PermissionGrant> = serde_json::from_value(json!([
            {"group": "g", "writeProjectContent": false},
            {"user": "u", "readDashboards": true}
        ]))
        .unwrap();
        let merged = merge_grants(&sent, &stored);
        assert_eq!(merged[0]["readProjectContent"], true);
        assert_eq!(merged[0]["writeProjectContent"], false);
        assert_eq!(merged[1]["user"], "u");
        assert_eq!(merged[1]["readDashboards"], true);
        for grant in &merged {
            for flag in PERMISSION_FLAGS {
                assert!(grant[flag].is_boolean(), "{flag} in {grant}");
            }
        }
    }

    #[test]
    fn settings_left_out_are_filled_back_and_sent_ones_kept() {
        let mut doc = json!({"settings": {"gitCommitMode": "MANUAL", "codeEnvs": {"python": {"mode": "EXPLICIT_ENV"}}}});
        fill_missing(&mut doc, &default_settings());
        assert_eq!(doc["settings"]["gitCommitMode"], "MANUAL");
        assert_eq!(doc["settings"]["codeEnvs"]["python"]["mode"], "EXPLICIT_ENV");
        assert_eq!(doc["settings"]["codeEnvs"]["python"]["preventOverride"], false);
        assert!(doc["settings"]["flowBuildSettings"].is_object());
        assert_eq!(doc["exposedObjects"], json!({"objects": []}));
    }
}
