//! The Markdown plan, for a pull-request comment: a marker line (so a CI job finds and updates
//! its own comment), a header with the counts and the risks (deletions, permission changes,
//! secret changes), then one collapsible section per resource with a `diff` block. Nothing in
//! it varies between two runs on the same state (no timestamp), so re-posting is idempotent.

use std::fmt::Write as _;

use crate::plan::{Action, Operation, Plan};

use super::{flow, is_multiline, summary_line, text_diff};

/// Render the plan as Markdown.
pub fn render_markdown(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "<!-- dssctl-plan stack={} -->", plan.stack);
    let _ = writeln!(out, "### dssctl plan · stack `{}`", plan.stack);
    let _ = writeln!(out);
    let _ = writeln!(out, "Target: `{}`", plan.target);
    let _ = writeln!(out);
    if !plan.errors.is_empty() {
        let _ = writeln!(
            out,
            "**:x: {} error(s): this plan cannot be applied.**",
            plan.errors.len()
        );
        let _ = writeln!(out);
        for e in &plan.errors {
            let _ = writeln!(out, "- {}", escape(&e.to_string()));
        }
        let _ = writeln!(out);
    }
    if !plan.has_changes() {
        let _ = writeln!(
            out,
            "**No changes.** The instance matches the manifests ({} unchanged).",
            plan.summary.unchanged
        );
        builds(&mut out, plan);
        return out;
    }
    let _ = writeln!(out, "**{}**", summary_line(plan));
    let _ = writeln!(out);
    let risks = risks(plan);
    if risks.is_empty() {
        let _ = writeln!(out, "Risks: none (no deletion, permission or secret change).");
    } else {
        let _ = writeln!(out, "> [!WARNING]");
        for r in risks {
            let _ = writeln!(out, "> - {r}");
        }
    }
    let _ = writeln!(out);
    if !plan.protected.is_empty() {
        let names: Vec<String> = plan
            .protected
            .iter()
            .map(|p| format!("`{} {}`", p.kind, p.name))
            .collect();
        let _ = writeln!(
            out,
            "Protected, kept although no longer declared: {}",
            names.join(", ")
        );
        let _ = writeln!(out);
    }
    let mut shown = 0;
    for op in &plan.operations {
        let mut sec = String::new();
        section(&mut sec, op);
        if out.len() + sec.len() > MAX_COMMENT_CHARS {
            break;
        }
        out.push_str(&sec);
        shown += 1;
    }
    let hidden = plan.operations.len() - shown;
    if hidden > 0 {
        let _ = writeln!(
            out,
            "_… and {hidden} more resource(s), left out to fit a comment: see `dssctl plan --format json`._"
        );
    }
    builds(&mut out, plan);
    out
}

/// The builds apply would start, as a short list after the resources.
fn builds(out: &mut String, plan: &Plan) {
    if plan.builds.is_empty() {
        return;
    }
    if !out.ends_with("\n\n") {
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "**Builds** apply would start:");
    let _ = writeln!(out);
    for b in &plan.builds {
        let _ = writeln!(
            out,
            "- `{}` ({}: {})",
            b.describe().replace('`', "'"),
            b.trigger.as_str(),
            escape(&b.reason)
        );
    }
}

/// Room for the sections: GitHub refuses comments over 65,536 characters; the header and the
/// closing note stay well within the rest.
const MAX_COMMENT_CHARS: usize = 60_000;

fn names(ops: &[&Operation]) -> String {
    ops.iter()
        .map(|o| format!("`{} {}`", o.kind, o.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn risks(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    let deletes: Vec<&Operation> = plan
        .operations
        .iter()
        .filter(|o| o.action == Action::Delete)
        .collect();
    if !deletes.is_empty() {
        out.push(format!("**{} deletion(s)**: {}", deletes.len(), names(&deletes)));
    }
    let perms: Vec<&Operation> = plan
        .operations
        .iter()
        .filter(|o| o.action != Action::Create && o.has_permission_change())
        .collect();
    if !perms.is_empty() {
        out.push(format!("**Permission changes**: {}", names(&perms)));
    }
    let secrets: Vec<&Operation> = plan
        .operations
        .iter()
        .filter(|o| o.action != Action::Create && o.has_secret_change())
        .collect();
    if !secrets.is_empty() {
        out.push(format!("**Secret changes**: {}", names(&secrets)));
    }
    out
}

fn section(out: &mut String, op: &Operation) {
    let subdocs: Vec<&str> = op.subdocuments.iter().map(|s| s.as_str()).collect();
    let mut title = format!(
        "<code>{} {} {}</code> {}",
        op.action.symbol(),
        op.kind,
        escape(&op.name),
        op.action.as_str()
    );
    if !subdocs.is_empty() {
        let _ = write!(title, ": {}", subdocs.join(", "));
    }
    if op.drop_data {
        title.push_str(" (data dropped)");
    }
    if op.changes.is_empty() {
        let _ = writeln!(out, "- {title}");
        let _ = writeln!(out);
        return;
    }
    let _ = writeln!(out, "<details><summary>{title}</summary>");
    let _ = writeln!(out);
    let _ = writeln!(out, "```diff");
    for c in &op.changes {
        if c.sensitive {
            let _ = writeln!(out, "! {}: (sensitive, changed)", c.path);
        } else if is_multiline(&c.before) || is_multiline(&c.after) {
            let _ = writeln!(out, "  {}:", c.path);
            let before = c.before.as_str().unwrap_or_default();
            let after = c.after.as_str().unwrap_or_default();
            for (sign, line) in text_diff(before, after) {
                let _ = writeln!(out, "{sign}   {}", fence_safe(&line));
            }
        } else {
            if !c.before.is_null() {
                let _ = writeln!(out, "- {}: {}", c.path, fence_safe(&flow(&c.before)));
            }
            if !c.after.is_null() {
                let _ = writeln!(out, "+ {}: {}", c.path, fence_safe(&flow(&c.after)));
            }
            if c.before.is_null() && c.after.is_null() {
                let _ = writeln!(out, "~ {}", c.path);
            }
        }
    }
    let _ = writeln!(out, "```");
    let _ = writeln!(out);
    let _ = writeln!(out, "</details>");
    let _ = writeln!(out);
}

/// Text inside a fenced block must not close it.
fn fence_safe(s: &str) -> String {
    s.replace("```", "`\u{200b}``")
}

/// Markdown/HTML special characters in names and messages.
fn escape(s: &str) -> String {
    // `&` first, so the entities added below are not escaped again.
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Change, Operation, Summary};
    use serde_json::json;

    #[test]
    fn a_huge_plan_is_cut_to_fit_a_comment() {
        let op = |i: usize| Operation {
            kind: crate::kinds::group::ID,
            name: format!("g{i}"),
            action: Action::Update,
            subdocuments: vec![crate::plan::SubDoc::Definition],
            changes: vec![Change::new(
                "description",
                json!("x".repeat(200)),
                json!("y".repeat(200)),
            )],
            writes: vec![],
            secrets: vec![],
            ledger: None,
            drop_data: false,
            origin: None,
            fingerprint: None,
        };
        let mut plan = Plan {
            format_version: 1,
            target: "t".into(),
            stack: "default".into(),
            summary: Summary::default(),
            operations: (0..1000).map(op).collect(),
            protected: vec![],
            forget: vec![],
            errors: vec![],
            builds: vec![],
            origins: Default::default(),
        };
        plan.recount();
        let out = render_markdown(&plan);
        assert!(out.len() < 65_536, "{}", out.len());
        assert!(out.contains("more resource(s), left out to fit a comment"));
        assert!(out.contains("1000 to change"));
    }
}
