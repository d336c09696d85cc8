//! `kind: Plugin`: a plugin installed on the instance. This module owns the spec type (its
//! source, its settings, whether its code env is created), the plugin id rule, the check that
//! exactly one source is given, what observation reads (the plugin list, then the settings of
//! each managed plugin that exists), the plan, and the calls apply makes.
//!
//! Three sub-documents:
//! - `source`: a view of the plugin list item, `{source: store|git|zip, version, git:
//!   {repository, ref, path}}`. Its write is DSS's update from that source (a reinstall: a new
//!   version, checkout or archive), its creation the install. A zip's version is read from
//!   the `plugin.json` inside the archive when the plan is made; the archive's path rides in
//!   the write as `zipFile` (relative to the working directory), a field DSS never returns.
//! - `settings`: the plugin's instance-level settings document, managed key by key
//!   (`POST /plugins/{id}/settings` replaces it, so apply reads it fresh and overlays).
//! - `code_env`: `{codeEnv: {create: true}}` once the plugin's code env exists (its settings
//!   name one) or when the plugin declares none; its write creates the env DSS-managed and
//!   names it in the settings, as the Ansible collection does.

/// The calls that create, read, update and delete it (an `impl DssClient` block).
mod client;
pub use client::PluginSource;

use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use futures::future::BoxFuture;
use schemars::{JsonSchema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::listed::{self, LiveMap};
use super::{Checks, Kind, KindId, KindRead, NameRule, RefSink, code_env, names, overlay_of};
use super::{KindApply, KindExport, KindObserve, KindPlan, KindSpec};
use crate::apply::docs::ApplyDocError;
use crate::client::{ClientError, DssClient};
use crate::export::{ExportOut, ExportScope, meta};
use crate::manifest::kinds::{Declared, KeyedMap, ObjectMeta, Resource};
use crate::manifest::node::{Node, NodeValue};
use crate::observe::{ObserveError, reading};
use crate::plan::diff::Doc;
use crate::plan::model::DocShape;
use crate::plan::planner::Planner;
use crate::plan::scope::{Needs, ReadPlan};
use crate::plan::{Change, LedgerIntent, Observed, Operation, ResourceId, SubDoc};

/// The word of plugin ledger keys and plans.
pub(crate) const ID: KindId = KindId("plugin");

/// The kind.
pub(crate) static KIND: PluginKind = PluginKind;

super::register!(KIND, 120);

/// Where the plugin comes from (a view of its list item); its write updates the plugin.
pub(crate) const SOURCE: SubDoc = SubDoc::new(&DocShape::plain("source"));

/// Whether the plugin's code env was created (a view of its settings).
pub(crate) const CODE_ENV: SubDoc = SubDoc::new(&DocShape::plain("code_env"));

/// The field of a `source` write that carries the archive's path (never returned by DSS).
const ZIP_FILE: &str = "zipFile";

/// Plugin ids: letters, digits, `_`, `-` and `.`.
pub(crate) static NAME_RULE: NameRule = NameRule {
    what: "a plugin id",
    allowed: names::dotted_char,
    allowed_text: "letters, digits, _, - and .",
    example: "googlesheets",
    pattern: Some(names::DOTTED_PATTERN),
    no_edge_spaces: false,
    fixed: None,
};

/// From the plugin store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoreSource {
    /// The version to install (the store's latest when left out; then any installed version
    /// is accepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// From a Git repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct GitSource {
    /// The repository's URL.
    pub repository: String,
    /// The branch, tag or commit to check out (DSS's default: `master`).
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// The plugin's directory inside the repository (the root when left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// From a zip archive next to the manifests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ZipSource {
    /// The archive, relative to this manifest's directory. Its `plugin.json` gives the
    /// plugin's id and version: a new version is an update.
    pub from_file: String,
}

/// Where the plugin is installed from: exactly one of `store`, `git`, `zip`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct SourceSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip: Option<ZipSource>,
}

/// Whether dssctl creates the plugin's code env.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct PluginCodeEnvSpec {
    /// Create the code env the plugin declares (DSS-managed), and name it in the settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<bool>,
}

