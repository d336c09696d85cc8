//! Wire types of the DSS public REST API, shared by the client (`crate::client`) and the
//! emulator (`crate::emulator`), so that both speak exactly the same JSON.
//!
//! DSS keeps its documents whole: a PUT replaces the stored document, and fields that a client
//! does not know about must survive a GET → modify → PUT round trip. Every document type here
//! therefore names the fields dssctl reads or writes and keeps everything else in a flattened
//! `extra` map that is serialised back unchanged.
//!
//! Field names follow DSS (camelCase); docs/emulator.md lists the behaviours and their sources.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Unknown attributes of a DSS document, kept verbatim.
pub(crate) type Extra = Map<String, Value>;

/// Version of the DSS API the emulator claims and the client expects (`DSS-API-Version`).
pub const DSS_API_VERSION: &str = "1";
/// DSS version the emulator reports (`DSS-Version`, `/instance-info`).
pub const DSS_VERSION: &str = "14.3.3";
/// The two path prefixes under which DSS serves its public API.
pub(crate) const API_PREFIXES: [&str; 2] = ["/public/api", "/dip/publicapi"];

/// `errorType` of DSS's "object does not exist" exception (projects, datasets, users, groups).
pub const ERROR_NOT_FOUND: &str = "com.dataiku.dip.server.controllers.NotFoundException";
/// `errorType` DSS uses for invalid arguments, including a missing connection.
pub const ERROR_ILLEGAL_ARGUMENT: &str = "java.lang.IllegalArgumentException";
/// `errorType` DSS gives a caller that lacks a right (a forbidden project, an admin call).
#[cfg(test)]
pub(crate) const ERROR_UNAUTHORIZED: &str = "com.dataiku.dip.exceptions.UnauthorizedException";
/// `errorType` for a missing or unknown API key (DSS answers "Unknown API Key").
pub const ERROR_NOT_AUTHENTICATED: &str = "com.dataiku.dip.exceptions.NotAuthenticatedException";
/// `errorType` for a key that lacks a privilege.
pub const ERROR_FORBIDDEN: &str = "com.dataiku.dip.exceptions.UnauthorizedException";
/// `errorType` for a create call on a name that is already taken.
pub const ERROR_ALREADY_EXISTS: &str = "com.dataiku.dip.exceptions.DKUSecurityException";

/// Whether a connection parameter (or any settings key) holds a secret that DSS stores
/// encrypted and never returns in clear: `password`, `secretKey`, `accessToken`, `apiKey`, ...
/// The emulator redacts these on GET, manifests must give them as references, and the plan
/// compares them by fingerprint only.
pub(crate) fn is_secret_param(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "secret",
        "token",
        "apikey",
        "privatekey",
        "accesskey",
        "credential",
    ]
    .iter()
    .any(|marker| lower.contains(marker))
        || lower == "key"
        || lower.ends_with("_key")
}

/// The JSON body DSS answers on any status >= 400.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    #[serde(default)]
    pub error_type: String,
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detailed_message: Option<String>,
    /// DSS spells it `detailedMessageHTML`.
    #[serde(
        default,
        rename = "detailedMessageHTML",
        alias = "detailedMessageHtml",
        skip_serializing_if = "Option::is_none"
    )]
    pub detailed_message_html: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_trace_str: Option<String>,
}

impl ErrorBody {
    /// An error body as DSS writes it: the detailed message repeats the message.
    pub(crate) fn new(error_type: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ErrorBody {
            error_type: error_type.to_string(),
            detailed_message: Some(message.clone()),
            detailed_message_html: Some(message.clone()),
            stack_trace_str: Some(String::new()),
            message,
        }
    }
}

/// The `{"msg": "..."}` body DSS answers on successful writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Msg {
    #[serde(default)]
    pub msg: String,
}

/// Who last modified an object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastModifiedBy {
    #[serde(default)]
    pub login: String,
}

/// `versionTag` / `creationTag`: server-managed, bumped on every save.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionTag {
    #[serde(default)]
    pub version_number: u64,
    #[serde(default)]
    pub last_modified_by: LastModifiedBy,
    #[serde(default)]
    pub last_modified_on: i64,
    #[serde(flatten)]
    pub extra: Extra,
}

