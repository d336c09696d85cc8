//! Secrets at rest: the emulator encrypts the secrets it writes to its data dir, as DSS does
//! with its own key (`DATA_DIR/secret.key`, generated when the data dir is first used, file
//! mode 0600 on Unix).
//!
//! The construction is built from the crate's HMAC-SHA256 alone (no extra dependency): a
//! keystream of HMAC(enc_key, nonce ‖ counter) blocks XORed with the plain text (a PRF in
//! counter mode), then an HMAC tag over nonce and cipher text (encrypt-then-MAC). Encryption
//! and MAC keys are derived from the file's key. A stored secret reads
//! `e:dssctl1:BASE64(nonce ‖ cipher text ‖ tag)`.
//!
//! What counts as a secret is the same rule as for redaction on read (`secrets`): a string
//! under a key [`wire::is_secret_param`] recognises, at any depth, and the `value` of each
//! item of a `secrets` list (user secrets).

use std::path::Path;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::Rng as _;
use serde_json::Value;
use sha2::Sha256;

use crate::wire;

/// The marker of a value encrypted at rest.
pub(crate) const SEALED_PREFIX: &str = "e:dssctl1:";
/// The key file in the data dir.
pub(crate) const KEY_FILE: &str = "secret.key";

const NONCE_LEN: usize = 16;
const TAG_LEN: usize = 16;

type HmacSha256 = Hmac<Sha256>;

/// The data dir's key.
pub(crate) struct Cipher {
    enc_key: [u8; 32],
    mac_key: [u8; 32],
}

fn prf(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

impl Cipher {
    fn from_key(key: &[u8]) -> Cipher {
        Cipher {
            enc_key: prf(key, &[b"dssctl-emulator-encryption"]),
            mac_key: prf(key, &[b"dssctl-emulator-authentication"]),
        }
    }

    /// The key of `dir`, generated (and written, readable by the owner only) when absent.
    pub(crate) fn load_or_create(dir: &Path) -> anyhow::Result<Cipher> {
        let path = dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let key = hex::decode(text.trim())
                    .map_err(|err| anyhow::anyhow!("{} is not a hex key: {err}", path.display()))?;
                if key.len() < 32 {
                    anyhow::bail!("{} holds a key shorter than 32 bytes", path.display());
                }
                Ok(Cipher::from_key(&key))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; 32] = rand::rng().random();
                super::persist::write_atomic(&path, hex::encode(key).as_bytes())
                    .map_err(|err| anyhow::anyhow!("cannot write {}: {err}", path.display()))?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt as _;
                    let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
                }
                Ok(Cipher::from_key(&key))
            }
            Err(err) => Err(anyhow::anyhow!("cannot read {}: {err}", path.display())),
        }
    }

    fn keystream_xor(&self, nonce: &[u8], data: &mut [u8]) {
        for (i, chunk) in data.chunks_mut(32).enumerate() {
            let block = prf(&self.enc_key, &[nonce, &(i as u64).to_be_bytes()]);
            for (b, k) in chunk.iter_mut().zip(block) {
                *b ^= k;
            }
        }
    }

    pub(crate) fn encrypt(&self, plain: &str) -> String {
        let nonce: [u8; NONCE_LEN] = rand::rng().random();
        let mut data = plain.as_bytes().to_vec();
        self.keystream_xor(&nonce, &mut data);
        let tag = prf(&self.mac_key, &[&nonce, &data]);
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        out.extend_from_slice(&tag[..TAG_LEN]);
        format!(
            "{SEALED_PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        )
    }

    pub(crate) fn decrypt(&self, sealed: &str) -> anyhow::Result<String> {
        let raw = sealed
            .strip_prefix(SEALED_PREFIX)
            .ok_or_else(|| anyhow::anyhow!("not an encrypted value"))?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(raw)?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            anyhow::bail!("encrypted value too short");
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let (data, tag) = rest.split_at(rest.len() - TAG_LEN);
        // Constant-time comparison through the MAC API.
        let mut check = HmacSha256::new_from_slice(&self.mac_key).expect("HMAC accepts any key length");
        check.update(nonce);
        check.update(data);
        if check.verify_truncated_left(tag).is_err() {
            anyhow::bail!("encrypted value does not match the data dir's key");
        }
        let mut plain = data.to_vec();
        self.keystream_xor(nonce, &mut plain);
        Ok(String::from_utf8(plain)?)
    }

    /// Encrypt every secret of `doc` (see the module documentation) in place.
    pub(crate) fn seal(&self, doc: &mut Value) {
        visit_secrets(doc, &mut |s| {
            if !s.is_empty() && !s.starts_with(SEALED_PREFIX) {
                *s = self.encrypt(s);
            }
        });
    }

    /// Decrypt every encrypted value of `doc` in place.
    pub(crate) fn open(&self, doc: &mut Value) -> anyhow::Result<()> {
        open_all(self, doc)
    }
}

fn open_all(cipher: &Cipher, value: &mut Value) -> anyhow::Result<()> {
    match value {
        Value::String(s) if s.starts_with(SEALED_PREFIX) => {
            *s = cipher.decrypt(s)?;
            Ok(())
        }
        Value::Object(map) => map.values_mut().try_for_each(|v| open_all(cipher, v)),
        Value::Array(items) => items.iter_mut().try_for_each(|v| open_all(cipher, v)),
        _ => Ok(()),
    }
}

fn visit_secrets(value: &mut Value, f: &mut impl FnMut(&mut String)) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                match v {
                    Value::String(s) if wire::is_secret_param(k) => f(s),
                    Value::Array(items) if k == "secrets" => {
                        for item in items {
                            if let Some(Value::String(s)) = item.get_mut("value") {
                                f(s);
                            } else {
                                visit_secrets(item, f);
                            }
                        }
                    }
                    _ => visit_secrets(v, f),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| visit_secrets(v, f)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_sealed_and_opened_with_the_same_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let cipher = Cipher::load_or_create(dir.path()).unwrap();
        let mut doc = json!({"name": "c", "params": {"host": "h", "password": "hunter2"},
            "secrets": [{"name": "s", "value": "v4lue"}]});
        cipher.seal(&mut doc);
        let text = doc.to_string();
        assert!(!text.contains("hunter2") && !text.contains("v4lue"), "{text}");
        assert_eq!(doc["params"]["host"], "h");
        let again = Cipher::load_or_create(dir.path()).unwrap();
        again.open(&mut doc).unwrap();
        assert_eq!(doc["params"]["password"], "hunter2");
        assert_eq!(doc["secrets"][0]["value"], "v4lue");

        let other = tempfile::tempdir().unwrap();
        let stranger = Cipher::load_or_create(other.path()).unwrap();
        let sealed = cipher.encrypt("x");
        assert!(stranger.decrypt(&sealed).is_err());
        assert_eq!(cipher.decrypt(&cipher.encrypt("")).unwrap(), "");
        let long = "a".repeat(100);
        assert_eq!(cipher.decrypt(&cipher.encrypt(&long)).unwrap(), long);
    }
}
