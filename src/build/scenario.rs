//! A build that runs a scenario: fire it, follow the run to its outcome (SUCCESS, FAILED,
//! ABORTED), abort it on timeout or cancellation (and wait for DSS to say the run ended), and
//! fetch the run's log and the log of the job of the failing step when it did not succeed.
//!
//! DSS answers a run request with the trigger fire (`runId`, `cancelled`); the run it starts is
//! found with `get-run-for-trigger`, then read with the run details until `result` appears.

use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{ABORT_GRACE, BuildError, BuildEvent, BuildOutcome, BuildRequest, Ending};
use crate::client::{ClientError, DssClient};

/// The scenario run's state as a build reports it: its outcome when finished, else `RUNNING`
/// (or `STARTING` before DSS shows the run).
fn state_of(run: Option<&Value>) -> String {
    match run {
        None => "STARTING".into(),
        Some(r) => r
            .pointer("/result/outcome")
            .and_then(Value::as_str)
            .unwrap_or("RUNNING")
            .to_string(),
    }
}

fn finished(run: Option<&Value>) -> bool {
    run.and_then(|r| r.pointer("/result/outcome")).is_some()
}

fn ending_of(state: &str) -> Ending {
    match state {
        "SUCCESS" | "WARNING" => Ending::Done,
        "FAILED" => Ending::Failed,
        _ => Ending::Aborted,
    }
}

