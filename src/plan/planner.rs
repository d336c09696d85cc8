//! The planner: from the declared resources, the observed state and the stack's ledger to the
//! plan's operations. Ownership rules (product.md section 4):
//! - declared and absent → `create`;
//! - declared, live, not in the ledger → `adopt` (with any field changes);
//! - declared, live, in the ledger → `update` when a field (or the ledger's protect /
//!   dropDataOnDelete) differs, else unchanged;
//! - in the ledger, not declared, live → `delete`, unless protected (reported, not planned);
//! - in the ledger, not declared, not live → forgotten from the ledger;
//! - live, not declared, not in the ledger → ignored.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::manifest::{
    ConnectionSpec, DatasetSpec, Declared, GroupSpec, ObjectMeta, Origin, ProjectSpec, Resource, SecretRef,
    UserSpec, VariablesSpec,
};

use super::diff::{Doc, PendingSecret, permissions_view, schema_view};
use super::fingerprint::{content_fingerprint, secret_fingerprint};
use super::ledger::{Ledger, LedgerEntry, is_reserved_variable};
use super::model::{
    Action, Change, FORMAT_VERSION, Fingerprint, Kind, LedgerIntent, Operation, Plan, PlanError,
    ProtectedSkip, ResourceId, SecretField, SubDoc, Summary, Write,
};
use super::observed::{Observed, ObservedDataset, ObservedProject};

/// Resolves a secret reference to its value, for fingerprinting only (the value is never
/// stored in the plan or printed). The origin is the manifest that holds the reference
/// (`fromFile` paths are relative to its directory).
pub type SecretResolver<'a> = &'a dyn Fn(&SecretRef, &Origin) -> Result<String, String>;

/// Everything the planner needs.
pub struct PlanInput<'a> {
    pub desired: &'a [Declared],
    pub observed: &'a Observed,
    pub stack: &'a str,
    /// The DSS URL (for the plan document; never with credentials).
    pub target: &'a str,
    pub resolve_secret: SecretResolver<'a>,
}

/// The name of the only `Variables` resource.
pub const GLOBAL_VARIABLES: &str = "global";

/// Make the plan. Pure: no I/O besides what `resolve_secret` does.
pub fn plan(input: &PlanInput<'_>) -> Plan {
    let mut p = Planner {
        input,
        ledger: input.observed.ledger.as_ref(),
        declared: BTreeMap::new(),
        ops: Vec::new(),
        errors: Vec::new(),
        unchanged: 0,
    };
    for d in input.desired {
        if let Some(id) = declared_id(&d.resource) {
            if let Some(first) = p.declared.get(&id) {
                let msg = format!("declared twice (first at {})", first.origin);
                p.error_at(&id, Some(&d.origin), msg, None);
                continue;
            }
            p.declared.insert(id, d);
        }
    }
    let declared: Vec<&Declared> = p.declared.values().copied().collect();
    for d in declared {
        match &d.resource {
            Resource::Group { meta, spec } => p.group(d, meta, spec),
            Resource::User { meta, spec } => p.user(d, meta, spec),
            Resource::Connection { meta, spec } => p.connection(d, meta, spec),
            Resource::Project { meta, spec } => p.project(d, meta, spec),
            Resource::Dataset { meta, spec } => p.dataset(d, meta, spec),
            Resource::Variables { meta, spec } => p.variables(d, meta, spec),
            Resource::Build { .. } => {}
        }
    }
    let (protected, forget) = p.deletions();
    let Planner {
        mut ops,
        errors,
        unchanged,
        declared,
        ..
    } = p;
    ops.sort_by(|a, b| {
        let rank = |o: &Operation| match o.action {
            Action::Delete => (1, 255 - o.kind.apply_rank()),
            _ => (0, o.kind.apply_rank()),
        };
        rank(a).cmp(&rank(b)).then_with(|| a.name.cmp(&b.name))
    });
    let mut plan = Plan {
        format_version: FORMAT_VERSION,
        target: input.target.to_string(),
        stack: input.stack.to_string(),
        summary: Summary {
            unchanged,
            ..Summary::default()
        },
        builds: super::builds::triggered(input.desired, &ops),
        operations: ops,
        protected,
        forget,
        errors,
        origins: declared
            .into_iter()
            .map(|(id, d)| (id, d.origin.clone()))
            .collect(),
    };
    plan.recount();
    plan
}