/// An item of `GET /projects/` and the body of `GET /projects/{key}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSummary {
    pub project_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_desc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_login: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_tag: Option<VersionTag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_tag: Option<VersionTag>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Body of `POST /projects/`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateProjectRequest {
    pub project_key: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub settings: Option<Value>,
    #[serde(default)]
    pub permissions: Option<Vec<PermissionGrant>>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Project or dataset metadata (`GET/PUT /projects/{k}/metadata`,
/// `GET/PUT /projects/{k}/datasets/{n}/metadata`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_desc: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Custom metadata; DSS keeps user key/values under `custom.kv`.
    #[serde(default)]
    pub custom: Map<String, Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One grant of a project's permissions: to a group or to a user, with per-flag rights.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PermissionGrant {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The per-flag rights (`admin`, `readProjectContent`, ...) and the legacy `type`, kept as
    /// DSS sends them so that flags added by newer DSS versions survive.
    #[serde(flatten)]
    pub flags: Extra,
}

/// `GET/PUT /projects/{k}/permissions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectPermissions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default)]
    pub permissions: Vec<PermissionGrant>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `GET/PUT /projects/{k}/variables/`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProjectVariables {
    #[serde(default)]
    pub standard: Map<String, Value>,
    #[serde(default)]
    pub local: Map<String, Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One column of a dataset schema.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SchemaColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub column_type: String,
    /// `maxLength`, `comment`, `meaning`, `originalType`, ...
    #[serde(flatten)]
    pub extra: Extra,
}

/// `GET/PUT /projects/{k}/datasets/{n}/schema`, also embedded in the dataset definition.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetSchema {
    #[serde(default)]
    pub columns: Vec<SchemaColumn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_modified: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A dataset definition: `GET/PUT /projects/{k}/datasets/{n}`, items of the dataset list, and
/// the body of `POST /projects/{k}/datasets/`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dataset {
    #[serde(default)]
    pub project_key: String,
    pub name: String,
    #[serde(rename = "type")]
    pub dataset_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<bool>,
    #[serde(default)]
    pub params: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_type: Option<String>,
    #[serde(default)]
    pub format_params: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<DatasetSchema>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_tag: Option<VersionTag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_tag: Option<VersionTag>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A connection definition: values of `GET /admin/connections/` (keyed by name),
/// `GET/PUT /admin/connections/{name}`, and the body of `POST /admin/connections/`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    pub name: String,
    #[serde(rename = "type")]
    pub connection_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub params: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usable_by: Option<String>,
    #[serde(default)]
    pub allowed_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_write: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_managed_datasets: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_tag: Option<VersionTag>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A user: items of `GET /admin/users/`, `GET/PUT /admin/users/{login}`.
/// The password is write-only: DSS never returns it.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub login: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_allowed: Option<bool>,
    /// Only ever sent (create, password change); never deserialised from DSS answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("login", &self.login)
            .field("display_name", &self.display_name)
            .field("groups", &self.groups)
            .field("password", &self.password.as_ref().map(|_| "(sensitive)"))
            .finish_non_exhaustive()
    }
}

/// A group: items of `GET /admin/groups/`, `GET/PUT /admin/groups/{name}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_type: Option<String>,
    /// The `may*` ability flags and external group mappings, which grow with DSS versions.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One output of a job definition.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobOutput {
    /// `DATASET` when absent or null.
    #[serde(default, rename = "type")]
    pub output_type: Option<String>,
    pub id: String,
    #[serde(default)]
    pub project_key: Option<String>,
    #[serde(default)]
    pub partition: Option<Value>,
}

