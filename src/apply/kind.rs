//! What apply needs from a kind: [`KindApply`] (its create, GET, PUT and DELETE calls, the
//! order of its writes, its write-only fields), and apply's registry of kinds. The apply stage
//! owns this extension point so that it never imports `crate::kinds`; the kind modules
//! implement it.

use futures::future::BoxFuture;
use serde_json::Value;

use super::docs::ApplyDocError;
use crate::client::{ClientError, DssClient};
use crate::manifest::registry::{KindId, StageKinds};
use crate::plan::kind::KindPlan;
use crate::plan::{Operation, ResourceId, SubDoc, Write};

/// The kinds as apply sees them, each registered by `crate::kinds::register!`.
#[linkme::distributed_slice]
#[allow(
    unsafe_code,
    reason = "linkme places the slice in a link section; nothing else is unsafe"
)]
pub(crate) static APPLY_KINDS: [&'static dyn KindApply];

/// [`APPLY_KINDS`] in the manifest's order.
pub(crate) static REGISTRY: StageKinds<dyn KindApply> = StageKinds::new(&APPLY_KINDS);

/// The kind module a [`KindId`] names, as apply sees it.
pub(crate) trait ApplyDef {
    fn def(self) -> Option<&'static dyn KindApply>;
}

impl ApplyDef for KindId {
    fn def(self) -> Option<&'static dyn KindApply> {
        REGISTRY.by_id(self)
    }
}

