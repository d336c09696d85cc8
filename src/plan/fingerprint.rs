//! Fingerprints: keyed fingerprints of secret values (the only way a secret change can be
//! seen, since DSS returns secrets encrypted with a fresh salt on every save) and content
//! fingerprints of live documents (what `apply --plan` compares to detect a stale plan).
//!
//! Secret fingerprints are HMAC-SHA256 keyed with the stack's random salt, which is stored in
//! the ledger itself. The trade-off: a fingerprint alone (in a log excerpt, a saved plan, a
//! screenshot) lets nobody test a guess, because the key is not with it; but whoever can read
//! the ledger (a DSS admin key, since global variables are admin-only) has both the key and the
//! fingerprint and can test guesses offline, as fast as HMAC runs. That reader can already read
//! connection definitions and, through DSS itself, use the credentials, so the ledger reveals
//! no more than the access it requires; a strong secret stays unguessable either way, and a
//! weak one was never safe. Keeping the key outside DSS would make every CI job carry one more
//! secret and make fingerprints unverifiable when it is lost; we chose not to.
//!
//! The message also binds the resource and the field, so the same password used by two
//! connections gives two unrelated fingerprints.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::model::{Fingerprint, ResourceId};

/// Keyed fingerprint of a secret value: hex HMAC-SHA256 over `ledger key, field path, value`
/// with the ledger's salt (hex, or used as raw bytes if it is not hex) as the key.
pub fn secret_fingerprint(salt: &str, resource: &ResourceId, path: &str, value: &str) -> String {
    let key = hex::decode(salt).unwrap_or_else(|_| salt.as_bytes().to_vec());
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes keys of any size");
    mac.update(resource.ledger_key().as_bytes());
    mac.update(b"\n");
    mac.update(path.as_bytes());
    mac.update(b"\n");
    mac.update(value.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The fingerprint of a live document as seen through the managed fields of one write:
/// SHA-256 of the canonical JSON of `managed_view` (object keys sorted, which `serde_json`'s
/// default map guarantees), plus the document's `versionTag.versionNumber` when it has one.
/// The fingerprint of a live object's main document `doc`, as a deletion records it in a plan
/// and the staleness check of a saved plan recomputes it: the part of the document its kind
/// keeps ([`crate::plan::kind::KindPlan::fingerprint_view`]), without the encrypted secrets of `params`
/// (DSS re-encrypts them on every save: not part of the identity), and its `versionTag`.
pub(crate) fn live_object_fingerprint(kind: &dyn super::kind::KindPlan, mut doc: Value) -> Fingerprint {
    kind.fingerprint_view(&mut doc);
    let version = version_number(&doc);
    if let Some(params) = doc.get_mut("params").and_then(Value::as_object_mut) {
        params.retain(|k, _| !crate::wire::is_secret_param(k));
    }
    content_fingerprint(&doc, version)
}

pub(crate) fn content_fingerprint(managed_view: &Value, version_tag: Option<u64>) -> Fingerprint {
    let canonical = serde_json::to_vec(managed_view).expect("JSON values always serialise");
    Fingerprint {
        version_tag,
        content: hex::encode(Sha256::digest(&canonical)),
    }
}

/// `versionTag.versionNumber` of a raw DSS document, if any.
pub(crate) fn version_number(doc: &Value) -> Option<u64> {
    doc.get("versionTag")?.get("versionNumber")?.as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_fingerprints_are_keyed_and_bound_to_the_field() {
        let conn = ResourceId::new(crate::kinds::connection::ID, "warehouse");
        let salt_a = "00".repeat(32);
        let salt_b = "01".repeat(32);
        let fp = secret_fingerprint(&salt_a, &conn, "params.password", "hunter2");
        assert_eq!(fp.len(), 64);
        assert!(!fp.contains("hunter2"));
        assert_eq!(
            fp,
            secret_fingerprint(&salt_a, &conn, "params.password", "hunter2")
        );
        assert_ne!(
            fp,
            secret_fingerprint(&salt_b, &conn, "params.password", "hunter2")
        );
        assert_ne!(fp, secret_fingerprint(&salt_a, &conn, "params.token", "hunter2"));
        let other = ResourceId::new(crate::kinds::connection::ID, "lake");
        assert_ne!(
            fp,
            secret_fingerprint(&salt_a, &other, "params.password", "hunter2")
        );
        assert_ne!(
            fp,
            secret_fingerprint(&salt_a, &conn, "params.password", "hunter3")
        );
    }

    #[test]
    fn content_fingerprints_ignore_key_order() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": [1, 2]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a": [1, 2], "b": 1}"#).unwrap();
        assert_eq!(content_fingerprint(&a, None), content_fingerprint(&b, None));
        assert_ne!(
            content_fingerprint(&a, None),
            content_fingerprint(&json!({"a": [2, 1], "b": 1}), None)
        );
        assert_eq!(
            version_number(&json!({"versionTag": {"versionNumber": 7}})),
            Some(7)
        );
        assert_eq!(version_number(&json!({})), None);
    }
}
