//! The emulator's own logs, served as DSS serves its log files: `GET /admin/logs/` lists
//! `{"logs": [{"name", "totalSize", "lastModified"}]}` (the 2015 reference shape) and
//! `GET /admin/logs/{name}` answers the text as a JSON string (the Python client parses it as
//! JSON). One log, `backend.log`: one line per API request, the most recent 10 000 kept.

use super::router::{Api, Params, Routes};
use axum::routing;
use std::collections::VecDeque;
use std::sync::Mutex;

use serde_json::json;

use super::auth::Caller;
use super::http::{self, ApiError, ApiResult};
use super::store::now_ms;

const MAX_LINES: usize = 10_000;
/// The one log file the emulator keeps.
pub(crate) const BACKEND_LOG: &str = "backend.log";

#[derive(Default)]
pub(crate) struct LogBuffer {
    inner: Mutex<LogInner>,
}

#[derive(Default)]
struct LogInner {
    lines: VecDeque<String>,
    size: usize,
    last_modified: i64,
}

impl LogBuffer {
    pub(crate) fn push(&self, line: String) {
        let stamp = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let line = format!("[{stamp}] {line}");
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.size += line.len() + 1;
        inner.lines.push_back(line);
        while inner.lines.len() > MAX_LINES {
            if let Some(old) = inner.lines.pop_front() {
                inner.size -= old.len() + 1;
            }
        }
        inner.last_modified = now_ms();
    }

    fn text(&self) -> String {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::with_capacity(inner.size);
        for l in &inner.lines {
            out.push_str(l);
            out.push('\n');
        }
        out
    }
}

pub(crate) fn list(logs: &LogBuffer, caller: &Caller) -> ApiResult {
    caller.require_admin()?;
    let inner = logs.inner.lock().unwrap_or_else(|e| e.into_inner());
    Ok(http::json(&json!({"logs": [{
        "name": BACKEND_LOG,
        "totalSize": inner.size,
        "lastModified": inner.last_modified,
    }]})))
}

pub(crate) fn get(logs: &LogBuffer, caller: &Caller, name: &str) -> ApiResult {
    caller.require_admin()?;
    if name != BACKEND_LOG {
        return Err(ApiError::not_found(format!("Log file '{name}' does not exist")));
    }
    Ok(http::json(&logs.text()))
}

/// Served by the emulator: registered in the API table ([`super::router::AREAS`]).
#[linkme::distributed_slice(super::router::AREAS)]
#[allow(
    unsafe_code,
    reason = "linkme places the entry in a link section; nothing else is unsafe"
)]
static AREA: fn() -> Routes = routes;

/// The logs' routes.
pub(crate) fn routes() -> Routes {
    Routes::new()
        .route(
            "/admin/logs",
            routing::get(|a: Api| async move { list(&a.app.logs, &a.req.caller) }),
        )
        .route(
            "/admin/logs/{logName}",
            routing::get(|Params(name): Params<String>, a: Api| async move {
                get(&a.app.logs, &a.req.caller, &name)
            }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_most_recent_lines() {
        let b = LogBuffer::default();
        for i in 0..(MAX_LINES + 5) {
            b.push(format!("line {i}"));
        }
        let text = b.text();
        assert!(!text.contains("] line 4\n"));
        assert!(text.contains(&format!("line {}", MAX_LINES + 4)));
        assert_eq!(text.lines().count(), MAX_LINES);
    }
}
