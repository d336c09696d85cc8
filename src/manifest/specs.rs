//! The spec types that stages below the kind modules read as well as their kind, so that
//! those stages need not import `crate::kinds`: a Build's spec, mode, trigger and durations
//! (the build runner and the planner's build triggers), a project grant (the planner's grant
//! diff, which project folders and code envs reuse), and a dataset's schema (the planner's
//! column diff). Their kind modules re-export them; the JSON Schemas are unchanged (schemars
//! names a definition by its type's name).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A project grant in either form: the seed's single `type`, or the per-flag form of newer DSS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PermissionSpec {
    /// The group granted (exactly one of `group` and `user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The user granted (exactly one of `group` and `user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Seed form: `ADMIN`, `ANALYST_READWRITE`, `ANALYST_READONLY`, `READER`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["ADMIN", "ANALYST_READWRITE", "ANALYST_READONLY", "READER", null]))]
    pub permission_type: Option<String>,
    /// Full project administration (per-flag form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<bool>,
    /// May change the project's permissions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_permissions: Option<bool>,
    /// May read the project's content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_project_content: Option<bool>,
    /// May change the project's content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_project_content: Option<bool>,
    /// May export datasets' data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_datasets_data: Option<bool>,
    /// May read dashboards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_dashboards: Option<bool>,
    /// May write dashboards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_dashboards: Option<bool>,
    /// May moderate dashboards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderate_dashboards: Option<bool>,
    /// May run scenarios.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_scenarios: Option<bool>,
    /// May manage dashboard authorizations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manage_dashboard_authorizations: Option<bool>,
    /// May manage exposed elements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manage_exposed_elements: Option<bool>,
    /// May manage additional dashboard users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manage_additional_dashboard_users: Option<bool>,
    /// May execute the project as an application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execute_app: Option<bool>,
    /// May share objects to workspaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_to_workspaces: Option<bool>,
    /// May publish to data collections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_to_data_collections: Option<bool>,
}

/// One column of a dataset schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ColumnSpec {
    /// The column name, unique in the schema.
    pub name: String,
    /// `string`, `int`, `bigint`, `double`, `boolean`, `date`, ...
    #[serde(rename = "type")]
    #[schemars(extend("enum" = ["string", "int", "bigint", "smallint", "tinyint", "float", "double", "boolean", "date", "dateonly", "datetimenotz", "array", "map", "object", "geopoint", "geometry"]))]
    pub column_type: String,
    /// Maximum length of a string column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_length: Option<i64>,
    /// A free comment on the column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The DSS meaning of the column (`Integer`, `Email`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meaning: Option<String>,
}

/// A dataset schema; columns are ordered and authoritative when given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SchemaSpec {
    /// The columns, in order.
    pub columns: Vec<ColumnSpec>,
}

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

/// The job types DSS accepts for a build (`JobDefinition.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(
    clippy::enum_variant_names,
    reason = "DSS's job types, spelt as DSS spells them"
)]
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
    pub(crate) const ALL: [BuildMode; 4] = [
        BuildMode::RecursiveBuild,
        BuildMode::NonRecursiveForcedBuild,
        BuildMode::RecursiveForcedBuild,
        BuildMode::RecursiveMissingOnlyBuild,
    ];

    /// The name DSS uses on the wire.
    pub(crate) fn as_str(self) -> &'static str {
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
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
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
    pub(crate) fn as_str(self) -> &'static str {
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

    pub(crate) fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_some(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| parse_duration(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}
