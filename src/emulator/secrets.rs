//! Secrets on the wire: stored in clear in the state (the data dir plays the part of DSS's
//! encrypted store) but never returned in clear.
//!
//! On read, every secret is replaced by `e:AES:<random>`, different on each read, like DSS's
//! salted encryption. On write, a value that starts with `e:AES:` is the client sending back
//! what it read: the stored secret is kept. Secrets are: the connection `params` whose name
//! [`wire::is_secret_param`] recognises (at any depth), a user's `secrets[].value`, and the
//! secret fields of a user's `credentials`. A user's `password` is never returned at all.

use base64::Engine as _;
use rand::Rng as _;
use serde_json::Value;

use crate::wire;

/// The marker of an encrypted value.
pub(crate) const ENCRYPTED_PREFIX: &str = "e:AES:";

pub(crate) fn encrypted_placeholder() -> Value {
    let bytes: [u8; 24] = rand::rng().random();
    Value::String(format!(
        "{ENCRYPTED_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// Replace the values of secret-named keys (at any depth) by placeholders.
pub(crate) fn redact_secret_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if wire::is_secret_param(k) && v.is_string() && !v.as_str().unwrap_or("").is_empty() {
                    *v = encrypted_placeholder();
                } else {
                    redact_secret_keys(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_secret_keys),
        _ => {}
    }
}

/// Wherever `new` holds an `e:AES:` string, put back the value `old` holds at the same place.
/// A placeholder with nothing stored behind it is dropped rather than stored as a secret.
pub(crate) fn restore_placeholders(new: &mut Value, old: Option<&Value>) {
    match new {
        Value::Object(map) => {
            let mut drop_keys = Vec::new();
            for (k, v) in map.iter_mut() {
                let previous = old.and_then(|o| o.get(k));
                if is_placeholder(v) {
                    match previous {
                        Some(p) if !is_placeholder(p) => *v = p.clone(),
                        _ => drop_keys.push(k.clone()),
                    }
                } else {
                    restore_placeholders(v, previous);
                }
            }
            for k in drop_keys {
                map.remove(&k);
            }
        }
        Value::Array(items) => {
            let old_items = old.and_then(Value::as_array);
            for (i, v) in items.iter_mut().enumerate() {
                // User secrets are a list keyed by `name`: match on it, not on position.
                let previous = match (v.get("name"), old_items) {
                    (Some(name), Some(olds)) => olds.iter().find(|o| o.get("name") == Some(name)),
                    (_, Some(olds)) => olds.get(i),
                    _ => None,
                };
                restore_placeholders(v, previous);
            }
        }
        _ => {}
    }
}

fn is_placeholder(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.starts_with(ENCRYPTED_PREFIX))
}

/// A connection as answered: secret params redacted.
pub(crate) fn redact_connection(doc: &mut serde_json::Map<String, Value>) {
    if let Some(params) = doc.get_mut("params") {
        redact_secret_keys(params);
    }
}

/// A user as answered: no password, secrets and credentials redacted.
pub(crate) fn redact_user(doc: &mut serde_json::Map<String, Value>) {
    doc.remove("password");
    if let Some(Value::Array(secrets)) = doc.get_mut("secrets") {
        for s in secrets {
            if let Some(v) = s.get_mut("value")
                && v.as_str().is_some_and(|x| !x.is_empty())
            {
                *v = encrypted_placeholder();
            }
        }
    }
    if let Some(creds) = doc.get_mut("credentials") {
        redact_secret_keys(creds);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn connection_secrets_are_redacted_and_kept_on_write_back() {
        let stored = json!({"name": "c", "credentialsMode": "GLOBAL",
            "params": {"host": "h", "password": "hunter2", "nested": {"secretKey": "s"}}});
        let mut out = stored.as_object().unwrap().clone();
        redact_connection(&mut out);
        let pw = out["params"]["password"].as_str().unwrap().to_string();
        assert!(pw.starts_with("e:AES:"));
        assert_eq!(out["params"]["host"], "h");
        assert_eq!(out["credentialsMode"], "GLOBAL");
        let mut again = stored.as_object().unwrap().clone();
        redact_connection(&mut again);
        assert_ne!(again["params"]["password"], out["params"]["password"]);

        let mut written = Value::Object(out);
        written["params"]["host"] = json!("h2");
        restore_placeholders(&mut written, Some(&stored));
        assert_eq!(written["params"]["password"], "hunter2");
        assert_eq!(written["params"]["nested"]["secretKey"], "s");
        assert_eq!(written["params"]["host"], "h2");
    }

    #[test]
    fn user_secrets_match_by_name() {
        let stored = json!({"secrets": [{"name": "a", "value": "A"}, {"name": "b", "value": "B"}]});
        let mut sent =
            json!({"secrets": [{"name": "b", "value": "e:AES:x"}, {"name": "c", "value": "e:AES:y"}]});
        restore_placeholders(&mut sent, Some(&stored));
        assert_eq!(sent["secrets"][0]["value"], "B");
        assert!(sent["secrets"][1].get("value").is_none());
    }
}
