//! Rendering a plan for people (text, coloured on a terminal), machines (the versioned JSON
//! document of [`crate::plan::model`]) and pull requests (Markdown). Rendering is pure: the
//! caller decides where the output goes and whether colour is wanted.
//!
//! No secret value can appear here: the plan holds none (sensitive changes carry no values,
//! secret fields are references).

mod markdown;
mod text;

use serde_json::Value;

use crate::plan::Plan;

pub(crate) use markdown::render_markdown;
pub(crate) use text::render_text;

/// Output formats of a plan (`plan --format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Text,
    Json,
    Markdown,
}

/// Output formats of the other results (`apply`'s report, `build`'s result, `validate`'s
/// findings): for people or for machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutputFormat {
    Text,
    Json,
}

/// Render `plan` in `format`; `color` only affects text.
pub(crate) fn render(plan: &Plan, format: Format, color: bool) -> String {
    match format {
        Format::Text => render_text(plan, color),
        Format::Json => render_json(plan),
        Format::Markdown => render_markdown(plan),
    }
}

/// The plan as its JSON document (`format_version` 1), pretty-printed, newline-terminated.
pub(crate) fn render_json(plan: &Plan) -> String {
    let mut out = serde_json::to_string_pretty(plan).expect("a plan always serialises");
    out.push('\n');
    out
}

/// Whether a value is best shown as a line diff.
pub(crate) fn is_multiline(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.trim_end_matches('\n').contains('\n'))
}

