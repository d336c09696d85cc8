//! Errors of the DSS client, typed from DSS error bodies.
//!
//! DSS answers every failure with `{"errorType", "message", "detailedMessage", ...}`, but its
//! HTTP status is not reliable: a missing connection is a 500 `IllegalArgumentException`, and
//! several "does not exist" errors come back as 500. The classification therefore looks at the
//! `errorType` and the message first and at the status second.
//!
//! Errors never carry request bodies, headers or the API key: only the method, the API path
//! (which holds object names, never secrets) and what the server said, with any known secret
//! scrubbed from it.

use std::time::Duration;

use crate::wire::ErrorBody;

/// What went wrong talking to DSS.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The object does not exist (`NotFoundException`, `Connection 'X' does not exist`, or a 404
    /// carrying a DSS error body).
    #[error("{method} {path}: not found ({status}): {message}")]
    NotFound {
        method: String,
        path: String,
        status: u16,
        error_type: String,
        message: String,
    },

    /// The API key is missing, unknown or expired (HTTP 401).
    #[error("{method} {path}: unauthorized (401): {message}")]
    Unauthorized {
        method: String,
        path: String,
        message: String,
    },

    /// The API key lacks a privilege for this call (HTTP 403).
    #[error("{method} {path}: forbidden (403): {message}")]
    Forbidden {
        method: String,
        path: String,
        message: String,
    },

    /// A create call on a name that is already taken.
    #[error("{method} {path}: already exists ({status}): {message}")]
    AlreadyExists {
        method: String,
        path: String,
        status: u16,
        message: String,
    },

    /// Any other answer with a status >= 400.
    #[error(
        "{method} {path}: DSS answered {status}{}: {message}",
        type_suffix(error_type)
    )]
    Api {
        method: String,
        path: String,
        status: u16,
        /// The Java exception class DSS named, empty when the body was not a DSS error body
        /// (for example an HTML page from a proxy).
        error_type: String,
        message: String,
        /// The server's `Retry-After`, when it sent one (429, 503).
        retry_after: Option<Duration>,
    },

    /// The request did not complete: connection refused or reset, timeout, TLS failure.
    #[error("{method} {path}: {message}")]
    Transport {
        method: String,
        path: String,
        message: String,
        /// The failure happened while connecting, so the request was certainly not sent.
        before_sending: bool,
    },

    /// A 2xx answer whose body is not the expected JSON document.
    #[error("{method} {path}: unexpected answer from DSS: {message}")]
    Decode {
        method: String,
        path: String,
        message: String,
    },

    /// An object name that cannot be put in a URL path (empty, `.` or `..`).
    #[error("invalid name {name:?} for {what}: names must be non-empty and not '.' or '..'")]
    InvalidName { what: &'static str, name: String },

    /// The client configuration is unusable (bad URL, unreadable CA certificate, ...).
    #[error("invalid DSS client configuration: {0}")]
    Config(String),

    /// A long-running task (a DSS future or a job) did not finish as expected.
    #[error("{0}")]
    Task(String),
}

fn type_suffix(error_type: &str) -> String {
    if error_type.is_empty() {
        String::new()
    } else {
        format!(" {error_type}")
    }
}

