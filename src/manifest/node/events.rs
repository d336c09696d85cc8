//! The fast path of [`super::parse_documents`]: the node tree built straight from the YAML
//! parser's events, for the documents manifests are made of.
//!
//! serde-saphyr's general deserializer (the slow path) spent about half of a large repository's
//! loading time (instructions counted) on bookkeeping this tree never needs. This builder reads the same
//! parser's events and gives the same tree (values, `line:column` positions, byte spans) for
//! the plain subset of YAML: mappings, sequences, and scalars without anchors, aliases, tags
//! or merge keys. On anything else, it gives up and the slow path parses the whole text, so
//! that every error message, and every rarer construct, stays the slow path's.
//!
//! A plain scalar is resolved as the slow path resolves it (YAML 1.2 core schema with its
//! options there): the spellings of null and of the booleans, and plain decimal numbers, here;
//! any other scalar that could be a number (`0x1F`, `1e5`, `+1`, `.inf`) is handed to the slow
//! path alone, and a mapping key that could be anything but a string gives the whole text up.
//! `tests` checks both paths agree on every construct here.

use std::borrow::Cow;

use granit_parser::{Event, Parser, ScalarStyle, Span};

use super::{Node, NodeValue, Pos};

/// Nesting beyond which the slow path takes over (and applies its own limit of 64).
const MAX_DEPTH: usize = 60;
/// Events beyond which the slow path takes over (its budget counts them too).
const MAX_EVENTS: usize = 900_000;
/// Texts longer than this are the slow path's (its budget bounds the scalars' bytes).
const MAX_TEXT_BYTES: usize = 32 * 1024 * 1024;

