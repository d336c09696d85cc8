//! Request and response plumbing shared by every handler: DSS error bodies and status codes,
//! JSON / text answers, query-string parsing and JSON body parsing.
//!
//! Wire rules honoured here (as the official client sends requests): bodies are parsed as JSON whatever the
//! Content-Type (the Python client sends none); `null` counts as absent; booleans are accepted
//! in any case (`True`, `false`, ...); list parameters come repeated (`?tags=a&tags=b`) or
//! comma-separated (`?tags=a,b`).
//!
//! Status codes chosen for DSS exceptions: NotFoundException → 404; invalid names and bodies →
//! 400 IllegalArgumentException; a missing connection → 500 IllegalArgumentException
//! `Connection 'X' does not exist` (what DSS answers); creating a name that is taken → 409 with
//! [`wire::ERROR_ALREADY_EXISTS`], or 500 `java.lang.IllegalArgumentException` with the same
//! message when the emulator runs with `--conflict-status 500` (the router rewrites it; no
//! public source says which DSS answers, so both are offered).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::wire::{self, ErrorBody};

/// A DSS error answer.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    /// Boxed: errors travel through every `Result` of the handlers.
    pub body: Box<ErrorBody>,
    /// Seconds for `Retry-After` (rate limiting).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, error_type: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: Box::new(ErrorBody::new(error_type, message)),
            retry_after: None,
        }
    }
    /// A missing project, dataset, user, group, job, ...
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, wire::ERROR_NOT_FOUND, message)
    }
    /// An invalid name, parameter or body.
    pub(crate) fn illegal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, wire::ERROR_ILLEGAL_ARGUMENT, message)
    }
    /// A missing connection: DSS answers this as an IllegalArgumentException with status 500.
    pub(crate) fn no_connection(name: &str) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            wire::ERROR_ILLEGAL_ARGUMENT,
            format!("Connection '{name}' does not exist"),
        )
    }
    pub(crate) fn already_exists(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, wire::ERROR_ALREADY_EXISTS, message)
    }
    /// A missing or unknown API key: DSS's NotAuthenticatedException.
    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, wire::ERROR_NOT_AUTHENTICATED, message)
    }
    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, wire::ERROR_FORBIDDEN, message)
    }
    /// A failure of the emulator itself (disk full, ...).
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "java.io.IOException", message)
    }
}

/// Marks the answer to a create whose name is taken, so that the router can answer it the way
/// the emulator is configured to (`--conflict-status`).
#[derive(Debug, Clone)]
pub(crate) struct AlreadyExists(pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = json_status(self.status, &*self.body);
        if self.body.error_type == wire::ERROR_ALREADY_EXISTS {
            resp.extensions_mut()
                .insert(AlreadyExists(self.body.message.clone()));
        }
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// What every handler returns.
pub(crate) type ApiResult = Result<Response, ApiError>;

/// A JSON answer with status 200.
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> Response {
    json_status(StatusCode::OK, value)
}

fn json_status<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => json_bytes(status, bytes),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot serialise the answer: {err}"),
        )
            .into_response(),
    }
}

/// Pre-serialised JSON.
pub(crate) fn json_bytes(status: StatusCode, bytes: impl Into<Bytes>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], bytes.into()).into_response()
}

/// The `{"msg": "..."}` body DSS answers on writes: the Python client parses some write answers
/// as JSON, so every successful write gets one.
pub(crate) fn msg(text: impl Into<String>) -> Response {
    json(&wire::Msg { msg: text.into() })
}

/// A plain-text answer (job logs, data streams).
pub(crate) fn text(content_type: &'static str, body: impl Into<Bytes>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type)],
        body.into(),
    )
        .into_response()
}

/// An empty 200 (the `finish-streaming` calls).
pub(crate) fn empty() -> Response {
    StatusCode::OK.into_response()
}

/// Parsed query string.
#[derive(Debug, Default, Clone)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Query { pairs }
    }

    /// The first value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean parameter in any case (`True`, `true`, `TRUE`, `1`, ...).
    pub(crate) fn bool(&self, name: &str, default: bool) -> Result<bool, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(raw) => parse_bool(raw).ok_or_else(|| {
                ApiError::illegal(format!("query parameter '{name}' must be a boolean, got '{raw}'"))
            }),
        }
    }

    /// A list parameter given repeated, comma-separated, or both; empty items dropped.
    pub(crate) fn list(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// A non-negative integer parameter.
    pub(crate) fn u64(&self, name: &str) -> Result<Option<u64>, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(raw) => raw.trim().parse().map(Some).map_err(|_| {
                ApiError::illegal(format!(
                    "query parameter '{name}' must be a non-negative integer, got '{raw}'"
                ))
            }),
        }
    }
}

/// Booleans as every DSS client writes them.
pub(crate) fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// The body as JSON, whatever the Content-Type; an empty body is `null`.
pub(crate) fn body_value(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body)
        .map_err(|err| ApiError::illegal(format!("the request body is not valid JSON: {err}")))
}

/// The body as a JSON object (an absent body is an empty object).
pub(crate) fn body_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    match body_value(body)? {
        Value::Null => Ok(serde_json::Map::new()),
        Value::Object(map) => Ok(map),
        other => Err(ApiError::illegal(format!(
            "the request body must be a JSON object, got {}",
            kind_of(&other)
        ))),
    }
}

/// The string field `field` of a create body, required: `what` names the object in the error.
pub(crate) fn required_str(
    doc: &serde_json::Map<String, Value>,
    what: &str,
    field: &str,
) -> Result<String, ApiError> {
    doc.get(field)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ApiError::illegal(format!("{what}: '{field}' is required (a string)")))
}

/// The body as a typed document, `null` fields counting as absent.
pub(crate) fn body_typed<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    let value = Value::Object(body_object(body)?);
    serde_json::from_value(value).map_err(|err| ApiError::illegal(format!("invalid {what}: {err}")))
}

/// Check a document against its wire type (`crate::wire`), so that the emulator refuses what
/// dssctl's client could not read back; the document itself is kept whole (unknown fields
/// included), only the typed fields are checked.
pub(crate) fn check_wire<T: DeserializeOwned>(
    doc: &serde_json::Map<String, Value>,
    what: &str,
) -> Result<T, ApiError> {
    serde_json::from_value(Value::Object(doc.clone()))
        .map_err(|err| ApiError::illegal(format!("invalid {what}: {err}")))
}

/// A human name for a JSON value's type, for error messages.
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_in_any_case() {
        let q = Query::parse(Some("a=True&b=FALSE&c=true&d=maybe"));
        assert!(q.bool("a", false).unwrap());
        assert!(!q.bool("b", true).unwrap());
        assert!(q.bool("c", false).unwrap());
        assert!(q.bool("missing", true).unwrap());
        let err = q.bool("d", false).unwrap_err();
        assert!(err.body.message.contains("'d'"));
    }

    #[test]
    fn lists_repeated_or_comma_separated() {
        let q = Query::parse(Some("tags=a&tags=b,c&tags=&other=x"));
        assert_eq!(q.list("tags"), vec!["a", "b", "c"]);
        assert!(q.list("none").is_empty());
    }

    #[test]
    fn bodies_without_content_type_or_empty() {
        assert_eq!(body_value(b"").unwrap(), Value::Null);
        assert_eq!(body_object(b"  ").unwrap().len(), 0);
        assert_eq!(body_object(br#"{"a":1}"#).unwrap()["a"], 1);
        assert!(body_object(b"[1]").is_err());
        assert!(body_value(b"{").is_err());
    }
}
