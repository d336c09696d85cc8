//! The daemon's status model and page, pure: what each managed resource looks like after a
//! reconcile ([`resource_states`]), the history of the last reconciles, the last failure and
//! the stack lock's holder ([`StatusDoc`], served as JSON at `/api/status`), and the
//! self-contained HTML page of `GET /` ([`render_html`]: inline CSS, no script, a
//! `<meta http-equiv="refresh">`, every string HTML-escaped since names come from files).
//!
//! Nothing here holds a secret value: resources are named by kind and name, plans are
//! summarised by counts, and error texts pass through [`redact`] with the values of the
//! secrets the failed writes sent (the only ones DSS could echo back).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::plan::{Action, Plan, ResourceId};

/// Reconciles kept in the history.
pub(crate) const HISTORY: usize = 20;
/// Seconds between two reloads of the page.
pub(crate) const REFRESH_SECONDS: u32 = 5;

/// The state of one managed resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ResourceState {
    /// Compared with the manifests: nothing differs (or what differed was just written).
    InSync,
    /// Differs from the manifests and was not written (no self-heal, a refusal, the lock).
    Drifted,
    /// Differs, and `dssctl.io/sync: detect-only` keeps it so.
    DetectOnly,
    /// Its write failed, or its plan has an error.
    Failed,
    /// Not compared yet, or no longer declared and waiting for `--prune`.
    Pending,
}

impl ResourceState {
    pub(crate) const ALL: [ResourceState; 5] = [
        Self::InSync,
        Self::Drifted,
        Self::DetectOnly,
        Self::Failed,
        Self::Pending,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::InSync => "in_sync",
            Self::Drifted => "drifted",
            Self::DetectOnly => "detect_only",
            Self::Failed => "failed",
            Self::Pending => "pending",
        }
    }

    /// How the page writes it.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::InSync => "in sync",
            Self::Drifted => "drifted",
            Self::DetectOnly => "detect-only",
            Self::Failed => "failed",
            Self::Pending => "pending",
        }
    }
}

/// One managed resource on the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ResourceStatus {
    /// `group`, `dataset`, ... (as in the text plan).
    pub kind: String,
    pub name: String,
    pub state: ResourceState,
    /// `file:line:column` of its manifest (absent for a resource no longer declared).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Why it is in this state, in a few words (the fields that differ, the error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What a reconcile did with its plan, as far as the resource states are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Applied {
    /// Nothing was written: in sync, drift only reported, a refusal or the lock held by
    /// another run.
    Nothing,
    /// The plan was written; these operations failed (`kind name` → error).
    Written { failed: BTreeMap<ResourceId, String> },
}

/// The states after a reconcile that planned: every declared resource (`declared`, with its
/// origin) and every resource waiting for deletion (`pending_deletes`).
pub(crate) fn resource_states(
    declared: &[(ResourceId, String)],
    plan: &Plan,
    applied: &Applied,
    pending_deletes: &[ResourceId],
) -> Vec<ResourceStatus> {
    let mut out = Vec::new();
    for (id, origin) in declared {
        let error = plan
            .errors
            .iter()
            .find(|e| e.kind == id.kind && e.name == id.name)
            .map(|e| e.message.clone());
        let op = plan
            .operations
            .iter()
            .find(|o| o.kind == id.kind && o.name == id.name);
        let (state, detail) = match (error, op) {
            (Some(error), _) => (ResourceState::Failed, Some(error)),
            (None, None) => (ResourceState::InSync, None),
            (None, Some(op)) => {
                let fields = fields_of(op);
                if op.policy.detect_only {
                    (ResourceState::DetectOnly, fields)
                } else {
                    match applied {
                        Applied::Written { failed } => match failed.get(id) {
                            Some(error) => (ResourceState::Failed, Some(error.clone())),
                            None => (ResourceState::InSync, None),
                        },
                        Applied::Nothing => (
                            ResourceState::Drifted,
                            Some(format!(
                                "{} not applied{}",
                                op.action.as_str(),
                                fields.map(|f| format!(": {f}")).unwrap_or_default()
                            )),
                        ),
                    }
                }
            }
        };
        out.push(ResourceStatus {
            kind: id.kind.to_string(),
            name: id.name.clone(),
            state,
            origin: Some(origin.clone()),
            detail,
        });
    }
    let deleted = |id: &ResourceId| {
        plan.operations
            .iter()
            .any(|o| o.action == Action::Delete && o.kind == id.kind && o.name == id.name)
    };
    for id in pending_deletes.iter().filter(|id| !deleted(id)) {
        out.push(ResourceStatus {
            kind: id.kind.to_string(),
            name: id.name.clone(),
            state: ResourceState::Pending,
            origin: None,
            detail: Some("no longer declared: deleted only with --prune".into()),
        });
    }
    out.sort_by(|a, b| (&a.kind, &a.name).cmp(&(&b.kind, &b.name)));
    out
}

