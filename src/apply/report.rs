//! The apply report: every operation with its outcome (done, failed with the reason, skipped
//! because of which failed dependency), the warnings (managed fields DSS dropped or changed,
//! backups written), and a summary line; as text for people or as a versioned JSON document
//! (`format_version` 1) for machines. Nothing here can hold a secret value: operations carry
//! references only and errors never include request bodies.

use serde::Serialize;

use super::builds::BuildReport;
use super::executor::Outcome;
use crate::plan::{Action, Operation, Plan};

/// Version of the JSON report.
pub(crate) const REPORT_FORMAT_VERSION: u32 = 1;

/// One operation's line of the report.
#[derive(Debug, Serialize)]
pub(crate) struct OperationReport {
    pub kind: String,
    pub name: String,
    pub action: Action,
    /// `done`, `failed` or `skipped`.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For a skipped operation: the failed or skipped operation it depended on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped_because: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// What a write did beyond its PUT (a package installation's outcome).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
}

/// Counts of the summary line.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub(crate) struct ReportSummary {
    pub created: usize,
    pub updated: usize,
    pub adopted: usize,
    pub deleted: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// The whole report.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub format_version: u32,
    pub target: String,
    pub stack: String,
    pub summary: ReportSummary,
    pub operations: Vec<OperationReport>,
    /// Run-level errors (the ledger could not be written, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// The builds started after the writes (absent when none was triggered).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub builds: Vec<BuildReport>,
}

impl Report {
    pub(crate) fn new(plan: &Plan, ops: &[Operation], outcomes: Vec<Outcome>, errors: Vec<String>) -> Report {
        let mut summary = ReportSummary::default();
        let operations = ops
            .iter()
            .zip(outcomes)
            .map(|(op, outcome)| {
                let mut r = OperationReport {
                    kind: op.kind.to_string(),
                    name: op.name.clone(),
                    action: op.action,
                    outcome: "done",
                    error: None,
                    skipped_because: None,
                    warnings: Vec::new(),
                    notes: Vec::new(),
                    backup: None,
                };
                match outcome {
                    Outcome::Done(done) => {
                        match op.action {
                            Action::Create => summary.created += 1,
                            Action::Update => summary.updated += 1,
                            Action::Adopt => summary.adopted += 1,
                            Action::Delete => summary.deleted += 1,
                        }
                        r.warnings = done.warnings;
                        r.notes = done.notes;
                        r.backup = done.backup.map(|p| p.display().to_string());
                    }
                    Outcome::Failed(f) => {
                        summary.failed += 1;
                        r.outcome = "failed";
                        r.error = Some(f.message);
                        r.warnings = f.warnings;
                    }
                    Outcome::Skipped(because) => {
                        summary.skipped += 1;
                        r.outcome = "skipped";
                        r.skipped_because = Some(because);
                    }
                }
                r
            })
            .collect();
        Report {
            format_version: REPORT_FORMAT_VERSION,
            target: plan.target.clone(),
            stack: plan.stack.clone(),
            summary,
            operations,
            errors,
            builds: Vec::new(),
        }
    }

    /// The report with the builds that ran after the writes.
    pub(crate) fn with_builds(mut self, builds: Vec<BuildReport>) -> Report {
        self.builds = builds;
        self
    }

    /// Whether every operation succeeded.
    pub(crate) fn operations_succeeded(&self) -> bool {
        self.summary.failed == 0 && self.summary.skipped == 0 && self.errors.is_empty()
    }

    /// Whether everything succeeded, builds included (exit 0).
    pub(crate) fn success(&self) -> bool {
        self.operations_succeeded() && self.builds.iter().all(BuildReport::succeeded)
    }

    /// The builds' part of the text report: one line each, then a count.
    pub(crate) fn builds_text(&self) -> String {
        let mut out = String::new();
        if self.builds.is_empty() {
            return out;
        }
        out.push_str("Builds:\n");
        for b in &self.builds {
            out.push_str(&b.to_text());
        }
        let done = self.builds.iter().filter(|b| b.succeeded()).count();
        let skipped = self.builds.iter().filter(|b| b.outcome == "skipped").count();
        let failed = self.builds.len() - done - skipped;
        out.push_str(&format!(
            "Builds: {done} succeeded, {failed} failed, {skipped} skipped.\n"
        ));
        out
    }

