//! The ownership ledger of a stack: which resources the stack manages,
//! whether each is protected, whether a dataset's data is dropped on delete, and keyed
//! fingerprints of its secrets.
//!
//! It is stored in the DSS instance itself, as the global variable `dssctl.ledger.<stack>`
//! whose value is a JSON object:
//!
//! ```json
//! {"formatVersion": 1, "salt": "<64 hex>",
//!  "resources": {"project:CHURN": {"kind": "project", "name": "CHURN",
//!      "appliedAt": "2026-01-01T00:00:00Z", "gitCommit": "abc123", "protect": true,
//!      "dropDataOnDelete": false, "secrets": {}}}}
//! ```
//!
//! This module owns the model and its (de)serialisation; `plan` reads it, `apply` writes it.
//! The `Variables` kind never reads or writes global variables whose name starts with
//! [`RESERVED_PREFIX`], so a ledger cannot be clobbered by a `prune: true`.

use std::collections::BTreeMap;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::model::{Kind, ResourceId};

/// Global variables with this prefix belong to dssctl: excluded from the `Variables` kind.
pub(crate) const RESERVED_PREFIX: &str = "dssctl.";

/// The prefix of the stack locks among the global variables (see `crate::lock`); the stack
/// name follows.
pub const LOCK_PREFIX: &str = "dssctl.lock.";

/// Version of the ledger document.
pub(crate) const LEDGER_FORMAT_VERSION: u32 = 1;

/// Name of the global variable holding a stack's ledger.
pub fn ledger_variable(stack: &str) -> String {
    format!("{RESERVED_PREFIX}ledger.{stack}")
}

/// Whether a global variable name is reserved to dssctl.
pub(crate) fn is_reserved_variable(name: &str) -> bool {
    name.starts_with(RESERVED_PREFIX)
}

/// A stack name: letters, digits, `-`, `_` and `.`, at most 64 characters.
pub(crate) fn validate_stack_name(stack: &str) -> Result<(), String> {
    if stack.is_empty() || stack.len() > 64 {
        return Err(format!(
            "stack name {stack:?} must have between 1 and 64 characters"
        ));
    }
    if let Some(bad) = stack
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "stack name {stack:?} contains {bad:?}; use letters, digits, '-', '_' or '.'"
        ));
    }
    Ok(())
}

/// One managed resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntry {
    pub kind: Kind,
    pub name: String,
    /// RFC 3339 time of the last apply that wrote this resource.
    #[serde(default)]
    pub applied_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    // Fields at their default are left out when written (a ledger lists every managed
    // resource, and every lock and ledger write carries all of them) and read as defaults.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub protect: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drop_data_on_delete: bool,
    /// Recorded from `dssctl.io/prune: "false"`: once no longer declared, the entry is
    /// dropped and the live object left alone (instead of deleted).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_on_removal: bool,
    /// Secret field path (`params.password`) → keyed fingerprint (see
    /// [`crate::plan::fingerprint::secret_fingerprint`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
    /// The id DSS generated for an object dssctl names by its name (a flow zone, a managed
    /// folder); absent for kinds whose name is their id, and in ledgers written before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dss_id: Option<String>,
}

impl LedgerEntry {
    pub(crate) fn id(&self) -> ResourceId {
        ResourceId::new(self.kind, self.name.clone())
    }
}

/// A stack's ledger.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ledger {
    pub format_version: u32,
    /// Hex-encoded 32 random bytes, the HMAC key of the secret fingerprints.
    pub salt: String,
    /// Keyed by [`ResourceId::ledger_key`].
    #[serde(default)]
    pub resources: BTreeMap<String, LedgerEntry>,
}

// The salt is not a secret value in itself, but there is no reason to print it either.
impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("format_version", &self.format_version)
            .field("salt", &"(hidden)")
            .field("resources", &self.resources)
            .finish()
    }
}

/// A ledger variable that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("global variable {variable:?} is not a dssctl ledger: {reason}")]
pub struct LedgerError {
    pub variable: String,
    pub reason: String,
}

impl Ledger {
    /// An empty ledger with a fresh random salt.
    pub fn new() -> Self {
        let mut salt = [0u8; 32];
        rand::rng().fill_bytes(&mut salt);
        Ledger {
            format_version: LEDGER_FORMAT_VERSION,
            salt: hex::encode(salt),
            resources: BTreeMap::new(),
        }
    }

