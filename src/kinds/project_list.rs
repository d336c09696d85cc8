//! The kinds whose live objects are read as one list per project: recipes and scenarios (an
//! object by its name or id; no list for a project that does not exist), flow zones and
//! managed folders (found by name in the list, since DSS generates their ids). The concurrent
//! read of the planned projects and the answers of [`crate::plan::kind::KindPlan::live_exists`] and
//! [`crate::plan::kind::KindPlan::live_document`] over the per-project map are written once here, in the
//! spirit of `definition.rs`: each kind says what it reads in one project and how it finds an
//! object in what it read ([`ProjectObjects`]).

use std::collections::BTreeMap;
use std::future::Future;

use futures::{StreamExt, TryStreamExt, stream};
use serde_json::Value;

use super::{KindId, KindRead};
use crate::client::ClientError;
use crate::observe::ObserveError;
use crate::plan::observed::Part;
use crate::plan::{Observed, ResourceId};

/// One project's observed objects of a kind.
pub(crate) trait ProjectObjects {
    /// The live object named `name` as the planner fingerprints it for a deletion (its list
    /// item), if there is one.
    fn document(&self, name: &str) -> Option<Value>;

    /// Whether an object named `name` exists (a reference to it is satisfied).
    fn contains(&self, name: &str) -> bool {
        self.document(name).is_some()
    }
}

/// A project that does not exist has no objects.
impl<T: ProjectObjects> ProjectObjects for Option<T> {
    fn document(&self, name: &str) -> Option<Value> {
        self.as_ref()?.document(name)
    }

    fn contains(&self, name: &str) -> bool {
        self.as_ref().is_some_and(|p| p.contains(name))
    }
}

/// A kind's observed state: each read project's objects, by project key.
pub(crate) type ByProject<P> = BTreeMap<String, P>;

/// [`crate::plan::kind::KindPlan::live_exists`] of `PROJECT.name` for kind `id`; `None` when the project's
/// list was not read.
pub(crate) fn live_exists<P: ProjectObjects + Part + Clone + PartialEq>(
    observed: &Observed,
    id: KindId,
    name: &str,
) -> Option<bool> {
    let (key, object) = name.split_once('.')?;
    Some(observed.kinds.get::<ByProject<P>>(id)?.get(key)?.contains(object))
}

/// [`crate::plan::kind::KindPlan::live_document`] of `PROJECT.name` for kind `id`: `Err(list)` (how messages
/// name the list) when the project's list was not read.
pub(crate) fn live_document<P: ProjectObjects + Part + Clone + PartialEq>(
    observed: &Observed,
    id: KindId,
    name: &str,
    list: &'static str,
) -> Result<Option<Value>, &'static str> {
    let (key, object) = name.split_once('.').ok_or(list)?;
    let project = observed
        .kinds
        .get::<ByProject<P>>(id)
        .and_then(|l| l.get(key))
        .ok_or(list)?;
    Ok(project.document(object))
}

/// What a kind read in one project.
pub(crate) struct ProjectRead<P> {
    /// The kind's part of the project's state.
    pub objects: P,
    /// The managed objects that exist and were read one by one (the read budget counts them).
    pub read_one_by_one: Vec<ResourceId>,
    /// Requests made beyond the budget (a list needed only by some manifests).
    pub conditional_reads: usize,
}

impl<P> ProjectRead<P> {
    /// A project read with its one list and nothing else.
    pub(crate) fn list(objects: P) -> Self {
        ProjectRead {
            objects,
            read_one_by_one: Vec::new(),
            conditional_reads: 0,
        }
    }
}

