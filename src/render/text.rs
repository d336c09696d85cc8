//! The text plan: one line per resource with its action and the sub-documents written, then
//! the changed fields (multi-line strings as a unified diff, secrets as `(sensitive)`, or
//! `(sensitive, not checked: WHY)` when they could not be resolved), the scope of a partial plan, the
//! protected resources kept, the errors, and a summary line.

use std::fmt::Write as _;

use owo_colors::OwoColorize;
use serde_json::Value;

use crate::plan::{Action, Change, Operation, Plan};

use super::{flow, is_multiline, summary_line, text_diff};

/// Width of the `  ~ kind name` column before the sub-documents.
const NAME_COLUMN: usize = 40;

struct Paint {
    on: bool,
}

impl Paint {
    fn action(&self, action: Action, s: &str) -> String {
        if !self.on {
            return s.to_string();
        }
        match action {
            Action::Create => s.green().to_string(),
            Action::Update => s.yellow().to_string(),
            Action::Delete => s.red().to_string(),
            Action::Adopt => s.cyan().to_string(),
        }
    }

    fn sign(&self, sign: char, s: &str) -> String {
        match (self.on, sign) {
            (true, '-') => s.red().to_string(),
            (true, '+') => s.green().to_string(),
            _ => s.to_string(),
        }
    }

    fn dim(&self, s: &str) -> String {
        if self.on {
            s.dimmed().to_string()
        } else {
            s.to_string()
        }
    }

    fn bold(&self, s: &str) -> String {
        if self.on {
            s.bold().to_string()
        } else {
            s.to_string()
        }
    }

    fn error(&self, s: &str) -> String {
        if self.on {
            s.red().bold().to_string()
        } else {
            s.to_string()
        }
    }
}

/// Render the plan as text; `color` adds ANSI colours.
pub(crate) fn render_text(plan: &Plan, color: bool) -> String {
    let paint = Paint { on: color };
    let mut out = String::new();
    if let Some(scope) = plan.scope.as_ref().filter(|s| !s.is_full()) {
        let _ = writeln!(
            out,
            "{} {} (other resources were neither compared nor deleted)",
            paint.bold("Partial plan:"),
            scope.describe()
        );
    }
    for op in &plan.operations {
        operation(&mut out, &paint, op);
    }
    for skip in &plan.protected {
        let _ = writeln!(
            out,
            "  {} {} {} {}",
            paint.dim("!"),
            skip.kind,
            skip.name,
            paint.dim("(protected: kept although no longer declared)")
        );
    }
    for id in &plan.forget {
        let _ = writeln!(
            out,
            "  {} {} {}",
            paint.dim("?"),
            id,
            paint.dim("(gone from the instance: dropped from the ledger)")
        );
    }
    for id in &plan.released {
        let _ = writeln!(
            out,
            "  {} {} {}",
            paint.dim("?"),
            id,
            paint.dim("(dssctl.io/prune: \"false\": dropped from the ledger, not deleted)")
        );
    }
    for err in &plan.errors {
        let _ = writeln!(out, "{} {err}", paint.error("Error:"));
    }
    if !plan.unchecked.is_empty() {
        let _ = writeln!(
            out,
            "{} {}",
            paint.bold("Not checked:"),
            super::unchecked_line(plan)
        );
    }
    if !plan.has_changes() && plan.errors.is_empty() && plan.summary.detect_only > 0 {
        let _ = writeln!(
            out,
            "{} {} detect-only difference(s) shown above, never written ({} unchanged).",
            paint.bold("No changes to write."),
            plan.summary.detect_only,
            plan.summary.unchanged
        );
    } else if !plan.has_changes() && plan.errors.is_empty() {
        let _ = writeln!(
            out,
            "{} The instance matches the manifests ({} unchanged).",
            paint.bold("No changes."),
            plan.summary.unchanged
        );
    } else {
        let _ = writeln!(out, "{}", paint.bold(&summary_line(plan)));
    }
    if !plan.builds.is_empty() {
        let _ = writeln!(out, "Builds:");
        for b in &plan.builds {
            let _ = writeln!(
                out,
                "  {} {}  {}",
                paint.dim(">"),
                b.describe(),
                paint.dim(&format!("{}: {}", b.trigger.as_str(), b.reason))
            );
        }
    }
    out
}

fn operation(out: &mut String, paint: &Paint, op: &Operation) {
    let head = format!("{} {} {}", op.action.symbol(), op.kind, op.name);
    let mut detail: Vec<String> = op.subdocuments.iter().map(|s| s.as_str().to_string()).collect();
    if op.policy.detect_only {
        detail.push("detect-only: not written".into());
    }
    match op.action {
        Action::Adopt => detail.insert(0, "adopt".into()),
        Action::Delete if op.drop_data => detail.push("data dropped".into()),
        _ => {}
    }
    let detail = detail.join(", ");
    let pad = NAME_COLUMN.saturating_sub(head.chars().count() + 2).max(1);
    let _ = writeln!(
        out,
        "  {}{}{}",
        paint.action(op.action, &head),
        if detail.is_empty() {
            String::new()
        } else {
            " ".repeat(pad)
        },
        paint.dim(&detail)
    );
    for change in &op.changes {
        field(out, paint, op.action, change);
    }
}

fn field(out: &mut String, paint: &Paint, action: Action, c: &Change) {
    field_value(out, paint, action, c);
    if let Some(note) = &c.note {
        let _ = writeln!(out, "        {}", paint.dim(&format!("note: {note}")));
    }
}

fn field_value(out: &mut String, paint: &Paint, action: Action, c: &Change) {
    const INDENT: &str = "      ";
    if c.sensitive {
        let what = if let Some(reason) = &c.unchecked {
            format!("(sensitive, not checked: {reason})")
        } else if action == Action::Create {
            "(sensitive)".to_string()
        } else {
            "(sensitive, changed)".to_string()
        };
        let _ = writeln!(out, "{INDENT}{}: {}", c.path, paint.dim(&what));
        return;
    }
    if is_multiline(&c.before) || is_multiline(&c.after) {
        let _ = writeln!(out, "{INDENT}{}:", c.path);
        let before = c.before.as_str().unwrap_or_default();
        let after = c.after.as_str().unwrap_or_default();
        for (sign, line) in text_diff(before, after) {
            let _ = writeln!(out, "{INDENT}  {}", paint.sign(sign, &format!("{sign} {line}")));
        }
        return;
    }
    match (&c.before, &c.after) {
        (Value::Null, after) if action == Action::Create || c.path.ends_with("[+]") => {
            let _ = writeln!(out, "{INDENT}{}: {}", c.path, paint.sign('+', &flow(after)));
        }
        (before, Value::Null) if c.path.ends_with("[-]") => {
            let _ = writeln!(out, "{INDENT}{}: {}", c.path, paint.sign('-', &flow(before)));
        }
        (before, after) => {
            let _ = writeln!(
                out,
                "{INDENT}{}: {} -> {}",
                c.path,
                paint.sign('-', &flow(before)),
                paint.sign('+', &flow(after))
            );
        }
    }
}
