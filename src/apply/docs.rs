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

use super::kind::ApplyDef;
use super::kind::KindApply;
use crate::client::{ClientError, DssClient};
use crate::plan::{ResourceId, SubDoc};

/// One sub-document of one resource. What it is, and the calls that read and write it, belong
/// to the resource's kind ([`crate::apply::kind::KindApply::sub_document`], [`crate::apply::kind::KindApply::get_document`],
/// [`crate::apply::kind::KindApply::put_document`]).
#[derive(Clone)]
pub(crate) struct DocRef {
    kind: &'static dyn KindApply,
    pub name: String,
    pub sub: SubDoc,
}

/// Why a document cannot be addressed (a plan naming a sub-document its kind does not have:
/// only a hand-edited saved plan can).
#[derive(Debug, thiserror::Error)]
#[error("{id} has no {sub} sub-document")]
pub(crate) struct NoSuchDoc {
    pub id: String,
    pub sub: &'static str,
}

impl DocRef {
    /// The document `sub` of resource `id` (`None` for one written another way: the global
    /// variables, through the ledger writer).
    pub(crate) fn of(id: &ResourceId, sub: SubDoc) -> Result<Option<DocRef>, NoSuchDoc> {
        let bad = || NoSuchDoc {
            id: id.to_string(),
            sub: sub.as_str(),
        };
        let kind = id.kind.def().ok_or_else(bad)?;
        match kind.sub_document(&id.name, sub) {
            None => Err(bad()),
            Some(false) => Ok(None),
            Some(true) => Ok(Some(DocRef {
                kind,
                name: id.name.clone(),
                sub,
            })),
        }
    }

    /// The kind of the resource.
    pub(crate) fn kind(&self) -> &'static dyn KindApply {
        self.kind
    }

    /// Whether this is a metadata document (where the stack's stamp lives).
    pub(crate) fn is_metadata(&self) -> bool {
        self.sub == SubDoc::METADATA
    }

    /// GET the document as JSON.
    pub(crate) async fn get(&self, c: &DssClient) -> Result<Value, ClientError> {
        self.kind
            .get_document(c, &self.name, self.sub)
            .expect("DocRef::of checked that the kind addresses this sub-document")
            .await
    }

    /// PUT `doc` (a GET result with the overlay applied); what the write did beyond the PUT,
    /// for the report (a package installation's outcome).
    pub(crate) async fn put(&self, c: &DssClient, doc: Value) -> Result<Vec<String>, ApplyDocError> {
        let what = self.to_string();
        self.kind
            .put_document_with_notes(c, &self.name, self.sub, doc, what)
            .expect("DocRef::of checked that the kind addresses this sub-document")
            .await
    }
}

impl std::fmt::Debug for DocRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DocRef({}:{}, {})",
            self.kind.id(),
            self.name,
            self.sub.as_str()
        )
    }
}

impl PartialEq for DocRef {
    fn eq(&self, other: &Self) -> bool {
        self.kind.id() == other.kind.id() && self.name == other.name && self.sub == other.sub
    }
}

impl Eq for DocRef {}

impl std::fmt::Display for DocRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.kind.describe_document(&self.name, self.sub))
    }
}

/// A failed write of a document: the API call, or a document that no longer has the shape
/// DSS requires (an overlay cannot produce one from a valid GET, but a saved plan is input).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApplyDocError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("the document to send for {what} is not valid: {reason}")]
    Shape { what: String, reason: String },
}

/// A wire value as JSON.
pub(crate) fn json<T: Serialize>(v: T) -> Value {
    serde_json::to_value(v).expect("wire types serialise")
}

/// JSON as a wire value; the error names the document, never its content (it may hold a
/// secret about to be sent).
pub(crate) fn typed<T: DeserializeOwned>(
    doc: Value,
    what: &dyn std::fmt::Display,
) -> Result<T, ApplyDocError> {
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
        let ds = ResourceId::in_project(crate::kinds::dataset::ID, "P", "d");
        let schema = DocRef::of(&ds, SubDoc::SCHEMA).unwrap().unwrap();
        assert_eq!(schema.to_string(), "the schema of dataset P.d");
        assert!(!schema.is_metadata());
        let g = ResourceId::new(crate::kinds::group::ID, "g");
        assert_eq!(
            DocRef::of(&g, SubDoc::DEFINITION).unwrap().unwrap().to_string(),
            "group g"
        );
        let p = ResourceId::new(crate::kinds::project::ID, "P");
        assert!(DocRef::of(&p, SubDoc::PERMISSIONS).unwrap().is_some());
        assert!(DocRef::of(&p, SubDoc::METADATA).unwrap().unwrap().is_metadata());
        let v = ResourceId::new(crate::kinds::variables::ID, "global");
        assert_eq!(DocRef::of(&v, SubDoc::VALUES).unwrap(), None);
        let err = DocRef::of(&p, SubDoc::SCHEMA).unwrap_err().to_string();
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
