//! API keys and what each may do.
//!
//! Authentication accepts every form DSS accepts (docs/emulator.md, "API keys"): HTTP Basic with the key as
//! user name (what `dataikuapi` sends) or as password, `Authorization: Bearer KEY`, and the
//! internal `X-DKU-APITicket` header. With the admin key, `X-DKU-ProxyUser` changes the login
//! recorded in `lastModifiedBy`.
//!
//! Restricted keys (`--keys FILE`, JSON or YAML, a list of [`ApiKeySpec`] or `{"keys": [...]}`)
//! hold privileges named as in the DSS reference: `READ_CONF`, `WRITE_CONF`, `ADMIN` (project
//! admin), `RUN_JOBS`, `MONITOR_JOBS`, `READ_DATA`, `WRITE_DATA`, `READ_METADATA`,
//! `WRITE_METADATA`, `READ_SCHEMA`, `WRITE_SCHEMA`, `RUN_CODE`, on the listed projects (`*` for
//! all). Implications: `ADMIN` grants every privilege on its projects and `WRITE_CONF` grants
//! `READ_CONF` and `RUN_JOBS` grants `MONITOR_JOBS` (a key that starts a job can follow it);
//! nothing else is implied, so a key gets 403 exactly where the reference names a
//! privilege it lacks. Instance administration (project creation, connections, users, groups,
//! global variables, logs, emulator stats) needs the admin key or a key with `admin: true`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use axum::http::HeaderMap;
use base64::Engine as _;
use rand::Rng as _;
use serde::{Deserialize, Serialize};

use super::http::ApiError;

/// A restricted API key.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeySpec {
    /// The secret itself.
    pub key: String,
    /// A name for the key; also the login recorded as author of its writes (`api:LABEL`).
    #[serde(default)]
    pub label: Option<String>,
    /// Instance administrator: every privilege everywhere.
    #[serde(default)]
    pub admin: bool,
    /// Project keys the privileges apply to; `*` means every project.
    #[serde(default)]
    pub projects: Vec<String>,
    /// Privilege names (see the module documentation).
    #[serde(default)]
    pub privileges: Vec<String>,
}

impl std::fmt::Debug for ApiKeySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeySpec")
            .field("key", &"(sensitive)")
            .field("label", &self.label)
            .field("admin", &self.admin)
            .field("projects", &self.projects)
            .field("privileges", &self.privileges)
            .finish()
    }
}

/// Privilege names a restricted key may hold.
pub(crate) const PRIVILEGES: [&str; 12] = [
    "READ_CONF",
    "WRITE_CONF",
    "ADMIN",
    "RUN_JOBS",
    "MONITOR_JOBS",
    "READ_DATA",
    "WRITE_DATA",
    "READ_METADATA",
    "WRITE_METADATA",
    "READ_SCHEMA",
    "WRITE_SCHEMA",
    "RUN_CODE",
];

#[derive(Deserialize)]
#[serde(untagged)]
enum KeysFile {
    List(Vec<ApiKeySpec>),
    Wrapped { keys: Vec<ApiKeySpec> },
}

/// Read a `--keys` file (JSON or YAML) and check every key in it.
pub fn load_keys_file(path: &Path) -> anyhow::Result<Vec<ApiKeySpec>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the keys file {}", path.display()))?;
    let parsed: KeysFile = match serde_json::from_str(&text) {
        Ok(parsed) => parsed,
        Err(json_err) => serde_saphyr::from_str(&text).map_err(|yaml_err| {
            anyhow::anyhow!(
                "{}: not a list of keys (as JSON: {json_err}; as YAML: {yaml_err})",
                path.display()
            )
        })?,
    };
    let keys = match parsed {
        KeysFile::List(keys) | KeysFile::Wrapped { keys } => keys,
    };
    for (i, spec) in keys.iter().enumerate() {
        validate_spec(spec).with_context(|| format!("{}: key #{}", path.display(), i + 1))?;
    }
    Ok(keys)
}

fn validate_spec(spec: &ApiKeySpec) -> anyhow::Result<()> {
    if spec.key.trim().is_empty() {
        anyhow::bail!("the key is empty");
    }
    for p in &spec.privileges {
        if !PRIVILEGES.contains(&p.as_str()) {
            anyhow::bail!("unknown privilege '{p}' (known: {})", PRIVILEGES.join(", "));
        }
    }
    Ok(())
}

