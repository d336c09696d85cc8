//! The plan document: what `plan` prints and saves, and what `apply` executes.
//!
//! One [`Operation`] per resource that needs a write (create, update, delete, adopt). Each
//! operation names the sub-documents to write ([`Write`]); each write carries the *desired
//! managed fields* as an overlay (applied by [`crate::plan::overlay`] on a fresh GET, since DSS
//! PUTs replace whole documents), the secret fields to send (as references, never values) and
//! the fingerprint of the live document the plan was computed from, so that `apply --plan`
//! can refuse to write over a document that changed since.
//!
//! The same serialised document is the `--format json` output and the `--out FILE` saved plan
//! (`format_version` 2); consumers must ignore fields they do not know. dssctl's own keys are
//! snake_case; DSS field names inside `path`, `before`, `after` and overlays stay as DSS spells
//! them. Version 1 spelt a few of dssctl's keys in camelCase (`dropData`, `versionTag`,
//! `dropDataOnDelete`): they are still read, as aliases, so a plan saved by an older dssctl
//! applies.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::kind::PlanDef;
use crate::manifest::{Origin, SecretRef};

/// Version of the JSON plan document. Bumped only on incompatible changes (2: snake_case keys).
pub(crate) const FORMAT_VERSION: u32 = 2;

/// The oldest saved plan this dssctl still reads (version 1: camelCase keys, read as aliases).
#[cfg(test)]
pub(crate) const OLDEST_FORMAT_VERSION: u32 = 1;

/// The kind of a resource a plan operates on: the registry's [`crate::kinds::KindId`] (a
/// `Build` is a job, not a resource: it is run by apply, never diffed).
pub(crate) use crate::manifest::registry::KindId as Kind;

/// The identity of a resource: its kind and its name (`PROJECT.dataset` for datasets).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ResourceId {
    pub kind: Kind,
    pub name: String,
}

impl ResourceId {
    pub fn new(kind: Kind, name: impl Into<String>) -> Self {
        ResourceId {
            kind,
            name: name.into(),
        }
    }

    /// The identity of `name` of a kind that belongs to a project: `PROJECT.name`.
    pub(crate) fn in_project(kind: Kind, project: &str, name: &str) -> Self {
        ResourceId::new(kind, format!("{project}.{name}"))
    }

    /// The ledger key: `project:CHURN`, `dataset:CHURN.customers`, `variables:global`.
    pub fn ledger_key(&self) -> String {
        format!("{}:{}", self.kind, self.name)
    }

    /// Parse a ledger key.
    #[cfg(test)]
    pub(crate) fn from_ledger_key(key: &str) -> Option<Self> {
        let (kind, name) = key.split_once(':')?;
        Some(ResourceId::new(Kind::parse(kind)?, name))
    }

    /// For a kind that belongs to a project, `(project, name)`.
    #[cfg(test)]
    pub(crate) fn project_parts(&self) -> Option<(&str, &str)> {
        if self.kind.def().is_some_and(|k| k.in_project()) {
            self.name.split_once('.')
        } else {
            None
        }
    }

    /// The resource that contains this one (a dataset's project), which it depends on by its
    /// very name.
    pub(crate) fn container(&self) -> Option<ResourceId> {
        let kind = self.kind.def()?;
        let container = kind.contained_in()?;
        Some(ResourceId::new(container, kind.container_of(&self.name)?))
    }
}

impl std::fmt::Display for ResourceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.name)
    }
}

/// What an operation does to its resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    /// Declared, live, not yet in the stack's ledger: apply records it (and writes any field
    /// change listed).
    Adopt,
    Update,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Adopt => "adopt",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }

    /// The one-character marker of the text output.
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Adopt => "=",
            Action::Update => "~",
            Action::Delete => "-",
        }
    }
}

/// A sub-document: one of the documents DSS stores separately for an object, each written by
/// its own PUT (or POST on create), with the rules its managed fields follow. The common ones
/// are the associated constants; a kind module may define its own
/// (`pub const PAYLOAD: SubDoc = SubDoc::new(&DocShape::plain("payload"))`) and lists every
/// sub-document it writes in [`crate::plan::kind::KindPlan::subdocuments`], which is how a saved plan
/// naming it is read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubDoc(&'static DocShape);