/// `kind: Plugin` spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PluginSpec {
    /// Where the plugin is installed from: exactly one of `store`, `git`, `zip`.
    pub source: SourceSpec,
    /// The plugin's settings (`config`, `codeEnvName`, ...), managed key by key; `null`
    /// removes a key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<KeyedMap>,
    /// Create the plugin's code env if it declares one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_env: Option<PluginCodeEnvSpec>,
    /// Never deleted by dssctl, even after removal from the manifests, until an apply sets it to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect: Option<bool>,
}

/// The live plugins as observed, keyed by id.
pub(crate) type Live = LiveMap<Value>;

/// This kind's part of the observed state.
pub(crate) fn live(observed: &Observed) -> Option<&Live> {
    observed.kinds.get(ID)
}

/// The `Plugin` kind.
#[derive(Debug)]
pub(crate) struct PluginKind;

impl KindSpec for PluginKind {
    fn name(&self) -> &'static str {
        "Plugin"
    }

    fn id(&self) -> KindId {
        ID
    }

    fn description(&self) -> &'static str {
        "A plugin: where it is installed from, its settings, and its code env."
    }

    fn spec_schema(&self, generator: &mut SchemaGenerator) -> Value {
        generator.subschema_for::<PluginSpec>().to_value()
    }

    /// Exactly one source: the schema says so with `oneOf`, so editors and the validator
    /// point at the source block.
    fn patch_definitions(&self, defs: &mut Map<String, Value>) {
        if let Some(Value::Object(source)) = defs.get_mut("SourceSpec") {
            source.insert(
                "oneOf".into(),
                json!([{"required": ["store"]}, {"required": ["git"]}, {"required": ["zip"]}]),
            );
        }
    }

    fn spec_required(&self) -> bool {
        true
    }

    /// After the code envs its settings may name.
    fn apply_rank(&self) -> u8 {
        3
    }

    fn name_rule(&self) -> &'static NameRule {
        &NAME_RULE
    }

    fn check_spec(&self, checks: &mut Checks<'_>, spec: &Node) {
        if let Some(source) = spec.get("source") {
            let given: Vec<&str> = ["store", "git", "zip"]
                .into_iter()
                .filter(|k| source.get(k).is_some_and(|n| !matches!(n.value, NodeValue::Null)))
                .collect();
            if given.len() != 1 {
                let message = if given.is_empty() {
                    "spec.source: no source given".to_string()
                } else {
                    format!(
                        "spec.source: {} given; a plugin has exactly one source",
                        given.join(" and ")
                    )
                };
                checks.error(source.pos, message).hint = Some(
                    "write one of `store: {version: \"1.2.0\"}`, `git: {repository: URL, ref: v1.2.0}` or `zip: {fromFile: plugins/my-plugin.zip}`".into(),
                );
            }
            if let Some(file) = source.get("zip").and_then(|z| z.get("fromFile"))
                && file.as_str().is_some_and(|f| f.trim().is_empty())
            {
                checks
                    .error(file.pos, "spec.source.zip.fromFile: the path is empty")
                    .hint =
                    Some("a path relative to this manifest's directory, e.g. `plugins/my-plugin.zip`".into());
            }
        }
        if let Some(env) = spec.get("settings").and_then(|s| s.get("codeEnvName"))
            && env.as_str().is_some_and(|n| !n.is_empty())
        {
            checks.name("spec.settings.codeEnvName", env, &code_env::NAME_RULE);
        }
    }

    fn references<'n>(&self, _meta: Option<&'n Node>, spec: Option<&'n Node>, refs: &mut RefSink<'_, 'n>) {
        let env = spec
            .and_then(|s| s.get("settings"))
            .and_then(|s| s.get("codeEnvName"))
            .filter(|n| n.as_str().is_some_and(|s| !s.is_empty()));
        refs.push(code_env::ID, env, None);
    }

    fn parse(&self, meta: ObjectMeta, spec: Value) -> Result<Resource, serde_json::Error> {
        Ok(Resource::new(
            &KIND,
            meta,
            serde_json::from_value::<PluginSpec>(spec)?,
        ))
    }
}

impl KindPlan for PluginKind {
    fn plan(&self, planner: &mut Planner<'_>, declared: &Declared) {
        if let Some((meta, spec)) = declared.resource.typed::<PluginSpec>() {
            plan_plugin(planner, declared, meta, spec);
        }
    }

