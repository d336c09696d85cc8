//! The sub-documents apply reads and writes, addressed uniformly: one [`DocRef`] per
//! `(resource, sub-document)` with a GET and a PUT that speak raw JSON. The client's typed
//! wire structs keep every unknown attribute in a flattened map, so a GET → JSON → overlay →
//! typed → PUT round trip loses nothing DSS sent.
//!
//! Global variables are one document shared by the `Variables` kind and the ledgers; they are
//! not addressed here but through [`super::ledger::LedgerWriter`], which serialises them.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::client::{ClientError, DssClient};
use crate::plan::{ResourceId, SubDoc};

/// One sub-document of one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocRef {
    Group(String),
    User(String),
    Connection(String),
    ProjectMetadata(String),
    ProjectPermissions(String),
    ProjectVariables(String),
    DatasetSettings(String, String),
    DatasetSchema(String, String),
    DatasetMetadata(String, String),
}

/// Why a document cannot be addressed (a plan naming a sub-document its kind does not have:
/// only a hand-edited saved plan can).
#[derive(Debug, thiserror::Error)]
#[error("{id} has no {sub} sub-document")]
pub struct NoSuchDoc {
    pub id: String,
    pub sub: &'static str,
}

impl DocRef {
    /// The document `sub` of resource `id` (`None` for global variables).
    pub fn of(id: &ResourceId, sub: SubDoc) -> Result<Option<DocRef>, NoSuchDoc> {
        let bad = || NoSuchDoc {
            id: id.to_string(),
            sub: sub.as_str(),
        };
        let name = id.name.clone();
        Ok(Some(match (id.kind, sub) {
            (crate::kinds::group::ID, SubDoc::Definition) => DocRef::Group(name),
            (crate::kinds::user::ID, SubDoc::Definition) => DocRef::User(name),
            (crate::kinds::connection::ID, SubDoc::Definition) => DocRef::Connection(name),
            (crate::kinds::project::ID, SubDoc::Metadata) => DocRef::ProjectMetadata(name),
            (crate::kinds::project::ID, SubDoc::Permissions) => DocRef::ProjectPermissions(name),
            (crate::kinds::project::ID, SubDoc::Variables) => DocRef::ProjectVariables(name),
            (crate::kinds::dataset::ID, s @ (SubDoc::Settings | SubDoc::Schema | SubDoc::Metadata)) => {
                let (p, d) = id.dataset_parts().ok_or_else(bad)?;
                let (p, d) = (p.to_string(), d.to_string());
                match s {
                    SubDoc::Settings => DocRef::DatasetSettings(p, d),
                    SubDoc::Schema => DocRef::DatasetSchema(p, d),
                    _ => DocRef::DatasetMetadata(p, d),
                }
            }
            (crate::kinds::variables::ID, SubDoc::Values) => return Ok(None),
            _ => return Err(bad()),
        }))
    }

    /// Whether this is a metadata document (where the stack's stamp lives).
    pub fn is_metadata(&self) -> bool {
        matches!(self, DocRef::ProjectMetadata(_) | DocRef::DatasetMetadata(..))
    }

    /// GET the document as JSON.
    pub async fn get(&self, c: &DssClient) -> Result<Value, ClientError> {
        match self {
            DocRef::Group(n) => c.get_group(n).await.map(json),
            DocRef::User(n) => c.get_user(n).await.map(json),
            DocRef::Connection(n) => c.get_connection(n).await.map(json),
            DocRef::ProjectMetadata(k) => c.get_project_metadata(k).await.map(json),
            DocRef::ProjectPermissions(k) => c.get_project_permissions(k).await.map(json),
            DocRef::ProjectVariables(k) => c.get_project_variables(k).await.map(json),
            DocRef::DatasetSettings(k, n) => c.get_dataset(k, n).await.map(json),
            DocRef::DatasetSchema(k, n) => c.get_dataset_schema(k, n).await.map(json),
            DocRef::DatasetMetadata(k, n) => c.get_dataset_metadata(k, n).await.map(json),
        }
    }

