//! The builds of an apply: after the writes, start the `Build` manifests the plan triggers
//! ([`crate::plan::builds`]), concurrently up to `--parallelism`, each only when every
//! operation of its project succeeded; follow them with [`crate::build::run_build`] (the one
//! job runner), show their progress on stderr and the log of a failed one, and report each as
//! a [`BuildReport`]. Builds are not operations: they are never counted as such and never
//! reach the ledger.

use std::io::Write as _;
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::executor::Outcome;
use crate::build::report::{fmt_elapsed, print_log};
use crate::build::{BuildEvent, BuildRequest, Ending, run_build};
use crate::client::DssClient;
use crate::plan::Operation;
use crate::plan::builds::{PlannedBuild, Trigger, belongs_to};

/// One build's line of the apply report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct BuildReport {
    pub name: String,
    pub project: String,
    pub trigger: Trigger,
    /// Why it ran (or would have).
    pub reason: String,
    /// `done`, `failed`, `aborted`, `timed_out`, `interrupted`, `error` (the job could not be
    /// started or followed) or `skipped` (an operation of its project did not complete).
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The job's last state reported by DSS (`DONE`, `FAILED`, `ABORTED`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// From the start request to the end of the job, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The job log, when the job did not end DONE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

impl BuildReport {
    fn new(build: &PlannedBuild, outcome: &'static str) -> BuildReport {
        BuildReport {
            name: build.name.clone(),
            project: build.project.clone(),
            trigger: build.trigger,
            reason: build.reason.clone(),
            outcome,
            job_id: None,
            state: None,
            duration_ms: None,
            error: None,
            log: None,
        }
    }

    pub(crate) fn succeeded(&self) -> bool {
        self.outcome == "done"
    }

    /// The report's text line (and the line under it, for an error).
    pub(crate) fn to_text(&self) -> String {
        let what = format!("build {} ({})", self.name, self.project);
        let job = self
            .job_id
            .as_deref()
            .map(|id| format!("job {id} "))
            .unwrap_or_default();
        let took = self
            .duration_ms
            .map(|ms| format!(" in {}", fmt_elapsed(Duration::from_millis(ms))))
            .unwrap_or_default();
        let state = self.state.as_deref().unwrap_or("");
        let mut line = match self.outcome {
            "done" => format!("  > {what}: {job}{state}{took}\n"),
            "skipped" => format!("  ? {what}: skipped, {}\n", self.error.as_deref().unwrap_or("")),
            "error" => format!("  ! {what}: {}\n", self.error.as_deref().unwrap_or("")),
            "timed_out" => format!("  ! {what}: {job}timed out{took}, aborted ({state})\n"),
            "interrupted" => format!("  ! {what}: {job}interrupted{took}, aborted ({state})\n"),
            _ => format!("  ! {what}: {job}{state}{took}\n"),
        };
        if let (Some(e), "failed" | "aborted" | "timed_out" | "interrupted") = (&self.error, self.outcome) {
            line.push_str(&format!("      {e}\n"));
        }
        line
    }
}

/// Why a build of `project` must not start: the first operation of that project that did not
/// complete.
fn blocker(project: &str, ops: &[Operation], outcomes: &[Outcome]) -> Option<String> {
    ops.iter()
        .zip(outcomes)
        .find(|(op, outcome)| belongs_to(op, project) && !outcome.is_ok())
        .map(|(op, _)| format!("{} did not complete", op.id()))
}

/// Run `builds` (in the order given in the result), `ops`/`outcomes` being what the apply did.
pub(crate) async fn run(
    client: &DssClient,
    builds: &[PlannedBuild],
    ops: &[Operation],
    outcomes: &[Outcome],
    parallelism: usize,
) -> Vec<BuildReport> {
    if builds.is_empty() {
        return Vec::new();
    }
    // Ctrl-C aborts the running jobs instead of leaving them behind.
    let cancel = CancellationToken::new();
    let watcher = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.cancel();
            }
        })
    };
    let cancel_ref = &cancel;
    let mut reports: Vec<(usize, BuildReport)> = futures::stream::iter(builds.iter().enumerate())
        .map(|(i, build)| async move {
            let report = match blocker(&build.project, ops, outcomes) {
                Some(why) => {
                    let mut r = BuildReport::new(build, "skipped");
                    r.error = Some(why);
                    r
                }
                None => one(client, build, cancel_ref).await,
            };
            (i, report)
        })
        .buffer_unordered(parallelism.max(1))
        .collect()
        .await;
    watcher.abort();
    reports.sort_by_key(|(i, _)| *i);
    reports.into_iter().map(|(_, r)| r).collect()
}