/// The documents of `text`, or `None` when the slow path must parse it (see the module
/// documentation). Empty and `null` documents are skipped, as the slow path skips them.
pub(super) fn parse(text: &str) -> Option<Vec<Node>> {
    if text.len() > MAX_TEXT_BYTES {
        return None;
    }
    let options = granit_parser::options! {
        emit_comments: false,
    };
    let mut docs = Vec::new();
    let mut open: Vec<Open> = Vec::new();
    for (count, item) in Parser::new_from_str_with_options(text, options).enumerate() {
        if count > MAX_EVENTS {
            return None;
        }
        let (event, span) = item.ok()?;
        let node = match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentStart(..) => continue,
            Event::DocumentEnd => {
                if !open.is_empty() {
                    return None;
                }
                continue;
            }
            Event::Scalar(value, style, 0, None) => {
                let in_key = matches!(open.last(), Some(Open::Map { key: None, .. }));
                let value = if in_key {
                    key_value(value, style)?
                } else {
                    scalar_value(value, style)?
                };
                node_at(value, &span)
            }
            Event::SequenceStart(_, 0, None) | Event::MappingStart(_, 0, None) => {
                // A collection as a mapping key is the slow path's.
                if open.len() >= MAX_DEPTH || matches!(open.last(), Some(Open::Map { key: None, .. })) {
                    return None;
                }
                let start = node_at(NodeValue::Null, &span);
                open.push(if matches!(event, Event::MappingStart(..)) {
                    Open::Map {
                        start,
                        entries: Vec::new(),
                        key: None,
                    }
                } else {
                    Open::Seq {
                        start,
                        items: Vec::new(),
                    }
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match open.pop()? {
                Open::Seq { mut start, items } => {
                    start.value = NodeValue::Seq(items);
                    start
                }
                Open::Map {
                    mut start,
                    entries,
                    key: None,
                } => {
                    start.value = NodeValue::Map(entries);
                    start
                }
                Open::Map { key: Some(_), .. } => return None,
            },
            // Anchors, aliases, tags: the slow path's.
            _ => return None,
        };
        match open.last_mut() {
            None => {
                if node.value != NodeValue::Null {
                    docs.push(node);
                }
            }
            Some(Open::Seq { items, .. }) => items.push(node),
            Some(Open::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
    if !open.is_empty() {
        return None;
    }
    docs.iter_mut().for_each(|doc| super::fill_raw(doc, text));
    Some(docs)
}

/// A collection whose end event has not come yet.
enum Open {
    Seq {
        start: Node,
        items: Vec<Node>,
    },
    Map {
        start: Node,
        entries: Vec<(Node, Node)>,
        /// The key read, whose value comes next.
        key: Option<Node>,
    },
}

/// A node starting where the event `span` starts, as the slow path places it.
fn node_at(value: NodeValue, span: &Span) -> Node {
    let byte_span = span
        .start
        .byte_offset()
        .zip(span.end.byte_offset())
        .map(|(start, end)| (start, end.saturating_sub(start)));
    Node {
        value,
        pos: Pos {
            line: span.start.line(),
            column: span.start.col() + 1,
        },
        raw: None,
        byte_span,
    }
}

/// A mapping key: a string for sure, else `None` (a key that may resolve to another type, and
/// the merge key `<<`, are the slow path's).
fn key_value(value: Cow<'_, str>, style: ScalarStyle) -> Option<NodeValue> {
    if value == "<<" {
        return None;
    }
    if style != ScalarStyle::Plain {
        return Some(NodeValue::Str(value.into_owned()));
    }
    match resolve_plain(&value) {
        Plain::Str => Some(NodeValue::Str(value.into_owned())),
        _ => None,
    }
}

/// A scalar value, resolved as the slow path resolves it; `None` when it cannot be.
fn scalar_value(value: Cow<'_, str>, style: ScalarStyle) -> Option<NodeValue> {
    if style != ScalarStyle::Plain {
        return Some(NodeValue::Str(value.into_owned()));
    }
    Some(match resolve_plain(&value) {
        Plain::Null => NodeValue::Null,
        Plain::Bool(b) => NodeValue::Bool(b),
        Plain::Int(i) => NodeValue::Int(i),
        Plain::Float(f) => NodeValue::Float(f),
        Plain::Str => NodeValue::Str(value.into_owned()),
        Plain::Other => resolve_alone(&value)?,
    })
}

/// What a plain scalar is, by the YAML 1.2 core schema as the slow path applies it.
#[derive(Debug, PartialEq)]
enum Plain {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str,
    /// Maybe a number of another spelling: for the slow path to say.
    Other,
}

fn resolve_plain(text: &str) -> Plain {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Plain::Null,
        "true" | "True" | "TRUE" => return Plain::Bool(true),
        "false" | "False" | "FALSE" => return Plain::Bool(false),
        _ => {}
    }
    // Every spelling of a number starts with a digit, a sign or a dot (`.inf`); alphabetic
    // ones (`inf`, `nan`) are strings in YAML 1.2.
    if !text.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '+' | '-' | '.')) {
        return Plain::Str;
    }
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (digits, None),
    };
    let decimal = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // A leading zero (`0755`) is a string there; `0` and `0.5` are numbers.
    let canonical_whole = decimal(whole) && (whole == "0" || !whole.starts_with('0'));
    match fraction {
        None if canonical_whole && whole.len() <= 18 => {
            text.parse::<i64>().map_or(Plain::Other, |i| Plain::Int(i.into()))
        }
        Some(fraction) if canonical_whole && decimal(fraction) && text.len() <= 24 => {
            text.parse::<f64>().map_or(Plain::Other, Plain::Float)
        }
        _ => Plain::Other,
    }
}

/// A plain scalar of a rarer numeric spelling, resolved by the slow path on its own: its
/// resolution depends only on its text, which parses alone as the same one plain scalar when
/// it has only these characters. `None`: the slow path takes the whole text (and reports what
/// is wrong, such as `1e999`).
fn resolve_alone(text: &str) -> Option<NodeValue> {
    if !text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.' | b'_' | b':'))
    {
        return None;
    }
    let mut docs = super::parse_with_deserializer(text).ok()?;
    match docs.pop().map(|node| node.value) {
        Some(NodeValue::Seq(_) | NodeValue::Map(_)) => None,
        Some(value) if docs.is_empty() => Some(value),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Both paths on `text`: what the slow one parses, the fast one must parse too and give
    /// the same; what the slow one refuses (`.inf`: a non-finite number), the fast one must
    /// leave to it, so that its error is the one reported.
    fn agree(text: &str) {
        match (parse(text), super::super::parse_with_deserializer(text)) {
            (Some(fast), Ok(slow)) => assert_eq!(fast, slow, "on {text:?}"),
            (None, Err(_)) => {}
            (None, Ok(_)) => panic!("the fast path gave up on {text:?}"),
            (Some(_), Err(e)) => panic!("the fast path parsed {text:?}, which the slow one refuses: {e}"),
        }
    }

    /// What the fast path parses, it parses as the slow one does; what the slow one refuses,
    /// the fast one leaves to it. (It may leave valid texts too: a numeric key.)
    fn consistent(text: &str) {
        if let Some(fast) = parse(text) {
            match super::super::parse_with_deserializer(text) {
                Ok(slow) => assert_eq!(fast, slow, "on {text:?}"),
                Err(e) => panic!("the fast path parsed {text:?}, which the slow one refuses: {e}"),
            }
        }
    }

    /// The fast path gives `text` up to the slow one.
    fn gives_up(text: &str) {
        assert!(parse(text).is_none(), "the fast path parsed {text:?}");
    }

    #[test]
    fn block_and_flow_collections_match_the_slow_path() {
        agree("a: 1\nb:\n  - x\n  - {c: yes, d: [1, 2, {e: f}]}\n");
        agree(
            "apiVersion: dssctl/v1\nkind: Project\nmetadata: {name: P0000}\nspec:\n  label: Project 0\n  description: |\n    Two\n    lines\n  tags: [bench, team_0]\n  custom: {kv: {costCenter: \"1000\"}}\n",
        );
        agree("- a\n- - b\n  - c\n- {}\n- []\n-\n- k: v\n  l: w\n");
        agree("top:\n  nested:\n    deeper:\n      - one: 1\n        two: 2.5\n");
        agree("x: >\n  folded\n  text\ny: 'single ''quoted'''\nz: \"double \\\"quoted\\\" \\u00e9\"\n");
        agree("empty:\nnull_value: null\ntilde: ~\n");
        agree("# a comment\nk: v # trailing\n# another\n");
        agree("multi: plain text\n  on two lines\n");
        agree("\u{feff}k: v\n");
        agree("k: \"unicode é ü 日本\"\nü: x\n");
        agree("? complex\n: value\n");
    }

    #[test]
    fn documents_match_the_slow_path() {
        agree("a: 1\n---\nb: 2\n");
        agree("---\na: 1\n...\n---\n---\nnull\n---\n~\n---\nb: 2\n");
        agree("%YAML 1.2\n---\na: 1\n");
        agree("");
        agree("# only a comment\n");
        agree("just a scalar\n");
        agree("---\n- list document\n");
    }

    #[test]
    fn scalars_resolve_as_in_the_slow_path() {
        for value in [
            "0",
            "-0",
            "7",
            "-12",
            "123456789012345678",
            "1234567890123456789012",
            "0.5",
            "-0.25",
            "3.11",
            "10.0",
            "1.",
            ".5",
            "1e5",
            "1E-3",
            "-1.5e+3",
            "+1",
            "+1.5",
            "0x1F",
            "0o17",
            "0b101",
            "0X1F",
            "0755",
            "-0755",
            "1_000",
            ".inf",
            "-.Inf",
            "+.INF",
            ".nan",
            ".NaN",
            "-.nan",
            "inf",
            "nan",
            "infinity",
            "true",
            "True",
            "TRUE",
            "false",
            "yes",
            "no",
            "on",
            "off",
            "y",
            "n",
            "null",
            "Null",
            "NULL",
            "~",
            "1.2.3",
            "12:30",
            "2024-01-01",
            "v1",
            "-",
            "--",
            "-x",
            "-.",
            ".",
            "+",
            "1-2",
            "0.0.0.0",
            "1__0",
            "3.0_1",
        ] {
            agree(&format!("k: {value}\n"));
            agree(&format!("- {value}\n"));
            agree(&format!("f: [{value}]\n"));
        }
    }

    #[test]
    fn rarer_constructs_are_left_to_the_slow_path() {
        gives_up("base: &b {x: 1}\nitem: *b\n");
        gives_up("item:\n  <<: {x: 1}\n  y: 2\n");
        gives_up("k: !!str 12\n");
        gives_up("k: !custom v\n");
        gives_up("1: numeric key\n");
        gives_up("true: boolean key\n");
        gives_up("null: null key\n");
        gives_up("{a: 1}: mapping key\n");
        gives_up("k: 1e999\n");
        gives_up("k: [unclosed\n");
        gives_up("a: 1\na b\n");
    }

    #[test]
    fn deep_nesting_is_left_to_the_slow_path() {
        let deep = format!("{}1{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        gives_up(&deep);
        let shallow = format!("{}1{}", "[".repeat(MAX_DEPTH - 1), "]".repeat(MAX_DEPTH - 1));
        assert!(parse(&shallow).is_some());
        agree(&format!("{}1{}", "[".repeat(8), "]".repeat(8)));
    }

    /// A YAML text of nested mappings and sequences, in block or flow style, whose plain
    /// scalars and keys come from spellings that resolve to every type.
    fn yaml_tree() -> impl Strategy<Value = String> {
        const SCALARS: [&str; 24] = [
            "0",
            "-12",
            "3.5",
            "0755",
            "1_000",
            "0x1F",
            "1e3",
            "true",
            "False",
            "yes",
            "null",
            "~",
            "",
            "text",
            "two words",
            "'quoted'",
            "\"dq \\\" x\"",
            "12:30",
            "1.2.3",
            "-.inf",
            "é",
            "/a/b",
            "a#b",
            "v1",
        ];
        const KEYS: [&str; 12] = [
            "a", "b", "key", "\"1\"", "'x y'", "c", "d", "e", "f", "a", "1", "true",
        ];
        let leaf = proptest::sample::select(&SCALARS[..]).prop_map(str::to_string);
        leaf.prop_recursive(4, 32, 4, |inner| {
            let entries =
                proptest::collection::vec((proptest::sample::select(&KEYS[..]), inner.clone()), 0..4);
            let items = proptest::collection::vec(inner, 0..4);
            prop_oneof![
                entries.clone().prop_map(|e| {
                    let body: Vec<String> = e.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                    format!("{{{}}}", body.join(", "))
                }),
                items.clone().prop_map(|i| format!("[{}]", i.join(", "))),
                // Block style: each entry on its own line, nested values indented.
                entries.prop_map(|e| {
                    let mut out = String::new();
                    for (k, v) in e {
                        out.push_str(&format!("\n{k}:{}", indent_block(&v)));
                    }
                    if out.is_empty() { "{}".to_string() } else { out }
                }),
                items.prop_map(|i| {
                    let mut out = String::new();
                    for v in i {
                        out.push_str(&format!("\n-{}", indent_block(&v)));
                    }
                    if out.is_empty() { "[]".to_string() } else { out }
                }),
            ]
        })
    }

    /// A value after `key:` or `-`: a flow value on the same line, a block one indented below.
    fn indent_block(value: &str) -> String {
        if value.starts_with('\n') {
            value.replace('\n', "\n  ")
        } else {
            format!(" {value}")
        }
    }

    proptest::proptest! {
        #[test]
        fn both_paths_agree_on_generated_documents(docs in proptest::collection::vec(yaml_tree(), 1..3)) {
            let text: Vec<String> = docs.iter().map(|d| format!("---\nroot:{}\n", indent_block(d))).collect();
            consistent(&text.concat());
        }
    }

    #[test]
    fn duplicate_keys_reach_the_tree() {
        agree("a: 1\nb: {c: 1, c: 2}\na: 3\n");
    }
}
