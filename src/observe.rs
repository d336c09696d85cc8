//! Observe: read the live state of exactly what the manifests and the stack's ledger name,
//! with the fewest requests the API allows, concurrently up to `--parallelism` (the client's
//! bound on requests in flight). What is read, and the request budget, are planned in
//! [`crate::plan::scope`]; each kind performs its own reads ([`crate::kinds::Kind::observe`])
//! and this module runs them and assembles the [`Observed`] state the planner compares.
//!
//! Order: the global variables first (they hold the ledger, which adds what the stack may
//! delete); then, concurrently, every kind's reads (a kind batches its own: one list, then the
//! sub-documents of what exists). Observing never writes.
//!
//! A kind may hand its part over before some of its reads are done ([`KindRead::later`]: the
//! projects' documents, the last reads of a plan): [`observe_staged`] returns the state without
//! them, which the engine plans what does not need them from ([`crate::plan::plan_early`]),
//! and [`Staged::finish`] completes it.
//!
//! A plan's reads need the manifests, which take a while to load on a large repository; the
//! ledger names the stack's objects before they do. [`start_prefetch`] reads the ledger and
//! starts, while the manifests load, the GETs its objects will most likely need
//! ([`KindObserve::likely_reads`]); observing then takes their answers from the client
//! instead of sending them, and closes the prefetching when it ends.

use std::collections::BTreeSet;

use futures::future::try_join_all;

use crate::client::{ApiPath, ClientError, DssClient};
use crate::manifest::Declared;
use crate::plan::ledger::{Ledger, LedgerError};
use crate::plan::scope::ReadPlan;
use crate::plan::{Observed, ResourceId};

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

/// The error of a failed read of `what`.
pub(crate) fn reading(what: impl Into<String>) -> impl FnOnce(ClientError) -> ObserveError {
    let what = what.into();
    move |source| ObserveError::Read { what, source }
}

/// The observed state and what it cost.
#[derive(Debug)]
pub struct Observation {
    pub observed: Observed,
    pub(crate) reads: ReadPlan,
    /// The managed resources that exist and whose sub-documents were read (the projects).
    pub live: BTreeSet<ResourceId>,
    /// Metadata GETs made because a list lacked a managed field.
    pub conditional_reads: usize,
}

impl Observation {
    /// The number of requests made, by the formula of [`crate::plan::scope`].
    pub fn requests(&self) -> usize {
        self.reads.budget(&self.live, self.conditional_reads)
    }
}

/// Read what `desired` and the stack's ledger need.
pub async fn observe(
    client: &DssClient,
    desired: &[Declared],
    stack: &str,
    parallelism: usize,
) -> Result<Observation, ObserveError> {
    observe_staged(client, desired, stack, parallelism)
        .await?
        .finish(client)
        .await
}

/// An observation whose later reads ([`KindRead::later`]) are still in flight.
pub(crate) struct Staged {
    /// The observed state without what the later reads bring.
    pub(crate) first: Observation,
    later: Vec<Later>,
}

impl Staged {
    /// Wait for the later reads and put what they read in place.
    pub(crate) async fn finish(self, client: &DssClient) -> Result<Observation, ObserveError> {
        let Staged { mut first, later } = self;
        let completed = async {
            for later in later {
                let done = later.await?;
                (done.complete)(&mut first.observed.kinds);
                first.conditional_reads += done.conditional_reads;
            }
            Ok(())
        }
        .await;
        // Whatever the outcome: what was prefetched and not taken is not read any more, and
        // nothing read before this point stands in for a later read (apply's second plan,
        // under the stack lock).
        client.close_prefetch();
        completed.map(|()| first)
    }
}

/// Read what `desired` and the stack's ledger need, but hand the state over before the later
/// reads of a kind are done (see the module documentation); [`Staged::finish`] completes it.
pub(crate) async fn observe_staged(
    client: &DssClient,
    desired: &[Declared],
    stack: &str,
    parallelism: usize,
) -> Result<Staged, ObserveError> {
    let staged = read_all(client, desired, stack, parallelism).await;
    if staged.is_err() {
        client.close_prefetch();
    }
    staged
}