    /// PUT `doc` (a GET result with the overlay applied).
    pub async fn put(&self, c: &DssClient, doc: Value) -> Result<(), ApplyDocError> {
        match self {
            DocRef::Group(n) => c.update_group(n, &typed(doc, self)?).await?,
            DocRef::User(n) => c.update_user(n, &typed(doc, self)?).await?,
            DocRef::Connection(n) => c.update_connection(n, &typed(doc, self)?).await?,
            DocRef::ProjectMetadata(k) => c.set_project_metadata(k, &typed(doc, self)?).await?,
            DocRef::ProjectPermissions(k) => c.set_project_permissions(k, &typed(doc, self)?).await?,
            DocRef::ProjectVariables(k) => c.set_project_variables(k, &typed(doc, self)?).await?,
            DocRef::DatasetSettings(k, n) => c.update_dataset(k, n, &typed(doc, self)?).await?,
            DocRef::DatasetSchema(k, n) => c.set_dataset_schema(k, n, &typed(doc, self)?).await?,
            DocRef::DatasetMetadata(k, n) => c.set_dataset_metadata(k, n, &typed(doc, self)?).await?,
        }
        Ok(())
    }
}

impl std::fmt::Display for DocRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DocRef::Group(n) => write!(f, "group {n}"),
            DocRef::User(n) => write!(f, "user {n}"),
            DocRef::Connection(n) => write!(f, "connection {n}"),
            DocRef::ProjectMetadata(k) => write!(f, "the metadata of project {k}"),
            DocRef::ProjectPermissions(k) => write!(f, "the permissions of project {k}"),
            DocRef::ProjectVariables(k) => write!(f, "the variables of project {k}"),
            DocRef::DatasetSettings(k, n) => write!(f, "the settings of dataset {k}.{n}"),
            DocRef::DatasetSchema(k, n) => write!(f, "the schema of dataset {k}.{n}"),
            DocRef::DatasetMetadata(k, n) => write!(f, "the metadata of dataset {k}.{n}"),
        }
    }
}

/// A failed write of a document: the API call, or a document that no longer has the shape
/// DSS requires (an overlay cannot produce one from a valid GET, but a saved plan is input).
#[derive(Debug, thiserror::Error)]
pub enum ApplyDocError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("the document to send for {what} is not valid: {reason}")]
    Shape { what: String, reason: String },
}

impl ApplyDocError {
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, ApplyDocError::Client(e) if e.is_ambiguous())
    }
}

/// A wire value as JSON.
pub fn json<T: Serialize>(v: T) -> Value {
    serde_json::to_value(v).expect("wire types serialise")
}

/// JSON as a wire value; the error names the document, never its content (it may hold a
/// secret about to be sent).
pub fn typed<T: DeserializeOwned>(doc: Value, what: &dyn std::fmt::Display) -> Result<T, ApplyDocError> {
    serde_json::from_value(doc).map_err(|e| ApplyDocError::Shape {
        what: what.to_string(),
        reason: scrub_serde_error(&e),
    })
}

/// serde_json's messages may quote a value (`invalid type: string "…"`): keep only the
/// classification, which never carries content.
fn scrub_serde_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    match msg.find(": ") {
        Some(i) if msg.starts_with("invalid type") || msg.starts_with("invalid value") => {
            format!("{} (value withheld)", &msg[..i])
        }
        _ => msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_planned_subdocument_has_an_address() {
        let ds = ResourceId::dataset("P", "d");
        assert_eq!(
            DocRef::of(&ds, SubDoc::Schema).unwrap(),
            Some(DocRef::DatasetSchema("P".into(), "d".into()))
        );
        let p = ResourceId::new(crate::kinds::project::ID, "P");
        assert!(DocRef::of(&p, SubDoc::Permissions).unwrap().is_some());
        assert!(DocRef::of(&p, SubDoc::Metadata).unwrap().unwrap().is_metadata());
        let v = ResourceId::new(crate::kinds::variables::ID, "global");
        assert_eq!(DocRef::of(&v, SubDoc::Values).unwrap(), None);
        let err = DocRef::of(&p, SubDoc::Schema).unwrap_err().to_string();
        assert_eq!(err, "project P has no schema sub-document");
    }

    #[test]
    fn shape_errors_never_quote_the_value() {
        let doc = serde_json::json!({"login": "u", "password": 42});
        let err =
            typed::<crate::wire::User>(serde_json::json!({"login": "u", "groups": "hunter2"}), &"user u")
                .unwrap_err()
                .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("user u"), "{err}");
        assert!(typed::<crate::wire::User>(doc, &"user u").is_err());
    }
}