/// How the fields of a sub-document are compared and merged, beyond RFC 7396's merge patch
/// (see [`crate::plan::overlay`]).
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct DocShape {
    /// The word of plans and messages (`permissions`).
    pub name: &'static str,
    /// Top-level list fields merged item by item rather than replaced.
    pub keyed_lists: &'static [KeyedList],
    /// Whether a list of objects that carry a `name`, at any depth, is merged by that name:
    /// listed entries managed, entries not listed untouched (instance settings).
    pub named_lists: bool,
    /// The depth at which map entries are whole values rather than maps to merge (the
    /// variables' values, at depth 1).
    pub whole_values_at: Option<usize>,
    /// Prepended to change paths where the document's own keys would not say which document
    /// they are in (`schema.`).
    pub path_prefix: &'static str,
}

/// A top-level list field merged item by item.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct KeyedList {
    pub field: &'static str,
    pub rule: ListRule,
}

/// How the items of a [`KeyedList`] are matched and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ListRule {
    /// Grants, by principal (`group` or `user`): the list is authoritative, a grant keeps the
    /// flags dssctl does not know, and the diff compares the flags.
    Grants,
    /// Schema columns, by `name`, in the manifest's order: a column keeps the attributes the
    /// manifest does not give.
    Columns,
    /// Objects with a `name`, by name: the entries listed are managed, the others are kept
    /// as they are (instance settings' named lists).
    ByName,
}

impl DocShape {
    /// A document merged key by key with no list rule.
    pub(crate) const fn plain(name: &'static str) -> DocShape {
        DocShape {
            name,
            keyed_lists: &[],
            named_lists: false,
            whole_values_at: None,
            path_prefix: "",
        }
    }
}

impl SubDoc {
    /// Group, user, connection: the single definition document.
    pub const DEFINITION: SubDoc = SubDoc(&DocShape::plain("definition"));
    /// Project or dataset metadata (`/metadata`).
    pub const METADATA: SubDoc = SubDoc(&DocShape::plain("metadata"));
    /// Project permissions (`/permissions`): grants merged by principal.
    pub const PERMISSIONS: SubDoc = SubDoc(&DocShape {
        keyed_lists: &[KeyedList {
            field: "permissions",
            rule: ListRule::Grants,
        }],
        ..DocShape::plain("permissions")
    });
    /// Project variables (`/variables/`): each variable is a whole value.
    pub const VARIABLES: SubDoc = SubDoc(&DocShape {
        whole_values_at: Some(1),
        path_prefix: "variables.",
        ..DocShape::plain("variables")
    });
    /// Dataset definition (`PUT /projects/{k}/datasets/{n}`).
    pub const SETTINGS: SubDoc = SubDoc(&DocShape::plain("settings"));
    /// Dataset schema (`/schema`): columns merged by name.
    pub const SCHEMA: SubDoc = SubDoc(&DocShape {
        keyed_lists: &[KeyedList {
            field: "columns",
            rule: ListRule::Columns,
        }],
        path_prefix: "schema.",
        ..DocShape::plain("schema")
    });
    /// Global variables (`/admin/variables/`): each variable is a whole value.
    pub const VALUES: SubDoc = SubDoc(&DocShape {
        whole_values_at: Some(1),
        ..DocShape::plain("values")
    });

    /// The common sub-documents, in the order plans list a resource's writes.
    const COMMON: [SubDoc; 7] = [
        SubDoc::DEFINITION,
        SubDoc::METADATA,
        SubDoc::PERMISSIONS,
        SubDoc::VARIABLES,
        SubDoc::SETTINGS,
        SubDoc::SCHEMA,
        SubDoc::VALUES,
    ];

    /// A sub-document with the rules `shape` gives.
    pub(crate) const fn new(shape: &'static DocShape) -> SubDoc {
        SubDoc(shape)
    }