    /// The JSON document, pretty-printed, newline-terminated.
    pub(crate) fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a report always serialises");
        s.push('\n');
        s
    }

    /// The text report.
    pub(crate) fn to_text(&self) -> String {
        let mut out = String::new();
        for r in &self.operations {
            let what = format!("{} {}", r.kind, r.name);
            let line = match r.outcome {
                "done" => format!("  {} {what}: {}\n", r.action.symbol(), past(r.action)),
                "failed" => format!(
                    "  ! {what}: {} failed: {}\n",
                    r.action.as_str(),
                    r.error.as_deref().unwrap_or("")
                ),
                _ => format!(
                    "  ? {what}: skipped, it depends on {}, which did not complete\n",
                    r.skipped_because.as_deref().unwrap_or("another operation")
                ),
            };
            out.push_str(&line);
            if let Some(b) = &r.backup {
                out.push_str(&format!("      backup: {b}\n"));
            }
            for n in &r.notes {
                out.push_str(&format!("      note: {n}\n"));
            }
            for w in &r.warnings {
                out.push_str(&format!("      warning: {w}\n"));
            }
        }
        for e in &self.errors {
            out.push_str(&format!("error: {e}\n"));
        }
        let s = &self.summary;
        let head = if self.operations_succeeded() {
            "Apply complete"
        } else {
            "Apply incomplete"
        };
        out.push_str(&format!(
            "{head}: {} created, {} updated, {} adopted, {} deleted, {} failed, {} skipped.\n",
            s.created, s.updated, s.adopted, s.deleted, s.failed, s.skipped
        ));
        out.push_str(&self.builds_text());
        out
    }
}

fn past(action: Action) -> &'static str {
    match action {
        Action::Create => "created",
        Action::Update => "updated",
        Action::Adopt => "adopted",
        Action::Delete => "deleted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::writes::{Done, Failed};
    use crate::plan::{Kind, Summary};

    fn op(kind: Kind, name: &str, action: Action) -> Operation {
        crate::plan::fixtures::operation(kind, name, action)
    }

    #[test]
    fn every_outcome_is_listed_and_counted() {
        let plan = Plan {
            format_version: 1,
            target: "http://dss".into(),
            stack: "default".into(),
            summary: Summary::default(),
            operations: vec![],
            protected: vec![],
            forget: vec![],
            errors: vec![],
            builds: vec![],
            origins: Default::default(),
            unchecked: vec![],
            scope: None,
            released: vec![],
        };
        let ops = vec![
            op(crate::kinds::project::ID, "A", Action::Create),
            op(crate::kinds::dataset::ID, "A.x", Action::Create),
            op(crate::kinds::group::ID, "g", Action::Delete),
        ];
        let outcomes = vec![
            Outcome::Failed(Failed {
                message: "boom".into(),
                may_exist: false,
                warnings: vec![],
            }),
            Outcome::Skipped("project A".into()),
            Outcome::Done(Done {
                warnings: vec!["w".into()],
                notes: vec!["n".into()],
                backup: None,
                dss_id: None,
            }),
        ];
        let report = Report::new(&plan, &ops, outcomes, vec![]);
        assert!(!report.success());
        assert_eq!(
            report.summary,
            ReportSummary {
                deleted: 1,
                failed: 1,
                skipped: 1,
                ..Default::default()
            }
        );
        let text = report.to_text();
        assert!(text.contains("! project A: create failed: boom"), "{text}");
        assert!(
            text.contains("? dataset A.x: skipped, it depends on project A"),
            "{text}"
        );
        assert!(
            text.contains("- group g: deleted\n      note: n\n      warning: w"),
            "{text}"
        );
        assert!(text.ends_with(
            "Apply incomplete: 0 created, 0 updated, 0 adopted, 1 deleted, 1 failed, 1 skipped.\n"
        ));
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["operations"][1]["outcome"], "skipped");
        assert_eq!(json["format_version"], 1);
    }
}
