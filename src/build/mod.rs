//! Builds: start a DSS job for some outputs and follow it to its end.
//!
//! This module owns the part of `dssctl build` that does not touch the terminal: the build
//! modes, the duration syntax, the job definition sent to DSS, and [`run_build`], which starts
//! the job, polls it, aborts it on timeout or cancellation (and waits for DSS to acknowledge the
//! abort), and fetches the job log when the job did not succeed. [`command`] is the CLI edge
//! (progress on stderr, signals, output formats). `apply` can reuse [`BuildRequest::from_manifest`]
//! and [`run_build`] for `Build` manifests.

pub(crate) mod report;
mod scenario;

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::{ClientError, DssClient};
use crate::manifest::specs::BuildSpec;
pub(crate) use crate::manifest::specs::{BuildMode, parse_duration};
use crate::wire::{JOB_TERMINAL_STATES, JobDefinition, JobOutput, JobState};

/// How long to wait for DSS to acknowledge an abort (the job reaching a terminal state) before
/// giving up and saying so.
pub(crate) const ABORT_GRACE: Duration = Duration::from_secs(60);

/// Parse one output as given on the command line: `NAME` (a dataset of the build's project) or
/// `PROJECT.NAME` (a dataset of another project; DSS dataset names cannot contain dots).
pub(crate) fn parse_output(text: &str) -> Result<JobOutput, String> {
    let text = text.trim();
    let (project, id) = match text.split_once('.') {
        Some((project, id)) => (Some(project), id),
        None => (None, text),
    };
    if id.is_empty() || project.is_some_and(str::is_empty) || id.contains('.') {
        return Err(format!(
            "invalid output {text:?}: expected a dataset name, or PROJECT.DATASET"
        ));
    }
    Ok(JobOutput {
        output_type: Some("DATASET".into()),
        id: id.to_string(),
        project_key: project.map(str::to_string),
        partition: None,
    })
}

/// What to build and how to follow it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BuildRequest {
    /// The project the job runs in.
    pub project: String,
    pub outputs: Vec<JobOutput>,
    pub mode: BuildMode,
    /// Abort the job when it has not ended after this long; `None` waits forever.
    pub timeout: Option<Duration>,
    /// Time between two status reads.
    pub poll: Duration,
    /// Run this scenario of the project instead of a job (`outputs` and `mode` unused).
    pub scenario: Option<String>,
}

/// Default time between two status reads.
pub(crate) const DEFAULT_POLL: Duration = Duration::from_secs(1);

impl BuildRequest {
    /// A request from command-line words: the project key and the outputs.
    pub(crate) fn new(project: &str, outputs: &[String], mode: BuildMode) -> Result<Self, String> {
        let project = project.trim();
        if project.is_empty() {
            return Err("the project key is empty".into());
        }
        if outputs.is_empty() {
            return Err("give at least one output to build".into());
        }
        let outputs = outputs
            .iter()
            .map(|o| parse_output(o))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(BuildRequest {
            project: project.to_string(),
            outputs,
            mode,
            timeout: None,
            poll: DEFAULT_POLL,
            scenario: None,
        })
    }

    /// A request to run scenario `id` of `project` and follow the run to its outcome.
    pub(crate) fn scenario(project: &str, id: &str) -> Result<Self, String> {
        let project = project.trim();
        if project.is_empty() {
            return Err("the project key is empty".into());
        }
        if id.trim().is_empty() {
            return Err("the scenario id is empty".into());
        }
        Ok(BuildRequest {
            project: project.to_string(),
            outputs: Vec::new(),
            mode: BuildMode::default(),
            timeout: None,
            poll: DEFAULT_POLL,
            scenario: Some(id.trim().to_string()),
        })
    }

    /// A request from a `Build` manifest of `project`.
    pub(crate) fn from_manifest(project: &str, spec: &BuildSpec) -> Result<Self, String> {
        if let Some(id) = &spec.scenario {
            let mut request = BuildRequest::scenario(project, id)?;
            request.timeout = spec.timeout;
            return Ok(request);
        }
        if spec.outputs.is_empty() {
            return Err("a Build needs at least one output".into());
        }
        // Mode and timeout were parsed (and checked) when the manifest was loaded.
        let mode = spec.mode.unwrap_or_default();
        let timeout = spec.timeout;
        let outputs = spec
            .outputs
            .iter()
            .map(|o| JobOutput {
                output_type: Some(o.output_type.clone().unwrap_or_else(|| "DATASET".into())),
                id: o.id.clone(),
                project_key: None,
                partition: o.partition.clone().map(serde_json::Value::String),
            })
            .collect();
        Ok(BuildRequest {
            project: project.to_string(),
            outputs,
            mode,
            timeout,
            poll: DEFAULT_POLL,
            scenario: None,
        })
    }

