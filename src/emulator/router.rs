//! Routing: both API prefixes (`/public/api`, `/dip/publicapi`), one trailing slash stripped,
//! segments percent-decoded, dots kept inside segments (`john.doe`, `backend.log`, job ids
//! ending `.123`). Every route has a template (`/projects/{projectKey}/metadata`) used by the
//! statistics. The routing is done here rather than by axum's router because DSS's path rules
//! (two prefixes, optional trailing slash everywhere) are simpler to state once than per route.
//!
//! Each API request goes: statistics → faults → authentication → handler; every answer, errors
//! included, carries `DSS-Version` and `DSS-API-Version`. `/__emulator/stats` and
//! `/__emulator/stats/reset` (admin key only) sit outside the prefixes and outside faults.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::auth::{Caller, KeyRing};
use super::faults::{Faults, Stats};
use super::flow_state::FileStore;
use super::http::{self, ApiError, ApiResult, Query};
use super::logs::LogBuffer;
use super::persist::Persister;
use super::sql::SqlEngine;
use super::store::Store;
use super::{CodeRecipes, EmulatorConfig};
use super::{connections, datasets, groups, instance, jobs, logs, projects, sql, users, variables};
use super::{flow_zones, managed_folders, recipes, scenarios};
use crate::wire;

/// Shared state of a running emulator.
pub struct App {
    pub keys: KeyRing,
    pub state: RwLock<Store>,
    pub persist: Persister,
    pub faults: Faults,
    pub stats: Stats,
    pub logs: LogBuffer,
    pub sql: SqlEngine,
    pub job_duration: Duration,
    /// Files of managed folders and Filesystem datasets.
    pub files: FileStore,
    pub code_recipes: CodeRecipes,
}

impl App {
    pub fn new(config: EmulatorConfig) -> anyhow::Result<App> {
        let keys = KeyRing::new(config.admin_key, &config.keys)?;
        let store = match &config.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|err| anyhow::anyhow!("cannot create the data dir {}: {err}", dir.display()))?;
                Store::load(dir)?
            }
            None => Store::default(),
        };
        Ok(App {
            keys,
            state: RwLock::new(store),
            persist: Persister::new(config.data_dir.clone()),
            faults: Faults::new(config.latency, config.error_rate, config.rate_limit),
            stats: Stats::default(),
            logs: LogBuffer::default(),
            sql: SqlEngine::new(config.data_dir.clone().map(|d| d.join("sql"))),
            job_duration: config.job_duration,
            files: FileStore::new(config.data_dir),
            code_recipes: config.code_recipes,
        })
    }

    /// Read access to the state (a poisoned lock is still usable: every change is applied
    /// whole before the guard drops).
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, Store> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, Store> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// One API request, as handlers see it.
pub struct Req {
    pub query: Query,
    pub body: Bytes,
    pub caller: Caller,
}

/// The axum service of the emulator.
pub fn build(app: Arc<App>) -> Router {
    Router::new()
        .fallback(handle)
        .layer(DefaultBodyLimit::max(256 * 1024 * 1024))
        .with_state(app)
}

async fn handle(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    let mut resp = if let Some(rest) = trimmed.strip_prefix("/__emulator/") {
        stats_endpoint(&app, &method, &headers, rest)
    } else {
        match strip_prefix(trimmed) {
            Some(rest) => api(&app, method.clone(), rest, uri.query(), headers, body).await,
            None => ApiError::not_found(format!(
                "'{path}' is not a DSS API path (the API lives under {} and {})",
                wire::API_PREFIXES[0],
                wire::API_PREFIXES[1]
            ))
            .into_response(),
        }
    };
    app.logs
        .push(format!("{} {} -> {}", method, path, resp.status().as_u16()));
    let h = resp.headers_mut();
    h.insert("DSS-Version", HeaderValue::from_static(wire::DSS_VERSION));
    h.insert("DSS-API-Version", HeaderValue::from_static(wire::DSS_API_VERSION));
    resp
}

fn strip_prefix(path: &str) -> Option<&str> {
    wire::API_PREFIXES.iter().find_map(|p| {
        let rest = path.strip_prefix(p)?;
        (rest.is_empty() || rest.starts_with('/')).then_some(rest)
    })
}

