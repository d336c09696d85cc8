//! `kind: ProjectFolder`: a folder of the instance's project tree. This module owns the spec
//! type, the rule of folder paths, the grant checks, the walk of the tree that observation
//! makes, the folder settings sub-document, and the create and delete calls.
//!
//! A folder is named by its path of names from the root folder (`Analytics/Marketing`); DSS's
//! folder ids are never written in a manifest. The folders on the way are created as needed
//! when a folder is created, declared or not; an undeclared parent created that way is not
//! owned by the stack (it is not in the ledger), so it is never pruned. `owner` and
//! `permissions` are managed when given; permissions are authoritative, matched by group (or
//! user). DSS deletes only empty folders: a pruned folder is deleted after the projects of the
//! same apply have moved out or been deleted (projects come later in apply order, deletes run
//! in reverse), after its own sub-folders, and otherwise the apply reports what it still holds.

/// The calls that create, read, update and delete it (an `impl DssClient` block).
mod client;
pub(crate) use client::{FolderSummary, ROOT_FOLDER};

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt, stream};
use schemars::{JsonSchema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{Checks, Kind, KindId, KindRead, NameRule, RefSink, group, items, overlay_of, user};
use super::{KindApply, KindExport, KindObserve, KindPlan, KindSpec};
use crate::apply::docs::ApplyDocError;
use crate::client::{ClientError, DssClient};
use crate::export::{ExportOut, ExportScope, meta};
use crate::manifest::kinds::{Declared, ObjectMeta, Resource};
use crate::manifest::node::{Node, NodeValue, Pos};
use crate::observe::{ObserveError, reading};
use crate::plan::diff::Doc;
use crate::plan::model::{Change, DocShape};
use crate::plan::planner::{Planner, text, to_json};
use crate::plan::scope::{Needs, ReadPlan};
use crate::plan::{LedgerIntent, Observed, Operation, ResourceId, SubDoc};
use client::split_path as split_folder_path;

/// The kind.
pub(crate) static KIND: ProjectFolderKind = ProjectFolderKind;

super::register!(KIND, 140);

/// The word of project folder ledger keys and plans.
pub(crate) const ID: KindId = KindId("project_folder");

/// A folder's settings (`/project-folders/{id}/settings`): name, owner, permissions.
pub(crate) const FOLDER_SETTINGS: SubDoc = SubDoc::new(&DocShape::plain("folder_settings"));

/// The grant flags of a folder, in DSS's order.
pub(crate) const FLAGS: [&str; 3] = ["read", "writeContents", "admin"];

fn path_char(c: char) -> bool {
    !c.is_control()
}

/// Folder paths: names separated by `/`, any character but control characters.
pub(crate) static PATH_RULE: NameRule = NameRule {
    what: "a project folder path",
    allowed: path_char,
    allowed_text: "folder names separated by /",
    example: "Analytics/Marketing",
    pattern: Some("^[^/\\u0000-\\u001f]+(/[^/\\u0000-\\u001f]+)*$"),
    no_edge_spaces: true,
    fixed: None,
};

/// One grant of a folder: a group (or a user) and its flags; a flag left out is false.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct FolderPermissionSpec {
    /// The group granted (exactly one of `group` and `user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The user granted (exactly one of `group` and `user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// May see the folder and its content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<bool>,
    /// May create projects and sub-folders in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_contents: Option<bool>,
    /// May administer the folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<bool>,
}

/// `kind: ProjectFolder` spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ProjectFolderSpec {
    /// The folder owner's login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Authoritative when given, matched by group (or user): grants not listed are removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<FolderPermissionSpec>>,
    /// Never deleted by dssctl, even after removal from the manifests, until an apply sets it to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect: Option<bool>,
}

/// One live folder and, when read, its settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ObservedFolder {
    pub summary: FolderSummary,
    /// `GET /project-folders/{id}/settings`, read when its permissions are managed.
    pub settings: Option<Value>,
}

