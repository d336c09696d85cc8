//! The flow plane of a project as the emulator keeps it: managed folders, recipes, flow zones,
//! scenarios and their runs; their paths under the data dir, their loading, the server-side
//! ids, and the references between them (a recipe's inputs and outputs, a zone's items).
//!
//! On disk, next to the project's datasets:
//!
//! ```text
//! projects/KEY/managedfolders/ID.json           folder definition
//! projects/KEY/recipes/NAME.json                {"recipe": definition, "payload": text}
//! projects/KEY/zones/ID.json                    zone (id, name, color, items, shared)
//! projects/KEY/scenarios/ID.json                {"scenario": settings, "script": text}
//! projects/KEY/scenarios/ID/runs/RUNID.json     one scenario run, with its step runs
//! fs/CONNECTION/PATH/...                        files of folders and Filesystem datasets
//! ```
//!
//! The built-in `default` zone is never stored: it holds whatever no other zone holds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::http::ApiError;
use super::persist;
use super::store::Doc;

/// The id of the built-in zone.
pub(crate) const DEFAULT_ZONE: &str = "default";

/// The flow objects of one project.
#[derive(Debug, Clone, Default)]
pub(crate) struct Flow {
    /// `{"recipe": definition, "payload": string}` by recipe name.
    pub recipes: BTreeMap<String, Doc>,
    pub zones: BTreeMap<String, Doc>,
    /// `{"scenario": settings, "script": string}` by scenario id.
    pub scenarios: BTreeMap<String, Doc>,
    /// Runs by scenario id, then run id (run ids sort in time order).
    pub runs: BTreeMap<String, BTreeMap<String, Doc>>,
    /// The per-project documents of the areas that keep them as a collection (see
    /// `collections`).
    pub collections: super::collections::Collections,
}

pub(crate) mod paths {
    use std::path::PathBuf;

    use crate::emulator::store::paths::project_dir;

    pub(crate) fn recipe(key: &str, name: &str) -> PathBuf {
        project_dir(key).join("recipes").join(format!("{name}.json"))
    }
    pub(crate) fn zone(key: &str, id: &str) -> PathBuf {
        project_dir(key).join("zones").join(format!("{id}.json"))
    }
    pub(crate) fn scenario(key: &str, id: &str) -> PathBuf {
        project_dir(key).join("scenarios").join(format!("{id}.json"))
    }
    pub(crate) fn scenario_runs(key: &str, id: &str) -> PathBuf {
        project_dir(key).join("scenarios").join(id).join("runs")
    }
    pub(crate) fn run(key: &str, id: &str, run_id: &str) -> PathBuf {
        scenario_runs(key, id).join(format!("{run_id}.json"))
    }
}

fn object(value: Value, path: &Path) -> anyhow::Result<Doc> {
    match value {
        Value::Object(map) => Ok(map),
        _ => anyhow::bail!("{} does not hold a JSON object", path.display()),
    }
}

/// Load the flow of the project stored in `dir`. Scenario runs left unfinished by a stop of
/// the emulator stay as they were: their outcome follows the clock like jobs' (see `scenarios`).
pub(crate) fn load(dir: &Path) -> anyhow::Result<Flow> {
    let mut flow = Flow::default();
    for (sub, target) in [
        ("recipes", &mut flow.recipes),
        ("zones", &mut flow.zones),
        ("scenarios", &mut flow.scenarios),
    ] {
        for (stem, doc) in persist::read_dir_docs(&dir.join(sub))? {
            let doc = object(doc, &dir.join(sub).join(&stem))?;
            target.insert(stem, doc);
        }
    }
    for id in flow.scenarios.keys() {
        let runs_dir = dir.join("scenarios").join(id).join("runs");
        let mut runs = BTreeMap::new();
        for (stem, doc) in persist::read_dir_docs(&runs_dir)? {
            runs.insert(stem.clone(), object(doc, &runs_dir.join(&stem))?);
        }
        if !runs.is_empty() {
            flow.runs.insert(id.clone(), runs);
        }
    }
    flow.collections = super::collections::Collections::load(dir, super::collections::Scope::Project)?;
    Ok(flow)
}

/// A random id of `len` letters and digits, as DSS generates for folders, zones and triggers.
pub(crate) fn random_id(len: usize) -> String {
    use rand::Rng as _;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
        .collect()
}

