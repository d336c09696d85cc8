//! The in-memory state of the emulator, its loading from the data dir, name validation, and
//! the document helpers every resource shares (version tags, sorted tags).
//!
//! Documents are kept as JSON objects, whole: DSS keeps unknown fields, so the emulator does
//! too. Dataset definitions are [`Stored`] behind `Arc`: listing 5000 of them clones pointers
//! under the lock, and each definition is serialised once, on first demand, not at every list
//! (a write replaces the whole `Arc`, so a serialisation never outlives its document).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value, json};

use super::http::ApiError;
use super::persist;

/// A JSON object.
pub(crate) type Doc = Map<String, Value>;

/// A document that never changes once stored (a change stores a new one), with its JSON
/// serialisation made at most once: a plan lists every dataset of every project, and
/// serialising thousands of definitions anew at each list was most of the emulator's CPU.
#[derive(Debug)]
pub(crate) struct Stored {
    doc: Doc,
    json: OnceLock<bytes::Bytes>,
}

impl Stored {
    pub(crate) fn new(doc: Doc) -> Arc<Stored> {
        Arc::new(Stored {
            doc,
            json: OnceLock::new(),
        })
    }

    /// The document as JSON (what `serde_json::to_vec` makes of it), shared, not copied.
    pub(crate) fn json(&self) -> &bytes::Bytes {
        self.json.get_or_init(|| {
            serde_json::to_vec(&self.doc)
                .expect("a JSON map serialises")
                .into()
        })
    }

    /// A JSON array of `docs`, from their serialisations.
    pub(crate) fn json_array(docs: &[Arc<Stored>]) -> Vec<u8> {
        let len = docs.iter().map(|d| d.json().len() + 1).sum::<usize>() + 2;
        let mut out = Vec::with_capacity(len);
        out.push(b'[');
        for (i, d) in docs.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(d.json());
        }
        out.push(b']');
        out
    }
}

impl std::ops::Deref for Stored {
    type Target = Doc;

    fn deref(&self) -> &Doc {
        &self.doc
    }
}

impl serde::Serialize for Stored {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.doc.serialize(serializer)
    }
}

/// One project: its own document plus its datasets and jobs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Project {
    /// `project.json`: `projectKey`, `metadata`, `permissions`, `variables`, `settings`,
    /// `versionTag`, `creationTag`.
    pub doc: Doc,
    pub datasets: BTreeMap<String, Arc<Stored>>,
    pub jobs: BTreeMap<String, Doc>,
    /// Managed folders, recipes, zones, scenarios and their runs (see `flow_state`).
    pub flow: super::flow_state::Flow,
}

/// Everything the emulator serves.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub projects: BTreeMap<String, Project>,
    pub connections: BTreeMap<String, Doc>,
    pub users: BTreeMap<String, Doc>,
    pub variables: Doc,
    /// Finished long-running tasks (`/futures/{id}`), in memory only.
    pub futures: HashMap<String, Value>,
    /// Code envs by `LANG/name` (`LANG` upper case), see `code_envs`.
    pub code_envs: BTreeMap<String, CodeEnv>,
    /// Installed plugins by id, see `plugins`.
    pub plugins: BTreeMap<String, Doc>,
    /// The general settings as last saved; `None` until the first save (the default document
    /// of `general_settings` is answered meanwhile).
    pub general_settings: Option<Doc>,
    /// Project folders by id, `ROOT` included once its settings were saved, see
    /// `project_folders`.
    pub project_folders: BTreeMap<String, Doc>,
    /// The instance-level documents of the areas that keep them as a collection (see
    /// `collections`).
    pub collections: super::collections::Collections,
}

/// One code env: its definition as DSS answers it, its logs by name, and the failure of its
/// last package installation (while set, the env answers 500 like a DSS env whose build broke).
#[derive(Debug, Clone, Default)]
pub(crate) struct CodeEnv {
    pub definition: Doc,
    pub logs: BTreeMap<String, String>,
    pub failure: Option<String>,
}

impl CodeEnv {
    /// The document persisted under `admin/code-envs/LANG/NAME.json`.
    pub(crate) fn to_record(&self) -> Value {
        json!({"definition": self.definition, "logs": self.logs, "failure": self.failure})
    }