/// A fresh random key, as DSS generates them (32 alphanumeric characters).
pub(crate) fn generate_key() -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// All keys the emulator knows.
pub(crate) struct KeyRing {
    admin_key: String,
    restricted: HashMap<String, Arc<ApiKeySpec>>,
}

impl KeyRing {
    pub(crate) fn new(admin_key: String, keys: &[ApiKeySpec]) -> anyhow::Result<Self> {
        if admin_key.trim().is_empty() {
            anyhow::bail!("the admin key is empty");
        }
        let mut restricted = HashMap::new();
        for spec in keys {
            validate_spec(spec)?;
            if spec.key == admin_key {
                anyhow::bail!("a restricted key repeats the admin key");
            }
            restricted.insert(spec.key.clone(), Arc::new(spec.clone()));
        }
        Ok(KeyRing {
            admin_key,
            restricted,
        })
    }

    /// Who is calling, from the request headers; 401 for a missing or unknown key.
    pub(crate) fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let key =
            presented_key(headers).ok_or_else(|| ApiError::unauthorized("No API key or ticket given"))?;
        if key == self.admin_key {
            let login = headers
                .get("x-dku-proxyuser")
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
                .unwrap_or("admin")
                .to_string();
            return Ok(Caller::Admin { login });
        }
        match self.restricted.get(&key) {
            Some(spec) if spec.admin => Ok(Caller::Admin {
                login: login_of(spec),
            }),
            Some(spec) => Ok(Caller::Restricted(spec.clone())),
            None => Err(ApiError::unauthorized("Unknown API Key")),
        }
    }
}

fn login_of(spec: &ApiKeySpec) -> String {
    format!("api:{}", spec.label.as_deref().unwrap_or("key"))
}

/// The key a request presents, in any of the forms DSS accepts.
fn presented_key(headers: &HeaderMap) -> Option<String> {
    if let Some(auth) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let auth = auth.trim();
        let (scheme, rest) = auth.split_once(' ').unwrap_or((auth, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .ok()?;
            let decoded = String::from_utf8(decoded).ok()?;
            let (user, pass) = decoded.split_once(':').unwrap_or((&decoded, ""));
            let key = if user.is_empty() { pass } else { user };
            return (!key.is_empty()).then(|| key.to_string());
        }
        if scheme.eq_ignore_ascii_case("bearer") {
            let key = rest.trim();
            return (!key.is_empty()).then(|| key.to_string());
        }
    }
    headers
        .get("x-dku-apiticket")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    Admin { login: String },
    Restricted(Arc<ApiKeySpec>),
}

impl Caller {
    /// The login recorded as author of writes.
    pub(crate) fn login(&self) -> String {
        match self {
            Caller::Admin { login } => login.clone(),
            Caller::Restricted(spec) => login_of(spec),
        }
    }

    pub(crate) fn is_admin(&self) -> bool {
        matches!(self, Caller::Admin { .. })
    }

