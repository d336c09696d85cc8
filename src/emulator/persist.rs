//! Persistence of the state as one JSON document per object under the data dir:
//!
//! ```text
//! projects/KEY/project.json          project: metadata, permissions, variables, settings, tags
//! projects/KEY/datasets/NAME.json    dataset definition
//! projects/KEY/jobs/ID.json          job (definition, timing, outcome)
//! projects/KEY/managedfolders/, recipes/, zones/, scenarios/: the flow (see `flow_state`)
//! fs/CONNECTION/PATH/...             files of managed folders and Filesystem datasets
//! admin/connections/NAME.json        connection (secrets encrypted with secret.key, see `cipher`)
//! admin/users/LOGIN.json             user (password as a salted SHA-256, secrets encrypted)
//! admin/groups/NAME.json             group
//! admin/variables.json               global variables
//! admin/code-envs/LANG/NAME.json     code env (definition, logs, last installation failure)
//! admin/plugins/ID.json              plugin (plugin.json, components, settings, files)
//! admin/general-settings.json        general settings, once saved (secrets encrypted)
//! admin/project-folders/ID.json      project folder
//! sql/CONNECTION.sqlite              SQLite database of a SQL connection (see `sql`)
//! secret.key                         the key of the secrets at rest (see `cipher`)
//! ```
//!
//! Documents under `admin/connections/` and `admin/users/`, and the general settings (LDAP bind
//! password, SSO secrets), have their secrets encrypted when written ([`SEALED_DIRS`]); the
//! emulator opens them when it loads the data dir.
//!
//! Every write is atomic: a temporary file next to the target, fsync, rename, fsync of the
//! directory, so a crash (even kill -9) leaves either the old or the new document. Temporary
//! files start with a dot and are removed at load. Deleting a project renames its directory to
//! a dot-name first (atomic), then removes it.
//!
//! A write that fails (disk full, read-only data dir) answers 500 `java.io.IOException`; the
//! change stays in memory, so the emulator keeps serving what the client was told failed to
//! persist, and a restart forgets it.
//!
//! Ordering: the in-memory state changes under its lock, and the write to disk happens after
//! the lock is released (other requests are not blocked by the fsync). Each write takes a
//! sequence number while the lock is still held; a write that finds a newer sequence number
//! recorded for its path skips itself, so two quick saves of one object can never leave the
//! older one on disk.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::Rng as _;

use super::cipher::Cipher;
use super::http::ApiError;

/// Directories and documents (relative to the data dir) that hold secrets, encrypted on write.
pub(crate) const SEALED_DIRS: [&str; 3] = ["admin/connections", "admin/users", "admin/general-settings.json"];

/// Whether the document at `rel` holds secrets to encrypt: under [`SEALED_DIRS`], or in a
/// sealed collection (see `collections`).
fn sealed(rel: &Path) -> bool {
    SEALED_DIRS.iter().any(|d| rel.starts_with(d)) || super::collections::is_sealed(rel)
}

/// What to do to a path.
#[derive(Debug)]
pub(crate) enum Op {
    Write(Vec<u8>),
    RemoveFile,
    RemoveDir,
}

/// A write decided under the state lock, to be performed after it is released.
#[must_use = "a pending write must be run"]
pub(crate) struct Pending {
    path: PathBuf,
    seq: u64,
    op: Op,
}

/// The data dir writer (a no-op when the state lives in memory).
pub(crate) struct Persister {
    root: Option<PathBuf>,
    cipher: Option<Cipher>,
    seq: AtomicU64,
    latest: Mutex<HashMap<PathBuf, u64>>,
    locks: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
}

impl Persister {
    /// A writer that encrypts the secrets of the documents under [`SEALED_DIRS`].
    pub(crate) fn with_cipher(root: Option<PathBuf>, cipher: Option<Cipher>) -> Self {
        Persister {
            root,
            cipher,
            seq: AtomicU64::new(0),
            latest: Mutex::new(HashMap::new()),
            locks: Mutex::new(HashMap::new()),
        }
    }

    /// Decide a write of `doc` at `rel` (relative to the data dir). Call with the state lock
    /// held so that sequence numbers follow the order of the changes.
    pub(crate) fn put(&self, rel: impl Into<PathBuf>, doc: &serde_json::Value) -> Option<Pending> {
        let rel = rel.into();
        let bytes = match &self.cipher {
            Some(cipher) if sealed(&rel) => {
                let mut sealed = doc.clone();
                cipher.seal(&mut sealed);
                serde_json::to_vec_pretty(&sealed).ok()?
            }
            _ => serde_json::to_vec_pretty(doc).ok()?,
        };
        self.pending(rel, Op::Write(bytes))
    }

    /// Write `doc` at `rel` now (startup only: the built-in objects of a fresh data dir).
    pub(crate) fn put_now(&self, rel: impl Into<PathBuf>, doc: &serde_json::Value) -> std::io::Result<()> {
        let rel = rel.into();
        let Some(root) = &self.root else {
            return Ok(());
        };
        let mut doc = doc.clone();
        if let Some(cipher) = &self.cipher
            && sealed(&rel)
        {
            cipher.seal(&mut doc);
        }
        let bytes = serde_json::to_vec_pretty(&doc).map_err(std::io::Error::other)?;
        write_atomic(&root.join(rel), &bytes)
    }

