//! `dssctl export`: manifests from a live instance, for adoption. Each selected kind reads
//! everything it covers ([`crate::export::kind::KindExport::export_read`]: one list, then the sub-documents
//! of each selected project) and converts it ([`crate::export::kind::KindExport::export`], pure, with the
//! helpers of [`convert`]) into the file it belongs in: `groups.yaml`, `users.yaml`,
//! `connections.yaml`, `variables.yaml`, `projects/<KEY>.yaml` (the project and what it
//! contains) under `--out`. This module only drives the kinds and writes the files.
//!
//! Nothing is written when any of those files already exists, unless `--force`. The
//! environment variables the exported secret references expect are listed on stderr.

pub(crate) mod convert;
pub(crate) mod kind;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};
use futures::future::try_join_all;
use serde::Serialize;

use crate::client::DssClient;
use crate::manifest::registry::KindId;
use crate::manifest::{API_VERSION, ObjectMeta, Resource};
use crate::plan::Observed;
use kind::{KindExport, REGISTRY};

use convert::ExpectedSecret;

/// The kinds `dssctl export` writes, in registry order: those with an
/// [`crate::export::kind::KindExport::export_word`].
pub(crate) fn exportable() -> impl Iterator<Item = &'static dyn KindExport> {
    REGISTRY.iter().copied().filter(|k| k.export_word().is_some())
}

/// What an export reads: the instance, and the projects selected with `--project`.
pub(crate) struct ExportScope<'a> {
    pub client: &'a DssClient,
    /// The selected project keys; empty: every project.
    pub projects: &'a [String],
    pub parallelism: usize,
}

/// Where the all-kinds JSON Schema lives in a repository (written by `dssctl schema --out schemas`).
pub(crate) const SCHEMA_PATH: &str = "schemas/dssctl.schema.json";

/// The files of an export: path relative to the output directory → resources, in order.
pub(crate) type Files = BTreeMap<PathBuf, Vec<Resource>>;

/// One manifest document, keys in the conventional order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a, S: Serialize> {
    api_version: &'static str,
    kind: &'static str,
    metadata: &'a ObjectMeta,
    spec: &'a S,
}

fn document<S: Serialize>(kind: &'static str, meta: &ObjectMeta, spec: &S) -> anyhow::Result<String> {
    let doc = Document {
        api_version: API_VERSION,
        kind,
        metadata: meta,
        spec,
    };
    serde_saphyr::to_string(&doc).with_context(|| format!("cannot write {kind} {} as YAML", meta.name))
}

/// One resource as a YAML document (without the `---` separator).
pub(crate) fn resource_yaml(resource: &Resource) -> anyhow::Result<String> {
    let kind = resource.kind();
    let text = document(kind, resource.meta(), &resource.spec_json())?;
    Ok(annotate_secrets(&text))
}

/// A comment after each exported secret reference, so that a reader knows why it is there.
fn annotate_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        out.push_str(line);
        if line.trim_start().starts_with("fromEnv: DSS_CONN_") || line.contains("{fromEnv: DSS_CONN_") {
            out.push_str("  # secret: not exported; set this environment variable to its value");
        }
        out.push('\n');
    }
    out
}

/// A whole file: the schema line (when given), then the documents separated by `---`.
pub(crate) fn file_text(resources: &[Resource], schema: Option<&str>) -> anyhow::Result<String> {
    let mut out = String::new();
    if let Some(schema) = schema {
        out.push_str(&format!("# yaml-language-server: $schema={schema}\n"));
    }
    for (i, r) in resources.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&resource_yaml(r)?);
    }
    Ok(out)
}

/// `to` relative to the directory `from` (both absolute).
fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to_c: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to_c).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to_c[common..] {
        out.push(c.as_os_str());
    }
    out
}

/// The `$schema` reference for a file written in `dir`, when the canonical schema exists
/// (looked for under the current directory).
fn schema_ref(dir: &Path) -> Option<String> {
    let schema = std::fs::canonicalize(SCHEMA_PATH).ok()?;
    let dir = std::fs::canonicalize(dir).ok()?;
    let rel = relative_path(&dir, &schema);
    Some(rel.to_string_lossy().replace('\\', "/"))
}

/// An export: the files, the secrets they expect, and what was left out and why. Kinds add
/// to it in [`crate::export::kind::KindExport::export`].
#[derive(Debug, Default)]
pub(crate) struct Export {
    pub files: Files,
    pub secrets: Vec<ExpectedSecret>,
    pub notes: Vec<String>,
}

/// What [`crate::export::kind::KindExport::export`] writes to.
pub(crate) type ExportOut = Export;

impl Export {
    /// Add `resource` to the file `file` (relative to `--out`).
    pub(crate) fn put(&mut self, file: impl Into<PathBuf>, resource: Resource) {
        self.files.entry(file.into()).or_default().push(resource);
    }
}

/// The `metadata` of an exported resource.
pub(crate) fn meta(name: &str, project: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: name.to_string(),
        project: project.map(str::to_string),
        annotations: Default::default(),
    }
}

/// Read what the kinds `include` cover, concurrently (each kind up to `parallelism` requests
/// at once), into one observed state.
pub(crate) async fn read_live(scope: &ExportScope<'_>, include: &[KindId]) -> anyhow::Result<Observed> {
    let reads = exportable()
        .filter(|k| include.contains(&k.id()))
        .filter_map(|k| Some((k.id(), k.export_read(scope)?)));
    let (ids, futures): (Vec<KindId>, Vec<_>) = reads.unzip();
    let parts = try_join_all(futures).await?;
    let mut observed = Observed::default();
    for (id, read) in ids.into_iter().zip(parts) {
        observed.kinds.insert_boxed(id, read.part);
    }
    Ok(observed)
}

/// The files of an export of `observed` by the kinds `include` (pure), with the secrets they
/// expect from the environment.
pub(crate) fn export_of(observed: &Observed, include: &[KindId]) -> Export {
    let mut out = Export::default();
    for kind in exportable().filter(|k| include.contains(&k.id())) {
        kind.export(observed, &mut out);
    }
    out
}

/// Write the files of `export` under `out`; nothing is written when one of them exists,
/// unless `force`. Returns the number of resources written.
pub(crate) fn write_files(export: &Export, out: &Path, force: bool) -> anyhow::Result<usize> {
    let existing: Vec<String> = export
        .files
        .keys()
        .map(|f| out.join(f))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if !existing.is_empty() && !force {
        bail!(
            "refusing to overwrite existing files (use --force to overwrite): {}",
            existing.join(", ")
        );
    }
    let mut written = 0;
    for (rel, resources) in &export.files {
        let path = out.join(rel);
        let dir = path.parent().unwrap_or(out).to_path_buf();
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the directory {}", dir.display()))?;
        let text = file_text(resources, schema_ref(&dir).as_deref())?;
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        written += resources.len();
    }
    Ok(written)
}

#[cfg(test)]
mod tests;
