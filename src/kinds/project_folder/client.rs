//! Project folders (`/project-folders/...`): a folder's summary (its children and projects),
//! its settings (name, owner, permissions), sub-folder creation, moves of folders and of
//! projects, deletion, locating a project, and creating a project inside a folder.
//!
//! DSS has no call that lists every folder: the tree is walked from the root folder, `ROOT`,
//! whose summary names its children by id. Folder ids are DSS's; dssctl names folders by their
//! path of names from the root (`Analytics/Marketing`).

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::{ApiPath, Call, ClientError, DssClient, Repeat};
use crate::wire::CreateProjectRequest;

/// The id of the root folder, which every DSS instance has.
pub(crate) const ROOT_FOLDER: &str = "ROOT";

/// `GET /project-folders/{id}`: one folder, its children by id and the keys of its projects.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FolderSummary {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// Absent on the root folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default)]
    pub children_ids: Vec<String>,
    #[serde(default)]
    pub project_keys: Vec<String>,
}

fn folder(id: &str) -> Result<ApiPath, ClientError> {
    ApiPath::new()
        .lit("project-folders")
        .name("project folder id", id)
}

impl DssClient {
    /// `GET /project-folders/{id}`.
    pub(crate) async fn get_project_folder(&self, id: &str) -> Result<FolderSummary, ClientError> {
        self.get(folder(id)?).await
    }

    /// `GET /project-folders/{id}/settings`: `{name, owner, permissions}`.
    pub(crate) async fn get_project_folder_settings(&self, id: &str) -> Result<Value, ClientError> {
        self.get(folder(id)?.lit("settings")).await
    }

    /// `PUT /project-folders/{id}/settings` (the whole settings).
    pub(crate) async fn set_project_folder_settings(
        &self,
        id: &str,
        settings: &Value,
    ) -> Result<(), ClientError> {
        self.put(folder(id)?.lit("settings"), settings).await
    }

    /// `POST /project-folders/{parent}/children?name=`: a new sub-folder, answered as its
    /// summary. Never repeated after an ambiguous failure.
    pub(crate) async fn create_project_folder(
        &self,
        parent: &str,
        name: &str,
    ) -> Result<FolderSummary, ClientError> {
        let call = Call::new(Method::POST, folder(parent)?.lit("children")).query("name", name);
        self.send_json(call).await
    }

    /// `DELETE /project-folders/{id}`; DSS refuses it while the folder holds sub-folders or
    /// projects.
    pub(crate) async fn delete_project_folder(&self, id: &str) -> Result<(), ClientError> {
        self.delete(folder(id)?).await
    }

    /// `POST /project-folders/{from}/projects/{key}/move?destination=`: move project `key`
    /// from folder `from` (the one holding it) to folder `to`.
    pub(crate) async fn move_project_to_folder(
        &self,
        from: &str,
        key: &str,
        to: &str,
    ) -> Result<(), ClientError> {
        let path = folder(from)?
            .lit("projects")
            .name("project key", key)?
            .lit("move");
        let mut call = Call::new(Method::POST, path).query("destination", to);
        // Moving twice to the same destination has the effect of once.
        call.repeat = Repeat::Idempotent;
        self.send(call).await.map(drop)
    }

    /// `GET /project-folders/locate-project/{key}`: the folder holding project `key`.
    pub(crate) async fn locate_project(&self, key: &str) -> Result<FolderSummary, ClientError> {
        let path = ApiPath::new()
            .lit("project-folders/locate-project")
            .name("project key", key)?;
        self.get(path).await
    }

    /// `POST /projects/?projectFolderId=`: create a project inside folder `folder_id`. Never
    /// repeated after an ambiguous failure.
    pub(crate) async fn create_project_in_folder(
        &self,
        req: &CreateProjectRequest,
        folder_id: &str,
    ) -> Result<(), ClientError> {
        ApiPath::new()
            .lit("projects")
            .name("project key", &req.project_key)?;
        let call = Call::new(Method::POST, ApiPath::new().lit("projects").slash())
            .json(req)?
            .query("projectFolderId", folder_id);
        self.send(call).await.map(drop)
    }

    /// The folder at `path` (names from the root, `Analytics/Marketing`; empty: the root),
    /// walked one level at a time: `Ok(None)` when a folder on the way does not exist.
    pub(crate) async fn find_project_folder(
        &self,
        path: &[&str],
    ) -> Result<Option<FolderSummary>, ClientError> {
        let mut current = self.get_project_folder(ROOT_FOLDER).await?;
        for name in path {
            match self.child_named(&current, name).await? {
                Some(f) => current = f,
                None => return Ok(None),
            }
        }
        Ok(Some(current))
    }

    /// The sub-folder of `parent` named `name`: DSS names children by id only, so they are
    /// read one by one until it is found.
    async fn child_named(
        &self,
        parent: &FolderSummary,
        name: &str,
    ) -> Result<Option<FolderSummary>, ClientError> {
        for child in &parent.children_ids {
            let summary = self.get_project_folder(child).await?;
            if summary.name == name {
                return Ok(Some(summary));
            }
        }
        Ok(None)
    }

    /// The folder at `path` (`Analytics/Marketing`), or a not-found error naming the path.
    pub(crate) async fn require_project_folder(&self, path: &str) -> Result<FolderSummary, ClientError> {
        let segments = split_path(path);
        self.find_project_folder(&segments)
            .await?
            .ok_or_else(|| ClientError::NotFound {
                method: "GET".into(),
                path: format!("/project-folders/ (path {path})"),
                status: 404,
                error_type: "NotFoundException".into(),
                message: format!("project folder {path} does not exist"),
            })
    }

    /// The folder at `path`, creating the folders missing on the way (parents included):
    /// answers its summary.
    pub(crate) async fn ensure_project_folder(&self, path: &str) -> Result<FolderSummary, ClientError> {
        let mut current = self.get_project_folder(ROOT_FOLDER).await?;
        for name in split_path(path) {
            current = match self.child_named(&current, name).await? {
                Some(f) => f,
                None => self.create_project_folder(&current.id, name).await?,
            };
        }
        Ok(current)
    }

    /// Delete the folder at `path` once it is empty. DSS refuses to delete a folder that
    /// holds sub-folders or projects; this says which, by name, before asking.
    pub(crate) async fn delete_project_folder_at(&self, path: &str) -> Result<(), ClientError> {
        let folder = self.require_project_folder(path).await?;
        if !folder.children_ids.is_empty() || !folder.project_keys.is_empty() {
            let mut children = Vec::new();
            for id in &folder.children_ids {
                children.push(self.get_project_folder(id).await?.name);
            }
            let mut held = Vec::new();
            if !folder.project_keys.is_empty() {
                held.push(format!("project(s) {}", folder.project_keys.join(", ")));
            }
            if !children.is_empty() {
                held.push(format!("sub-folder(s) {}", children.join(", ")));
            }
            return Err(ClientError::Task(format!(
                "project folder {path} is not empty: it holds {}; DSS deletes only empty folders: move the projects out (a Project's spec.folder) or delete them, and delete or move the sub-folders, first",
                held.join(" and ")
            )));
        }
        self.delete_project_folder(&folder.id).await
    }
}

/// The names of a folder path (`Analytics/Marketing` → `[Analytics, Marketing]`; empty: the
/// root).
pub(crate) fn split_path(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}
