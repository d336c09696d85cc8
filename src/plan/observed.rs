//! The observed state: what was read from the live instance, in DSS's own document types.
//!
//! Two kinds of "nothing" are kept apart: a collection that was not read at all (`None`: not
//! managed, so never compared and never deleted) and an object that was looked for and is
//! absent (the key is missing from a collection that was read). A sub-document that was not
//! read (`None`) is one the manifests do not manage.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::wire::{
    Connection, Dataset, DatasetSchema, Group, Metadata, ProjectPermissions, ProjectSummary,
    ProjectVariables, User,
};

use super::ledger::Ledger;

/// One live project and the sub-documents that were read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedProject {
    /// The item of `GET /projects/`: carries `name` (the label), `shortDesc`, `tags`,
    /// `ownerLogin`, `versionTag`.
    pub summary: ProjectSummary,
    /// `GET /projects/{k}/metadata`, read only when a managed field is missing from the list.
    pub metadata: Option<Metadata>,
    pub permissions: Option<ProjectPermissions>,
    pub variables: Option<ProjectVariables>,
    /// `GET /projects/{k}/datasets/`, read only when the project has managed datasets;
    /// `None` when not read.
    pub datasets: Option<BTreeMap<String, ObservedDataset>>,
}

/// One live dataset.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedDataset {
    /// The item of the dataset list: the full definition, with `schema`, `tags`,
    /// `description`, `shortDesc`, `customMeta`.
    pub definition: Dataset,
    /// `GET .../metadata`, read only when a managed field is missing from the list item.
    pub metadata: Option<Metadata>,
    /// `GET .../schema`, read only when the list item has no schema.
    pub schema: Option<DatasetSchema>,
}

/// Everything read from the live instance for one plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// `None`: the project list was not read (no project or dataset is managed).
    pub projects: Option<BTreeMap<String, ObservedProject>>,
    pub connections: Option<BTreeMap<String, Connection>>,
    pub users: Option<BTreeMap<String, User>>,
    pub groups: Option<BTreeMap<String, Group>>,
    /// `GET /admin/variables/` (always read: it holds the ledger).
    pub global_variables: Option<Map<String, Value>>,
    /// The stack's ledger, parsed from the global variables; `None` when the stack has none.
    pub ledger: Option<Ledger>,
}

impl Observed {
    pub fn project(&self, key: &str) -> Option<&ObservedProject> {
        self.projects.as_ref()?.get(key)
    }

    pub fn dataset(&self, project: &str, name: &str) -> Option<&ObservedDataset> {
        self.project(project)?.datasets.as_ref()?.get(name)
    }

    pub fn connection(&self, name: &str) -> Option<&Connection> {
        self.connections.as_ref()?.get(name)
    }

    pub fn user(&self, login: &str) -> Option<&User> {
        self.users.as_ref()?.get(login)
    }

    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.as_ref()?.get(name)
    }
}