    fn from_record(value: Value, path: &Path) -> anyhow::Result<CodeEnv> {
        let mut doc = as_object(value, path)?;
        let definition = match doc.remove("definition") {
            Some(v) => as_object(v, path)?,
            None => anyhow::bail!("{} has no code env definition", path.display()),
        };
        let logs = match doc.remove("logs") {
            Some(Value::Object(m)) => m
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
                .collect(),
            _ => BTreeMap::new(),
        };
        let failure = doc.get("failure").and_then(Value::as_str).map(str::to_string);
        Ok(CodeEnv {
            definition,
            logs,
            failure,
        })
    }
}

impl Store {
    /// Record a finished long-running task with its `result` and answer what DSS answers when
    /// a task starts: its id, still alive. The client then polls `/futures/{id}`, which holds
    /// the result (the emulator's tasks finish at once).
    pub(crate) fn start_future(&mut self, kind: &str, result: Value) -> Value {
        let id = format!("{kind}-{}-{:08x}", now_ms(), rand::random::<u32>());
        let finished = json!({"jobId": id, "hasResult": true, "alive": false,
            "result": result, "progress": {"states": []}});
        self.futures.insert(id.clone(), finished);
        json!({"jobId": id, "hasResult": false, "alive": true})
    }

    /// The project `key`, or the DSS NotFoundException.
    pub(crate) fn project(&self, key: &str) -> Result<&Project, ApiError> {
        self.projects.get(key).ok_or_else(|| project_not_found(key))
    }

    pub(crate) fn project_mut(&mut self, key: &str) -> Result<&mut Project, ApiError> {
        self.projects.get_mut(key).ok_or_else(|| project_not_found(key))
    }

    /// Load everything under `root`. Orphans (datasets of a project whose `project.json` is
    /// gone) are ignored; leftovers of interrupted writes are removed.
    pub(crate) fn load(root: &Path) -> anyhow::Result<Store> {
        let mut store = Store::default();
        let projects_dir = root.join("projects");
        if projects_dir.is_dir() {
            for entry in std::fs::read_dir(&projects_dir)? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let dir = entry.path();
                if name.starts_with('.') {
                    persist::cleanup_leftover(&dir);
                    continue;
                }
                if !entry.file_type()?.is_dir() || validate_key(&name).is_err() {
                    continue;
                }
                let project_file = dir.join("project.json");
                if !project_file.is_file() {
                    continue;
                }
                let doc = as_object(persist::read_doc(&project_file)?, &project_file)?;
                let mut project = Project {
                    doc,
                    ..Default::default()
                };
                for (stem, doc) in persist::read_dir_docs(&dir.join("datasets"))? {
                    let doc = as_object(doc, &dir.join("datasets").join(&stem))?;
                    project.datasets.insert(stem, Stored::new(doc));
                }
                for (stem, doc) in persist::read_dir_docs(&dir.join("jobs"))? {
                    let doc = as_object(doc, &dir.join("jobs").join(&stem))?;
                    project.jobs.insert(stem, doc);
                }
                project.flow = super::flow_state::load(&dir)?;
                // Clean leftovers in the project directory itself.
                let _ = persist::read_dir_docs(&dir);
                store.projects.insert(name, project);
            }
        }
        store.collections = super::collections::Collections::load(root, super::collections::Scope::Instance)?;
        let admin = root.join("admin");
        for (target, sub) in [
            (&mut store.connections, "connections"),
            (&mut store.users, "users"),
        ] {
            for (stem, doc) in persist::read_dir_docs(&admin.join(sub))? {
                let doc = as_object(doc, &admin.join(sub).join(&stem))?;
                target.insert(stem, doc);
            }
        }
        for lang in ["PYTHON", "R"] {
            let dir = admin.join("code-envs").join(lang);
            for (stem, doc) in persist::read_dir_docs(&dir)? {
                let env = CodeEnv::from_record(doc, &dir.join(&stem))?;
                store.code_envs.insert(format!("{lang}/{stem}"), env);
            }
        }
        for (target, sub) in [
            (&mut store.plugins, "plugins"),
            (&mut store.project_folders, "project-folders"),
        ] {
            for (stem, doc) in persist::read_dir_docs(&admin.join(sub))? {
                let doc = as_object(doc, &admin.join(sub).join(&stem))?;
                target.insert(stem, doc);
            }
        }
        let general = admin.join("general-settings.json");
        if general.is_file() {
            store.general_settings = Some(as_object(persist::read_doc(&general)?, &general)?);
        }
        let vars = admin.join("variables.json");
        if vars.is_file() {
            store.variables = as_object(persist::read_doc(&vars)?, &vars)?;
        }
        let _ = persist::read_dir_docs(&admin);
        Ok(store)
    }
}

