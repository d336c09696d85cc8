//! The ledger writer: the only code that writes a stack's ledger (the global variable
//! `dssctl.ledger.<stack>`, model in [`crate::plan::ledger`]) and the global variables of the
//! `Variables` kind.
//!
//! DSS stores all global variables as ONE document that a PUT replaces whole, so every write
//! here is GET → change only our key(s) → PUT, serialised by one mutex: two concurrent
//! operations of one apply can never overwrite each other's change, and variables that
//! neither the ledger nor the manifests manage go back untouched.
//!
//! Keeping the ledger true under kill -9 with few writes:
//! - before any operation runs, one write records ahead the entries of every resource the run
//!   will create, with the fingerprints of the secrets their creation sends (and drops the
//!   entries the plan forgets). A kill after a creation therefore
//!   never leaves an object the ledger does not own. A kill before the creation leaves an
//!   entry for an absent object, which the next plan creates again (still declared) or forgets
//!   (no longer declared); nothing is ever deleted on the strength of such an entry, because a
//!   delete needs the object to be live;
//! - as operations finish, their entries (applied time, Git commit, protect, dropDataOnDelete,
//!   secret fingerprints) are queued and flushed: every finishing operation asks for a flush,
//!   and the flushes coalesce behind the mutex; a flush whose changes leave the ledger as
//!   last seen (the usual case after a creation, whose entry was written ahead) makes no
//!   request at all. A run creating hundreds of resources thus writes the ledger once or
//!   twice, and a kill loses at most the entries of the operations that finished during the
//!   last flush. What such a loss costs is safe: a stale secret
//!   fingerprint makes the next run resend the secret; a missing adoption is adopted again;
//!   an entry left for a deleted object is forgotten;
//! - an entry written ahead for a creation that then failed without creating anything is
//!   removed in the same way.
//!
//! A converged apply queues nothing and writes nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex as SyncMutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Map, Value};

use crate::client::{ClientError, DssClient};
use crate::plan::ledger::{Ledger, LedgerEntry, LedgerError, ledger_variable};
use crate::plan::{LedgerIntent, ResourceId};

/// One change to the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LedgerChange {
    /// The stack manages `id`: record it (replacing any entry). `secrets` are keyed
    /// fingerprints computed with [`LedgerWriter::salt`], by field path.
    Record {
        id: ResourceId,
        intent: LedgerIntent,
        /// `dssctl.io/prune: "false"`: released, not deleted, once no longer declared.
        keep_on_removal: bool,
        secrets: BTreeMap<String, String>,
    },
    /// The stack no longer manages `id`.
    Remove(ResourceId),
}

/// A ledger write that failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LedgerWriteError {
    // The client error is in the message, so it is not also the `source()`: said once.
    #[error("cannot update the ledger: {0}")]
    Client(ClientError),
    #[error(transparent)]
    Corrupt(#[from] LedgerError),
}

impl From<ClientError> for LedgerWriteError {
    fn from(error: ClientError) -> Self {
        LedgerWriteError::Client(error)
    }
}

/// Writes one stack's ledger and the global variables (see the module documentation).
pub struct LedgerWriter<'a> {
    client: &'a DssClient,
    stack: String,
    salt: String,
    git_commit: Option<String>,
    applied_at: String,
    lock: tokio::sync::Mutex<()>,
    pending: SyncMutex<Vec<LedgerChange>>,
    writes: AtomicUsize,
    /// The ledger as last read or written by this writer (under `lock`): changes that would
    /// leave it as it is are dropped without a request.
    known: SyncMutex<Option<Ledger>>,
}

impl<'a> LedgerWriter<'a> {
    /// `existing` is the ledger the plan was made with (its salt keys the secret
    /// fingerprints); without one, a fresh salt is used when the ledger is first written.
    pub(crate) fn new(
        client: &'a DssClient,
        stack: &str,
        existing: Option<&Ledger>,
        git_commit: Option<String>,
    ) -> Self {
        let salt = existing.map_or_else(|| Ledger::new().salt, |l| l.salt.clone());
        LedgerWriter {
            client,
            stack: stack.to_string(),
            salt,
            git_commit,
            applied_at: now_rfc3339(),
            lock: tokio::sync::Mutex::new(()),
            pending: SyncMutex::new(Vec::new()),
            writes: AtomicUsize::new(0),
            known: SyncMutex::new(existing.cloned()),
        }
    }

    /// The HMAC key of the secret fingerprints.
    pub(crate) fn salt(&self) -> &str {
        &self.salt
    }

    /// How many PUTs of the global variables this writer made.
    pub(crate) fn writes(&self) -> usize {
        self.writes.load(Ordering::Relaxed)
    }

