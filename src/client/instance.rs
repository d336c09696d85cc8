//! Instance-level reads: `/instance-info`, `/auth/info`, and DSS futures (long-running tasks,
//! whose id a call answers and that are polled to their end).

use std::time::Duration;

use serde_json::Value;

use reqwest::Method;

use super::transport::{ApiPath, Call};
use super::{ClientError, DssClient};
use crate::wire::{AuthInfo, FutureState, InstanceInfo};

/// Longest wait for a future (a project deletion) before giving up.
const FUTURE_TIMEOUT: Duration = Duration::from_secs(600);

impl DssClient {
    /// `GET /instance-info`: the DSS version and node.
    pub async fn instance_info(&self) -> Result<InstanceInfo, ClientError> {
        self.get(ApiPath::new().lit("instance-info")).await
    }

    /// `GET /auth/info`: who the key acts as. The cheapest call that checks the key.
    pub async fn auth_info(&self) -> Result<AuthInfo, ClientError> {
        self.get(ApiPath::new().lit("auth/info")).await
    }

    /// `GET /futures/{id}?peek=false`.
    pub(crate) async fn get_future(&self, job_id: &str) -> Result<FutureState, ClientError> {
        let path = ApiPath::new().lit("futures").name("future id", job_id)?;
        self.send_json(Call::new(Method::GET, path).query("peek", false))
            .await
    }

    /// Poll a future until it has its result, with the official client's backoff (200 ms,
    /// x1.1 per poll, at most 15 s between polls).
    pub(crate) async fn wait_future(&self, job_id: &str) -> Result<FutureState, ClientError> {
        let started = tokio::time::Instant::now();
        let mut delay = Duration::from_millis(200);
        loop {
            let state = self.get_future(job_id).await?;
            if state.has_result {
                return Ok(state);
            }
            if started.elapsed() > FUTURE_TIMEOUT {
                return Err(ClientError::Task(format!(
                    "DSS task {job_id} still running after {}s",
                    FUTURE_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(delay).await;
            delay = delay.mul_f64(1.1).min(Duration::from_secs(15));
        }
    }

    /// A result that is a future (`wait=false`, or a DSS that answers one anyway), followed to
    /// its end; any other result as it is.
    pub(crate) async fn follow(&self, result: Value) -> Result<Value, ClientError> {
        let job = result.get("jobId").and_then(Value::as_str);
        let done = result.get("hasResult").and_then(Value::as_bool) == Some(true);
        match job {
            Some(job) if !done => Ok(self.wait_future(job).await?.result.unwrap_or(Value::Null)),
            Some(_) => Ok(result.get("result").cloned().unwrap_or(Value::Null)),
            None => Ok(result),
        }
    }
}
