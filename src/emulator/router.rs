//! Routing: axum's router, fed by one route table per area module.
//!
//! Each area module (`projects`, `datasets`, `users`, ...) declares its routes once, in its own
//! `pub fn routes() -> Routes`, as axum routes written without the API prefix and without a
//! trailing slash (`/projects/{projectKey}/datasets/{datasetName}`), and registers it in
//! [`AREAS`]; [`build`] merges every registered table. The route strings are also the templates the statistics count, so the
//! parameter names (`{projectKey}`, `{datasetName}`, ...) are part of the statistics' contract.
//!
//! DSS's path rules, applied once for every route:
//! - both prefixes: the API table is nested under `/public/api` and `/dip/publicapi`;
//! - one optional trailing slash: stripped from the URI before routing ([`normalise`]), since
//!   axum's router (by design) treats `/a` and `/a/` as different paths;
//! - dots inside names (`john.doe`, job ids ending `.123`, `backend.log`): axum's `{param}`
//!   matches a whole segment, dots included, and [`Params`] percent-decodes it.
//!
//! Each API request goes: statistics → faults → authentication (the [`gate`] middleware, which
//! leaves the [`Caller`] in the request extensions) → handler; every answer, errors included,
//! carries `DSS-Version` and `DSS-API-Version`. `/__emulator/stats` and `/__emulator/stats/reset`
//! (admin key only) sit outside the prefixes and outside faults. A write carrying
//! `X-Dssctl-Lock-Holder` is tracked while in flight, to count overlapping writes of distinct
//! stack-lock holders.
//!
//! Handlers keep plain signatures (`fn(&App, &Req, &str, ...) -> ApiResult`, async when they
//! write); a route adapts them with a closure taking [`Params`] and [`Api`], so a handler can be
//! unit-tested and reused without axum's extractor machinery.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::auth::{Caller, KeyRing};
use super::cipher::{self, Cipher};
use super::faults::{Faults, Stats};
use super::flow_state::FileStore;
use super::http::{self, AlreadyExists, ApiError, Query};
use super::logs::LogBuffer;
use super::persist::Persister;
use super::sql::SqlEngine;
use super::store::Store;
use super::{CodeRecipes, ConflictStatus, EmulatorConfig, builtins};
use crate::wire;

/// Largest request body accepted (dataset uploads can be large).
const BODY_LIMIT: usize = 256 * 1024 * 1024;

/// Shared state of a running emulator.
pub(crate) struct App {
    pub keys: KeyRing,
    pub state: RwLock<Store>,
    pub persist: Persister,
    pub faults: Faults,
    pub stats: Stats,
    pub logs: LogBuffer,
    pub sql: SqlEngine,
    pub job_duration: Duration,
    pub conflict_status: ConflictStatus,
    /// Files of managed folders and Filesystem datasets.
    pub files: FileStore,
    pub code_recipes: CodeRecipes,
}

impl App {
    pub(crate) fn new(config: EmulatorConfig) -> anyhow::Result<App> {
        let keys = KeyRing::new(config.admin_key, &config.keys)?;
        let (mut store, cipher, fresh) = match &config.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|err| anyhow::anyhow!("cannot create the data dir {}: {err}", dir.display()))?;
                // New when nothing was ever written there (the key is written first of all).
                let fresh = !dir.join(cipher::KEY_FILE).exists()
                    && !dir.join("admin").exists()
                    && !dir.join("projects").exists();
                let cipher = Cipher::load_or_create(dir)?;
                let mut store = Store::load(dir)?;
                // Every document that `persist` seals on write: `SEALED_DIRS` and the sealed
                // collections.
                let Store {
                    connections,
                    users,
                    general_settings,
                    collections,
                    projects,
                    ..
                } = &mut store;
                for doc in connections
                    .values_mut()
                    .chain(users.values_mut())
                    .chain(general_settings.as_mut())
                    .chain(collections.sealed_docs_mut())
                    .chain(
                        projects
                            .values_mut()
                            .flat_map(|p| p.flow.collections.sealed_docs_mut()),
                    )
                {
                    let mut value = serde_json::Value::Object(std::mem::take(doc));
                    cipher.open(&mut value).map_err(|err| {
                        anyhow::anyhow!("cannot read the secrets of {}: {err}", dir.display())
                    })?;
                    if let serde_json::Value::Object(map) = value {
                        *doc = map;
                    }
                }
                (store, Some(cipher), fresh)
            }
            None => (Store::default(), None, true),
        };
        let persist = Persister::with_cipher(config.data_dir.clone(), cipher);
        if fresh && !config.empty {
            for (rel, doc) in builtins::seed(&mut store) {
                persist
                    .put_now(&rel, &doc)
                    .map_err(|err| anyhow::anyhow!("cannot write {}: {err}", rel.display()))?;
            }
        }
        Ok(App {
            keys,
            state: RwLock::new(store),
            persist,
            faults: Faults::new(config.latency, config.error_rate, config.rate_limit),
            stats: Stats::default(),
            logs: LogBuffer::default(),
            sql: SqlEngine::new(config.data_dir.clone().map(|d| d.join("sql"))),
            job_duration: config.job_duration,
            conflict_status: config.conflict_status,
            files: FileStore::new(config.data_dir),
            code_recipes: config.code_recipes,
        })
    }

    /// Read access to the state (a poisoned lock is still usable: every change is applied
    /// whole before the guard drops).
    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, Store> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> std::sync::RwLockWriteGuard<'_, Store> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// One API request, as handlers see it.
