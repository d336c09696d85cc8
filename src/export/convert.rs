//! The building blocks of every kind's export conversion (live DSS documents → manifest
//! specs, in `crate::kinds::*::export`): keep only the fields the manifest kinds manage, in the
//! form the plan compares them (sets sorted, empty texts absent), leave out what the plan
//! treats as a DSS default or never compares, and never copy a value DSS holds for a secret
//! (a secret becomes a `{fromEnv: ...}` reference, recorded as an [`ExpectedSecret`]).
//!
//! The property the kinds' conversions are built for: a plan of their output against the
//! instance it was read from shows every resource as an adoption with no field change.

use serde_json::{Map, Value};

use crate::manifest::KeyedMap;
use crate::plan::ledger::RESERVED_PREFIX;
use crate::plan::normalize::set_of;

/// A text DSS returns: `None` when absent or empty (the plan compares `""` as absent).
pub(crate) fn nonempty(v: Option<&str>) -> Option<String> {
    v.filter(|s| !s.is_empty()).map(str::to_string)
}

/// A text from a JSON document.
pub(crate) fn nonempty_at(doc: &Value, key: &str) -> Option<String> {
    nonempty(doc.get(key).and_then(Value::as_str))
}

/// A set (tags, groups): sorted and deduplicated, `None` when empty.
pub(crate) fn set(items: &[String]) -> Option<Vec<String>> {
    (!items.is_empty()).then(|| set_of(items))
}

/// A JSON map without its `null` entries (a `null` in a manifest map means "remove").
pub(crate) fn without_nulls(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A map as a manifest's keyed map, `None` when empty.
pub(crate) fn keyed(map: Map<String, Value>) -> Option<KeyedMap> {
    (!map.is_empty()).then(|| map.into_iter().collect())
}

/// A secret parameter an exported connection expects from the environment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ExpectedSecret {
    /// The environment variable.
    pub env: String,
    /// `connection NAME, params.PATH`, for the list printed on stderr.
    pub used_by: String,
}

/// A metadata `custom` map without dssctl's own stamps (`custom.kv."dssctl.*"`), which apply
/// writes and no manifest manages; `None` when nothing is left.
pub(crate) fn custom_of(custom: Option<&Value>) -> Option<KeyedMap> {
    let mut custom = custom.and_then(Value::as_object).map(without_nulls)?;
    if let Some(Value::Object(kv)) = custom.get_mut("kv") {
        kv.retain(|k, v| !k.starts_with(RESERVED_PREFIX) && !v.is_null());
        if kv.is_empty() {
            custom.remove("kv");
        }
    }
    custom.retain(|_, v| !v.as_object().is_some_and(Map::is_empty));
    keyed(custom)
}

/// The distinct environment variables of `secrets`, sorted.
#[cfg(test)]
pub(crate) fn env_names(secrets: &[ExpectedSecret]) -> Vec<String> {
    secrets
        .iter()
        .map(|s| s.env.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}