/// The live folders observed, by path (`""` for the root folder): the folders on the way to
/// the paths the plan needs, and their siblings (a folder's children are all read to find one
/// by name).
pub(crate) type Live = BTreeMap<String, ObservedFolder>;

/// This kind's part of the observed state.
pub(crate) fn live(observed: &Observed) -> Option<&Live> {
    observed.kinds.get(ID)
}

/// What observation reads for one folder path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FolderReads {
    /// Its permissions are managed: read its settings.
    pub settings: bool,
}

/// The planned folder reads, by path (absent: the tree is not walked).
pub(crate) type Reads = BTreeMap<String, FolderReads>;

fn reads(reads: &ReadPlan) -> Option<&Reads> {
    reads.kinds.get(ID)
}

fn reads_mut(reads: &mut ReadPlan) -> &mut Reads {
    reads.kinds.entry(ID)
}

/// The path `path` written with single slashes (`a//b/` → `a/b`).
pub(crate) fn normalise_path(path: &str) -> String {
    split_folder_path(path).join("/")
}

/// The proper ancestors of `path`, nearest last (`a/b/c` → `a`, `a/b`).
pub(crate) fn ancestors(path: &str) -> Vec<String> {
    let names = split_folder_path(path);
    (1..names.len()).map(|n| names[..n].join("/")).collect()
}

/// Whether a manifest's folder path names the root folder (`""`, `/`), which has no path to
/// check or refer to.
pub(crate) fn names_root(node: &Node) -> bool {
    node.as_str().is_some_and(|s| split_folder_path(s).is_empty())
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

/// The `ProjectFolder` kind.
#[derive(Debug)]
pub(crate) struct ProjectFolderKind;

impl KindSpec for ProjectFolderKind {
    fn name(&self) -> &'static str {
        "ProjectFolder"
    }

    fn id(&self) -> KindId {
        ID
    }

    fn description(&self) -> &'static str {
        "A project folder, named by its path from the root folder (`Analytics/Marketing`): owner and permissions."
    }

    fn spec_schema(&self, generator: &mut SchemaGenerator) -> Value {
        generator.subschema_for::<ProjectFolderSpec>().to_value()
    }

    /// After users and groups (its owner, its grants), before the projects placed in it.
    fn apply_rank(&self) -> u8 {
        2
    }

    fn name_rule(&self) -> &'static NameRule {
        &PATH_RULE
    }

    fn referable(&self) -> bool {
        true
    }

    fn check_spec(&self, checks: &mut Checks<'_>, spec: &Node) {
        if let Some(owner) = spec.get("owner") {
            checks.name("spec.owner", owner, &user::LOGIN_RULE);
        }
        check_permissions(checks, spec);
    }

    fn references<'n>(&self, _meta: Option<&'n Node>, spec: Option<&'n Node>, refs: &mut RefSink<'_, 'n>) {
        refs.push(user::ID, spec.and_then(|s| s.get("owner")), None);
        for grant in items(spec.and_then(|s| s.get("permissions"))) {
            refs.push(group::ID, grant.get("group"), None);
            refs.push(user::ID, grant.get("user"), None);
        }
    }

    fn parse(&self, meta: ObjectMeta, spec: Value) -> Result<Resource, serde_json::Error> {
        let meta = ObjectMeta {
            name: normalise_path(&meta.name),
            ..meta
        };
        Ok(Resource::new(
            &KIND,
            meta,
            serde_json::from_value::<ProjectFolderSpec>(spec)?,
        ))
    }
}

impl KindPlan for ProjectFolderKind {
    fn is_access_path(&self, path: &str) -> bool {
        path == "owner" || path.starts_with("permissions")
    }

    fn plan(&self, planner: &mut Planner<'_>, declared: &Declared) {
        if let Some((meta, spec)) = declared.resource.typed::<ProjectFolderSpec>() {
            plan_folder(planner, declared, meta, spec);
        }
    }