pub(crate) struct Req {
    pub query: Query,
    pub body: Bytes,
    pub caller: Caller,
}

/// The route table of an area module (paths without the API prefix, no trailing slash).
pub(crate) type Routes = Router<Arc<App>>;

/// Extractor of what every handler needs: the shared state and the request (query, body, and
/// the caller authenticated by [`gate`]). It reads the body, so it comes last in a route's
/// closure arguments.
pub(crate) struct Api {
    pub app: Arc<App>,
    pub req: Req,
}

impl FromRequest<Arc<App>> for Api {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &Arc<App>) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        // `gate` runs before every API handler; a missing caller means a route was mounted
        // outside the API table, which must not be served unauthenticated.
        let caller = parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("No API key or ticket given"))?;
        let body = axum::body::to_bytes(body, BODY_LIMIT)
            .await
            .map_err(|err| ApiError::illegal(format!("cannot read the request body: {err}")))?;
        Ok(Api {
            app: state.clone(),
            req: Req {
                query: Query::parse(parts.uri.query()),
                body,
                caller,
            },
        })
    }
}

/// Path parameters (percent-decoded), with a DSS error body when they cannot be read.
pub(crate) struct Params<T>(pub T);

impl<T, S> FromRequestParts<S> for Params<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| Params(value))
            .map_err(|err| ApiError::illegal(format!("invalid path: {}", err.body_text())))
    }
}

/// The route tables of the area modules: each registers its `routes` itself (a
/// `#[distributed_slice(AREAS)]` static next to it), so an area's `mod` line in
/// `emulator/mod.rs` is its one registration line.
#[linkme::distributed_slice]
#[allow(
    unsafe_code,
    reason = "linkme places the slice in a link section; nothing else is unsafe"
)]
pub(crate) static AREAS: [fn() -> Routes];

/// The API table: every registered area's routes. Merging is order-independent (two areas
/// declaring one route make axum panic at start-up whatever the order, which the tests catch).
fn api_routes() -> Routes {
    AREAS
        .iter()
        .fold(Router::new(), |router, routes| router.merge(routes()))
}

/// The path given to the router: the request's own path without one trailing slash.
#[derive(Clone)]
struct OriginalPath(String);

/// The axum service of the emulator, trailing-slash normalisation included.
pub(crate) fn build(
    app: Arc<App>,
) -> impl tower::Service<Request, Response = Response, Error = std::convert::Infallible, Future = impl Send>
+ Clone
+ Send
+ 'static {
    let api = api_routes()
        .fallback(no_endpoint)
        .method_not_allowed_fallback(no_endpoint)
        .layer(middleware::from_fn_with_state(app.clone(), gate));
    let mut router = Router::new()
        .route("/__emulator/stats", routing::get(stats_get))
        .route("/__emulator/stats/reset", routing::post(stats_reset));
    for prefix in wire::API_PREFIXES {
        router = router.nest(prefix, api.clone());
    }
    let router = router
        .fallback(outside_the_api)
        .method_not_allowed_fallback(outside_the_api)
        .layer(middleware::from_fn_with_state(app.clone(), decorate))
        .with_state(app);
    tower::ServiceBuilder::new()
        .map_request(normalise)
        .service(router)
}

/// Strip one trailing slash (DSS serves every path with or without it) and remember the path
/// as sent for the log.
fn normalise(mut request: Request) -> Request {
    let original = request.uri().path().to_string();
    if original.len() > 1 && original.ends_with('/') {
        let trimmed = &original[..original.len() - 1];
        let rebuilt = match request.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_string(),
        };
        if let Ok(path_and_query) = rebuilt.parse::<axum::http::uri::PathAndQuery>() {
            let mut parts = request.uri().clone().into_parts();
            parts.path_and_query = Some(path_and_query);
            if let Ok(uri) = Uri::from_parts(parts) {
                *request.uri_mut() = uri;
            }
        }
    }
    request.extensions_mut().insert(OriginalPath(original));
    request
}

