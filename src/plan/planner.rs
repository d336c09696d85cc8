//! The planner: from the declared resources, the observed state and the stack's ledger to the
//! plan's operations. Ownership rules:
//! - declared and absent → `create`;
//! - declared, live, not in the ledger → `adopt` (with any field changes);
//! - declared, live, in the ledger → `update` when a field (or the ledger's protect /
//!   dropDataOnDelete) differs, else unchanged;
//! - in the ledger, not declared, live → `delete`, unless protected (reported, not planned);
//! - in the ledger, not declared, not live → forgotten from the ledger;
//! - live, not declared, not in the ledger → ignored.
//!
//! The drift policy of `metadata.annotations` ([`crate::manifest::annotations`]): an update
//! or adoption of a `dssctl.io/sync: detect-only` resource that changes fields is marked
//! detect-only (shown, its writes dropped, never executed); its creation is planned as usual.
//! A ledger entry recorded with `dssctl.io/prune: "false"` that is no longer declared is
//! released (dropped from the ledger) instead of deleted.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::kind::PlanDef;
use crate::manifest::annotations::{DriftPolicy, PRUNE};
use crate::manifest::{Declared, Origin, Resource, SecretRef};

use super::diff::{Doc, PendingSecret};
use super::fingerprint::secret_fingerprint;
use super::ledger::{Ledger, LedgerEntry};
use super::model::{
    Action, Change, FORMAT_VERSION, Fingerprint, Kind, LedgerIntent, Operation, OperationPolicy, Plan,
    PlanError, ProtectedSkip, ResourceId, SecretField, Summary, UncheckedSecret, Write,
};
use super::observed::Observed;

/// Resolves a secret reference to its value, for fingerprinting only (the value is never
/// stored in the plan or printed). The origin is the manifest that holds the reference
/// (`fromFile` paths are relative to its directory). `Sync`: the declared resources are
/// planned on several threads ([`Planner::plan_declared`]).
pub type SecretResolver<'a> = &'a (dyn Fn(&SecretRef, &Origin) -> Result<String, String> + Sync);

/// Below this many declared resources the planner stays on one thread: starting a thread
/// costs more than planning a small repository.
const PARALLEL_PLAN_MIN: usize = 256;

/// Everything the planner needs.
pub struct PlanInput<'a> {
    pub desired: &'a [Declared],
    pub observed: &'a Observed,
    pub stack: &'a str,
    /// The DSS URL (for the plan document; never with credentials).
    pub target: &'a str,
    pub resolve_secret: SecretResolver<'a>,
}

/// Make the plan. Pure: no I/O besides what `resolve_secret` does.
pub fn plan(input: &PlanInput<'_>) -> Plan {
    plan_after(input, declarations(input.desired), EarlyPlan::default())
}

/// The declared resources of `desired` by identity, and an error for each one declared twice
/// (the first declaration is planned). What the planner's passes share.
pub struct Declarations<'d> {
    desired: &'d [Declared],
    map: Arc<BTreeMap<ResourceId, &'d Declared>>,
    duplicates: Vec<PlanError>,
}

/// The [`Declarations`] of `desired`.
pub fn declarations(desired: &[Declared]) -> Declarations<'_> {
    let mut map: BTreeMap<ResourceId, &Declared> = BTreeMap::new();
    let mut duplicates = Vec::new();
    for d in desired {
        if let Some(id) = declared_id(&d.resource) {
            if let Some(first) = map.get(&id) {
                duplicates.push(PlanError {
                    kind: id.kind,
                    name: id.name.clone(),
                    origin: Some(d.origin.to_string()),
                    message: format!("declared twice (first at {})", first.origin),
                    hint: None,
                });
                continue;
            }
            map.insert(id, d);
        }
    }
    Declarations {
        desired,
        map: Arc::new(map),
        duplicates,
    }
}

