//! The scenario kind's calls: list, create, get and save the settings and the script
//! (payload), delete. The runs `dssctl build` makes are the client's (`client::scenarios`).

use serde_json::{Value, json};

use crate::client::{ApiPath, ClientError, DssClient};

fn scenarios(key: &str) -> Result<ApiPath, ClientError> {
    Ok(ApiPath::new()
        .lit("projects")
        .name("project key", key)?
        .lit("scenarios"))
}

fn scenario(key: &str, id: &str) -> Result<ApiPath, ClientError> {
    scenarios(key)?.name("scenario id", id)
}

impl DssClient {
    /// `GET /projects/{key}/scenarios/`: one summary per scenario (`id`, `name`, `type`,
    /// `active`, `running`, ...), not the settings.
    pub async fn list_scenarios(&self, key: &str) -> Result<Vec<Value>, ClientError> {
        self.get(scenarios(key)?.slash()).await
    }

    /// `GET /projects/{key}/scenarios/{id}`: the settings (triggers, `params.steps`, ...).
    pub async fn get_scenario(&self, key: &str, id: &str) -> Result<Value, ClientError> {
        self.get(scenario(key, id)?).await
    }

    /// `PUT /projects/{key}/scenarios/{id}`: the whole settings, as read and modified.
    pub(crate) async fn save_scenario(
        &self,
        key: &str,
        id: &str,
        settings: &Value,
    ) -> Result<(), ClientError> {
        self.put(scenario(key, id)?, settings).await
    }

    /// `GET /projects/{key}/scenarios/{id}/payload`: `{"script": text, "extension"}`.
    pub async fn get_scenario_payload(&self, key: &str, id: &str) -> Result<Value, ClientError> {
        self.get(scenario(key, id)?.lit("payload")).await
    }

    /// `PUT /projects/{key}/scenarios/{id}/payload` with `{"script": text}`.
    pub(crate) async fn save_scenario_payload(
        &self,
        key: &str,
        id: &str,
        script: &str,
    ) -> Result<(), ClientError> {
        self.put(scenario(key, id)?.lit("payload"), &json!({ "script": script }))
            .await
    }

    /// `POST /projects/{key}/scenarios/` with `{id, name, type, ...}` (the body of the official
    /// client's `create_scenario`). Never repeated after an ambiguous failure.
    pub async fn create_scenario(&self, key: &str, body: &Value) -> Result<(), ClientError> {
        self.post(scenarios(key)?.slash(), body).await
    }

    /// `DELETE /projects/{key}/scenarios/{id}`.
    pub(crate) async fn delete_scenario(&self, key: &str, id: &str) -> Result<(), ClientError> {
        self.delete(scenario(key, id)?).await
    }
}