/// The declared resources before any comparison (at start, or when the live state could not
/// be read): all pending.
pub(crate) fn pending(declared: &[(ResourceId, String)], why: &str) -> Vec<ResourceStatus> {
    declared
        .iter()
        .map(|(id, origin)| ResourceStatus {
            kind: id.kind.to_string(),
            name: id.name.clone(),
            state: ResourceState::Pending,
            origin: Some(origin.clone()),
            detail: Some(why.to_string()),
        })
        .collect()
}

/// The changed fields of an operation, by path only (never a value: a value may be a secret's
/// neighbour, and the page is for states).
fn fields_of(op: &crate::plan::Operation) -> Option<String> {
    const SHOWN: usize = 4;
    let paths: Vec<&str> = op.changes.iter().map(|c| c.path.as_str()).collect();
    if paths.is_empty() {
        return None;
    }
    let mut text = paths[..paths.len().min(SHOWN)].join(", ");
    if paths.len() > SHOWN {
        let _ = write!(text, " and {} more", paths.len() - SHOWN);
    }
    Some(text)
}

/// `text` with every occurrence of `values` (resolved secrets) replaced by `(redacted)`.
/// Values shorter than 4 characters are left: they would blank out ordinary words.
pub(crate) fn redact(text: &str, values: &[String]) -> String {
    let mut out = text.to_string();
    for v in values.iter().filter(|v| v.chars().count() >= 4) {
        out = out.replace(v.as_str(), "(redacted)");
    }
    out
}

/// One reconcile in the history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ReconcileRecord {
    /// When it ended (RFC 3339, UTC).
    pub at: String,
    /// `change` (start, or an edit of the manifests) or `interval` (drift check).
    pub trigger: &'static str,
    /// `success`, `error` or `invalid` (as in `dssctl_reconciles_total`).
    pub result: &'static str,
    pub seconds: f64,
    /// The plan in one line (`1 to add, 0 to change, ...`), or what stopped it.
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The last failed reconcile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct LastFailure {
    pub at: String,
    pub error: String,
}

/// The stack lock as the last reconcile saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct LockStatus {
    /// Who holds it (`user@host pid N (command)`, and the CI job when there is one).
    pub holder: String,
    /// Whether the holder is this daemon.
    pub mine: bool,
}

/// Everything `/api/status` serves and `/` shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct StatusDoc {
    pub stack: String,
    /// The instance's URL (never with credentials).
    pub target: String,
    /// The watched manifest directory.
    pub dir: String,
    pub interval_seconds: f64,
    pub self_heal: bool,
    pub prune: bool,
    /// When the daemon started (RFC 3339, UTC).
    pub started_at: String,
    /// Whether `/readyz` answers 200.
    pub ready: bool,
    /// How many resources are in each state (every state present, 0 included).
    pub counts: BTreeMap<&'static str, usize>,
    pub resources: Vec<ResourceStatus>,
    /// The last reconciles, most recent first (at most [`HISTORY`]).
    pub reconciles: Vec<ReconcileRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<LastFailure>,
    /// The stack lock, when one is held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<LockStatus>,
}

/// Counts per state, every state present.
pub(crate) fn counts(resources: &[ResourceStatus]) -> BTreeMap<&'static str, usize> {
    let mut out: BTreeMap<&'static str, usize> = ResourceState::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    for r in resources {
        *out.entry(r.state.as_str()).or_default() += 1;
    }
    out
}