/// Every answer: the DSS headers, and one line in `backend.log`.
async fn decorate(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request
        .extensions()
        .get::<OriginalPath>()
        .map_or_else(|| request.uri().path().to_string(), |p| p.0.clone());
    let mut resp = next.run(request).await;
    app.logs
        .push(format!("{} {} -> {}", method, path, resp.status().as_u16()));
    let h = resp.headers_mut();
    h.insert("DSS-Version", HeaderValue::from_static(wire::DSS_VERSION));
    h.insert("DSS-API-Version", HeaderValue::from_static(wire::DSS_API_VERSION));
    resp
}

/// The route template of a matched path: the API prefix taken off; `None` when no route of
/// the table matched (axum then reports the nest's own catch-all).
fn template(matched: Option<&MatchedPath>) -> Option<&str> {
    let path = matched?.as_str();
    let rest = wire::API_PREFIXES
        .iter()
        .find_map(|p| path.strip_prefix(p))
        .unwrap_or(path);
    (!rest.contains("__private__"))
        .then_some(rest)
        .filter(|r| !r.is_empty())
}

/// Statistics, faults and authentication, in that order, before any API handler; then the
/// answer is held until the latency has passed since the request arrived.
async fn gate(
    State(app): State<Arc<App>>,
    matched: Option<MatchedPath>,
    mut request: Request,
    next: Next,
) -> Response {
    let arrived = tokio::time::Instant::now();
    let tpl = template(matched.as_ref()).unwrap_or("(unmatched)");
    app.stats.count(request.method(), tpl);
    // Held until the answer: the writes of two stack-lock holders must never overlap.
    let _holder = (request.method() != Method::GET)
        .then(|| {
            request
                .headers()
                .get(super::faults::LOCK_HOLDER_HEADER)?
                .to_str()
                .ok()
        })
        .flatten()
        .map(|holder| app.stats.holder_write(holder));
    let answer = match app.faults.apply() {
        Err(err) => err.into_response(),
        Ok(()) => match app.keys.authenticate(request.headers()) {
            Ok(caller) => {
                request.extensions_mut().insert(caller);
                let resp = next.run(request).await;
                conflict_as_configured(&app, resp)
            }
            Err(err) => err.into_response(),
        },
    };
    // The latency is the whole time of the answer, the handling included (see `faults`).
    app.faults.hold(arrived).await;
    answer
}

/// Creating a name that is taken: handlers answer the 409 form; `--conflict-status 500`
/// turns it into DSS's generic server error with the same message.
fn conflict_as_configured(app: &App, resp: Response) -> Response {
    match (app.conflict_status, resp.extensions().get::<AlreadyExists>()) {
        (ConflictStatus::ServerError, Some(AlreadyExists(message))) => ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            wire::ERROR_ILLEGAL_ARGUMENT,
            message.clone(),
        )
        .into_response(),
        _ => resp,
    }
}

/// An API path (under a prefix) that no route serves.
async fn no_endpoint(method: Method, uri: Uri) -> ApiError {
    let rest = wire::API_PREFIXES
        .iter()
        .find_map(|p| uri.path().strip_prefix(p))
        .unwrap_or(uri.path());
    ApiError::not_found(format!("No API endpoint {method} {rest}"))
}

/// Anything outside the two prefixes and the statistics.
async fn outside_the_api(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path();
    if let Some(rest) = path.strip_prefix("/__emulator/") {
        return admin_only(&app, &headers, || {
            Err(ApiError::not_found(format!(
                "No emulator endpoint {method} /__emulator/{rest}"
            )))
        });
    }
    ApiError::not_found(format!(
        "'{path}' is not a DSS API path (the API lives under {} and {})",
        wire::API_PREFIXES[0],
        wire::API_PREFIXES[1]
    ))
    .into_response()
}