    /// Instance administration: 403 for restricted keys.
    pub(crate) fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "Action forbidden: this call requires an API key with admin rights",
            ))
        }
    }

    /// Whether the caller holds `privilege` on `project`.
    pub(crate) fn can(&self, project: &str, privilege: &str) -> bool {
        match self {
            Caller::Admin { .. } => true,
            Caller::Restricted(spec) => {
                let on_project = spec.projects.iter().any(|p| p == "*" || p == project);
                on_project
                    && spec.privileges.iter().any(|held| {
                        held == privilege
                            || held == "ADMIN"
                            || (held == "WRITE_CONF" && privilege == "READ_CONF")
                            || (held == "RUN_JOBS" && privilege == "MONITOR_JOBS")
                    })
            }
        }
    }

    /// 403 unless the caller holds `privilege` on `project`. A key with no right at all on
    /// the project gets DSS's wording for a project it may not see, the same whether the
    /// project exists or not ("Failed to read project permissions", as a public DSS tool
    /// recorded it on DSS 14.6); a key that may see it but lacks the privilege is told which.
    pub(crate) fn require(&self, project: &str, privilege: &str) -> Result<(), ApiError> {
        if self.can(project, privilege) {
            return Ok(());
        }
        let sees_project = match self {
            Caller::Admin { .. } => true,
            Caller::Restricted(spec) => spec.projects.iter().any(|p| p == "*" || p == project),
        };
        Err(ApiError::forbidden(if sees_project {
            format!(
                "Action forbidden: the API key does not have the {privilege} privilege on project {project}"
            )
        } else {
            "Failed to read project permissions".to_string()
        }))
    }

    /// Whether the caller may run code (SQL) somewhere: RUN_CODE on `project` when the query
    /// names one, on any project otherwise.
    pub(crate) fn require_run_code(&self, project: Option<&str>) -> Result<(), ApiError> {
        match (self, project) {
            (Caller::Admin { .. }, _) => Ok(()),
            (_, Some(p)) => self.require(p, "RUN_CODE"),
            (Caller::Restricted(spec), None) => {
                if spec.privileges.iter().any(|p| p == "RUN_CODE" || p == "ADMIN") {
                    Ok(())
                } else {
                    Err(ApiError::forbidden(
                        "Action forbidden: the API key does not have the RUN_CODE privilege",
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ring() -> KeyRing {
        KeyRing::new(
            "adminkey".into(),
            &[ApiKeySpec {
                key: "ro".into(),
                label: Some("reader".into()),
                projects: vec!["P1".into()],
                privileges: vec!["READ_CONF".into()],
                ..Default::default()
            }],
        )
        .unwrap()
    }

    fn with_auth(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_str(value).unwrap());
        h
    }

    fn basic(user: &str, pass: &str) -> String {
        let raw = format!("{user}:{pass}");
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
    }

    #[test]
    fn every_auth_form_is_accepted() {
        let ring = ring();
        for h in [
            with_auth(&basic("adminkey", "")),
            with_auth(&basic("", "adminkey")),
            with_auth("Bearer adminkey"),
        ] {
            assert!(ring.authenticate(&h).unwrap().is_admin());
        }
        let mut h = HeaderMap::new();
        h.insert("x-dku-apiticket", HeaderValue::from_static("adminkey"));
        assert!(ring.authenticate(&h).unwrap().is_admin());
        assert!(ring.authenticate(&HeaderMap::new()).is_err());
        assert_eq!(
            ring.authenticate(&with_auth("Bearer nope")).unwrap_err().status,
            401
        );
    }

    #[test]
    fn restricted_privileges() {
        let caller = ring().authenticate(&with_auth("Bearer ro")).unwrap();
        assert!(caller.can("P1", "READ_CONF"));
        assert!(!caller.can("P1", "WRITE_CONF"));
        assert!(!caller.can("P2", "READ_CONF"));
        assert_eq!(caller.require_admin().unwrap_err().status, 403);
        let hidden = caller.require("P2", "READ_CONF").unwrap_err();
        assert_eq!(hidden.body.error_type, crate::wire::ERROR_UNAUTHORIZED);
        assert_eq!(hidden.body.message, "Failed to read project permissions");
        assert_eq!(caller.login(), "api:reader");
    }

    #[test]
    fn debug_hides_keys() {
        let spec = ApiKeySpec {
            key: "s3cr3t".into(),
            ..Default::default()
        };
        assert!(!format!("{spec:?}").contains("s3cr3t"));
    }

    #[test]
    fn keys_files_in_json_or_yaml() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = dir.path().join("keys.yaml");
        std::fs::write(
            &yaml,
            "keys:\n  - key: abc\n    label: ci\n    projects: [P1]\n    privileges: [READ_CONF, RUN_JOBS]\n",
        )
        .unwrap();
        let keys = load_keys_file(&yaml).unwrap();
        assert_eq!(keys[0].privileges, vec!["READ_CONF", "RUN_JOBS"]);
        let json = dir.path().join("keys.json");
        std::fs::write(&json, r#"[{"key": "k", "admin": true}]"#).unwrap();
        assert!(load_keys_file(&json).unwrap()[0].admin);
        std::fs::write(&json, r#"[{"key": "k", "privileges": ["FLY"]}]"#).unwrap();
        let err = format!("{:#}", load_keys_file(&json).unwrap_err());
        assert!(err.contains("key #1") && err.contains("FLY"), "{err}");
    }

    #[test]
    fn unknown_privileges_are_rejected() {
        let spec = ApiKeySpec {
            key: "k".into(),
            privileges: vec!["READ_EVERYTHING".into()],
            ..Default::default()
        };
        assert!(KeyRing::new("a".into(), &[spec]).is_err());
    }
}