    /// The body of `POST /projects/{key}/jobs/`.
    pub(crate) fn definition(&self) -> JobDefinition {
        JobDefinition {
            job_type: Some(self.mode.as_str().to_string()),
            outputs: self.outputs.clone(),
            ..JobDefinition::default()
        }
    }

    /// The outputs as a user writes them (`name`, or `PROJECT.name` for another project); for
    /// a scenario run, `scenario ID`.
    pub(crate) fn output_names(&self) -> Vec<String> {
        if let Some(id) = &self.scenario {
            return vec![format!("scenario {id}")];
        }
        self.outputs
            .iter()
            .map(|o| match &o.project_key {
                Some(p) if *p != self.project => format!("{p}.{}", o.id),
                _ => o.id.clone(),
            })
            .collect()
    }
}

/// How a build ended, from dssctl's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Ending {
    /// The job ended DONE.
    Done,
    /// The job ended FAILED.
    Failed,
    /// The job ended ABORTED, aborted by someone else.
    Aborted,
    /// The job passed the timeout; dssctl aborted it.
    TimedOut,
    /// dssctl was asked to stop (Ctrl-C); it aborted the job.
    Interrupted,
}

impl Ending {
    fn from_terminal_state(state: &str) -> Ending {
        match state {
            "DONE" => Ending::Done,
            "FAILED" => Ending::Failed,
            _ => Ending::Aborted,
        }
    }
}

/// The result of a followed build.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BuildOutcome {
    pub project: String,
    pub job_id: String,
    pub ending: Ending,
    /// The last state DSS reported (`DONE`, `FAILED`, `ABORTED`, or a running state when an
    /// abort was not acknowledged in time).
    pub state: String,
    /// From the start request to the end of the job (or of the wait for the abort).
    pub duration: Duration,
    /// Whether DSS confirmed the abort dssctl requested (`None` when dssctl aborted nothing).
    pub abort_acknowledged: Option<bool>,
    /// DSS's own explanation of a failure (`baseStatus.unexpectedFailure.message`).
    pub failure: Option<String>,
    /// The job log, fetched when the job did not end DONE.
    pub log: Option<String>,
    /// Why the log could not be fetched, when it could not.
    pub log_error: Option<String>,
    /// The scenario of a scenario run (`job_id` is then the run's id).
    pub scenario: Option<String>,
}

impl BuildOutcome {
    /// Whether the build succeeded (exit 0).
    pub(crate) fn succeeded(&self) -> bool {
        self.ending == Ending::Done
    }
}

/// What [`run_build`] reports while it runs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum BuildEvent<'a> {
    /// DSS accepted the job.
    Started { job_id: &'a str },
    /// The job's state changed (first seen state included).
    State { state: &'a str, elapsed: Duration },
    /// dssctl is aborting the job, because of `reason` (timeout or cancellation).
    Aborting { reason: Ending, elapsed: Duration },
}

/// Failures that leave the build's fate unknown or that prevented it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BuildError {
    #[error("cannot start the job in project {project}: {error}")]
    Start { project: String, error: ClientError },
    #[error("lost track of job {job_id} in project {project} (it may still be running): {error}")]
    Follow {
        project: String,
        job_id: String,
        error: ClientError,
    },
    #[error("cannot run scenario {scenario} in project {project}: {why}")]
    Scenario {
        project: String,
        scenario: String,
        why: String,
    },
    #[error("cannot abort job {job_id} in project {project} (it may still be running): {error}")]
    Abort {
        project: String,
        job_id: String,
        error: ClientError,
    },
}

