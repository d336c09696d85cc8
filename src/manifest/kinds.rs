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
#[serde(untagged, deny_unknown_fields)]
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

impl SecretRef {
    /// The reference written as a JSON value in a free-form map (a connection's `params`):
    /// `{fromEnv: NAME}` or `{fromFile: PATH}` and nothing else.
    pub fn from_value(value: &Value) -> Option<SecretRef> {
        let map = value.as_object()?;
        if map.len() != 1 {
            return None;
        }
        match map.iter().next()? {
            (k, Value::String(v)) if k == "fromEnv" => Some(SecretRef::FromEnv { from_env: v.clone() }),
            (k, Value::String(v)) if k == "fromFile" => Some(SecretRef::FromFile { from_file: v.clone() }),
            _ => None,
        }
    }
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
    #[schemars(extend("enum" = ["ADMIN", "ANALYST_READWRITE", "ANALYST_READONLY", "READER", null]))]
    pub permission_type: Option<String>,
    /// Full project administration (per-flag form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<bool>,
    /// May change the project's permissions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_permissions: Option<bool>,
    /// May read the project's content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_project_content: Option<bool>,
    /// May change the project's content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_project_content: Option<bool>,
    /// May export datasets' data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_datasets_data: Option<bool>,
    /// May read dashboards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_dashboards: Option<bool>,
    /// May write dashboards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_dashboards: Option<bool>,
    /// May moderate dashboards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderate_dashboards: Option<bool>,
    /// May run scenarios.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_scenarios: Option<bool>,
    /// May manage dashboard authorizations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manage_dashboard_authorizations: Option<bool>,
    /// May manage exposed elements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manage_exposed_elements: Option<bool>,
    /// May manage additional dashboard users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manage_additional_dashboard_users: Option<bool>,
    /// May execute the project as an application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execute_app: Option<bool>,
    /// May share objects to workspaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_to_workspaces: Option<bool>,
    /// May publish to data collections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_to_data_collections: Option<bool>,
}

/// Project variables: `standard` and `local`, each managed key by key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ProjectVariablesSpec {
    /// Standard project variables, managed key by key (`null` removes one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standard: Option<KeyedMap>,
    /// Local project variables (not exported with the project), managed key by key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<KeyedMap>,
}

/// `kind: Project` spec: project metadata, owner, permissions and variables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProjectSpec {
    /// Display name (`metadata.label`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Markdown description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// One-line summary.
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
    /// The column name, unique in the schema.
    pub name: String,
    /// `string`, `int`, `bigint`, `double`, `boolean`, `date`, ...
    #[serde(rename = "type")]
    #[schemars(extend("enum" = ["string", "int", "bigint", "smallint", "tinyint", "float", "double", "boolean", "date", "dateonly", "datetimenotz", "array", "map", "object", "geopoint", "geometry"]))]
    pub column_type: String,
    /// Maximum length of a string column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_length: Option<i64>,
    /// A free comment on the column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The DSS meaning of the column (`Integer`, `Email`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meaning: Option<String>,
}

/// A dataset schema; columns are ordered and authoritative when given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SchemaSpec {
    /// The columns, in order.
    pub columns: Vec<ColumnSpec>,
}

/// `kind: Dataset` spec: the dataset's settings, format, schema and metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DatasetSpec {
    /// DSS dataset type (`Filesystem`, `PostgreSQL`, ...). Identity: cannot change in place.
    #[serde(rename = "type")]
    pub dataset_type: String,
    /// Type-specific parameters, managed key by key (`connection`, `path`, `table`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<KeyedMap>,
    /// File format (`csv`, `parquet`, `json`, ...) for file-based datasets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_type: Option<String>,
    /// Format parameters, managed key by key (`separator`, `style`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_params: Option<KeyedMap>,
    /// Whether DSS manages the dataset's storage (a managed dataset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<bool>,
    /// The schema; when given, the columns are authoritative and ordered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<SchemaSpec>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Markdown description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// One-line summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_desc: Option<String>,
    /// Compared as a set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Custom metadata, managed key by key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<KeyedMap>,
    /// Default false: deleting the dataset keeps its data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_data_on_delete: Option<bool>,
    /// Never deleted by dssctl, even after removal from the manifests, until an apply sets it to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect: Option<bool>,
}

/// `kind: Connection` spec. Secret parameters are references, never literals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConnectionSpec {
    /// DSS connection type (`PostgreSQL`, `Filesystem`, ...). Identity: cannot change in place.
    #[serde(rename = "type")]
    pub connection_type: String,
    /// Markdown description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether datasets may write to this connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_write: Option<bool>,
    /// Whether managed datasets may be created on this connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_managed_datasets: Option<bool>,
    /// `ALL` or `ALLOWED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["ALL", "ALLOWED", null]))]
    pub usable_by: Option<String>,
    /// Compared as a set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_groups: Option<Vec<String>>,
    /// Connection parameters, managed key by key. Secret parameters (password, token, key,
    /// secret, ...) must be `{fromEnv: NAME}` or `{fromFile: PATH}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<KeyedMap>,
    /// Never deleted by dssctl, even after removal from the manifests, until an apply sets it to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect: Option<bool>,
}

