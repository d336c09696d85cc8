//! `kind: Build`: a DSS job dssctl starts after an apply, according to its trigger. This
//! module owns the spec type, the build name rule, the checks of its outputs and timeout, and
//! the names it refers to (its project and the datasets it builds).

use schemars::{JsonSchema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Checks, Kind, KindId, NameRule, RefSink, dataset, items, names, project};
use crate::manifest::kinds::{ObjectMeta, Resource};
use crate::manifest::node::{Node, NodeValue};

/// The kind.
pub static KIND: BuildKind = BuildKind;

/// The word of builds in messages (a build is never in a ledger).
pub const ID: KindId = KindId("build");

/// Build names: letters, digits, `_`, `-` and `.`.
pub static NAME_RULE: NameRule = NameRule {
    what: "a build name",
    allowed: names::dotted_char,
    allowed_text: "letters, digits, _, - and .",
    example: "refresh-customers",
    pattern: Some(names::DOTTED_PATTERN),
    no_edge_spaces: false,
    fixed: None,
};

/// One output of a Build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BuildOutputSpec {
    /// The dataset name.
    pub id: String,
    /// `DATASET` (default), `MANAGED_FOLDER`, `SAVED_MODEL`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["DATASET", "MANAGED_FOLDER", "SAVED_MODEL", null]))]
    pub output_type: Option<String>,
    /// The partition to build (partitioned datasets only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
}

/// `kind: Build`: a DSS job dssctl starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BuildSpec {
    /// What the job builds (at least one output).
    pub outputs: Vec<BuildOutputSpec>,
    /// `RECURSIVE_BUILD` (default), `NON_RECURSIVE_FORCED_BUILD`, `RECURSIVE_FORCED_BUILD`,
    /// `RECURSIVE_MISSING_ONLY_BUILD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["RECURSIVE_BUILD", "NON_RECURSIVE_FORCED_BUILD", "RECURSIVE_FORCED_BUILD", "RECURSIVE_MISSING_ONLY_BUILD", null]))]
    pub mode: Option<String>,
    /// `onChange` (default), `always`, `manual`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["onChange", "always", "manual", null]))]
    pub trigger: Option<String>,
    /// A duration such as `30m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// The `Build` kind.
#[derive(Debug)]
pub struct BuildKind;

impl Kind for BuildKind {
    fn name(&self) -> &'static str {
        "Build"
    }

    fn id(&self) -> KindId {
        ID
    }

    fn description(&self) -> &'static str {
        "A DSS job that dssctl starts after an apply, according to its trigger."
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

    fn name_rule(&self) -> &'static NameRule {
        &NAME_RULE
    }

    fn check_spec(&self, checks: &mut Checks<'_>, spec: &Node) {
        if let Some(timeout) = spec.get("timeout")
            && let Some(text) = timeout.as_str()
            && humantime::parse_duration(text).is_err()
        {
            checks
                .error(
                    timeout.pos,
                    format!("spec.timeout: {} is not a duration", timeout.describe()),
                )
                .hint = Some("e.g. `30m`, `2h`, `90s`".into());
        }
        if let Some(NodeValue::Seq(outputs)) = spec.get("outputs").map(|o| &o.value) {
            if outputs.is_empty() {
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
        for output in items(spec.and_then(|s| s.get("outputs"))) {
            if is_dataset_output(output) {
                refs.push(dataset::ID, output.get("id"), project_key);
            }
        }
    }

    fn parse(&self, meta: ObjectMeta, spec: Value) -> Result<Resource, serde_json::Error> {
        Ok(Resource::Build {
            meta,
            spec: serde_json::from_value(spec)?,
        })
    }
}

/// Whether an output is a dataset (the default type), whose name follows the dataset rule.
fn is_dataset_output(output: &Node) -> bool {
    output
        .get("type")
        .and_then(Node::as_str)
        .is_none_or(|t| t == "DATASET")
}