fn is_terminal(state: &JobState) -> bool {
    JOB_TERMINAL_STATES.contains(&state.base_status.state.as_str())
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Start the job of `request` and follow it to its end.
///
/// The job is aborted when `request.timeout` passes or `cancel` fires; then dssctl waits (up to
/// [`ABORT_GRACE`]) for DSS to report a terminal state, so that it never leaves a job running
/// behind the user's back without saying so. A cancellation that arrives while the start
/// request is in flight is honoured as soon as DSS has answered with the job id. When the job
/// does not end DONE, its log is fetched into the outcome.
pub(crate) async fn run_build(
    client: &DssClient,
    request: &BuildRequest,
    cancel: &CancellationToken,
    mut progress: impl FnMut(BuildEvent<'_>),
) -> Result<BuildOutcome, BuildError> {
    if let Some(id) = &request.scenario {
        return scenario::run_scenario(client, request, id, cancel, progress).await;
    }
    let project = request.project.as_str();
    let started_at = Instant::now();
    let started = client
        .start_job(project, &request.definition())
        .await
        .map_err(|error| BuildError::Start {
            project: project.to_string(),
            error,
        })?;
    let job_id = started.id;
    progress(BuildEvent::Started { job_id: &job_id });
    let follow_err = |error| BuildError::Follow {
        project: project.to_string(),
        job_id: job_id.clone(),
        error,
    };

    // A timeout too large for the clock is no timeout at all.
    let deadline = request.timeout.and_then(|t| started_at.checked_add(t));
    let mut last_state = String::new();
    let mut last: Option<JobState> = None;
    let stop = loop {
        // Checked before each read: a cancellation or an expired deadline wins over one more
        // status read (with `--timeout 1ms` the job is aborted before its first poll).
        if cancel.is_cancelled() {
            break Some(Ending::Interrupted);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break Some(Ending::TimedOut);
        }
        let polled = tokio::select! {
            biased;
            () = cancel.cancelled() => break Some(Ending::Interrupted),
            () = sleep_until_opt(deadline) => break Some(Ending::TimedOut),
            polled = client.get_job(project, &job_id) => polled.map_err(follow_err)?,
        };
        if polled.base_status.state != last_state {
            last_state.clone_from(&polled.base_status.state);
            progress(BuildEvent::State {
                state: &last_state,
                elapsed: started_at.elapsed(),
            });
        }
        let done = is_terminal(&polled);
        last = Some(polled);
        if done {
            break None;
        }
        tokio::select! {
            biased;
            () = cancel.cancelled() => break Some(Ending::Interrupted),
            () = sleep_until_opt(deadline) => break Some(Ending::TimedOut),
            () = tokio::time::sleep(request.poll) => {}
        }
    };

    let mut abort_acknowledged = None;
    let ending = match stop {
        None => Ending::from_terminal_state(&last_state),
        Some(reason) => {
            progress(BuildEvent::Aborting {
                reason,
                elapsed: started_at.elapsed(),
            });
            let (state, acknowledged) = abort_and_wait(
                client,
                project,
                &job_id,
                (request.poll, started_at),
                &last_state,
                &mut progress,
            )
            .await?;
            last_state.clone_from(&state.base_status.state);
            last = Some(state);
            abort_acknowledged = Some(acknowledged);
            reason
        }
    };

    let failure = last
        .as_ref()
        .and_then(|s| s.base_status.unexpected_failure.as_ref())
        .map(|f| f.message.clone())
        .filter(|m| !m.is_empty());
    let (log, log_error) = if ending == Ending::Done {
        (None, None)
    } else {
        match client.get_job_log(project, &job_id).await {
            Ok(log) => (Some(log), None),
            Err(err) => (None, Some(err.to_string())),
        }
    };
    Ok(BuildOutcome {
        project: project.to_string(),
        job_id,
        ending,
        state: last_state,
        duration: started_at.elapsed(),
        abort_acknowledged,
        failure,
        log,
        log_error,
        scenario: None,
    })
}

/// Ask DSS to abort the job, then read its state until it is terminal or [`ABORT_GRACE`] has
/// passed. Answers the last state read and whether the job reached a terminal state.
async fn abort_and_wait(
    client: &DssClient,
    project: &str,
    job_id: &str,
    (poll, started_at): (Duration, Instant),
    last_state: &str,
    progress: &mut impl FnMut(BuildEvent<'_>),
) -> Result<(JobState, bool), BuildError> {
    let abort_err = |error| BuildError::Abort {
        project: project.to_string(),
        job_id: job_id.to_string(),
        error,
    };
    let requested = client.abort_job(project, job_id).await;
    let grace_end = Instant::now() + ABORT_GRACE;
    // Poll faster than usual: the user is waiting for the prompt back.
    let poll = poll.min(Duration::from_millis(200));
    // Only changes are reported: the state seen before the abort is not repeated.
    let mut last_reported = last_state.to_string();
    loop {
        let state = match client.get_job(project, job_id).await {
            Ok(state) => state,
            // The abort call's own error explains more than the status read's; when the abort
            // was accepted, what failed is following the job.
            Err(err) => {
                return Err(match requested {
                    Err(abort) => abort_err(abort),
                    Ok(()) => BuildError::Follow {
                        project: project.to_string(),
                        job_id: job_id.to_string(),
                        error: err,
                    },
                });
            }
        };
        if state.base_status.state != last_reported {
            last_reported.clone_from(&state.base_status.state);
            progress(BuildEvent::State {
                state: &last_reported,
                elapsed: started_at.elapsed(),
            });
        }
        if is_terminal(&state) {
            return Ok((state, true));
        }
        // Not terminal and the abort request itself failed: DSS did not take it.
        if let Err(err) = requested {
            return Err(abort_err(err));
        }
        if Instant::now() >= grace_end {
            return Ok((state, false));
        }
        tokio::time::sleep(poll).await;
    }
}

#[cfg(test)]
mod tests;