    /// Queue a change for the next flush.
    pub(crate) fn queue(&self, change: LedgerChange) {
        self.pending
            .lock()
            .expect("the pending list is never poisoned")
            .push(change);
    }

    /// Write every queued change (nothing when none is queued). On failure the changes stay
    /// queued for the next flush.
    pub(crate) async fn flush(&self) -> Result<(), LedgerWriteError> {
        let _guard = self.lock.lock().await;
        let changes = std::mem::take(&mut *self.pending.lock().expect("never poisoned"));
        if changes.is_empty() || self.changes_nothing(&changes) {
            return Ok(());
        }
        let result = self.write_locked(&changes, |_| Ok(())).await;
        if result.is_err() {
            let mut pending = self.pending.lock().expect("never poisoned");
            let later = std::mem::take(&mut *pending);
            *pending = changes;
            pending.extend(later);
        }
        match result {
            Ok(_) => Ok(()),
            Err(VariablesError::Ledger(e)) => Err(e),
            // The edit of a flush never fails.
            Err(VariablesError::Edit(reason)) => Err(LedgerWriteError::Corrupt(LedgerError {
                variable: ledger_variable(&self.stack),
                reason,
            })),
        }
    }

    /// Write `changes` now, together with every queued change (used before the operations
    /// start, for the entries written ahead).
    pub(crate) async fn write_now(&self, changes: Vec<LedgerChange>) -> Result<(), LedgerWriteError> {
        for c in changes {
            self.queue(c);
        }
        self.flush().await
    }

    /// Change the global variables with `edit` (which receives every variable, the ledgers
    /// included, and must only touch its own keys) and write the queued ledger changes plus
    /// `changes`, in one GET → PUT under the lock. Returns whether anything was written.
    pub(crate) async fn with_variables(
        &self,
        changes: Vec<LedgerChange>,
        edit: impl FnOnce(&mut Map<String, Value>) -> Result<(), String>,
    ) -> Result<bool, VariablesError> {
        let _guard = self.lock.lock().await;
        let mut all = std::mem::take(&mut *self.pending.lock().expect("never poisoned"));
        let queued = all.len();
        all.extend(changes);
        let result = self.write_locked(&all, edit).await;
        if result.is_err() {
            let mut pending = self.pending.lock().expect("never poisoned");
            let later = std::mem::take(&mut *pending);
            *pending = all.into_iter().take(queued).collect();
            pending.extend(later);
        }
        result
    }

    async fn write_locked(
        &self,
        changes: &[LedgerChange],
        edit: impl FnOnce(&mut Map<String, Value>) -> Result<(), String>,
    ) -> Result<bool, VariablesError> {
        // Shared with the stack lock's renewals, which write the same document.
        let _variables = self.client.lock_variables().await;
        let mut vars = self
            .client
            .get_global_variables()
            .await
            .map_err(LedgerWriteError::from)?;
        let before_vars = vars.clone();
        let existing = Ledger::from_global_variables(&vars, &self.stack).map_err(LedgerWriteError::from)?;
        let had_ledger = existing.is_some();
        let mut ledger = existing.unwrap_or_else(|| Ledger {
            salt: self.salt.clone(),
            ..Ledger::new()
        });
        let before = ledger.clone();
        self.apply(&mut ledger, changes);
        edit(&mut vars).map_err(VariablesError::Edit)?;
        if ledger != before || (!had_ledger && !ledger.resources.is_empty()) {
            vars.insert(ledger_variable(&self.stack), ledger.to_value());
        }
        if vars == before_vars {
            *self.known.lock().expect("never poisoned") = Some(ledger);
            return Ok(false);
        }
        self.client
            .set_global_variables(&vars)
            .await
            .map_err(LedgerWriteError::from)?;
        *self.known.lock().expect("never poisoned") = Some(ledger);
        self.writes.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(stack = %self.stack, changes = changes.len(), "ledger written");
        Ok(true)
    }

    /// Whether `changes` would leave the ledger as this writer last saw it (most entries
    /// recorded as operations finish equal the ones written ahead). Every finishing operation
    /// asks this, so it looks only at the entries the changes touch, never at the whole
    /// ledger.
    fn changes_nothing(&self, changes: &[LedgerChange]) -> bool {
        let known = self.known.lock().expect("never poisoned");
        let Some(known) = known.as_ref() else {
            return false;
        };
        let same_salt = known.salt == self.salt;
        // The last change of each entry decides what it becomes.
        let mut after: HashMap<String, Option<LedgerEntry>> = HashMap::new();
        for change in changes {
            match change {
                LedgerChange::Record {
                    id,
                    intent,
                    keep_on_removal,
                    secrets,
                } => {
                    let entry = self.entry(id, intent, *keep_on_removal, secrets, same_salt);
                    after.insert(id.ledger_key(), Some(entry));
                }
                LedgerChange::Remove(id) => {
                    after.insert(id.ledger_key(), None);
                }
            }
        }
        after
            .iter()
            .all(|(key, entry)| known.resources.get(key) == entry.as_ref())
    }

