//! `kind: Project`: a DSS project's metadata, owner, permissions and variables. This module
//! owns the spec type, the project key rule, the checks of grants and the names a project
//! refers to (its owner, the groups and users it grants).

use crate::export::convert::{custom_of, keyed, nonempty, nonempty_at, set};
use crate::export::{ExportOut, ExportScope, meta};
use crate::plan::normalize::{live_grant_flags, type_of};
use anyhow::Context;
use serde_json::Map;
use std::collections::HashMap;

use schemars::{JsonSchema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A project grant is the manifest's (`manifest::specs`): the planner's grant diff reads it.
pub(crate) use crate::manifest::specs::PermissionSpec;

use super::project_folder::{self, PLACEMENT, PLACEMENT_FIELD};
use super::{Checks, Kind, KindId, NameRule, RefSink, group, items, overlay_of, user};
use super::{KindApply, KindExport, KindObserve, KindPlan, KindSpec};
use crate::apply::docs::{ApplyDocError, json as doc_json, typed};
use futures::future::BoxFuture;

use crate::client::{ApiPath, ClientError, DssClient};
use crate::manifest::kinds::Declared;
use crate::manifest::kinds::{KeyedMap, ObjectMeta, Resource};
use crate::manifest::node::{Node, NodeValue, Pos};
use crate::plan::diff::{Doc, permissions_view};
use crate::plan::planner::{Planner, text, to_json};
use crate::plan::scope::{Needs, ReadPlan};
use crate::plan::{LedgerIntent, Observed, Operation, ResourceId, SubDoc};
use crate::wire::{Metadata, ProjectPermissions, ProjectSummary, ProjectVariables};

use super::KindRead;
use super::dataset::ObservedDataset;
use crate::observe::{ObserveError, reading};
use futures::{StreamExt, TryStreamExt, stream};
use std::collections::{BTreeMap, BTreeSet};

/// One live project and the sub-documents that were read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedProject {
    /// The item of `GET /projects/`: carries `name` (the label), `shortDesc`, `tags`,
    /// `ownerLogin`, `versionTag`.
    pub summary: ProjectSummary,
    /// `GET /projects/{k}/metadata`, read only when a managed field is missing from the list.
    pub metadata: Option<Metadata>,
    pub permissions: Option<ProjectPermissions>,
    pub variables: Option<ProjectVariables>,
    /// `GET /projects/{k}/datasets/`, read only when the project has managed datasets (the
    /// datasets belong to their project, so they are observed with it); `None` when not read.
    pub datasets: Option<BTreeMap<String, ObservedDataset>>,
    /// The path of the folder holding it (`""`: the root folder), read when its folder is
    /// managed.
    pub folder: Option<String>,
}

/// The live projects as observed (`None`: the project list was not read), keyed by key.
pub(crate) type Live = BTreeMap<String, ObservedProject>;

/// This kind's part of the observed state.
pub fn live(observed: &Observed) -> Option<&Live> {
    observed.kinds.get(ID)
}

/// `observed` without the projects' documents (metadata, permissions, variables, folder): the
/// state observation hands over while they are read ([`KindRead::later`]).
#[cfg(test)]
pub(crate) fn without_documents(observed: &Observed) -> Observed {
    let mut partial = observed.clone();
    if let Some(projects) = partial.kinds.get_mut::<Live>(ID) {
        for p in projects.values_mut() {
            p.metadata = None;
            p.permissions = None;
            p.variables = None;
            p.folder = None;
        }
    }
    partial
}

/// This kind's part of the observed state, to change (tests, simulation).
#[cfg(test)]
pub(crate) fn live_mut(observed: &mut Observed) -> Option<&mut Live> {
    observed.kinds.get_mut(ID)
}

/// The reads for one managed project. Datasets are read with their project (one dataset list
/// per project), so the dataset kind adds its reads here too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectReads {
    /// `custom` is managed: the project list never carries it.
    pub metadata: bool,
    /// `description` is managed: read the metadata if the list item lacks it.
    pub description: bool,
    pub permissions: bool,
    pub variables: bool,
    pub datasets: bool,
    /// `folder` is managed: locate the project in the folder tree.
    pub folder: bool,
    /// Declared datasets whose managed `label` may be missing from the dataset list (read
    /// only if the list item has no label).
    pub dataset_labels: BTreeSet<String>,
}

/// The planned reads of the managed projects (absent: the project list is not read).
pub(crate) type Reads = BTreeMap<String, ProjectReads>;

/// The project reads `reads` plans, if any.
pub fn reads(reads: &ReadPlan) -> Option<&Reads> {
    reads.kinds.get(ID)
}

/// The project reads of `reads`, planning the project list.
pub(crate) fn reads_mut(reads: &mut ReadPlan) -> &mut Reads {
    reads.kinds.entry(ID)
}

/// The kind.
pub(crate) static KIND: ProjectKind = ProjectKind;

super::register!(KIND, 10);

/// Where [`crate::apply::kind::KindApply::create_body`] keeps the folder a new project goes in, for [`crate::apply::kind::KindApply::create`].
const CREATE_FOLDER: &str = "dssctl.projectFolder";