fn as_object(value: Value, path: &Path) -> anyhow::Result<Doc> {
    match value {
        Value::Object(map) => Ok(map),
        _ => anyhow::bail!("{} does not hold a JSON object", path.display()),
    }
}

pub(crate) fn project_not_found(key: &str) -> ApiError {
    ApiError::not_found(format!("Project '{key}' does not exist"))
}

pub(crate) fn dataset_not_found(project: &str, name: &str) -> ApiError {
    ApiError::not_found(format!("dataset does not exist: {project}.{name}"))
}

/// Relative paths of the documents.
pub(crate) mod paths {
    use std::path::PathBuf;

    pub(crate) fn project(key: &str) -> PathBuf {
        PathBuf::from("projects").join(key).join("project.json")
    }
    pub(crate) fn project_dir(key: &str) -> PathBuf {
        PathBuf::from("projects").join(key)
    }
    pub(crate) fn dataset(key: &str, name: &str) -> PathBuf {
        project_dir(key).join("datasets").join(format!("{name}.json"))
    }
    pub(crate) fn job(key: &str, id: &str) -> PathBuf {
        project_dir(key).join("jobs").join(format!("{id}.json"))
    }
    pub(crate) fn connection(name: &str) -> PathBuf {
        PathBuf::from("admin/connections").join(format!("{name}.json"))
    }
    pub(crate) fn user(login: &str) -> PathBuf {
        PathBuf::from("admin/users").join(format!("{login}.json"))
    }
    pub(crate) fn variables() -> PathBuf {
        PathBuf::from("admin/variables.json")
    }
    /// `lang` is `PYTHON` or `R`.
    pub(crate) fn code_env(lang: &str, name: &str) -> PathBuf {
        PathBuf::from("admin/code-envs")
            .join(lang)
            .join(format!("{name}.json"))
    }
    pub(crate) fn plugin(id: &str) -> PathBuf {
        PathBuf::from("admin/plugins").join(format!("{id}.json"))
    }
    pub(crate) fn general_settings() -> PathBuf {
        PathBuf::from("admin/general-settings.json")
    }
    pub(crate) fn project_folder(id: &str) -> PathBuf {
        PathBuf::from("admin/project-folders").join(format!("{id}.json"))
    }
}

/// Project keys and dataset names: `[A-Za-z0-9_]+`.
pub(crate) fn validate_key(name: &str) -> Result<(), ApiError> {
    validate_identifier(name, "project key")
}

pub(crate) fn validate_dataset_name(name: &str) -> Result<(), ApiError> {
    validate_identifier(name, "dataset name")
}

fn validate_identifier(name: &str, what: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > 255 {
        return Err(ApiError::illegal(format!(
            "Invalid {what} '{name}': must be 1 to 255 characters"
        )));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_')) {
        return Err(ApiError::illegal(format!(
            "Invalid {what} '{name}': character {c:?} not allowed (only letters, digits and _)"
        )));
    }
    Ok(())
}

