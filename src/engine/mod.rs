//! The engine: the one pipeline behind `plan`, `apply`, `watch` and `export`.
//!
//! ```text
//!   load ──► connect ──► observe ──► plan ──► guard ──► write
//!   (manifest)  (target)   (observe)   (plan)   (apply::guards) (apply::write_plan)
//! ```
//!
//! Each stage calls the entry point of the module that owns it; the engine only sequences
//! them and computes, once, what the stages hand to each other (the number of declared
//! resources and the size of the stack's ledger, which the guards need). It prints nothing
//! and never decides an exit code: the commands and the daemon do, from what it returns.
//! Export reads through the same connection stage.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::apply::guards::{self, GuardOptions};
use crate::apply::report::Report;
use crate::error::Error;
use crate::export::{Export, ExportScope};
use crate::kinds::KindId;
use crate::manifest::{Declared, Diagnostics, LoadedManifests, Origin, SecretRef};
use crate::plan::planner::declared_id;
use crate::plan::targeting::{Selection, Selector};
use crate::plan::{Ledger, Observed, Plan, PlanInput, ResourceId};
use crate::target::{Target, TargetConfig, connect};

/// Load and validate the manifests under `paths` (no network).
pub(crate) fn load(paths: &[PathBuf]) -> Result<LoadedManifests, Diagnostics> {
    crate::manifest::load_paths(paths)
}

/// Load the manifests under `paths` and connect to `config`. Against a DSS URL, the reads
/// the stack's ledger says the plan will make start while the manifests load
/// ([`crate::observe::start_prefetch`]), so that a large repository's loading and the plan's
/// first round trips overlap. Errors come as before, the manifests' first: invalid
/// manifests fail with their diagnostics, whatever the connection would have said. The
/// embedded emulator is started only once the manifests are valid.
pub(crate) async fn load_and_connect(
    paths: &[PathBuf],
    config: &TargetConfig,
    parallelism: usize,
) -> Result<(LoadedManifests, Target), Error> {
    if config.url.is_none() {
        let loaded = load(paths).map_err(Error::InvalidManifests)?;
        return Ok((loaded, connect(config, parallelism).await?));
    }
    let target = match connect(config, parallelism).await {
        Ok(target) => target,
        Err(err) => {
            load(paths).map_err(Error::InvalidManifests)?;
            return Err(err.into());
        }
    };
    let loaded = load_prefetching(&target, paths).await;
    Ok((loaded.map_err(Error::InvalidManifests)?, target))
}

/// Load the manifests under `paths` off the runtime, at a lower CPU priority
/// ([`crate::parallel::in_background`]), while a new round of prefetching reads
/// what the stack's ledger names on `target` ([`crate::observe::start_prefetch`]); the
/// observation that follows takes those answers and closes the round. Invalid manifests close
/// it at once. The `watch` daemon calls this at each reconcile.
pub(crate) async fn load_prefetching(
    target: &Target,
    paths: &[PathBuf],
) -> Result<LoadedManifests, Diagnostics> {
    target.client.open_prefetch();
    crate::observe::start_prefetch(&target.client, &target.stack);
    let owned = paths.to_vec();
    // Loading is CPU-heavy and the prefetched reads are in flight meanwhile: it yields to them.
    let loaded = crate::parallel::in_background(move || load(&owned)).await;
    if loaded.is_err() {
        target.client.close_prefetch();
    }
    loaded
}

/// A plan with what it was made from.
pub(crate) struct Planned {
    pub(crate) plan: Plan,
    pub(crate) observed: Observed,
    /// The resources the manifests declare (the `Build` manifests aside), for the guards.
    pub(crate) declared: usize,
}

/// What a plan covers: the `--target` and `--exclude` selectors (both empty: everything).
#[derive(Debug, Clone, Default)]
pub(crate) struct Targeting {
    pub(crate) targets: Vec<Selector>,
    pub(crate) excludes: Vec<Selector>,
}

impl Targeting {
    pub(crate) fn is_everything(&self) -> bool {
        self.targets.is_empty() && self.excludes.is_empty()
    }
}

/// Observe what `desired` needs through an already-connected target, and plan.
pub(crate) async fn plan_on(
    target: &Target,
    desired: &[Declared],
    parallelism: usize,
) -> anyhow::Result<Planned> {
    plan_scoped(target, desired, &Targeting::default(), parallelism).await
}

