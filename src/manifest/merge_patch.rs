//! JSON merge patch (RFC 7386) on YAML node trees: what an Environment's `patches` do to the
//! manifest they target. A mapping in the patch merges key by key, `null` removes a key, and
//! anything else (a scalar, a list) replaces the target's value whole. Working on nodes keeps
//! the positions: what the patch brings is located in the patch, the rest where it was written.

use super::node::{Node, NodeValue};

/// Applies `patch` to `target` (RFC 7386 `MergePatch(Target, Patch)`).
pub(crate) fn merge_patch(target: &mut Node, patch: &Node) {
    let NodeValue::Map(patch_entries) = &patch.value else {
        *target = patch.clone();
        return;
    };
    if !matches!(target.value, NodeValue::Map(_)) {
        // RFC 7386: a target that is not an object is replaced by an empty one first.
        *target = Node {
            value: NodeValue::Map(Vec::new()),
            pos: patch.pos,
            raw: None,
            byte_span: None,
        };
    }
    let NodeValue::Map(entries) = &mut target.value else {
        return;
    };
    for (key, value) in patch_entries {
        let name = key.key_text();
        let existing = entries.iter().position(|(k, _)| k.key_text() == name);
        match (existing, &value.value) {
            (Some(i), NodeValue::Null) => {
                entries.remove(i);
            }
            (None, NodeValue::Null) => {}
            (Some(i), _) => merge_patch(&mut entries[i].1, value),
            (None, _) => {
                // `MergePatch(undefined, value)`: nulls inside a new mapping are dropped too.
                let mut new = Node {
                    value: NodeValue::Null,
                    pos: value.pos,
                    raw: None,
                    byte_span: None,
                };
                merge_patch(&mut new, value);
                entries.push((key.clone(), new));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::manifest::node::Pos;

    /// A node tree of a JSON value (positions do not matter to these tests).
    fn node(value: &Value) -> Node {
        let value = match value {
            Value::Null => NodeValue::Null,
            Value::Bool(b) => NodeValue::Bool(*b),
            Value::Number(n) => n.as_i64().map_or_else(
                || NodeValue::Float(n.as_f64().unwrap_or(0.0)),
                |i| NodeValue::Int(i.into()),
            ),
            Value::String(s) => NodeValue::Str(s.clone()),
            Value::Array(items) => NodeValue::Seq(items.iter().map(node).collect()),
            Value::Object(map) => NodeValue::Map(
                map.iter()
                    .map(|(k, v)| (node(&Value::String(k.clone())), node(v)))
                    .collect(),
            ),
        };
        Node {
            value,
            pos: Pos::default(),
            raw: None,
            byte_span: None,
        }
    }

    fn apply(target: &Value, patch: &Value) -> Value {
        let mut t = node(target);
        merge_patch(&mut t, &node(patch));
        t.to_json()
    }

    /// The examples of RFC 7386, appendix A.
    #[test]
    fn the_rfc_examples() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": "b", "b": "c"}), json!({"a": null}), json!({"b": "c"})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
            (json!([1, 2]), json!({"a": "b", "c": null}), json!({"a": "b"})),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (target, patch, expected) in cases {
            assert_eq!(apply(&target, &patch), expected, "{target} + {patch}");
        }
    }

    #[test]
    fn keys_keep_their_order_and_new_ones_come_last() {
        let mut t = node(&json!({"a": 1}));
        if let NodeValue::Map(entries) = &mut t.value {
            entries.push((node(&json!("z")), node(&json!(2))));
            entries.push((node(&json!("m")), node(&json!(3))));
        }
        merge_patch(&mut t, &node(&json!({"z": 9, "b": 1})));
        let NodeValue::Map(entries) = &t.value else {
            panic!("a mapping")
        };
        let keys: Vec<String> = entries.iter().map(|(k, _)| k.key_text()).collect();
        assert_eq!(keys, ["a", "z", "m", "b"]);
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-5i64..5).prop_map(Value::from),
            "[a-c]{0,2}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::btree_map("[a-d]", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// A patch applied twice gives what it gives once: applying an Environment is stable.
        #[test]
        fn applying_twice_equals_once(target in json_value(), patch in json_value()) {
            let once = apply(&target, &patch);
            prop_assert_eq!(apply(&once, &patch), once);
        }

        /// Every key the patch sets (to something other than null) has the patch's value.
        #[test]
        fn the_patch_wins_where_it_speaks(target in json_value(), patch in json_value()) {
            let result = apply(&target, &patch);
            if let Value::Object(p) = &patch {
                for (k, v) in p {
                    if !v.is_null() && !v.is_object() {
                        prop_assert_eq!(&result[k], v);
                    }
                }
            } else {
                prop_assert_eq!(result, patch);
            }
        }
    }
}