/// The word of project ledger keys and plans.
pub const ID: KindId = KindId("project");

/// Project keys: letters, digits and `_` (the rule of `metadata.project` too, which the loader
/// checks for every kind).
pub(crate) use crate::manifest::names::PROJECT_KEY_RULE as KEY_RULE;

/// Project variables: `standard` and `local`, each managed key by key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProjectVariablesSpec {
    /// Standard project variables, managed key by key (`null` removes one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standard: Option<KeyedMap>,
    /// Local project variables (not exported with the project), managed key by key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<KeyedMap>,
}

/// `kind: Project` spec: project metadata, owner, permissions and variables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ProjectSpec {
    /// Display name (`metadata.label`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Markdown description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// One-line summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_desc: Option<String>,
    /// Compared as a set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Custom metadata, managed key by key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<KeyedMap>,
    /// The project owner's login (`permissions.owner`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Authoritative when given: grants not listed are removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<PermissionSpec>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<ProjectVariablesSpec>,
    /// The project folder it is placed in, as a path from the root folder
    /// (`Analytics/Marketing`), `""` for the root folder; left out, the project stays where
    /// it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    /// Never deleted by dssctl, even after removal from the manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect: Option<bool>,
}

/// The `Project` kind.
#[derive(Debug)]
pub(crate) struct ProjectKind;

impl KindSpec for ProjectKind {
    fn name(&self) -> &'static str {
        "Project"
    }

    fn id(&self) -> KindId {
        ID
    }

    fn description(&self) -> &'static str {
        "A DSS project: metadata, owner, permissions and variables."
    }

    fn spec_schema(&self, generator: &mut SchemaGenerator) -> Value {
        generator.subschema_for::<ProjectSpec>().to_value()
    }

    fn apply_rank(&self) -> u8 {
        3
    }

    fn name_rule(&self) -> &'static NameRule {
        &KEY_RULE
    }

    fn referable(&self) -> bool {
        true
    }

    fn check_spec(&self, checks: &mut Checks<'_>, spec: &Node) {
        if let Some(owner) = spec.get("owner") {
            checks.name("spec.owner", owner, &user::LOGIN_RULE);
        }
        for (i, grant) in items(spec.get("permissions")).iter().enumerate() {
            if let Some(g) = grant.get("group") {
                checks.name(&format!("spec.permissions[{i}].group"), g, &group::NAME_RULE);
            }
            if let Some(u) = grant.get("user") {
                checks.name(&format!("spec.permissions[{i}].user"), u, &user::LOGIN_RULE);
            }
        }
        check_permissions(checks, spec);
        // `""` (or `/`) is the root folder, which has no path.
        if let Some(folder) = spec.get("folder").filter(|f| !project_folder::names_root(f)) {
            checks.name("spec.folder", folder, &project_folder::PATH_RULE);
        }
    }

    fn references<'n>(&self, _meta: Option<&'n Node>, spec: Option<&'n Node>, refs: &mut RefSink<'_, 'n>) {
        refs.push(user::ID, spec.and_then(|s| s.get("owner")), None);
        for grant in items(spec.and_then(|s| s.get("permissions"))) {
            refs.push(group::ID, grant.get("group"), None);
            refs.push(user::ID, grant.get("user"), None);
        }
        let folder = spec
            .and_then(|s| s.get("folder"))
            .filter(|f| !project_folder::names_root(f));
        refs.push(project_folder::ID, folder, None);
    }

    fn parse(&self, meta: ObjectMeta, spec: Value) -> Result<Resource, serde_json::Error> {
        Ok(Resource::new(
            &KIND,
            meta,
            serde_json::from_value::<ProjectSpec>(spec)?,
        ))
    }
}

impl KindPlan for ProjectKind {
    fn plan(&self, planner: &mut Planner<'_>, declared: &Declared) {
        if let Some((meta, spec)) = declared.resource.typed::<ProjectSpec>() {
            plan_project(planner, declared, meta, spec);
        }
    }