/// The filtering step of a partial plan, then [`plan_on`]'s observe and plan: only the
/// declared resources in scope are observed and planned, and the plan keeps only what is in
/// scope (an out-of-scope ledger entry is never deleted). Apply plans twice (before and under
/// the lock) with the same `targeting`.
pub(crate) async fn plan_scoped(
    target: &Target,
    desired: &[Declared],
    targeting: &Targeting,
    parallelism: usize,
) -> anyhow::Result<Planned> {
    if targeting.is_everything() {
        return observe_and_plan(target, desired, None, parallelism).await;
    }
    // The ledger is needed to know the names only it holds (deleting one is a target too).
    let globals = target
        .client
        .get_global_variables()
        .await
        .context("cannot read the global variables (the ledger)")?;
    let ledger: Vec<ResourceId> = Ledger::from_global_variables(&globals, &target.stack)?
        .map(|l| l.resources.values().map(|e| e.id()).collect())
        .unwrap_or_default();
    let selection = Selection::new(&targeting.targets, &targeting.excludes, desired, &ledger)
        .map_err(anyhow::Error::msg)?;
    let dependents = selection.excluded_dependents();
    if !dependents.is_empty() {
        let names: Vec<String> = dependents.iter().map(ToString::to_string).collect();
        eprintln!(
            "note: also excluded, as they depend on what --exclude names: {}",
            names.join(", ")
        );
    }
    let in_scope = selection.keep_declared(desired);
    observe_and_plan(target, &in_scope, Some((&selection, &ledger)), parallelism).await
}

/// Plan again what [`plan_scoped`] planned from `previous` (apply, under the stack lock):
/// observe as it does, and plan, unless what was read is what `previous` was read from; then
/// `None`: the plan made from `previous` holds, since planning is a pure function of the
/// manifests and the observed state, and planning thousands of resources again would only
/// cost time. A partial plan (`--target`, `--exclude`) is always made again.
pub(crate) async fn replan(
    target: &Target,
    desired: &[Declared],
    targeting: &Targeting,
    parallelism: usize,
    previous: &Observed,
) -> anyhow::Result<Option<Planned>> {
    if !targeting.is_everything() {
        return plan_scoped(target, desired, targeting, parallelism)
            .await
            .map(Some);
    }
    let observation = observe(target, desired, parallelism).await?;
    if observation.observed.plans_like(previous) {
        tracing::debug!("the live state is as the first plan read it: that plan holds");
        return Ok(None);
    }
    Ok(Some(plan_observation(target, desired, None, observation)))
}

/// Whether an apply of `desired` against a stack whose ledger is `ledger` is sure to write,
/// with no refusal possible before its first write but a plan error:
/// - a resource the manifests declare and manage (not `dssctl.io/sync: detect-only`) is not
///   in the ledger, so the plan creates or adopts it and records it there;
/// - every ledger entry is declared, so the plan deletes nothing and no deletion guard can
///   refuse it;
/// - every secret the manifests reference resolves here, so none that must be sent can be
///   missing (that refusal comes before any write, the lock's included).
///
/// Apply takes the stack lock before it plans in that case (its settle wait then overlaps
/// the planning), and after it in every other: a converged apply writes nothing, the lock
/// included.
pub(crate) fn writes_certain(desired: &[Declared], ledger: Option<&Ledger>) -> bool {
    let declared: std::collections::BTreeSet<ResourceId> =
        desired.iter().filter_map(|d| declared_id(&d.resource)).collect();
    if ledger.is_some_and(|l| l.ids().any(|id| !declared.contains(&id))) {
        return false;
    }
    let adds = desired.iter().any(|d| {
        let managed =
            !crate::manifest::annotations::DriftPolicy::of(&d.resource.meta().annotations).detect_only;
        managed && declared_id(&d.resource).is_some_and(|id| ledger.is_none_or(|l| l.get(&id).is_none()))
    });
    adds && desired.iter().all(secrets_resolve)
}

/// Whether every secret reference in the spec of `d` (`{fromEnv: ...}`, `{fromFile: ...}`,
/// wherever it is) resolves here. The values are dropped at once.
fn secrets_resolve(d: &Declared) -> bool {
    fn walk(value: &serde_json::Value, base: &Path) -> bool {
        if let Some(r) = crate::manifest::SecretRef::from_value(value) {
            return crate::manifest::resolve_secret(&r, base).is_ok();
        }
        match value {
            serde_json::Value::Object(map) => map.values().all(|v| walk(v, base)),
            serde_json::Value::Array(items) => items.iter().all(|v| walk(v, base)),
            _ => true,
        }
    }
    walk(&d.resource.spec_json(), d.origin.base_dir())
}

