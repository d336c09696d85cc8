//! `dssctl export`: manifests from a live instance, for adoption. Reads everything the
//! selected kinds cover (one list per kind, then the sub-documents of each selected project),
//! converts it with [`convert`], and writes `groups.yaml`, `users.yaml`, `connections.yaml`,
//! `variables.yaml` and `projects/<KEY>.yaml` (the project and its datasets) under `--out`.
//!
//! Nothing is written when any of those files already exists, unless `--force`. The
//! environment variables the exported secret references expect are listed on stderr.

pub mod convert;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt, stream};
use serde::Serialize;

use crate::client::DssClient;
use crate::kinds::dataset::read_dataset_metadata;
use crate::kinds::project::{
    ObservedProject, ProjectDoc, read_project_doc, read_project_list, store_project_read,
};
use crate::kinds::variables::GLOBAL as GLOBAL_VARIABLES;
use crate::manifest::{API_VERSION, ObjectMeta, Resource};

use convert::ExpectedSecret;

/// What an export selects (`export --include`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    Projects,
    Datasets,
    Connections,
    Users,
    Groups,
    Variables,
}

impl ExportKind {
    /// Every kind, the default.
    pub const ALL: [ExportKind; 6] = [
        ExportKind::Projects,
        ExportKind::Datasets,
        ExportKind::Connections,
        ExportKind::Users,
        ExportKind::Groups,
        ExportKind::Variables,
    ];

    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportKind::Projects => "projects",
            ExportKind::Datasets => "datasets",
            ExportKind::Connections => "connections",
            ExportKind::Users => "users",
            ExportKind::Groups => "groups",
            ExportKind::Variables => "variables",
        }
    }
}

/// Where the all-kinds JSON Schema lives in a repository (written by `dssctl schema --out schemas`).
pub const SCHEMA_PATH: &str = "schemas/dssctl.schema.json";

