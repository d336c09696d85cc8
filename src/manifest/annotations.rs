//! The `dssctl.io/` annotations of `metadata.annotations`: a resource's drift policy.
//!
//! - `dssctl.io/sync: detect-only`: an existing resource that differs from its manifest is
//!   reported (plan, watch) and never written by `apply` or `watch` (`apply`, the default,
//!   writes it as usual);
//! - `dssctl.io/prune: "false"`: once the resource is removed from the manifests, it is
//!   dropped from the stack's ledger (no longer managed) instead of being deleted.
//!
//! Any other key under `dssctl.io/` is a mistake (a typo would silently lose a policy), so it
//! is an error at load time; annotations outside that prefix are free-form and ignored.

use std::collections::BTreeMap;

/// The prefix dssctl reserves.
pub(crate) const PREFIX: &str = "dssctl.io/";
/// The key of the sync policy.
pub(crate) const SYNC: &str = "dssctl.io/sync";
/// The key of the prune policy.
pub(crate) const PRUNE: &str = "dssctl.io/prune";

/// The keys dssctl reads, with their accepted values (the first is the default).
const KNOWN: [(&str, &[&str]); 2] = [(SYNC, &["apply", "detect-only"]), (PRUNE, &["true", "false"])];

/// What the annotations of one resource ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct DriftPolicy {
    /// `dssctl.io/sync: detect-only`: differences are reported, never written.
    pub detect_only: bool,
    /// `dssctl.io/prune: "false"`: forgotten, not deleted, once removed from the manifests.
    pub keep_on_removal: bool,
}

impl DriftPolicy {
    /// The policy the annotations ask for. Values were checked at load time ([`check`]); one
    /// that is not recognised here keeps the default, which writes and prunes as usual.
    pub(crate) fn of(annotations: &BTreeMap<String, String>) -> DriftPolicy {
        DriftPolicy {
            detect_only: annotations.get(SYNC).is_some_and(|v| v == "detect-only"),
            keep_on_removal: annotations.get(PRUNE).is_some_and(|v| v == "false"),
        }
    }
}

/// A `dssctl.io/` annotation dssctl does not accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    /// Whether the key itself is unknown (else its value is wrong).
    pub unknown_key: bool,
    pub message: String,
    pub hint: String,
}

/// Check one annotation given as text (`value` is `None` when it is not a string in the
/// manifest, such as an unquoted `false`). Keys outside [`PREFIX`] are always accepted.
pub(crate) fn check(key: &str, value: Option<&str>) -> Result<(), Invalid> {
    if !key.starts_with(PREFIX) {
        return Ok(());
    }
    let Some((_, accepted)) = KNOWN.iter().find(|(k, _)| *k == key) else {
        let known: Vec<&str> = KNOWN.iter().map(|(k, _)| *k).collect();
        let hint = match crate::manifest::schema::did_you_mean(key, known.iter().copied()) {
            Some(near) => format!("did you mean {near}? dssctl reads {}", known.join(" and ")),
            None => format!(
                "dssctl reads {}; use a key outside {PREFIX} for your own annotations",
                known.join(" and ")
            ),
        };
        return Err(Invalid {
            unknown_key: true,
            message: format!("metadata.annotations: unknown annotation {key:?}"),
            hint,
        });
    };
    let choices = accepted
        .iter()
        .map(|v| format!("\"{v}\""))
        .collect::<Vec<_>>()
        .join(" or ");
    match value {
        Some(v) if accepted.contains(&v) => Ok(()),
        Some(v) => Err(Invalid {
            unknown_key: false,
            message: format!("metadata.annotations.{key}: {v:?} is not one of {choices}"),
            hint: format!("write {key}: \"{}\"", accepted.last().map_or("", |v| v)),
        }),
        None => Err(Invalid {
            unknown_key: false,
            message: format!("metadata.annotations.{key}: an annotation is a string"),
            hint: format!("quote the value: {key}: {choices}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_policy_follows_the_annotations() {
        assert_eq!(DriftPolicy::of(&map(&[])), DriftPolicy::default());
        let both = map(&[(SYNC, "detect-only"), (PRUNE, "false"), ("team", "data")]);
        assert_eq!(
            DriftPolicy::of(&both),
            DriftPolicy {
                detect_only: true,
                keep_on_removal: true
            }
        );
        let defaults = map(&[(SYNC, "apply"), (PRUNE, "true")]);
        assert_eq!(DriftPolicy::of(&defaults), DriftPolicy::default());
    }

    #[test]
    fn only_known_keys_and_values_pass() {
        assert!(check("owner", Some("anything")).is_ok());
        assert!(check("example.com/x", None).is_ok());
        assert!(check(SYNC, Some("detect-only")).is_ok());
        assert!(check(PRUNE, Some("false")).is_ok());
        let typo = check("dssctl.io/snyc", Some("detect-only")).unwrap_err();
        assert!(typo.unknown_key);
        assert!(typo.hint.contains("did you mean dssctl.io/sync"), "{}", typo.hint);
        let bad = check(SYNC, Some("detect")).unwrap_err();
        assert!(!bad.unknown_key);
        assert!(
            bad.message.contains("\"apply\" or \"detect-only\""),
            "{}",
            bad.message
        );
        let unquoted = check(PRUNE, None).unwrap_err();
        assert!(unquoted.hint.contains("quote"), "{}", unquoted.hint);
    }
}
