//! The kinds whose live object is one definition document: listed whole by one admin list,
//! read and written by name as a whole, created by a POST of the document and deleted by name
//! (users, groups, connections). Their reads, sub-document calls, creation and deletion are
//! written once here: such a kind implements [`Definition`] for its wire type and returns
//! [`Definitions`] of it from [`super::Kind::definition`] and expands [`plan_calls`],
//! [`observe_calls`] and [`apply_calls`] in its stage impls, which do the rest.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::marker::PhantomData;

use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{KindId, KindRead};
use crate::apply::docs::{ApplyDocError, json as doc_json, typed};
use crate::client::{ClientError, DssClient};
use crate::observe::{ObserveError, reading};
use crate::plan::Observed;

/// The wire type of a definition document, and its calls.
pub(crate) trait Definition:
    Serialize + DeserializeOwned + Clone + Debug + PartialEq + Send + Sync + 'static
{
    /// How messages name the list (`group list`).
    const LIST: &'static str;

    /// The object's name in the list (a login, a group name).
    fn key(&self) -> &str;

    /// The path of the list (what observing reads).
    fn list_path() -> crate::client::ApiPath;

    /// The whole list, keyed by name.
    fn list(c: &DssClient) -> impl Future<Output = Result<BTreeMap<String, Self>, ClientError>> + Send;

    fn get<'a>(
        c: &'a DssClient,
        name: &'a str,
    ) -> impl Future<Output = Result<Self, ClientError>> + Send + 'a;

    /// The PUT of the whole document.
    fn update<'a>(
        c: &'a DssClient,
        name: &'a str,
        doc: &'a Self,
    ) -> impl Future<Output = Result<(), ClientError>> + Send + 'a;

    /// The POST that creates it.
    fn create<'a>(
        c: &'a DssClient,
        doc: &'a Self,
    ) -> impl Future<Output = Result<(), ClientError>> + Send + 'a;

    fn delete<'a>(
        c: &'a DssClient,
        name: &'a str,
    ) -> impl Future<Output = Result<(), ClientError>> + Send + 'a;
}

/// A list as the observed state keeps it: by name.
pub(crate) fn keyed<D: Definition>(items: Vec<D>) -> BTreeMap<String, D> {
    items.into_iter().map(|x| (x.key().to_string(), x)).collect()
}

/// The calls of a definition kind, as the `Kind` trait's defaults use them (object-safe:
/// documents as JSON).
pub(crate) trait DefinitionCalls: Sync + Send {
    /// The list, keyed by name.
    fn observe<'a>(&'a self, client: &'a DssClient) -> BoxFuture<'a, Result<KindRead, ObserveError>>;

    /// The path of the list `observe` reads.
    fn list_path(&self) -> crate::client::ApiPath;

    /// Whether `name` is in the list `kind` read; `None` when it was not read.
    fn live_contains(&self, observed: &Observed, kind: KindId, name: &str) -> Option<bool>;

    /// The live document `name` of the list `kind` read: `Err` when the list was not read.
    fn live_document(
        &self,
        observed: &Observed,
        kind: KindId,
        name: &str,
    ) -> Result<Option<Value>, &'static str>;

    fn get<'a>(&self, c: &'a DssClient, name: &'a str) -> BoxFuture<'a, Result<Value, ClientError>>;

    fn put<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        doc: Value,
        what: String,
    ) -> BoxFuture<'a, Result<(), ApplyDocError>>;

    fn create<'a>(
        &self,
        c: &'a DssClient,
        body: &'a Value,
        what: &'a str,
    ) -> BoxFuture<'a, Result<(), ApplyDocError>>;

    fn delete<'a>(&self, c: &'a DssClient, name: &'a str) -> BoxFuture<'a, Result<(), ClientError>>;
}

/// [`DefinitionCalls`] of the wire type `D`.
pub(crate) struct Definitions<D>(PhantomData<fn() -> D>);

impl<D> Definitions<D> {
    pub(crate) const NEW: Definitions<D> = Definitions(PhantomData);
}

impl<D: Definition> DefinitionCalls for Definitions<D> {
    fn observe<'a>(&'a self, client: &'a DssClient) -> BoxFuture<'a, Result<KindRead, ObserveError>> {
        Box::pin(async move {
            let list = D::list(client)
                .await
                .map_err(reading(format!("the {}", D::LIST)))?;
            Ok(KindRead::list(list))
        })
    }

    fn list_path(&self) -> crate::client::ApiPath {
        D::list_path()
    }

    fn live_contains(&self, observed: &Observed, kind: KindId, name: &str) -> Option<bool> {
        let list: &BTreeMap<String, D> = observed.kinds.get(kind)?;
        Some(list.contains_key(name))
    }

