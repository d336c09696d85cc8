//! Scenario runs: run, abort, and the run's details and log, which `dssctl build` follows to
//! the outcome. The calls that create, read, update and delete a scenario belong to the
//! scenario kind (`kinds::scenario::client`).

use reqwest::Method;
use serde_json::Value;

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
    /// `POST /projects/{key}/scenarios/{id}/run`: fire the manual trigger; DSS answers the
    /// trigger fire (`runId`, `cancelled`). Never repeated: a second fire is a second run.
    pub(crate) async fn run_scenario(
        &self,
        key: &str,
        id: &str,
        params: &Value,
    ) -> Result<Value, ClientError> {
        self.send_json(Call::new(Method::POST, scenario(key, id)?.lit("run")).json(params)?)
            .await
    }

    /// `GET /projects/{key}/scenarios/{id}/get-run-for-trigger?triggerId=..&triggerRunId=..`:
    /// `{"scenarioRun": ...}` once the fire started a run, `{}` before.
    pub(crate) async fn scenario_run_for_trigger(
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
    pub(crate) async fn scenario_run_details(
        &self,
        key: &str,
        id: &str,
        run_id: &str,
    ) -> Result<Value, ClientError> {
        self.get(scenario(key, id)?.name("run id", run_id)?.slash()).await
    }

    /// `GET /projects/{key}/scenarios/{id}/{runId}/log`: the run's log as text.
    pub(crate) async fn scenario_run_log(
        &self,
        key: &str,
        id: &str,
        run_id: &str,
    ) -> Result<String, ClientError> {
        let answer = self
            .send(Call::new(
                Method::GET,
                scenario(key, id)?.name("run id", run_id)?.lit("log"),
            ))
            .await?;
        Ok(String::from_utf8_lossy(&answer.body).into_owned())
    }

    /// `POST /projects/{key}/scenarios/{id}/abort`. Aborting twice is harmless.
    pub(crate) async fn abort_scenario(&self, key: &str, id: &str) -> Result<(), ClientError> {
        let call = Call::new(Method::POST, scenario(key, id)?.lit("abort")).repeat(Repeat::Idempotent);
        self.send(call).await.map(drop)
    }
}