/// The declared resources of the kinds that do not read the projects' documents
/// ([`crate::plan::kind::KindPlan::reads_project_documents`]), planned from an observed state
/// that may lack those documents: observation hands it over while they are still being read
/// (the last reads of a plan), and [`plan_after`] plans the rest from the complete state.
/// `plan_after(complete, d, plan_early(partial, d))` is `plan(complete)` whenever `partial`
/// is `complete` without the projects' documents. `declared` is [`declarations`] of the
/// input's `desired`. Pure, as [`plan`].
pub fn plan_early(input: &PlanInput<'_>, declared: &Declarations<'_>) -> EarlyPlan {
    let mut p = Planner::new(input, declared.desired, Arc::clone(&declared.map));
    p.plan_declared(|d| !super::kind::of(&d.resource).reads_project_documents());
    EarlyPlan {
        planned: true,
        ops: p.ops,
        errors: p.errors,
        unchecked: p.unchecked,
        unchanged: p.unchanged,
    }
}

/// What [`plan_early`] planned, for [`plan_after`] (the default: nothing yet).
#[derive(Debug, Default)]
pub struct EarlyPlan {
    /// Whether the early kinds were planned (else [`plan_after`] plans every resource).
    planned: bool,
    ops: Vec<Operation>,
    errors: Vec<PlanError>,
    unchecked: Vec<UncheckedSecret>,
    unchanged: usize,
}

/// The plan: what `early` planned, and the rest of the declared resources and the deletions
/// planned from `input` (the complete observed state). See [`plan_early`].
pub fn plan_after(input: &PlanInput<'_>, declared: Declarations<'_>, early: EarlyPlan) -> Plan {
    // The map moves into the planner (its `origins` are taken from it without a copy).
    let Declarations {
        desired,
        map,
        duplicates,
    } = declared;
    let mut p = Planner::new(input, desired, map);
    if early.planned {
        p.plan_declared(|d| super::kind::of(&d.resource).reads_project_documents());
    } else {
        p.plan_declared(|_| true);
    }
    p.ops.extend(early.ops);
    p.unchanged += early.unchanged;
    // A resource's errors and unchecked secrets are listed in the order of the resources'
    // identities, whichever pass planned it (one pass lists them so already).
    let mut errors = early.errors;
    errors.append(&mut p.errors);
    errors.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    p.errors = duplicates;
    p.errors.append(&mut errors);
    let mut unchecked = early.unchecked;
    unchecked.append(&mut p.unchecked);
    unchecked.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    p.unchecked = unchecked;
    let (protected, forget, released) = p.deletions();
    let Planner {
        mut ops,
        errors,
        unchanged,
        declared,
        unchecked,
        ..
    } = p;
    ops.sort_by(|a, b| {
        let rank = |o: &Operation| match o.action {
            Action::Delete => (1, 255 - o.kind.apply_rank()),
            _ => (0, o.kind.apply_rank()),
        };
        // Deletes of a kind whose objects contain others of the same kind (project folders)
        // list the contained ones first, the order they are deleted in.
        let nested_delete = a.action == Action::Delete
            && b.action == Action::Delete
            && a.kind == b.kind
            && a.kind.def().and_then(|k| k.contained_in()) == Some(a.kind);
        rank(a).cmp(&rank(b)).then_with(|| {
            if nested_delete {
                b.name.cmp(&a.name)
            } else {
                a.name.cmp(&b.name)
            }
        })
    });
    let mut plan = Plan {
        format_version: FORMAT_VERSION,
        target: input.target.to_string(),
        stack: input.stack.to_string(),
        summary: Summary {
            unchanged,
            ..Summary::default()
        },
        // A detect-only difference is never written, so it triggers no build.
        builds: super::builds::triggered(
            input.desired,
            &ops.iter()
                .filter(|o| !o.policy.detect_only)
                .collect::<Vec<&Operation>>(),
        ),
        operations: ops,
        protected,
        forget,
        released,
        errors,
        // The run planners that shared the map are gone.
        origins: Arc::unwrap_or_clone(declared)
            .into_iter()
            .map(|(id, d)| (id, d.origin.clone()))
            .collect(),
        unchecked,
        scope: None,
    };
    plan.recount();
    plan
}

