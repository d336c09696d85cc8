//! The plan: a pure function from the desired state (manifests) and the observed state (live
//! DSS documents, with the stack's ledger) to the operations that make the instance match.
//! No I/O here: reading the live state is `crate::observe`, writing it is apply's.
//!
//! - [`model`]: the plan document (operations, writes, changes, fingerprints);
//! - [`observed`]: the observed state;
//! - [`normalize`]: what DSS normalises, brought to one form on both sides;
//! - [`diff`]: field semantics, one sub-document at a time;
//! - [`planner`]: ownership rules and the operations;
//! - [`scope`]: what to read from the live instance, and the request budget;
//! - [`targeting`]: what a partial plan covers (`--target`, `--exclude`);
//! - [`ledger`]: the ownership ledger model;
//! - [`fingerprint`]: keyed secret fingerprints and live-document fingerprints;
//! - [`overlay`]: how a write's desired fields are put on a fresh GET (used by apply);
//! - [`builds`]: which `Build` manifests an apply starts;
//! - [`kind`]: what the planner needs from a kind ([`kind::KindPlan`]) and its registry.
//!
//! What DSS would hold after applying a desired state (tests and the benchmark) is
//! `crate::kinds::simulate`: it builds each kind's observed state, so it sits above the kinds.

pub(crate) mod builds;
pub(crate) mod diff;
pub mod fingerprint;
pub(crate) mod kind;
pub mod ledger;
pub(crate) mod model;
pub(crate) mod normalize;
pub(crate) mod observed;
pub mod overlay;
pub(crate) mod planner;
pub mod scope;
pub(crate) mod targeting;

pub use ledger::{Ledger, LedgerEntry};
pub use model::*;
pub use observed::{KindMap, Observed};
pub use planner::{
    Declarations, EarlyPlan, PlanInput, SecretResolver, declarations, plan, plan_after, plan_early,
};

#[cfg(test)]
pub mod fixtures;
#[cfg(test)]
mod tests;