    fn live_document(&self, observed: &Observed, name: &str) -> Result<Option<Value>, &'static str> {
        let projects = live(observed).ok_or("project list")?;
        Ok(projects.get(name).map(|p| to_json(&p.summary)))
    }

    fn add_reads(&self, resource: &Resource, needs: &mut Needs<'_>) {
        let Some((meta, spec)) = resource.typed::<ProjectSpec>() else {
            return;
        };
        let p = reads_mut(needs.reads).entry(meta.name.clone()).or_default();
        p.metadata |= spec.custom.is_some();
        p.description |= spec.description.is_some();
        p.permissions |= spec.permissions.is_some();
        p.variables |= spec.variables.is_some();
        p.folder |= spec.folder.is_some();
        if let Some(folder) = spec.folder.as_deref().map(project_folder::normalise_path)
            && !folder.is_empty()
        {
            needs.referenced(project_folder::ID, &folder);
        }
        if let Some(owner) = &spec.owner {
            needs.referenced(user::ID, owner);
        }
        for g in spec.permissions.iter().flatten() {
            if let Some(group) = &g.group {
                needs.referenced(group::ID, group);
            }
            if let Some(login) = &g.user {
                needs.referenced(user::ID, login);
            }
        }
    }

    fn need_live(&self, name: &str, reads: &mut ReadPlan) {
        reads_mut(reads).entry(name.to_string()).or_default();
    }

    fn read_budget(&self, reads: &ReadPlan, live: &BTreeSet<ResourceId>) -> usize {
        let Some(planned) = self::reads(reads) else {
            return 0;
        };
        let per_project: usize = planned
            .iter()
            .filter(|(k, _)| live.contains(&ResourceId::new(ID, k.as_str())))
            .map(|(_, p)| {
                usize::from(p.datasets)
                    + usize::from(p.metadata)
                    + usize::from(p.permissions)
                    + usize::from(p.variables)
                    + usize::from(p.folder)
            })
            .sum();
        1 + per_project
    }

    fn live_exists(&self, observed: &Observed, name: &str) -> Option<bool> {
        live(observed).map(|m| m.contains_key(name))
    }

    fn subdocuments(&self) -> &'static [SubDoc] {
        &[PLACEMENT]
    }
}

impl KindObserve for ProjectKind {
    fn observe<'a>(
        &'a self,
        client: &'a DssClient,
        reads: &'a ReadPlan,
        parallelism: usize,
    ) -> Option<BoxFuture<'a, Result<KindRead, ObserveError>>> {
        let planned = self::reads(reads)?;
        Some(Box::pin(read_projects(client, planned, parallelism)))
    }

    /// The project list, and the two documents a project's manifest most often manages (its
    /// permissions and variables). Not its metadata, which the list's summary usually makes
    /// unnecessary, nor its folder, read only when declared.
    fn likely_reads(&self, key: &str) -> Vec<ApiPath> {
        let docs = [
            crate::client::project_permissions_path(key),
            crate::client::project_variables_path(key),
        ];
        std::iter::once(crate::client::project_list_path())
            .chain(docs.into_iter().flatten())
            .collect()
    }
}

impl KindApply for ProjectKind {
    /// A new project's variables are two empty scopes (what `get_variables` documents, and
    /// all a project has before anything sets one); its metadata and permissions are read,
    /// DSS filling them with defaults that vary by version.
    fn created_document(&self, sub: SubDoc) -> Option<Value> {
        (sub == SubDoc::VARIABLES).then(|| json!({"standard": {}, "local": {}}))
    }

    fn create_body(&self, op: &Operation, _doc: Value) -> Value {
        // The create call takes a key, a name and an owner: the label and the owner come from
        // the metadata and permissions overlays; everything else is written by the updates.
        let field = |sub: SubDoc, key: &str| {
            overlay_of(op, sub)
                .and_then(|o| o.get(key))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let mut body = doc_json(crate::wire::CreateProjectRequest {
            project_key: op.name.clone(),
            name: Some(field(SubDoc::METADATA, "label").unwrap_or_else(|| op.name.clone())),
            owner: field(SubDoc::PERMISSIONS, "owner"),
            ..Default::default()
        });
        // The folder is a query parameter of the create call, not a field of its body: kept
        // aside here, taken out by `create`.
        if let Some(folder) = field(PLACEMENT, PLACEMENT_FIELD) {
            body[CREATE_FOLDER] = json!(folder);
        }
        body
    }

    fn create<'a>(
        &self,
        c: &'a DssClient,
        _key: &'a str,
        body: &'a Value,
        what: &'a str,
    ) -> Option<BoxFuture<'a, Result<(), ApplyDocError>>> {
        Some(Box::pin(async move {
            let mut body = body.clone();
            let folder = body
                .as_object_mut()
                .and_then(|b| b.remove(CREATE_FOLDER))
                .and_then(|f| f.as_str().map(str::to_string));
            let req = typed(body, &what)?;
            match folder {
                Some(path) => {
                    let id = project_folder::folder_id_for_creation(c, &path).await?;
                    c.create_project_in_folder(&req, &id).await?;
                }
                None => c.create_project(&req).await?,
            }
            Ok(())
        }))
    }

    fn sub_document(&self, _name: &str, sub: SubDoc) -> Option<bool> {
        (matches!(sub, SubDoc::METADATA | SubDoc::PERMISSIONS | SubDoc::VARIABLES) || sub == PLACEMENT)
            .then_some(true)
    }

    fn get_document<'a>(
        &self,
        c: &'a DssClient,
        key: &'a str,
        sub: SubDoc,
    ) -> Option<BoxFuture<'a, Result<Value, ClientError>>> {
        Some(match sub {
            SubDoc::METADATA => Box::pin(async move { c.get_project_metadata(key).await.map(doc_json) }),
            SubDoc::PERMISSIONS => {
                Box::pin(async move { c.get_project_permissions(key).await.map(doc_json) })
            }
            SubDoc::VARIABLES => Box::pin(async move { c.get_project_variables(key).await.map(doc_json) }),
            PLACEMENT => Box::pin(project_folder::get_placement(c, key)),
            _ => return None,
        })
    }

    fn put_document<'a>(
        &self,
        c: &'a DssClient,
        key: &'a str,
        sub: SubDoc,
        doc: Value,
        what: String,
    ) -> Option<BoxFuture<'a, Result<(), ApplyDocError>>> {
        Some(match sub {
            SubDoc::METADATA => Box::pin(async move {
                c.set_project_metadata(key, &typed(doc, &what)?).await?;
                Ok(())
            }),
            SubDoc::PERMISSIONS => Box::pin(async move {
                c.set_project_permissions(key, &typed(doc, &what)?).await?;
                Ok(())
            }),
            SubDoc::VARIABLES => Box::pin(async move {
                c.set_project_variables(key, &typed(doc, &what)?).await?;
                Ok(())
            }),
            PLACEMENT => Box::pin(async move {
                project_folder::put_placement(c, key, &doc).await?;
                Ok(())
            }),
            _ => return None,
        })
    }

    fn get_main<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
    ) -> Option<BoxFuture<'a, Result<Value, ClientError>>> {
        Some(Box::pin(
            async move { c.get_project(name).await.map(|v| to_json(&v)) },
        ))
    }

    fn backup_before_delete(&self) -> bool {
        true
    }

    fn delete<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        _drop_data: bool,
    ) -> Option<BoxFuture<'a, Result<(), ClientError>>> {
        Some(Box::pin(async move { c.delete_project(name).await }))
    }

    fn stamped(&self) -> bool {
        true
    }

    fn write_references(&self, op: &Operation, out: &mut Vec<ResourceId>) {
        // A folder is created before the projects placed in it.
        if let Some(folder) = overlay_of(op, PLACEMENT)
            .and_then(|o| o.get(PLACEMENT_FIELD))
            .and_then(Value::as_str)
            .filter(|f| !f.is_empty())
        {
            out.push(ResourceId::new(project_folder::ID, folder));
        }
        if let Some(p) = overlay_of(op, SubDoc::PERMISSIONS) {
            super::access_references(p.get("owner"), p.get("permissions"), out);
        }
    }
}