/// The identity of a declared resource (`None` for a Build, which is not a resource).
pub fn declared_id(resource: &Resource) -> Option<ResourceId> {
    Some(match resource {
        Resource::Project { meta, .. } => ResourceId::new(crate::kinds::project::ID, &meta.name),
        Resource::Dataset { meta, .. } => {
            ResourceId::dataset(meta.project.as_deref().unwrap_or_default(), &meta.name)
        }
        Resource::Connection { meta, .. } => ResourceId::new(crate::kinds::connection::ID, &meta.name),
        Resource::User { meta, .. } => ResourceId::new(crate::kinds::user::ID, &meta.name),
        Resource::Group { meta, .. } => ResourceId::new(crate::kinds::group::ID, &meta.name),
        Resource::Variables { meta, .. } => ResourceId::new(crate::kinds::variables::ID, &meta.name),
        Resource::Build { .. } => return None,
    })
}

struct Planner<'a> {
    input: &'a PlanInput<'a>,
    ledger: Option<&'a Ledger>,
    declared: BTreeMap<ResourceId, &'a Declared>,
    ops: Vec<Operation>,
    errors: Vec<PlanError>,
    unchanged: usize,
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("wire types serialise")
}

fn text(v: &Option<String>) -> Option<Value> {
    v.clone().map(Value::String)
}

fn flag(v: Option<bool>) -> Option<Value> {
    v.map(Value::Bool)
}