impl ClientError {
    /// Whether the object the call addressed does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::NotFound { .. })
    }

    /// Whether the same call may succeed if repeated: connection errors, 429, 502, 503, 504.
    /// Callers still decide whether repeating is safe (the transport never repeats a POST).
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Transport { .. } => true,
            ClientError::Api { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            _ => false,
        }
    }

    /// Whether a write may or may not have happened: the request may have reached DSS but no
    /// answer says what it did (connection reset or timeout after sending, a 5xx from a gateway
    /// or without a DSS error body). After such an error on a create, read whether the object
    /// exists before doing anything else. Always false for reads and for answers in which DSS
    /// itself refused the call.
    pub fn is_ambiguous(&self) -> bool {
        match self {
            ClientError::Transport {
                method,
                before_sending,
                ..
            } => is_write(method) && !before_sending,
            ClientError::Api {
                method,
                status,
                error_type,
                ..
            } => {
                is_write(method)
                    && match status {
                        502..=504 => true,
                        // A 500 with a DSS exception class is DSS refusing the call; a bare 500
                        // may come from anything between us and DSS.
                        500 => error_type.is_empty(),
                        _ => false,
                    }
            }
            _ => false,
        }
    }

    /// Whether the call certainly had no effect and may be sent again even if it is a create:
    /// the connection could not be opened, or the server refused it with 429 before doing
    /// anything.
    pub(crate) fn is_unprocessed(&self) -> bool {
        match self {
            ClientError::Transport { before_sending, .. } => *before_sending,
            ClientError::Api { status, .. } => *status == 429,
            _ => false,
        }
    }

    /// The HTTP status DSS answered, if it answered.
    #[cfg(test)]
    pub(crate) fn status(&self) -> Option<u16> {
        match self {
            ClientError::NotFound { status, .. }
            | ClientError::AlreadyExists { status, .. }
            | ClientError::Api { status, .. } => Some(*status),
            ClientError::Unauthorized { .. } => Some(401),
            ClientError::Forbidden { .. } => Some(403),
            _ => None,
        }
    }

    /// The delay the server asked for before the next attempt.
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Classify a failed answer from its status and body.
    pub(crate) fn from_response(
        method: &str,
        path: &str,
        status: u16,
        body: &[u8],
        retry_after: Option<Duration>,
    ) -> ClientError {
        let parsed: Option<ErrorBody> = serde_json::from_slice::<ErrorBody>(body)
            .ok()
            .filter(|b| !b.error_type.is_empty() || !b.message.is_empty());
        let is_dss_body = parsed.is_some();
        let (error_type, message) = match parsed {
            Some(b) => {
                // Prefer the detailed message, as the official clients do.
                let message = b.detailed_message.filter(|m| !m.is_empty()).unwrap_or(b.message);
                (b.error_type, message)
            }
            None => (String::new(), summarize_body(body)),
        };
        let method = method.to_string();
        let path = path.to_string();
        let lower = message.to_ascii_lowercase();
        let not_found = error_type.ends_with("NotFoundException")
            || is_missing_connection(&message)
            || (status == 404 && is_dss_body)
            || (error_type.ends_with("IllegalArgumentException") && lower.contains("does not exist"));
        if status == 401 {
            ClientError::Unauthorized {
                method,
                path,
                message,
            }
        } else if status == 403 {
            ClientError::Forbidden {
                method,
                path,
                message,
            }
        } else if not_found {
            ClientError::NotFound {
                method,
                path,
                status,
                error_type,
                message,
            }
        } else if status == 409 || ((status < 500 || is_dss_body) && lower.contains("already exists")) {
            ClientError::AlreadyExists {
                method,
                path,
                status,
                message,
            }
        } else {
            ClientError::Api {
                method,
                path,
                status,
                error_type,
                message,
                retry_after,
            }
        }
    }

    /// Replace every occurrence of a secret in the human-readable parts of the error.
    pub(crate) fn scrub(mut self, secrets: &[&str]) -> ClientError {
        let fields: Vec<&mut String> = match &mut self {
            ClientError::NotFound { message, .. }
            | ClientError::Unauthorized { message, .. }
            | ClientError::Forbidden { message, .. }
            | ClientError::AlreadyExists { message, .. }
            | ClientError::Api { message, .. }
            | ClientError::Transport { message, .. }
            | ClientError::Decode { message, .. } => vec![message],
            ClientError::InvalidName { name, .. } => vec![name],
            ClientError::Config(message) | ClientError::Task(message) => vec![message],
        };
        for field in fields {
            for secret in secrets.iter().filter(|s| !s.is_empty()) {
                if field.contains(secret) {
                    *field = field.replace(secret, "(sensitive)");
                }
            }
        }
        self
    }
}

/// `Connection 'X' does not exist`, the message DSS gives for a missing connection.
fn is_missing_connection(message: &str) -> bool {
    message
        .find("Connection '")
        .is_some_and(|start| message[start..].contains("' does not exist"))
}