/// Start and follow one build.
async fn one(client: &DssClient, build: &PlannedBuild, cancel: &CancellationToken) -> BuildReport {
    let request = match BuildRequest::from_manifest(&build.project, &build.spec) {
        Ok(r) => r,
        Err(e) => {
            let mut r = BuildReport::new(build, "error");
            r.error = Some(format!("invalid Build: {e}"));
            return r;
        }
    };
    let name = &build.name;
    let progress = |event: BuildEvent<'_>| {
        let line = match event {
            BuildEvent::Started { job_id } => format!("build {name}: job {job_id} started"),
            BuildEvent::State { state, elapsed } => {
                format!("build {name}: {state} ({})", fmt_elapsed(elapsed))
            }
            BuildEvent::Aborting { reason, elapsed } => {
                let why = if reason == Ending::TimedOut {
                    "timeout passed"
                } else {
                    "interrupted"
                };
                format!("build {name}: {why}, aborting the job ({})", fmt_elapsed(elapsed))
            }
        };
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    };
    match run_build(client, &request, cancel, progress).await {
        Err(e) => {
            let mut r = BuildReport::new(build, "error");
            r.error = Some(e.to_string());
            r
        }
        Ok(outcome) => {
            let label = match outcome.ending {
                Ending::Done => "done",
                Ending::Failed => "failed",
                Ending::Aborted => "aborted",
                Ending::TimedOut => "timed_out",
                Ending::Interrupted => "interrupted",
            };
            if !outcome.succeeded() {
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "build {name}: job {} ended {}",
                    outcome.job_id,
                    outcome.state
                );
                print_log(&outcome);
            }
            let mut r = BuildReport::new(build, label);
            r.job_id = Some(outcome.job_id.clone());
            r.state = Some(outcome.state.clone());
            r.duration_ms = Some(u64::try_from(outcome.duration.as_millis()).unwrap_or(u64::MAX));
            r.error = outcome.failure.clone().or_else(|| {
                (outcome.abort_acknowledged == Some(false))
                    .then(|| "DSS did not confirm the abort: the job may still be running".into())
            });
            r.log = outcome.log.clone();
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::writes::{Done, Failed};
    use crate::kinds::build::BuildSpec;
    use crate::plan::{Action, Kind};

    fn op(kind: Kind, name: &str) -> Operation {
        Operation {
            kind,
            name: name.into(),
            action: Action::Create,
            subdocuments: vec![],
            changes: vec![],
            writes: vec![],
            secrets: vec![],
            ledger: None,
            drop_data: false,
            origin: None,
            fingerprint: None,
            policy: Default::default(),
        }
    }

    #[test]
    fn a_build_waits_for_every_operation_of_its_project() {
        let ops = vec![
            op(crate::kinds::project::ID, "A"),
            op(crate::kinds::dataset::ID, "B.x"),
            op(crate::kinds::group::ID, "g"),
        ];
        let done = || {
            Outcome::Done(Done {
                warnings: vec![],
                notes: vec![],
                backup: None,
                dss_id: None,
            })
        };
        let failed = || {
            Outcome::Failed(Failed {
                message: "boom".into(),
                may_exist: false,
                warnings: vec![],
            })
        };
        let outcomes = vec![done(), failed(), failed()];
        assert_eq!(blocker("A", &ops, &outcomes), None);
        assert_eq!(
            blocker("B", &ops, &outcomes).as_deref(),
            Some("dataset B.x did not complete")
        );
    }

    #[test]
    fn text_lines_name_the_job_its_state_and_the_failure() {
        let build = PlannedBuild {
            name: "refresh".into(),
            project: "A".into(),
            trigger: Trigger::Always,
            reason: "always".into(),
            origin: None,
            spec: BuildSpec {
                outputs: vec![],
                scenario: None,
                mode: None,
                trigger: None,
                timeout: None,
            },
        };
        let mut r = BuildReport::new(&build, "failed");
        r.job_id = Some("J1".into());
        r.state = Some("FAILED".into());
        r.duration_ms = Some(1500);
        r.error = Some("no such dataset".into());
        assert_eq!(
            r.to_text(),
            "  ! build refresh (A): job J1 FAILED in 1.5s\n      no such dataset\n"
        );
        assert!(!r.succeeded());
        let mut ok = BuildReport::new(&build, "done");
        ok.job_id = Some("J2".into());
        ok.state = Some("DONE".into());
        ok.duration_ms = Some(200);
        assert_eq!(ok.to_text(), "  > build refresh (A): job J2 DONE in 0.2s\n");
        let json = serde_json::to_value(&ok).unwrap();
        assert_eq!(json["job_id"], "J2");
        assert_eq!(json["trigger"], "always");
        assert!(json.get("log").is_none());
    }
}
