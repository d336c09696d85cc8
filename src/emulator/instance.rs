//! Instance-level endpoints: `/auth/info` (who the key is), `/instance-info` (version and node),
//! and `/futures/` (long-running tasks; the emulator finishes them at once, so a future is
//! always answered with `hasResult: true`; `DELETE /futures/{id}` aborts, i.e. forgets, one).

use axum::routing;
use serde_json::{Value, json};

use super::auth::Caller;
use super::http::{self, ApiError, ApiResult};
use super::router::{Api, App, Params, Req, Routes};
use crate::wire::{self, AuthInfo, InstanceInfo};

/// `/auth/info`: the admin key acts as its user (`admin` unless `X-DKU-ProxyUser` says
/// otherwise) with that user's groups as stored, so it agrees with `/admin/users/admin`; an
/// admin key whose user does not exist (an emulator started `--empty`) still says
/// `administrators`, the group that makes it an administrator.
pub(crate) fn auth_info(app: &App, req: &Req) -> ApiResult {
    let login = req.caller.login();
    let (source, groups) = match &req.caller {
        Caller::Admin { .. } => {
            let st = app.read();
            let groups = match st.users.get(&login).and_then(|u| u.get("groups")) {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
                _ => vec!["administrators".to_string()],
            };
            ("PERSONAL_API_KEY", groups)
        }
        Caller::Restricted(_) => ("GLOBAL_API_KEY", Vec::new()),
    };
    let mut extra = wire::Extra::new();
    extra.insert("via".into(), json!([]));
    extra.insert(
        "userProfile".into(),
        json!(if req.caller.is_admin() {
            "DESIGNER"
        } else {
            "READER"
        }),
    );
    Ok(http::json(&AuthInfo {
        auth_source: source.to_string(),
        auth_identifier: login.clone(),
        groups,
        associated_dss_user: Some(login),
        extra,
    }))
}

pub(crate) fn instance_info() -> ApiResult {
    Ok(http::json(&InstanceInfo {
        dss_version: wire::DSS_VERSION.to_string(),
        node_id: "dssctl-emulator".to_string(),
        node_name: "dssctl emulator".to_string(),
        // Upper case, as the Python client documents `node_type` ("DESIGN, AUTOMATION or DEPLOYER").
        node_type: "DESIGN".to_string(),
    }))
}

pub(crate) fn list_futures(app: &App, req: &Req) -> ApiResult {
    req.caller.require_admin()?;
    let st = app.read();
    let items: Vec<&Value> = st.futures.values().collect();
    Ok(http::json(&items))
}

/// `DELETE /futures/{id}`: abort. The emulator's futures are finished when answered, so
/// aborting one only forgets it (as DSS forgets a future once aborted).
pub(crate) fn abort_future(app: &App, _req: &Req, id: &str) -> ApiResult {
    app.write()
        .futures
        .remove(id)
        .ok_or_else(|| ApiError::not_found(format!("Future '{id}' does not exist")))?;
    Ok(http::msg(format!("Aborted future {id}")))
}

pub(crate) fn get_future(app: &App, _req: &Req, id: &str) -> ApiResult {
    let st = app.read();
    let future = st
        .futures
        .get(id)
        .ok_or_else(|| ApiError::not_found(format!("Future '{id}' does not exist")))?;
    Ok(http::json(future))
}

/// Served by the emulator: registered in the API table ([`super::router::AREAS`]).
#[linkme::distributed_slice(super::router::AREAS)]
#[allow(
    unsafe_code,
    reason = "linkme places the entry in a link section; nothing else is unsafe"
)]
static AREA: fn() -> Routes = routes;

/// The instance area's routes.
pub(crate) fn routes() -> Routes {
    Routes::new()
        .route(
            "/auth/info",
            routing::get(|a: Api| async move { auth_info(&a.app, &a.req) }),
        )
        .route("/instance-info", routing::get(|_: Api| async { instance_info() }))
        .route(
            "/futures",
            routing::get(|a: Api| async move { list_futures(&a.app, &a.req) }),
        )
        .route(
            "/futures/{futureId}",
            routing::get(|Params(id): Params<String>, a: Api| async move { get_future(&a.app, &a.req, &id) })
                .delete(
                    |Params(id): Params<String>, a: Api| async move { abort_future(&a.app, &a.req, &id) },
                ),
        )
}
