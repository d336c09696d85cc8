//! What the planner needs from a kind: [`KindPlan`] (identity of a declared resource, its
//! planning, what observation must read for it, how its live objects are looked up, deleted
//! or contained), and the planner's registry of kinds. The plan stage owns this extension
//! point so that it never imports `crate::kinds`; the kind modules implement it.

use std::collections::BTreeSet;

use serde_json::Value;

use super::planner::Planner;
use super::scope::{Needs, ReadPlan};
use super::{Observed, ResourceId, SubDoc};
use crate::manifest::kinds::{Declared, ObjectMeta, Resource};
use crate::manifest::registry::{KindId, KindSpec, StageKinds};

/// The kinds as the planner sees them, each registered by `crate::kinds::register!`.
#[linkme::distributed_slice]
#[allow(
    unsafe_code,
    reason = "linkme places the slice in a link section; nothing else is unsafe"
)]
pub(crate) static PLAN_KINDS: [&'static dyn KindPlan];

/// [`PLAN_KINDS`] in the manifest's order.
pub(crate) static REGISTRY: StageKinds<dyn KindPlan> = StageKinds::new(&PLAN_KINDS);

/// The kind module a [`KindId`] names, as the planner sees it.
pub(crate) trait PlanDef {
    fn def(self) -> Option<&'static dyn KindPlan>;
}

impl PlanDef for KindId {
    fn def(self) -> Option<&'static dyn KindPlan> {
        REGISTRY.by_id(self)
    }
}

/// The planner's view of a loaded resource's kind.
pub(crate) fn of(resource: &Resource) -> &'static dyn KindPlan {
    REGISTRY
        .by_id(resource.kind_id())
        .expect("every loaded resource's kind is registered")
}

/// What a kind tells the planner, beyond what it tells the loader ([`KindSpec`]). Every method
/// has a default that fits a kind without that concern.
pub(crate) trait KindPlan: KindSpec {
    /// The identity of a declared resource of this kind (`None` for a kind that is not a
    /// resource): its name, or `PROJECT.name` for a kind that belongs to a project.
    fn resource_id(&self, meta: &ObjectMeta) -> Option<ResourceId> {
        if !self.is_resource() {
            return None;
        }
        Some(match (self.in_project(), &meta.project) {
            (true, Some(project)) => ResourceId::new(self.id(), format!("{project}.{}", meta.name)),
            (true, None) => ResourceId::new(self.id(), format!(".{}", meta.name)),
            (false, _) => ResourceId::new(self.id(), &meta.name),
        })
    }

    /// Plan one declared resource of this kind: compare its managed fields with the observed
    /// state and hand the planner its writes ([`Planner::finish`]) or its errors.
    fn plan(&self, _planner: &mut Planner<'_>, _declared: &Declared) {}

    /// What observation must read for a declared resource of this kind (the lists and
    /// sub-documents its planning compares, and the names it refers to). Nothing by default.
    fn add_reads(&self, _resource: &Resource, _needs: &mut Needs<'_>) {}

    /// What observation must read for a resource of this kind the ledger lists as `name` (to
    /// delete or forget it). Nothing by default.
    fn need_live(&self, _name: &str, _reads: &mut ReadPlan) {}

    /// What observation must read to check that `name`, referred to and not declared, exists.
    /// Nothing by default.
    fn need_referenced(&self, _name: &str, _reads: &mut ReadPlan) {}

    /// How many requests [`Self::observe`] makes for `reads`, beyond those that depend on
    /// what the instance answers, given the managed resources that exist (`live`). By
    /// default one list read when the kind was marked for reading (as the admin lists of
    /// users, groups and connections are), none otherwise.
    fn read_budget(&self, reads: &ReadPlan, _live: &BTreeSet<ResourceId>) -> usize {
        usize::from(reads.marked(self.id()))
    }

    /// Whether `name` exists on the instance, for a reference to it that the manifests do not
    /// declare: `None` when unknown (not read, or a kind nothing refers to).
    fn live_exists(&self, observed: &Observed, name: &str) -> Option<bool> {
        let _ = (observed, name);
        None
    }

    /// How a review names the creation of one of these when it is a risk in itself (a new
    /// principal, new access to data): `Some("user(s)")`; `None` when creating one is not.
    fn risky_creation(&self) -> Option<&'static str> {
        None
    }

    /// Whether a changed field of this kind gives or takes away access, beyond the fields every
    /// kind shares (grants, owner, allowed groups; see `render::markdown`).
    fn is_access_path(&self, _path: &str) -> bool {
        false
    }

    /// Whether a resource the ledger lists but the manifests no longer declare is deleted
    /// (false: it is only forgotten, as the global variables are).
    fn deletable(&self) -> bool {
        true
    }

    /// Whether deleting it may drop data, as the ledger's `dropDataOnDelete` says.
    fn drops_data(&self) -> bool {
        false
    }

    /// Whether planning a resource of this kind reads the projects' own documents (metadata,
    /// permissions, variables, folder), which observation completes last. A kind that does not
    /// (a dataset reads its project's dataset list) is planned while they are read
    /// ([`crate::plan::plan_early`]); a kind that says `false` must not read them.
    fn reads_project_documents(&self) -> bool {
        true
    }

    /// The live object named `name` (its ledger name) as the planner fingerprints it before a
    /// deletion: `Ok(None)` when absent, `Err(what)` when `what` was not read.
    fn live_document(&self, observed: &Observed, name: &str) -> Result<Option<Value>, &'static str> {
        let _ = (observed, name);
        Ok(None)
    }

    /// The part of a live main document that identifies its state for the fingerprint of a
    /// deletion ([`crate::plan::fingerprint::live_object_fingerprint`]); by default all of it.
    /// A kind whose observation keeps only part of what DSS answers keeps the same part here,
    /// so that the plan and the staleness check of a saved plan agree.
    fn fingerprint_view(&self, _doc: &mut Value) {}

    /// The sub-documents of its own (beyond [`SubDoc`]'s common ones) that its writes name,
    /// so that a saved plan naming them is read back.
    fn subdocuments(&self) -> &'static [SubDoc] {
        &[]
    }

    /// The kind whose objects contain this kind's (`project` for a dataset): deleting a
    /// container waits for the deletion of its own contents only (`PROJECT.name`).
    fn contained_in(&self) -> Option<KindId> {
        None
    }

    /// The name of the container of the object `name`, for [`Self::contained_in`]: the
    /// project of `PROJECT.name` by default.
    fn container_of<'n>(&self, name: &'n str) -> Option<&'n str> {
        name.split_once('.').map(|(container, _)| container)
    }
}