    pub(crate) fn as_str(self) -> &'static str {
        self.0.name
    }

    /// Its rules.
    pub(crate) fn shape(self) -> &'static DocShape {
        self.0
    }

    /// The rule of the top-level list `field`, if it is merged item by item.
    pub(crate) fn list_rule(self, field: &str) -> Option<ListRule> {
        self.0
            .keyed_lists
            .iter()
            .find(|l| l.field == field)
            .map(|l| l.rule)
    }

    /// The sub-document written `word` in a plan: a common one or one a kind declares.
    pub(crate) fn parse(word: &str) -> Option<SubDoc> {
        SubDoc::COMMON
            .into_iter()
            .chain(
                super::kind::REGISTRY
                    .iter()
                    .flat_map(|k| k.subdocuments().iter().copied()),
            )
            .find(|s| s.as_str() == word)
    }

    /// Position among the common sub-documents (the others after them, by name).
    fn rank(self) -> usize {
        SubDoc::COMMON
            .iter()
            .position(|s| *s == self)
            .unwrap_or(SubDoc::COMMON.len())
    }
}

impl PartialOrd for SubDoc {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SubDoc {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.rank(), self.as_str()).cmp(&(other.rank(), other.as_str()))
    }
}

impl Serialize for SubDoc {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SubDoc {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let word = String::deserialize(d)?;
        SubDoc::parse(&word).ok_or_else(|| serde::de::Error::custom(format!("unknown sub-document {word:?}")))
    }
}

/// One changed field: a path such as `tags`, `params.path`,
/// `permissions[group=analysts].writeProjectContent`, `schema.columns[2]`.
/// `before`/`after` are `null` for absent values and always `null` for sensitive fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub path: String,
    pub before: Value,
    pub after: Value,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
    /// For a sensitive field whose secret could not be resolved where the plan was made: why
    /// (`DWH_PASSWORD is not set`). Its fingerprint could not be compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unchecked: Option<String>,
    /// Why this change may not converge, said where the plan shows it (a general setting DSS
    /// does not know and drops at every save).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Change {
    pub(crate) fn new(path: impl Into<String>, before: Value, after: Value) -> Self {
        Change {
            path: path.into(),
            before,
            after,
            sensitive: false,
            unchecked: None,
            note: None,
        }
    }

    /// A secret field judged changed by its fingerprint; its values are never recorded.
    pub(crate) fn sensitive(path: impl Into<String>) -> Self {
        Change {
            path: path.into(),
            before: Value::Null,
            after: Value::Null,
            sensitive: true,
            unchecked: None,
            note: None,
        }
    }

    /// A secret field that could not be resolved, so not compared; `reason` names the
    /// variable or the file, never a value.
    pub(crate) fn unchecked(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Change {
            unchecked: Some(reason.into()),
            ..Change::sensitive(path)
        }
    }
}

/// A secret field of a write, by reference. Apply resolves it when (and only when) it sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretField {
    /// Dotted path inside the sub-document (`params.password`, `password`).
    pub path: String,
    pub reference: SecretRef,
    /// Whether the value must be sent (its fingerprint differs from the ledger's, or the
    /// object is created). An unchanged secret is never re-sent: DSS keeps it encrypted.
    pub changed: bool,
    /// Why the secret could not be resolved when the plan was made (`None`: it was). Apply
    /// resolves it again, and refuses before any write when one it must send still cannot be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unchecked: Option<String>,
}

/// A secret the plan could not resolve, so could not compare (the warning of `plan`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UncheckedSecret {
    pub kind: Kind,
    pub name: String,
    /// The field (`params.password`).
    pub path: String,
    /// Why (`DWH_PASSWORD is not set`).
    pub reason: String,
    /// Whether the plan must send it (a creation): apply refuses unless it resolves then.
    pub sent: bool,
}

impl std::fmt::Display for UncheckedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}: {}", self.kind, self.name, self.path, self.reason)
    }
}