    /// The stack's ledger from the instance's global variables; `Ok(None)` when the stack has
    /// none yet.
    pub fn from_global_variables(
        variables: &Map<String, Value>,
        stack: &str,
    ) -> Result<Option<Ledger>, LedgerError> {
        let name = ledger_variable(stack);
        let Some(raw) = variables.get(&name) else {
            return Ok(None);
        };
        // DSS variables are arbitrary JSON; some tools store objects as JSON strings.
        let parsed: Value;
        let value = match raw {
            Value::String(s) => {
                parsed = serde_json::from_str(s).map_err(|e| LedgerError {
                    variable: name.clone(),
                    reason: e.to_string(),
                })?;
                &parsed
            }
            other => other,
        };
        // Read from the variable in place: a ledger lists every managed resource, and copying
        // it first was a noticeable part of a large plan.
        let ledger = Ledger::deserialize(value).map_err(|e| LedgerError {
            variable: name.clone(),
            reason: e.to_string(),
        })?;
        if ledger.format_version > LEDGER_FORMAT_VERSION {
            return Err(LedgerError {
                variable: name,
                reason: format!(
                    "format version {} is newer than this dssctl understands ({LEDGER_FORMAT_VERSION}); upgrade dssctl",
                    ledger.format_version
                ),
            });
        }
        for (key, entry) in &ledger.resources {
            if entry.id().ledger_key() != *key {
                return Err(LedgerError {
                    variable: name,
                    reason: format!("entry {key:?} names {}", entry.id().ledger_key()),
                });
            }
        }
        Ok(Some(ledger))
    }

    /// The JSON value stored in the global variable.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("a ledger always serialises")
    }

    pub(crate) fn get(&self, id: &ResourceId) -> Option<&LedgerEntry> {
        self.resources.get(&id.ledger_key())
    }

    pub fn insert(&mut self, entry: LedgerEntry) {
        self.resources.insert(entry.id().ledger_key(), entry);
    }

    pub(crate) fn remove(&mut self, id: &ResourceId) -> Option<LedgerEntry> {
        self.resources.remove(&id.ledger_key())
    }

    /// Every resource the ledger lists.
    pub(crate) fn ids(&self) -> impl Iterator<Item = ResourceId> + '_ {
        self.resources.values().map(LedgerEntry::id)
    }
}