impl KindExport for ProjectKind {
    fn export_word(&self) -> Option<&'static str> {
        Some("projects")
    }

    fn export_read<'a>(
        &'a self,
        scope: &'a ExportScope<'a>,
    ) -> Option<BoxFuture<'a, anyhow::Result<KindRead>>> {
        Some(Box::pin(async move {
            let docs = [
                ProjectDoc::Metadata,
                ProjectDoc::Permissions,
                ProjectDoc::Variables,
                ProjectDoc::Folder,
            ];
            let projects = read_for_export(scope, &docs).await?;
            let users = scope
                .client
                .list_users()
                .await
                .context("cannot read the user list")?;
            Ok(KindRead::list(ExportedProjects {
                projects,
                known_logins: users.into_iter().map(|u| u.login).collect(),
            }))
        }))
    }

    fn export(&self, observed: &Observed, out: &mut ExportOut) {
        let (projects, known_logins) = match observed.kinds.get::<ExportedProjects>(ID) {
            Some(read) => (&read.projects, Some(read.known_logins.clone())),
            None => match live(observed) {
                Some(projects) => (
                    projects,
                    user::live(observed).map(|u| u.keys().cloned().collect()),
                ),
                None => return,
            },
        };
        for (key, p) in projects {
            let mut spec = project_spec(p);
            if let (Some(owner), Some(known)) = (&spec.owner, &known_logins)
                && !known.contains(owner)
            {
                out.notes.push(format!(
                    "project {key}: owner {owner:?} is not in the instance's user list, so the owner is left unmanaged"
                ));
                spec.owner = None;
            }
            out.put(export_file(key), Resource::new(&KIND, meta(key, None), spec));
        }
    }
}

impl Kind for ProjectKind {}