/// Observe, through an already-connected target, what `desired` needs (the first step of
/// [`plan_on`]; [`plan_observed`] is the second).
pub(crate) async fn observe(
    target: &Target,
    desired: &[Declared],
    parallelism: usize,
) -> anyhow::Result<crate::observe::Observation> {
    let observation = crate::observe::observe(&target.client, desired, &target.stack, parallelism)
        .await
        .map_err(|err| anyhow::Error::new(err).context("cannot read the live state"))?;
    let requests = observation.requests();
    tracing::debug!(requests, "live state read");
    Ok(observation)
}

/// Observe and plan, planning what does not need the projects' documents while they are
/// read ([`crate::plan::plan_early`]), on threads of lower CPU priority than the runtime's,
/// which send and read the requests meanwhile.
async fn observe_and_plan(
    target: &Target,
    desired: &[Declared],
    selection: Option<(&Selection, &[ResourceId])>,
    parallelism: usize,
) -> anyhow::Result<Planned> {
    let cannot_read = |err| anyhow::Error::new(err).context("cannot read the live state");
    let staged = crate::observe::observe_staged(&target.client, desired, &target.stack, parallelism)
        .await
        .map_err(cannot_read)?;
    let resolve_secret = |r: &SecretRef, origin: &Origin| {
        crate::manifest::resolve_secret(r, origin.base_dir()).map_err(|e| e.reason())
    };
    let early_input = plan_input(target, desired, &staged.first.observed, &resolve_secret);
    let (declared, early) = crate::parallel::at_lower_priority(|| {
        let declared = crate::plan::declarations(desired);
        let early = crate::plan::plan_early(&early_input, &declared);
        (declared, early)
    });
    let observation = staged.finish(&target.client).await.map_err(cannot_read)?;
    tracing::debug!(requests = observation.requests(), "live state read");
    let input = plan_input(target, desired, &observation.observed, &resolve_secret);
    let mut plan = crate::plan::plan_after(&input, declared, early);
    if let Some((selection, ledger)) = selection {
        selection.restrict(&mut plan, ledger);
    }
    Ok(planned(plan, desired, observation))
}

/// What the planner is given for `desired` on `target`.
fn plan_input<'a>(
    target: &'a Target,
    desired: &'a [Declared],
    observed: &'a Observed,
    resolve_secret: crate::plan::SecretResolver<'a>,
) -> PlanInput<'a> {
    PlanInput {
        desired,
        observed,
        stack: &target.stack,
        target: &target.url,
        resolve_secret,
    }
}

/// The plan with what it was made from.
fn planned(plan: Plan, desired: &[Declared], observation: crate::observe::Observation) -> Planned {
    Planned {
        plan,
        observed: observation.observed,
        declared: desired
            .iter()
            .filter(|d| declared_id(&d.resource).is_some())
            .count(),
    }
}

/// Plan `desired` from what [`observe`] read.
pub(crate) fn plan_observed(
    target: &Target,
    desired: &[Declared],
    observation: crate::observe::Observation,
) -> Planned {
    plan_observation(target, desired, None, observation)
}

fn plan_observation(
    target: &Target,
    desired: &[Declared],
    selection: Option<(&Selection, &[ResourceId])>,
    observation: crate::observe::Observation,
) -> Planned {
    let resolve_secret = |r: &SecretRef, origin: &Origin| {
        crate::manifest::resolve_secret(r, origin.base_dir()).map_err(|e| e.reason())
    };
    let mut plan = crate::plan::plan(&plan_input(
        target,
        desired,
        &observation.observed,
        &resolve_secret,
    ));
    if let Some((selection, ledger)) = selection {
        selection.restrict(&mut plan, ledger);
    }
    planned(plan, desired, observation)
}

/// Plan `desired` on a target [`load_and_connect`] connected. On an error the target is
/// closed (the embedded emulator, when used, keeps running until [`Target::close`]).
pub(crate) async fn plan(
    target: Target,
    desired: &[Declared],
    targeting: &Targeting,
    parallelism: usize,
) -> Result<(Planned, Target), Error> {
    match plan_scoped(&target, desired, targeting, parallelism).await {
        Ok(planned) => Ok((planned, target)),
        Err(err) => {
            target.close().await;
            Err(err.into())
        }
    }
}