/// The identity of a declared resource (`None` for a Build, which is not a resource).
pub(crate) fn declared_id(resource: &Resource) -> Option<ResourceId> {
    super::kind::of(resource).resource_id(resource.meta())
}

/// The planner's state while it plans: the kind modules plan each declared resource through
/// it ([`crate::plan::kind::KindPlan::plan`]).
pub(crate) struct Planner<'a> {
    input: &'a PlanInput<'a>,
    ledger: Option<&'a Ledger>,
    /// Shared with the planners of the runs ([`Planner::plan_declared`]), which only read it.
    declared: Arc<BTreeMap<ResourceId, &'a Declared>>,
    ops: Vec<Operation>,
    errors: Vec<PlanError>,
    unchecked: Vec<UncheckedSecret>,
    unchanged: usize,
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("wire types serialise")
}

pub(crate) fn text(v: &Option<String>) -> Option<Value> {
    v.clone().map(Value::String)
}

pub(crate) fn flag(v: Option<bool>) -> Option<Value> {
    v.map(Value::Bool)
}

impl<'a> Planner<'a> {
    /// A planner of `input` over `declared`, the map of [`declarations`] of `desired`, the
    /// input's.
    fn new(
        input: &'a PlanInput<'a>,
        desired: &[Declared],
        declared: Arc<BTreeMap<ResourceId, &'a Declared>>,
    ) -> Self {
        assert!(
            std::ptr::eq(input.desired, desired),
            "the declarations are those of the input"
        );
        Planner {
            input,
            ledger: input.observed.ledger.as_ref(),
            declared,
            ops: Vec::new(),
            errors: Vec::new(),
            unchecked: Vec::new(),
            unchanged: 0,
        }
    }

    /// Plans the declared resources `which` selects, in the order of their identities.
    /// Planning one resource reads only the input and the declared names and appends to this
    /// planner's outputs, so the declared list is cut into one contiguous run per core, each
    /// planned by a planner of its own; appending the runs' operations, errors and unchecked
    /// secrets in run order then gives exactly what one planner going through the whole list
    /// would have produced.
    fn plan_declared(&mut self, which: impl Fn(&Declared) -> bool) {
        let declared: Vec<&'a Declared> = self.declared.values().copied().filter(|d| which(d)).collect();
        if crate::parallel::cores() < 2 || declared.len() < PARALLEL_PLAN_MIN {
            for d in declared {
                super::kind::of(&d.resource).plan(self, d);
            }
            return;
        }
        let parts = crate::parallel::fold_in_runs(
            &declared,
            None,
            || Planner {
                input: self.input,
                ledger: self.ledger,
                declared: Arc::clone(&self.declared),
                ops: Vec::new(),
                errors: Vec::new(),
                unchecked: Vec::new(),
                unchanged: 0,
            },
            |worker: &mut Planner<'a>, d: &&'a Declared| super::kind::of(&d.resource).plan(worker, d),
        );
        for part in parts {
            self.ops.extend(part.ops);
            self.errors.extend(part.errors);
            self.unchecked.extend(part.unchecked);
            self.unchanged += part.unchanged;
        }
    }

