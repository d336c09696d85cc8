//! `kind: Variables`: the instance's global variables, a singleton named `global`. This module
//! owns the spec type and the rule of its only name.

use super::KindRead;
use super::{KindApply, KindExport, KindObserve, KindPlan, KindSpec};
use crate::export::{ExportOut, ExportScope, meta};
use crate::plan::Observed;
use anyhow::Context;
use futures::future::BoxFuture;
use schemars::{JsonSchema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::Map;
use serde_json::{Value, json};

use super::{Kind, KindId, NameRule, names};
use crate::manifest::kinds::Declared;
use crate::manifest::kinds::{KeyedMap, ObjectMeta, Resource};
use crate::plan::diff::Doc;
use crate::plan::ledger::is_reserved_variable;
use crate::plan::planner::Planner;
use crate::plan::{LedgerIntent, ResourceId, SubDoc};

/// The kind.
pub(crate) static KIND: VariablesKind = VariablesKind;

super::register!(KIND, 80);

/// The word of the ledger key `variables:global` and of plans.
pub const ID: KindId = KindId("variables");

/// The name of the only `Variables` resource.
pub(crate) const GLOBAL: &str = "global";

/// The only name is `global`.
pub(crate) static NAME_RULE: NameRule = NameRule {
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
pub(crate) struct VariablesSpec {
    /// Managed key by key; `null` removes a variable.
    #[serde(default)]
    pub values: KeyedMap,
    /// true: remove global variables not listed here (dssctl's own ledger variables excepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<bool>,
}

/// The `Variables` kind.
#[derive(Debug)]
pub(crate) struct VariablesKind;

impl KindSpec for VariablesKind {
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
        Ok(Resource::new(
            &KIND,
            meta,
            serde_json::from_value::<VariablesSpec>(spec)?,
        ))
    }
}

impl KindPlan for VariablesKind {
    fn plan(&self, planner: &mut Planner<'_>, declared: &Declared) {
        if let Some((meta, spec)) = declared.resource.typed::<VariablesSpec>() {
            plan_variables(planner, declared, meta, spec);
        }
    }

    fn deletable(&self) -> bool {
        false
    }
}

impl KindObserve for VariablesKind {}

impl KindApply for VariablesKind {
    /// Removing the Variables manifest stops managing global variables; it never deletes them.
    fn sub_document(&self, _name: &str, sub: SubDoc) -> Option<bool> {
        // One document shared with the stacks' ledgers: written through the ledger writer,
        // which serialises the writes to it.
        (sub == SubDoc::VALUES).then_some(false)
    }

    fn in_global_variables(&self) -> bool {
        true
    }

    fn writes_last(&self) -> bool {
        true
    }
}

impl KindExport for VariablesKind {
    fn export_word(&self) -> Option<&'static str> {
        Some("variables")
    }

    fn export_read<'a>(
        &'a self,
        scope: &'a ExportScope<'a>,
    ) -> Option<BoxFuture<'a, anyhow::Result<KindRead>>> {
        Some(Box::pin(async move {
            let values = scope
                .client
                .get_global_variables()
                .await
                .context("cannot read the global variables")?;
            Ok(KindRead::list(values))
        }))
    }

    fn export(&self, observed: &Observed, out: &mut ExportOut) {
        // Read by `export_read`, or, in a plan's observed state, always there.
        let globals = observed
            .kinds
            .get::<Map<String, Value>>(ID)
            .or(observed.global_variables.as_ref());
        if let Some(spec) = globals.and_then(variables_spec) {
            out.put("variables.yaml", Resource::new(&KIND, meta(GLOBAL, None), spec));
        }
    }
}

impl Kind for VariablesKind {}

/// Plan one declared variables: its writes, compared with the live state.
pub(crate) fn plan_variables(p: &mut Planner<'_>, d: &Declared, meta: &ObjectMeta, spec: &VariablesSpec) {
    let id = ResourceId::new(ID, &meta.name);
    if meta.name != GLOBAL {
        return p.error_at(
            &id,
            Some(&d.origin),
            format!("a Variables resource must be named {GLOBAL:?}"),
            Some("project variables go in the Project's spec.variables".into()),
        );
    }
    if let Some(reserved) = spec.values.keys().find(|k| is_reserved_variable(k)) {
        return p.error_at(
            &id,
            Some(&d.origin),
            format!("variable {reserved:?} is reserved to dssctl (its names start with \"dssctl.\")"),
            Some("rename the variable".into()),
        );
    }
    let Some(globals) = &p.observed().global_variables else {
        return p.not_read(&id, &d.origin, "global variables");
    };
    // The reserved variables (the ledgers) are invisible to this kind.
    let visible: serde_json::Map<String, Value> = globals
        .iter()
        .filter(|(k, _)| !is_reserved_variable(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let live = json!({ "values": visible });
    let mut doc = Doc::new(SubDoc::VALUES, Some(&live), None);
    let mut values = spec.values.clone();
    if spec.prune.unwrap_or(false) {
        for k in visible.keys() {
            values.entry(k.clone()).or_insert(Value::Null);
        }
    }
    doc.keyed("values", Some(&values));
    // Paths read `env`, not `values.env`: the resource is the variables.
    for c in &mut doc.changes {
        if let Some(rest) = c.path.strip_prefix("values.") {
            c.path = rest.to_string();
        }
    }
    let write = doc.finish(None);
    let intent = LedgerIntent {
        protect: false,
        drop_data_on_delete: false,
        dss_id: None,
    };
    p.finish(id, &d.origin, true, vec![write], intent);
}

/// `kind: Variables` (named `global`): the global variables but dssctl's own (the ledgers);
/// `None` when there is none. Never `prune`: an export adopts, it does not claim the rest.
pub(crate) fn variables_spec(globals: &Map<String, Value>) -> Option<VariablesSpec> {
    let values: KeyedMap = globals
        .iter()
        .filter(|(k, v)| !is_reserved_variable(k) && !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!values.is_empty()).then_some(VariablesSpec { values, prune: None })
}
