//! Datasets: list, create, get, update, delete, metadata and schema.

use reqwest::Method;

use crate::client::{ApiPath, Call, ClientError, DssClient};
use crate::wire::{Dataset, DatasetSchema, Metadata};

fn datasets(key: &str) -> Result<ApiPath, ClientError> {
    Ok(ApiPath::new()
        .lit("projects")
        .name("project key", key)?
        .lit("datasets"))
}

/// `/projects/{key}/datasets/`: the list of a project's datasets (their whole definitions).
pub(crate) fn dataset_list_path(key: &str) -> Result<ApiPath, ClientError> {
    Ok(datasets(key)?.slash())
}

fn dataset(key: &str, name: &str) -> Result<ApiPath, ClientError> {
    datasets(key)?.name("dataset name", name)
}

impl DssClient {
    /// `GET /projects/{key}/datasets/`: the full definitions of the project's datasets.
    pub async fn list_datasets(&self, key: &str) -> Result<Vec<Dataset>, ClientError> {
        self.get(dataset_list_path(key)?).await
    }

    /// [`DssClient::list_datasets`] as observation keeps it: each definition decoded with only
    /// what a plan reads ([`super::observed`]).
    pub(crate) async fn list_observed_datasets(&self, key: &str) -> Result<Vec<Dataset>, ClientError> {
        self.get::<super::observed::ObservedList>(dataset_list_path(key)?)
            .await
            .map(|list| list.0)
    }

    /// `GET /projects/{key}/datasets/{name}`.
    pub async fn get_dataset(&self, key: &str, name: &str) -> Result<Dataset, ClientError> {
        self.get(dataset(key, name)?).await
    }

    /// `POST /projects/{key}/datasets/`. The body's `projectKey` is set to `key`. Never repeated
    /// after an ambiguous failure: check with [`DssClient::get_dataset`].
    pub async fn create_dataset(&self, key: &str, definition: &Dataset) -> Result<(), ClientError> {
        let path = datasets(key)?.slash();
        // Validate the name like a path segment before anything is sent.
        dataset(key, &definition.name)?;
        if definition.project_key == key {
            self.post(path, definition).await
        } else {
            let mut body = definition.clone();
            body.project_key = key.to_string();
            self.post(path, &body).await
        }
    }

    /// `PUT /projects/{key}/datasets/{name}` (the whole definition, as read and modified).
    pub async fn update_dataset(
        &self,
        key: &str,
        name: &str,
        definition: &Dataset,
    ) -> Result<(), ClientError> {
        self.put(dataset(key, name)?, definition).await
    }

    /// `DELETE /projects/{key}/datasets/{name}?dropData=...`.
    pub async fn delete_dataset(&self, key: &str, name: &str, drop_data: bool) -> Result<(), ClientError> {
        let call = Call::new(Method::DELETE, dataset(key, name)?).query("dropData", drop_data);
        self.send(call).await.map(drop)
    }

    /// `GET /projects/{key}/datasets/{name}/metadata`.
    pub async fn get_dataset_metadata(&self, key: &str, name: &str) -> Result<Metadata, ClientError> {
        self.get(dataset(key, name)?.lit("metadata")).await
    }

    /// `PUT /projects/{key}/datasets/{name}/metadata`.
    pub async fn set_dataset_metadata(
        &self,
        key: &str,
        name: &str,
        metadata: &Metadata,
    ) -> Result<(), ClientError> {
        self.put(dataset(key, name)?.lit("metadata"), metadata).await
    }

    /// `GET /projects/{key}/datasets/{name}/schema`.
    pub async fn get_dataset_schema(&self, key: &str, name: &str) -> Result<DatasetSchema, ClientError> {
        self.get(dataset(key, name)?.lit("schema")).await
    }

    /// `PUT /projects/{key}/datasets/{name}/schema`.
    pub async fn set_dataset_schema(
        &self,
        key: &str,
        name: &str,
        schema: &DatasetSchema,
    ) -> Result<(), ClientError> {
        self.put(dataset(key, name)?.lit("schema"), schema).await
    }
}