    /// Apply `changes` to `ledger`. Fingerprints computed with another salt than the stored
    /// ledger's (a ledger created concurrently by another run) are dropped: the next plan then
    /// sees those secrets as changed and sends them again, which is safe.
    fn apply(&self, ledger: &mut Ledger, changes: &[LedgerChange]) {
        let same_salt = ledger.salt == self.salt;
        for change in changes {
            match change {
                LedgerChange::Record {
                    id,
                    intent,
                    keep_on_removal,
                    secrets,
                } => {
                    ledger.insert(self.entry(id, intent, *keep_on_removal, secrets, same_salt));
                }
                LedgerChange::Remove(id) => {
                    ledger.remove(id);
                }
            }
        }
    }

    /// The entry a [`LedgerChange::Record`] writes.
    fn entry(
        &self,
        id: &ResourceId,
        intent: &LedgerIntent,
        keep_on_removal: bool,
        secrets: &BTreeMap<String, String>,
        same_salt: bool,
    ) -> LedgerEntry {
        LedgerEntry {
            kind: id.kind,
            name: id.name.clone(),
            applied_at: self.applied_at.clone(),
            git_commit: self.git_commit.clone(),
            protect: intent.protect,
            drop_data_on_delete: intent.drop_data_on_delete,
            keep_on_removal,
            dss_id: intent.dss_id.clone(),
            secrets: if same_salt {
                secrets.clone()
            } else {
                BTreeMap::new()
            },
        }
    }
}

/// A failed write of the global variables.
#[derive(Debug, thiserror::Error)]
pub(crate) enum VariablesError {
    #[error(transparent)]
    Ledger(#[from] LedgerWriteError),
    #[error("{0}")]
    Edit(String),
}

/// The current time, RFC 3339, in UTC, to the second.
pub(crate) fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(0)
        .unwrap_or(now)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The Git commit of the work tree holding `dir`, if it is one (`git` absent → `None`).
pub fn git_commit(dir: &std::path::Path) -> Option<String> {
    let dir = if dir.is_dir() { dir } else { dir.parent()? };
    let dir = if dir.as_os_str().is_empty() {
        std::path::Path::new(".")
    } else {
        dir
    };
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--verify", "--quiet", "HEAD"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let commit = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit()))
        .then_some(commit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc_seconds() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z'));
    }

    #[test]
    fn the_crate_is_in_a_work_tree_or_not_but_never_garbage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(git_commit(dir.path()), None);
        if let Some(c) = git_commit(std::path::Path::new(env!("CARGO_MANIFEST_DIR"))) {
            assert!(c.len() >= 40);
        }
    }

    #[test]
    fn changes_apply_and_foreign_salts_drop_fingerprints() {
        let cfg = crate::client::ClientConfig::new("http://127.0.0.1:1", "k");
        crate::install_crypto_provider();
        let client = DssClient::new(cfg).unwrap();
        let w = LedgerWriter::new(&client, "s", None, Some("abc1234".into()));
        let id = ResourceId::new(crate::kinds::connection::ID, "c");
        let record = LedgerChange::Record {
            id: id.clone(),
            intent: LedgerIntent {
                protect: true,
                drop_data_on_delete: false,
                dss_id: Some("a1b2c3".into()),
            },
            keep_on_removal: false,
            secrets: [("params.password".to_string(), "f".repeat(64))].into(),
        };
        let mut mine = Ledger {
            salt: w.salt().to_string(),
            ..Ledger::new()
        };
        w.apply(&mut mine, std::slice::from_ref(&record));
        let e = mine.get(&id).unwrap();
        assert!(e.protect);
        assert_eq!(e.git_commit.as_deref(), Some("abc1234"));
        assert_eq!(e.secrets.len(), 1);
        assert_eq!(e.dss_id.as_deref(), Some("a1b2c3"));
        let mut foreign = Ledger::new();
        w.apply(&mut foreign, &[record]);
        assert!(foreign.get(&id).unwrap().secrets.is_empty());
        w.apply(&mut foreign, &[LedgerChange::Remove(id.clone())]);
        assert!(foreign.get(&id).is_none());
    }
}
