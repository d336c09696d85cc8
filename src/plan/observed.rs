//! The observed state: what was read from the live instance, in DSS's own document types.
//!
//! The core does not know what a kind observes: each kind stores its own typed part (a list, a
//! map of projects and their sub-documents, ...) under its [`KindId`] in a [`KindMap`], and
//! reads it back with [`KindMap::get`]. The global variables and the ledger they hold are kept
//! apart because they are always read, before anything else, and every plan uses the ledger.
//!
//! Two kinds of "nothing" are kept apart: a collection that was not read at all (no part: not
//! managed, so never compared and never deleted) and an object that was looked for and is
//! absent (the key is missing from a part that was read). A sub-document that was not read
//! (`None`) is one the manifests do not manage.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt::Debug;

use serde_json::{Map, Value};

use crate::manifest::registry::KindId;

use super::ledger::Ledger;

/// A value a kind keeps in a [`KindMap`]: any plain data that can be cloned and compared.
pub(crate) trait Part: Any + Debug + Send + Sync {
    fn clone_part(&self) -> Box<dyn Part>;
    fn eq_part(&self, other: &dyn Part) -> bool;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any + Debug + Clone + PartialEq + Send + Sync> Part for T {
    fn clone_part(&self) -> Box<dyn Part> {
        Box::new(self.clone())
    }

    fn eq_part(&self, other: &dyn Part) -> bool {
        other.as_any().downcast_ref::<T>() == Some(self)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// One typed value per kind, owned and interpreted by that kind's module. Used for the observed
/// state and for the read plan.
#[derive(Debug, Default)]
pub struct KindMap(BTreeMap<KindId, Box<dyn Part>>);

impl KindMap {
    /// The part of `kind`, if it was stored and has type `T`.
    pub(crate) fn get<T: Part>(&self, kind: KindId) -> Option<&T> {
        (**self.0.get(&kind)?).as_any().downcast_ref()
    }

    #[cfg(test)]
    pub(crate) fn get_mut<T: Part>(&mut self, kind: KindId) -> Option<&mut T> {
        (**self.0.get_mut(&kind)?).as_any_mut().downcast_mut()
    }

    /// The part of `kind`, stored empty first if absent (or of another type).
    pub(crate) fn entry<T: Part + Default>(&mut self, kind: KindId) -> &mut T {
        let slot = self.0.entry(kind).or_insert_with(|| Box::new(T::default()));
        if !(**slot).as_any().is::<T>() {
            *slot = Box::new(T::default());
        }
        (**slot).as_any_mut().downcast_mut().expect("just checked")
    }

    pub(crate) fn insert<T: Part>(&mut self, kind: KindId, value: T) {
        self.0.insert(kind, Box::new(value));
    }

    pub(crate) fn insert_boxed(&mut self, kind: KindId, value: Box<dyn Part>) {
        self.0.insert(kind, value);
    }

    pub(crate) fn contains(&self, kind: KindId) -> bool {
        self.0.contains_key(&kind)
    }
}

impl Clone for KindMap {
    fn clone(&self) -> Self {
        KindMap(self.0.iter().map(|(k, v)| (*k, (**v).clone_part())).collect())
    }
}

impl PartialEq for KindMap {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(&other.0)
                .all(|((ka, a), (kb, b))| ka == kb && (**a).eq_part(&**b))
    }
}

/// Everything read from the live instance for one plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// What each kind read, keyed by kind (absent: not read).
    pub kinds: KindMap,
    /// `GET /admin/variables/` (always read: it holds the ledger).
    pub global_variables: Option<Map<String, Value>>,
    /// The stack's ledger, parsed from the global variables; `None` when the stack has none.
    pub ledger: Option<Ledger>,
}

impl Observed {
    /// Whether a plan made from `other` is the plan made from this: the same state, except
    /// for the stack locks among the global variables, which change between two reads of a
    /// run that takes its lock, and which no plan manages (the `dssctl.` variables are
    /// reserved).
    pub(crate) fn plans_like(&self, other: &Observed) -> bool {
        fn without_locks(vars: &Option<Map<String, Value>>) -> Option<Vec<(&String, &Value)>> {
            vars.as_ref().map(|v| {
                v.iter()
                    .filter(|(k, _)| !k.starts_with(super::ledger::LOCK_PREFIX))
                    .collect()
            })
        }
        self.kinds == other.kinds
            && self.ledger == other.ledger
            && without_locks(&self.global_variables) == without_locks(&other.global_variables)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_typed_cloned_and_compared() {
        let id = crate::kinds::group::ID;
        let mut a = KindMap::default();
        assert!(a.get::<u32>(id).is_none());
        *a.entry::<u32>(id) += 2;
        assert_eq!(a.get::<u32>(id), Some(&2));
        assert!(a.get::<String>(id).is_none());
        let b = a.clone();
        assert_eq!(a, b);
        a.insert(id, 3u32);
        assert_ne!(a, b);
    }

    #[test]
    fn a_state_plans_like_another_whatever_the_stack_locks() {
        let vars = |pairs: &[(&str, Value)]| Observed {
            global_variables: Some(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()),
            ..Observed::default()
        };
        let first = vars(&[("team", Value::from("a"))]);
        let locked = vars(&[
            ("team", Value::from("a")),
            ("dssctl.lock.prod", serde_json::json!({"holder": "me"})),
        ]);
        assert!(locked.plans_like(&first) && first.plans_like(&locked));
        // Any other variable, a kind's state or the ledger makes it another state.
        assert!(!vars(&[("team", Value::from("b"))]).plans_like(&first));
        assert!(!vars(&[("team", Value::from("a")), ("dssctl.other", Value::from(1))]).plans_like(&first));
        let mut with_kind = first.clone();
        with_kind.kinds.insert(crate::kinds::group::ID, 1u32);
        assert!(!with_kind.plans_like(&first));
        let mut with_ledger = first.clone();
        with_ledger.ledger = Some(Ledger::new());
        assert!(!with_ledger.plans_like(&first));
    }
}
