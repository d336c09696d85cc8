//! Collections: the state of an emulator area that is documents by name, kept in memory and
//! persisted without a field of its own in [`super::store::Store`] or
//! [`super::flow_state::Flow`]. An area declares its collection once, next to its routes, and
//! registers it in [`COLLECTIONS`]; the store and each project's flow load every registered
//! collection from the data dir, and the persister seals the secrets of a sealed one. A new
//! area therefore needs no line outside its own module for its state.
//!
//! `groups` (instance) and `managed_folders` (per project) keep their documents this way:
//!
//! ```ignore
//! pub(crate) static WIDGETS: Collection = Collection::instance("admin/widgets");
//! #[linkme::distributed_slice(super::collections::COLLECTIONS)]
//! static WIDGETS_STATE: &Collection = &WIDGETS;
//! // in a handler, under the state lock:
//! state.collections.of_mut(&WIDGETS).insert(name.clone(), doc.clone());
//! let pending = app.persist.put(WIDGETS.path("", &name), &Value::Object(doc));
//! ```
//!
//! A document holding secrets is sealed at rest by declaring its collection with `sealed: true`.
//! The areas written before collections existed keep their typed fields (a project's datasets
//! and jobs, a code env's logs, the users and connections the authentication reads).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::persist;
use super::store::Doc;

/// Where a collection lives: at the instance level, or in every project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// `DIR/NAME.json` under the data dir; kept in `Store::collections`.
    Instance,
    /// `projects/KEY/DIR/NAME.json`; kept in each project's `Flow::collections`.
    Project,
}

/// One area's documents by name.
#[derive(Debug)]
pub(crate) struct Collection {
    /// The directory of its documents, one `NAME.json` each: under the data dir (`admin/widgets`)
    /// for an instance collection, under the project's directory (`widgets`) for a project one.
    pub(crate) dir: &'static str,
    pub(crate) scope: Scope,
    /// Whether its documents hold secrets, encrypted at rest as a connection's are.
    pub(crate) sealed: bool,
}

impl Collection {
    /// An instance-level collection of plain documents.
    pub(crate) const fn instance(dir: &'static str) -> Collection {
        Collection {
            dir,
            scope: Scope::Instance,
            sealed: false,
        }
    }

    /// A per-project collection of plain documents.
    pub(crate) const fn project(dir: &'static str) -> Collection {
        Collection {
            dir,
            scope: Scope::Project,
            sealed: false,
        }
    }

    /// The path of the document `name` relative to the data dir (`project`: the project's key,
    /// ignored for an instance collection).
    pub(crate) fn path(&self, project: &str, name: &str) -> PathBuf {
        let file = format!("{name}.json");
        match self.scope {
            Scope::Instance => Path::new(self.dir).join(file),
            Scope::Project => super::store::paths::project_dir(project)
                .join(self.dir)
                .join(file),
        }
    }

    /// Whether `rel` (relative to the data dir) is one of this collection's documents.
    fn holds(&self, rel: &Path) -> bool {
        match self.scope {
            Scope::Instance => rel.starts_with(self.dir),
            // projects/KEY/DIR/...
            Scope::Project => {
                let mut parts = rel.components();
                parts.next() == Some(Component::Normal("projects".as_ref()))
                    && parts.next().is_some()
                    && parts.as_path().starts_with(self.dir)
            }
        }
    }
}