fn is_write(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// A short, single-line excerpt of a non-DSS error body (an HTML page from a proxy, ...).
fn summarize_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        return "(empty body)".to_string();
    }
    let mut excerpt: String = line.chars().take(200).collect();
    if excerpt.len() < line.len() {
        excerpt.push('…');
    }
    excerpt
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{ERROR_ILLEGAL_ARGUMENT, ERROR_NOT_FOUND};

    fn body(error_type: &str, message: &str) -> Vec<u8> {
        serde_json::to_vec(&ErrorBody::new(error_type, message)).unwrap()
    }

    #[test]
    fn not_found_is_recognised_from_the_error_type_even_on_500() {
        let err = ClientError::from_response(
            "GET",
            "/projects/P/datasets/d",
            500,
            &body(ERROR_NOT_FOUND, "dataset does not exist: P.d"),
            None,
        );
        assert!(err.is_not_found(), "{err:?}");
        assert_eq!(err.status(), Some(500));
    }

    #[test]
    fn a_missing_connection_is_not_found() {
        let err = ClientError::from_response(
            "GET",
            "/admin/connections/pg",
            500,
            &body(ERROR_ILLEGAL_ARGUMENT, "Connection 'pg' does not exist"),
            None,
        );
        assert!(err.is_not_found());
        assert!(err.to_string().contains("Connection 'pg' does not exist"));
    }

    #[test]
    fn a_404_without_a_dss_body_is_not_a_missing_object() {
        // A wrong base URL behind a proxy must not look like "everything is missing".
        let err = ClientError::from_response("GET", "/projects/", 404, b"<html>Not Found</html>", None);
        assert!(!err.is_not_found());
        assert!(matches!(err, ClientError::Api { status: 404, .. }));
    }

    #[test]
    fn auth_errors_are_typed_by_status() {
        let e401 =
            ClientError::from_response("GET", "/projects/", 401, &body("x.Unauthorized", "no key"), None);
        assert!(matches!(e401, ClientError::Unauthorized { .. }));
        let e403 = ClientError::from_response("PUT", "/projects/P/metadata", 403, &body("x.U", "no"), None);
        assert!(matches!(e403, ClientError::Forbidden { .. }));
    }

    #[test]
    fn already_exists_is_recognised() {
        let err = ClientError::from_response(
            "POST",
            "/projects/",
            400,
            &body(
                "com.dataiku.dip.exceptions.DKUSecurityException",
                "Project P already exists",
            ),
            None,
        );
        assert!(matches!(err, ClientError::AlreadyExists { .. }));
        assert!(!err.is_ambiguous());
    }

    #[test]
    fn retryable_and_ambiguous() {
        let e503 = ClientError::from_response("POST", "/projects/", 503, b"", Some(Duration::from_secs(1)));
        assert!(e503.is_retryable());
        assert!(e503.is_ambiguous());
        assert_eq!(e503.retry_after(), Some(Duration::from_secs(1)));
        let get503 = ClientError::from_response("GET", "/projects/", 503, b"", None);
        assert!(get503.is_retryable());
        assert!(!get503.is_ambiguous(), "a read has nothing to be ambiguous about");
        let e429 = ClientError::from_response("POST", "/projects/", 429, b"", None);
        assert!(e429.is_retryable());
        assert!(
            !e429.is_ambiguous(),
            "a rate-limited call was refused before being processed"
        );
        let dss500 =
            ClientError::from_response("POST", "/admin/users/", 500, &body("java.lang.X", "bad"), None);
        assert!(!dss500.is_retryable());
        assert!(!dss500.is_ambiguous());
        let bare500 = ClientError::from_response("POST", "/admin/users/", 500, b"oops", None);
        assert!(bare500.is_ambiguous());
        let refused = ClientError::Transport {
            method: "POST".into(),
            path: "/projects/".into(),
            message: "connection refused".into(),
            before_sending: true,
        };
        assert!(refused.is_retryable());
        assert!(!refused.is_ambiguous());
        assert!(refused.is_unprocessed());
        assert!(e429.is_unprocessed());
        assert!(!e503.is_unprocessed());
        let reset = ClientError::Transport {
            method: "POST".into(),
            path: "/projects/".into(),
            message: "connection reset by peer".into(),
            before_sending: false,
        };
        assert!(reset.is_ambiguous());
        assert!(!reset.is_unprocessed());
    }

    #[test]
    fn scrub_removes_secrets_from_messages() {
        let err = ClientError::from_response(
            "POST",
            "/admin/users/",
            400,
            &body("java.lang.IllegalArgumentException", "bad password hunter2 for u"),
            None,
        )
        .scrub(&["hunter2", ""]);
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("(sensitive)"));
    }

    #[test]
    fn non_dss_bodies_are_summarised_on_one_line() {
        let html = format!("<html>\n<body>{}</body></html>", "x".repeat(500));
        let err = ClientError::from_response("GET", "/projects/", 502, html.as_bytes(), None);
        let ClientError::Api {
            message, error_type, ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert!(error_type.is_empty());
        assert!(!message.contains('\n'));
        assert!(message.chars().count() <= 201);
    }
}