    pub(crate) fn observed(&self) -> &'a Observed {
        self.input.observed
    }

    pub(crate) fn error_at(
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

    pub(crate) fn not_read(&mut self, id: &ResourceId, origin: &Origin, what: &str) {
        self.error_at(
            id,
            Some(origin),
            format!("the live {what} was not read, so it cannot be compared"),
            None,
        );
    }

    pub(crate) fn is_declared(&self, kind: Kind, name: &str) -> bool {
        self.declared.contains_key(&ResourceId::new(kind, name))
    }

    /// A reference to another resource must be declared or exist live. Lists that were not
    /// read are not checked here (observation reads every list a reference needs).
    pub(crate) fn check_ref(&mut self, d: &Declared, id: &ResourceId, kind: Kind, name: &str, field: &str) {
        if self.is_declared(kind, name) {
            return;
        }
        let origin = reference_origin(d, kind, name);
        let live = kind.def().and_then(|k| k.live_exists(self.observed(), name));
        if live == Some(false) {
            self.error_at(
                id,
                Some(origin),
                format!("{field} refers to {kind} {name:?}, which is neither declared in the manifests nor present on the instance"),
                Some(format!("declare a {} named {name:?} or fix the name", kind.title())),
            );
        }
    }

    /// A resource that something declared names (a project folder a project is placed in, a
    /// group granted) but that was removed from the manifests is deleted by this plan: the
    /// write that needs it, or its deletion, would fail half-way through the apply. An error
    /// at the referring resource (false) instead.
    pub(crate) fn check_not_pruned(
        &mut self,
        d: &Declared,
        id: &ResourceId,
        kind: Kind,
        name: &str,
        field: &str,
    ) -> bool {
        let origin = reference_origin(d, kind, name);
        let target = ResourceId::new(kind, name);
        let pruned = !self.declared.contains_key(&target)
            && kind.def().is_some_and(|k| k.deletable())
            && kind.def().and_then(|k| k.live_exists(self.observed(), name)) == Some(true)
            && self
                .ledger
                .and_then(|l| l.get(&target))
                .is_some_and(|e| !e.keep_on_removal && !e.protect);
        if pruned {
            self.error_at(
                id,
                Some(origin),
                format!("{field} refers to {kind} {name:?}, which was removed from the manifests: this plan deletes it"),
                Some(format!(
                    "declare the {} {name:?} again, or stop referring to it",
                    kind.title()
                )),
            );
        }
        !pruned
    }

    /// Judge the secrets found in a document: resolve each, compare its keyed fingerprint
    /// with the ledger's.
    ///
    /// Without a fingerprint to compare with: on create the secret is sent; for a resource
    /// the ledger already manages (a secret newly added to its manifest) it is sent; on
    /// adoption it is trusted when the live object already holds a value (DSS never returns
    /// it in clear, so there is nothing to compare) and apply records its fingerprint, so any
    /// later change in Git is detected.
    ///
    /// A secret that cannot be resolved here (a pull-request pipeline has no production
    /// secrets) does not stop the plan: it is recorded as unchecked. On an existing object it
    /// is not written (nothing to compare it with); on a created one it must be sent, and
    /// apply refuses before any write unless it resolves then.
    pub(crate) fn judge_secrets(&mut self, id: &ResourceId, origin: &Origin, doc: &mut Doc<'_>) {
        let entry = self.ledger.and_then(|l| l.get(id));
        let pending: Vec<PendingSecret> = std::mem::take(&mut doc.pending_secrets);
        for s in pending {
            let value = match (self.input.resolve_secret)(&s.reference, origin) {
                Ok(v) => v,
                Err(reason) => {
                    let sent = doc.live.is_none();
                    if sent {
                        doc.changes
                            .push(Change::unchecked(s.path.clone(), reason.clone()));
                    }
                    self.unchecked.push(UncheckedSecret {
                        kind: id.kind,
                        name: id.name.clone(),
                        path: s.path.clone(),
                        reason: reason.clone(),
                        sent,
                    });
                    doc.secrets.push(SecretField {
                        path: s.path,
                        reference: s.reference,
                        changed: sent,
                        unchecked: Some(reason),
                    });
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
                unchecked: None,
            });
        }
    }

    /// Turn the writes of one declared resource into an operation (or count it unchanged).
    pub(crate) fn finish(
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
        // Only writes that change something are kept for a live object (the others carry no
        // fingerprint either: `Doc::finish`).
        if live {
            writes.retain(|w| !w.changes.is_empty());
        }
        let mut changes: Vec<Change> = writes.iter().flat_map(|w| w.changes.clone()).collect();
        let policy = self
            .declared
            .get(&id)
            .map(|d| DriftPolicy::of(&d.resource.meta().annotations))
            .unwrap_or_default();
        // Only a difference of the live object is left alone: a creation is not drift, and
        // the ledger is dssctl's own record.
        let detect_only = policy.detect_only && live && !changes.is_empty();
        if let Some(e) = entry {
            if e.keep_on_removal != policy.keep_on_removal {
                let prune = |keep: bool| json!(if keep { "false" } else { "true" });
                changes.push(Change::new(
                    format!("metadata.annotations.{PRUNE}"),
                    prune(e.keep_on_removal),
                    prune(policy.keep_on_removal),
                ));
            }
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
            // The object the ledger maps the name to is not the live one (recreated outside
            // dssctl, or created by a run that could not learn its id): record the live id.
            if intent.dss_id.is_some() && e.dss_id != intent.dss_id {
                changes.push(Change::new("dssId", json!(e.dss_id), json!(intent.dss_id)));
            }
        }
        let subdocuments = writes.iter().map(|w| w.subdocument).collect();
        if action == Action::Update && changes.is_empty() {
            self.unchanged += 1;
            return;
        }
        // Not written (not compared), but shown, so that a reviewer sees what was not checked.
        for s in secrets.iter().filter(|s| !s.changed) {
            if let Some(reason) = &s.unchecked {
                changes.push(Change::unchecked(s.path.clone(), reason.clone()));
            }
        }
        if detect_only {
            // Shown, never executed: nothing to write, nothing to check as stale.
            writes.clear();
        }
        self.ops.push(Operation {
            kind: id.kind,
            name: id.name,
            action,
            subdocuments,
            changes,
            writes,
            secrets,
            ledger: Some(intent),
            drop_data: false,
            origin: Some(origin.clone()),
            fingerprint: None,
            policy: OperationPolicy {
                detect_only,
                keep_on_removal: policy.keep_on_removal,
            },
        });
    }

    /// Ledger entries no longer declared: deletes, protected skips, entries to forget, and
    /// entries released by their `dssctl.io/prune: "false"`.
    fn deletions(&mut self) -> (Vec<ProtectedSkip>, Vec<ResourceId>, Vec<ResourceId>) {
        let mut protected = Vec::new();
        let mut forget = Vec::new();
        let mut released = Vec::new();
        let Some(ledger) = self.ledger else {
            return (protected, forget, released);
        };
        for entry in ledger.resources.values() {
            let id = entry.id();
            if self.declared.contains_key(&id) {
                continue;
            }
            if entry.keep_on_removal {
                released.push(id);
                continue;
            }
            // A kind that is never deleted (the global variables) is only forgotten.
            if !id.kind.def().is_some_and(|k| k.deletable()) {
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
        (protected, forget, released)
    }

    /// The fingerprint of a live object (`Ok(None)`: absent; `Err`: its list was not read).
    fn live_fingerprint(&self, id: &ResourceId) -> Result<Option<Fingerprint>, &'static str> {
        let Some(kind) = id.kind.def() else {
            return Ok(None);
        };
        Ok(kind
            .live_document(self.observed(), &id.name)?
            .map(|v| super::fingerprint::live_object_fingerprint(kind, v)))
    }
}

/// The line where `d` names `kind` `name`, when the loader recorded it, else the manifest's.
fn reference_origin<'d>(d: &'d Declared, kind: Kind, name: &str) -> &'d Origin {
    d.references
        .iter()
        .find(|r| r.kind.as_str() == kind.as_str() && r.name == name)
        .map_or(&d.origin, |r| &r.origin)
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
        drop_data: entry.kind.def().is_some_and(|k| k.drops_data()) && entry.drop_data_on_delete,
        origin: None,
        fingerprint: Some(fingerprint),
        policy: Default::default(),
    }
}