/// A grant names one principal, in one of the two forms, once.
fn check_permissions(checks: &mut Checks<'_>, spec: &Node) {
    let Some(NodeValue::Seq(grants)) = spec.get("permissions").map(|p| &p.value) else {
        return;
    };
    let mut seen: HashMap<(String, String), Pos> = HashMap::new();
    for (i, grant) in grants.iter().enumerate() {
        let NodeValue::Map(entries) = &grant.value else {
            continue;
        };
        let path = format!("spec.permissions[{i}]");
        let group = grant.get("group").and_then(Node::as_str);
        let user = grant.get("user").and_then(Node::as_str);
        match (group, user) {
            (Some(_), Some(_)) => {
                checks
                    .error(
                        grant.pos,
                        format!("{path}: give either `group` or `user`, not both"),
                    )
                    .hint = Some("write one grant per group or user".into());
            }
            (None, None) if grant.get("group").is_none() && grant.get("user").is_none() => {
                checks
                    .error(grant.pos, format!("{path}: missing `group` or `user`"))
                    .hint = Some("e.g. `- {group: data_scientists, type: ANALYST_READWRITE}`".into());
            }
            _ => {}
        }
        let has_type = grant.get("type").is_some();
        let flags: Vec<&str> = entries
            .iter()
            .filter_map(|(k, _)| k.as_str())
            .filter(|k| !["group", "user", "type"].contains(k))
            .collect();
        if has_type && !flags.is_empty() {
            checks
                .error(
                    grant.pos,
                    format!(
                        "{path}: mixes `type` with per-flag permissions ({})",
                        flags.join(", ")
                    ),
                )
                .hint = Some("use either the `type` form or the per-flag form in one grant".into());
        } else if !has_type && flags.is_empty() {
            checks.error(grant.pos, format!("{path}: grants nothing")).hint = Some(
                "add `type: READER` (or ADMIN, ANALYST_READWRITE, ANALYST_READONLY), or per-flag permissions such as `readProjectContent: true`".into(),
            );
        }
        let who = group.map(|g| ("group", g)).or(user.map(|u| ("user", u)));
        if let Some((what, name)) = who {
            let key = (what.to_string(), name.to_string());
            if let Some(first) = seen.get(&key) {
                checks
                    .error(
                        grant.pos,
                        format!(
                            "{path}: {what} \"{name}\" is granted twice (first at line {})",
                            first.line
                        ),
                    )
                    .hint = Some("merge the two grants: permissions are matched by group or user".into());
            } else {
                seen.insert(key, grant.pos);
            }
        }
    }
}

/// Plan one declared project: its writes, compared with the live state.
pub(crate) fn plan_project(p: &mut Planner<'_>, d: &Declared, meta: &ObjectMeta, spec: &ProjectSpec) {
    let id = ResourceId::new(ID, &meta.name);
    let Some(projects) = live(p.observed()) else {
        return p.not_read(&id, &d.origin, "project list");
    };
    let live: Option<&ObservedProject> = projects.get(&meta.name);
    let key = Some(meta.name.as_str());
    if let Some(owner) = &spec.owner {
        p.check_ref(d, &id, crate::kinds::user::ID, owner, "owner");
    }
    for grant in spec.permissions.iter().flatten() {
        if let Some(g) = &grant.group {
            p.check_ref(d, &id, crate::kinds::group::ID, g, "permissions");
        }
        if let Some(u) = &grant.user {
            p.check_ref(d, &id, crate::kinds::user::ID, u, "permissions");
        }
    }

    let metadata = live.map(project_metadata_view);
    let mut doc = Doc::new(SubDoc::METADATA, metadata.as_ref(), key);
    doc.scalar("label", text(&spec.label), None);
    doc.scalar("description", text(&spec.description), None);
    doc.scalar("shortDesc", text(&spec.short_desc), None);
    doc.set("tags", spec.tags.as_ref());
    doc.keyed("custom", spec.custom.as_ref());
    let metadata_write = doc.finish(None);

    if live.is_some_and(|p| p.permissions.is_none()) && spec.permissions.is_some() {
        return p.not_read(&id, &d.origin, "permissions document");
    }
    let permissions =
        live.map(|p| permissions_view(p.permissions.as_ref(), p.summary.owner_login.as_deref()));
    let mut doc = Doc::new(SubDoc::PERMISSIONS, permissions.as_ref(), key);
    doc.scalar("owner", text(&spec.owner), None);
    if let Some(grants) = &spec.permissions
        && let Err(e) = doc.grants(grants)
    {
        return p.error_at(&id, Some(&d.origin), e, None);
    }
    let permissions_write = doc.finish(None);

    if live.is_some_and(|p| p.variables.is_none()) && spec.variables.is_some() {
        return p.not_read(&id, &d.origin, "variables document");
    }
    let variables = live.and_then(|p| p.variables.as_ref()).map(to_json);
    let mut doc = Doc::new(SubDoc::VARIABLES, variables.as_ref(), key);
    if let Some(v) = &spec.variables {
        doc.keyed("standard", v.standard.as_ref());
        doc.keyed("local", v.local.as_ref());
    }
    let variables_write = doc.finish(None);

    if live.is_some_and(|p| p.folder.is_none()) && spec.folder.is_some() {
        return p.not_read(&id, &d.origin, "project's folder");
    }
    let folder = spec.folder.as_deref().map(project_folder::normalise_path);
    if let Some(path) = folder.as_deref().filter(|f| !f.is_empty()) {
        // Moving into a folder this plan deletes would fail half-way through the apply.
        p.check_not_pruned(d, &id, project_folder::ID, path, "folder");
        p.check_ref(d, &id, project_folder::ID, path, "folder");
    }
    let placement = live
        .and_then(|p| p.folder.as_ref())
        .map(|f| json!({ PLACEMENT_FIELD: f }));
    let mut doc = Doc::new(PLACEMENT, placement.as_ref(), None);
    doc.scalar(PLACEMENT_FIELD, folder.map(Value::String), None);
    let placement_write = doc.finish(None);

    let intent = LedgerIntent {
        protect: spec.protect.unwrap_or(false),
        drop_data_on_delete: false,
        dss_id: None,
    };
    p.finish(
        id,
        &d.origin,
        live.is_some(),
        vec![
            metadata_write,
            permissions_write,
            variables_write,
            placement_write,
        ],
        intent,
    );
}