    fn add_reads(&self, resource: &Resource, needs: &mut Needs<'_>) {
        let Some((meta, spec)) = resource.typed::<ProjectFolderSpec>() else {
            return;
        };
        let r = reads_mut(needs.reads)
            .entry(normalise_path(&meta.name))
            .or_default();
        r.settings |= spec.permissions.is_some();
        if let Some(owner) = &spec.owner {
            needs.referenced(user::ID, owner);
        }
        for g in spec.permissions.iter().flatten() {
            if let Some(name) = &g.group {
                needs.referenced(group::ID, name);
            }
            if let Some(login) = &g.user {
                needs.referenced(user::ID, login);
            }
        }
    }

    fn need_live(&self, name: &str, reads: &mut ReadPlan) {
        reads_mut(reads).entry(normalise_path(name)).or_default();
    }

    fn need_referenced(&self, name: &str, reads: &mut ReadPlan) {
        reads_mut(reads).entry(normalise_path(name)).or_default();
    }

    /// The root folder, then the settings of the managed folders that exist and whose
    /// permissions are managed; the children read on the way depend on the tree.
    fn read_budget(&self, reads: &ReadPlan, live: &BTreeSet<ResourceId>) -> usize {
        let Some(planned) = self::reads(reads) else {
            return 0;
        };
        1 + planned
            .iter()
            .filter(|(path, r)| r.settings && live.contains(&ResourceId::new(ID, path.as_str())))
            .count()
    }

    fn live_exists(&self, observed: &Observed, name: &str) -> Option<bool> {
        live(observed).map(|m| m.contains_key(&normalise_path(name)))
    }

    fn live_document(&self, observed: &Observed, name: &str) -> Result<Option<Value>, &'static str> {
        let folders = live(observed).ok_or("project folder tree")?;
        Ok(folders.get(&normalise_path(name)).map(|f| to_json(&f.summary)))
    }

    fn subdocuments(&self) -> &'static [SubDoc] {
        &[FOLDER_SETTINGS]
    }

    /// A folder's deletion waits for the deletion of its sub-folders.
    fn contained_in(&self) -> Option<KindId> {
        Some(ID)
    }

    fn container_of<'n>(&self, name: &'n str) -> Option<&'n str> {
        name.rsplit_once('/').map(|(parent, _)| parent)
    }
}

impl KindObserve for ProjectFolderKind {
    fn observe<'a>(
        &'a self,
        client: &'a DssClient,
        reads: &'a ReadPlan,
        parallelism: usize,
    ) -> Option<BoxFuture<'a, Result<KindRead, ObserveError>>> {
        let planned = self::reads(reads)?;
        Some(Box::pin(walk(client, planned, parallelism)))
    }
}

impl KindApply for ProjectFolderKind {
    fn sub_document(&self, _name: &str, sub: SubDoc) -> Option<bool> {
        (sub == FOLDER_SETTINGS).then_some(true)
    }

    fn get_document<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        sub: SubDoc,
    ) -> Option<BoxFuture<'a, Result<Value, ClientError>>> {
        (sub == FOLDER_SETTINGS).then(|| {
            Box::pin(async move {
                let folder = c.require_project_folder(name).await?;
                c.get_project_folder_settings(&folder.id).await
            }) as BoxFuture<'a, Result<Value, ClientError>>
        })
    }

    fn put_document<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        sub: SubDoc,
        doc: Value,
        _what: String,
    ) -> Option<BoxFuture<'a, Result<(), ApplyDocError>>> {
        (sub == FOLDER_SETTINGS).then(|| {
            Box::pin(async move {
                let folder = c.require_project_folder(name).await?;
                c.set_project_folder_settings(&folder.id, &doc).await?;
                Ok(())
            }) as BoxFuture<'a, Result<(), ApplyDocError>>
        })
    }

    fn describe_document(&self, name: &str, _sub: SubDoc) -> String {
        format!("the settings of project folder {name}")
    }

    fn get_main<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
    ) -> Option<BoxFuture<'a, Result<Value, ClientError>>> {
        Some(Box::pin(async move {
            c.require_project_folder(name).await.map(|f| to_json(&f))
        }))
    }

    fn create_seed(&self, name: &str) -> (SubDoc, Value) {
        let last = split_folder_path(name).last().copied().unwrap_or_default();
        (FOLDER_SETTINGS, json!({ "name": last }))
    }

    fn create_fields(&self) -> &'static [&'static str] {
        &["name"]
    }

    /// The folders on the way are created too when missing (declared ones come first: see
    /// [`crate::apply::kind::KindApply::write_references`]).
    fn create<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        _body: &'a Value,
        _what: &'a str,
    ) -> Option<BoxFuture<'a, Result<(), ApplyDocError>>> {
        Some(Box::pin(async move {
            c.ensure_project_folder(name).await?;
            Ok(())
        }))
    }

    fn delete<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        _drop_data: bool,
    ) -> Option<BoxFuture<'a, Result<(), ClientError>>> {
        Some(Box::pin(async move { c.delete_project_folder_at(name).await }))
    }

    fn write_references(&self, op: &Operation, out: &mut Vec<ResourceId>) {
        for parent in ancestors(&op.name) {
            out.push(ResourceId::new(ID, parent));
        }
        if let Some(o) = overlay_of(op, FOLDER_SETTINGS) {
            super::access_references(o.get("owner"), o.get("permissions"), out);
        }
    }
}