/// The part of the declared resources and the ledger a partial plan covers (`--target`,
/// `--exclude`). Written as given on the command line (`Dataset/SALES.orders`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanScope {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excludes: Vec<String>,
    /// How many of the stack's ledger entries are in scope when the plan was made: what the
    /// deletion guard's default limit is computed from (a saved plan has no manifests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_entries: Option<usize>,
}

impl PlanScope {
    /// Whether the plan covers everything.
    pub(crate) fn is_full(&self) -> bool {
        self.targets.is_empty() && self.excludes.is_empty()
    }

    /// `--target A --exclude B`, as the outputs name a partial plan.
    pub(crate) fn describe(&self) -> String {
        self.targets
            .iter()
            .map(|t| format!("--target {t}"))
            .chain(self.excludes.iter().map(|e| format!("--exclude {e}")))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// How a live document was identified when the plan was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct Fingerprint {
    /// `versionTag.versionNumber` when the document carries one.
    #[serde(default, alias = "versionTag", skip_serializing_if = "Option::is_none")]
    pub version_tag: Option<u64>,
    /// SHA-256 (hex) of the live values of the managed fields of this write, normalised
    /// (see [`crate::plan::fingerprint::content_fingerprint`]).
    pub content: String,
}

/// One sub-document to write: the desired managed fields, the secrets, and the fingerprint of
/// the live document it was computed from (`None` on create).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Write {
    pub subdocument: SubDoc,
    /// A JSON merge patch (RFC 7396) of the managed fields, with two list rules applied by
    /// [`crate::plan::overlay::apply_overlay`]: permission grants merge by principal and
    /// schema columns by name, so that attributes not managed survive.
    pub overlay: Value,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretField>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
    /// The changed fields of this sub-document (empty for a create's initial write).
    #[serde(default)]
    pub changes: Vec<Change>,
}

impl Write {
    /// The fingerprint of `live`, a fresh read of this write's document, computed as the plan
    /// computed [`Write::fingerprint`] (over the managed fields only, normalised).
    pub(crate) fn live_fingerprint(&self, live: &Value) -> Fingerprint {
        super::fingerprint::content_fingerprint(
            &super::diff::managed_view(self.subdocument, live, &self.overlay, &self.secrets),
            super::fingerprint::version_number(live),
        )
    }

    /// Whether `live` (a fresh read) is still the document this write was planned against:
    /// same managed values and, where both carry one, the same `versionTag`. A write planned
    /// for a creation (no fingerprint) is current only while the object is absent, which the
    /// caller checks.
    pub(crate) fn is_current(&self, live: &Value) -> bool {
        let Some(planned) = &self.fingerprint else {
            return false;
        };
        let now = self.live_fingerprint(live);
        now.content == planned.content
            && match (planned.version_tag, now.version_tag) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// The ledger entry apply records for a resource after a successful operation (secrets'
/// fingerprints are computed by apply from the values it resolves, never stored in a plan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct LedgerIntent {
    pub protect: bool,
    #[serde(alias = "dropDataOnDelete")]
    pub drop_data_on_delete: bool,
    /// The id DSS generated for the object, for a kind named by its name (a flow zone, a
    /// managed folder), when the plan knows it (a creation learns it from DSS's answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dss_id: Option<String>,
}

/// One planned operation on one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct Operation {
    pub kind: Kind,
    /// `PROJECT.dataset` for datasets.
    pub name: String,
    pub action: Action,
    /// The sub-documents written, in write order.
    pub subdocuments: Vec<SubDoc>,
    /// Every changed field, over all sub-documents and the ledger, in display order.
    pub changes: Vec<Change>,
    /// The writes apply performs (empty for a delete or an adoption without field change).
    pub writes: Vec<Write>,
    /// Every secret field of the resource, written or not: apply records the fingerprint of
    /// each in the ledger (an adoption writes nothing but still records them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretField>,
    /// What the ledger records afterwards (`None` for a delete: the entry is removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger: Option<LedgerIntent>,
    /// For a delete: whether the dataset's data is dropped (from the ledger).
    #[serde(default, alias = "dropData", skip_serializing_if = "std::ops::Not::not")]
    pub drop_data: bool,
    /// Where the resource is declared (absent for a delete), written `file:line:column`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::manifest::kinds::origin_text"
    )]
    pub origin: Option<Origin>,
    /// Fingerprint of the live object, for a delete (absent otherwise: each write has its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
    /// The resource's drift policy (`metadata.annotations`), written as the operation's own
    /// `detect_only` and `keep_on_removal` fields.
    #[serde(flatten)]
    pub policy: OperationPolicy,
}