/// A fresh id of `len` characters not taken in `taken`.
pub(crate) fn fresh_id<V>(taken: &BTreeMap<String, V>, len: usize) -> String {
    loop {
        let id = random_id(len);
        if !taken.contains_key(&id) {
            return id;
        }
    }
}

/// Flat refs of a recipe's `inputs` or `outputs` (every role, in role then item order).
pub(crate) fn role_refs(roles: Option<&Value>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(Value::Object(roles)) = roles {
        for role in roles.values() {
            for item in role.get("items").and_then(Value::as_array).into_iter().flatten() {
                if let Some(r) = item.get("ref").and_then(Value::as_str) {
                    out.push(r.to_string());
                }
            }
        }
    }
    out
}

/// The definition part of a stored recipe.
pub(crate) fn recipe_def(stored: &Doc) -> &Doc {
    static EMPTY: std::sync::OnceLock<Doc> = std::sync::OnceLock::new();
    stored
        .get("recipe")
        .and_then(Value::as_object)
        .unwrap_or_else(|| EMPTY.get_or_init(Doc::new))
}

pub(crate) fn recipe_inputs(stored: &Doc) -> Vec<String> {
    role_refs(recipe_def(stored).get("inputs"))
}

pub(crate) fn recipe_outputs(stored: &Doc) -> Vec<String> {
    role_refs(recipe_def(stored).get("outputs"))
}

/// Split a ref `PROJECT.name` (another project) or `name` (this one).
pub(crate) fn split_ref<'a>(key: &'a str, r: &'a str) -> (&'a str, &'a str) {
    match r.split_once('.') {
        Some((p, n)) => (p, n),
        None => (key, r),
    }
}

/// The zone item of an object, exactly as the official client writes it (it compares items
/// by their JSON text, so no other field may be added).
pub(crate) fn zone_item(object_type: &str, object_id: &str) -> Value {
    json!({"objectId": object_id, "objectType": object_type})
}

/// Remove `item` from every zone; returns the ids of the zones changed.
pub(crate) fn remove_from_zones(flow: &mut Flow, object_type: &str, object_id: &str) -> Vec<String> {
    let wanted = zone_item(object_type, object_id);
    let mut changed = Vec::new();
    for (id, zone) in flow.zones.iter_mut() {
        for list in ["items", "shared"] {
            if let Some(Value::Array(items)) = zone.get_mut(list) {
                let before = items.len();
                items.retain(|i| *i != wanted);
                if items.len() != before && !changed.contains(id) {
                    changed.push(id.clone());
                }
            }
        }
    }
    changed
}

/// Take an object out of the `items` of every zone (shared items stay); returns the zones changed.
pub(crate) fn remove_from_zones_items(flow: &mut Flow, object_type: &str, object_id: &str) -> Vec<String> {
    let wanted = zone_item(object_type, object_id);
    let mut changed = Vec::new();
    for (id, zone) in flow.zones.iter_mut() {
        if let Some(Value::Array(items)) = zone.get_mut("items") {
            let before = items.len();
            items.retain(|i| *i != wanted);
            if items.len() != before {
                changed.push(id.clone());
            }
        }
    }
    changed
}

/// Replace the id of an object in every zone (after a rename); returns the zones changed.
pub(crate) fn rename_in_zones(flow: &mut Flow, object_type: &str, old: &str, new: &str) -> Vec<String> {
    let from = zone_item(object_type, old);
    let mut changed = Vec::new();
    for (id, zone) in flow.zones.iter_mut() {
        for list in ["items", "shared"] {
            if let Some(Value::Array(items)) = zone.get_mut(list) {
                for i in items.iter_mut() {
                    if *i == from {
                        *i = zone_item(object_type, new);
                        if !changed.contains(id) {
                            changed.push(id.clone());
                        }
                    }
                }
            }
        }
    }
    changed
}

/// Folder, recipe and scenario ids: letters, digits and `_` (they name files in the data dir).
pub(crate) fn validate_id(id: &str, what: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > 255 {
        return Err(ApiError::illegal(format!(
            "Invalid {what} '{id}': must be 1 to 255 characters"
        )));
    }
    if let Some(c) = id.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_')) {
        return Err(ApiError::illegal(format!(
            "Invalid {what} '{id}': character {c:?} not allowed (only letters, digits and _)"
        )));
    }
    Ok(())
}