impl<'a> Planner<'a> {
    fn observed(&self) -> &'a Observed {
        self.input.observed
    }

    fn error_at(
        &mut self,
        id: &ResourceId,
        origin: Option<&Origin>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.errors.push(PlanError {
            kind: id.kind,
            name: id.name.clone(),
            origin: origin.map(ToString::to_string),
            message: message.into(),
            hint,
        });
    }

    fn not_read(&mut self, id: &ResourceId, origin: &Origin, what: &str) {
        self.error_at(
            id,
            Some(origin),
            format!("the live {what} was not read, so it cannot be compared"),
            None,
        );
    }

    fn is_declared(&self, kind: Kind, name: &str) -> bool {
        self.declared.contains_key(&ResourceId::new(kind, name))
    }

    /// A reference to another resource must be declared or exist live. Lists that were not
    /// read are not checked here (observation reads every list a reference needs).
    fn check_ref(&mut self, d: &Declared, id: &ResourceId, kind: Kind, name: &str, field: &str) {
        if self.is_declared(kind, name) {
            return;
        }
        // The line where the name is written, when the loader recorded it.
        let origin = d
            .references
            .iter()
            .find(|r| r.kind.as_str() == kind.as_str() && r.name == name)
            .map_or(&d.origin, |r| &r.origin);
        let live = match kind {
            crate::kinds::group::ID => self.observed().groups.as_ref().map(|m| m.contains_key(name)),
            crate::kinds::user::ID => self.observed().users.as_ref().map(|m| m.contains_key(name)),
            crate::kinds::connection::ID => {
                self.observed().connections.as_ref().map(|m| m.contains_key(name))
            }
            crate::kinds::project::ID => self.observed().projects.as_ref().map(|m| m.contains_key(name)),
            _ => Some(true),
        };
        if live == Some(false) {
            self.error_at(
                id,
                Some(origin),
                format!("{field} refers to {kind} {name:?}, which is neither declared in the manifests nor present on the instance"),
                Some(format!("declare a {} named {name:?} or fix the name", kind.title())),
            );
        }
    }

    /// Judge the secrets found in a document: resolve each (to report a missing one now
    /// rather than halfway through apply), compare its keyed fingerprint with the ledger's.
    ///
    /// Without a fingerprint to compare with: on create the secret is sent; for a resource
    /// the ledger already manages (a secret newly added to its manifest) it is sent; on
    /// adoption it is trusted when the live object already holds a value (DSS never returns
    /// it in clear, so there is nothing to compare) and apply records its fingerprint, so any
    /// later change in Git is detected.
    fn judge_secrets(&mut self, id: &ResourceId, origin: &Origin, doc: &mut Doc<'_>) {
        let entry = self.ledger.and_then(|l| l.get(id));
        let pending: Vec<PendingSecret> = std::mem::take(&mut doc.pending_secrets);
        for s in pending {
            let value = match (self.input.resolve_secret)(&s.reference, origin) {
                Ok(v) => v,
                Err(e) => {
                    self.error_at(
                        id,
                        Some(origin),
                        format!("cannot resolve the secret {} ({:?}): {e}", s.path, s.reference),
                        None,
                    );
                    continue;
                }
            };
            let changed = if doc.live.is_none() {
                true
            } else {
                match (entry, self.ledger) {
                    (Some(e), Some(l)) => match e.secrets.get(&s.path) {
                        Some(fp) => *fp != secret_fingerprint(&l.salt, id, &s.path, &value),
                        None => true,
                    },
                    _ => !s.live_has_value,
                }
            };
            if changed {
                doc.changes.push(Change::sensitive(s.path.clone()));
            }
            doc.secrets.push(SecretField {
                path: s.path,
                reference: s.reference,
                changed,
            });
        }
    }

    /// Turn the writes of one declared resource into an operation (or count it unchanged).
    fn finish(
        &mut self,
        id: ResourceId,
        origin: &Origin,
        live: bool,
        writes: Vec<Option<Write>>,
        intent: LedgerIntent,
    ) {
        let entry = self.ledger.and_then(|l| l.get(&id));
        let action = match (live, entry) {
            (false, _) => Action::Create,
            (true, None) => Action::Adopt,
            (true, Some(_)) => Action::Update,
        };
        let mut writes: Vec<Write> = writes.into_iter().flatten().collect();
        let secrets: Vec<SecretField> = writes.iter().flat_map(|w| w.secrets.clone()).collect();
        if live {
            writes.retain(|w| !w.changes.is_empty());
        }
        let mut changes: Vec<Change> = writes.iter().flat_map(|w| w.changes.clone()).collect();
        if let Some(e) = entry {
            if e.protect != intent.protect {
                changes.push(Change::new("protect", json!(e.protect), json!(intent.protect)));
            }
            if e.drop_data_on_delete != intent.drop_data_on_delete {
                changes.push(Change::new(
                    "dropDataOnDelete",
                    json!(e.drop_data_on_delete),
                    json!(intent.drop_data_on_delete),
                ));
            }
        }
        if action == Action::Update && changes.is_empty() {
            self.unchanged += 1;
            return;
        }
        self.ops.push(Operation {
            kind: id.kind,
            name: id.name,
            action,
            subdocuments: writes.iter().map(|w| w.subdocument).collect(),
            changes,
            writes,
            secrets,
            ledger: Some(intent),
            drop_data: false,
            origin: Some(origin.clone()),
            fingerprint: None,
        });
    }

    fn group(&mut self, d: &Declared, meta: &ObjectMeta, spec: &GroupSpec) {
        let id = ResourceId::new(crate::kinds::group::ID, &meta.name);
        let Some(groups) = &self.observed().groups else {
            return self.not_read(&id, &d.origin, "group list");
        };
        let live = groups.get(&meta.name).map(to_json);
        let mut doc = Doc::new(SubDoc::Definition, live.as_ref(), None);
        if live.is_none() {
            doc.scalar("sourceType", text(&spec.source_type), None);
        }
        doc.scalar("description", text(&spec.description), None);
        doc.scalar("admin", flag(spec.admin), Some(json!(false)));
        for (ability, on) in &spec.abilities {
            doc.scalar(ability, Some(json!(on)), Some(json!(false)));
        }
        let write = doc.finish(None);
        let intent = LedgerIntent {
            protect: spec.protect.unwrap_or(false),
            drop_data_on_delete: false,
        };
        self.finish(id, &d.origin, live.is_some(), vec![write], intent);
    }

    fn user(&mut self, d: &Declared, meta: &ObjectMeta, spec: &UserSpec) {
        let id = ResourceId::new(crate::kinds::user::ID, &meta.name);
        let Some(users) = &self.observed().users else {
            return self.not_read(&id, &d.origin, "user list");
        };
        for g in spec.groups.iter().flatten() {
            self.check_ref(d, &id, crate::kinds::group::ID, g, "groups");
        }
        let live = users.get(&meta.name).map(|u| {
            let mut v = to_json(u);
            // DSS never returns a password; the user's existence stands for "has one".
            v["password"] = json!("(set)");
            v
        });
        let mut doc = Doc::new(SubDoc::Definition, live.as_ref(), None);
        if live.is_none() {
            doc.scalar("sourceType", text(&spec.source_type), None);
        }
        doc.scalar("displayName", text(&spec.display_name), None);
        doc.scalar("email", text(&spec.email), None);
        doc.set("groups", spec.groups.as_ref());
        doc.scalar("userProfile", text(&spec.user_profile), None);
        doc.scalar("enabled", flag(spec.enabled), Some(json!(true)));
        doc.scalar("codeAllowed", flag(spec.code_allowed), Some(json!(false)));
        if let Some(password) = &spec.password {
            doc.pending_secrets.push(PendingSecret {
                path: "password".into(),
                reference: password.clone(),
                live_has_value: live.is_some(),
            });
        }
        self.judge_secrets(&id, &d.origin, &mut doc);
        let write = doc.finish(None);
        let intent = LedgerIntent {
            protect: spec.protect.unwrap_or(false),
            drop_data_on_delete: false,
        };
        self.finish(id, &d.origin, live.is_some(), vec![write], intent);
    }

    fn connection(&mut self, d: &Declared, meta: &ObjectMeta, spec: &ConnectionSpec) {
        let id = ResourceId::new(crate::kinds::connection::ID, &meta.name);
        let Some(connections) = &self.observed().connections else {
            return self.not_read(&id, &d.origin, "connection list");
        };
        for g in spec.allowed_groups.iter().flatten() {
            self.check_ref(d, &id, crate::kinds::group::ID, g, "allowedGroups");
        }
        let live_conn = connections.get(&meta.name);
        if let Some(c) = live_conn
            && c.connection_type != spec.connection_type
        {
            return self.error_at(
                &id,
                Some(&d.origin),
                format!(
                    "type is {} on the instance but {} in the manifest; a connection's type cannot change in place",
                    c.connection_type, spec.connection_type
                ),
                Some(format!(
                    "declare the new connection under another name and move its users to it, or delete connection {:?} in DSS first",
                    meta.name
                )),
            );
        }
        let live = live_conn.map(to_json);
        let mut doc = Doc::new(SubDoc::Definition, live.as_ref(), None);
        if live.is_none() {
            doc.scalar("type", Some(json!(spec.connection_type)), None);
        } else {
            doc.write_only("type", json!(spec.connection_type));
        }
        doc.scalar("description", text(&spec.description), None);
        doc.scalar("allowWrite", flag(spec.allow_write), None);
        doc.scalar("allowManagedDatasets", flag(spec.allow_managed_datasets), None);
        doc.scalar("usableBy", text(&spec.usable_by), Some(json!("ALL")));
        doc.set("allowedGroups", spec.allowed_groups.as_ref());
        doc.keyed("params", spec.params.as_ref());
        self.judge_secrets(&id, &d.origin, &mut doc);
        let write = doc.finish(None);
        let intent = LedgerIntent {
            protect: spec.protect.unwrap_or(false),
            drop_data_on_delete: false,
        };
        self.finish(id, &d.origin, live.is_some(), vec![write], intent);
    }

    fn project(&mut self, d: &Declared, meta: &ObjectMeta, spec: &ProjectSpec) {
        let id = ResourceId::new(crate::kinds::project::ID, &meta.name);
        let Some(projects) = &self.observed().projects else {
            return self.not_read(&id, &d.origin, "project list");
        };
        let live: Option<&ObservedProject> = projects.get(&meta.name);
        let key = Some(meta.name.as_str());
        if let Some(owner) = &spec.owner {
            self.check_ref(d, &id, crate::kinds::user::ID, owner, "owner");
        }
        for grant in spec.permissions.iter().flatten() {
            if let Some(g) = &grant.group {
                self.check_ref(d, &id, crate::kinds::group::ID, g, "permissions");
            }
            if let Some(u) = &grant.user {
                self.check_ref(d, &id, crate::kinds::user::ID, u, "permissions");
            }
        }

        let metadata = live.map(project_metadata_view);
        let mut doc = Doc::new(SubDoc::Metadata, metadata.as_ref(), key);
        doc.scalar("label", text(&spec.label), None);
        doc.scalar("description", text(&spec.description), None);
        doc.scalar("shortDesc", text(&spec.short_desc), None);
        doc.set("tags", spec.tags.as_ref());
        doc.keyed("custom", spec.custom.as_ref());
        let metadata_write = doc.finish(None);

        if live.is_some_and(|p| p.permissions.is_none()) && spec.permissions.is_some() {
            return self.not_read(&id, &d.origin, "permissions document");
        }
        let permissions =
            live.map(|p| permissions_view(p.permissions.as_ref(), p.summary.owner_login.as_deref()));
        let mut doc = Doc::new(SubDoc::Permissions, permissions.as_ref(), key);
        doc.scalar("owner", text(&spec.owner), None);
        if let Some(grants) = &spec.permissions
            && let Err(e) = doc.grants(grants)
        {
            return self.error_at(&id, Some(&d.origin), e, None);
        }
        let permissions_write = doc.finish(None);

        if live.is_some_and(|p| p.variables.is_none()) && spec.variables.is_some() {
            return self.not_read(&id, &d.origin, "variables document");
        }
        let variables = live.and_then(|p| p.variables.as_ref()).map(to_json);
        let mut doc = Doc::new(SubDoc::Variables, variables.as_ref(), key);
        if let Some(v) = &spec.variables {
            doc.keyed("standard", v.standard.as_ref());
            doc.keyed("local", v.local.as_ref());
        }
        let variables_write = doc.finish(None);

        let intent = LedgerIntent {
            protect: spec.protect.unwrap_or(false),
            drop_data_on_delete: false,
        };
        self.finish(
            id,
            &d.origin,
            live.is_some(),
            vec![metadata_write, permissions_write, variables_write],
            intent,
        );
    }

    fn dataset(&mut self, d: &Declared, meta: &ObjectMeta, spec: &DatasetSpec) {
        let project = meta.project.clone().unwrap_or_default();
        let id = ResourceId::dataset(&project, &meta.name);
        let Some(projects) = &self.observed().projects else {
            return self.not_read(&id, &d.origin, "project list");
        };
        let project_live = projects.get(&project);
        if project_live.is_none() && !self.is_declared(crate::kinds::project::ID, &project) {
            return self.error_at(
                &id,
                Some(&d.origin),
                format!(
                    "project {project:?} is neither declared in the manifests nor present on the instance"
                ),
                Some(format!(
                    "declare a Project named {project:?} or fix metadata.project"
                )),
            );
        }
        if let Some(conn) = spec
            .params
            .as_ref()
            .and_then(|p| p.get("connection"))
            .and_then(Value::as_str)
        {
            self.check_ref(d, &id, crate::kinds::connection::ID, conn, "params.connection");
        }
        let live: Option<&ObservedDataset> = match project_live {
            None => None,
            Some(p) => match &p.datasets {
                Some(datasets) => datasets.get(&meta.name),
                None => return self.not_read(&id, &d.origin, "dataset list of the project"),
            },
        };
        if let Some(ds) = live
            && ds.definition.dataset_type != spec.dataset_type
        {
            return self.error_at(
                &id,
                Some(&d.origin),
                format!(
                    "type is {} on the instance but {} in the manifest; a dataset's type cannot change in place",
                    ds.definition.dataset_type, spec.dataset_type
                ),
                Some(format!(
                    "declare the new dataset under another name (and point its recipes at it), or delete dataset {} in DSS first",
                    id.name
                )),
            );
        }
        let key = Some(project.as_str());

        let definition = live.map(|ds| to_json(&ds.definition));
        let version = live.and_then(|ds| ds.definition.version_tag.as_ref().map(|v| v.version_number));
        let mut doc = Doc::new(SubDoc::Settings, definition.as_ref(), key);
        if live.is_none() {
            doc.scalar("type", Some(json!(spec.dataset_type)), None);
        } else {
            doc.write_only("type", json!(spec.dataset_type));
        }
        doc.keyed("params", spec.params.as_ref());
        doc.scalar("formatType", text(&spec.format_type), None);
        doc.keyed("formatParams", spec.format_params.as_ref());
        doc.scalar("managed", flag(spec.managed), Some(json!(false)));
        let settings_write = doc.finish(version);

        let schema = live.map(|ds| schema_view(ds.schema.as_ref(), ds.definition.schema.as_ref()));
        let mut doc = Doc::new(SubDoc::Schema, schema.as_ref(), key);
        if let Some(s) = &spec.schema {
            doc.columns(s);
        }
        let schema_write = doc.finish(None);

        let metadata = live.map(dataset_metadata_view);
        let mut doc = Doc::new(SubDoc::Metadata, metadata.as_ref(), key);
        doc.scalar("label", text(&spec.label), None);
        doc.scalar("description", text(&spec.description), None);
        doc.scalar("shortDesc", text(&spec.short_desc), None);
        doc.set("tags", spec.tags.as_ref());
        doc.keyed("custom", spec.custom.as_ref());
        let metadata_write = doc.finish(None);

        let intent = LedgerIntent {
            protect: spec.protect.unwrap_or(false),
            drop_data_on_delete: spec.drop_data_on_delete.unwrap_or(false),
        };
        self.finish(
            id,
            &d.origin,
            live.is_some(),
            vec![settings_write, schema_write, metadata_write],
            intent,
        );
    }

    fn variables(&mut self, d: &Declared, meta: &ObjectMeta, spec: &VariablesSpec) {
        let id = ResourceId::new(crate::kinds::variables::ID, &meta.name);
        if meta.name != GLOBAL_VARIABLES {
            return self.error_at(
                &id,
                Some(&d.origin),
                format!("a Variables resource must be named {GLOBAL_VARIABLES:?}"),
                Some("project variables go in the Project's spec.variables".into()),
            );
        }
        if let Some(reserved) = spec.values.keys().find(|k| is_reserved_variable(k)) {
            return self.error_at(
                &id,
                Some(&d.origin),
                format!("variable {reserved:?} is reserved to dssctl (its names start with \"dssctl.\")"),
                Some("rename the variable".into()),
            );
        }
        let Some(globals) = &self.observed().global_variables else {
            return self.not_read(&id, &d.origin, "global variables");
        };
        // The reserved variables (the ledgers) are invisible to this kind.
        let visible: serde_json::Map<String, Value> = globals
            .iter()
            .filter(|(k, _)| !is_reserved_variable(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let live = json!({ "values": visible });
        let mut doc = Doc::new(SubDoc::Values, Some(&live), None);
        let mut values = spec.values.clone();
        if spec.prune.unwrap_or(false) {
            for k in visible.keys() {
                values.entry(k.clone()).or_insert(Value::Null);
            }
        }
        doc.keyed("values", Some(&values));
        // Paths read `env`, not `values.env`: the resource is the variables.
        for c in &mut doc.changes {
            if let Some(rest) = c.path.strip_prefix("values.") {
                c.path = rest.to_string();
            }
        }
        let write = doc.finish(None);
        let intent = LedgerIntent {
            protect: false,
            drop_data_on_delete: false,
        };
        self.finish(id, &d.origin, true, vec![write], intent);
    }

    /// Ledger entries no longer declared: deletes, protected skips, and entries to forget.
    fn deletions(&mut self) -> (Vec<ProtectedSkip>, Vec<ResourceId>) {
        let mut protected = Vec::new();
        let mut forget = Vec::new();
        let Some(ledger) = self.ledger else {
            return (protected, forget);
        };
        let declared: BTreeSet<ResourceId> = self.declared.keys().cloned().collect();
        for entry in ledger.resources.values() {
            let id = entry.id();
            if declared.contains(&id) {
                continue;
            }
            // Removing the Variables manifest stops managing global variables; it never
            // deletes them.
            if id.kind == crate::kinds::variables::ID {
                forget.push(id);
                continue;
            }
            match self.live_fingerprint(&id) {
                Err(what) => self.error_at(
                    &id,
                    None,
                    format!("the ledger lists it for deletion but the live {what} was not read"),
                    None,
                ),
                Ok(None) => forget.push(id),
                Ok(Some(_)) if entry.protect => protected.push(ProtectedSkip {
                    kind: id.kind,
                    name: id.name.clone(),
                }),
                Ok(Some(fingerprint)) => self.ops.push(delete_op(entry, fingerprint)),
            }
        }
        (protected, forget)
    }

    /// The fingerprint of a live object (`Ok(None)`: absent; `Err`: its list was not read).
    fn live_fingerprint(&self, id: &ResourceId) -> Result<Option<Fingerprint>, &'static str> {
        let o = self.observed();
        let fp = |v: Value| {
            let version = super::fingerprint::version_number(&v);
            let mut v = v;
            if let Some(params) = v.get_mut("params").and_then(Value::as_object_mut) {
                // Encrypted secrets change on every save: not part of the identity.
                params.retain(|k, _| !crate::wire::is_secret_param(k));
            }
            content_fingerprint(&v, version)
        };
        Ok(match id.kind {
            crate::kinds::group::ID => o
                .groups
                .as_ref()
                .ok_or("group list")?
                .get(&id.name)
                .map(|g| fp(to_json(g))),
            crate::kinds::user::ID => o
                .users
                .as_ref()
                .ok_or("user list")?
                .get(&id.name)
                .map(|u| fp(to_json(u))),
            crate::kinds::connection::ID => o
                .connections
                .as_ref()
                .ok_or("connection list")?
                .get(&id.name)
                .map(|c| fp(to_json(c))),
            crate::kinds::project::ID => o
                .projects
                .as_ref()
                .ok_or("project list")?
                .get(&id.name)
                .map(|p| fp(to_json(&p.summary))),
            crate::kinds::dataset::ID => {
                let (project, name) = id.dataset_parts().ok_or("dataset name")?;
                match o.projects.as_ref().ok_or("project list")?.get(project) {
                    None => None,
                    Some(p) => p
                        .datasets
                        .as_ref()
                        .ok_or("dataset list")?
                        .get(name)
                        .map(|ds| fp(to_json(&ds.definition))),
                }
            }
            _ => None,
        })
    }
}

