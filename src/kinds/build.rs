//! `kind: Build`: a DSS job (or a scenario run, with `scenario`) dssctl starts after an apply,
//! according to its trigger. This module owns the spec type, the build name rule, the checks of
//! its outputs, scenario and timeout, and the names it refers to (its project, the datasets it
//! builds, the scenario it runs).

use schemars::SchemaGenerator;
use serde_json::Value;

/// The spec types are the manifest's (`manifest::specs`): the build runner and the planner's
/// build triggers read them too.
pub(crate) use crate::manifest::specs::{BuildSpec, parse_duration};

use super::{Checks, Kind, KindId, NameRule, RefSink, dataset, items, names, project, scenario};
use super::{KindApply, KindExport, KindObserve, KindPlan, KindSpec};
use crate::manifest::kinds::{ObjectMeta, Resource};
use crate::manifest::node::{Node, NodeValue};

/// The kind.
pub(crate) static KIND: BuildKind = BuildKind;

super::register!(KIND, 150);

/// The word of builds in messages (a build is never in a ledger).
pub(crate) const ID: KindId = KindId("build");

/// Build names: letters, digits, `_`, `-` and `.`.
pub(crate) static NAME_RULE: NameRule = NameRule {
    what: "a build name",
    allowed: names::dotted_char,
    allowed_text: "letters, digits, _, - and .",
    example: "refresh-customers",
    pattern: Some(names::DOTTED_PATTERN),
    no_edge_spaces: false,
    fixed: None,
};

/// The `Build` kind.
#[derive(Debug)]
pub(crate) struct BuildKind;

impl KindSpec for BuildKind {
    fn name(&self) -> &'static str {
        "Build"
    }

    fn id(&self) -> KindId {
        ID
    }

    fn description(&self) -> &'static str {
        "A DSS job, or a scenario run, that dssctl starts after an apply, according to its trigger."
    }

    fn spec_schema(&self, generator: &mut SchemaGenerator) -> Value {
        generator.subschema_for::<BuildSpec>().to_value()
    }

    fn spec_required(&self) -> bool {
        true
    }

    fn in_project(&self) -> bool {
        true
    }

    fn is_resource(&self) -> bool {
        false
    }

    fn name_rule(&self) -> &'static NameRule {
        &NAME_RULE
    }

    fn check_spec(&self, checks: &mut Checks<'_>, spec: &Node) {
        if let Some(timeout) = spec.get("timeout")
            && let Some(text) = timeout.as_str()
            && let Err(err) = parse_duration(text)
        {
            // Checked here, at its line: the typed spec refuses the same values.
            let message = if humantime::parse_duration(text).is_err() {
                format!("spec.timeout: {} is not a duration", timeout.describe())
            } else {
                format!("spec.timeout: {err}")
            };
            checks.error(timeout.pos, message).hint = Some("e.g. `30m`, `2h`, `90s`".into());
        }
        let scenario = spec.get("scenario");
        if let Some(s) = scenario {
            checks.name("spec.scenario", s, &scenario::NAME_RULE);
            for field in ["outputs", "mode"] {
                if let Some(n) = spec.get(field) {
                    checks
                        .error(
                            n.pos,
                            format!("spec.{field}: a build that runs a scenario has no {field}"),
                        )
                        .hint = Some(
                        "the scenario's steps say what it builds: remove this field, or `scenario`".into(),
                    );
                }
            }
        } else if spec.get("outputs").is_none() {
            checks
                .error(
                    spec.pos,
                    "spec: a build needs `outputs` (a job) or `scenario` (a scenario run)",
                )
                .hint = Some("e.g. `outputs: [{id: customers}]` or `scenario: NIGHTLY`".into());
        }
        if let Some(NodeValue::Seq(outputs)) = spec.get("outputs").map(|o| &o.value) {
            if outputs.is_empty() && scenario.is_none() {
                checks
                    .error(
                        spec.get("outputs").map_or(spec.pos, |o| o.pos),
                        "spec.outputs: a build needs at least one output",
                    )
                    .hint = Some("e.g. `outputs: [{id: customers}]`".into());
            }
            for (i, output) in outputs.iter().enumerate() {
                if let Some(id) = output.get("id").filter(|_| is_dataset_output(output)) {
                    checks.name(&format!("spec.outputs[{i}].id"), id, &dataset::NAME_RULE);
                }
            }
        }
    }

    fn references<'n>(&self, meta: Option<&'n Node>, spec: Option<&'n Node>, refs: &mut RefSink<'_, 'n>) {
        let project_node = meta.and_then(|m| m.get("project"));
        refs.push(project::ID, project_node, None);
        let project_key = project_node.and_then(Node::as_str);
        refs.push(scenario::ID, spec.and_then(|s| s.get("scenario")), project_key);
        for output in items(spec.and_then(|s| s.get("outputs"))) {
            if is_dataset_output(output) {
                refs.push(dataset::ID, output.get("id"), project_key);
            }
        }
    }

    fn parse(&self, meta: ObjectMeta, spec: Value) -> Result<Resource, serde_json::Error> {
        Ok(Resource::new(
            &KIND,
            meta,
            serde_json::from_value::<BuildSpec>(spec)?,
        ))
    }
}

impl KindPlan for BuildKind {}

impl KindObserve for BuildKind {}

impl KindApply for BuildKind {}

impl KindExport for BuildKind {}

impl Kind for BuildKind {}

/// Whether an output is a dataset (the default type), whose name follows the dataset rule.
fn is_dataset_output(output: &Node) -> bool {
    output
        .get("type")
        .and_then(Node::as_str)
        .is_none_or(|t| t == "DATASET")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::manifest::specs::{BuildMode, Trigger};

    use super::*;
    use serde_json::json;

    #[test]
    fn build_fields_are_typed_when_read() {
        let spec: BuildSpec = serde_json::from_value(
            json!({"outputs": [{"id": "x"}], "mode": "RECURSIVE_FORCED_BUILD", "trigger": "always", "timeout": "1h30m"}),
        )
        .unwrap();
        assert_eq!(spec.mode, Some(BuildMode::RecursiveForcedBuild));
        assert_eq!(spec.trigger, Some(Trigger::Always));
        assert_eq!(spec.timeout, Some(Duration::from_secs(5400)));
        // Written back as it reads.
        let back = serde_json::to_value(&spec).unwrap();
        assert_eq!(back["timeout"], "1h 30m");
        assert_eq!(serde_json::from_value::<BuildSpec>(back).unwrap(), spec);
        for bad in [
            json!({"outputs": [], "timeout": "30"}),
            json!({"outputs": [], "timeout": "0s"}),
            json!({"outputs": [], "mode": "FAST"}),
            json!({"outputs": [], "trigger": "sometimes"}),
        ] {
            assert!(serde_json::from_value::<BuildSpec>(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_build_may_run_a_scenario_instead() {
        let spec: BuildSpec =
            serde_json::from_value(json!({"scenario": "NIGHTLY", "timeout": "10m"})).unwrap();
        assert!(spec.outputs.is_empty());
        assert_eq!(spec.scenario.as_deref(), Some("NIGHTLY"));
        let request = crate::build::BuildRequest::from_manifest("SALES", &spec).unwrap();
        assert_eq!(request.scenario.as_deref(), Some("NIGHTLY"));
        assert_eq!(request.timeout, Some(Duration::from_secs(600)));
        assert_eq!(request.output_names(), vec!["scenario NIGHTLY"]);
        // Written back without the empty outputs.
        assert_eq!(
            serde_json::to_value(&spec).unwrap(),
            json!({"scenario": "NIGHTLY", "timeout": "10m"})
        );
    }
}