/// Read the run started by the fire: `None` until DSS shows it.
async fn read_run(
    client: &DssClient,
    project: &str,
    id: &str,
    fire_run: &str,
    run_id: &mut Option<String>,
) -> Result<Option<Value>, ClientError> {
    if run_id.is_none() {
        let found = client
            .scenario_run_for_trigger(project, id, "manual", fire_run)
            .await?;
        *run_id = found
            .pointer("/scenarioRun/runId")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    match run_id {
        None => Ok(None),
        Some(r) => Ok(client
            .scenario_run_details(project, id, r)
            .await?
            .get("scenarioRun")
            .cloned()),
    }
}

/// Run scenario `id` of the request's project and follow it (see the module documentation).
pub(super) async fn run_scenario(
    client: &DssClient,
    request: &BuildRequest,
    id: &str,
    cancel: &CancellationToken,
    mut progress: impl FnMut(BuildEvent<'_>),
) -> Result<BuildOutcome, BuildError> {
    let project = request.project.as_str();
    let started_at = Instant::now();
    let fire = client
        .run_scenario(project, id, &json!({}))
        .await
        .map_err(|error| BuildError::Start {
            project: project.to_string(),
            error,
        })?;
    if fire.get("cancelled").and_then(Value::as_bool) == Some(true) {
        return Err(BuildError::Scenario {
            project: project.to_string(),
            scenario: id.to_string(),
            why: "DSS cancelled the run: the scenario is already running".into(),
        });
    }
    let fire_run = fire
        .get("runId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut run_id: Option<String> = None;
    let follow_err = |run: &Option<String>, error| BuildError::Follow {
        project: project.to_string(),
        job_id: format!("{id}/{}", run.as_deref().unwrap_or(&fire_run)),
        error,
    };
    let deadline = request.timeout.and_then(|t| started_at.checked_add(t));
    let mut last_state = String::new();
    let mut run: Option<Value>;
    let stop = loop {
        if cancel.is_cancelled() {
            break Some(Ending::Interrupted);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break Some(Ending::TimedOut);
        }
        run = read_run(client, project, id, &fire_run, &mut run_id)
            .await
            .map_err(|e| follow_err(&run_id, e))?;
        let state = state_of(run.as_ref());
        if state != last_state {
            if last_state.is_empty() {
                progress(BuildEvent::Started {
                    job_id: run_id.as_deref().unwrap_or(&fire_run),
                });
            }
            last_state = state;
            progress(BuildEvent::State {
                state: &last_state,
                elapsed: started_at.elapsed(),
            });
        }
        if finished(run.as_ref()) {
            break None;
        }
        let sleep = match deadline {
            Some(d) => tokio::time::sleep_until(d.min(Instant::now() + request.poll)),
            None => tokio::time::sleep(request.poll),
        };
        tokio::select! {
            biased;
            () = cancel.cancelled() => break Some(Ending::Interrupted),
            () = sleep => {}
        }
    };
    let mut abort_acknowledged = None;
    let ending = match stop {
        None => ending_of(&last_state),
        Some(reason) => {
            progress(BuildEvent::Aborting {
                reason,
                elapsed: started_at.elapsed(),
            });
            client
                .abort_scenario(project, id)
                .await
                .map_err(|error| BuildError::Abort {
                    project: project.to_string(),
                    job_id: format!("{id}/{}", run_id.as_deref().unwrap_or(&fire_run)),
                    error,
                })?;
            let grace_end = Instant::now() + ABORT_GRACE;
            let poll = request.poll.min(std::time::Duration::from_millis(200));
            let acknowledged = loop {
                run = read_run(client, project, id, &fire_run, &mut run_id)
                    .await
                    .map_err(|e| follow_err(&run_id, e))?;
                if finished(run.as_ref()) {
                    break true;
                }
                if Instant::now() >= grace_end {
                    break false;
                }
                tokio::time::sleep(poll).await;
            };
            let state = state_of(run.as_ref());
            if state != last_state {
                last_state = state;
                progress(BuildEvent::State {
                    state: &last_state,
                    elapsed: started_at.elapsed(),
                });
            }
            abort_acknowledged = Some(acknowledged);
            reason
        }
    };
    let run_name = run_id.clone().unwrap_or(fire_run);
    let (log, log_error, failure) = if ending == Ending::Done {
        (None, None, None)
    } else {
        failing_step_log(client, project, id, &run_name).await
    };
    Ok(BuildOutcome {
        project: project.to_string(),
        job_id: run_name,
        ending,
        state: last_state,
        duration: started_at.elapsed(),
        abort_acknowledged,
        failure,
        log,
        log_error,
        scenario: Some(id.to_string()),
    })
}

/// The run's log, followed by the log of the job of its failing step (where the cause is), and
/// the failing step's message.
async fn failing_step_log(
    client: &DssClient,
    project: &str,
    id: &str,
    run: &str,
) -> (Option<String>, Option<String>, Option<String>) {
    let mut log = match client.scenario_run_log(project, id, run).await {
        Ok(l) => l,
        Err(e) => return (None, Some(e.to_string()), None),
    };
    let details = client.scenario_run_details(project, id, run).await.ok();
    let failed_step = details.as_ref().and_then(|d| {
        d.get("stepRuns")?
            .as_array()?
            .iter()
            .find(|s| s.pointer("/result/outcome").and_then(Value::as_str) == Some("FAILED"))
            .cloned()
    });
    let failure = failed_step.as_ref().and_then(|s| {
        let name = s.pointer("/step/name").and_then(Value::as_str).unwrap_or("?");
        let why = s.pointer("/result/thrown/message").and_then(Value::as_str)?;
        Some(format!("step {name:?} failed: {why}"))
    });
    let jobs: Vec<String> = failed_step
        .iter()
        .filter_map(|s| s.get("additionalReportItems")?.as_array().cloned())
        .flatten()
        .filter_map(|i| i.get("jobId").and_then(Value::as_str).map(str::to_string))
        .collect();
    for job in jobs {
        if let Ok(job_log) = client.get_job_log(project, &job).await {
            if !log.ends_with('\n') {
                log.push('\n');
            }
            log.push_str(&format!("--- log of job {job} (failing step) ---\n{job_log}"));
        }
    }
    (Some(log), None, failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_map_to_endings() {
        assert_eq!(state_of(None), "STARTING");
        assert_eq!(state_of(Some(&json!({"runId": "r"}))), "RUNNING");
        let done = json!({"result": {"outcome": "FAILED"}});
        assert_eq!(state_of(Some(&done)), "FAILED");
        assert!(finished(Some(&done)) && !finished(None));
        assert_eq!(ending_of("SUCCESS"), Ending::Done);
        assert_eq!(ending_of("FAILED"), Ending::Failed);
        assert_eq!(ending_of("ABORTED"), Ending::Aborted);
    }
}
