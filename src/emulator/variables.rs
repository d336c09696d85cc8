//! Global (instance) variables (admin): `GET /admin/variables/` answers the flat object;
//! `PUT` replaces the whole object (DSS has no partial update).

use axum::routing;
use serde_json::Value;

use super::http::{self, ApiResult};
use super::router::{Api, App, Req, Routes};
use super::store::paths;

pub(crate) fn get(app: &App, req: &Req) -> ApiResult {
    req.caller.require_admin()?;
    Ok(http::json(&app.read().variables))
}

pub(crate) async fn put(app: &App, req: &Req) -> ApiResult {
    req.caller.require_admin()?;
    let vars = http::body_object(&req.body)?;
    let pending = {
        let mut st = app.write();
        let p = app.persist.put(paths::variables(), &Value::Object(vars.clone()));
        st.variables = vars;
        p
    };
    app.persist.run([pending]).await?;
    Ok(http::msg("Saved global variables"))
}

/// Served by the emulator: registered in the API table ([`super::router::AREAS`]).
#[linkme::distributed_slice(super::router::AREAS)]
#[allow(
    unsafe_code,
    reason = "linkme places the entry in a link section; nothing else is unsafe"
)]
static AREA: fn() -> Routes = routes;

/// The global variables' routes.
pub(crate) fn routes() -> Routes {
    Routes::new().route(
        "/admin/variables",
        routing::get(|a: Api| async move { get(&a.app, &a.req) })
            .put(|a: Api| async move { put(&a.app, &a.req).await }),
    )
}
