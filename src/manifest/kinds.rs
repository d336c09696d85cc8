//! The manifest document model shared by every kind: `metadata`, secret references, origins,
//! the loaded [`Resource`] and its references. Each kind's `spec` type lives in its module
//! under [`crate::kinds`] and is re-exported here.
//!
//! Every kind is a Kubernetes-style document `{apiVersion, kind, metadata, spec}`. A field left
//! out (`None`, or absent from a map) is not managed by dssctl; `crate::plan` implements the
//! field semantics.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::kinds::KindId;
pub use crate::kinds::build::{BuildOutputSpec, BuildSpec};
pub use crate::kinds::connection::ConnectionSpec;
pub use crate::kinds::dataset::{ColumnSpec, DatasetSpec, SchemaSpec};
pub use crate::kinds::group::GroupSpec;
pub use crate::kinds::project::{PermissionSpec, ProjectSpec, ProjectVariablesSpec};
pub use crate::kinds::user::UserSpec;
pub use crate::kinds::variables::VariablesSpec;

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

impl Origin {
    /// Reads the `file:line:column` text [`Origin`]'s `Display` writes (the file may itself
    /// hold colons: the last two fields are the numbers).
    pub fn parse(text: &str) -> Option<Origin> {
        let mut parts = text.rsplitn(3, ':');
        let column = parts.next()?.parse().ok()?;
        let line = parts.next()?.parse().ok()?;
        let file = parts.next()?;
        Some(Origin {
            file: file.into(),
            line,
            column,
        })
    }
}

/// An [`Origin`] in a document as its `file:line:column` text (the saved plan).
pub mod origin_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Origin;

    pub fn serialize<S: Serializer>(value: &Option<Origin>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(o) => s.serialize_some(&o.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Origin>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| {
                Origin::parse(&text).ok_or_else(|| {
                    serde::de::Error::custom(format!("{text:?} is not a file:line:column origin"))
                })
            })
            .transpose()
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
    Project {
        meta: ObjectMeta,
        spec: ProjectSpec,
    },
    Dataset {
        meta: ObjectMeta,
        spec: DatasetSpec,
    },
    Connection {
        meta: ObjectMeta,
        spec: ConnectionSpec,
    },
    User {
        meta: ObjectMeta,
        spec: UserSpec,
    },
    Group {
        meta: ObjectMeta,
        spec: GroupSpec,
    },
    Variables {
        meta: ObjectMeta,
        spec: VariablesSpec,
    },
    Build {
        meta: ObjectMeta,
        spec: BuildSpec,
    },
    Recipe {
        meta: ObjectMeta,
        spec: crate::kinds::recipe::RecipeSpec,
    },
    Scenario {
        meta: ObjectMeta,
        spec: crate::kinds::scenario::ScenarioSpec,
    },
}

impl Resource {
    /// The kind module of the resource.
    pub fn kind_def(&self) -> &'static dyn crate::kinds::Kind {
        use crate::kinds;
        match self {
            Resource::Project { .. } => &kinds::project::KIND,
            Resource::Dataset { .. } => &kinds::dataset::KIND,
            Resource::Connection { .. } => &kinds::connection::KIND,
            Resource::User { .. } => &kinds::user::KIND,
            Resource::Group { .. } => &kinds::group::KIND,
            Resource::Variables { .. } => &kinds::variables::KIND,
            Resource::Build { .. } => &kinds::build::KIND,
            Resource::Recipe { .. } => &kinds::recipe::KIND,
            Resource::Scenario { .. } => &kinds::scenario::KIND,
        }
    }

    /// The `kind:` of the resource.
    pub fn kind(&self) -> &'static str {
        self.kind_def().name()
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
            | Resource::Build { meta, .. }
            | Resource::Recipe { meta, .. }
            | Resource::Scenario { meta, .. } => meta,
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

/// A name a resource refers to, and where that name is written, so that the plan can report
/// "connection X does not exist" at the manifest line when it resolves against the live instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    /// The kind of the resource named.
    pub kind: KindId,
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