/// Logins, group and connection names: letters, digits, `_ . - @`, no leading dot (so never
/// `.` or `..`), at most 255 characters. Keeps every name a plain file name in the data dir.
pub(crate) fn validate_name(name: &str, what: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > 255 {
        return Err(ApiError::illegal(format!(
            "Invalid {what} '{name}': must be 1 to 255 characters"
        )));
    }
    if name.starts_with('.') {
        return Err(ApiError::illegal(format!(
            "Invalid {what} '{name}': must not start with a dot"
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '@')))
    {
        return Err(ApiError::illegal(format!(
            "Invalid {what} '{name}': character {c:?} not allowed (letters, digits, _ . - @)"
        )));
    }
    Ok(())
}

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A `creationTag` / first `versionTag` for an object created by `login`.
pub(crate) fn creation_tag(login: &str) -> Value {
    json!({"versionNumber": 0, "lastModifiedBy": {"login": login}, "lastModifiedOn": now_ms()})
}

/// Bump `versionTag` of `doc` (saved by `login`), starting from `previous` (the stored doc's
/// tag): client-sent tags are ignored, DSS manages them.
pub(crate) fn bump_version(doc: &mut Doc, previous: Option<&Value>, login: &str) {
    let number = previous
        .and_then(|v| v.get("versionNumber"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    doc.insert(
        "versionTag".into(),
        json!({"versionNumber": number + 1, "lastModifiedBy": {"login": login}, "lastModifiedOn": now_ms()}),
    );
}

/// Tags as DSS stores them: a sorted set of strings. Non-strings are rejected.
pub(crate) fn sorted_tags(value: Option<&Value>, what: &str) -> Result<Value, ApiError> {
    let mut tags: Vec<String> = match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|t| {
                t.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| ApiError::illegal(format!("{what}: every tag must be a string, got {t}")))
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(ApiError::illegal(format!(
                "{what}: tags must be a list of strings, got {other}"
            )));
        }
    };
    tags.sort();
    tags.dedup();
    Ok(json!(tags))
}

/// Whether a document's `tags` holds any of `wanted` (empty `wanted` matches everything).
pub(crate) fn has_any_tag(tags: Option<&Value>, wanted: &[String]) -> bool {
    if wanted.is_empty() {
        return true;
    }
    tags.and_then(Value::as_array).is_some_and(|t| {
        t.iter()
            .any(|x| x.as_str().is_some_and(|s| wanted.iter().any(|w| w == s)))
    })
}

/// Remove `null` members: the clients send `null` for "not given".
pub(crate) fn drop_nulls(doc: &mut Doc) {
    doc.retain(|_, v| !v.is_null());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_documents_serialise_as_the_documents_do() {
        let docs: Vec<Arc<Stored>> = [
            json!({}),
            json!({"name": "a", "tags": ["x"], "n": 1.5}),
            json!({"q": "\"é\n"}),
        ]
        .into_iter()
        .map(|v| Stored::new(v.as_object().cloned().unwrap()))
        .collect();
        let plain: Vec<&Doc> = docs.iter().map(|d| &***d).collect();
        assert_eq!(Stored::json_array(&docs), serde_json::to_vec(&plain).unwrap());
        assert_eq!(Stored::json_array(&[]), b"[]");
        assert_eq!(docs[1].json()[..], serde_json::to_vec(&*docs[1]).unwrap());
    }

    #[test]
    fn names_that_could_escape_the_data_dir_are_refused() {
        for bad in ["..", ".", "../x", "a/b", "a\\b", "", ".hidden", "a\0b"] {
            assert!(validate_name(bad, "login").is_err(), "{bad:?}");
        }
        for good in ["john.doe", "a-b@corp.com", "x_1"] {
            validate_name(good, "login").unwrap();
        }
        assert!(validate_key("A.B").is_err());
        validate_key("MY_PROJECT1").unwrap();
        assert!(validate_dataset_name(&"a".repeat(256)).is_err());
    }

    proptest::proptest! {
        /// Whatever a client sends, a name that passes validation is one plain path component:
        /// joined to the data dir it cannot leave it.
        #[test]
        fn valid_names_stay_inside_the_data_dir(name in "\\PC{0,40}") {
            let root = std::path::Path::new("/data");
            let checks = [
                validate_name(&name, "login").is_ok(),
                validate_key(&name).is_ok(),
                validate_dataset_name(&name).is_ok(),
            ];
            if checks.iter().any(|ok| *ok) {
                let path = root.join(paths::user(&name));
                let components: Vec<_> = std::path::Path::new(&name).components().collect();
                proptest::prop_assert_eq!(components.len(), 1);
                proptest::prop_assert!(matches!(components[0], std::path::Component::Normal(_)));
                proptest::prop_assert!(path.starts_with(root));
            }
        }
    }

    #[test]
    fn tags_are_sorted_and_deduplicated() {
        let v = sorted_tags(Some(&json!(["b", "a", "b"])), "x").unwrap();
        assert_eq!(v, json!(["a", "b"]));
        assert!(sorted_tags(Some(&json!([1])), "x").is_err());
    }

    #[test]
    fn versions_increase() {
        let mut doc = Doc::new();
        bump_version(&mut doc, Some(&json!({"versionNumber": 4})), "me");
        assert_eq!(doc["versionTag"]["versionNumber"], 5);
        assert_eq!(doc["versionTag"]["lastModifiedBy"]["login"], "me");
    }
}