/// The kind and name of every resource a stack's ledger lists, read straight from the global
/// variables' JSON `body`: only the ledger variable is decoded, and of each entry only its
/// kind and name (no value tree, no entry built). The prefetch's guess at what a plan reads
/// (`observe::start_prefetch`), made as soon as the variables arrive; `None` when the body is
/// not an object of variables or the stack's ledger is absent or not an object (a ledger
/// stored as a JSON string is left to [`Ledger::from_global_variables`]).
pub(crate) fn recorded_names(body: &[u8], stack: &str) -> Option<Vec<(Kind, String)>> {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
    use std::borrow::Cow;

    #[derive(Deserialize)]
    struct Name {
        kind: Kind,
        name: String,
    }

    /// `resources` as a list of names (its keys are derived from them).
    #[derive(Default)]
    struct Names(Vec<(Kind, String)>);
    impl<'de> Deserialize<'de> for Names {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Entries;
            impl<'de> Visitor<'de> for Entries {
                type Value = Names;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("the ledger's resources")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Names, A::Error> {
                    let mut names = Vec::with_capacity(map.size_hint().unwrap_or(0));
                    while let Some((IgnoredAny, entry)) = map.next_entry::<IgnoredAny, Name>()? {
                        names.push((entry.kind, entry.name));
                    }
                    Ok(Names(names))
                }
            }
            d.deserialize_map(Entries)
        }
    }

    #[derive(Deserialize)]
    struct Resources {
        #[serde(default)]
        resources: Names,
    }

    /// The global variables, of which only `variable` is decoded.
    struct Variables<'v> {
        variable: &'v str,
    }
    impl<'de> DeserializeSeed<'de> for Variables<'_> {
        type Value = Option<Vec<(Kind, String)>>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }
    impl<'de> Visitor<'de> for Variables<'_> {
        type Value = Option<Vec<(Kind, String)>>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("the global variables")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                if found.is_none() && key == self.variable {
                    // A ledger stored as a string fails here, and the guess is given up.
                    let ledger: Resources = map.next_value()?;
                    found = Some(ledger.resources.0);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(found)
        }
    }

    let variable = ledger_variable(stack);
    let mut de = serde_json::Deserializer::from_slice(body);
    Variables { variable: &variable }
        .deserialize(&mut de)
        .ok()
        .flatten()
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_recorded_names_are_the_ledgers_own() {
        let mut ledger = Ledger::new();
        ledger.insert(crate::kinds::simulate::entry_for(crate::kinds::group::ID, "g\"1"));
        ledger.insert(crate::kinds::simulate::entry_for(crate::kinds::project::ID, "P"));
        let variables = json!({
            "a": {"nested": [1, 2, {"x": "y"}]},
            ledger_variable("s"): ledger.to_value(),
            ledger_variable("other"): Ledger::new().to_value(),
            "z": "last",
        });
        let body = serde_json::to_vec(&variables).unwrap();
        let mut names = recorded_names(&body, "s").expect("the ledger of s");
        names.sort();
        let mut expected: Vec<(Kind, String)> = ledger.ids().map(|id| (id.kind, id.name)).collect();
        expected.sort();
        assert_eq!(names, expected);
        assert_eq!(recorded_names(&body, "other"), Some(vec![]));
        assert_eq!(recorded_names(&body, "absent"), None);
        // Stored as a JSON string (some tools do): left to the full reader.
        let as_string = json!({ledger_variable("s"): ledger.to_value().to_string()});
        assert_eq!(
            recorded_names(&serde_json::to_vec(&as_string).unwrap(), "s"),
            None
        );
        assert_eq!(recorded_names(b"[1]", "s"), None);
    }
    #[test]
    fn entries_are_written_without_their_default_fields_and_read_back_equal() {
        let plain = crate::kinds::simulate::entry_for(crate::kinds::group::ID, "g");
        let written = serde_json::to_value(&plain).unwrap();
        assert_eq!(
            written,
            json!({"kind": "group", "name": "g", "appliedAt": "1970-01-01T00:00:00Z"})
        );
        assert_eq!(serde_json::from_value::<LedgerEntry>(written).unwrap(), plain);
        // As earlier versions wrote them, with every field.
        let full = json!({"kind": "group", "name": "g", "appliedAt": "1970-01-01T00:00:00Z",
            "protect": false, "dropDataOnDelete": false, "secrets": {}});
        assert_eq!(serde_json::from_value::<LedgerEntry>(full).unwrap(), plain);
        let mut set = plain.clone();
        set.protect = true;
        set.drop_data_on_delete = true;
        set.secrets.insert("params.password".into(), "f".into());
        let written = serde_json::to_value(&set).unwrap();
        assert_eq!(written["protect"], json!(true));
        assert_eq!(written["dropDataOnDelete"], json!(true));
        assert_eq!(serde_json::from_value::<LedgerEntry>(written).unwrap(), set);
    }

    fn entry(kind: Kind, name: &str) -> LedgerEntry {
        LedgerEntry {
            kind,
            name: name.into(),
            applied_at: "2026-01-01T00:00:00Z".into(),
            git_commit: None,
            protect: false,
            drop_data_on_delete: false,
            secrets: BTreeMap::new(),
            keep_on_removal: false,
            dss_id: None,
        }
    }

    #[test]
    fn round_trips_through_a_global_variable() {
        let mut ledger = Ledger::new();
        ledger.insert(entry(crate::kinds::dataset::ID, "CHURN.customers"));
        let mut vars = Map::new();
        vars.insert(ledger_variable("prod"), ledger.to_value());
        let back = Ledger::from_global_variables(&vars, "prod").unwrap().unwrap();
        assert_eq!(back, ledger);
        assert!(Ledger::from_global_variables(&vars, "dev").unwrap().is_none());
        assert_eq!(back.salt.len(), 64);
        assert!(!format!("{back:?}").contains(&back.salt));
    }

    #[test]
    fn accepts_a_ledger_stored_as_a_json_string() {
        let ledger = Ledger::new();
        let mut vars = Map::new();
        vars.insert(
            ledger_variable("default"),
            Value::String(ledger.to_value().to_string()),
        );
        assert_eq!(
            Ledger::from_global_variables(&vars, "default").unwrap(),
            Some(ledger)
        );
    }

    #[test]
    fn rejects_garbage_and_inconsistent_keys() {
        let mut vars = Map::new();
        vars.insert(ledger_variable("default"), json!(42));
        let err = Ledger::from_global_variables(&vars, "default").unwrap_err();
        assert!(err.to_string().contains("dssctl.ledger.default"));
        vars.insert(
            ledger_variable("default"),
            json!({"formatVersion": 1, "salt": "00", "resources": {
                "group:a": {"kind": "group", "name": "b"}}}),
        );
        let err = Ledger::from_global_variables(&vars, "default").unwrap_err();
        assert!(err.to_string().contains("group:b"), "{err}");
    }

    #[test]
    fn reserved_names_and_stack_names() {
        assert!(is_reserved_variable("dssctl.ledger.default"));
        assert!(!is_reserved_variable("env"));
        assert!(validate_stack_name("prod-eu_1").is_ok());
        assert!(validate_stack_name("").is_err());
        assert!(validate_stack_name("a b").unwrap_err().contains("' '"));
    }
}
