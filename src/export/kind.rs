//! What `dssctl export` needs from a kind: [`KindExport`] (the word `--include` selects it by,
//! its read of everything the scope selects, and its pure conversion to manifests), and the
//! export's registry of kinds. The export stage owns this extension point so that it never
//! imports `crate::kinds`; the kind modules implement it.

use futures::future::BoxFuture;

use super::{ExportOut, ExportScope};
use crate::manifest::registry::StageKinds;
use crate::observe::{KindObserve, KindRead};
use crate::plan::Observed;

/// The kinds as the export sees them, each registered by `crate::kinds::register!`.
#[linkme::distributed_slice]
#[allow(
    unsafe_code,
    reason = "linkme places the slice in a link section; nothing else is unsafe"
)]
pub(crate) static EXPORT_KINDS: [&'static dyn KindExport];

/// [`EXPORT_KINDS`] in the manifest's order.
pub(crate) static REGISTRY: StageKinds<dyn KindExport> = StageKinds::new(&EXPORT_KINDS);

/// What a kind tells the export, beyond what it tells observation ([`KindObserve`], whose
/// reads a list kind's export reuses). Every method has a default that fits a kind that is
/// not exported.
pub(crate) trait KindExport: KindObserve {
    /// The word `export --include` selects this kind by (`projects`); `None` for a kind
    /// `dssctl export` never writes (a build).
    fn export_word(&self) -> Option<&'static str> {
        None
    }

    /// For `dssctl export`: read every object of this kind that `scope` selects (every one on
    /// the instance; for a kind that belongs to a project, those of the selected projects),
    /// into the part of the observed state that [`Self::export`] reads. `None` when the kind
    /// is not exported.
    fn export_read<'a>(
        &'a self,
        _scope: &'a ExportScope<'a>,
    ) -> Option<BoxFuture<'a, anyhow::Result<KindRead>>> {
        None
    }

    /// The manifests of what `observed` holds of this kind (pure): each resource in the file
    /// it belongs in, the environment variables its secret references expect, and notes on
    /// what was left out. The property: a plan of the output against the same instance adopts
    /// every resource with no field change.
    fn export(&self, _observed: &Observed, _out: &mut ExportOut) {}
}