/// Body of `POST /projects/{k}/jobs/`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobDefinition {
    /// `RECURSIVE_BUILD`, `NON_RECURSIVE_FORCED_BUILD`, ...
    #[serde(default, rename = "type")]
    pub job_type: Option<String>,
    #[serde(default)]
    pub outputs: Vec<JobOutput>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Answer of `POST /projects/{k}/jobs/`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobStarted {
    pub id: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Job states; `DONE`, `FAILED` and `ABORTED` are terminal.
pub const JOB_TERMINAL_STATES: [&str; 3] = ["DONE", "FAILED", "ABORTED"];

/// `baseStatus` of a job state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobBaseStatus {
    #[serde(default)]
    pub def: Value,
    #[serde(default)]
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unexpected_failure: Option<ErrorBody>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `GET /projects/{k}/jobs/{id}/` and the items of `GET /projects/{k}/jobs/`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobState {
    #[serde(default)]
    pub base_status: JobBaseStatus,
    #[serde(default)]
    pub global_state: Value,
    /// The 2015 reference lists jobs with their definition at the top level too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub def: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Body of `POST /sql/queries/`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SqlQueryRequest {
    pub query: String,
    #[serde(default)]
    pub connection: Option<String>,
    #[serde(default)]
    pub database: Option<String>,
    #[serde(default)]
    pub dataset_full_name: Option<String>,
    #[serde(default)]
    pub project_key: Option<String>,
    #[serde(default)]
    pub pre_queries: Option<Vec<String>>,
    #[serde(default)]
    pub post_queries: Option<Vec<String>>,
    #[serde(rename = "type", default)]
    pub query_type: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One column of a SQL query result schema.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct SqlColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub column_type: String,
}

/// Answer of `POST /sql/queries/`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SqlQueryStarted {
    pub query_id: String,
    pub has_results: bool,
    #[serde(default)]
    pub schema: Vec<SqlColumn>,
}

/// A long-running task's state (`DELETE /projects/{k}`, `GET /futures/{id}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FutureState {
    #[serde(default)]
    pub job_id: Option<String>,
    #[serde(default)]
    pub has_result: bool,
    #[serde(default)]
    pub alive: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
}

/// `GET /instance-info`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceInfo {
    pub dss_version: String,
    #[serde(default)]
    pub node_id: String,
    #[serde(default)]
    pub node_name: String,
    #[serde(default)]
    pub node_type: String,
}

/// `GET /auth/info`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthInfo {
    #[serde(default)]
    pub auth_source: String,
    #[serde(default)]
    pub auth_identifier: String,
    #[serde(default)]
    pub groups: Vec<String>,
    /// DSS spells it `associatedDSSUser`.
    #[serde(
        default,
        rename = "associatedDSSUser",
        alias = "associatedDssUser",
        skip_serializing_if = "Option::is_none"
    )]
    pub associated_dss_user: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Request counts served by the emulator: `GET /__emulator/stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmulatorStats {
    pub total: u64,
    pub reads: u64,
    pub writes: u64,
    /// Count per method (`GET`, `PUT`, ...).
    pub by_method: std::collections::BTreeMap<String, u64>,
    /// Count per `"METHOD /route/{template}"`, with the API prefix left out.
    pub by_route: std::collections::BTreeMap<String, u64>,
    /// The most distinct `X-Dssctl-Lock-Holder` values seen on writes in flight at once: 1
    /// when the stack lock kept its holders' writes apart.
    #[serde(default)]
    pub max_overlapping_lock_holders: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let raw = serde_json::json!({
            "projectKey": "P", "name": "d", "type": "Filesystem",
            "params": {"connection": "c"}, "flowOptions": {"virtualizable": true}
        });
        let ds: Dataset = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(ds.extra["flowOptions"]["virtualizable"], true);
        let back = serde_json::to_value(&ds).unwrap();
        assert_eq!(back["flowOptions"], raw["flowOptions"]);
    }

    #[test]
    fn secret_params_are_recognised() {
        for name in [
            "password",
            "secretKey",
            "accessToken",
            "apiKey",
            "privateKey",
            "key",
            "sas_key",
        ] {
            assert!(is_secret_param(name), "{name}");
        }
        for name in ["host", "db", "user", "port", "path", "keyspace"] {
            assert!(!is_secret_param(name), "{name}");
        }
    }

    #[test]
    fn user_debug_hides_the_password() {
        let u = User {
            login: "a".into(),
            password: Some("hunter2".into()),
            ..Default::default()
        };
        assert!(!format!("{u:?}").contains("hunter2"));
    }
}
