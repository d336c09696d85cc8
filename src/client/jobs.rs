//! Jobs: start, status, abort, log, list, and waiting for a job to end
//! (the wire forms are listed in docs/emulator.md).

use std::time::Duration;

use reqwest::Method;

use super::transport::{ApiPath, Call, Repeat};
use super::{ClientError, DssClient};
use crate::wire::{JOB_TERMINAL_STATES, JobDefinition, JobStarted, JobState};

fn jobs(key: &str) -> Result<ApiPath, ClientError> {
    Ok(ApiPath::new()
        .lit("projects")
        .name("project key", key)?
        .lit("jobs"))
}

fn job(key: &str, id: &str) -> Result<ApiPath, ClientError> {
    jobs(key)?.name("job id", id)
}

/// How to wait for a job: poll interval and overall limit.
#[derive(Debug, Clone, Copy)]
pub struct JobWait {
    pub poll_interval: Duration,
    pub timeout: Duration,
}

impl Default for JobWait {
    fn default() -> Self {
        JobWait {
            poll_interval: Duration::from_millis(500),
            timeout: Duration::from_secs(3600),
        }
    }
}

impl DssClient {
    /// `POST /projects/{key}/jobs/`: start a job; DSS answers its id. Never repeated after an
    /// ambiguous failure (a second start would build twice): list the jobs to find out.
    pub async fn start_job(&self, key: &str, definition: &JobDefinition) -> Result<JobStarted, ClientError> {
        self.send_json(Call::new(Method::POST, jobs(key)?.slash()).json(definition)?)
            .await
    }

    /// `GET /projects/{key}/jobs/{id}/`: the job's state (`baseStatus.state`).
    pub async fn get_job(&self, key: &str, id: &str) -> Result<JobState, ClientError> {
        self.get(job(key, id)?.slash()).await
    }

    /// `POST /projects/{key}/jobs/{id}/abort`. Aborting twice is harmless, so it is repeated
    /// like a PUT.
    pub async fn abort_job(&self, key: &str, id: &str) -> Result<(), ClientError> {
        let call = Call::new(Method::POST, job(key, id)?.lit("abort")).repeat(Repeat::Idempotent);
        self.send(call).await.map(drop)
    }

    /// `GET /projects/{key}/jobs/{id}/log`: the job's log as text.
    pub async fn get_job_log(&self, key: &str, id: &str) -> Result<String, ClientError> {
        let answer = self
            .send(Call::new(Method::GET, job(key, id)?.lit("log")))
            .await?;
        Ok(String::from_utf8_lossy(&answer.body).into_owned())
    }

    /// `GET /projects/{key}/jobs/?limit=N`: the project's jobs, most recent first.
    pub async fn list_jobs(&self, key: &str, limit: Option<u32>) -> Result<Vec<JobState>, ClientError> {
        let mut call = Call::new(Method::GET, jobs(key)?.slash());
        if let Some(limit) = limit {
            call = call.query("limit", limit);
        }
        self.send_json(call).await
    }

    /// Poll a job until it reaches `DONE`, `FAILED` or `ABORTED`, and return its last state.
    /// Reaching a terminal state is success here; the caller reads which one.
    pub async fn wait_job(&self, key: &str, id: &str, wait: JobWait) -> Result<JobState, ClientError> {
        let started = tokio::time::Instant::now();
        loop {
            let state = self.get_job(key, id).await?;
            if JOB_TERMINAL_STATES.contains(&state.base_status.state.as_str()) {
                return Ok(state);
            }
            if started.elapsed() >= wait.timeout {
                return Err(ClientError::Task(format!(
                    "job {id} of project {key} still {} after {}s",
                    state.base_status.state,
                    wait.timeout.as_secs()
                )));
            }
            tokio::time::sleep(wait.poll_interval).await;
        }
    }
}