    fn add_reads(&self, resource: &Resource, needs: &mut Needs<'_>) {
        let Some((meta, spec)) = resource.typed::<PluginSpec>() else {
            return;
        };
        let r = listed::details_mut(needs.reads, ID);
        if spec.settings.is_some() || spec.code_env.as_ref().and_then(|c| c.create) == Some(true) {
            r.names.insert(meta.name.clone());
        }
        if let Some(env) = named_env(spec) {
            needs.referenced(code_env::ID, env);
        }
    }

    fn need_live(&self, _name: &str, reads: &mut ReadPlan) {
        listed::details_mut(reads, ID);
    }

    fn read_budget(&self, reads: &ReadPlan, live: &BTreeSet<ResourceId>) -> usize {
        listed::budget(ID, reads, live)
    }

    fn live_exists(&self, observed: &Observed, name: &str) -> Option<bool> {
        listed::exists::<Value>(observed, ID, name)
    }

    fn live_document(&self, observed: &Observed, name: &str) -> Result<Option<Value>, &'static str> {
        listed::document::<Value>(observed, ID, name, "plugin list", |p| source_view(&p.summary))
    }

    fn subdocuments(&self) -> &'static [SubDoc] {
        &[SOURCE, SubDoc::SETTINGS, CODE_ENV]
    }
}

impl KindObserve for PluginKind {
    fn observe<'a>(
        &'a self,
        client: &'a DssClient,
        reads: &'a ReadPlan,
        parallelism: usize,
    ) -> Option<BoxFuture<'a, Result<KindRead, ObserveError>>> {
        let planned = listed::details(reads, ID)?;
        Some(Box::pin(async move {
            read_plugins(client, &|id, _| planned.names.contains(id), parallelism).await
        }))
    }
}

impl KindApply for PluginKind {
    fn get_main<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
    ) -> Option<BoxFuture<'a, Result<Value, ClientError>>> {
        Some(Box::pin(
            async move { Ok(source_view(&summary_of(c, name).await?)) },
        ))
    }

    fn delete<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        _drop_data: bool,
    ) -> Option<BoxFuture<'a, Result<(), ClientError>>> {
        // Without force: DSS refuses to remove a plugin that datasets still use.
        Some(Box::pin(async move { c.delete_plugin(name, false).await }))
    }

    fn sub_document(&self, _name: &str, sub: SubDoc) -> Option<bool> {
        (sub == SOURCE || sub == SubDoc::SETTINGS || sub == CODE_ENV).then_some(true)
    }

    fn get_document<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        sub: SubDoc,
    ) -> Option<BoxFuture<'a, Result<Value, ClientError>>> {
        if sub == SOURCE {
            return Some(Box::pin(
                async move { Ok(source_view(&summary_of(c, name).await?)) },
            ));
        }
        if sub == SubDoc::SETTINGS {
            return Some(Box::pin(async move { c.get_plugin_settings(name).await }));
        }
        (sub == CODE_ENV).then(|| {
            Box::pin(async move {
                let summary = summary_of(c, name).await?;
                let settings = c.get_plugin_settings(name).await?;
                Ok(code_env_view(&summary, &settings))
            }) as BoxFuture<'a, Result<Value, ClientError>>
        })
    }

    fn put_document<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        sub: SubDoc,
        doc: Value,
        what: String,
    ) -> Option<BoxFuture<'a, Result<(), ApplyDocError>>> {
        if sub == SOURCE {
            return Some(Box::pin(async move {
                // The archive's path is never in the view, so a zip source always differs from
                // it: reinstall only when the installed plugin is not what the document asks.
                let mut wanted = doc.clone();
                if let Value::Object(m) = &mut wanted {
                    m.remove(ZIP_FILE);
                }
                let installed = source_view(&summary_of(c, name).await?);
                let mut merged = installed.clone();
                crate::plan::overlay::apply_overlay(SOURCE, &mut merged, &wanted);
                if merged == installed {
                    return Ok(());
                }
                let source = source_of(&doc, &what)?;
                c.update_plugin(name, &source).await?;
                Ok(())
            }));
        }
        if sub == SubDoc::SETTINGS {
            return Some(Box::pin(async move {
                c.set_plugin_settings(name, &doc).await?;
                Ok(())
            }));
        }
        (sub == CODE_ENV).then(|| {
            Box::pin(async move {
                if doc.pointer("/codeEnv/create") == Some(&json!(true)) {
                    let env = c.create_plugin_code_env(name).await?;
                    let mut settings = c.get_plugin_settings(name).await?;
                    settings["codeEnvName"] = json!(env);
                    c.set_plugin_settings(name, &settings).await?;
                }
                Ok(())
            }) as BoxFuture<'a, Result<(), ApplyDocError>>
        })
    }

    fn describe_document(&self, name: &str, sub: SubDoc) -> String {
        if sub == SOURCE {
            format!("the source of plugin {name}")
        } else if sub == CODE_ENV {
            format!("the code env of plugin {name}")
        } else {
            format!("the settings of plugin {name}")
        }
    }

    fn write_only_fields(&self) -> &'static [&'static str] {
        &[ZIP_FILE]
    }

    fn create_seed(&self, _name: &str) -> (SubDoc, Value) {
        (SOURCE, json!({}))
    }

    fn create_fields(&self) -> &'static [&'static str] {
        &["source", "version", "git", ZIP_FILE]
    }

    fn create<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        body: &'a Value,
        what: &'a str,
    ) -> Option<BoxFuture<'a, Result<(), ApplyDocError>>> {
        Some(Box::pin(async move {
            let source = source_of(body, &what)?;
            c.install_plugin(name, &source).await?;
            Ok(())
        }))
    }

    fn write_references(&self, op: &Operation, out: &mut Vec<ResourceId>) {
        if let Some(env) = overlay_of(op, SubDoc::SETTINGS)
            .and_then(|o| o.get("codeEnvName"))
            .and_then(Value::as_str)
            .filter(|e| !e.is_empty())
        {
            out.push(ResourceId::new(code_env::ID, env));
        }
    }
}