impl KindExport for ProjectFolderKind {
    fn export_word(&self) -> Option<&'static str> {
        Some("project-folders")
    }

    /// The whole tree, each folder with its settings.
    fn export_read<'a>(
        &'a self,
        scope: &'a ExportScope<'a>,
    ) -> Option<BoxFuture<'a, anyhow::Result<KindRead>>> {
        Some(Box::pin(async move {
            let folders = walk_all(scope.client, scope.parallelism).await?;
            Ok(KindRead::list(folders))
        }))
    }

    fn export(&self, observed: &Observed, out: &mut ExportOut) {
        for (path, folder) in live(observed).into_iter().flatten() {
            if path.is_empty() {
                continue;
            }
            let settings = folder.settings.as_ref();
            let owner = settings
                .and_then(|s| s.get("owner"))
                .and_then(Value::as_str)
                .or(folder.summary.owner.as_deref())
                .filter(|o| !o.is_empty())
                .map(str::to_string);
            let permissions = settings
                .and_then(|s| s.get("permissions"))
                .and_then(Value::as_array)
                .map(|grants| {
                    let mut specs: Vec<FolderPermissionSpec> = grants
                        .iter()
                        .filter_map(Value::as_object)
                        .map(|g| {
                            let flags = flags_of(g);
                            FolderPermissionSpec {
                                group: g.get("group").and_then(Value::as_str).map(str::to_string),
                                user: g.get("user").and_then(Value::as_str).map(str::to_string),
                                read: Some(flags["read"]),
                                write_contents: Some(flags["writeContents"]),
                                admin: Some(flags["admin"]),
                            }
                        })
                        .filter(|g| g.group.is_some() || g.user.is_some())
                        .collect();
                    specs.sort_by(|a, b| (&a.group, &a.user).cmp(&(&b.group, &b.user)));
                    specs
                });
            let spec = ProjectFolderSpec {
                owner,
                permissions,
                protect: None,
            };
            out.put(
                "project-folders.yaml",
                Resource::new(&KIND, meta(path, None), spec),
            );
        }
    }
}

impl Kind for ProjectFolderKind {}