async fn read_all(
    client: &DssClient,
    desired: &[Declared],
    stack: &str,
    parallelism: usize,
) -> Result<Staged, ObserveError> {
    let globals = client
        .get_global_variables()
        .await
        .map_err(reading("the global variables"))?;
    let ledger = Ledger::from_global_variables(&globals, stack)?;
    let reads = ReadPlan::new(desired, ledger.as_ref());

    let pending = REGISTRY.iter().filter_map(|kind| {
        let read = kind.observe(client, &reads, parallelism)?;
        Some(async move { Ok::<_, ObserveError>((kind.id(), read.await?)) })
    });
    let results = try_join_all(pending).await?;

    let mut observed = Observed {
        global_variables: Some(globals),
        ledger,
        ..Observed::default()
    };
    let mut live = BTreeSet::new();
    let mut conditional_reads = 0;
    let mut later = Vec::new();
    for (kind, read) in results {
        observed.kinds.insert_boxed(kind, read.part);
        live.extend(read.live);
        conditional_reads += read.conditional_reads;
        later.extend(read.later);
    }
    Ok(Staged {
        first: Observation {
            observed,
            reads,
            live,
            conditional_reads,
        },
        later,
    })
}

/// Start, in the background, the GETs the stack's ledger says observing will make (see the
/// module documentation): the global variables, then what each ledger entry's kind names.
/// Reads only; a failure here is left for the observation's own read to meet.
pub(crate) fn start_prefetch(client: &DssClient, stack: &str) {
    let Some(round) = client.prefetch_round() else {
        return;
    };
    let client = client.clone();
    let stack = stack.to_string();
    tokio::spawn(async move {
        let Some(variables) = client.prefetch(round, crate::client::global_variables_path()) else {
            return;
        };
        let Ok(answer) = variables.await else {
            return;
        };
        let Some(names) = crate::plan::ledger::recorded_names(&answer.body, &stack) else {
            return;
        };
        for (kind, name) in names {
            let Some(kind) = REGISTRY.by_id(kind) else {
                continue;
            };
            for path in kind.likely_reads(&name) {
                // `None` when already started, or when the observation has ended.
                client.prefetch(round, path);
            }
        }
    });
}

// The observation stage's extension point: what it needs from a kind, and its registry of
// kinds (it never imports `crate::kinds`; the kind modules implement the trait).

/// The kinds as observation sees them, each registered by `crate::kinds::register!`.
#[linkme::distributed_slice]
#[allow(
    unsafe_code,
    reason = "linkme places the slice in a link section; nothing else is unsafe"
)]
pub(crate) static OBSERVE_KINDS: [&'static dyn KindObserve];

/// [`OBSERVE_KINDS`] in the manifest's order.
pub(crate) static REGISTRY: crate::manifest::registry::StageKinds<dyn KindObserve> =
    crate::manifest::registry::StageKinds::new(&OBSERVE_KINDS);

/// What a kind tells observation, beyond what it tells the planner (which plans its reads).
pub(crate) trait KindObserve: crate::plan::kind::KindPlan {
    /// Perform the reads `reads` plans for this kind (batched: one list, then the
    /// sub-documents of what exists, up to `parallelism` at once); `None` when it plans none.
    /// The result is stored under [`Self::id`] in the observed state.
    fn observe<'a>(
        &'a self,
        client: &'a DssClient,
        reads: &'a ReadPlan,
        _parallelism: usize,
    ) -> Option<futures::future::BoxFuture<'a, Result<KindRead, ObserveError>>> {
        let _ = (client, reads);
        None
    }

    /// The GETs observing the managed object `name` of this kind will most likely make, to
    /// start while the manifests load ([`start_prefetch`]). A guess from the ledger alone: a
    /// read the plan then does not make costs one request and changes nothing else.
    fn likely_reads(&self, name: &str) -> Vec<ApiPath> {
        let _ = name;
        Vec::new()
    }
}

/// What one kind's [`KindObserve::observe`] read.
pub(crate) struct KindRead {
    /// The kind's part of the observed state.
    pub(crate) part: Box<dyn crate::plan::observed::Part>,
    /// The managed resources that exist and whose sub-documents were read.
    pub(crate) live: Vec<ResourceId>,
    /// Requests made because a list lacked a managed field.
    pub(crate) conditional_reads: usize,
    /// Reads still in flight, in a task of their own, that complete `part` (the projects'
    /// documents): what does not need them is planned meanwhile
    /// ([`crate::plan::kind::KindPlan::reads_project_documents`]).
    pub(crate) later: Option<Later>,
}

impl KindRead {
    /// A part read with one list and nothing else.
    pub(crate) fn list<T: crate::plan::observed::Part>(part: T) -> Self {
        KindRead {
            part: Box::new(part),
            live: Vec::new(),
            conditional_reads: 0,
            later: None,
        }
    }
}

/// The later reads of a kind ([`KindRead::later`]).
pub(crate) type Later = futures::future::BoxFuture<'static, Result<Completion, ObserveError>>;

/// What later reads bring: how to put it in the kind's part, and the requests they made
/// because a list lacked a managed field.
pub(crate) struct Completion {
    pub(crate) complete: Box<dyn FnOnce(&mut crate::plan::KindMap) + Send>,
    pub(crate) conditional_reads: usize,
}