/// What a kind tells apply, beyond what it tells the planner ([`KindPlan`]). Every method has
/// a default that fits a kind without that concern.
pub(crate) trait KindApply: KindPlan {
    /// A fresh GET of the main document of the live object `name` (its ledger name), which
    /// apply uses to see whether it exists and to fingerprint it before a deletion; `None` for
    /// a kind without one (the global variables: always there, never deleted).
    fn get_main<'a>(
        &self,
        client: &'a DssClient,
        name: &'a str,
    ) -> Option<BoxFuture<'a, Result<Value, ClientError>>> {
        let _ = (client, name);
        None
    }

    /// The fields its create call takes (the rest of the definition is written by an update
    /// right after).
    fn create_fields(&self) -> &'static [&'static str] {
        &[]
    }

    /// Where its create call's body starts: the sub-document whose overlay (secrets resolved)
    /// fills it, and the identity fields of the object `name`.
    fn create_seed(&self, name: &str) -> (SubDoc, Value) {
        (SubDoc::DEFINITION, serde_json::json!({ "name": name }))
    }

    /// The create call's body from `doc` (the seed with its overlay, only the
    /// [`Self::create_fields`]); a kind whose create call takes another document reshapes it
    /// from `op`'s overlays.
    fn create_body(&self, _op: &Operation, doc: Value) -> Value {
        doc
    }

    /// The sub-documents, besides the seed's, that its create call carries whole: each is
    /// built from its overlay on an empty document (a metadata document with the stack's
    /// stamp) and folded into the body by [`Self::fold_into_create`], and is not written again
    /// after the creation. One POST instead of a POST and a GET and PUT per sub-document.
    fn create_carries(&self) -> &'static [SubDoc] {
        &[]
    }

    /// Fold `doc`, the sub-document `sub` (one of [`Self::create_carries`]), into the create
    /// call's `body`.
    fn fold_into_create(&self, _sub: SubDoc, _doc: Value, _body: &mut Value) {}

    /// The POST that creates the object `name` from `body`; `what` names it in a shape error.
    /// `None` for a kind that is never created (the global variables are always there).
    fn create<'a>(
        &self,
        client: &'a DssClient,
        _name: &'a str,
        body: &'a Value,
        what: &'a str,
    ) -> Option<BoxFuture<'a, Result<(), ApplyDocError>>> {
        let _ = (client, body, what);
        None
    }

    /// [`Self::create`], answering the id DSS generated for the new object, for a kind whose
    /// objects have one (a flow zone, a managed folder: the ledger records it); `None` as the
    /// answer otherwise.
    fn create_with_id<'a>(
        &self,
        client: &'a DssClient,
        name: &'a str,
        body: &'a Value,
        what: &'a str,
    ) -> Option<BoxFuture<'a, Result<Option<String>, ApplyDocError>>> {
        let post = self.create(client, name, body, what)?;
        Some(Box::pin(async move { post.await.map(|()| None) }))
    }

    /// `op`'s writes with the names that only apply can turn into DSS ids resolved, or `None`
    /// when they are sent as planned. A recipe names a managed folder that the same run may
    /// create, and DSS refers to a folder by the id it generates on creation: the plan keeps
    /// the name, apply asks DSS for the id just before the recipe's writes (which
    /// [`Self::write_references`] orders after the folder's creation).
    fn resolve_writes<'a>(
        &self,
        _client: &'a DssClient,
        _op: &'a Operation,
    ) -> Option<BoxFuture<'a, Result<Vec<Write>, ClientError>>> {
        None
    }

    /// The sub-document `sub` as DSS holds it right after the create call, when that is
    /// known exactly (nothing in it depends on the instance or on the call): the write that
    /// follows a creation starts from it instead of a GET. `None`: read it.
    fn created_document(&self, sub: SubDoc) -> Option<Value> {
        let _ = sub;
        None
    }

    /// Whether its metadata carries the stack's stamp (`custom.kv."dssctl.stack"`), written at
    /// creation and adoption.
    fn stamped(&self) -> bool {
        false
    }

    /// The resources a create or update of this kind refers to in what it writes (`op`'s
    /// overlays), which apply creates first. Fields a write does not carry are unchanged, so
    /// their targets already exist.
    fn write_references(&self, _op: &Operation, _out: &mut Vec<ResourceId>) {}

    /// Whether apply exports the object to a backup before deleting it (a project).
    fn backup_before_delete(&self) -> bool {
        false
    }

    /// The DELETE of the live object `name` (its ledger name), dropping its data when
    /// `drop_data` (for a kind that [`Self::drops_data`]); `None` for a kind never deleted.
    fn delete<'a>(
        &self,
        client: &'a DssClient,
        name: &'a str,
        _drop_data: bool,
    ) -> Option<BoxFuture<'a, Result<(), ClientError>>> {
        let _ = (client, name);
        None
    }

    /// Whether `sub` is a sub-document of its object `name`: `Some(true)` when apply GETs and
    /// PUTs it on its own ([`Self::get_document`], [`Self::put_document`]), `Some(false)` when
    /// it is written another way (the global variables, through the ledger writer), `None`
    /// when there is no such sub-document.
    fn sub_document(&self, _name: &str, sub: SubDoc) -> Option<bool> {
        let _ = sub;
        None
    }

    /// The GET of sub-document `sub` of the live object `name`, as JSON; `None` when
    /// [`Self::sub_document`] does not address it.
    fn get_document<'a>(
        &self,
        client: &'a DssClient,
        name: &'a str,
        sub: SubDoc,
    ) -> Option<BoxFuture<'a, Result<Value, ClientError>>> {
        let _ = (client, name, sub);
        None
    }

    /// The PUT of `doc` (a GET result with an overlay applied) as sub-document `sub` of `name`;
    /// `what` names the document in a shape error. `None` when not addressed.
    fn put_document<'a>(
        &self,
        client: &'a DssClient,
        name: &'a str,
        sub: SubDoc,
        doc: Value,
        what: String,
    ) -> Option<BoxFuture<'a, Result<(), ApplyDocError>>> {
        let _ = (client, name, sub, doc, what);
        None
    }

    /// [`Self::put_document`], and what the write did beyond the PUT, for the apply report (a
    /// package installation's outcome). By default the PUT alone, with nothing to report.
    fn put_document_with_notes<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        sub: SubDoc,
        doc: Value,
        what: String,
    ) -> Option<BoxFuture<'a, Result<Vec<String>, ApplyDocError>>> {
        let put = self.put_document(c, name, sub, doc, what)?;
        Some(Box::pin(async move { put.await.map(|()| Vec::new()) }))
    }

    /// How messages name sub-document `sub` of `name` (`the schema of dataset P.d`).
    fn describe_document(&self, name: &str, sub: SubDoc) -> String {
        format!("the {} of {} {name}", sub.as_str(), self.id())
    }

    /// Fields DSS never returns (a password): apply and the stale check compare them as
    /// `"(set)"` on both sides, as the planner does.
    fn write_only_fields(&self) -> &'static [&'static str] {
        &[]
    }

    /// Whether its document is the global variables, which also hold the stacks' ledgers: apply
    /// writes it through the ledger writer, and it always exists.
    fn in_global_variables(&self) -> bool {
        false
    }

    /// Whether a create or update of this kind waits for every other create and update (the
    /// global variables, which also hold the ledger, are written last).
    fn writes_last(&self) -> bool {
        false
    }
}
