//! The manifest document model shared by every kind: `metadata`, secret references, origins,
//! the loaded [`Resource`] and its references. Each kind's `spec` type lives in its module
//! under `crate::kinds`.
//!
//! Every kind is a Kubernetes-style document `{apiVersion, kind, metadata, spec}`. A field left
//! out (`None`, or absent from a map) is not managed by dssctl; `crate::plan` implements the
//! field semantics.

use std::any::Any;
use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) use super::registry::KindId;
use super::registry::KindSpec;

/// The only `apiVersion` this version of dssctl reads.
pub(crate) const API_VERSION: &str = "dssctl/v1";

/// A free-form JSON map managed key by key (`params`, `formatParams`, `custom`, variables).
/// A key set to `null` is removed from the live object.
pub(crate) type KeyedMap = BTreeMap<String, Value>;

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
    /// Free-form string annotations. Keys under `dssctl.io/` set the resource's drift
    /// policy (see [`crate::manifest::annotations`]); the others are ignored.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
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
    pub(crate) fn from_value(value: &Value) -> Option<SecretRef> {
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
    pub(crate) fn parse(text: &str) -> Option<Origin> {
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
pub(crate) mod origin_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Origin;

    pub(crate) fn serialize<S: Serializer>(value: &Option<Origin>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(o) => s.serialize_some(&o.to_string()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Origin>, D::Error> {
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

/// The typed `spec` of a resource: plain data of the kind module's own type that can be
/// cloned, compared, printed and written back as JSON (export). Implemented for every such type.
pub trait Spec: Any + std::fmt::Debug + Send + Sync {
    fn clone_spec(&self) -> Box<dyn Spec>;
    fn eq_spec(&self, other: &dyn Spec) -> bool;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    /// The spec as a manifest writes it.
    fn to_json(&self) -> Value;
}

impl<T: Any + std::fmt::Debug + Clone + PartialEq + Send + Sync + Serialize> Spec for T {
    fn clone_spec(&self) -> Box<dyn Spec> {
        Box::new(self.clone())
    }

    fn eq_spec(&self, other: &dyn Spec) -> bool {
        other.as_any().downcast_ref::<T>() == Some(self)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A loaded, typed resource of any kind: its kind module, its `metadata` and its `spec` in the
/// kind module's own type (read back with [`Resource::spec`]). The core never looks inside a
/// spec; the kind module that made it does.
pub struct Resource {
    kind: &'static dyn KindSpec,
    meta: ObjectMeta,
    spec: Box<dyn Spec>,
}

impl Resource {
    /// A resource of `kind` (its module's `KIND`) with its typed spec.
    pub(crate) fn new<S: Spec>(kind: &'static dyn KindSpec, meta: ObjectMeta, spec: S) -> Resource {
        Resource {
            kind,
            meta,
            spec: Box::new(spec),
        }
    }

    /// What the kind module tells the loader (the stages above reach the whole kind module
    /// through its id, [`Resource::kind_id`]).
    #[cfg(test)]
    pub(crate) fn kind_def(&self) -> &'static dyn KindSpec {
        self.kind
    }

    /// The identity of the kind of the resource.
    pub(crate) fn kind_id(&self) -> KindId {
        self.kind.id()
    }

    /// The `kind:` of the resource.
    pub(crate) fn kind(&self) -> &'static str {
        self.kind.name()
    }

    /// The resource's `metadata`.
    pub(crate) fn meta(&self) -> &ObjectMeta {
        &self.meta
    }

    /// The spec, when it has type `S` (the kind module asks for its own type).
    pub fn spec<S: Spec>(&self) -> Option<&S> {
        self.spec.as_any().downcast_ref()
    }

    /// The spec to change in place (tests, environments' patches), when it has type `S`.
    #[cfg(test)]
    pub(crate) fn spec_mut<S: Spec>(&mut self) -> Option<&mut S> {
        self.spec.as_any_mut().downcast_mut()
    }

    /// The metadata and the spec, when the spec has type `S`.
    pub(crate) fn typed<S: Spec>(&self) -> Option<(&ObjectMeta, &S)> {
        Some((&self.meta, self.spec()?))
    }

    /// The spec as a manifest writes it.
    pub(crate) fn spec_json(&self) -> Value {
        self.spec.to_json()
    }

    /// How messages name the resource: `project CHURN`, `dataset CHURN.customers`, `user alice`.
    pub fn display_name(&self) -> String {
        display_name(self.kind(), &self.meta().name, self.meta().project.as_deref())
    }
}

impl Clone for Resource {
    fn clone(&self) -> Self {
        Resource {
            kind: self.kind,
            meta: self.meta.clone(),
            spec: self.spec.clone_spec(),
        }
    }
}

impl PartialEq for Resource {
    fn eq(&self, other: &Self) -> bool {
        self.kind.id() == other.kind.id() && self.meta == other.meta && self.spec.eq_spec(&*other.spec)
    }
}

impl std::fmt::Debug for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(self.kind.name())
            .field("meta", &self.meta)
            .field("spec", &self.spec)
            .finish()
    }
}

/// How messages name a resource of `kind` (`Dataset`) called `name` in `project`.
pub(crate) fn display_name(kind: &str, name: &str, project: Option<&str>) -> String {
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
    #[cfg(test)]
    pub(crate) fn new(resource: Resource, origin: Origin) -> Declared {
        Declared {
            resource,
            origin,
            references: Vec::new(),
        }
    }
}
