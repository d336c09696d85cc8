//! Backups before a project deletion: the project's export (`POST /projects/{k}/export`, a
//! zip) written to `.dssctl/backups/<KEY>-<timestamp>.zip` under the current directory. The
//! file is written to a temporary name and renamed, so a backup that exists is complete; the
//! deletion happens only after that rename.

use std::path::{Path, PathBuf};

use crate::client::DssClient;

/// Where backups go, relative to the current directory.
pub(crate) const BACKUP_DIR: &str = ".dssctl/backups";

/// A failed backup.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BackupError {
    #[error(transparent)]
    Client(#[from] crate::client::ClientError),
    #[error("the export of project {key} is not a zip archive ({bytes} bytes)")]
    NotAZip { key: String, bytes: usize },
    // The I/O error is in the message, so it is not also the `source()`: said once.
    #[error("cannot write {}: {error}", path.display())]
    Io { path: PathBuf, error: std::io::Error },
}

/// Export project `key` into `dir`; `Ok(None)` when the project no longer exists.
pub(crate) async fn export_project(
    client: &DssClient,
    key: &str,
    dir: &Path,
) -> Result<Option<PathBuf>, BackupError> {
    let bytes = match client.export_project(key).await {
        Ok(b) => b,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    // Every zip starts with a local file header (or is an empty archive's end record).
    if !(bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")) {
        return Err(BackupError::NotAZip {
            key: key.to_string(),
            bytes: bytes.len(),
        });
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |error| BackupError::Io { path, error }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join(file_name(key, time::OffsetDateTime::now_utc()));
    let tmp = path.with_extension("zip.partial");
    std::fs::write(&tmp, &bytes).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    tracing::info!(project = key, path = %path.display(), "project exported before deletion");
    Ok(Some(path))
}

/// `<KEY>-<yyyymmddThhmmssZ>.zip`, unique per second and sortable by time.
pub(crate) fn file_name(key: &str, at: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    format!("{key}-{}.zip", at.format(&f).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_time() {
        let at = time::macros::datetime!(2026-01-02 03:04:05 UTC);
        assert_eq!(file_name("CHURN", at), "CHURN-20260102T030405Z.zip");
    }
}