/// The files of an export: path relative to the output directory → resources, in order.
pub type Files = BTreeMap<PathBuf, Vec<Resource>>;

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
pub fn resource_yaml(resource: &Resource) -> anyhow::Result<String> {
    let kind = resource.kind();
    let text = match resource {
        Resource::Project { meta, spec } => document(kind, meta, spec)?,
        Resource::Dataset { meta, spec } => document(kind, meta, spec)?,
        Resource::Connection { meta, spec } => document(kind, meta, spec)?,
        Resource::User { meta, spec } => document(kind, meta, spec)?,
        Resource::Group { meta, spec } => document(kind, meta, spec)?,
        Resource::Variables { meta, spec } => document(kind, meta, spec)?,
        Resource::Build { meta, spec } => document(kind, meta, spec)?,
        Resource::Recipe { meta, spec } => document(kind, meta, spec)?,
        Resource::Scenario { meta, spec } => document(kind, meta, spec)?,
    };
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
pub fn file_text(resources: &[Resource], schema: Option<&str>) -> anyhow::Result<String> {
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

/// What was read from the instance, by kind.
#[derive(Debug, Default)]
pub struct LiveState {
    pub groups: Vec<crate::wire::Group>,
    pub users: Vec<crate::wire::User>,
    pub connections: Vec<crate::wire::Connection>,
    pub global_variables: Option<serde_json::Map<String, serde_json::Value>>,
    /// Selected projects, with the sub-documents the selected kinds need.
    pub projects: BTreeMap<String, ObservedProject>,
    /// The logins of the user list, read whenever projects are exported: an owner that is not
    /// a listed user (the instance's built-in administrator, on some instances) cannot be
    /// declared, so it is left unmanaged rather than exported as a dangling reference.
    pub known_logins: Option<BTreeSet<String>>,
}

/// An export: the files, the secrets they expect, and what was left out and why.
#[derive(Debug, Default)]
pub struct Export {
    pub files: Files,
    pub secrets: Vec<ExpectedSecret>,
    pub notes: Vec<String>,
}

fn wants(include: &[ExportKind], kind: ExportKind) -> bool {
    include.contains(&kind)
}

/// Read what the selected kinds cover. `projects` empty: every project.
pub async fn read_live(
    client: &DssClient,
    include: &[ExportKind],
    projects: &[String],
    parallelism: usize,
) -> anyhow::Result<LiveState> {
    let mut live = LiveState::default();
    if wants(include, ExportKind::Groups) {
        live.groups = client.list_groups().await.context("cannot read the group list")?;
    }
    if wants(include, ExportKind::Users) || wants(include, ExportKind::Projects) {
        let users = client.list_users().await.context("cannot read the user list")?;
        live.known_logins = Some(users.iter().map(|u| u.login.clone()).collect());
        if wants(include, ExportKind::Users) {
            live.users = users;
        }
    }
    if wants(include, ExportKind::Connections) {
        live.connections = client
            .list_connections()
            .await
            .context("cannot read the connection list")?
            .into_values()
            .collect();
    }
    if wants(include, ExportKind::Variables) {
        live.global_variables = Some(
            client
                .get_global_variables()
                .await
                .context("cannot read the global variables")?,
        );
    }
    let with_projects = wants(include, ExportKind::Projects);
    let with_datasets = wants(include, ExportKind::Datasets);
    if !with_projects && !with_datasets {
        return Ok(live);
    }
    // The same reads as observation (`crate::observe`), with every sub-document: an export
    // writes out whatever DSS holds, not only what some manifest manages.
    let mut summaries = read_project_list(client).await?;
    if !projects.is_empty() {
        if let Some(missing) = projects.iter().find(|k| !summaries.contains_key(*k)) {
            bail!("project {missing:?} (given with --project) does not exist on the instance");
        }
        summaries.retain(|k, _| projects.contains(k));
    }
    let mut docs = Vec::new();
    if with_projects {
        docs.extend([
            ProjectDoc::Metadata,
            ProjectDoc::Permissions,
            ProjectDoc::Variables,
        ]);
    }
    if with_datasets {
        docs.push(ProjectDoc::Datasets);
    }
    let docs = &docs;
    let read: Vec<(String, ObservedProject)> = stream::iter(summaries)
        .map(|(key, summary)| async move {
            let mut p = ObservedProject {
                summary,
                ..ObservedProject::default()
            };
            for what in docs {
                store_project_read(&mut p, read_project_doc(client, &key, *what).await?);
            }
            // The list item may lack a dataset's label; the metadata document has it all.
            for (name, dataset) in p.datasets.iter_mut().flatten() {
                dataset.metadata = Some(read_dataset_metadata(client, &key, name).await?);
            }
            Ok::<_, anyhow::Error>((key, p))
        })
        .buffer_unordered(parallelism.max(1))
        .try_collect()
        .await?;
    live.projects = read.into_iter().collect();
    Ok(live)
}

fn meta(name: &str, project: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: name.to_string(),
        project: project.map(str::to_string),
    }
}

/// The files of an export of `live` (pure), and the secrets they expect from the environment.
pub fn export_of(live: &LiveState, include: &[ExportKind]) -> Export {
    let mut files = Files::new();
    let mut secrets = Vec::new();
    let mut notes = Vec::new();
    let mut put = |file: &str, r: Resource| files.entry(PathBuf::from(file)).or_default().push(r);
    let mut groups: Vec<_> = live.groups.iter().collect();
    groups.sort_by(|a, b| a.name.cmp(&b.name));
    for g in groups {
        put(
            "groups.yaml",
            Resource::Group {
                meta: meta(&g.name, None),
                spec: convert::group_spec(g),
            },
        );
    }
    let mut users: Vec<_> = live.users.iter().collect();
    users.sort_by(|a, b| a.login.cmp(&b.login));
    for u in users {
        put(
            "users.yaml",
            Resource::User {
                meta: meta(&u.login, None),
                spec: convert::user_spec(u),
            },
        );
    }
    let mut connections: Vec<_> = live.connections.iter().collect();
    connections.sort_by(|a, b| a.name.cmp(&b.name));
    for c in connections {
        put(
            "connections.yaml",
            Resource::Connection {
                meta: meta(&c.name, None),
                spec: convert::connection_spec(c, &mut secrets),
            },
        );
    }
    if let Some(spec) = live.global_variables.as_ref().and_then(convert::variables_spec) {
        put(
            "variables.yaml",
            Resource::Variables {
                meta: meta(GLOBAL_VARIABLES, None),
                spec,
            },
        );
    }
    for (key, p) in &live.projects {
        let file = format!("projects/{key}.yaml");
        if wants(include, ExportKind::Projects) {
            let mut spec = convert::project_spec(p);
            if let (Some(owner), Some(known)) = (&spec.owner, &live.known_logins)
                && !known.contains(owner)
            {
                notes.push(format!(
                    "project {key}: owner {owner:?} is not in the instance's user list, so the owner is left unmanaged"
                ));
                spec.owner = None;
            }
            put(
                &file,
                Resource::Project {
                    meta: meta(key, None),
                    spec,
                },
            );
        }
        for (name, ds) in p.datasets.iter().flatten() {
            put(
                &file,
                Resource::Dataset {
                    meta: meta(name, Some(key)),
                    spec: convert::dataset_spec(ds),
                },
            );
        }
    }
    Export {
        files,
        secrets,
        notes,
    }
}

/// Write the files of `export` under `out`; nothing is written when one of them exists,
/// unless `force`. Returns the number of resources written.
pub fn write_files(export: &Export, out: &Path, force: bool) -> anyhow::Result<usize> {
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