/// `kind: User` spec (the login is `metadata.name`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UserSpec {
    /// The user's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Compared as a set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// `LOCAL`, `LDAP`, ... (create-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_type: Option<String>,
    /// Whether the user may write code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_allowed: Option<bool>,
    /// The user's email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The licence profile (`DATA_SCIENTIST`, `DATA_ANALYST`, `READER`, `DESIGNER`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_profile: Option<String>,
    /// Whether the user may log in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Password reference; sent at creation and when its fingerprint changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretRef>,
    /// Never deleted by dssctl, even after removal from the manifests, until an apply sets it to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect: Option<bool>,
}

/// `kind: Group`. Ability flags (`mayCreateProjects`, `mayWriteSafeCode`, ...) are written
/// directly in `spec`, as DSS names them, and managed one by one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct GroupSpec {
    /// Markdown description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether the group's members are DSS administrators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<bool>,
    /// `LOCAL`, `LDAP`, ... (create-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_type: Option<String>,
    /// Never deleted by dssctl, even after removal from the manifests, until an apply sets it to false.
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
    #[schemars(extend("enum" = ["DATASET", "MANAGED_FOLDER", "SAVED_MODEL", null]))]
    pub output_type: Option<String>,
    /// The partition to build (partitioned datasets only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
}

/// `kind: Build`: a DSS job dssctl starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BuildSpec {
    /// What the job builds (at least one output).
    pub outputs: Vec<BuildOutputSpec>,
    /// `RECURSIVE_BUILD` (default), `NON_RECURSIVE_FORCED_BUILD`, `RECURSIVE_FORCED_BUILD`,
    /// `RECURSIVE_MISSING_ONLY_BUILD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["RECURSIVE_BUILD", "NON_RECURSIVE_FORCED_BUILD", "RECURSIVE_FORCED_BUILD", "RECURSIVE_MISSING_ONLY_BUILD", null]))]
    pub mode: Option<String>,
    /// `onChange` (default), `always`, `manual`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["onChange", "always", "manual", null]))]
    pub trigger: Option<String>,
    /// A duration such as `30m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// Where a manifest document (or one of its fields) was declared, for error messages.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub struct Origin {
    /// The manifest file, as given on the command line (or found under a given directory).
    pub file: std::path::PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl Origin {
    /// The directory `{fromFile: PATH}` references in this manifest are relative to.
    pub fn base_dir(&self) -> &std::path::Path {
        match self.file.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => std::path::Path::new("."),
        }
    }
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

/// The kinds, as written in `kind:`.
pub const KINDS: [&str; 7] = [
    "Project",
    "Dataset",
    "Connection",
    "User",
    "Group",
    "Variables",
    "Build",
];

impl Resource {
    /// The `kind:` of the resource.
    pub fn kind(&self) -> &'static str {
        match self {
            Resource::Project { .. } => "Project",
            Resource::Dataset { .. } => "Dataset",
            Resource::Connection { .. } => "Connection",
            Resource::User { .. } => "User",
            Resource::Group { .. } => "Group",
            Resource::Variables { .. } => "Variables",
            Resource::Build { .. } => "Build",
        }
    }

    /// The resource's `metadata`.
    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Resource::Project { meta, .. }
            | Resource::Dataset { meta, .. }
            | Resource::Connection { meta, .. }
            | Resource::User { meta, .. }
            | Resource::Group { meta, .. }
            | Resource::Variables { meta, .. }
            | Resource::Build { meta, .. } => meta,
        }
    }

    /// How messages name the resource: `project CHURN`, `dataset CHURN.customers`, `user alice`.
    pub fn display_name(&self) -> String {
        display_name(self.kind(), &self.meta().name, self.meta().project.as_deref())
    }
}

/// How messages name a resource of `kind` (`Dataset`) called `name` in `project`.
pub fn display_name(kind: &str, name: &str, project: Option<&str>) -> String {
    let kind = kind.to_ascii_lowercase();
    match project {
        Some(project) => format!("{kind} {project}.{name}"),
        None => format!("{kind} {name}"),
    }
}

/// What a manifest field refers to by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReferenceKind {
    /// A project key (a Dataset's or Build's `metadata.project`).
    Project,
    /// A connection name (a Dataset's `params.connection`).
    Connection,
    /// A group name (a permission's `group`, a user's `groups`, a connection's `allowedGroups`).
    Group,
    /// A login (a permission's `user`, a project's `owner`).
    User,
    /// A dataset of the same project (a Build's `outputs[].id` of type `DATASET`).
    Dataset,
}

impl ReferenceKind {
    /// Lowercase name for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ReferenceKind::Project => "project",
            ReferenceKind::Connection => "connection",
            ReferenceKind::Group => "group",
            ReferenceKind::User => "user",
            ReferenceKind::Dataset => "dataset",
        }
    }
}

/// A name a resource refers to, and where that name is written, so that the plan can report
/// "connection X does not exist" at the manifest line when it resolves against the live instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    pub kind: ReferenceKind,
    /// The referenced name; for a Dataset reference, the dataset name (its project is the
    /// referring resource's project, in `project`).
    pub name: String,
    /// The project of a Dataset reference.
    pub project: Option<String>,
    /// Where the name is written.
    pub origin: Origin,
}

/// A resource with the place it was declared.
#[derive(Debug, Clone, PartialEq)]
pub struct Declared {
    pub resource: Resource,
    /// Where the document starts.
    pub origin: Origin,
    /// The names this resource refers to, with their locations (filled by the loader).
    pub references: Vec<Reference>,
}

impl Declared {
    /// A declared resource without recorded references (tests, export).
    pub fn new(resource: Resource, origin: Origin) -> Declared {
        Declared {
            resource,
            origin,
            references: Vec::new(),
        }
    }
}