impl KindExport for PluginKind {
    fn export_word(&self) -> Option<&'static str> {
        Some("plugins")
    }

    fn export_read<'a>(
        &'a self,
        scope: &'a ExportScope<'a>,
    ) -> Option<BoxFuture<'a, anyhow::Result<KindRead>>> {
        Some(Box::pin(async move {
            Ok(read_plugins(scope.client, &|_, _| true, scope.parallelism).await?)
        }))
    }

    fn export(&self, observed: &Observed, out: &mut ExportOut) {
        for (id, plugin) in live(observed).into_iter().flatten() {
            match export_spec(&plugin.summary, plugin.detail.as_ref()) {
                Some(spec) => out.put("plugins.yaml", Resource::new(&KIND, meta(id, None), spec)),
                None => out.notes.push(format!(
                    "plugin {id} left out: it was installed from a zip archive, which the instance does not keep (declare it with `source: {{zip: {{fromFile: ...}}}}`)"
                )),
            }
        }
    }
}

impl Kind for PluginKind {}

/// The code env a plugin's settings name, if any.
fn named_env(spec: &PluginSpec) -> Option<&str> {
    spec.settings
        .as_ref()
        .and_then(|s| s.get("codeEnvName"))
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
}

/// The list item of plugin `id` (not found when absent).
async fn summary_of(c: &DssClient, id: &str) -> Result<Value, ClientError> {
    let items = c.list_plugins().await?;
    listed::find(
        items,
        "id",
        id,
        "/plugins/",
        format!("plugin {id} is not installed"),
    )
}

/// The `source` view of a list item.
pub(crate) fn source_view(summary: &Value) -> Value {
    let from = summary
        .get("installedFrom")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut view = json!({"source": from, "version": summary.get("version").cloned().unwrap_or(Value::Null)});
    if let Some(g) = summary.get("gitReference") {
        view["git"] = json!({
            "repository": g.get("remote").cloned().unwrap_or(Value::Null),
            "ref": g.get("checkout").cloned().unwrap_or(Value::Null),
            "path": g.get("path").cloned().unwrap_or(Value::Null),
        });
    }
    view
}

