//! What the kinds observed as one list, then one detail document per managed object, share:
//! code envs (the env list, then each managed env's definition) and plugins (the plugin list,
//! then each managed plugin's settings). Written once here: the observed map, the planned
//! reads, the read with its request budget, the existence and fingerprint lookups the planner
//! makes, and finding one object in the list for apply.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use futures::{StreamExt, TryStreamExt, stream};
use serde_json::Value;

use super::{KindId, KindRead};
use crate::client::ClientError;
use crate::observe::ObserveError;
use crate::plan::scope::ReadPlan;
use crate::plan::{Observed, ResourceId};

/// What a detail document may be: anything an observed part may hold.
pub(crate) trait Detail: std::any::Any + std::fmt::Debug + Clone + PartialEq + Send + Sync {}

impl<T: std::any::Any + std::fmt::Debug + Clone + PartialEq + Send + Sync> Detail for T {}

/// One listed object: its list item and, when read, its detail document.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Listed<D> {
    pub summary: Value,
    pub detail: Option<D>,
}

/// The listed objects as observed, keyed by name.
pub(crate) type LiveMap<D> = BTreeMap<String, Listed<D>>;

/// The names of the objects whose detail observation reads (the managed ones).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Details {
    pub names: BTreeSet<String>,
}

/// The planned detail reads of `kind` (absent: its list is not read at all).
pub(crate) fn details(reads: &ReadPlan, kind: KindId) -> Option<&Details> {
    reads.kinds.get(kind)
}

/// The planned detail reads of `kind`, to add to (the list is read from then on).
pub(crate) fn details_mut(reads: &mut ReadPlan, kind: KindId) -> &mut Details {
    reads.kinds.entry(kind)
}

/// The requests of the read: the list, then one detail per managed object that exists.
pub(crate) fn budget(kind: KindId, reads: &ReadPlan, live: &BTreeSet<ResourceId>) -> usize {
    let Some(planned) = details(reads, kind) else {
        return 0;
    };
    1 + planned
        .names
        .iter()
        .filter(|n| live.contains(&ResourceId::new(kind, n.as_str())))
        .count()
}

/// Whether `name` is in the observed list of `kind` (`None`: the list was not read).
pub(crate) fn exists<D: Detail>(observed: &Observed, kind: KindId, name: &str) -> Option<bool> {
    observed
        .kinds
        .get::<LiveMap<D>>(kind)
        .map(|m| m.contains_key(name))
}

/// The document the planner fingerprints for a deletion: `view` of the observed object
/// (`Err(list)`: the list was not read).
pub(crate) fn document<D: Detail>(
    observed: &Observed,
    kind: KindId,
    name: &str,
    list: &'static str,
    view: impl Fn(&Listed<D>) -> Value,
) -> Result<Option<Value>, &'static str> {
    let objects = observed.kinds.get::<LiveMap<D>>(kind).ok_or(list)?;
    Ok(objects.get(name).map(view))
}

/// The item of `items` whose `key` field is `name`; DSS's not-found error otherwise, with
/// `path` the list's and `missing` what to say.
pub(crate) fn find(
    items: Vec<Value>,
    key: &str,
    name: &str,
    path: &str,
    missing: String,
) -> Result<Value, ClientError> {
    items
        .into_iter()
        .find(|i| i.get(key).and_then(Value::as_str) == Some(name))
        .ok_or_else(|| ClientError::NotFound {
            method: "GET".into(),
            path: path.into(),
            status: 404,
            error_type: String::new(),
            message: missing,
        })
}

/// The observed part of `kind` from its list `items` (keyed by their `key` field; the first
/// of two items with one name wins), with the `detail` of every item `wanted` selects read
/// `parallelism` at a time. The objects whose detail was read are the managed ones that exist.
pub(crate) async fn read<D, F, Fut>(
    kind: KindId,
    items: Vec<Value>,
    key: &str,
    wanted: &(dyn Fn(&str, &Value) -> bool + Sync),
    parallelism: usize,
    detail: F,
) -> Result<KindRead, ObserveError>
where
    D: Detail,
    F: Fn(String, Value) -> Fut,
    Fut: Future<Output = Result<D, ObserveError>>,
{
    let mut objects: LiveMap<D> = BTreeMap::new();
    for item in items {
        if let Some(name) = item.get(key).and_then(Value::as_str) {
            objects.entry(name.to_string()).or_insert(Listed {
                summary: item.clone(),
                detail: None,
            });
        }
    }
    let selected: Vec<(String, Value)> = objects
        .iter()
        .filter(|(name, o)| wanted(name, &o.summary))
        .map(|(name, o)| (name.clone(), o.summary.clone()))
        .collect();
    let read: Vec<(String, D)> = stream::iter(selected)
        .map(|(name, summary)| {
            let reading = detail(name.clone(), summary);
            async move { Ok::<_, ObserveError>((name, reading.await?)) }
        })
        .buffer_unordered(parallelism.max(1))
        .try_collect()
        .await?;
    let mut live = Vec::new();
    for (name, d) in read {
        live.push(ResourceId::new(kind, name.as_str()));
        if let Some(o) = objects.get_mut(&name) {
            o.detail = Some(d);
        }
    }
    Ok(KindRead {
        part: Box::new(objects),
        live,
        conditional_reads: 0,
        later: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_item_is_found_by_its_key_or_not_found() {
        let items = vec![json!({"id": "a"}), json!({"id": "b", "v": 1})];
        assert_eq!(
            find(items.clone(), "id", "b", "/plugins/", "absent".into()).unwrap()["v"],
            1
        );
        let err = find(items, "id", "c", "/plugins/", "plugin c is not installed".into()).unwrap_err();
        assert!(
            matches!(err, ClientError::NotFound { status: 404, .. }),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn the_details_of_the_wanted_items_are_read_and_counted() {
        const KIND: KindId = KindId("plugin");
        let items = vec![
            json!({"id": "a"}),
            json!({"id": "b"}),
            json!({"id": "a", "dup": true}),
        ];
        let read = read(
            KIND,
            items,
            "id",
            &|name, _| name == "a",
            2,
            |name, _| async move { Ok::<_, ObserveError>(format!("detail of {name}")) },
        )
        .await
        .unwrap();
        assert_eq!(read.live, vec![ResourceId::new(KIND, "a")]);
        let part = read.part.as_any().downcast_ref::<LiveMap<String>>().unwrap();
        assert_eq!(part["a"].detail.as_deref(), Some("detail of a"));
        assert_eq!(part["a"].summary, json!({"id": "a"}));
        assert_eq!(part["b"].detail, None);

        let mut reads = ReadPlan::default();
        details_mut(&mut reads, KIND).names.insert("a".into());
        details_mut(&mut reads, KIND).names.insert("gone".into());
        let live: BTreeSet<ResourceId> = read.live.into_iter().collect();
        assert_eq!(budget(KIND, &reads, &live), 2);
    }
}