fn admin_only(app: &App, headers: &HeaderMap, f: impl FnOnce() -> http::ApiResult) -> Response {
    let result = app
        .keys
        .authenticate(headers)
        .and_then(|caller| caller.require_admin())
        .and_then(|()| f());
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn stats_get(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    admin_only(&app, &headers, || Ok(http::json(&app.stats.snapshot())))
}

async fn stats_reset(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    admin_only(&app, &headers, || {
        app.stats.reset();
        Ok(http::msg("statistics reset"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt as _;

    async fn call(method: Method, path: &str) -> (u16, serde_json::Value) {
        let app = Arc::new(
            App::new(EmulatorConfig {
                admin_key: "k".into(),
                ..EmulatorConfig::default()
            })
            .unwrap(),
        );
        app.write().users.insert(
            "john.doe".into(),
            serde_json::json!({"login": "john.doe"})
                .as_object()
                .unwrap()
                .clone(),
        );
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("Authorization", "Bearer k")
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = build(app).oneshot(request).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    #[tokio::test]
    async fn prefixes_trailing_slashes_and_dots() {
        for path in [
            "/public/api/admin/users/john.doe",
            "/public/api/admin/users/john.doe/",
            "/dip/publicapi/admin/users/john%2Edoe",
        ] {
            let (status, body) = call(Method::GET, path).await;
            assert_eq!(status, 200, "{path}: {body}");
            assert_eq!(body["login"], "john.doe");
        }
        let (status, body) = call(Method::GET, "/public/api/admin/logs/backend.log").await;
        assert_eq!(status, 200, "{body}");
    }

    #[tokio::test]
    async fn unknown_routes_and_methods_are_dss_errors() {
        let (status, body) = call(Method::PATCH, "/public/api/projects/").await;
        assert_eq!(status, 404);
        assert_eq!(body["message"], "No API endpoint PATCH /projects");
        let (status, body) = call(Method::GET, "/public/api/no/such/thing").await;
        assert_eq!(status, 404);
        assert_eq!(body["errorType"], wire::ERROR_NOT_FOUND);
        let (status, body) = call(Method::GET, "/projects/").await;
        assert_eq!(status, 404);
        assert!(body["message"].as_str().unwrap().contains("not a DSS API path"));
    }

    /// The areas merged from the instance and flow planes answer through the router (a
    /// handler's own 404, never "No API endpoint") and count under their templates, the rest of
    /// a path included in a `{*path}`.
    #[tokio::test]
    async fn every_plane_routes_and_counts_its_templates() {
        let app = Arc::new(
            App::new(EmulatorConfig {
                admin_key: "k".into(),
                ..EmulatorConfig::default()
            })
            .unwrap(),
        );
        let cases = [
            (
                Method::GET,
                "/public/api/admin/code-envs/PYTHON/ml/logs/create.log",
                "GET /admin/code-envs/{envLang}/{envName}/logs/{logName}",
            ),
            (
                Method::GET,
                "/public/api/plugins/p/contents/python-lib/a.py",
                "GET /plugins/{pluginId}/contents/{*path}",
            ),
            (
                Method::GET,
                "/dip/publicapi/project-folders/locate-project/P/",
                "GET /project-folders/locate-project/{projectKey}",
            ),
            (
                Method::DELETE,
                "/public/api/projects/P/managedfolders/F/contents/a/b.csv",
                "DELETE /projects/{projectKey}/managedfolders/{folderId}/contents/{*path}",
            ),
            (
                Method::GET,
                "/public/api/projects/P/scenarios/S/2026-01-01-00-00-00-000/log",
                "GET /projects/{projectKey}/scenarios/{scenarioId}/{runId}/log",
            ),
            (
                Method::GET,
                "/public/api/projects/P/scenarios/testing-status",
                "GET /projects/{projectKey}/scenarios/testing-status",
            ),
            (
                Method::DELETE,
                "/public/api/projects/P/flow/zones/z/shared/DATASET/d",
                "DELETE /projects/{projectKey}/flow/zones/{zoneId}/shared/{objectType}/{objectId}",
            ),
            (
                Method::POST,
                "/public/api/projects/P/recipes/r/actions/updateOutputSchema",
                "POST /projects/{projectKey}/recipes/{recipeName}/actions/updateOutputSchema",
            ),
        ];
        for (method, path, template) in cases {
            let request = Request::builder()
                .method(method.clone())
                .uri(path)
                .header("Authorization", "Bearer k")
                .body(axum::body::Body::empty())
                .unwrap();
            let resp = build(app.clone()).oneshot(request).await.unwrap();
            let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
            let body = String::from_utf8_lossy(&bytes);
            assert!(!body.contains("No API endpoint"), "{method} {path}: {body}");
            assert_eq!(
                app.stats.snapshot().by_route.get(template),
                Some(&1),
                "{method} {path}"
            );
        }
    }

    #[tokio::test]
    async fn job_ids_keep_their_dots() {
        let (status, body) = call(
            Method::GET,
            "/public/api/projects/P/jobs/Build_x_2026-01-01T00-00-00.123/",
        )
        .await;
        // The project does not exist: the route matched and the handler answered.
        assert_eq!(status, 404);
        assert_eq!(body["message"], "Project 'P' does not exist");
    }
}