/// What the `dssctl.io/` annotations of a resource mean for its operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationPolicy {
    /// `dssctl.io/sync: detect-only`: the operation shows how the live object differs from
    /// its manifest; apply and watch never execute it (its `writes` are empty).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub detect_only: bool,
    /// `dssctl.io/prune: "false"`: the ledger records that the resource is forgotten, not
    /// deleted, once it is removed from the manifests.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_on_removal: bool,
}

impl Operation {
    pub fn id(&self) -> ResourceId {
        ResourceId::new(self.kind, self.name.clone())
    }

    /// Whether the project permissions (or a connection's allowed groups) change.
    #[cfg(test)]
    pub(crate) fn has_permission_change(&self) -> bool {
        self.changes
            .iter()
            .any(|c| c.path.starts_with("permissions") || c.path == "owner" || c.path == "allowedGroups")
            || (self.action != Action::Delete && self.subdocuments.contains(&SubDoc::PERMISSIONS))
    }
}

/// An error that prevents planning one resource (the rest of the plan stands, but the CLI
/// exits 1 and apply refuses the plan).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanError {
    pub kind: Kind,
    pub name: String,
    /// `file:line:column` of the manifest, when the resource is declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(origin) = &self.origin {
            write!(f, "{origin}: ")?;
        }
        write!(f, "{} {}: {}", self.kind, self.name, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

/// A resource the ledger lists but the manifests no longer declare, kept because it is
/// protected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectedSkip {
    pub kind: Kind,
    pub name: String,
}

/// Counts of the summary line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub adopt: usize,
    pub unchanged: usize,
    /// Differences of detect-only resources: shown, never written (not counted above).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub detect_only: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct Plan {
    pub format_version: u32,
    /// The DSS URL the plan was made against (no credentials).
    pub target: String,
    pub stack: String,
    pub summary: Summary,
    /// In apply order: creates and updates by kind, then deletes in reverse kind order.
    pub operations: Vec<Operation>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protected: Vec<ProtectedSkip>,
    /// Ledger entries whose resource is neither declared nor live: apply drops them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forget: Vec<ResourceId>,
    /// Ledger entries no longer declared whose resource has `dssctl.io/prune: "false"`:
    /// apply drops them from the ledger and leaves the live object alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub released: Vec<ResourceId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<PlanError>,
    /// The `Build` manifests apply starts after its writes (not operations: never counted,
    /// never in the ledger).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builds: Vec<super::builds::PlannedBuild>,
    /// Origin of each declared resource name (`kind name` → `file:line:column`), kept out of
    /// the output; used by error messages.
    #[serde(skip)]
    pub origins: BTreeMap<ResourceId, Origin>,
    /// Secrets that could not be resolved where the plan was made (see [`UncheckedSecret`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unchecked: Vec<UncheckedSecret>,
    /// The scope of a partial plan (`--target`, `--exclude`); absent for a whole plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<PlanScope>,
}

impl Plan {
    /// Whether applying this plan would write anything (a detect-only difference is shown,
    /// never written).
    pub fn has_changes(&self) -> bool {
        self.operations.iter().any(|o| !o.policy.detect_only)
            || !self.forget.is_empty()
            || !self.released.is_empty()
    }

    /// The operations apply and watch execute: all but the detect-only ones.
    pub(crate) fn writable(&self) -> impl Iterator<Item = &Operation> {
        self.operations.iter().filter(|o| !o.policy.detect_only)
    }

