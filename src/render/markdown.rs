//! The Markdown plan, for a pull-request comment: a marker line (so a CI job finds and updates
//! its own comment), a header with the counts and the risks (deletions, users and connections
//! created, permission grants and revocations, secrets set or changed), then one collapsible
//! section per resource with a `diff` block. Nothing in it varies between two runs on the same
//! state (no timestamp), so re-posting is idempotent.

use std::fmt::Write as _;

use serde_json::Value;

use crate::kinds::KindDef;
use crate::plan::{Action, Change, Kind, Operation, Plan};

use super::{flow, is_multiline, summary_line, text_diff};

/// Render the plan as Markdown.
pub(crate) fn render_markdown(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "<!-- dssctl-plan stack={} -->", plan.stack);
    let _ = writeln!(out, "### dssctl plan · stack `{}`", plan.stack);
    let _ = writeln!(out);
    let _ = writeln!(out, "Target: `{}`", plan.target);
    let _ = writeln!(out);
    if let Some(scope) = plan.scope.as_ref().filter(|s| !s.is_full()) {
        let _ = writeln!(
            out,
            "**Partial plan:** `{}` (other resources were neither compared nor deleted).",
            scope.describe()
        );
        let _ = writeln!(out);
    }
    if !plan.unchecked.is_empty() {
        let _ = writeln!(
            out,
            "**Secrets not checked** (not resolvable where the plan ran): {}",
            escape(&super::unchecked_line(plan))
        );
        let _ = writeln!(out);
    }
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
        if plan.summary.detect_only > 0 {
            let _ = writeln!(
                out,
                "**No changes to write.** {} detect-only difference(s), shown and not written ({} unchanged).",
                plan.summary.detect_only, plan.summary.unchanged
            );
            let _ = writeln!(out);
            for op in plan.detect_only() {
                section(&mut out, op);
            }
        } else {
            let _ = writeln!(
                out,
                "**No changes.** The instance matches the manifests ({} unchanged).",
                plan.summary.unchanged
            );
        }
        builds(&mut out, plan);
        return out;
    }
    let _ = writeln!(out, "**{}**", summary_line(plan));
    let _ = writeln!(out);
    let risks = risks(plan);
    if risks.is_empty() {
        let _ = writeln!(
            out,
            "Risks: none (no deletion, no permission or secret change, no user or connection created)."
        );
    } else {
        let _ = writeln!(out, "> [!WARNING]");
        for (headline, items) in risks {
            let _ = writeln!(out, "> - {headline}");
            for item in items {
                let _ = writeln!(out, ">   - {item}");
            }
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
    if !plan.released.is_empty() {
        let names: Vec<String> = plan.released.iter().map(|id| format!("`{id}`")).collect();
        let _ = writeln!(
            out,
            "Released (`dssctl.io/prune: \"false\"`): dropped from the ledger, not deleted: {}",
            capped(names, ", ")
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
    capped(
        ops.iter().map(|o| format!("`{} {}`", o.kind, o.name)).collect(),
        ", ",
    )
}

/// At most this many entries in one risk line: a plan that deletes or grants thousands of
/// things must still leave room for the sections in one comment.
const MAX_RISK_ITEMS: usize = 50;

/// At most this many grants named per resource in the header (the section has them all): with
/// [`MAX_RISK_ITEMS`] resources, the header stays well within a comment.
const MAX_GRANTS_PER_RESOURCE: usize = 10;

/// `items` joined by `sep`, cut at [`MAX_RISK_ITEMS`] with the count of the rest.
fn capped(items: Vec<String>, sep: &str) -> String {
    let total = items.len();
    let mut text = items
        .into_iter()
        .take(MAX_RISK_ITEMS)
        .collect::<Vec<_>>()
        .join(sep);
    if total > MAX_RISK_ITEMS {
        let _ = write!(text, "{sep}… and {} more", total - MAX_RISK_ITEMS);
    }
    text
}

/// The risk header: what a reviewer must not miss in a long plan. Every deletion; every user
/// and connection created (new principals and new access to data); every permission granted,
/// revoked or changed, on created resources too (a new project arrives with its grants); every
/// secret set or changed, again on created resources too. Each grant and secret is named, so the
/// header alone says who gets what: the grants as one sub-item per resource.
fn risks(plan: &Plan) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let ops_where = |keep: &dyn Fn(&Operation) -> bool| -> Vec<&Operation> {
        plan.writable().filter(|o| keep(o)).collect()
    };
    let deletes = ops_where(&|o| o.action == Action::Delete);
    if !deletes.is_empty() {
        let dropped = deletes.iter().filter(|o| o.drop_data).count();
        let mut line = format!("**{} deletion(s)**: {}", deletes.len(), names(&deletes));
        if dropped > 0 {
            let _ = write!(line, " ({dropped} with their data dropped)");
        }
        out.push((line, vec![]));
    }
    // In apply order (users before connections), as the operations are listed.
    let mut risky: Vec<_> = crate::kinds::REGISTRY
        .iter()
        .filter_map(|k| Some((k.id(), k.risky_creation()?)))
        .collect();
    risky.sort();
    for (kind, label) in risky {
        let created = ops_where(&|o| o.action == Action::Create && o.kind == kind);
        if !created.is_empty() {
            out.push((
                format!("**{} {label} created**: {}", created.len(), names(&created)),
                vec![],
            ));
        }
    }
    // A detect-only difference is never written: it is no risk of this apply.
    let grants: Vec<String> = plan
        .writable()
        .filter(|o| o.action != Action::Delete)
        .filter_map(|o| {
            let items: Vec<String> = o
                .changes
                .iter()
                .filter(|c| !c.sensitive && is_permission(o.kind, &c.path))
                .filter_map(describe_grant)
                .collect();
            let shown = items.len().min(MAX_GRANTS_PER_RESOURCE);
            let mut line = items[..shown].join("; ");
            if items.len() > shown {
                let _ = write!(line, "; … and {} more", items.len() - shown);
            }
            (!items.is_empty()).then(|| format!("`{} {}`: {line}", o.kind, o.name))
        })
        .collect();
    if !grants.is_empty() {
        let total = grants.len();
        let mut items: Vec<String> = grants.into_iter().take(MAX_RISK_ITEMS).collect();
        if total > MAX_RISK_ITEMS {
            items.push(format!("… and {} more resource(s)", total - MAX_RISK_ITEMS));
        }
        out.push(("**Permissions granted, revoked or changed**:".into(), items));
    }
    let secrets: Vec<String> = plan
        .writable()
        .filter(|o| o.action != Action::Delete)
        .flat_map(|o| {
            let verb = if o.action == Action::Create {
                "set"
            } else {
                "changed"
            };
            o.changes
                .iter()
                .filter(|c| c.sensitive)
                .map(move |c| format!("`{} {}` {} ({verb})", o.kind, o.name, code(&c.path)))
        })
        .collect();
    if !secrets.is_empty() {
        out.push((
            format!("**Secrets set or changed**: {}", capped(secrets, ", ")),
            vec![],
        ));
    }
    out
}

/// Whether a changed field gives or takes away access: project (and any object's) grants and
/// owner, who may use a connection, and what the kind itself says gives access (a user's
/// groups and profile, a group's administrator and `may*` ability flags).
fn is_permission(kind: Kind, path: &str) -> bool {
    path.starts_with("permissions")
        || matches!(path, "owner" | "allowedGroups" | "usableBy" | "usableByAll")
        || kind.def().is_some_and(|k| k.is_access_path(path))
}

/// One permission change in words, or `None` when it grants nothing (an ability created
/// switched off).
fn describe_grant(c: &Change) -> Option<String> {
    let (before, after) = (&c.before, &c.after);
    // A set of names (allowed groups, a user's groups): say who is added and who removed.
    if before.is_array() || after.is_array() {
        let list = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| a.iter().map(flow).collect())
                .unwrap_or_default()
        };
        let (was, now) = (list(before), list(after));
        let added: Vec<String> = now.iter().filter(|n| !was.contains(n)).map(|n| code(n)).collect();
        let removed: Vec<String> = was.iter().filter(|n| !now.contains(n)).map(|n| code(n)).collect();
        let mut parts = Vec::new();
        if !added.is_empty() {
            parts.push(format!("+ {}", added.join(", ")));
        }
        if !removed.is_empty() {
            parts.push(format!("− {}", removed.join(", ")));
        }
        return (!parts.is_empty()).then(|| format!("{} {}", code(&c.path), parts.join(" ")));
    }
    // A grant of `permissions[group=x]` as a whole (granted or revoked), or one of its fields.
    if let Some((who, field)) = c
        .path
        .strip_prefix("permissions[")
        .and_then(|r| r.split_once(']'))
    {
        let who = code(who);
        let field = field.trim_start_matches('.');
        if field.is_empty() {
            return Some(match (before.is_null(), after.is_null()) {
                (true, _) => format!("grant {who} {}", code(&flow(after))),
                (_, true) => format!("revoke {who} (was {})", code(&flow(before))),
                _ => format!("{who} {} → {}", code(&flow(before)), code(&flow(after))),
            });
        }
        return scalar(&format!("{who} {}", code(field)), before, after);
    }
    scalar(&code(&c.path), before, after)
}