    fn live_document(
        &self,
        observed: &Observed,
        kind: KindId,
        name: &str,
    ) -> Result<Option<Value>, &'static str> {
        let list: &BTreeMap<String, D> = observed.kinds.get(kind).ok_or(D::LIST)?;
        Ok(list.get(name).map(doc_json))
    }

    fn get<'a>(&self, c: &'a DssClient, name: &'a str) -> BoxFuture<'a, Result<Value, ClientError>> {
        Box::pin(async move { D::get(c, name).await.map(doc_json) })
    }

    fn put<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        doc: Value,
        what: String,
    ) -> BoxFuture<'a, Result<(), ApplyDocError>> {
        Box::pin(async move {
            let doc: D = typed(doc, &what)?;
            D::update(c, name, &doc).await?;
            Ok(())
        })
    }

    fn create<'a>(
        &self,
        c: &'a DssClient,
        body: &'a Value,
        what: &'a str,
    ) -> BoxFuture<'a, Result<(), ApplyDocError>> {
        Box::pin(async move {
            let doc: D = typed(body.clone(), &what)?;
            D::create(c, &doc).await?;
            Ok(())
        })
    }

    fn delete<'a>(&self, c: &'a DssClient, name: &'a str) -> BoxFuture<'a, Result<(), ClientError>> {
        Box::pin(D::delete(c, name))
    }
}

/// The planner's methods of a definition kind (users, groups, connections), over its
/// [`DefinitionCalls`] (`Kind::definition`): its list is read for what the ledger lists and for
/// what is referred to, and answers whether a name exists and what its live document is.
/// Expanded inside the kind's `impl KindPlan`.
macro_rules! plan_calls {
    () => {
        fn need_live(&self, _name: &str, reads: &mut crate::plan::scope::ReadPlan) {
            reads.mark(self.id());
        }

        fn need_referenced(&self, _name: &str, reads: &mut crate::plan::scope::ReadPlan) {
            reads.mark(self.id());
        }

        fn live_exists(&self, observed: &crate::plan::Observed, name: &str) -> Option<bool> {
            crate::kinds::Kind::definition(self)?.live_contains(observed, self.id(), name)
        }

        fn live_document(
            &self,
            observed: &crate::plan::Observed,
            name: &str,
        ) -> Result<Option<serde_json::Value>, &'static str> {
            match crate::kinds::Kind::definition(self) {
                Some(calls) => calls.live_document(observed, self.id(), name),
                None => Ok(None),
            }
        }
    };
}
pub(crate) use plan_calls;

/// Observation of a definition kind: its list, when the plan marked it for reading. Expanded
/// inside the kind's `impl KindObserve`.
macro_rules! observe_calls {
    () => {
        fn observe<'a>(
            &'a self,
            client: &'a crate::client::DssClient,
            reads: &'a crate::plan::scope::ReadPlan,
            _parallelism: usize,
        ) -> Option<
            futures::future::BoxFuture<'a, Result<crate::observe::KindRead, crate::observe::ObserveError>>,
        > {
            let calls = crate::kinds::Kind::definition(self)?;
            reads.marked(self.id()).then(|| calls.observe(client))
        }

        fn likely_reads(&self, _name: &str) -> Vec<crate::client::ApiPath> {
            crate::kinds::Kind::definition(self)
                .map(|calls| calls.list_path())
                .into_iter()
                .collect()
        }
    };
}
pub(crate) use observe_calls;

/// Apply's calls of a definition kind: GET, POST, PUT and DELETE of its one definition
/// document by name. Expanded inside the kind's `impl KindApply`.
macro_rules! apply_calls {
    () => {
        fn get_main<'a>(
            &self,
            client: &'a crate::client::DssClient,
            name: &'a str,
        ) -> Option<futures::future::BoxFuture<'a, Result<serde_json::Value, crate::client::ClientError>>> {
            Some(crate::kinds::Kind::definition(self)?.get(client, name))
        }

        fn create<'a>(
            &self,
            client: &'a crate::client::DssClient,
            _name: &'a str,
            body: &'a serde_json::Value,
            what: &'a str,
        ) -> Option<futures::future::BoxFuture<'a, Result<(), crate::apply::docs::ApplyDocError>>> {
            Some(crate::kinds::Kind::definition(self)?.create(client, body, what))
        }

        fn delete<'a>(
            &self,
            client: &'a crate::client::DssClient,
            name: &'a str,
            _drop_data: bool,
        ) -> Option<futures::future::BoxFuture<'a, Result<(), crate::client::ClientError>>> {
            Some(crate::kinds::Kind::definition(self)?.delete(client, name))
        }

        fn sub_document(&self, _name: &str, sub: crate::plan::SubDoc) -> Option<bool> {
            (sub == crate::plan::SubDoc::DEFINITION).then_some(true)
        }

        fn get_document<'a>(
            &self,
            client: &'a crate::client::DssClient,
            name: &'a str,
            sub: crate::plan::SubDoc,
        ) -> Option<futures::future::BoxFuture<'a, Result<serde_json::Value, crate::client::ClientError>>> {
            let calls =
                crate::kinds::Kind::definition(self).filter(|_| sub == crate::plan::SubDoc::DEFINITION)?;
            Some(calls.get(client, name))
        }

        fn put_document<'a>(
            &self,
            client: &'a crate::client::DssClient,
            name: &'a str,
            sub: crate::plan::SubDoc,
            doc: serde_json::Value,
            what: String,
        ) -> Option<futures::future::BoxFuture<'a, Result<(), crate::apply::docs::ApplyDocError>>> {
            let calls =
                crate::kinds::Kind::definition(self).filter(|_| sub == crate::plan::SubDoc::DEFINITION)?;
            Some(calls.put(client, name, doc, what))
        }

        fn describe_document(&self, name: &str, _sub: crate::plan::SubDoc) -> String {
            format!("{} {name}", self.id())
        }
    };
}
pub(crate) use apply_calls;