/// The `code_env` view: created when the settings name an env, or when the plugin declares
/// none (nothing to create).
pub(crate) fn code_env_view(summary: &Value, settings: &Value) -> Value {
    let declares = summary.get("codeEnvSpec").is_some_and(|s| !s.is_null());
    let named = settings
        .get("codeEnvName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    json!({"codeEnv": {"create": named || !declares}})
}

/// The source a `source` document (a view with an overlay) asks for.
fn source_of(doc: &Value, what: &dyn std::fmt::Display) -> Result<PluginSource, ApplyDocError> {
    let shape = |reason: &str| ApplyDocError::Shape {
        what: what.to_string(),
        reason: reason.to_string(),
    };
    let text = |p: &str| doc.pointer(p).and_then(Value::as_str).map(str::to_string);
    match doc.get("source").and_then(Value::as_str) {
        Some("store") => Ok(PluginSource::Store {
            version: text("/version"),
        }),
        Some("git") => Ok(PluginSource::Git {
            repository: text("/git/repository").ok_or_else(|| shape("no git.repository"))?,
            checkout: text("/git/ref").unwrap_or_else(|| "master".to_string()),
            subpath: text("/git/path").unwrap_or_default(),
        }),
        Some("zip") => {
            let file = text(&format!("/{ZIP_FILE}")).ok_or_else(|| shape("no archive to upload"))?;
            let archive = std::fs::read(&file)
                .map_err(|e| shape(&format!("cannot read the plugin archive {file}: {e}")))?;
            Ok(PluginSource::Zip { archive })
        }
        _ => Err(shape("no source (store, git or zip)")),
    }
}

/// The id and version a plugin archive's `plugin.json` declares (at the archive's root or in
/// its single top directory, as DSS reads it).
pub(crate) fn zip_identity(path: &Path) -> Result<(String, String), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| format!("{} is not a zip archive: {e}", path.display()))?;
    let names: Vec<String> = archive.file_names().map(str::to_string).collect();
    let entry = names
        .iter()
        .filter(|n| {
            let n = n.trim_start_matches("./");
            n == "plugin.json" || (n.ends_with("/plugin.json") && n.matches('/').count() == 1)
        })
        .min_by_key(|n| n.len())
        .ok_or_else(|| format!("{} holds no plugin.json", path.display()))?
        .clone();
    let mut text = String::new();
    archive
        .by_name(&entry)
        .map_err(|e| e.to_string())?
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read {entry} in {}: {e}", path.display()))?;
    let desc: Value =
        serde_json::from_str(&text).map_err(|e| format!("{entry} in {} is not JSON: {e}", path.display()))?;
    let field = |k: &str| {
        desc.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("{entry} in {} has no {k:?}", path.display()))
    };
    Ok((field("id")?, field("version")?))
}

/// The plugin list, then the settings of every installed plugin `wanted` selects.
async fn read_plugins(
    c: &DssClient,
    wanted: &(dyn Fn(&str, &Value) -> bool + Sync),
    parallelism: usize,
) -> Result<KindRead, ObserveError> {
    let list = c.list_plugins().await.map_err(reading("the plugin list"))?;
    listed::read(ID, list, "id", wanted, parallelism, |id, _| async move {
        c.get_plugin_settings(&id)
            .await
            .map_err(reading(format!("the settings of plugin {id}")))
    })
    .await
}

/// Manage the settings document's top-level keys as the manifest gives them: maps key by
/// key, anything else as a whole value, `null` removes.
fn plan_settings(doc: &mut Doc<'_>, settings: &KeyedMap) {
    for (key, value) in settings {
        match value {
            Value::Object(m) if !m.is_empty() => {
                let sub: KeyedMap = m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                doc.keyed(key, Some(&sub));
            }
            Value::Null => {
                doc.overlay.insert(key.clone(), Value::Null);
                if let Some(have) = doc.live.and_then(|l| l.get(key)).filter(|h| !h.is_null()) {
                    doc.changes
                        .push(Change::new(key.clone(), have.clone(), Value::Null));
                }
            }
            other => doc.scalar(key, Some(other.clone()), None),
        }
    }
}

