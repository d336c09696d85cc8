//! The typed manifest kinds: what a user writes, as Rust types with serde and JSON Schema.
//!
//! Every kind is a Kubernetes-style document `{apiVersion, kind, metadata, spec}`. A field left
//! out (`None`, or absent from a map) is not managed by dssctl; see `shared/spec/product.md`
//! section 2 for the field semantics that `crate::plan` implements.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The only `apiVersion` this version of dssctl reads.
pub const API_VERSION: &str = "dssctl/v1";

/// A free-form JSON map managed key by key (`params`, `formatParams`, `custom`, variables).
/// A key set to `null` is removed from the live object.
pub type KeyedMap = BTreeMap<String, Value>;

/// `metadata` of every manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectMeta {
    /// The DSS identity: project key, dataset name, connection name, login, group name,
    /// `global` for Variables, the build's name for Build.
    pub name: String,
    /// The project a Dataset or Build belongs to (its project key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

/// A reference to a secret, resolved only at the moment it is sent to DSS.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum SecretRef {
    /// `{fromEnv: NAME}`: the value of an environment variable.
    FromEnv {
        #[serde(rename = "fromEnv")]
        from_env: String,
    },
    /// `{fromFile: PATH}`: the content of a file (trailing newline removed), relative to the
    /// manifest's directory.
    FromFile {
        #[serde(rename = "fromFile")]
        from_file: String,
    },
}

impl std::fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretRef::FromEnv { from_env } => write!(f, "fromEnv({from_env})"),
            SecretRef::FromFile { from_file } => write!(f, "fromFile({from_file})"),
        }
    }
}

/// A project grant in either form: the seed's single `type`, or the per-flag form of newer DSS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PermissionSpec {
    /// The group granted (exactly one of `group` and `user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The user granted (exactly one of `group` and `user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Seed form: `ADMIN`, `ANALYST_READWRITE`, `ANALYST_READONLY`, `READER`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub permission_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_permissions: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_project_content: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_project_content: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_datasets_data: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_dashboards: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_dashboards: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderate_dashboards: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_scenarios: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manage_dashboard_authorizations: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manage_exposed_elements: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manage_additional_dashboard_users: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execute_app: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_to_workspaces: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_to_data_collections: Option<bool>,
}

/// Project variables: `standard` and `local`, each managed key by key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ProjectVariablesSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standard: Option<KeyedMap>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<KeyedMap>,
}

/// `kind: Project`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProjectSpec {
    /// Display name (`metadata.label`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Markdown description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_desc: Option<String>,
    /// Compared as a set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Custom metadata, managed key by key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<KeyedMap>,
    /// The project owner's login (`permissions.owner`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Authoritative when given: grants not listed are removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<PermissionSpec>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<ProjectVariablesSpec>,
    /// Never deleted by dssctl, even after removal from the manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect: Option<bool>,
}

/// One column of a dataset schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ColumnSpec {
    pub name: String,
    /// `string`, `int`, `bigint`, `double`, `boolean`, `date`, ...
    #[serde(rename = "type")]
    pub column_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meaning: Option<String>,
}

/// A dataset schema; columns are ordered and authoritative when given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SchemaSpec {
    pub columns: Vec<ColumnSpec>,
}

/// `kind: Dataset`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DatasetSpec {
    /// DSS dataset type (`Filesystem`, `PostgreSQL`, ...). Identity: cannot change in place.
    #[serde(rename = "type")]
    pub dataset_type: String,
    /// Type-specific parameters, managed key by key (`connection`, `path`, `table`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<KeyedMap>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_params: Option<KeyedMap>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<SchemaSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_desc: Option<String>,
    /// Compared as a set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<KeyedMap>,
    /// Default false: deleting the dataset keeps its data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_data_on_delete: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect: Option<bool>,
}

/// `kind: Connection`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConnectionSpec {
    /// DSS connection type (`PostgreSQL`, `Filesystem`, ...). Identity: cannot change in place.
    #[serde(rename = "type")]
    pub connection_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_write: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_managed_datasets: Option<bool>,
    /// `ALL` or `ALLOWED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usable_by: Option<String>,
    /// Compared as a set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_groups: Option<Vec<String>>,
    /// Connection parameters, managed key by key. Secret parameters (password, token, key,
    /// secret, ...) must be `{fromEnv: NAME}` or `{fromFile: PATH}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<KeyedMap>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect: Option<bool>,
}

/// `kind: User`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UserSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Compared as a set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// `LOCAL`, `LDAP`, ... (create-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_allowed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Password reference; sent at creation and when its fingerprint changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect: Option<bool>,
}

/// `kind: Group`. Ability flags (`mayCreateProjects`, `mayWriteSafeCode`, ...) are written
/// directly in `spec`, as DSS names them, and managed one by one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct GroupSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<bool>,
    /// `LOCAL`, `LDAP`, ... (create-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect: Option<bool>,
    /// The `may*` ability flags.
    #[serde(flatten)]
    pub abilities: BTreeMap<String, bool>,
}

/// `kind: Variables`: the instance's global variables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct VariablesSpec {
    /// Managed key by key; `null` removes a variable.
    #[serde(default)]
    pub values: KeyedMap,
    /// true: remove global variables not listed here (dssctl's own ledger variables excepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<bool>,
}

/// One output of a Build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BuildOutputSpec {
    /// The dataset name.
    pub id: String,
    /// `DATASET` (default), `MANAGED_FOLDER`, `SAVED_MODEL`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub output_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
}

/// `kind: Build`: a DSS job dssctl starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BuildSpec {
    pub outputs: Vec<BuildOutputSpec>,
    /// `RECURSIVE_BUILD` (default), `NON_RECURSIVE_FORCED_BUILD`, `RECURSIVE_FORCED_BUILD`,
    /// `RECURSIVE_MISSING_ONLY_BUILD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// `onChange` (default), `always`, `manual`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// A duration such as `30m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// Where a manifest document was declared, for error messages.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub struct Origin {
    pub file: std::path::PathBuf,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// A loaded, typed resource of any kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Resource {
    Project { meta: ObjectMeta, spec: ProjectSpec },
    Dataset { meta: ObjectMeta, spec: DatasetSpec },
    Connection { meta: ObjectMeta, spec: ConnectionSpec },
    User { meta: ObjectMeta, spec: UserSpec },
    Group { meta: ObjectMeta, spec: GroupSpec },
    Variables { meta: ObjectMeta, spec: VariablesSpec },
    Build { meta: ObjectMeta, spec: BuildSpec },
}

/// A resource with the place it was declared.
#[derive(Debug, Clone, PartialEq)]
pub struct Declared {
    pub resource: Resource,
    pub origin: Origin,
}