/// A project's metadata as a JSON value: the document read, else what the project list
/// carries (`name` is the label there).
pub(crate) fn project_metadata_view(p: &ObservedProject) -> Value {
    match &p.metadata {
        Some(m) => to_json(m),
        None => {
            let s = &p.summary;
            let mut v = json!({"label": s.name, "shortDesc": s.short_desc, "tags": s.tags});
            if let Some(d) = &s.description {
                v["description"] = json!(d);
            }
            v
        }
    }
}

/// One per-project read: a sub-document of a project, or its dataset list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProjectDoc {
    Datasets,
    /// The dataset list decoded with only what a plan reads (observation; `Datasets` keeps
    /// every attribute, as export needs).
    ObservedDatasets,
    Metadata,
    Permissions,
    Variables,
    /// Where it sits in the folder tree.
    Folder,
}

/// The result of a [`ProjectDoc`] read.
pub(crate) enum ProjectRead {
    Datasets(Vec<crate::wire::Dataset>),
    Metadata(Metadata),
    Permissions(ProjectPermissions),
    Variables(ProjectVariables),
    /// The folder path, and the requests made beyond the first to find it.
    Folder(String, usize),
}

/// Read one sub-document (or the dataset list) of project `key`. Shared by observation and
/// export, so that both read DSS the same way and name a failure the same way.
pub(crate) async fn read_project_doc(
    client: &DssClient,
    key: &str,
    what: ProjectDoc,
) -> Result<ProjectRead, ObserveError> {
    match what {
        ProjectDoc::Datasets => client
            .list_datasets(key)
            .await
            .map(ProjectRead::Datasets)
            .map_err(reading(format!("the datasets of project {key}"))),
        ProjectDoc::ObservedDatasets => client
            .list_observed_datasets(key)
            .await
            .map(ProjectRead::Datasets)
            .map_err(reading(format!("the datasets of project {key}"))),
        ProjectDoc::Metadata => client
            .get_project_metadata(key)
            .await
            .map(ProjectRead::Metadata)
            .map_err(reading(format!("the metadata of project {key}"))),
        ProjectDoc::Permissions => client
            .get_project_permissions(key)
            .await
            .map(ProjectRead::Permissions)
            .map_err(reading(format!("the permissions of project {key}"))),
        ProjectDoc::Variables => client
            .get_project_variables(key)
            .await
            .map(ProjectRead::Variables)
            .map_err(reading(format!("the variables of project {key}"))),
        ProjectDoc::Folder => project_folder::read_placement(client, key)
            .await
            .map(|(path, reads)| ProjectRead::Folder(path, reads))
            .map_err(reading(format!("the folder of project {key}"))),
    }
}

/// Put a read in its place in `project`.
pub(crate) fn store_project_read(project: &mut ObservedProject, read: ProjectRead) {
    match read {
        ProjectRead::Datasets(list) => {
            project.datasets = Some(
                list.into_iter()
                    .map(|d| {
                        (
                            d.name.clone(),
                            ObservedDataset {
                                definition: d,
                                metadata: None,
                                schema: None,
                            },
                        )
                    })
                    .collect(),
            );
        }
        ProjectRead::Metadata(m) => project.metadata = Some(m),
        ProjectRead::Permissions(x) => project.permissions = Some(x),
        ProjectRead::Variables(v) => project.variables = Some(v),
        ProjectRead::Folder(path, _) => project.folder = Some(path),
    }
}

/// `GET /projects/`, keyed by project key.
pub(crate) async fn read_project_list(
    client: &DssClient,
) -> Result<BTreeMap<String, ProjectSummary>, ObserveError> {
    let list = client
        .list_projects()
        .await
        .map_err(reading("the project list"))?;
    Ok(list.into_iter().map(|p| (p.project_key.clone(), p)).collect())
}