/// The id of a new recipe or scenario: the one the client gave (checked with
/// [`validate_id`], refused with `already(id)` when `taken`), or, when it gave none, `base()`
/// with `_1`, `_2`, ... appended until no object of the project has it, as DSS names a
/// recipe or scenario created without a name.
pub(crate) fn given_or_generated(
    given: Option<&str>,
    what: &str,
    taken: impl Fn(&str) -> bool,
    already: impl FnOnce(&str) -> ApiError,
    base: impl FnOnce() -> String,
) -> Result<String, ApiError> {
    if let Some(id) = given {
        validate_id(id, what)?;
        return if taken(id) {
            Err(already(id))
        } else {
            Ok(id.to_string())
        };
    }
    let base = base();
    let mut id = base.clone();
    let mut i = 1;
    while taken(&id) {
        id = format!("{base}_{i}");
        i += 1;
    }
    Ok(id)
}

/// The files of managed folders and Filesystem datasets: under `fs/` in the data dir, or in
/// memory without one. Paths are relative, `/`-separated, with no `.` or `..` component.
pub(crate) struct FileStore {
    root: Option<PathBuf>,
    memory: std::sync::Mutex<BTreeMap<String, (Vec<u8>, i64)>>,
}

/// One file: its path inside the listed prefix, size, and last modification (ms).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FileEntry {
    pub path: String,
    pub size: u64,
    pub last_modified: i64,
}

