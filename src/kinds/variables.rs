//! `kind: Variables`: the instance's global variables, a singleton named `global`. This module
//! owns the spec type and the rule of its only name.

use schemars::{JsonSchema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Kind, KindId, NameRule, names};
use crate::manifest::kinds::{KeyedMap, ObjectMeta, Resource};

/// The kind.
pub static KIND: VariablesKind = VariablesKind;

/// The word of the ledger key `variables:global` and of plans.
pub const ID: KindId = KindId("variables");

/// The name of the only `Variables` resource.
pub const GLOBAL: &str = "global";

/// The only name is `global`.
pub static NAME_RULE: NameRule = NameRule {
    what: "a name",
    allowed: names::dotted_char,
    allowed_text: "letters, digits, _, - and .",
    example: GLOBAL,
    pattern: Some("^global$"),
    no_edge_spaces: false,
    fixed: Some((GLOBAL, "the global variables are named `global`")),
};

/// `kind: Variables`: the instance's global variables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct VariablesSpec {
    /// Managed key by key; `null` removes a variable.
    #[serde(default)]
    pub values: KeyedMap,
    /// true: remove global variables not listed here (dssctl's own ledger variables excepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<bool>,
}

/// The `Variables` kind.
#[derive(Debug)]
pub struct VariablesKind;

impl Kind for VariablesKind {
    fn name(&self) -> &'static str {
        "Variables"
    }

    fn id(&self) -> KindId {
        ID
    }

    fn description(&self) -> &'static str {
        "The instance's global variables (metadata.name must be `global`)."
    }

    fn spec_schema(&self, generator: &mut SchemaGenerator) -> Value {
        generator.subschema_for::<VariablesSpec>().to_value()
    }

    fn apply_rank(&self) -> u8 {
        5
    }

    fn name_rule(&self) -> &'static NameRule {
        &NAME_RULE
    }

    fn parse(&self, meta: ObjectMeta, spec: Value) -> Result<Resource, serde_json::Error> {
        Ok(Resource::Variables {
            meta,
            spec: serde_json::from_value(spec)?,
        })
    }
}