/// The project list, then, concurrently, the per-project reads of the managed projects that
/// exist (nothing at all for one that does not), then the dataset metadata GETs a dataset list
/// left necessary. The projects' documents (metadata, permissions, variables, folder) are read
/// in a task of their own and handed over as later reads ([`KindRead::later`]): the datasets
/// do not need them, and are planned while they are read.
async fn read_projects(
    client: &DssClient,
    planned: &Reads,
    parallelism: usize,
) -> Result<KindRead, ObserveError> {
    let summaries = read_project_list(client).await?;

    // One read per dataset list and per sub-document, over the managed projects that exist.
    let mut lists: Vec<String> = Vec::new();
    let mut documents: Vec<(String, ProjectDoc)> = Vec::new();
    let mut conditional = 0;
    for (key, r) in planned {
        let Some(summary) = summaries.get(key) else {
            continue;
        };
        if r.datasets {
            lists.push(key.clone());
        }
        if r.metadata {
            documents.push((key.clone(), ProjectDoc::Metadata));
        } else if r.description && summary.description.is_none() {
            conditional += 1;
            documents.push((key.clone(), ProjectDoc::Metadata));
        }
        if r.permissions {
            documents.push((key.clone(), ProjectDoc::Permissions));
        }
        if r.variables {
            documents.push((key.clone(), ProjectDoc::Variables));
        }
        if r.folder {
            documents.push((key.clone(), ProjectDoc::Folder));
        }
    }
    let later = read_documents_later(client, documents, parallelism);
    let mut projects: Live = summaries
        .into_iter()
        .map(|(key, summary)| {
            (
                key,
                ObservedProject {
                    summary,
                    ..ObservedProject::default()
                },
            )
        })
        .collect();
    // Each list is stored as it comes, while the others are in flight.
    let mut answers = stream::iter(lists)
        .map(|key| async move {
            let mut read = read_project_doc(client, &key, ProjectDoc::ObservedDatasets).await?;
            if let ProjectRead::Datasets(list) = &mut read {
                list.iter_mut().for_each(super::dataset::keep_observed_fields);
            }
            Ok::<_, ObserveError>((key, read))
        })
        .buffer_unordered(parallelism.max(1));
    // Dataset labels a list did not carry, looked for as each list comes (while it is fresh
    // in memory; walking 5,000 definitions afterwards cost milliseconds of cold reads).
    let mut label_reads: Vec<(String, String)> = Vec::new();
    while let Some((key, read)) = answers.try_next().await? {
        let p = projects
            .get_mut(&key)
            .expect("reads are only made for listed projects");
        store_project_read(p, read);
        if let Some(datasets) = &p.datasets
            && let Some(r) = planned.get(&key)
        {
            label_reads.extend(
                r.dataset_labels
                    .iter()
                    .filter(|name| {
                        datasets
                            .get(*name)
                            .is_some_and(|ds| !ds.definition.extra.contains_key("label"))
                    })
                    .map(|name| (key.clone(), name.clone())),
            );
        }
    }
    conditional += label_reads.len();
    let metadata: Vec<(String, String, Metadata)> = stream::iter(label_reads)
        .map(|(key, name)| async move {
            let m = super::dataset::read_dataset_metadata(client, &key, &name).await?;
            Ok::<_, ObserveError>((key, name, m))
        })
        .buffer_unordered(parallelism.max(1))
        .try_collect()
        .await?;
    for (key, name, m) in metadata {
        if let Some(ds) = projects
            .get_mut(&key)
            .and_then(|p| p.datasets.as_mut())
            .and_then(|ds| ds.get_mut(&name))
        {
            ds.metadata = Some(m);
        }
    }
    let live = projects
        .keys()
        .filter(|k| planned.contains_key(*k))
        .map(|k| ResourceId::new(ID, k.as_str()))
        .collect();
    Ok(KindRead {
        part: Box::new(projects),
        live,
        conditional_reads: conditional,
        later,
    })
}

/// Read the projects' `documents` in a task of their own (aborted if the observation is
/// dropped), from now on; the completion stores each in its project.
fn read_documents_later(
    client: &DssClient,
    documents: Vec<(String, ProjectDoc)>,
    parallelism: usize,
) -> Option<crate::observe::Later> {
    if documents.is_empty() {
        return None;
    }
    let client = client.clone();
    let task = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
        let client = &client;
        stream::iter(documents)
            .map(|(key, what)| async move {
                let read = read_project_doc(client, &key, what).await?;
                Ok::<_, ObserveError>((key, read))
            })
            .buffer_unordered(parallelism.max(1))
            .try_collect::<Vec<(String, ProjectRead)>>()
            .await
    }));
    Some(Box::pin(async move {
        let reads = match task.await {
            Ok(reads) => reads?,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Cancelled: only when the runtime shuts down under the observation.
            Err(e) => {
                return Err(ObserveError::Read {
                    what: "the projects' documents".to_string(),
                    source: crate::client::ClientError::Transport {
                        method: "GET".to_string(),
                        path: "/projects/".to_string(),
                        message: e.to_string(),
                        before_sending: false,
                    },
                });
            }
        };
        let conditional_reads = reads
            .iter()
            .map(|(_, read)| match read {
                ProjectRead::Folder(_, reads) => *reads,
                _ => 0,
            })
            .sum();
        Ok(crate::observe::Completion {
            complete: Box::new(move |kinds: &mut crate::plan::KindMap| {
                let projects = kinds.entry::<Live>(ID);
                for (key, read) in reads {
                    if let Some(p) = projects.get_mut(&key) {
                        store_project_read(p, read);
                    }
                }
            }),
            conditional_reads,
        })
    }))
}

/// What `dssctl export` reads of the projects: their documents, and the logins of the user
/// list. An owner that is not a listed user (the instance's built-in administrator, on some
/// instances) cannot be declared, so it is left unmanaged rather than exported as a dangling
/// reference.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ExportedProjects {
    pub projects: Live,
    pub known_logins: BTreeSet<String>,
}

/// The file an export writes a project and what it contains to.
pub(crate) fn export_file(key: &str) -> String {
    format!("projects/{key}.yaml")
}