/// What the guards need besides the plan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GuardInput<'a> {
    /// The number of declared resources; `None` for a saved plan (the manifests are not read).
    pub(crate) declared: Option<usize>,
    /// The stack's ledger as observed.
    pub(crate) ledger: Option<&'a Ledger>,
}

/// The guard stage: a plan with errors or one a safety guard refuses is not written.
pub(crate) fn guard(plan: &Plan, input: GuardInput<'_>, opts: GuardOptions) -> Result<(), Error> {
    if !plan.errors.is_empty() {
        return Err(Error::PlanErrors(plan.errors.len()));
    }
    check_secrets_to_send(plan)?;
    // A partial plan counts only the ledger entries in its scope.
    let ledger_size = plan
        .scope
        .as_ref()
        .and_then(|s| s.ledger_entries)
        .unwrap_or_else(|| input.ledger.map_or(0, |l| l.resources.len()));
    // `--target` names what to plan: a scope that declares nothing (deleting what the
    // ledger alone holds) is what was asked, not manifests given the wrong path.
    let targeted = plan.scope.as_ref().is_some_and(|s| !s.targets.is_empty());
    let declared = if targeted { None } else { input.declared };
    guards::check(plan, declared, ledger_size, opts)?;
    Ok(())
}

/// Every secret the plan sends must resolve now, before any write (a plan, saved or not,
/// may have been made where it could not be: it records those as unchecked).
fn check_secrets_to_send(plan: &Plan) -> Result<(), Error> {
    let mut missing = Vec::new();
    for op in &plan.operations {
        let base = crate::apply::writes::base_dir(op);
        for s in op.secrets.iter().filter(|s| s.changed) {
            if let Err(e) = crate::manifest::resolve_secret(&s.reference, &base) {
                missing.push(format!("{} {} {}: {e}", op.kind, op.name, s.path));
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(anyhow::anyhow!(
        "refusing to apply: {} secret{} that must be sent cannot be resolved; nothing was written:\n  {}",
        missing.len(),
        if missing.len() == 1 { "" } else { "s" },
        missing.join("\n  ")
    )
    .into())
}

/// The write stage: execute a plan that passed the guards (and the confirmation). `commit_dir`
/// is where the Git commit recorded in the ledger is read. The error is for a failure before
/// anything was written; per-operation failures are in the report.
pub(crate) async fn write(
    target: &Target,
    plan: &Plan,
    ledger: Option<&Ledger>,
    commit_dir: &Path,
    parallelism: usize,
) -> anyhow::Result<Report> {
    crate::apply::write_plan(target, plan, ledger, commit_dir, parallelism).await
}

/// [`write`], showing the progress of the operations on stderr as `show` says (the `apply`
/// command; the daemon shows none).
pub(crate) async fn write_showing(
    target: &Target,
    plan: &Plan,
    ledger: Option<&Ledger>,
    commit_dir: &Path,
    parallelism: usize,
    show: crate::apply::progress::Show,
    prepared: Option<crate::apply::WritePrep>,
) -> anyhow::Result<Report> {
    crate::apply::write_plan_showing(target, plan, ledger, commit_dir, parallelism, show, prepared).await
}

/// Export: connect, read what the selected kinds cover, convert it to manifests.
/// `projects` empty: every project.
pub(crate) async fn export(
    config: &TargetConfig,
    include: &[KindId],
    projects: &[String],
    parallelism: usize,
) -> anyhow::Result<Export> {
    let target = connect(config, parallelism).await?;
    let scope = ExportScope {
        client: &target.client,
        projects,
        parallelism,
    };
    let live = crate::export::read_live(&scope, include).await;
    target.close().await;
    Ok(crate::export::export_of(&live?, include))
}

/// A saved plan (from `plan --out`), read and checked before any network call.
pub(crate) fn read_saved_plan(file: &Path) -> anyhow::Result<Plan> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the saved plan {}", file.display()))?;
    let plan: Plan = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a dssctl plan (from `dssctl plan --out`)",
            file.display()
        )
    })?;
    if plan.format_version > crate::plan::FORMAT_VERSION {
        anyhow::bail!(
            "{}: plan format version {} is newer than this dssctl understands ({}); upgrade dssctl",
            file.display(),
            plan.format_version,
            crate::plan::FORMAT_VERSION
        );
    }
    Ok(plan)
}

