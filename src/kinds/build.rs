//! `kind: Build`: a DSS job (or a scenario run, with `scenario`) dssctl starts after an apply,
//! according to its trigger. This module owns the spec type, the build name rule, the checks of
//! its outputs, scenario and timeout, and the names it refers to (its project, the datasets it
//! builds, the scenario it runs).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use schemars::{JsonSchema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::KindSpec;
use super::{Checks, Kind, KindId, NameRule, RefSink, dataset, items, names, project, scenario};
use crate::manifest::kinds::{ObjectMeta, Resource};
use crate::manifest::node::{Node, NodeValue};

/// The kind.
pub static KIND: BuildKind = BuildKind;

super::register!(KIND, 150);

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

/// `kind: Build`: a DSS job dssctl starts, or a scenario it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BuildSpec {
    /// What the job builds (at least one output); not given when `scenario` is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<BuildOutputSpec>,
    /// The id of a scenario of the project to run instead of a job (`outputs` and `mode` are
    /// then not given): the build follows the run to its outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// `RECURSIVE_BUILD` (default), `NON_RECURSIVE_FORCED_BUILD`, `RECURSIVE_FORCED_BUILD`,
    /// `RECURSIVE_MISSING_ONLY_BUILD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    #[schemars(extend("enum" = ["RECURSIVE_BUILD", "NON_RECURSIVE_FORCED_BUILD", "RECURSIVE_FORCED_BUILD", "RECURSIVE_MISSING_ONLY_BUILD", null]))]
    pub mode: Option<BuildMode>,
    /// `onChange` (default), `always`, `manual`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    #[schemars(extend("enum" = ["onChange", "always", "manual", null]))]
    pub trigger: Option<Trigger>,
    /// A duration such as `30m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "timeout_text")]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Duration>,
}

/// The `Build` kind.
#[derive(Debug)]
pub struct BuildKind;

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

impl Kind for BuildKind {}

/// Whether an output is a dataset (the default type), whose name follows the dataset rule.
fn is_dataset_output(output: &Node) -> bool {
    output
        .get("type")
        .and_then(Node::as_str)
        .is_none_or(|t| t == "DATASET")
}

/// The job types DSS accepts for a build (`JobDefinition.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BuildMode {
    /// Build the outputs and whatever upstream of them is out of date.
    #[default]
    RecursiveBuild,
    /// Build only the outputs, whether or not they are up to date.
    NonRecursiveForcedBuild,
    /// Rebuild the outputs and everything upstream of them.
    RecursiveForcedBuild,
    /// Build only what is missing upstream.
    RecursiveMissingOnlyBuild,
}

impl BuildMode {
    pub const ALL: [BuildMode; 4] = [
        BuildMode::RecursiveBuild,
        BuildMode::NonRecursiveForcedBuild,
        BuildMode::RecursiveForcedBuild,
        BuildMode::RecursiveMissingOnlyBuild,
    ];

    /// The name DSS uses on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            BuildMode::RecursiveBuild => "RECURSIVE_BUILD",
            BuildMode::NonRecursiveForcedBuild => "NON_RECURSIVE_FORCED_BUILD",
            BuildMode::RecursiveForcedBuild => "RECURSIVE_FORCED_BUILD",
            BuildMode::RecursiveMissingOnlyBuild => "RECURSIVE_MISSING_ONLY_BUILD",
        }
    }
}

impl fmt::Display for BuildMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BuildMode {
    type Err = String;

    /// The DSS name, case-insensitive, with `-` accepted for `_` (`recursive-build`), so that
    /// both the DSS spelling and the usual CLI spelling work.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wanted = text.trim().to_ascii_uppercase().replace('-', "_");
        if let Some(mode) = BuildMode::ALL.into_iter().find(|m| m.as_str() == wanted) {
            return Ok(mode);
        }
        let names: Vec<&str> = BuildMode::ALL.iter().map(|m| m.as_str()).collect();
        let hint = names
            .iter()
            .map(|n| (strsim::jaro_winkler(n, &wanted), n))
            .filter(|(score, _)| *score > 0.85)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, n)| format!(" (did you mean {n}?)"))
            .unwrap_or_default();
        Err(format!(
            "unknown build mode {text:?}{hint}: expected one of {}",
            names.join(", ")
        ))
    }
}

/// Parse a duration such as `30m`, `1h30m`, `500ms` or `2s`. A unit is required (a bare `30`
/// is ambiguous) and zero is refused: a zero timeout would abort every job at once, and a zero
/// poll interval would hammer DSS.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty duration: expected a value such as 30s, 10m or 1h".into());
    }
    if trimmed.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "duration {trimmed:?} has no unit: write for example {trimmed}s or {trimmed}m"
        ));
    }
    let duration = humantime::parse_duration(trimmed)
        .map_err(|err| format!("invalid duration {trimmed:?}: {err} (examples: 500ms, 30s, 10m, 1h)"))?;
    if duration.is_zero() {
        return Err(format!("duration {trimmed:?} must be greater than zero"));
    }
    Ok(duration)
}

/// When a `Build` runs after an apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Trigger {
    /// When the apply writes the build's project or one of its datasets (the default).
    #[default]
    OnChange,
    /// Every apply, changes or not.
    Always,
    /// Never by apply, only by `dssctl build`.
    Manual,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::OnChange => "onChange",
            Trigger::Always => "always",
            Trigger::Manual => "manual",
        }
    }
}

/// `timeout` as the text of a duration (`30m`), parsed by [`parse_duration`] when read.
mod timeout_text {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_some(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| parse_duration(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
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
