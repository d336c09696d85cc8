//! Projects: list, create, get, delete (following DSS's future), metadata, permissions,
//! variables and export.

use bytes::Bytes;
use reqwest::Method;

use super::transport::{ApiPath, Call, Repeat};
use super::{ClientError, DssClient};
use crate::wire::{
    CreateProjectRequest, FutureState, Metadata, ProjectPermissions, ProjectSummary, ProjectVariables,
};

fn project(key: &str) -> Result<ApiPath, ClientError> {
    ApiPath::new().lit("projects").name("project key", key)
}

/// `/projects/`: the project list.
pub(crate) fn project_list_path() -> ApiPath {
    ApiPath::new().lit("projects").slash()
}

/// `/projects/{key}/metadata`.
fn project_metadata_path(key: &str) -> Result<ApiPath, ClientError> {
    Ok(project(key)?.lit("metadata"))
}

/// `/projects/{key}/permissions`.
pub(crate) fn project_permissions_path(key: &str) -> Result<ApiPath, ClientError> {
    Ok(project(key)?.lit("permissions"))
}

/// `/projects/{key}/variables/`.
pub(crate) fn project_variables_path(key: &str) -> Result<ApiPath, ClientError> {
    Ok(project(key)?.lit("variables").slash())
}

impl DssClient {
    /// `GET /projects/`: every project the key can see.
    pub async fn list_projects(&self) -> Result<Vec<ProjectSummary>, ClientError> {
        self.get(project_list_path()).await
    }

    /// `GET /projects/?tags=a,b`: the projects carrying any of these tags.
    pub async fn list_projects_tagged(&self, tags: &[&str]) -> Result<Vec<ProjectSummary>, ClientError> {
        let mut call = Call::new(Method::GET, ApiPath::new().lit("projects").slash());
        if !tags.is_empty() {
            call = call.query("tags", tags.join(","));
        }
        self.send_json(call).await
    }

    /// `GET /projects/{key}`: the project summary.
    pub async fn get_project(&self, key: &str) -> Result<ProjectSummary, ClientError> {
        self.get(project(key)?).await
    }

    /// `POST /projects/`. Never repeated after an ambiguous failure: check with
    /// [`DssClient::get_project`] whether it exists.
    pub async fn create_project(&self, req: &CreateProjectRequest) -> Result<(), ClientError> {
        // Validate the key the same way paths are validated, before anything is sent.
        project(&req.project_key)?;
        self.post(ApiPath::new().lit("projects").slash(), req).await
    }

    /// `DELETE /projects/{key}?wait=true`, then follow the future DSS answers until the deletion
    /// is done. Job and scenario logs are cleared (the DSS default); managed data is kept.
    pub async fn delete_project(&self, key: &str) -> Result<(), ClientError> {
        let call = Call::new(Method::DELETE, project(key)?)
            .query("clearManagedDatasets", false)
            .query("clearOutputManagedFolders", false)
            .query("clearJobAndScenarioLogs", true)
            .query("wait", true);
        let answer = self.send(call).await?;
        // Older DSS versions answer an empty body or a message: the deletion is then done.
        let Ok(state) = serde_json::from_slice::<FutureState>(&answer.body) else {
            return Ok(());
        };
        match state.job_id {
            Some(job_id) if !state.has_result => self.wait_future(&job_id).await.map(drop),
            _ => Ok(()),
        }
    }

    /// `GET /projects/{key}/metadata`.
    pub async fn get_project_metadata(&self, key: &str) -> Result<Metadata, ClientError> {
        self.get(project_metadata_path(key)?).await
    }

    /// `PUT /projects/{key}/metadata` (the whole document).
    pub async fn set_project_metadata(&self, key: &str, metadata: &Metadata) -> Result<(), ClientError> {
        self.put(project_metadata_path(key)?, metadata).await
    }

    /// `GET /projects/{key}/permissions`.
    pub async fn get_project_permissions(&self, key: &str) -> Result<ProjectPermissions, ClientError> {
        self.get(project_permissions_path(key)?).await
    }

    /// `PUT /projects/{key}/permissions` (the whole document; send every flag explicitly).
    pub async fn set_project_permissions(
        &self,
        key: &str,
        permissions: &ProjectPermissions,
    ) -> Result<(), ClientError> {
        self.put(project_permissions_path(key)?, permissions).await
    }

    /// `GET /projects/{key}/variables/`.
    pub async fn get_project_variables(&self, key: &str) -> Result<ProjectVariables, ClientError> {
        self.get(project_variables_path(key)?).await
    }

    /// `PUT /projects/{key}/variables/` (both `standard` and `local`).
    pub async fn set_project_variables(
        &self,
        key: &str,
        variables: &ProjectVariables,
    ) -> Result<(), ClientError> {
        self.put(project_variables_path(key)?, variables).await
    }

    /// `POST /projects/{key}/export` with the default options: the project as a zip archive.
    /// A POST on the wire but a read: it is repeated like a GET.
    pub async fn export_project(&self, key: &str) -> Result<Bytes, ClientError> {
        let call = Call::new(Method::POST, project(key)?.lit("export"))
            .json(&serde_json::json!({}))?
            .repeat(Repeat::Idempotent);
        Ok(self.send(call).await?.body)
    }
}