/// For `dssctl export`: the projects `scope` selects (refusing a `--project` that does not
/// exist), each with the documents `docs`, and, when the datasets are read, each dataset's
/// metadata (the list item may lack its label; the metadata document has it all). The same
/// reads as observation, with every sub-document: an export writes out whatever DSS holds, not
/// only what some manifest manages.
pub(crate) async fn read_for_export(scope: &ExportScope<'_>, docs: &[ProjectDoc]) -> anyhow::Result<Live> {
    let client = scope.client;
    let mut summaries = read_project_list(client).await?;
    if !scope.projects.is_empty() {
        if let Some(missing) = scope.projects.iter().find(|k| !summaries.contains_key(*k)) {
            anyhow::bail!("project {missing:?} (given with --project) does not exist on the instance");
        }
        summaries.retain(|k, _| scope.projects.contains(k));
    }
    let read: Vec<(String, ObservedProject)> = stream::iter(summaries)
        .map(|(key, summary)| async move {
            let mut p = ObservedProject {
                summary,
                ..ObservedProject::default()
            };
            for what in docs {
                store_project_read(&mut p, read_project_doc(client, &key, *what).await?);
            }
            for (name, dataset) in p.datasets.iter_mut().flatten() {
                dataset.metadata = Some(super::dataset::read_dataset_metadata(client, &key, name).await?);
            }
            Ok::<_, anyhow::Error>((key, p))
        })
        .buffer_unordered(scope.parallelism.max(1))
        .try_collect()
        .await?;
    Ok(read.into_iter().collect())
}

/// One live grant as a manifest permission: `type: X` when its rights are exactly a legacy
/// type, else the granted flags (a flag not written is not granted).
fn permission_spec(grant: &Map<String, Value>) -> Option<PermissionSpec> {
    let group = grant.get("group").and_then(Value::as_str).map(str::to_string);
    let user = grant.get("user").and_then(Value::as_str).map(str::to_string);
    if group.is_some() == user.is_some() {
        return None;
    }
    let flags = live_grant_flags(grant);
    let mut spec = PermissionSpec {
        group,
        user,
        ..PermissionSpec::default()
    };
    if let Some(t) = type_of(&flags) {
        spec.permission_type = Some(t.to_string());
        return Some(spec);
    }
    let on = |f: &str| flags.get(f).copied().unwrap_or(false).then_some(true);
    spec.admin = on("admin");
    spec.edit_permissions = on("editPermissions");
    spec.read_project_content = on("readProjectContent");
    spec.write_project_content = on("writeProjectContent");
    spec.export_datasets_data = on("exportDatasetsData");
    spec.read_dashboards = on("readDashboards");
    spec.write_dashboards = on("writeDashboards");
    spec.moderate_dashboards = on("moderateDashboards");
    spec.run_scenarios = on("runScenarios");
    spec.manage_dashboard_authorizations = on("manageDashboardAuthorizations");
    spec.manage_exposed_elements = on("manageExposedElements");
    spec.manage_additional_dashboard_users = on("manageAdditionalDashboardUsers");
    spec.execute_app = on("executeApp");
    spec.share_to_workspaces = on("shareToWorkspaces");
    spec.publish_to_data_collections = on("publishToDataCollections");
    Some(spec)
}

/// `kind: Project`: metadata, owner, grants (authoritative, so all of them, in principal
/// order) and variables. The sub-documents not read are left out (unmanaged).
pub(crate) fn project_spec(project: &ObservedProject) -> ProjectSpec {
    let metadata = project_metadata_view(project);
    let tags: Vec<String> = metadata
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let owner = match &project.permissions {
        Some(p) => nonempty(p.owner.as_deref()),
        None => nonempty(project.summary.owner_login.as_deref()),
    };
    let permissions = project.permissions.as_ref().map(|p| {
        let mut grants: Vec<PermissionSpec> = p
            .permissions
            .iter()
            .filter_map(|g| {
                let mut m = g.flags.clone();
                if let Some(group) = &g.group {
                    m.insert("group".into(), json!(group));
                }
                if let Some(user) = &g.user {
                    m.insert("user".into(), json!(user));
                }
                permission_spec(&m)
            })
            .collect();
        grants.sort_by(|a, b| (&a.group, &a.user).cmp(&(&b.group, &b.user)));
        grants.dedup_by(|a, b| a.group == b.group && a.user == b.user);
        grants
    });
    let variables = project.variables.as_ref().and_then(|v| {
        let spec = ProjectVariablesSpec {
            standard: keyed(v.standard.clone()),
            local: keyed(v.local.clone()),
        };
        (spec.standard.is_some() || spec.local.is_some()).then_some(spec)
    });
    ProjectSpec {
        label: nonempty_at(&metadata, "label"),
        description: nonempty_at(&metadata, "description"),
        short_desc: nonempty_at(&metadata, "shortDesc"),
        tags: set(&tags),
        custom: custom_of(metadata.get("custom")),
        owner,
        permissions,
        variables,
        // A project in the root folder is left where it is; one in a folder is placed there.
        folder: project.folder.clone().filter(|f| !f.is_empty()),
        protect: None,
    }
}