/// A flag or scalar in words: an ability switched on or off, an owner, a profile, a grant's type.
fn scalar(what: &str, before: &Value, after: &Value) -> Option<String> {
    Some(match (before, after) {
        (Value::Null, Value::Bool(false)) => return None,
        (Value::Null | Value::Bool(false), Value::Bool(true)) => format!("grant {what}"),
        (Value::Bool(true), Value::Bool(false) | Value::Null) => format!("revoke {what}"),
        (Value::Null, now) => format!("{what} {}", code(&flow(now))),
        (was, now) => format!("{what} {} → {}", code(&flow(was)), code(&flow(now))),
    })
}

/// Inline code that a backtick inside cannot break.
fn code(s: &str) -> String {
    format!("`{}`", s.replace('`', "'"))
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
    if op.policy.detect_only {
        title.push_str(" <b>(detect-only: not written)</b>");
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
        if let Some(reason) = c.unchecked.as_ref().filter(|_| c.sensitive) {
            let _ = writeln!(
                out,
                "! {}: (sensitive, not checked: {})",
                c.path,
                fence_safe(reason)
            );
        } else if c.sensitive {
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
        if let Some(note) = &c.note {
            let _ = writeln!(out, "! note: {}", fence_safe(note));
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

    fn op(kind: Kind, name: &str, action: Action, changes: Vec<Change>) -> Operation {
        Operation {
            kind,
            name: name.into(),
            action,
            subdocuments: vec![],
            changes,
            writes: vec![],
            secrets: vec![],
            ledger: None,
            drop_data: false,
            origin: None,
            fingerprint: None,
            policy: Default::default(),
        }
    }

    fn plan_of(operations: Vec<Operation>) -> Plan {
        let mut plan = Plan {
            format_version: 1,
            target: "t".into(),
            stack: "default".into(),
            summary: Summary::default(),
            operations,
            protected: vec![],
            forget: vec![],
            errors: vec![],
            builds: vec![],
            origins: Default::default(),
            unchecked: vec![],
            scope: None,
            released: vec![],
        };
        plan.recount();
        plan
    }

    #[test]
    fn risks_name_grants_and_secrets_on_created_resources_too() {
        let plan = plan_of(vec![
            op(
                crate::kinds::user::ID,
                "alice",
                Action::Create,
                vec![
                    Change::new("groups", Value::Null, json!(["data_scientists"])),
                    Change::sensitive("password"),
                ],
            ),
            op(
                crate::kinds::group::ID,
                "analysts",
                Action::Create,
                vec![
                    Change::new("mayCreateProjects", Value::Null, json!(false)),
                    Change::new("mayWriteSafeCode", Value::Null, json!(true)),
                ],
            ),
            op(
                crate::kinds::connection::ID,
                "dwh",
                Action::Create,
                vec![
                    Change::new("allowedGroups", Value::Null, json!(["analysts"])),
                    Change::sensitive("params.password"),
                ],
            ),
            op(
                crate::kinds::project::ID,
                "CHURN",
                Action::Create,
                vec![
                    Change::new("label", Value::Null, json!("Churn")),
                    Change::new(
                        "permissions[group=analysts]",
                        Value::Null,
                        json!({"type": "READER"}),
                    ),
                ],
            ),
        ]);
        let risks = risks(&plan);
        assert_eq!(
            risks
                .iter()
                .map(|(headline, items)| (headline.as_str(), items.clone()))
                .collect::<Vec<_>>(),
            vec![
                ("**1 user(s) created**: `user alice`", vec![]),
                ("**1 connection(s) created**: `connection dwh`", vec![]),
                (
                    "**Permissions granted, revoked or changed**:",
                    vec![
                        "`user alice`: `groups` + `data_scientists`".to_string(),
                        "`group analysts`: grant `mayWriteSafeCode`".into(),
                        "`connection dwh`: `allowedGroups` + `analysts`".into(),
                        "`project CHURN`: grant `group=analysts` `{type: READER}`".into(),
                    ]
                ),
                (
                    "**Secrets set or changed**: `user alice` `password` (set), `connection dwh` \
                     `params.password` (set)",
                    vec![]
                ),
            ]
        );
    }

    #[test]
    fn risks_say_what_an_update_revokes_and_changes() {
        let plan = plan_of(vec![
            op(
                crate::kinds::project::ID,
                "SALES",
                Action::Update,
                vec![
                    Change::new("permissions[user=bob]", json!({"type": "READER"}), Value::Null),
                    Change::new(
                        "permissions[group=analysts].type",
                        json!("READER"),
                        json!("ADMIN"),
                    ),
                    Change::new("owner", json!("alice"), json!("carol")),
                    Change::new("tags", json!(["a"]), json!(["b"])),
                ],
            ),
            op(
                crate::kinds::connection::ID,
                "dwh",
                Action::Update,
                vec![
                    Change::new("allowedGroups", json!(["a", "b"]), json!(["b", "c"])),
                    Change::sensitive("params.password"),
                ],
            ),
            op(
                crate::kinds::group::ID,
                "ops",
                Action::Update,
                vec![Change::new("admin", json!(true), json!(false))],
            ),
            op(crate::kinds::dataset::ID, "SALES.old", Action::Delete, vec![]),
        ]);
        let risks = risks(&plan);
        assert_eq!(risks[0].0, "**1 deletion(s)**: `dataset SALES.old`");
        assert_eq!(
            risks[1].1,
            vec![
                "`project SALES`: revoke `user=bob` (was `{type: READER}`); `group=analysts` `type` \
                 `READER` → `ADMIN`; `owner` `alice` → `carol`",
                "`connection dwh`: `allowedGroups` + `c` − `a`",
                "`group ops`: revoke `admin`",
            ]
        );
        assert_eq!(
            risks[2].0,
            "**Secrets set or changed**: `connection dwh` `params.password` (changed)"
        );
        assert_eq!(risks.len(), 3);
    }

    #[test]
    fn a_plan_without_risk_says_so_and_long_risk_lists_are_cut() {
        let quiet = plan_of(vec![op(
            crate::kinds::project::ID,
            "P",
            Action::Update,
            vec![Change::new("label", json!("a"), json!("b"))],
        )]);
        assert!(render_markdown(&quiet).contains("Risks: none"));
        let many = plan_of(
            (0..120)
                .map(|i| op(crate::kinds::group::ID, &format!("g{i}"), Action::Delete, vec![]))
                .collect(),
        );
        let risks = risks(&many);
        let deletions = &risks[0].0;
        assert!(
            deletions.starts_with("**120 deletion(s)**: `group g0`, "),
            "{deletions}"
        );
        assert!(deletions.ends_with(", … and 70 more"), "{deletions}");
    }

    #[test]
    fn a_plan_granting_thousands_of_permissions_still_fits_a_comment() {
        let grants = |p: usize| {
            (0..100)
                .map(|g| {
                    Change::new(
                        format!("permissions[group=a_rather_long_group_name_{g}]"),
                        Value::Null,
                        json!({"type": "ANALYST_READWRITE"}),
                    )
                })
                .chain([Change::sensitive(format!("params.password{p}"))])
                .collect()
        };
        let plan = plan_of(
            (0..1000)
                .map(|p| {
                    op(
                        crate::kinds::project::ID,
                        &format!("PROJECT_{p}"),
                        Action::Create,
                        grants(p),
                    )
                })
                .collect(),
        );
        let out = render_markdown(&plan);
        assert!(out.len() < 65_536, "{}", out.len());
        assert!(out.contains("; … and 90 more"));
        assert!(out.contains(">   - … and 950 more resource(s)"));
        assert!(out.contains("more resource(s), left out to fit a comment"));
    }

    #[test]
    fn a_huge_plan_is_cut_to_fit_a_comment() {
        let op = |i: usize| Operation {
            kind: crate::kinds::group::ID,
            name: format!("g{i}"),
            action: Action::Update,
            subdocuments: vec![crate::plan::SubDoc::DEFINITION],
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
            policy: Default::default(),
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
            unchecked: vec![],
            scope: None,
            released: vec![],
        };
        plan.recount();
        let out = render_markdown(&plan);
        assert!(out.len() < 65_536, "{}", out.len());
        assert!(out.contains("more resource(s), left out to fit a comment"));
        assert!(out.contains("1000 to change"));
    }
}