/// The desired `source` view and its changes against `live` (a list item's view).
fn plan_source(
    p: &mut Planner<'_>,
    id: &ResourceId,
    d: &Declared,
    spec: &PluginSpec,
    live: Option<&Value>,
) -> Option<Doc<'static>> {
    let s = &spec.source;
    let mut overlay = Map::new();
    let mut changes = Vec::new();
    let have = |p: &str| live.and_then(|l| l.pointer(p)).cloned().unwrap_or(Value::Null);
    let compare = |path: &str, pointer: &str, want: Value, changes: &mut Vec<Change>| {
        if live.is_none() || have(pointer) != want {
            let before = if live.is_none() {
                Value::Null
            } else {
                have(pointer)
            };
            changes.push(Change::new(path, before, want));
        }
    };
    let (kind, version) = if let Some(store) = &s.store {
        ("store", store.version.clone())
    } else if let Some(git) = &s.git {
        let mut g = Map::new();
        g.insert("repository".into(), json!(git.repository));
        compare(
            "source.git.repository",
            "/git/repository",
            json!(git.repository),
            &mut changes,
        );
        if let Some(r) = &git.git_ref {
            g.insert("ref".into(), json!(r));
            compare("source.git.ref", "/git/ref", json!(r), &mut changes);
        }
        if let Some(path) = &git.path {
            g.insert("path".into(), json!(path));
            compare("source.git.path", "/git/path", json!(path), &mut changes);
        }
        overlay.insert("git".into(), Value::Object(g));
        ("git", None)
    } else if let Some(zip) = &s.zip {
        let file: PathBuf = d.origin.base_dir().join(&zip.from_file);
        match zip_identity(&file) {
            Ok((zid, version)) if zid == id.name => {
                overlay.insert(ZIP_FILE.into(), json!(file.to_string_lossy()));
                ("zip", Some(version))
            }
            Ok((zid, _)) => {
                p.error_at(
                    id,
                    Some(&d.origin),
                    format!(
                        "the archive {} holds plugin {zid:?}, not {:?}",
                        file.display(),
                        id.name
                    ),
                    Some(format!(
                        "name the resource `{zid}`, or point fromFile at the archive of {}",
                        id.name
                    )),
                );
                return None;
            }
            Err(e) => {
                p.error_at(
                    id,
                    Some(&d.origin),
                    format!("source.zip.fromFile: {e}"),
                    Some("the path is relative to this manifest's directory".into()),
                );
                return None;
            }
        }
    } else {
        p.error_at(
            id,
            Some(&d.origin),
            "spec.source: no source given",
            Some("write one of `store`, `git` or `zip`".into()),
        );
        return None;
    };
    // A change of source kind shows as such; the version or checkout under it follows.
    let live_kind = have("/source");
    if live.is_none() || live_kind != json!(kind) {
        let before = if live.is_none() { Value::Null } else { live_kind };
        changes.insert(0, Change::new("source", before, json!(kind)));
    }
    overlay.insert("source".into(), json!(kind));
    if let Some(v) = version {
        let path = format!("source.{kind}.version");
        compare(&path, "/version", json!(v), &mut changes);
        overlay.insert("version".into(), json!(v));
    }
    let mut doc = Doc::new(SOURCE, None, None);
    doc.overlay = overlay;
    doc.changes = changes;
    Some(doc)
}

/// Plan one declared plugin: its writes, compared with the live state.
pub(crate) fn plan_plugin(p: &mut Planner<'_>, d: &Declared, meta: &ObjectMeta, spec: &PluginSpec) {
    let id = ResourceId::new(ID, &meta.name);
    let Some(plugins) = live(p.observed()) else {
        return p.not_read(&id, &d.origin, "plugin list");
    };
    if let Some(env) = named_env(spec) {
        // Deleted, the env would leave the plugin naming one that does not exist.
        p.check_not_pruned(d, &id, code_env::ID, env, "settings.codeEnvName");
        p.check_ref(d, &id, code_env::ID, env, "settings.codeEnvName");
    }
    let plugin = plugins.get(&meta.name);
    let source_live = plugin.map(|x| source_view(&x.summary));
    let Some(source) = plan_source(p, &id, d, spec, source_live.as_ref()) else {
        return;
    };
    // The source document is a view: its fingerprint is taken over the live view.
    let source_write = {
        let mut doc = Doc::new(SOURCE, source_live.as_ref(), None);
        doc.overlay = source.overlay;
        doc.changes = source.changes;
        doc.finish(None)
    };
    let settings_live = plugin.and_then(|x| x.detail.as_ref());
    if plugin.is_some()
        && settings_live.is_none()
        && (spec.settings.is_some() || spec.code_env.as_ref().and_then(|c| c.create) == Some(true))
    {
        return p.not_read(&id, &d.origin, "plugin settings");
    }
    let mut settings = Doc::new(SubDoc::SETTINGS, settings_live, None);
    if let Some(s) = &spec.settings {
        plan_settings(&mut settings, s);
    }
    let env_live = plugin.map(|x| code_env_view(&x.summary, settings_live.unwrap_or(&Value::Null)));
    let mut env = Doc::new(CODE_ENV, env_live.as_ref(), None);
    if spec.code_env.as_ref().and_then(|c| c.create) == Some(true) {
        let mut m = KeyedMap::new();
        m.insert("create".into(), json!(true));
        env.keyed("codeEnv", Some(&m));
    }
    let writes = vec![source_write, settings.finish(None), env.finish(None)];
    let intent = LedgerIntent {
        protect: spec.protect.unwrap_or(false),
        drop_data_on_delete: false,
        dss_id: None,
    };
    p.finish(id, &d.origin, plugin.is_some(), writes, intent);
}

