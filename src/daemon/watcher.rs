//! The file watcher of `dssctl watch`: the manifest directory watched recursively through
//! notify's recommended backend, events debounced (about one second) by
//! notify-debouncer-full, then filtered (`.dssctl/`, hidden files and directories, access-only
//! events) and forwarded as a bare "something changed" signal into a tokio channel. The
//! debouncer calls back on its own thread, hence the unbounded channel (sending never blocks).

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use notify_debouncer_full::notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use tokio::sync::mpsc::UnboundedSender;

/// How long the debouncer waits for a burst of events (an editor's save) to settle.
pub(crate) const DEBOUNCE: Duration = Duration::from_millis(800);

/// A change under the watched directory: the paths that changed (relative when possible).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    pub paths: Vec<PathBuf>,
}

/// The running watcher; dropping it stops watching.
pub(crate) struct Watcher {
    _debouncer: Debouncer<notify_debouncer_full::notify::RecommendedWatcher, RecommendedCache>,
}

/// Start watching `dir` recursively; relevant changes are sent on `tx`.
pub(crate) fn watch(dir: &Path, tx: UnboundedSender<Change>) -> anyhow::Result<Watcher> {
    let root = dir
        .canonicalize()
        .with_context(|| format!("cannot watch {}: no such directory", dir.display()))?;
    let filter_root = root.clone();
    let mut debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
        match result {
            Ok(events) => {
                let mut paths: Vec<PathBuf> = events
                    .iter()
                    .filter(|e| !matches!(e.kind, EventKind::Access(_)))
                    .flat_map(|e| e.paths.iter())
                    .filter_map(|p| relevant(&filter_root, p))
                    .collect();
                paths.sort();
                paths.dedup();
                if !paths.is_empty() {
                    // The receiver is gone only when the daemon is stopping.
                    let _ = tx.send(Change { paths });
                }
            }
            Err(errors) => {
                for e in errors {
                    tracing::warn!(error = %e, "file watcher error");
                }
            }
        }
    })
    .context("cannot start the file watcher")?;
    debouncer
        .watch(&root, RecursiveMode::Recursive)
        .with_context(|| format!("cannot watch {}", root.display()))?;
    Ok(Watcher {
        _debouncer: debouncer,
    })
}

/// `path` relative to `root` when it matters: not under `.dssctl/` or any hidden file or
/// directory (editors' swap files, `.git/`); `None` otherwise.
pub(crate) fn relevant(root: &Path, path: &Path) -> Option<PathBuf> {
    let relative = path.strip_prefix(root).unwrap_or(path);
    let hidden = relative.components().any(|c| match c {
        Component::Normal(name) => name.to_string_lossy().starts_with('.'),
        _ => false,
    });
    // Editors' backup files (`file.yaml~`) are not manifests either.
    let backup = relative
        .file_name()
        .is_some_and(|n| n.to_string_lossy().ends_with('~'));
    (!hidden && !backup).then(|| relative.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_and_hidden_paths_are_ignored() {
        let root = Path::new("/m");
        assert_eq!(
            relevant(root, Path::new("/m/projects/a.yaml")),
            Some(PathBuf::from("projects/a.yaml"))
        );
        assert_eq!(relevant(root, Path::new("/m/.dssctl/local/state.db")), None);
        assert_eq!(relevant(root, Path::new("/m/.git/index")), None);
        assert_eq!(relevant(root, Path::new("/m/projects/.a.yaml.swp")), None);
        assert_eq!(relevant(root, Path::new("/m/a.yaml~")), None);
        assert_eq!(
            relevant(root, Path::new("/m/secrets/key")),
            Some(PathBuf::from("secrets/key"))
        );
    }
}