fn delete_op(entry: &LedgerEntry, fingerprint: Fingerprint) -> Operation {
    Operation {
        kind: entry.kind,
        name: entry.name.clone(),
        action: Action::Delete,
        subdocuments: Vec::new(),
        changes: Vec::new(),
        writes: Vec::new(),
        secrets: Vec::new(),
        ledger: None,
        drop_data: entry.kind == crate::kinds::dataset::ID && entry.drop_data_on_delete,
        origin: None,
        fingerprint: Some(fingerprint),
    }
}

/// A project's metadata as a JSON value: the document read, else what the project list
/// carries (`name` is the label there).
pub fn project_metadata_view(p: &ObservedProject) -> Value {
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

/// A dataset's metadata as a JSON value: the document read, else the view DSS derives from
/// the definition in the dataset list (`customMeta` is the metadata's `custom`).
pub fn dataset_metadata_view(ds: &ObservedDataset) -> Value {
    match &ds.metadata {
        Some(m) => to_json(m),
        None => {
            let def = &ds.definition;
            let mut v = json!({"tags": def.tags});
            for (from, to) in [
                ("label", "label"),
                ("description", "description"),
                ("shortDesc", "shortDesc"),
                ("customMeta", "custom"),
            ] {
                if let Some(x) = def.extra.get(from) {
                    v[to] = x.clone();
                }
            }
            v
        }
    }
}