/// A value on one line, in YAML flow style: `{name: id, type: bigint}`, `[a, b]`, `"two words"`.
pub(crate) fn flow(v: &Value) -> String {
    match v {
        Value::Null => "(none)".into(),
        Value::String(s) => {
            let plain = !s.is_empty()
                && s.chars().all(|c| {
                    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '$' | '{' | '}' | '@')
                })
                && !matches!(s.as_str(), "true" | "false" | "null")
                && s.parse::<f64>().is_err();
            if plain {
                s.clone()
            } else {
                serde_json::to_string(s).expect("strings serialise")
            }
        }
        Value::Array(items) => format!("[{}]", items.iter().map(flow).collect::<Vec<_>>().join(", ")),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{k}: {}", flow(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// The secrets a plan could not resolve, in one line: `connection dwh params.password (DWH_PASSWORD
/// is not set; apply must send it)`, comma-separated.
pub(crate) fn unchecked_line(plan: &Plan) -> String {
    plan.unchecked
        .iter()
        .map(|u| {
            format!(
                "{} {} {} ({}{})",
                u.kind,
                u.name,
                u.path,
                u.reason,
                if u.sent {
                    "; apply must send it"
                } else {
                    "; not compared, not written"
                }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The summary sentence: `Plan: 1 to add, 3 to change, 1 to delete, 2 to adopt, 212 unchanged.`
pub(crate) fn summary_line(plan: &Plan) -> String {
    let s = &plan.summary;
    let mut parts = vec![
        format!("{} to add", s.create),
        format!("{} to change", s.update),
        format!("{} to delete", s.delete),
    ];
    if s.adopt > 0 {
        parts.push(format!("{} to adopt", s.adopt));
    }
    parts.push(format!("{} unchanged", s.unchanged));
    if s.detect_only > 0 {
        parts.push(format!("{} detect-only (not written)", s.detect_only));
    }
    format!("Plan: {}.", parts.join(", "))
}

/// Lines of a unified diff between two texts: `(' ' | '-' | '+', line)`, with three lines of
/// context and `…` between distant hunks.
pub(crate) fn text_diff(before: &str, after: &str) -> Vec<(char, String)> {
    let diff = similar::TextDiff::from_lines(before, after);
    let mut out = Vec::new();
    for (i, group) in diff.grouped_ops(3).iter().enumerate() {
        if i > 0 {
            out.push((' ', "…".to_string()));
        }
        for op in group {
            for change in diff.iter_changes(op) {
                let sign = match change.tag() {
                    similar::ChangeTag::Equal => ' ',
                    similar::ChangeTag::Delete => '-',
                    similar::ChangeTag::Insert => '+',
                };
                let line = change.to_string_lossy();
                out.push((sign, line.trim_end_matches(['\n', '\r']).to_string()));
            }
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod sample {
    //! The plan every renderer is snapshotted with: creates, updates, deletes, adoptions, a
    //! permission change, a secret change, a multi-line description change, a protected skip.

    use serde_json::json;

    use crate::kinds::simulate::{entry_for, simulate_apply};
    use crate::plan::fixtures::{declared, resolver, sample};
    use crate::plan::{Plan, PlanInput, plan};

    pub(crate) fn sample_plan() -> Plan {
        let mut desired = sample();
        let mut observed = simulate_apply(&desired, &resolver);
        // Drift and edits.
        let p = crate::kinds::project::live_mut(&mut observed)
            .unwrap()
            .get_mut("CHURN")
            .unwrap();
        p.metadata.as_mut().unwrap().description = Some("Predicts churn from billing data.\n".into());
        let perms = p.permissions.as_mut().unwrap();
        let g = perms
            .permissions
            .iter_mut()
            .find(|g| g.group.as_deref() == Some("analysts"))
            .unwrap();
        g.flags.clear();
        g.flags.insert("type".into(), json!("READER"));
        let ds = p.datasets.as_mut().unwrap().get_mut("customers").unwrap();
        ds.definition.schema.as_mut().unwrap().columns.pop();
        if let Some(spec) = desired[3]
            .resource
            .spec_mut::<crate::kinds::connection::ConnectionSpec>()
        {
            spec.params
                .as_mut()
                .unwrap()
                .insert("password".into(), json!({"fromEnv": "ROTATED"}));
        }
        // A resource to create, one to delete, two to adopt, one protected.
        desired.push(declared(
            "Group",
            json!({"name": "data_engineers"}),
            json!({"description": "Data engineers"}),
            70,
        ));
        let ledger = observed.ledger.as_mut().unwrap();
        ledger.remove(&crate::plan::ResourceId::new(crate::kinds::user::ID, "alice"));
        ledger.remove(&crate::plan::ResourceId::new(
            crate::kinds::variables::ID,
            "global",
        ));
        ledger.insert(entry_for(crate::kinds::user::ID, "bob"));
        let mut kept = entry_for(crate::kinds::project::ID, "LEGACY");
        kept.protect = true;
        ledger.insert(kept);
        crate::kinds::user::live_mut(&mut observed).unwrap().insert(
            "bob".into(),
            serde_json::from_value(json!({"login": "bob", "displayName": "Bob"})).unwrap(),
        );
        crate::kinds::project::live_mut(&mut observed).unwrap().insert(
            "LEGACY".into(),
            crate::kinds::project::ObservedProject {
                summary: serde_json::from_value(json!({"projectKey": "LEGACY"})).unwrap(),
                ..Default::default()
            },
        );
        let mut plan = plan(&PlanInput {
            desired: &desired,
            observed: &observed,
            stack: "default",
            target: "http://127.0.0.1:11200",
            resolve_secret: &resolver,
        });
        plan.summary.unchanged += 200;
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flow_style_quotes_only_when_needed() {
        assert_eq!(
            flow(&json!({"name": "signup_date", "type": "date"})),
            "{name: signup_date, type: date}"
        );
        assert_eq!(flow(&json!(["a", "b c"])), "[a, \"b c\"]");
        assert_eq!(flow(&json!("true")), "\"true\"");
        assert_eq!(flow(&json!("42")), "\"42\"");
        assert_eq!(flow(&json!(0.7)), "0.7");
        assert_eq!(flow(&Value::Null), "(none)");
    }

    #[test]
    fn text_diffs_show_context_and_changes() {
        let d = text_diff("a\nb\nc\n", "a\nB\nc\n");
        assert_eq!(
            d,
            vec![
                (' ', "a".into()),
                ('-', "b".into()),
                ('+', "B".into()),
                (' ', "c".into())
            ]
        );
        assert!(is_multiline(&json!("a\nb")));
        assert!(!is_multiline(&json!("a\n")));
    }

    #[test]
    fn json_follows_the_documented_schema_and_has_no_secret() {
        let plan = sample::sample_plan();
        let out = render_json(&plan);
        let doc: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(doc["format_version"], crate::plan::FORMAT_VERSION);
        assert_eq!(doc["stack"], "default");
        for key in ["create", "update", "delete", "unchanged"] {
            assert!(doc["summary"][key].is_u64(), "{key}");
        }
        for op in doc["operations"].as_array().unwrap() {
            for key in ["kind", "name", "action", "subdocuments", "changes"] {
                assert!(op.get(key).is_some(), "{key} in {op}");
            }
            for c in op["changes"].as_array().unwrap() {
                assert!(c.get("path").is_some() && c.get("before").is_some() && c.get("after").is_some());
            }
        }
        for secret in ["s3cr3t-dwh", "alice-pw-1", "rotated-value"] {
            assert!(!out.contains(secret));
            assert!(!render_text(&plan, true).contains(secret));
            assert!(!render_markdown(&plan).contains(secret));
        }
    }

    #[test]
    fn snapshots_of_the_three_formats() {
        let plan = sample::sample_plan();
        insta::assert_snapshot!("plan_text", render_text(&plan, false));
        insta::assert_snapshot!("plan_markdown", render_markdown(&plan));
        insta::assert_snapshot!("plan_json", render_json(&plan));
    }

    #[test]
    fn colour_is_only_added_when_asked() {
        let plan = sample::sample_plan();
        assert!(!render_text(&plan, false).contains('\u{1b}'));
        assert!(render_text(&plan, true).contains('\u{1b}'));
    }
}