/// Every collection of every area, registered by the area itself.
#[linkme::distributed_slice]
#[allow(
    unsafe_code,
    reason = "linkme places the slice in a link section; nothing else is unsafe"
)]
pub(crate) static COLLECTIONS: [&'static Collection];

/// Whether the document at `rel` belongs to a sealed collection.
pub(crate) fn is_sealed(rel: &Path) -> bool {
    COLLECTIONS.iter().any(|c| c.sealed && c.holds(rel))
}

/// The documents of the collections of one scope, by collection then by name.
#[derive(Debug, Clone, Default)]
pub(crate) struct Collections(BTreeMap<&'static str, BTreeMap<String, Doc>>);

impl Collections {
    /// The documents of `collection` (none yet: an empty map).
    pub(crate) fn of(&self, collection: &Collection) -> &BTreeMap<String, Doc> {
        static EMPTY: BTreeMap<String, Doc> = BTreeMap::new();
        self.0.get(collection.dir).unwrap_or(&EMPTY)
    }

    /// The documents of `collection`, to change.
    pub(crate) fn of_mut(&mut self, collection: &Collection) -> &mut BTreeMap<String, Doc> {
        self.0.entry(collection.dir).or_default()
    }

    /// Every document of every sealed collection, to open its secrets after loading.
    pub(crate) fn sealed_docs_mut(&mut self) -> impl Iterator<Item = &mut Doc> {
        self.0
            .iter_mut()
            .filter(|(dir, _)| COLLECTIONS.iter().any(|c| c.sealed && c.dir == **dir))
            .flat_map(|(_, docs)| docs.values_mut())
    }

    /// Load every registered collection of `scope` from `base` (the data dir, or a project's
    /// directory).
    pub(crate) fn load(base: &Path, scope: Scope) -> anyhow::Result<Collections> {
        let mut out = Collections::default();
        for collection in COLLECTIONS.iter().filter(|c| c.scope == scope) {
            let dir = base.join(collection.dir);
            for (stem, doc) in persist::read_dir_docs(&dir)? {
                let serde_json::Value::Object(doc) = doc else {
                    anyhow::bail!("{} is not a JSON object", dir.join(&stem).display());
                };
                out.of_mut(collection).insert(stem, doc);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::EmulatorConfig;
    use crate::emulator::router::App;
    use serde_json::{Value, json};

    // Registered in the test build only: an area the emulator does not have.
    static WIDGETS: Collection = Collection {
        sealed: true,
        ..Collection::instance("admin/test-widgets")
    };
    static GADGETS: Collection = Collection::project("test-gadgets");

    #[linkme::distributed_slice(COLLECTIONS)]
    #[allow(unsafe_code, reason = "linkme places the slice in a link section")]
    static WIDGETS_STATE: &Collection = &WIDGETS;

    #[linkme::distributed_slice(COLLECTIONS)]
    #[allow(unsafe_code, reason = "linkme places the slice in a link section")]
    static GADGETS_STATE: &Collection = &GADGETS;

    fn config(dir: &Path) -> EmulatorConfig {
        EmulatorConfig {
            data_dir: Some(dir.to_path_buf()),
            admin_key: "collections-test-key".into(),
            ..EmulatorConfig::default()
        }
    }

    #[test]
    fn paths_and_membership() {
        assert_eq!(WIDGETS.path("P", "w1"), Path::new("admin/test-widgets/w1.json"));
        assert_eq!(
            GADGETS.path("P", "g1"),
            Path::new("projects/P/test-gadgets/g1.json")
        );
        assert!(is_sealed(Path::new("admin/test-widgets/w1.json")));
        assert!(!is_sealed(Path::new("projects/P/test-gadgets/g1.json")));
        assert!(GADGETS.holds(Path::new("projects/P/test-gadgets/g1.json")));
        assert!(!GADGETS.holds(Path::new("projects/P/other/g1.json")));
    }

    #[tokio::test]
    async fn a_collection_persists_seals_and_reloads_without_a_store_field() {
        let dir = tempfile::tempdir().unwrap();
        let secret = json!({"name": "w1", "params": {"password": "hunter2"}});
        let gadget = json!({"name": "g1", "size": 3});
        {
            let app = App::new(config(dir.path())).unwrap();
            let pending = {
                let mut state = app.state.write().unwrap();
                state
                    .collections
                    .of_mut(&WIDGETS)
                    .insert("w1".into(), secret.as_object().unwrap().clone());
                let project = state.projects.entry("P".into()).or_default();
                project
                    .flow
                    .collections
                    .of_mut(&GADGETS)
                    .insert("g1".into(), gadget.as_object().unwrap().clone());
                [
                    app.persist.put(WIDGETS.path("", "w1"), &secret),
                    app.persist.put(GADGETS.path("P", "g1"), &gadget),
                ]
            };
            app.persist.run(pending).await.unwrap();
        }
        // At rest, the password is encrypted.
        let on_disk = std::fs::read_to_string(dir.path().join("admin/test-widgets/w1.json")).unwrap();
        assert!(!on_disk.contains("hunter2"), "{on_disk}");
        // A project is loaded from its project.json: write one so that the project reloads.
        std::fs::write(
            dir.path().join("projects/P/project.json"),
            r#"{"projectKey": "P"}"#,
        )
        .unwrap();

        let again = App::new(config(dir.path())).unwrap();
        let state = again.state.read().unwrap();
        assert_eq!(
            Value::Object(state.collections.of(&WIDGETS)["w1"].clone()),
            secret
        );
        assert_eq!(
            Value::Object(state.projects["P"].flow.collections.of(&GADGETS)["g1"].clone()),
            gadget
        );
    }
}
