//! The kinds whose live object is one definition document: listed whole by one admin list,
//! read and written by name as a whole, created by a POST of the document and deleted by name
//! (users, groups, connections). Their reads, sub-document calls, creation and deletion are
//! written once here: such a kind implements [`Definition`] for its wire type and returns
//! [`Definitions`] of it from [`super::Kind::definition`]; the `Kind` trait's defaults do the
//! rest.

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
pub trait Definition:
    Serialize + DeserializeOwned + Clone + Debug + PartialEq + Send + Sync + 'static
{
    /// How messages name the list (`group list`).
    const LIST: &'static str;

    /// The object's name in the list (a login, a group name).
    fn key(&self) -> &str;

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
pub fn keyed<D: Definition>(items: Vec<D>) -> BTreeMap<String, D> {
    items.into_iter().map(|x| (x.key().to_string(), x)).collect()
}

/// The calls of a definition kind, as the `Kind` trait's defaults use them (object-safe:
/// documents as JSON).
pub trait DefinitionCalls: Sync + Send {
    /// The list, keyed by name.
    fn observe<'a>(&'a self, client: &'a DssClient) -> BoxFuture<'a, Result<KindRead, ObserveError>>;

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
pub struct Definitions<D>(PhantomData<fn() -> D>);

impl<D> Definitions<D> {
    pub const NEW: Definitions<D> = Definitions(PhantomData);
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