fn stats_endpoint(app: &App, method: &Method, headers: &HeaderMap, rest: &str) -> Response {
    let result = (|| {
        let caller = app.keys.authenticate(headers)?;
        caller.require_admin()?;
        match (method.as_str(), rest) {
            ("GET", "stats") => Ok(http::json(&app.stats.snapshot())),
            ("POST", "stats/reset") => {
                app.stats.reset();
                Ok(http::msg("statistics reset"))
            }
            _ => Err(ApiError::not_found(format!(
                "No emulator endpoint {method} /__emulator/{rest}"
            ))),
        }
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn api(
    app: &App,
    method: Method,
    rest: &str,
    query: Option<&str>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let segments: Result<Vec<String>, ApiError> = rest
        .split('/')
        .skip(1)
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| ApiError::illegal(format!("path segment '{s}' is not valid UTF-8")))
        })
        .collect();
    let segments = match segments {
        Ok(s) => s,
        Err(err) => return err.into_response(),
    };
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let matched = match_route(&method, &segs);
    let template = matched.as_ref().map_or("(unmatched)", |(_, t)| *t);
    app.stats.count(&method, template);
    if let Err(err) = app.faults.apply().await {
        return err.into_response();
    }
    let caller = match app.keys.authenticate(&headers) {
        Ok(c) => c,
        Err(err) => return err.into_response(),
    };
    let Some((route, _)) = matched else {
        return ApiError::not_found(format!("No API endpoint {method} {rest}")).into_response();
    };
    let req = Req {
        query: Query::parse(query),
        body,
        caller,
    };
    dispatch(app, &req, route)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// Every endpoint the emulator serves.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    AuthInfo,
    InstanceInfo,
    FutureList,
    FutureGet(String),
    ProjectList,
    ProjectCreate,
    ProjectGet(String),
    ProjectDelete(String),
    ProjectMetadataGet(String),
    ProjectMetadataPut(String),
    ProjectPermissionsGet(String),
    ProjectPermissionsPut(String),
    ProjectSettingsGet(String),
    ProjectSettingsPut(String),
    ProjectVariablesGet(String),
    ProjectVariablesPut(String),
    ProjectVariablesResolved(String),
    ProjectExport(String),
    DatasetList(String),
    DatasetCreate(String),
    DatasetCreateManaged(String),
    DatasetRename(String),
    DatasetGet(String, String),
    DatasetPut(String, String),
    DatasetDelete(String, String),
    DatasetMetadataGet(String, String),
    DatasetMetadataPut(String, String),
    DatasetSchemaGet(String, String),
    DatasetSchemaPut(String, String),
    DatasetData(String, String),
    DatasetFinishStreaming(String, String),
    DatasetClear(String, String),
    DatasetPartitions(String, String),
    DatasetInfo(String, String),
    JobList(String),
    JobStart(String),
    JobGet(String, String),
    JobAbort(String, String),
    JobLog(String, String),
    SqlStart,
    SqlStream(String),
    SqlFinish(String),
    ConnectionList,
    ConnectionNames,
    ConnectionCreate,
    ConnectionGet(String),
    ConnectionPut(String),
    ConnectionDelete(String),
    UserList,
    UserCreate,
    UserGet(String),
    UserPut(String),
    UserDelete(String),
    UserInfoList,
    UserInfo(String),
    GroupInfoList,
    GroupList,
    GroupCreate,
    GroupGet(String),
    GroupPut(String),
    GroupDelete(String),
    VariablesGet,
    VariablesPut,
    LogList,
    LogGet(String),
    // Managed folders (project key, folder id, file path).
    FolderList(String),
    FolderCreate(String),
    FolderGet(String, String),
    FolderPut(String, String),
    FolderDelete(String, String),
    FolderRename(String),
    FolderContents(String, String),
    FolderFileGet(String, String, String),
    FolderFilePut(String, String, String),
    FolderFileDelete(String, String, String),
    FolderUsages(String, String),
    FolderCopyTo(String, String),
    FolderMetricsLast(String, String),
    FolderMetricHistory(String, String),
    FolderComputeMetrics(String, String, bool),
    // Recipes (project key, recipe name).
    RecipeList(String),
    RecipeCreate(String),
    RecipeGet(String, String),
    RecipePut(String, String),
    RecipeDelete(String, String),
    RecipeRename(String),
    RecipeMetadataGet(String, String),
    RecipeMetadataPut(String, String),
    RecipeStatus(String, String),
    RecipeSchemaUpdate(String, String),
    RecipeUpdateOutputSchema(String, String),
    // Scenarios (project key, scenario id, run or trigger id).
    ScenarioList(String),
    ScenarioCreate(String),
    ScenarioGet(String, String),
    ScenarioPut(String, String),
    ScenarioDelete(String, String),
    ScenarioLightGet(String, String),
    ScenarioLightPut(String, String),
    ScenarioPayloadGet(String, String),
    ScenarioPayloadPut(String, String),
    ScenarioRun(String, String),
    ScenarioAbort(String, String),
    ScenarioLastRuns(String, String),
    ScenarioRunsByDate(String, String),
    ScenarioRunForTrigger(String, String),
    ScenarioTriggerFire(String, String, String),
    ScenarioRunDetails(String, String, String),
    ScenarioRunLog(String, String, String),
    ScenarioTestingStatus(String),
    ScenarioTestReport(String),
    ScenarioTestReportHtml(String),
    ScenarioRunReport(String, String, String),
    ScenarioStepRunReport(String, String, String),
    // Flow zones and graph (project key, zone id, shared object type and id).
    FlowGraph(String),
    ZoneList(String),
    ZoneCreate(String),
    ZoneGet(String, String),
    ZonePut(String, String),
    ZoneDelete(String, String),
    ZoneAddItem(String, String),
    ZoneAddItems(String, String),
    ZoneAddShared(String, String),
    ZoneRemoveShared(String, String, String, String),
    ZoneGraph(String, String),
}