/// The manifest of a live plugin, for export: its source and its settings' `config` and
/// `codeEnvName`; `None` for a plugin installed from a zip (the instance does not keep the
/// archive, so no manifest could install it again).
pub(crate) fn export_spec(summary: &Value, settings: Option<&Value>) -> Option<PluginSpec> {
    let view = source_view(summary);
    let version = view.get("version").and_then(Value::as_str).map(str::to_string);
    let source = match view.get("source").and_then(Value::as_str) {
        Some("git") => SourceSpec {
            git: Some(GitSource {
                repository: view
                    .pointer("/git/repository")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                git_ref: view
                    .pointer("/git/ref")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                path: view
                    .pointer("/git/path")
                    .and_then(Value::as_str)
                    .filter(|p| !p.is_empty())
                    .map(str::to_string),
            }),
            ..SourceSpec::default()
        },
        Some("zip") => return None,
        _ => SourceSpec {
            store: Some(StoreSource { version }),
            ..SourceSpec::default()
        },
    };
    let settings = settings.map(|s| {
        let mut m = KeyedMap::new();
        if let Some(config) = s
            .get("config")
            .filter(|c| c.as_object().is_some_and(|o| !o.is_empty()))
        {
            m.insert("config".into(), config.clone());
        }
        if let Some(env) = s
            .get("codeEnvName")
            .filter(|e| e.as_str().is_some_and(|e| !e.is_empty()))
        {
            m.insert("codeEnvName".into(), env.clone());
        }
        m
    });
    Some(PluginSpec {
        source,
        settings: settings.filter(|m| !m.is_empty()),
        code_env: None,
        protect: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_view_reads_the_list_item() {
        let git = json!({"id": "p", "version": "1.0", "installedFrom": "GIT",
            "gitReference": {"remote": "https://example.com/p.git", "checkout": "v1", "path": ""}});
        let v = source_view(&git);
        assert_eq!(v["source"], "git");
        assert_eq!(v["git"]["ref"], "v1");
        let store = json!({"id": "p", "version": "1.2.0", "installedFrom": "STORE"});
        assert_eq!(
            source_view(&store),
            json!({"source": "store", "version": "1.2.0"})
        );
    }

    #[test]
    fn a_code_env_is_created_only_when_declared_and_not_named() {
        let declares = json!({"codeEnvSpec": {"envLang": "PYTHON"}});
        assert_eq!(code_env_view(&declares, &json!({}))["codeEnv"]["create"], false);
        assert_eq!(
            code_env_view(&declares, &json!({"codeEnvName": "plugin_p_managed"}))["codeEnv"]["create"],
            true
        );
        assert_eq!(code_env_view(&json!({}), &json!({}))["codeEnv"]["create"], true);
    }

    #[test]
    fn a_source_document_names_what_to_install() {
        let store = source_of(&json!({"source": "store", "version": "2.0"}), &"x").unwrap();
        assert_eq!(
            store,
            PluginSource::Store {
                version: Some("2.0".into())
            }
        );
        let git = source_of(
            &json!({"source": "git", "git": {"repository": "r", "ref": null}}),
            &"x",
        )
        .unwrap();
        assert_eq!(
            git,
            PluginSource::Git {
                repository: "r".into(),
                checkout: "master".into(),
                subpath: String::new()
            }
        );
        assert!(source_of(&json!({}), &"x").is_err());
    }

    #[test]
    fn export_keeps_the_store_version_and_the_config() {
        let spec = export_spec(
            &json!({"id": "p", "version": "1.2.0", "installedFrom": "STORE"}),
            Some(&json!({"config": {"maxRows": 5}, "codeEnvName": "", "presets": []})),
        )
        .unwrap();
        assert_eq!(spec.source.store.unwrap().version.as_deref(), Some("1.2.0"));
        assert_eq!(spec.settings.unwrap()["config"], json!({"maxRows": 5}));
    }
}