/// A relative path made safe: empty, `.` and `..` components refused, leading slashes dropped.
pub(crate) fn clean_path(raw: &str) -> Result<String, ApiError> {
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" => continue,
            "." | ".." => {
                return Err(ApiError::illegal(format!(
                    "Invalid path '{raw}': '.' and '..' are not allowed"
                )));
            }
            p if p.contains('\\') || p.contains('\0') => {
                return Err(ApiError::illegal(format!("Invalid path '{raw}'")));
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

fn io_error(err: std::io::Error, what: &str) -> ApiError {
    ApiError::internal(format!("{what}: {err}"))
}

impl FileStore {
    pub(crate) fn new(data_dir: Option<PathBuf>) -> Self {
        FileStore {
            root: data_dir.map(|d| d.join("fs")),
            memory: std::sync::Mutex::new(BTreeMap::new()),
        }
    }

    fn mem(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, (Vec<u8>, i64)>> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Write a whole file (atomically on disk).
    pub(crate) async fn put(&self, path: &str, bytes: Vec<u8>) -> Result<(), ApiError> {
        match &self.root {
            Some(root) => {
                let full = root.join(path);
                tokio::task::spawn_blocking(move || persist::write_atomic(&full, &bytes))
                    .await
                    .map_err(|err| ApiError::internal(format!("write task failed: {err}")))?
                    .map_err(|err| io_error(err, &format!("cannot write {path}")))
            }
            None => {
                self.mem()
                    .insert(path.to_string(), (bytes, super::store::now_ms()));
                Ok(())
            }
        }
    }

    /// A whole file, or `None` when it does not exist.
    pub(crate) async fn get(&self, path: &str) -> Result<Option<Vec<u8>>, ApiError> {
        match &self.root {
            Some(root) => match tokio::fs::read(root.join(path)).await {
                Ok(b) => Ok(Some(b)),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(err) if err.kind() == std::io::ErrorKind::IsADirectory => Ok(None),
                Err(err) => Err(io_error(err, &format!("cannot read {path}"))),
            },
            None => Ok(self.mem().get(path).map(|(b, _)| b.clone())),
        }
    }

    /// Remove a file; no error when it does not exist.
    pub(crate) async fn delete(&self, path: &str) -> Result<(), ApiError> {
        match &self.root {
            Some(root) => match tokio::fs::remove_file(root.join(path)).await {
                Ok(()) => Ok(()),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(err) => Err(io_error(err, &format!("cannot remove {path}"))),
            },
            None => {
                self.mem().remove(path);
                Ok(())
            }
        }
    }

    /// Remove every file under `prefix`.
    pub(crate) async fn delete_all(&self, prefix: &str) -> Result<(), ApiError> {
        match &self.root {
            Some(root) => {
                if prefix.is_empty() {
                    return Ok(());
                }
                match tokio::fs::remove_dir_all(root.join(prefix)).await {
                    Ok(()) => Ok(()),
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(err) => Err(io_error(err, &format!("cannot remove {prefix}"))),
                }
            }
            None => {
                let p = format!("{prefix}/");
                self.mem().retain(|k, _| !k.starts_with(&p));
                Ok(())
            }
        }
    }

    /// Every file under `prefix`, paths relative to it, sorted.
    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<FileEntry>, ApiError> {
        match &self.root {
            Some(root) => {
                let base = root.join(prefix);
                tokio::task::spawn_blocking(move || {
                    let mut out = Vec::new();
                    walk(&base, &base, &mut out)?;
                    out.sort_by(|a: &FileEntry, b| a.path.cmp(&b.path));
                    Ok(out)
                })
                .await
                .map_err(|err| ApiError::internal(format!("list task failed: {err}")))?
                .map_err(|err| io_error(err, &format!("cannot list {prefix}")))
            }
            None => {
                let p = format!("{prefix}/");
                Ok(self
                    .mem()
                    .iter()
                    .filter_map(|(k, (b, t))| {
                        k.strip_prefix(&p).map(|rel| FileEntry {
                            path: rel.to_string(),
                            size: b.len() as u64,
                            last_modified: *t,
                        })
                    })
                    .collect())
            }
        }
    }
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<FileEntry>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            // Temporary files of atomic writes.
            continue;
        }
        let ty = entry.file_type()?;
        if ty.is_dir() {
            walk(base, &path, out)?;
        } else if ty.is_file() {
            let meta = entry.metadata()?;
            let modified = meta
                .modified()
                .ok()
                .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_millis() as i64);
            let rel = path
                .strip_prefix(base)
                .map(|p| {
                    p.components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join("/")
                })
                .unwrap_or(name);
            out.push(FileEntry {
                path: rel,
                size: meta.len(),
                last_modified: modified,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_id_is_checked_and_a_generated_one_is_unique() {
        let taken = |id: &str| ["compute_x", "compute_x_1"].contains(&id);
        let already = |id: &str| ApiError::already_exists(format!("{id} exists"));
        let generated = given_or_generated(None, "recipe name", taken, already, || "compute_x".into());
        assert_eq!(generated.unwrap(), "compute_x_2");
        let given = given_or_generated(Some("mine"), "recipe name", taken, already, || unreachable!());
        assert_eq!(given.unwrap(), "mine");
        let twice = given_or_generated(Some("compute_x"), "recipe name", taken, already, String::new);
        assert_eq!(twice.unwrap_err().body.message, "compute_x exists");
        let bad = given_or_generated(Some("a b"), "recipe name", taken, already, String::new);
        assert!(
            bad.unwrap_err()
                .body
                .message
                .contains("Invalid recipe name 'a b'")
        );
    }

    #[test]
    fn paths_never_climb_out() {
        assert_eq!(clean_path("/a//b/c.csv").unwrap(), "a/b/c.csv");
        assert!(clean_path("a/../b").is_err());
        assert!(clean_path("./a").is_err());
        assert!(clean_path("a\\b").is_err());
    }

    #[test]
    fn refs_of_every_role() {
        let roles =
            json!({"main": {"items": [{"ref": "a"}, {"ref": "P.b"}]}, "other": {"items": [{"ref": "c"}]}});
        assert_eq!(role_refs(Some(&roles)), vec!["a", "P.b", "c"]);
        assert_eq!(split_ref("K", "P.b"), ("P", "b"));
        assert_eq!(split_ref("K", "a"), ("K", "a"));
    }

    #[test]
    fn zone_items_move_and_rename() {
        let mut flow = Flow::default();
        flow.zones.insert(
            "z1".into(),
            json!({"items": [zone_item("DATASET", "a")], "shared": []})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert_eq!(rename_in_zones(&mut flow, "DATASET", "a", "b"), vec!["z1"]);
        assert_eq!(flow.zones["z1"]["items"][0]["objectId"], "b");
        assert_eq!(remove_from_zones(&mut flow, "DATASET", "b"), vec!["z1"]);
        assert!(remove_from_zones(&mut flow, "DATASET", "b").is_empty());
        let id = random_id(8);
        assert_eq!(id.len(), 8);
        validate_id(&id, "id").unwrap();
    }

    #[tokio::test]
    async fn files_in_memory() {
        let files = FileStore::new(None);
        files.put("c/p/x.csv", b"1".to_vec()).await.unwrap();
        files.put("c/p/d/y.csv", b"22".to_vec()).await.unwrap();
        let listed = files.list("c/p").await.unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(files.get("c/p/x.csv").await.unwrap(), Some(b"1".to_vec()));
        files.delete("c/p/x.csv").await.unwrap();
        assert_eq!(files.get("c/p/x.csv").await.unwrap(), None);
        files.delete_all("c/p").await.unwrap();
        assert!(files.list("c/p").await.unwrap().is_empty());
    }
}
