//! Scenarios: list, create, get and save the settings and the script (payload), delete; run,
//! abort, and the run's details and log, which `dssctl build` follows to the outcome.

use reqwest::Method;
use serde_json::{Value, json};

use super::transport::{ApiPath, Call, Repeat};
use super::{ClientError, DssClient};

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
    pub async fn save_scenario(&self, key: &str, id: &str, settings: &Value) -> Result<(), ClientError> {
        self.put(scenario(key, id)?, settings).await
    }

    /// `GET /projects/{key}/scenarios/{id}/payload`: `{"script": text, "extension"}`.
    pub async fn get_scenario_payload(&self, key: &str, id: &str) -> Result<Value, ClientError> {
        self.get(scenario(key, id)?.lit("payload")).await
    }

    /// `PUT /projects/{key}/scenarios/{id}/payload` with `{"script": text}`.
    pub async fn save_scenario_payload(&self, key: &str, id: &str, script: &str) -> Result<(), ClientError> {
        self.put(scenario(key, id)?.lit("payload"), &json!({ "script": script }))
            .await
    }

    /// `POST /projects/{key}/scenarios/` with `{id, name, type, ...}` (the body of the official
    /// client's `create_scenario`). Never repeated after an ambiguous failure.
    pub async fn create_scenario(&self, key: &str, body: &Value) -> Result<(), ClientError> {
        self.post(scenarios(key)?.slash(), body).await
    }

    /// `DELETE /projects/{key}/scenarios/{id}`.
    pub async fn delete_scenario(&self, key: &str, id: &str) -> Result<(), ClientError> {
        self.delete(scenario(key, id)?).await
    }

    /// `POST /projects/{key}/scenarios/{id}/run`: fire the manual trigger; DSS answers the
    /// trigger fire (`runId`, `cancelled`). Never repeated: a second fire is a second run.
    pub async fn run_scenario(&self, key: &str, id: &str, params: &Value) -> Result<Value, ClientError> {
        self.send_json(Call::new(Method::POST, scenario(key, id)?.lit("run")).json(params)?)
            .await
    }

    /// `GET /projects/{key}/scenarios/{id}/get-run-for-trigger?triggerId=..&triggerRunId=..`:
    /// `{"scenarioRun": ...}` once the fire started a run, `{}` before.
    pub async fn scenario_run_for_trigger(
        &self,
        key: &str,
        id: &str,
        trigger_id: &str,
        trigger_run_id: &str,
    ) -> Result<Value, ClientError> {
        let call = Call::new(Method::GET, scenario(key, id)?.lit("get-run-for-trigger"))
            .query("triggerId", trigger_id)
            .query("triggerRunId", trigger_run_id);
        self.send_json(call).await
    }

    /// `GET /projects/{key}/scenarios/{id}/{runId}/`: `{"scenarioRun", "stepRuns"}`.
    pub async fn scenario_run_details(
        &self,
        key: &str,
        id: &str,
        run_id: &str,
    ) -> Result<Value, ClientError> {
        self.get(scenario(key, id)?.name("run id", run_id)?.slash()).await
    }

    /// `GET /projects/{key}/scenarios/{id}/{runId}/log`: the run's log as text.
    pub async fn scenario_run_log(&self, key: &str, id: &str, run_id: &str) -> Result<String, ClientError> {
        let answer = self
            .send(Call::new(
                Method::GET,
                scenario(key, id)?.name("run id", run_id)?.lit("log"),
            ))
            .await?;
        Ok(String::from_utf8_lossy(&answer.body).into_owned())
    }

    /// `POST /projects/{key}/scenarios/{id}/abort`. Aborting twice is harmless.
    pub async fn abort_scenario(&self, key: &str, id: &str) -> Result<(), ClientError> {
        let call = Call::new(Method::POST, scenario(key, id)?.lit("abort")).repeat(Repeat::Idempotent);
        self.send(call).await.map(drop)
    }
}