/// The route and its template for a method and decoded path segments (prefix and trailing
/// slash already removed).
pub fn match_route(method: &Method, segs: &[&str]) -> Option<(Route, &'static str)> {
    use Route as R;
    let s = |x: &str| x.to_string();
    let m = method.as_str();
    Some(match (m, segs) {
        ("GET", ["auth", "info"]) => (R::AuthInfo, "/auth/info"),
        ("GET", ["instance-info"]) => (R::InstanceInfo, "/instance-info"),
        ("GET", ["futures"]) => (R::FutureList, "/futures"),
        ("GET", ["futures", id]) => (R::FutureGet(s(id)), "/futures/{futureId}"),

        ("GET", ["projects"]) => (R::ProjectList, "/projects"),
        ("POST", ["projects"]) => (R::ProjectCreate, "/projects"),
        ("GET", ["projects", k]) => (R::ProjectGet(s(k)), "/projects/{projectKey}"),
        ("DELETE", ["projects", k]) => (R::ProjectDelete(s(k)), "/projects/{projectKey}"),
        ("GET", ["projects", k, "metadata"]) => {
            (R::ProjectMetadataGet(s(k)), "/projects/{projectKey}/metadata")
        }
        ("PUT", ["projects", k, "metadata"]) => {
            (R::ProjectMetadataPut(s(k)), "/projects/{projectKey}/metadata")
        }
        ("GET", ["projects", k, "permissions"]) => (
            R::ProjectPermissionsGet(s(k)),
            "/projects/{projectKey}/permissions",
        ),
        ("PUT", ["projects", k, "permissions"]) => (
            R::ProjectPermissionsPut(s(k)),
            "/projects/{projectKey}/permissions",
        ),
        ("GET", ["projects", k, "settings"]) => {
            (R::ProjectSettingsGet(s(k)), "/projects/{projectKey}/settings")
        }
        ("PUT", ["projects", k, "settings"]) => {
            (R::ProjectSettingsPut(s(k)), "/projects/{projectKey}/settings")
        }
        ("GET", ["projects", k, "variables"]) => {
            (R::ProjectVariablesGet(s(k)), "/projects/{projectKey}/variables")
        }
        ("PUT", ["projects", k, "variables"]) => {
            (R::ProjectVariablesPut(s(k)), "/projects/{projectKey}/variables")
        }
        ("GET", ["projects", k, "variables-resolved"]) => (
            R::ProjectVariablesResolved(s(k)),
            "/projects/{projectKey}/variables-resolved",
        ),
        ("GET" | "POST", ["projects", k, "export"]) => {
            (R::ProjectExport(s(k)), "/projects/{projectKey}/export")
        }

        ("GET", ["projects", k, "datasets"]) => (R::DatasetList(s(k)), "/projects/{projectKey}/datasets"),
        ("POST", ["projects", k, "datasets"]) => (R::DatasetCreate(s(k)), "/projects/{projectKey}/datasets"),
        ("POST", ["projects", k, "datasets", "managed"]) => (
            R::DatasetCreateManaged(s(k)),
            "/projects/{projectKey}/datasets/managed",
        ),
        ("POST", ["projects", k, "actions", "renameDataset"]) => (
            R::DatasetRename(s(k)),
            "/projects/{projectKey}/actions/renameDataset",
        ),
        ("GET", ["projects", k, "datasets", n]) => (
            R::DatasetGet(s(k), s(n)),
            "/projects/{projectKey}/datasets/{datasetName}",
        ),
        ("PUT", ["projects", k, "datasets", n]) => (
            R::DatasetPut(s(k), s(n)),
            "/projects/{projectKey}/datasets/{datasetName}",
        ),
        ("DELETE", ["projects", k, "datasets", n]) => (
            R::DatasetDelete(s(k), s(n)),
            "/projects/{projectKey}/datasets/{datasetName}",
        ),
        ("GET", ["projects", k, "datasets", n, "metadata"]) => (
            R::DatasetMetadataGet(s(k), s(n)),
            "/projects/{projectKey}/datasets/{datasetName}/metadata",
        ),
        ("PUT", ["projects", k, "datasets", n, "metadata"]) => (
            R::DatasetMetadataPut(s(k), s(n)),
            "/projects/{projectKey}/datasets/{datasetName}/metadata",
        ),
        ("GET", ["projects", k, "datasets", n, "schema"]) => (
            R::DatasetSchemaGet(s(k), s(n)),
            "/projects/{projectKey}/datasets/{datasetName}/schema",
        ),
        ("PUT", ["projects", k, "datasets", n, "schema"]) => (
            R::DatasetSchemaPut(s(k), s(n)),
            "/projects/{projectKey}/datasets/{datasetName}/schema",
        ),
        ("GET", ["projects", k, "datasets", n, "data"]) => (
            R::DatasetData(s(k), s(n)),
            "/projects/{projectKey}/datasets/{datasetName}/data",
        ),
        ("DELETE", ["projects", k, "datasets", n, "data"]) => (
            R::DatasetClear(s(k), s(n)),
            "/projects/{projectKey}/datasets/{datasetName}/data",
        ),
        ("GET", ["projects", k, "datasets", n, "finish-streaming"]) => (
            R::DatasetFinishStreaming(s(k), s(n)),
            "/projects/{projectKey}/datasets/{datasetName}/finish-streaming",
        ),
        ("GET", ["projects", k, "datasets", n, "partitions"]) => (
            R::DatasetPartitions(s(k), s(n)),
            "/projects/{projectKey}/datasets/{datasetName}/partitions",
        ),
        ("GET", ["projects", k, "datasets", n, "info"]) => (
            R::DatasetInfo(s(k), s(n)),
            "/projects/{projectKey}/datasets/{datasetName}/info",
        ),

        ("GET", ["projects", k, "jobs"]) => (R::JobList(s(k)), "/projects/{projectKey}/jobs"),
        ("POST", ["projects", k, "jobs"]) => (R::JobStart(s(k)), "/projects/{projectKey}/jobs"),
        ("GET", ["projects", k, "jobs", id]) => {
            (R::JobGet(s(k), s(id)), "/projects/{projectKey}/jobs/{jobId}")
        }
        // The 2015 client asked for `/status`.
        ("GET", ["projects", k, "jobs", id, "status"]) => (
            R::JobGet(s(k), s(id)),
            "/projects/{projectKey}/jobs/{jobId}/status",
        ),
        ("POST", ["projects", k, "jobs", id, "abort"]) => (
            R::JobAbort(s(k), s(id)),
            "/projects/{projectKey}/jobs/{jobId}/abort",
        ),
        ("GET", ["projects", k, "jobs", id, "log"]) => {
            (R::JobLog(s(k), s(id)), "/projects/{projectKey}/jobs/{jobId}/log")
        }

        ("POST", ["sql", "queries"]) => (R::SqlStart, "/sql/queries"),
        ("GET", ["sql", "queries", id, "stream"]) => (R::SqlStream(s(id)), "/sql/queries/{queryId}/stream"),
        ("GET", ["sql", "queries", id, "finish-streaming"]) => {
            (R::SqlFinish(s(id)), "/sql/queries/{queryId}/finish-streaming")
        }

        ("GET", ["admin", "connections"]) => (R::ConnectionList, "/admin/connections"),
        ("POST", ["admin", "connections"]) => (R::ConnectionCreate, "/admin/connections"),
        ("GET", ["connections", "get-names"]) => (R::ConnectionNames, "/connections/get-names"),
        ("GET", ["admin", "connections", n]) => {
            (R::ConnectionGet(s(n)), "/admin/connections/{connectionName}")
        }
        ("PUT", ["admin", "connections", n]) => {
            (R::ConnectionPut(s(n)), "/admin/connections/{connectionName}")
        }
        ("DELETE", ["admin", "connections", n]) => {
            (R::ConnectionDelete(s(n)), "/admin/connections/{connectionName}")
        }

        ("GET", ["admin", "users"]) => (R::UserList, "/admin/users"),
        ("POST", ["admin", "users"]) => (R::UserCreate, "/admin/users"),
        ("GET", ["admin", "users", l]) => (R::UserGet(s(l)), "/admin/users/{login}"),
        ("PUT", ["admin", "users", l]) => (R::UserPut(s(l)), "/admin/users/{login}"),
        ("DELETE", ["admin", "users", l]) => (R::UserDelete(s(l)), "/admin/users/{login}"),

        ("GET", ["users"]) => (R::UserInfoList, "/users"),
        ("GET", ["users", l]) => (R::UserInfo(s(l)), "/users/{login}"),
        ("GET", ["groups"]) => (R::GroupInfoList, "/groups"),
        ("GET", ["admin", "groups"]) => (R::GroupList, "/admin/groups"),
        ("POST", ["admin", "groups"]) => (R::GroupCreate, "/admin/groups"),
        ("GET", ["admin", "groups", g]) => (R::GroupGet(s(g)), "/admin/groups/{groupName}"),
        ("PUT", ["admin", "groups", g]) => (R::GroupPut(s(g)), "/admin/groups/{groupName}"),
        ("DELETE", ["admin", "groups", g]) => (R::GroupDelete(s(g)), "/admin/groups/{groupName}"),

        ("GET", ["admin", "variables"]) => (R::VariablesGet, "/admin/variables"),
        ("PUT", ["admin", "variables"]) => (R::VariablesPut, "/admin/variables"),
        ("GET", ["admin", "logs"]) => (R::LogList, "/admin/logs"),
        ("GET", ["admin", "logs", name]) => (R::LogGet(s(name)), "/admin/logs/{logName}"),

        // Managed folders.
        ("GET", ["projects", k, "managedfolders"]) => {
            (R::FolderList(s(k)), "/projects/{projectKey}/managedfolders")
        }
        ("POST", ["projects", k, "managedfolders"]) => {
            (R::FolderCreate(s(k)), "/projects/{projectKey}/managedfolders")
        }
        ("GET", ["projects", k, "managedfolders", id]) => (
            R::FolderGet(s(k), s(id)),
            "/projects/{projectKey}/managedfolders/{folderId}",
        ),
        ("PUT", ["projects", k, "managedfolders", id]) => (
            R::FolderPut(s(k), s(id)),
            "/projects/{projectKey}/managedfolders/{folderId}",
        ),
        ("DELETE", ["projects", k, "managedfolders", id]) => (
            R::FolderDelete(s(k), s(id)),
            "/projects/{projectKey}/managedfolders/{folderId}",
        ),
        ("POST", ["projects", k, "actions", "renameManagedFolder"]) => (
            R::FolderRename(s(k)),
            "/projects/{projectKey}/actions/renameManagedFolder",
        ),
        ("GET", ["projects", k, "managedfolders", id, "metrics", "last"]) => (
            R::FolderMetricsLast(s(k), s(id)),
            "/projects/{projectKey}/managedfolders/{folderId}/metrics/last",
        ),
        ("GET", ["projects", k, "managedfolders", id, "metrics", "history"]) => (
            R::FolderMetricHistory(s(k), s(id)),
            "/projects/{projectKey}/managedfolders/{folderId}/metrics/history",
        ),
        (
            "POST",
            [
                "projects",
                k,
                "managedfolders",
                id,
                "actions",
                a @ ("computeMetrics" | "computeMetricsFromIds"),
            ],
        ) => (
            R::FolderComputeMetrics(s(k), s(id), *a == "computeMetricsFromIds"),
            "/projects/{projectKey}/managedfolders/{folderId}/actions/computeMetrics",
        ),
        ("GET", ["projects", k, "managedfolders", id, "usages"]) => (
            R::FolderUsages(s(k), s(id)),
            "/projects/{projectKey}/managedfolders/{folderId}/usages",
        ),
        ("POST", ["projects", k, "managedfolders", id, "actions", "copyTo"]) => (
            R::FolderCopyTo(s(k), s(id)),
            "/projects/{projectKey}/managedfolders/{folderId}/actions/copyTo",
        ),
        ("GET", ["projects", k, "managedfolders", id, "contents"]) => (
            R::FolderContents(s(k), s(id)),
            "/projects/{projectKey}/managedfolders/{folderId}/contents",
        ),
        (m @ ("GET" | "POST" | "DELETE"), ["projects", k, "managedfolders", id, "contents", rest @ ..]) => {
            let (k, id, path) = (s(k), s(id), rest.join("/"));
            let route = match m {
                "GET" => R::FolderFileGet(k, id, path),
                "POST" => R::FolderFilePut(k, id, path),
                _ => R::FolderFileDelete(k, id, path),
            };
            (
                route,
                "/projects/{projectKey}/managedfolders/{folderId}/contents/{path}",
            )
        }

        // Recipes.
        ("GET", ["projects", k, "recipes"]) => (R::RecipeList(s(k)), "/projects/{projectKey}/recipes"),
        ("POST", ["projects", k, "recipes"]) => (R::RecipeCreate(s(k)), "/projects/{projectKey}/recipes"),
        ("GET", ["projects", k, "recipes", n]) => (
            R::RecipeGet(s(k), s(n)),
            "/projects/{projectKey}/recipes/{recipeName}",
        ),
        ("PUT", ["projects", k, "recipes", n]) => (
            R::RecipePut(s(k), s(n)),
            "/projects/{projectKey}/recipes/{recipeName}",
        ),
        ("DELETE", ["projects", k, "recipes", n]) => (
            R::RecipeDelete(s(k), s(n)),
            "/projects/{projectKey}/recipes/{recipeName}",
        ),
        ("POST", ["projects", k, "actions", "renameRecipe"]) => (
            R::RecipeRename(s(k)),
            "/projects/{projectKey}/actions/renameRecipe",
        ),
        ("GET", ["projects", k, "recipes", n, "metadata"]) => (
            R::RecipeMetadataGet(s(k), s(n)),
            "/projects/{projectKey}/recipes/{recipeName}/metadata",
        ),
        ("PUT", ["projects", k, "recipes", n, "metadata"]) => (
            R::RecipeMetadataPut(s(k), s(n)),
            "/projects/{projectKey}/recipes/{recipeName}/metadata",
        ),
        ("GET", ["projects", k, "recipes", n, "status"]) => (
            R::RecipeStatus(s(k), s(n)),
            "/projects/{projectKey}/recipes/{recipeName}/status",
        ),
        ("GET", ["projects", k, "recipes", n, "schema-update"]) => (
            R::RecipeSchemaUpdate(s(k), s(n)),
            "/projects/{projectKey}/recipes/{recipeName}/schema-update",
        ),
        ("POST", ["projects", k, "recipes", n, "actions", "updateOutputSchema"]) => (
            R::RecipeUpdateOutputSchema(s(k), s(n)),
            "/projects/{projectKey}/recipes/{recipeName}/actions/updateOutputSchema",
        ),

        // Scenarios: the literal sub-paths come before `{runId}`.
        ("GET", ["projects", k, "scenarios"]) => (R::ScenarioList(s(k)), "/projects/{projectKey}/scenarios"),
        ("POST", ["projects", k, "scenarios"]) => {
            (R::ScenarioCreate(s(k)), "/projects/{projectKey}/scenarios")
        }
        ("GET", ["projects", k, "scenarios", "testing-status"]) => (
            R::ScenarioTestingStatus(s(k)),
            "/projects/{projectKey}/scenarios/testing-status",
        ),
        ("GET", ["projects", k, "scenarios", "last-test-scenario-runs-report"]) => (
            R::ScenarioTestReport(s(k)),
            "/projects/{projectKey}/scenarios/last-test-scenario-runs-report",
        ),
        ("GET", ["projects", k, "scenarios", "last-test-scenario-runs-html-report"]) => (
            R::ScenarioTestReportHtml(s(k)),
            "/projects/{projectKey}/scenarios/last-test-scenario-runs-html-report",
        ),
        ("GET", ["projects", k, "scenarios", id, run, "scenario-run-report"]) => (
            R::ScenarioRunReport(s(k), s(id), s(run)),
            "/projects/{projectKey}/scenarios/{scenarioId}/{runId}/scenario-run-report",
        ),
        ("GET", ["projects", k, "scenarios", id, run, "step-run-report"]) => (
            R::ScenarioStepRunReport(s(k), s(id), s(run)),
            "/projects/{projectKey}/scenarios/{scenarioId}/{runId}/step-run-report",
        ),
        ("GET", ["projects", k, "scenarios", "trigger", id, t]) => (
            R::ScenarioTriggerFire(s(k), s(id), s(t)),
            "/projects/{projectKey}/scenarios/trigger/{scenarioId}/{triggerId}",
        ),
        ("GET", ["projects", k, "scenarios", id]) => (
            R::ScenarioGet(s(k), s(id)),
            "/projects/{projectKey}/scenarios/{scenarioId}",
        ),
        ("PUT", ["projects", k, "scenarios", id]) => (
            R::ScenarioPut(s(k), s(id)),
            "/projects/{projectKey}/scenarios/{scenarioId}",
        ),
        ("DELETE", ["projects", k, "scenarios", id]) => (
            R::ScenarioDelete(s(k), s(id)),
            "/projects/{projectKey}/scenarios/{scenarioId}",
        ),
        ("GET", ["projects", k, "scenarios", id, "light"]) => (
            R::ScenarioLightGet(s(k), s(id)),
            "/projects/{projectKey}/scenarios/{scenarioId}/light",
        ),
        ("PUT", ["projects", k, "scenarios", id, "light"]) => (
            R::ScenarioLightPut(s(k), s(id)),
            "/projects/{projectKey}/scenarios/{scenarioId}/light",
        ),
        ("GET", ["projects", k, "scenarios", id, "payload"]) => (
            R::ScenarioPayloadGet(s(k), s(id)),
            "/projects/{projectKey}/scenarios/{scenarioId}/payload",
        ),
        ("PUT", ["projects", k, "scenarios", id, "payload"]) => (
            R::ScenarioPayloadPut(s(k), s(id)),
            "/projects/{projectKey}/scenarios/{scenarioId}/payload",
        ),
        ("POST", ["projects", k, "scenarios", id, "run"]) => (
            R::ScenarioRun(s(k), s(id)),
            "/projects/{projectKey}/scenarios/{scenarioId}/run",
        ),
        ("POST", ["projects", k, "scenarios", id, "abort"]) => (
            R::ScenarioAbort(s(k), s(id)),
            "/projects/{projectKey}/scenarios/{scenarioId}/abort",
        ),
        ("GET", ["projects", k, "scenarios", id, "get-last-runs"]) => (
            R::ScenarioLastRuns(s(k), s(id)),
            "/projects/{projectKey}/scenarios/{scenarioId}/get-last-runs",
        ),
        ("GET", ["projects", k, "scenarios", id, "get-runs-by-date"]) => (
            R::ScenarioRunsByDate(s(k), s(id)),
            "/projects/{projectKey}/scenarios/{scenarioId}/get-runs-by-date",
        ),
        ("GET", ["projects", k, "scenarios", id, "get-run-for-trigger"]) => (
            R::ScenarioRunForTrigger(s(k), s(id)),
            "/projects/{projectKey}/scenarios/{scenarioId}/get-run-for-trigger",
        ),
        ("GET", ["projects", k, "scenarios", id, run]) => (
            R::ScenarioRunDetails(s(k), s(id), s(run)),
            "/projects/{projectKey}/scenarios/{scenarioId}/{runId}",
        ),
        ("GET", ["projects", k, "scenarios", id, run, "log"]) => (
            R::ScenarioRunLog(s(k), s(id), s(run)),
            "/projects/{projectKey}/scenarios/{scenarioId}/{runId}/log",
        ),

        // Flow graph and zones.
        ("GET", ["projects", k, "flow", "graph"]) => {
            (R::FlowGraph(s(k)), "/projects/{projectKey}/flow/graph")
        }
        ("GET", ["projects", k, "flow", "zones"]) => (R::ZoneList(s(k)), "/projects/{projectKey}/flow/zones"),
        ("POST", ["projects", k, "flow", "zones"]) => {
            (R::ZoneCreate(s(k)), "/projects/{projectKey}/flow/zones")
        }
        ("GET", ["projects", k, "flow", "zones", z]) => (
            R::ZoneGet(s(k), s(z)),
            "/projects/{projectKey}/flow/zones/{zoneId}",
        ),
        ("PUT", ["projects", k, "flow", "zones", z]) => (
            R::ZonePut(s(k), s(z)),
            "/projects/{projectKey}/flow/zones/{zoneId}",
        ),
        ("DELETE", ["projects", k, "flow", "zones", z]) => (
            R::ZoneDelete(s(k), s(z)),
            "/projects/{projectKey}/flow/zones/{zoneId}",
        ),
        ("POST", ["projects", k, "flow", "zones", z, "items"]) => (
            R::ZoneAddItem(s(k), s(z)),
            "/projects/{projectKey}/flow/zones/{zoneId}/items",
        ),
        ("POST", ["projects", k, "flow", "zones", z, "add-items"]) => (
            R::ZoneAddItems(s(k), s(z)),
            "/projects/{projectKey}/flow/zones/{zoneId}/add-items",
        ),
        ("POST", ["projects", k, "flow", "zones", z, "shared"]) => (
            R::ZoneAddShared(s(k), s(z)),
            "/projects/{projectKey}/flow/zones/{zoneId}/shared",
        ),
        ("DELETE", ["projects", k, "flow", "zones", z, "shared", t, id]) => (
            R::ZoneRemoveShared(s(k), s(z), s(t), s(id)),
            "/projects/{projectKey}/flow/zones/{zoneId}/shared/{objectType}/{objectId}",
        ),
        ("GET", ["projects", k, "flow", "zones", z, "graph"]) => (
            R::ZoneGraph(s(k), s(z)),
            "/projects/{projectKey}/flow/zones/{zoneId}/graph",
        ),
        _ => return None,
    })
}