/// Walk the tree from the root folder down to every planned path: at each level, the children
/// of the folders on the way are read (DSS names children by id only, so finding one by name
/// reads them all), then the settings of the planned folders whose permissions are managed.
async fn walk(client: &DssClient, planned: &Reads, parallelism: usize) -> Result<KindRead, ObserveError> {
    let root = client
        .get_project_folder(ROOT_FOLDER)
        .await
        .map_err(reading("the root project folder"))?;
    let wanted: Vec<String> = planned.keys().cloned().collect();
    let on_the_way = |path: &str| {
        wanted
            .iter()
            .any(|w| path.is_empty() || w == path || w.starts_with(&format!("{path}/")))
    };
    let mut folders: Live = BTreeMap::new();
    let mut conditional = 0;
    let mut frontier = vec![String::new()];
    folders.insert(
        String::new(),
        ObservedFolder {
            summary: root,
            settings: None,
        },
    );
    while !frontier.is_empty() {
        let tasks: Vec<(String, String)> = frontier
            .iter()
            .filter(|p| {
                wanted
                    .iter()
                    .any(|w| w != *p && (p.is_empty() || w.starts_with(&format!("{p}/"))))
            })
            .flat_map(|p| {
                folders[p]
                    .summary
                    .children_ids
                    .iter()
                    .map(|c| (p.clone(), c.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        conditional += tasks.len();
        let children: Vec<(String, FolderSummary)> = stream::iter(tasks)
            .map(|(parent, id)| async move {
                let s = client
                    .get_project_folder(&id)
                    .await
                    .map_err(reading(format!("project folder {id}")))?;
                Ok::<_, ObserveError>((parent, s))
            })
            .buffer_unordered(parallelism.max(1))
            .try_collect()
            .await?;
        frontier = Vec::new();
        for (parent, summary) in children {
            let path = join(&parent, &summary.name);
            if on_the_way(&path) {
                frontier.push(path.clone());
            }
            folders.insert(
                path,
                ObservedFolder {
                    summary,
                    settings: None,
                },
            );
        }
    }
    let settings_reads: Vec<(String, String)> = planned
        .iter()
        .filter(|(_, r)| r.settings)
        .filter_map(|(path, _)| folders.get(path).map(|f| (path.clone(), f.summary.id.clone())))
        .collect();
    let settings: Vec<(String, Value)> = stream::iter(settings_reads)
        .map(|(path, id)| async move {
            let s = client
                .get_project_folder_settings(&id)
                .await
                .map_err(reading(format!("the settings of project folder {path}")))?;
            Ok::<_, ObserveError>((path, s))
        })
        .buffer_unordered(parallelism.max(1))
        .try_collect()
        .await?;
    for (path, s) in settings {
        if let Some(f) = folders.get_mut(&path) {
            f.settings = Some(s);
        }
    }
    let live = planned
        .keys()
        .filter(|p| !p.is_empty() && folders.contains_key(*p))
        .map(|p| ResourceId::new(ID, p.as_str()))
        .collect();
    Ok(KindRead {
        part: Box::new(folders),
        live,
        conditional_reads: conditional,
        later: None,
    })
}

/// Every folder of the tree, breadth first, each with its settings (for `dssctl export`).
async fn walk_all(client: &DssClient, parallelism: usize) -> anyhow::Result<Live> {
    let root = client
        .get_project_folder(ROOT_FOLDER)
        .await
        .context("cannot read the root project folder")?;
    let mut frontier: Vec<(String, Vec<String>)> = vec![(String::new(), root.children_ids.clone())];
    let mut folders: Live = BTreeMap::new();
    folders.insert(
        String::new(),
        ObservedFolder {
            summary: root,
            settings: None,
        },
    );
    while !frontier.is_empty() {
        let tasks: Vec<(String, String)> = frontier
            .drain(..)
            .flat_map(|(parent, ids)| ids.into_iter().map(move |id| (parent.clone(), id)))
            .collect();
        let read: Vec<(String, FolderSummary, Value)> = stream::iter(tasks)
            .map(|(parent, id)| async move {
                let summary = client
                    .get_project_folder(&id)
                    .await
                    .with_context(|| format!("cannot read project folder {id}"))?;
                let settings = client
                    .get_project_folder_settings(&id)
                    .await
                    .with_context(|| format!("cannot read the settings of project folder {id}"))?;
                Ok::<_, anyhow::Error>((parent, summary, settings))
            })
            .buffer_unordered(parallelism.max(1))
            .try_collect()
            .await?;
        for (parent, summary, settings) in read {
            let path = join(&parent, &summary.name);
            frontier.push((path.clone(), summary.children_ids.clone()));
            folders.insert(
                path,
                ObservedFolder {
                    summary,
                    settings: Some(settings),
                },
            );
        }
    }
    Ok(folders)
}

/// A grant names one principal, once; `permissions` is a list.
fn check_permissions(checks: &mut Checks<'_>, spec: &Node) {
    let Some(NodeValue::Seq(grants)) = spec.get("permissions").map(|p| &p.value) else {
        return;
    };
    let mut seen: BTreeMap<(String, String), Pos> = BTreeMap::new();
    for (i, grant) in grants.iter().enumerate() {
        let path = format!("spec.permissions[{i}]");
        let group = grant.get("group").and_then(Node::as_str);
        let user = grant.get("user").and_then(Node::as_str);
        if let Some(g) = grant.get("group") {
            checks.name(&format!("{path}.group"), g, &group::NAME_RULE);
        }
        if let Some(u) = grant.get("user") {
            checks.name(&format!("{path}.user"), u, &user::LOGIN_RULE);
        }
        let who = match (group, user) {
            (Some(_), Some(_)) => {
                checks
                    .error(
                        grant.pos,
                        format!("{path}: give either `group` or `user`, not both"),
                    )
                    .hint = Some("write one grant per group or user".into());
                continue;
            }
            (Some(g), None) => ("group", g),
            (None, Some(u)) => ("user", u),
            (None, None) => {
                checks
                    .error(grant.pos, format!("{path}: missing `group` or `user`"))
                    .hint = Some("e.g. `- {group: data_team, read: true, writeContents: true}`".into());
                continue;
            }
        };
        let key = (who.0.to_string(), who.1.to_string());
        if let Some(first) = seen.get(&key) {
            checks
                .error(
                    grant.pos,
                    format!(
                        "{path}: {} \"{}\" is granted twice (first at line {})",
                        who.0, who.1, first.line
                    ),
                )
                .hint = Some("merge the two grants: permissions are matched by group or user".into());
        } else {
            seen.insert(key, grant.pos);
        }
    }
}

/// `group=NAME` or `user=LOGIN`, how grants are matched and named in changes.
fn principal(grant: &Map<String, Value>) -> Option<String> {
    match (
        grant.get("group").and_then(Value::as_str),
        grant.get("user").and_then(Value::as_str),
    ) {
        (Some(g), _) => Some(format!("group={g}")),
        (None, Some(u)) => Some(format!("user={u}")),
        _ => None,
    }
}

/// The flags of a grant, every one present (DSS reads a missing flag as false).
fn flags_of(grant: &Map<String, Value>) -> BTreeMap<&'static str, bool> {
    FLAGS
        .iter()
        .map(|f| (*f, grant.get(*f).and_then(Value::as_bool).unwrap_or(false)))
        .collect()
}

/// The grant a spec writes: its principal and every flag.
pub(crate) fn grant_json(spec: &FolderPermissionSpec) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(g) = &spec.group {
        m.insert("group".into(), json!(g));
    }
    if let Some(u) = &spec.user {
        m.insert("user".into(), json!(u));
    }
    for (flag, value) in [
        ("read", spec.read),
        ("writeContents", spec.write_contents),
        ("admin", spec.admin),
    ] {
        m.insert(flag.into(), json!(value.unwrap_or(false)));
    }
    m
}

fn granted(flags: &BTreeMap<&'static str, bool>) -> Value {
    Value::Object(
        flags
            .iter()
            .filter(|(_, on)| **on)
            .map(|(k, _)| (k.to_string(), json!(true)))
            .collect(),
    )
}

/// Compare the declared grants with the live ones, by principal; the overlay replaces the
/// list (every grant carries all of its flags).
fn diff_permissions(doc: &mut Doc<'_>, desired: &[FolderPermissionSpec]) {
    let live: Vec<Map<String, Value>> = doc
        .live
        .and_then(|l| l.get("permissions"))
        .and_then(Value::as_array)
        .map(|gs| gs.iter().filter_map(Value::as_object).cloned().collect())
        .unwrap_or_default();
    let mut wanted = Vec::new();
    let mut names = Vec::new();
    for spec in desired {
        let grant = grant_json(spec);
        let Some(who) = principal(&grant) else {
            continue;
        };
        let want = flags_of(&grant);
        let path = format!("permissions[{who}]");
        match live
            .iter()
            .find(|g| principal(g).as_deref() == Some(who.as_str()))
        {
            None => doc.changes.push(Change::new(path, Value::Null, granted(&want))),
            Some(have) => {
                let have = flags_of(have);
                for (flag, on) in &want {
                    if have[flag] != *on {
                        doc.changes.push(Change::new(
                            format!("{path}.{flag}"),
                            json!(have[flag]),
                            json!(on),
                        ));
                    }
                }
            }
        }
        names.push(who);
        wanted.push(Value::Object(grant));
    }
    for have in &live {
        if let Some(who) = principal(have)
            && !names.contains(&who)
        {
            doc.changes.push(Change::new(
                format!("permissions[{who}]"),
                granted(&flags_of(have)),
                Value::Null,
            ));
        }
    }
    doc.overlay.insert("permissions".into(), Value::Array(wanted));
}

/// The live settings as compared: the settings read, else the owner of the summary (only the
/// owner is managed then).
fn settings_view(f: &ObservedFolder) -> Value {
    match &f.settings {
        Some(s) => s.clone(),
        None => json!({"name": f.summary.name, "owner": f.summary.owner}),
    }
}

/// Plan one declared folder: its writes, compared with the live state.
pub(crate) fn plan_folder(p: &mut Planner<'_>, d: &Declared, meta: &ObjectMeta, spec: &ProjectFolderSpec) {
    let path = normalise_path(&meta.name);
    let id = ResourceId::new(ID, &path);
    let Some(folders) = live(p.observed()) else {
        return p.not_read(&id, &d.origin, "project folder tree");
    };
    if path.is_empty() {
        return p.error_at(
            &id,
            Some(&d.origin),
            "a project folder path names at least one folder below the root",
            Some("write the path from the root folder, e.g. `Analytics/Marketing`".into()),
        );
    }
    // A parent left out of the manifests is created as needed, but one the stack owns and
    // prunes could not be deleted with this folder in it.
    for parent in ancestors(&path) {
        p.check_not_pruned(d, &id, ID, &parent, "its path");
    }
    if let Some(owner) = &spec.owner {
        p.check_ref(d, &id, user::ID, owner, "owner");
    }
    for grant in spec.permissions.iter().flatten() {
        if let Some(g) = &grant.group {
            p.check_ref(d, &id, group::ID, g, "permissions");
        }
        if let Some(u) = &grant.user {
            p.check_ref(d, &id, user::ID, u, "permissions");
        }
    }
    let live_folder = folders.get(&path);
    if live_folder.is_some_and(|f| f.settings.is_none()) && spec.permissions.is_some() {
        return p.not_read(&id, &d.origin, "project folder settings");
    }
    let live = live_folder.map(settings_view);
    let mut doc = Doc::new(FOLDER_SETTINGS, live.as_ref(), None);
    if live.is_none() {
        let last = split_folder_path(&path).last().copied().unwrap_or_default();
        doc.write_only("name", json!(last));
    }
    doc.scalar("owner", text(&spec.owner), None);
    if let Some(grants) = &spec.permissions {
        diff_permissions(&mut doc, grants);
    }
    let write = doc.finish(None);
    let intent = LedgerIntent {
        protect: spec.protect.unwrap_or(false),
        drop_data_on_delete: false,
        dss_id: None,
    };
    p.finish(id, &d.origin, live.is_some(), vec![write], intent);
}

/// Where a project sits: a sub-document of the Project kind, `{"folder": PATH}` (`""` for the
/// root folder). Read by locating the project and walking up to the root; written by moving
/// the project.
pub(crate) const PLACEMENT: SubDoc = SubDoc::new(&DocShape::plain("folder"));

/// The field of [`PLACEMENT`].
pub(crate) const PLACEMENT_FIELD: &str = "folder";

/// The path of the folder holding project `key`, and how many requests it took beyond the
/// first (one per folder level above the one holding it, the root excepted).
pub(crate) async fn read_placement(client: &DssClient, key: &str) -> Result<(String, usize), ClientError> {
    let mut folder = client.locate_project(key).await?;
    let mut names = Vec::new();
    let mut reads = 0;
    while let Some(parent) = folder.parent_id.clone() {
        names.push(folder.name.clone());
        if parent == ROOT_FOLDER {
            break;
        }
        folder = client.get_project_folder(&parent).await?;
        reads += 1;
    }
    names.reverse();
    Ok((names.join("/"), reads))
}

/// The placement document of project `key`.
pub(crate) async fn get_placement(client: &DssClient, key: &str) -> Result<Value, ClientError> {
    let (path, _) = read_placement(client, key).await?;
    Ok(json!({ PLACEMENT_FIELD: path }))
}

/// Move project `key` to the folder `doc` names, if it is elsewhere.
pub(crate) async fn put_placement(client: &DssClient, key: &str, doc: &Value) -> Result<(), ClientError> {
    let Some(path) = doc.get(PLACEMENT_FIELD).and_then(Value::as_str) else {
        return Ok(());
    };
    let from = client.locate_project(key).await?;
    let to = if split_folder_path(path).is_empty() {
        ROOT_FOLDER.to_string()
    } else {
        client.require_project_folder(path).await?.id
    };
    if from.id != to {
        client.move_project_to_folder(&from.id, key, &to).await?;
    }
    Ok(())
}

/// The id of the folder a new project goes in (the root folder for `""`).
pub(crate) async fn folder_id_for_creation(client: &DssClient, path: &str) -> Result<String, ClientError> {
    if split_folder_path(path).is_empty() {
        return Ok(ROOT_FOLDER.to_string());
    }
    Ok(client.require_project_folder(path).await?.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_and_have_ancestors() {
        assert_eq!(normalise_path("/Analytics//Marketing/"), "Analytics/Marketing");
        assert_eq!(ancestors("a/b/c"), vec!["a".to_string(), "a/b".to_string()]);
        assert!(ancestors("a").is_empty());
        assert_eq!(KIND.container_of("a/b"), Some("a"));
        assert_eq!(KIND.container_of("a"), None);
    }

    #[test]
    fn path_rule_refuses_control_characters_and_edge_spaces() {
        assert!(PATH_RULE.check("Analytics/Marketing 2026").is_none());
        assert!(PATH_RULE.check("a\tb").is_some());
        assert!(PATH_RULE.check(" a").is_some());
    }

    #[test]
    fn grants_are_matched_by_principal_and_missing_flags_are_false() {
        let live = json!({"owner": "admin", "permissions": [
            {"group": "data_team", "read": true, "writeContents": false, "admin": false},
            {"group": "old", "read": true, "writeContents": false, "admin": false}]});
        let desired: Vec<FolderPermissionSpec> = serde_json::from_value(json!([
            {"group": "data_team", "read": true, "writeContents": true}]))
        .unwrap();
        let mut doc = Doc::new(FOLDER_SETTINGS, Some(&live), None);
        diff_permissions(&mut doc, &desired);
        let paths: Vec<&str> = doc.changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "permissions[group=data_team].writeContents",
                "permissions[group=old]"
            ]
        );
        assert_eq!(
            doc.overlay["permissions"],
            json!([{"group": "data_team", "read": true, "writeContents": true, "admin": false}])
        );

        let desired: Vec<FolderPermissionSpec> = serde_json::from_value(json!([
            {"group": "old", "read": true}, {"group": "data_team", "read": true}]))
        .unwrap();
        let mut doc = Doc::new(FOLDER_SETTINGS, Some(&live), None);
        diff_permissions(&mut doc, &desired);
        assert!(doc.changes.is_empty(), "{:?}", doc.changes);
    }
}
