//! Observe: read the live state of exactly what the manifests and the stack's ledger name,
//! with the fewest requests the API allows, concurrently up to `--parallelism` (the client's
//! bound on requests in flight). What is read, and the request budget as a formula, are in
//! [`crate::plan::scope`]; this module performs those reads and assembles the
//! [`Observed`] state the planner compares.
//!
//! Order: the global variables first (they hold the ledger, which adds what the stack may
//! delete); then, concurrently, the connection, user and group lists and the project list,
//! followed as soon as the project list is in by the per-project reads of the projects that
//! exist (nothing at all for one that does not), then the dataset metadata GETs a list left
//! necessary. Observing never writes.

use std::collections::{BTreeMap, BTreeSet};

use futures::{StreamExt, TryStreamExt, stream};

use crate::client::{ClientError, DssClient};
use crate::manifest::Declared;
use crate::plan::ledger::{Ledger, LedgerError};
use crate::plan::scope::{ProjectReads, ReadPlan};
use crate::plan::{Observed, ObservedDataset, ObservedProject};
use crate::wire::{Metadata, ProjectPermissions, ProjectSummary, ProjectVariables};

/// A failed read, naming what was being read. The client error is its `source()`, not part of
/// its message, so that a printed chain says it once.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error("cannot read {what}")]
    Read {
        what: String,
        #[source]
        source: ClientError,
    },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

fn reading(what: impl Into<String>) -> impl FnOnce(ClientError) -> ObserveError {
    let what = what.into();
    move |source| ObserveError::Read { what, source }
}

/// The observed state and what it cost.
#[derive(Debug)]
pub struct Observation {
    pub observed: Observed,
    pub reads: ReadPlan,
    /// The managed projects that exist.
    pub live_projects: BTreeSet<String>,
    /// Metadata GETs made because a list lacked a managed field.
    pub conditional_reads: usize,
}

impl Observation {
    /// The number of requests made, by the formula of [`crate::plan::scope`].
    pub fn requests(&self) -> usize {
        self.reads.budget(&self.live_projects, self.conditional_reads)
    }
}

/// One per-project read: a sub-document of a project, or its dataset list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProjectDoc {
    Datasets,
    Metadata,
    Permissions,
    Variables,
}

/// The result of a [`ProjectDoc`] read.
pub(crate) enum ProjectRead {
    Datasets(Vec<crate::wire::Dataset>),
    Metadata(Metadata),
    Permissions(ProjectPermissions),
    Variables(ProjectVariables),
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

/// The metadata of dataset `key.name`.
pub(crate) async fn read_dataset_metadata(
    client: &DssClient,
    key: &str,
    name: &str,
) -> Result<Metadata, ObserveError> {
    client
        .get_dataset_metadata(key, name)
        .await
        .map_err(reading(format!("the metadata of dataset {key}.{name}")))
}

/// Read what `desired` and the stack's ledger need.
pub async fn observe(
    client: &DssClient,
    desired: &[Declared],
    stack: &str,
    parallelism: usize,
) -> Result<Observation, ObserveError> {
    let globals = client
        .get_global_variables()
        .await
        .map_err(reading("the global variables"))?;
    let ledger = Ledger::from_global_variables(&globals, stack)?;
    let reads = ReadPlan::new(desired, ledger.as_ref());

    let connections = async {
        if !reads.connections {
            return Ok(None);
        }
        client
            .list_connections()
            .await
            .map(Some)
            .map_err(reading("the connection list"))
    };
    let users = async {
        if !reads.users {
            return Ok::<_, ObserveError>(None);
        }
        let list = client.list_users().await.map_err(reading("the user list"))?;
        Ok(Some(
            list.into_iter()
                .map(|u| (u.login.clone(), u))
                .collect::<BTreeMap<_, _>>(),
        ))
    };
    let groups = async {
        if !reads.groups {
            return Ok::<_, ObserveError>(None);
        }
        let list = client.list_groups().await.map_err(reading("the group list"))?;
        Ok(Some(
            list.into_iter()
                .map(|g| (g.name.clone(), g))
                .collect::<BTreeMap<_, _>>(),
        ))
    };
    let projects = read_projects(client, &reads, parallelism);
    let (connections, users, groups, projects) = tokio::join!(connections, users, groups, projects);
    let (projects, conditional_reads) = projects?;
    let live_projects = projects
        .as_ref()
        .map(|p: &BTreeMap<String, ObservedProject>| {
            p.keys()
                .filter(|k| reads.projects.contains_key(*k))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    Ok(Observation {
        observed: Observed {
            projects,
            connections: connections?,
            users: users?,
            groups: groups?,
            global_variables: Some(globals),
            ledger,
        },
        reads,
        live_projects,
        conditional_reads,
    })
}

type ProjectsRead = (Option<BTreeMap<String, ObservedProject>>, usize);

async fn read_projects(
    client: &DssClient,
    reads: &ReadPlan,
    parallelism: usize,
) -> Result<ProjectsRead, ObserveError> {
    if !reads.projects_list {
        return Ok((None, 0));
    }
    let summaries = read_project_list(client).await?;

    // One task per sub-document read, over the managed projects that exist.
    let mut tasks: Vec<(String, ProjectDoc)> = Vec::new();
    let mut conditional = 0;
    for (key, r) in &reads.projects {
        let Some(summary) = summaries.get(key) else {
            continue;
        };
        let ProjectReads {
            metadata,
            description,
            permissions,
            variables,
            datasets,
            ..
        } = r;
        if *datasets {
            tasks.push((key.clone(), ProjectDoc::Datasets));
        }
        if *metadata {
            tasks.push((key.clone(), ProjectDoc::Metadata));
        } else if *description && summary.description.is_none() {
            conditional += 1;
            tasks.push((key.clone(), ProjectDoc::Metadata));
        }
        if *permissions {
            tasks.push((key.clone(), ProjectDoc::Permissions));
        }
        if *variables {
            tasks.push((key.clone(), ProjectDoc::Variables));
        }
    }
    let results: Vec<(String, ProjectRead)> = stream::iter(tasks)
        .map(|(key, what)| async move {
            let read = read_project_doc(client, &key, what).await?;
            Ok::<_, ObserveError>((key, read))
        })
        .buffer_unordered(parallelism.max(1))
        .try_collect()
        .await?;

    let mut projects: BTreeMap<String, ObservedProject> = summaries
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
    for (key, read) in results {
        let p = projects
            .get_mut(&key)
            .expect("reads are only made for listed projects");
        store_project_read(p, read);
    }

    // Dataset labels the list did not carry.
    let label_reads: Vec<(String, String)> = reads
        .projects
        .iter()
        .flat_map(|(key, r)| r.dataset_labels.iter().map(move |d| (key.clone(), d.clone())))
        .filter(|(key, name)| {
            projects
                .get(key)
                .and_then(|p| p.datasets.as_ref())
                .and_then(|ds| ds.get(name))
                .is_some_and(|ds| !ds.definition.extra.contains_key("label"))
        })
        .collect();
    conditional += label_reads.len();
    let metadata: Vec<(String, String, Metadata)> = stream::iter(label_reads)
        .map(|(key, name)| async move {
            let m = read_dataset_metadata(client, &key, &name).await?;
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
    Ok((Some(projects), conditional))
}