/// Read every planned project with `read` (the project's key and what to read in it),
/// concurrently, at most `parallelism` at once, into this kind's [`ByProject`] part.
pub(crate) async fn observe<R, P, F, Fut>(
    planned: impl IntoIterator<Item = (String, R)>,
    parallelism: usize,
    read: F,
) -> Result<KindRead, ObserveError>
where
    F: Fn(String, R) -> Fut,
    Fut: Future<Output = Result<ProjectRead<P>, ObserveError>>,
    P: Part + Clone + PartialEq,
{
    let read: Vec<(String, ProjectRead<P>)> = stream::iter(planned)
        .map(|(key, r)| {
            let project = read(key.clone(), r);
            async move { project.await.map(|p| (key, p)) }
        })
        .buffer_unordered(parallelism.max(1))
        .try_collect()
        .await?;
    let mut live = ByProject::new();
    let mut ids = Vec::new();
    let mut conditional_reads = 0;
    for (key, project) in read {
        live.insert(key, project.objects);
        ids.extend(project.read_one_by_one);
        conditional_reads += project.conditional_reads;
    }
    Ok(KindRead {
        part: Box::new(live),
        live: ids,
        conditional_reads,
        later: None,
    })
}

/// A project's list as read, or `None` when the project does not exist (404); other errors
/// stay (the caller says what it was reading).
pub(crate) fn absent_if_missing<T>(read: Result<T, ClientError>) -> Result<Option<T>, ClientError> {
    match read {
        Ok(list) => Ok(Some(list)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct Names(Vec<&'static str>);

    impl ProjectObjects for Names {
        fn document(&self, name: &str) -> Option<Value> {
            self.0.contains(&name).then(|| json!({ "name": name }))
        }
    }

    const ID: KindId = KindId("recipe");

    fn observed() -> Observed {
        let mut observed = Observed::default();
        observed.kinds.insert::<ByProject<Option<Names>>>(
            ID,
            [
                ("P".to_string(), Some(Names(vec!["a"]))),
                ("GONE".to_string(), None),
            ]
            .into(),
        );
        observed
    }

    #[test]
    fn objects_are_found_in_their_projects_list() {
        let o = observed();
        assert_eq!(live_exists::<Option<Names>>(&o, ID, "P.a"), Some(true));
        assert_eq!(live_exists::<Option<Names>>(&o, ID, "P.b"), Some(false));
        assert_eq!(live_exists::<Option<Names>>(&o, ID, "GONE.a"), Some(false));
        assert_eq!(live_exists::<Option<Names>>(&o, ID, "UNREAD.a"), None);
        assert_eq!(
            live_document::<Option<Names>>(&o, ID, "P.a", "list"),
            Ok(Some(json!({"name": "a"})))
        );
        assert_eq!(live_document::<Option<Names>>(&o, ID, "GONE.a", "list"), Ok(None));
        assert_eq!(
            live_document::<Option<Names>>(&o, ID, "UNREAD.a", "list"),
            Err("list")
        );
        assert_eq!(
            live_exists::<Option<Names>>(&Observed::default(), ID, "P.a"),
            None
        );
    }

    #[tokio::test]
    async fn every_planned_project_is_read_once_into_the_part() {
        let read = observe(
            [("P".to_string(), 2usize), ("Q".to_string(), 0)],
            2,
            |key, n| async move {
                Ok(ProjectRead {
                    objects: Some(Names(vec!["x"; n])),
                    read_one_by_one: vec![ResourceId::new(ID, format!("{key}.x")); n],
                    conditional_reads: n,
                })
            },
        )
        .await
        .unwrap();
        assert_eq!(read.live.len(), 2);
        assert_eq!(read.conditional_reads, 2);
        let part = read
            .part
            .as_any()
            .downcast_ref::<ByProject<Option<Names>>>()
            .unwrap();
        assert_eq!(part.keys().collect::<Vec<_>>(), vec!["P", "Q"]);
    }

    #[test]
    fn a_missing_project_is_no_list_and_other_errors_stay() {
        let gone: Result<Vec<u8>, ClientError> = Err(ClientError::NotFound {
            method: "GET".into(),
            path: "/projects/P/recipes".into(),
            status: 404,
            error_type: String::new(),
            message: "no project P".into(),
        });
        assert!(matches!(absent_if_missing(gone), Ok(None)));
        assert!(matches!(absent_if_missing(Ok(vec![1u8])), Ok(Some(v)) if v == vec![1]));
        let failed: Result<Vec<u8>, ClientError> = Err(ClientError::Task("boom".into()));
        assert!(absent_if_missing(failed).is_err());
    }
}