/// `s` safe in HTML text and in a quoted attribute.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
:root{--fg:#1f2328;--muted:#656d76;--line:#d0d7de;--bg:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:var(--fg);background:#fff}
header{padding:16px 28px;background:var(--bg);border-bottom:1px solid var(--line)}
h1{margin:0 0 4px;font-size:20px}
h2{font-size:16px;margin:26px 0 8px}
main{padding:4px 28px 28px}
.meta{color:var(--muted)}
.meta code{color:var(--fg)}
.cards{display:flex;gap:10px;flex-wrap:wrap;margin:16px 0 0}
.card{border:1px solid var(--line);border-radius:8px;padding:8px 14px;min-width:110px;background:#fff}
.card b{display:block;font-size:22px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--bg);font-weight:600}
td.small,.small{color:var(--muted);font-size:12px}
td.nowrap{white-space:nowrap}
.badge{display:inline-block;padding:1px 9px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap}
.in_sync,.success{background:#dafbe1;color:#116329}
.drifted{background:#fff8c5;color:#7d4e00}
.detect_only{background:#ddf4ff;color:#0550ae}
.failed,.error{background:#ffebe9;color:#a40e26}
.pending,.invalid{background:#eaeef2;color:#424a53}
.alert{border:1px solid #ff818266;background:#ffebe9;border-radius:8px;padding:10px 14px;margin:16px 0 0}
.lock{border:1px solid #54aeff66;background:#ddf4ff;border-radius:8px;padding:10px 14px;margin:16px 0 0}
pre{white-space:pre-wrap;margin:6px 0 0;font-size:12px}
";

/// The status page.
pub(crate) fn render_html(doc: &StatusDoc) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>dssctl watch · {}</title><style>{STYLE}</style></head><body>\n",
        escape(&doc.stack)
    );
    let _ = write!(
        out,
        "<header><h1>dssctl watch · stack <code>{}</code></h1>\
         <div class=\"meta\">Target <code>{}</code> · manifests <code>{}</code> · every {} · \
         self-heal {} · prune {} · started {} · {}</div>\n<div class=\"cards\">",
        escape(&doc.stack),
        escape(&doc.target),
        escape(&doc.dir),
        escape(
            &humantime::format_duration(std::time::Duration::from_secs_f64(doc.interval_seconds)).to_string()
        ),
        if doc.self_heal { "on" } else { "off" },
        if doc.prune { "on" } else { "off" },
        escape(&doc.started_at),
        if doc.ready {
            "<span class=\"badge success\">ready</span>"
        } else {
            "<span class=\"badge pending\">not ready</span>"
        }
    );
    for state in ResourceState::ALL {
        let _ = write!(
            out,
            "<div class=\"card\"><b>{}</b><span class=\"badge {}\">{}</span></div>",
            doc.counts.get(state.as_str()).copied().unwrap_or(0),
            state.as_str(),
            state.label()
        );
    }
    out.push_str("</div></header>\n<main>\n");
    if let Some(lock) = &doc.lock {
        let _ = writeln!(
            out,
            "<div class=\"lock\"><b>Stack lock</b> held by <code>{}</code>{}</div>",
            escape(&lock.holder),
            if lock.mine { " (this daemon)" } else { "" }
        );
    }
    if let Some(failure) = &doc.last_failure {
        let _ = writeln!(
            out,
            "<div class=\"alert\"><b>Last failure</b> <span class=\"small\">{}</span><pre>{}</pre></div>",
            escape(&failure.at),
            escape(&failure.error)
        );
    }
    let _ = write!(
        out,
        "<h2>Resources ({})</h2>\n<table id=\"resources\"><thead><tr><th>State</th><th>Kind</th>\
         <th>Name</th><th>Detail</th><th>Manifest</th></tr></thead><tbody>\n",
        doc.resources.len()
    );
    if doc.resources.is_empty() {
        out.push_str("<tr><td colspan=\"5\" class=\"small\">No resource yet.</td></tr>\n");
    }
    for r in &doc.resources {
        let _ = writeln!(
            out,
            "<tr data-state=\"{}\"><td><span class=\"badge {}\">{}</span></td><td>{}</td>\
             <td><code>{}</code></td><td>{}</td><td class=\"small\">{}</td></tr>",
            r.state.as_str(),
            r.state.as_str(),
            r.state.label(),
            escape(&r.kind),
            escape(&r.name),
            escape(r.detail.as_deref().unwrap_or("")),
            escape(r.origin.as_deref().unwrap_or(""))
        );
    }
    out.push_str("</tbody></table>\n");
    let _ = write!(
        out,
        "<h2>Last reconciles</h2>\n<table id=\"reconciles\"><thead><tr><th>Time (UTC)</th>\
         <th>Trigger</th><th>Outcome</th><th>Took</th><th>Plan</th></tr></thead><tbody>\n"
    );
    if doc.reconciles.is_empty() {
        out.push_str("<tr><td colspan=\"5\" class=\"small\">The first reconcile is running.</td></tr>\n");
    }
    for r in &doc.reconciles {
        let _ = writeln!(
            out,
            "<tr><td class=\"nowrap\">{}</td><td>{}</td><td><span class=\"badge {}\">{}</span></td>\
             <td class=\"nowrap\">{:.2} s</td><td>{}{}</td></tr>",
            escape(&r.at),
            escape(r.trigger),
            escape(r.result),
            escape(r.result),
            r.seconds,
            escape(&r.summary),
            r.error
                .as_deref()
                .map(|e| format!("<div class=\"small\">{}</div>", escape(e)))
                .unwrap_or_default()
        );
    }
    let _ = write!(
        out,
        "</tbody></table>\n<p class=\"small\">Read-only; refreshed every {REFRESH_SECONDS} s. \
         The same data as JSON: <a href=\"/api/status\">/api/status</a> · \
         <a href=\"/metrics\">/metrics</a></p>\n</main></body></html>\n"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::group;
    use crate::plan::fixtures::operation;
    use crate::plan::{PlanError, Summary};

    fn plan(ops: Vec<crate::plan::Operation>, errors: Vec<PlanError>) -> Plan {
        let mut plan = Plan {
            format_version: crate::plan::FORMAT_VERSION,
            target: "t".into(),
            stack: "s".into(),
            summary: Summary::default(),
            operations: ops,
            protected: vec![],
            forget: vec![],
            released: vec![],
            errors,
            builds: vec![],
            origins: Default::default(),
            unchecked: vec![],
            scope: None,
        };
        plan.recount();
        plan
    }

    fn declared(names: &[&str]) -> Vec<(ResourceId, String)> {
        names
            .iter()
            .map(|n| (ResourceId::new(group::ID, *n), format!("g.yaml:{}:1", n.len())))
            .collect()
    }

    fn state_of(states: &[ResourceStatus], name: &str) -> ResourceState {
        states.iter().find(|r| r.name == name).unwrap().state
    }

    #[test]
    fn each_resource_gets_its_state() {
        let mut watched = operation(group::ID, "watched", Action::Update);
        watched.policy.detect_only = true;
        watched
            .changes
            .push(crate::plan::Change::new("description", "a".into(), "b".into()));
        let p = plan(
            vec![
                operation(group::ID, "changed", Action::Update),
                watched,
                operation(group::ID, "broken", Action::Create),
                operation(group::ID, "old", Action::Delete),
            ],
            vec![PlanError {
                kind: group::ID,
                name: "invalid".into(),
                origin: None,
                message: "refers to a missing connection".into(),
                hint: None,
            }],
        );
        let names = ["same", "changed", "watched", "broken", "invalid"];
        let gone = [
            ResourceId::new(group::ID, "old"),
            ResourceId::new(group::ID, "older"),
        ];
        let failed: BTreeMap<ResourceId, String> = [(
            ResourceId::new(group::ID, "broken"),
            "HTTP 400: bad name".to_string(),
        )]
        .into();
        let written = resource_states(&declared(&names), &p, &Applied::Written { failed }, &gone);
        assert_eq!(state_of(&written, "same"), ResourceState::InSync);
        assert_eq!(state_of(&written, "changed"), ResourceState::InSync);
        assert_eq!(state_of(&written, "watched"), ResourceState::DetectOnly);
        assert_eq!(state_of(&written, "broken"), ResourceState::Failed);
        assert_eq!(state_of(&written, "invalid"), ResourceState::Failed);
        // Deleted by this apply: not listed; left for --prune: pending.
        assert!(written.iter().all(|r| r.name != "old"));
        assert_eq!(state_of(&written, "older"), ResourceState::Pending);
        let watched = written.iter().find(|r| r.name == "watched").unwrap();
        assert_eq!(watched.detail.as_deref(), Some("description"));

        let reported = resource_states(&declared(&names), &p, &Applied::Nothing, &[]);
        assert_eq!(state_of(&reported, "changed"), ResourceState::Drifted);
        assert_eq!(state_of(&reported, "broken"), ResourceState::Drifted);
        assert_eq!(state_of(&reported, "watched"), ResourceState::DetectOnly);
        let c = counts(&reported);
        assert_eq!(
            (
                c["in_sync"],
                c["drifted"],
                c["detect_only"],
                c["failed"],
                c["pending"]
            ),
            (1, 2, 1, 1, 0)
        );
        assert!(
            pending(&declared(&["a"]), "not compared yet")
                .iter()
                .all(|r| r.state == ResourceState::Pending)
        );
    }

    #[test]
    fn secrets_sent_are_redacted_from_errors() {
        let text = redact(
            "DSS said: password s3cr3t-value rejected; ab kept",
            &["s3cr3t-value".into(), "ab".into()],
        );
        assert_eq!(text, "DSS said: password (redacted) rejected; ab kept");
    }

    fn doc(resources: Vec<ResourceStatus>) -> StatusDoc {
        StatusDoc {
            stack: "prod".into(),
            target: "http://dss".into(),
            dir: "manifests".into(),
            interval_seconds: 60.0,
            self_heal: true,
            prune: false,
            started_at: "2026-01-01T00:00:00Z".into(),
            ready: true,
            counts: counts(&resources),
            resources,
            reconciles: vec![ReconcileRecord {
                at: "2026-01-01T00:00:01Z".into(),
                trigger: "change",
                result: "error",
                seconds: 0.25,
                summary: "1 to add".into(),
                error: Some("group <b>: failed".into()),
            }],
            last_failure: Some(LastFailure {
                at: "2026-01-01T00:00:01Z".into(),
                error: "x < y & \"z\"".into(),
            }),
            lock: Some(LockStatus {
                holder: "ops@ci pid 1 (apply)".into(),
                mine: false,
            }),
        }
    }

    #[test]
    fn the_page_escapes_every_string_and_refreshes_itself() {
        let html = render_html(&doc(vec![ResourceStatus {
            kind: "group".into(),
            name: "<script>alert('x')</script>".into(),
            state: ResourceState::Drifted,
            origin: Some("a&b.yaml:1:1".into()),
            detail: Some("update not applied".into()),
        }]));
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(html.contains("a&amp;b.yaml:1:1"));
        assert!(html.contains("x &lt; y &amp; &quot;z&quot;"));
        assert!(html.contains("group &lt;b&gt;: failed"));
        assert!(html.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
        assert!(html.contains("held by <code>ops@ci pid 1 (apply)</code>"));
        assert!(html.contains("data-state=\"drifted\""));
        // Self-contained: no external asset, no script.
        for banned in ["<script", "<link", "src=", "http-equiv=\"refresh\" content=\"5;"] {
            assert!(!html.contains(banned), "{banned} in the page");
        }
    }

    #[test]
    fn the_json_has_every_state_counted() {
        let json = serde_json::to_value(doc(vec![])).unwrap();
        assert_eq!(json["counts"]["detect_only"], 0);
        assert_eq!(json["counts"].as_object().unwrap().len(), 5);
        assert_eq!(json["lock"]["holder"], "ops@ci pid 1 (apply)");
        assert_eq!(json["reconciles"][0]["trigger"], "change");
    }
}