    /// The detect-only differences: shown and reported, never written.
    pub(crate) fn detect_only(&self) -> impl Iterator<Item = &Operation> {
        self.operations.iter().filter(|o| o.policy.detect_only)
    }

    /// This plan without its detect-only operations: what apply writes.
    pub(crate) fn without_detect_only(&self) -> Plan {
        let mut plan = self.clone();
        plan.operations.retain(|o| !o.policy.detect_only);
        plan
    }

    /// Recompute the summary from the operations (`unchanged` is kept).
    pub(crate) fn recount(&mut self) {
        let unchanged = self.summary.unchanged;
        let mut s = Summary {
            unchanged,
            ..Summary::default()
        };
        for op in &self.operations {
            if op.policy.detect_only {
                s.detect_only += 1;
                continue;
            }
            match op.action {
                Action::Create => s.create += 1,
                Action::Update => s.update += 1,
                Action::Delete => s.delete += 1,
                Action::Adopt => s.adopt += 1,
            }
        }
        self.summary = s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_keys_round_trip() {
        let id = ResourceId::in_project(crate::kinds::dataset::ID, "CHURN", "customers");
        assert_eq!(id.ledger_key(), "dataset:CHURN.customers");
        assert_eq!(ResourceId::from_ledger_key(&id.ledger_key()), Some(id.clone()));
        assert_eq!(id.project_parts(), Some(("CHURN", "customers")));
        assert_eq!(ResourceId::from_ledger_key("nonsense"), None);
        assert_eq!(ResourceId::from_ledger_key("build:x"), None);
    }

    #[test]
    fn a_version_1_plan_with_camel_case_keys_still_reads() {
        let v1 = r#"{"format_version": 1, "target": "http://dss", "stack": "default",
            "summary": {"create": 0, "update": 0, "delete": 1, "adopt": 0, "unchanged": 0},
            "operations": [
              {"kind": "dataset", "name": "P.d", "action": "delete", "subdocuments": [],
               "changes": [], "writes": [], "dropData": true,
               "fingerprint": {"versionTag": 3, "content": "abc"}},
              {"kind": "group", "name": "g", "action": "create", "subdocuments": ["definition"],
               "changes": [], "writes": [], "ledger": {"protect": true, "dropDataOnDelete": false},
               "origin": "stack/a:b.yaml:4:1"}
            ]}"#;
        let plan: Plan = serde_json::from_str(v1).unwrap();
        assert!(plan.format_version >= OLDEST_FORMAT_VERSION);
        let delete = &plan.operations[0];
        assert!(delete.drop_data);
        assert_eq!(delete.fingerprint.as_ref().unwrap().version_tag, Some(3));
        let create = &plan.operations[1];
        assert!(create.ledger.as_ref().unwrap().protect);
        let origin = create.origin.as_ref().unwrap();
        assert_eq!((origin.file.to_str(), origin.line), (Some("stack/a:b.yaml"), 4));
        // Written back in the current form: snake_case, the current version.
        let mut plan = plan;
        plan.format_version = FORMAT_VERSION;
        let text = serde_json::to_string(&plan).unwrap();
        assert!(
            text.contains("\"drop_data\":true") && text.contains("\"version_tag\":3"),
            "{text}"
        );
        assert!(text.contains("\"drop_data_on_delete\":false"), "{text}");
        assert!(
            !text.contains("dropData") && !text.contains("versionTag"),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Plan>(&text).unwrap(), plan);
    }

    #[test]
    fn kinds_order_follows_dependencies() {
        let mut kinds = vec![
            crate::kinds::variables::ID,
            crate::kinds::dataset::ID,
            crate::kinds::group::ID,
            crate::kinds::project::ID,
        ];
        kinds.sort_by_key(|k| k.apply_rank());
        assert_eq!(
            kinds,
            vec![
                crate::kinds::group::ID,
                crate::kinds::project::ID,
                crate::kinds::dataset::ID,
                crate::kinds::variables::ID
            ]
        );
    }
}