    /// Decide the removal of a file.
    pub(crate) fn remove(&self, rel: impl Into<PathBuf>) -> Option<Pending> {
        self.pending(rel.into(), Op::RemoveFile)
    }

    /// Decide the removal of a directory and everything under it.
    pub(crate) fn remove_dir(&self, rel: impl Into<PathBuf>) -> Option<Pending> {
        self.pending(rel.into(), Op::RemoveDir)
    }

    fn pending(&self, rel: PathBuf, op: Op) -> Option<Pending> {
        let root = self.root.as_ref()?;
        let path = root.join(rel);
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        self.latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.clone(), seq);
        Some(Pending { path, seq, op })
    }

    /// Perform decided writes, in order. Call without the state lock.
    pub(crate) async fn run(
        &self,
        pending: impl IntoIterator<Item = Option<Pending>>,
    ) -> Result<(), ApiError> {
        for p in pending.into_iter().flatten() {
            let lock = {
                let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
                locks.entry(p.path.clone()).or_default().clone()
            };
            let _guard = lock.lock().await;
            let newest = self
                .latest
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&p.path)
                .copied()
                .unwrap_or(0);
            if newest > p.seq {
                // A later change of the same object will land; writing ours would only
                // briefly regress the file.
                continue;
            }
            let path = p.path.clone();
            let result = tokio::task::spawn_blocking(move || apply(&path, p.op))
                .await
                .map_err(|err| ApiError::internal(format!("write task failed: {err}")))?;
            result.map_err(|err| ApiError::internal(format!("cannot write {}: {err}", p.path.display())))?;
        }
        Ok(())
    }
}

fn apply(path: &Path, op: Op) -> std::io::Result<()> {
    match op {
        Op::Write(bytes) => write_atomic(path, &bytes),
        Op::RemoveFile => match std::fs::remove_file(path) {
            Ok(()) => sync_parent(path),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(err),
        },
        Op::RemoveDir => {
            if !path.exists() {
                return Ok(());
            }
            // Rename first: atomic, so a crash never leaves a half-deleted project behind
            // that would load as a project missing some of its datasets.
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let trash = path.with_file_name(format!(".deleted-{name}-{}", random_suffix()));
            std::fs::rename(path, &trash)?;
            sync_parent(path)?;
            std::fs::remove_dir_all(&trash)
        }
    }
}

/// Write `bytes` to `path` atomically: temporary file, fsync, rename, fsync of the directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("path has no parent directory"))?;
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", random_suffix()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        sync_parent(path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn sync_parent(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn random_suffix() -> String {
    format!("{:016x}", rand::rng().random::<u64>())
}

/// The JSON documents of one directory (`*.json`, not starting with a dot), as
/// `(file stem, document)`. Leftover temporary files are removed.
pub(crate) fn read_dir_docs(dir: &Path) -> anyhow::Result<Vec<(String, serde_json::Value)>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(err) => return Err(anyhow::anyhow!("cannot list {}: {err}", dir.display())),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if name.starts_with('.') {
            cleanup_leftover(&path);
            continue;
        }
        let Some(stem) = name.strip_suffix(".json") else {
            continue;
        };
        if !entry.file_type()?.is_file() {
            continue;
        }
        out.push((stem.to_string(), read_doc(&path)?));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// One JSON document.
pub(crate) fn read_doc(path: &Path) -> anyhow::Result<serde_json::Value> {
    let bytes =
        std::fs::read(path).map_err(|err| anyhow::anyhow!("cannot read {}: {err}", path.display()))?;
    serde_json::from_slice(&bytes)
        .map_err(|err| anyhow::anyhow!("{} is not valid JSON: {err}", path.display()))
}

/// Remove a temporary file or a renamed-for-deletion directory left by a crash.
pub(crate) fn cleanup_leftover(path: &Path) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.contains(".tmp-") {
        let _ = std::fs::remove_file(path);
    } else if name.starts_with(".deleted-") {
        let _ = std::fs::remove_dir_all(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/doc.json");
        write_atomic(&path, br#"{"x":1}"#).unwrap();
        write_atomic(&path, br#"{"x":2}"#).unwrap();
        std::fs::write(dir.path().join("a/b/.doc.json.tmp-1"), b"{").unwrap();
        let docs = read_dir_docs(&dir.path().join("a/b")).unwrap();
        assert_eq!(docs, vec![("doc".to_string(), serde_json::json!({"x": 2}))]);
        assert!(!dir.path().join("a/b/.doc.json.tmp-1").exists());
    }

    #[tokio::test]
    async fn older_writes_never_overwrite_newer_ones() {
        let dir = tempfile::tempdir().unwrap();
        let p = Persister::with_cipher(Some(dir.path().to_path_buf()), None);
        let first = p.put("o.json", &serde_json::json!(1));
        let second = p.put("o.json", &serde_json::json!(2));
        p.run([second]).await.unwrap();
        p.run([first]).await.unwrap();
        assert_eq!(read_doc(&dir.path().join("o.json")).unwrap(), 2);
    }

    #[tokio::test]
    async fn in_memory_is_a_no_op() {
        let p = Persister::with_cipher(None, None);
        assert!(p.put("o.json", &serde_json::json!(1)).is_none());
        p.run([p.remove("o.json")]).await.unwrap();
    }
}