/// A saved plan must be for this stack and this instance; returns the stack's ledger.
pub(crate) async fn check_saved_plan(plan: &Plan, target: &Target) -> anyhow::Result<Option<Ledger>> {
    if plan.stack != target.stack {
        anyhow::bail!(
            "the saved plan is for stack {:?}, not {:?} (give --stack {})",
            plan.stack,
            target.stack,
            plan.stack
        );
    }
    // The embedded emulator listens on a new port at every run: only its URL may differ.
    if !target.is_local() && plan.target.trim_end_matches('/') != target.url {
        anyhow::bail!(
            "the saved plan was made against {}, not {}",
            plan.target,
            target.url
        );
    }
    let globals = target
        .client
        .get_global_variables()
        .await
        .context("cannot read the global variables (the ledger)")?;
    Ok(Ledger::from_global_variables(&globals, &target.stack)?)
}

/// The staleness stage of a saved plan: every object it writes must be as it was.
pub(crate) async fn check_stale(target: &Target, plan: &Plan, parallelism: usize) -> Result<(), Error> {
    let changed = crate::apply::stale::stale(&target.client, plan, parallelism)
        .await
        .context("cannot re-read the objects of the saved plan")?;
    if changed.is_empty() {
        Ok(())
    } else {
        Err(Error::Stale { changed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::guards::Refusal;
    use crate::plan::fixtures::operation;
    use crate::plan::{Action, Summary};

    fn plan_deleting(n: usize) -> Plan {
        Plan {
            format_version: crate::plan::FORMAT_VERSION,
            target: "t".into(),
            stack: "s".into(),
            summary: Summary::default(),
            operations: (0..n)
                .map(|i| operation(crate::kinds::group::ID, &format!("g{i}"), Action::Delete))
                .collect(),
            protected: vec![],
            forget: vec![],
            errors: vec![],
            builds: vec![],
            origins: Default::default(),
            unchecked: vec![],
            scope: None,
            released: vec![],
        }
    }

    #[test]
    fn an_apply_is_sure_to_write_when_it_adds_to_the_ledger_and_removes_nothing() {
        use crate::kinds::simulate::entry_for;
        use crate::plan::fixtures::declared;
        use serde_json::json;
        let group = |name: &str, annotations: serde_json::Value| {
            declared(
                "Group",
                json!({"name": name, "annotations": annotations}),
                json!({"description": "d"}),
                1,
            )
        };
        let ledger_of = |names: &[&str]| {
            let mut ledger = Ledger::new();
            for n in names {
                ledger.insert(entry_for(crate::kinds::group::ID, n));
            }
            ledger
        };
        let both = [group("a", json!({})), group("b", json!({}))];
        // A first apply, and one that adds `b`.
        assert!(writes_certain(&both, None));
        assert!(writes_certain(&both, Some(&ledger_of(&["a"]))));
        // Converged: every declared resource is recorded; the plan may well write nothing.
        assert!(!writes_certain(&both, Some(&ledger_of(&["a", "b"]))));
        // A removal: the plan deletes, which a guard may refuse.
        assert!(!writes_certain(&both[..1], Some(&ledger_of(&["b"]))));
        // Nothing declared, and a detect-only resource (never recorded while it differs).
        assert!(!writes_certain(&[], None));
        let watched = [group("c", json!({"dssctl.io/sync": "detect-only"}))];
        assert!(!writes_certain(&watched, None));
        // A secret that does not resolve here: refused before any write, the lock's included.
        let connection = |var: &str| {
            declared(
                "Connection",
                json!({"name": "dwh"}),
                json!({"type": "PostgreSQL", "params": {"host": "h", "password": {"fromEnv": var}}}),
                1,
            )
        };
        assert!(!writes_certain(&[connection("DSSCTL_TEST_NEVER_SET_0815")], None));
        assert!(writes_certain(&[connection("PATH")], None));
    }

    #[test]
    fn plan_errors_stop_before_the_guards() {
        let mut plan = plan_deleting(50);
        plan.errors.push(crate::plan::PlanError {
            kind: crate::kinds::group::ID,
            name: "g".into(),
            origin: None,
            message: "secret X is not set".into(),
            hint: None,
        });
        let input = GuardInput {
            declared: Some(0),
            ledger: None,
        };
        assert!(matches!(
            guard(&plan, input, GuardOptions::default()),
            Err(Error::PlanErrors(1))
        ));
        plan.errors.clear();
        assert!(matches!(
            guard(&plan, input, GuardOptions::default()),
            Err(Error::Refused(Refusal::TooManyDeletes { deletes: 50, .. }))
        ));
        assert!(guard(&plan_deleting(1), input, GuardOptions::default()).is_ok());
    }
}