async fn dispatch(app: &App, req: &Req, route: Route) -> ApiResult {
    use Route as R;
    match route {
        R::AuthInfo => instance::auth_info(app, req),
        R::InstanceInfo => instance::instance_info(),
        R::FutureList => instance::list_futures(app, req),
        R::FutureGet(id) => instance::get_future(app, req, &id),
        R::ProjectList => projects::list(app, req),
        R::ProjectCreate => projects::create(app, req).await,
        R::ProjectGet(k) => projects::get(app, req, &k),
        R::ProjectDelete(k) => projects::delete(app, req, &k).await,
        R::ProjectMetadataGet(k) => projects::get_part(app, req, &k, projects::Part::Metadata),
        R::ProjectMetadataPut(k) => projects::put_part(app, req, &k, projects::Part::Metadata).await,
        R::ProjectPermissionsGet(k) => projects::get_part(app, req, &k, projects::Part::Permissions),
        R::ProjectPermissionsPut(k) => projects::put_part(app, req, &k, projects::Part::Permissions).await,
        R::ProjectSettingsGet(k) => projects::get_part(app, req, &k, projects::Part::Settings),
        R::ProjectSettingsPut(k) => projects::put_part(app, req, &k, projects::Part::Settings).await,
        R::ProjectVariablesGet(k) => projects::get_part(app, req, &k, projects::Part::Variables),
        R::ProjectVariablesPut(k) => projects::put_part(app, req, &k, projects::Part::Variables).await,
        R::ProjectVariablesResolved(k) => projects::resolved_variables(app, req, &k),
        R::ProjectExport(k) => projects::export(app, req, &k),
        R::DatasetList(k) => datasets::list(app, req, &k),
        R::DatasetCreate(k) => datasets::create(app, req, &k).await,
        R::DatasetCreateManaged(k) => datasets::create_managed(app, req, &k).await,
        R::DatasetRename(k) => datasets::rename(app, req, &k).await,
        R::DatasetGet(k, n) => datasets::get(app, req, &k, &n),
        R::DatasetPut(k, n) => datasets::put(app, req, &k, &n).await,
        R::DatasetDelete(k, n) => datasets::delete(app, req, &k, &n).await,
        R::DatasetMetadataGet(k, n) => datasets::get_metadata(app, req, &k, &n),
        R::DatasetMetadataPut(k, n) => datasets::put_metadata(app, req, &k, &n).await,
        R::DatasetSchemaGet(k, n) => datasets::get_schema(app, req, &k, &n),
        R::DatasetSchemaPut(k, n) => datasets::put_schema(app, req, &k, &n).await,
        R::DatasetData(k, n) => datasets::data(app, req, &k, &n).await,
        R::DatasetFinishStreaming(k, n) => datasets::finish_streaming(app, req, &k, &n),
        R::DatasetClear(k, n) => datasets::clear(app, req, &k, &n).await,
        R::DatasetPartitions(k, n) => datasets::partitions(app, req, &k, &n),
        R::DatasetInfo(k, n) => datasets::info(app, req, &k, &n),
        R::JobList(k) => jobs::list(app, req, &k),
        R::JobStart(k) => jobs::start(app, req, &k).await,
        R::JobGet(k, id) => jobs::get(app, req, &k, &id),
        R::JobAbort(k, id) => jobs::abort(app, req, &k, &id).await,
        R::JobLog(k, id) => jobs::log(app, req, &k, &id),
        R::SqlStart => sql::start(app, req).await,
        R::SqlStream(id) => sql::stream(app, req, &id),
        R::SqlFinish(id) => sql::finish(app, req, &id),
        R::ConnectionList => connections::list(app, req),
        R::ConnectionNames => connections::names(app, req),
        R::ConnectionCreate => connections::create(app, req).await,
        R::ConnectionGet(n) => connections::get(app, req, &n),
        R::ConnectionPut(n) => connections::put(app, req, &n).await,
        R::ConnectionDelete(n) => connections::delete(app, req, &n).await,
        R::UserList => users::list(app, req),
        R::UserCreate => users::create(app, req).await,
        R::UserGet(l) => users::get(app, req, &l),
        R::UserPut(l) => users::put(app, req, &l).await,
        R::UserDelete(l) => users::delete(app, req, &l).await,
        R::UserInfoList => users::list_info(app, req),
        R::UserInfo(l) => users::get_info(app, req, &l),
        R::GroupInfoList => groups::list_info(app, req),
        R::GroupList => groups::list(app, req),
        R::GroupCreate => groups::create(app, req).await,
        R::GroupGet(g) => groups::get(app, req, &g),
        R::GroupPut(g) => groups::put(app, req, &g).await,
        R::GroupDelete(g) => groups::delete(app, req, &g).await,
        R::VariablesGet => variables::get(app, req),
        R::VariablesPut => variables::put(app, req).await,
        R::LogList => logs::list(&app.logs, &req.caller),
        R::LogGet(name) => logs::get(&app.logs, &req.caller, &name),

        R::FolderList(k) => managed_folders::list(app, req, &k),
        R::FolderCreate(k) => managed_folders::create(app, req, &k).await,
        R::FolderGet(k, id) => managed_folders::get(app, req, &k, &id),
        R::FolderPut(k, id) => managed_folders::put(app, req, &k, &id).await,
        R::FolderDelete(k, id) => managed_folders::delete(app, req, &k, &id).await,
        R::FolderRename(k) => managed_folders::rename(app, req, &k).await,
        R::FolderContents(k, id) => managed_folders::list_contents(app, req, &k, &id).await,
        R::FolderFileGet(k, id, p) => managed_folders::get_file(app, req, &k, &id, &p).await,
        R::FolderFilePut(k, id, p) => managed_folders::put_file(app, req, &k, &id, &p).await,
        R::FolderFileDelete(k, id, p) => managed_folders::delete_file(app, req, &k, &id, &p).await,
        R::FolderUsages(k, id) => managed_folders::usages(app, req, &k, &id),
        R::FolderCopyTo(k, id) => managed_folders::copy_to(app, req, &k, &id).await,
        R::FolderMetricsLast(k, id) => managed_folders::last_metrics(app, req, &k, &id).await,
        R::FolderMetricHistory(k, id) => managed_folders::metric_history(app, req, &k, &id).await,
        R::FolderComputeMetrics(k, id, from_ids) => {
            managed_folders::compute_metrics(app, req, &k, &id, from_ids).await
        }

        R::RecipeList(k) => recipes::list(app, req, &k),
        R::RecipeCreate(k) => recipes::create(app, req, &k).await,
        R::RecipeGet(k, n) => recipes::get(app, req, &k, &n),
        R::RecipePut(k, n) => recipes::put(app, req, &k, &n).await,
        R::RecipeDelete(k, n) => recipes::delete(app, req, &k, &n).await,
        R::RecipeRename(k) => recipes::rename(app, req, &k).await,
        R::RecipeMetadataGet(k, n) => recipes::get_metadata(app, req, &k, &n),
        R::RecipeMetadataPut(k, n) => recipes::put_metadata(app, req, &k, &n).await,
        R::RecipeStatus(k, n) => recipes::status(app, req, &k, &n),
        R::RecipeSchemaUpdate(k, n) => recipes::schema_update(app, req, &k, &n).await,
        R::RecipeUpdateOutputSchema(k, n) => recipes::update_output_schema(app, req, &k, &n).await,

        R::ScenarioList(k) => scenarios::list(app, req, &k),
        R::ScenarioCreate(k) => scenarios::create(app, req, &k).await,
        R::ScenarioGet(k, id) => scenarios::get(app, req, &k, &id),
        R::ScenarioPut(k, id) => scenarios::put(app, req, &k, &id).await,
        R::ScenarioDelete(k, id) => scenarios::delete(app, req, &k, &id).await,
        R::ScenarioLightGet(k, id) => scenarios::get_light(app, req, &k, &id),
        R::ScenarioLightPut(k, id) => scenarios::put_light(app, req, &k, &id).await,
        R::ScenarioPayloadGet(k, id) => scenarios::get_payload(app, req, &k, &id),
        R::ScenarioPayloadPut(k, id) => scenarios::put_payload(app, req, &k, &id).await,
        R::ScenarioRun(k, id) => scenarios::run(app, req, &k, &id).await,
        R::ScenarioAbort(k, id) => scenarios::abort(app, req, &k, &id).await,
        R::ScenarioLastRuns(k, id) => scenarios::last_runs(app, req, &k, &id),
        R::ScenarioRunsByDate(k, id) => scenarios::runs_by_date(app, req, &k, &id),
        R::ScenarioRunForTrigger(k, id) => scenarios::run_for_trigger(app, req, &k, &id),
        R::ScenarioTriggerFire(k, id, t) => scenarios::trigger_fire(app, req, &k, &id, &t),
        R::ScenarioRunDetails(k, id, run) => scenarios::run_details(app, req, &k, &id, &run),
        R::ScenarioRunLog(k, id, run) => scenarios::run_log(app, req, &k, &id, &run),
        R::ScenarioTestingStatus(k) => scenarios::testing_status(app, req, &k),
        R::ScenarioTestReport(k) => scenarios::last_test_report(app, req, &k, false),
        R::ScenarioTestReportHtml(k) => scenarios::last_test_report(app, req, &k, true),
        R::ScenarioRunReport(k, id, run) => scenarios::run_report(app, req, &k, &id, &run, false),
        R::ScenarioStepRunReport(k, id, run) => scenarios::run_report(app, req, &k, &id, &run, true),

        R::FlowGraph(k) => flow_zones::flow_graph(app, req, &k),
        R::ZoneList(k) => flow_zones::list(app, req, &k),
        R::ZoneCreate(k) => flow_zones::create(app, req, &k).await,
        R::ZoneGet(k, z) => flow_zones::get(app, req, &k, &z),
        R::ZonePut(k, z) => flow_zones::put(app, req, &k, &z).await,
        R::ZoneDelete(k, z) => flow_zones::delete(app, req, &k, &z).await,
        R::ZoneAddItem(k, z) => flow_zones::add_item(app, req, &k, &z).await,
        R::ZoneAddItems(k, z) => flow_zones::add_items(app, req, &k, &z).await,
        R::ZoneAddShared(k, z) => flow_zones::add_shared(app, req, &k, &z).await,
        R::ZoneRemoveShared(k, z, t, id) => flow_zones::remove_shared(app, req, &k, &z, &t, &id).await,
        R::ZoneGraph(k, z) => flow_zones::zone_graph(app, req, &k, &z),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_templates() {
        assert_eq!(strip_prefix("/public/api/projects"), Some("/projects"));
        assert_eq!(strip_prefix("/dip/publicapi/projects"), Some("/projects"));
        assert_eq!(strip_prefix("/public/apix/projects"), None);
        let (route, tpl) = match_route(&Method::GET, &["projects", "P", "metadata"]).unwrap();
        assert_eq!(route, Route::ProjectMetadataGet("P".into()));
        assert_eq!(tpl, "/projects/{projectKey}/metadata");
    }

    #[test]
    fn dots_stay_in_names() {
        let (route, _) = match_route(&Method::GET, &["admin", "users", "john.doe"]).unwrap();
        assert_eq!(route, Route::UserGet("john.doe".into()));
        let (route, _) = match_route(
            &Method::GET,
            &["projects", "P", "jobs", "Build_x_2026-01-01T00-00-00.123"],
        )
        .unwrap();
        assert_eq!(
            route,
            Route::JobGet("P".into(), "Build_x_2026-01-01T00-00-00.123".into())
        );
        assert!(match_route(&Method::PATCH, &["projects"]).is_none());
    }
}
