//! A YAML document as a tree of nodes that remember their `line:column`, built from the YAML
//! parser's events ([`events`]), or by serde-saphyr's deserializer for the rarer constructs
//! and for every error. The loader validates this tree (so that every mistake in a document is reported
//! at once, each at its own place) before turning it into the typed kinds.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

mod events;

/// A 1-based `line:column` position in a manifest file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    fn from_location(location: &serde_saphyr::Location) -> Pos {
        Pos {
            line: usize::try_from(location.line()).unwrap_or(usize::MAX),
            column: usize::try_from(location.column()).unwrap_or(usize::MAX),
        }
    }
}

/// One YAML node and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: NodeValue,
    pub pos: Pos,
    /// The source text of a number or boolean scalar (`1.10`, `0x1F`), so that messages quote
    /// what the user wrote rather than the parsed value.
    pub raw: Option<String>,
    /// Byte offset and length of the node in the source, when known.
    pub byte_span: Option<(usize, usize)>,
}

/// The value of a node. Mapping entries keep their order and their keys' positions.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The entry of a mapping node whose key is the string `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, value)| value)
    }

    /// The key node and value node of the entry `key` of a mapping node.
    pub(crate) fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.value {
            NodeValue::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(&k.value, NodeValue::Str(s) if s == key))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a user reads it: a string quoted (and cut when long), anything else as
    /// [`Node::describe`] says it.
    pub(crate) fn shown(&self) -> String {
        match &self.value {
            NodeValue::Str(s) => quote_short(s),
            _ => self.describe(),
        }
    }

    /// What the node is, as said in error messages: `a string "abc"`, `a number 12`, ...
    pub(crate) fn describe(&self) -> String {
        match &self.value {
            NodeValue::Null => "null (an empty value)".to_string(),
            NodeValue::Bool(b) => format!("the boolean {}", self.raw.as_deref().unwrap_or(&b.to_string())),
            NodeValue::Int(i) => format!("the number {}", self.raw.as_deref().unwrap_or(&i.to_string())),
            NodeValue::Float(f) => format!("the number {}", self.raw.as_deref().unwrap_or(&f.to_string())),
            NodeValue::Str(s) => format!("the string {}", quote_short(s)),
            NodeValue::Seq(_) => "a list".to_string(),
            NodeValue::Map(_) => "a mapping".to_string(),
        }
    }

    /// The JSON value of this node, for typed deserialization once the tree is valid.
    /// Mapping keys that are not strings are written with their scalar text.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Int(i) => {
                if let Ok(v) = i64::try_from(*i) {
                    Value::from(v)
                } else if let Ok(v) = u64::try_from(*i) {
                    Value::from(v)
                } else {
                    // Beyond 64 bits: DSS (Java) cannot hold it as an integer either.
                    Value::String(i.to_string())
                }
            }
            NodeValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(f.to_string())),
            NodeValue::Str(s) => Value::String(s.clone()),
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => {
                Value::Object(entries.iter().map(|(k, v)| (k.key_text(), v.to_json())).collect())
            }
        }
    }

    /// Moves the node (and its children) down by `lines` lines and `bytes` bytes: a section's
    /// positions become the file's.
    fn shift(&mut self, lines: usize, bytes: usize) {
        self.pos.line += lines;
        if let Some((start, _)) = &mut self.byte_span {
            *start += bytes;
        }
        match &mut self.value {
            NodeValue::Seq(items) => items.iter_mut().for_each(|item| item.shift(lines, bytes)),
            NodeValue::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
                k.shift(lines, bytes);
                v.shift(lines, bytes);
            }),
            _ => {}
        }
    }

    /// Every key repeated in a mapping of this tree: `(first, repeat)` key nodes.
    pub(crate) fn duplicate_keys(&self) -> Vec<(&Node, &Node)> {
        let mut found = Vec::new();
        self.collect_duplicate_keys(&mut found);
        found
    }

    fn collect_duplicate_keys<'a>(&'a self, found: &mut Vec<(&'a Node, &'a Node)>) {
        match &self.value {
            // A small mapping (nearly all of them) is searched as it is: hashing its keys cost
            // more than comparing them.
            NodeValue::Map(entries) if entries.len() <= SMALL_MAPPING => {
                for (i, (key, value)) in entries.iter().enumerate() {
                    let text = key_text_of(key);
                    if let Some((earlier, _)) = entries[..i].iter().find(|(k, _)| key_text_of(k) == text) {
                        found.push((earlier, key));
                    }
                    value.collect_duplicate_keys(found);
                }
            }
            NodeValue::Map(entries) => {
                let mut first: std::collections::HashMap<Cow<'a, str>, &Node> =
                    std::collections::HashMap::with_capacity(entries.len());
                for (key, value) in entries {
                    match first.entry(key_text_of(key)) {
                        Entry::Occupied(earlier) => found.push((earlier.get(), key)),
                        Entry::Vacant(slot) => {
                            slot.insert(key);
                        }
                    }
                    value.collect_duplicate_keys(found);
                }
            }
            NodeValue::Seq(items) => items.iter().for_each(|item| item.collect_duplicate_keys(found)),
            _ => {}
        }
    }

    /// The text of a mapping key (YAML allows keys of any type; JSON and DSS only strings).
    pub(crate) fn key_text(&self) -> String {
        match &self.value {
            NodeValue::Str(s) => s.clone(),
            NodeValue::Null => "null".to_string(),
            NodeValue::Bool(b) => b.to_string(),
            NodeValue::Int(i) => i.to_string(),
            NodeValue::Float(f) => f.to_string(),
            NodeValue::Seq(_) | NodeValue::Map(_) => self.to_json().to_string(),
        }
    }
}

/// Mappings up to this many entries are searched for repeated keys without hashing.
const SMALL_MAPPING: usize = 16;

/// The text of a mapping key, borrowed when it is a string (nearly all are).
fn key_text_of(key: &Node) -> Cow<'_, str> {
    match &key.value {
        NodeValue::Str(s) => Cow::Borrowed(s.as_str()),
        _ => Cow::Owned(key.key_text()),
    }
}

/// A string for an error message: quoted, escaped, and cut when long so that a huge value
/// never floods the output.
pub(crate) fn quote_short(s: &str) -> String {
    const MAX: usize = 60;
    let mut chars = s.chars();
    let head: String = chars.by_ref().take(MAX).collect();
    let escaped = format!("{head:?}");
    if chars.next().is_some() {
        format!(
            "{}...\" ({} characters)",
            &escaped[..escaped.len() - 1],
            s.chars().count()
        )
    } else {
        escaped
    }
}

/// Parses every document of a YAML text. Empty and `null` documents are skipped. The error is
/// serde-saphyr's (syntax, duplicate key, alias or size limits), with its location.
pub(crate) fn parse_documents(text: &str) -> Result<Vec<Node>, serde_saphyr::Error> {
    match events::parse(text) {
        Some(docs) => Ok(docs),
        None => parse_with_deserializer(text),
    }
}

/// [`parse_documents`] by serde-saphyr's general deserializer: the slow path, for what the
/// fast path ([`events`]) leaves to it.
fn parse_with_deserializer(text: &str) -> Result<Vec<Node>, serde_saphyr::Error> {
    let options = serde_saphyr::options! {
        // YAML 1.2: `yes`/`no`/`on`/`off` are strings; the validator then says to write
        // true/false where a boolean is expected, instead of silently flipping a flag.
        strict_booleans: true,
        // Keep `0755` and `1_000` as written (strings) rather than guessing a number.
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        // Snippets are rendered by our own diagnostics, one line each.
        with_snippet: false,
        budget: Some(budget()),
        // Repeated keys reach the tree, where the loader reports each with both places
        // (the parser alone would stop at the first one, naming only the second place).
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
    };
    let docs: Vec<Spanned<NodeValue>> = serde_saphyr::from_multiple_with_options(text, options)?;
    Ok(docs
        .into_iter()
        .map(|doc| {
            let mut node = into_node(doc);
            fill_raw(&mut node, text);
            node
        })
        .collect())
}

/// The part of a file from one document marker (`---` at the start of a line) to the next,
/// parsed on its own: a syntax error in one document then hides nothing of the others. YAML
/// forbids a line starting with `---` inside a document's content, so the cut is always sound.
pub(crate) struct Section {
    /// The file line the section starts on (1-based).
    pub first_line: usize,
    /// The documents, with file positions; or the parser's error, with section positions
    /// (add `first_line - 1` to its line).
    pub result: Result<Vec<Node>, serde_saphyr::Error>,
}

/// Parses a file: in one pass when it is valid YAML, else section by section (see
/// [`Section`]) so that every document's own mistakes are still found.
pub(crate) fn parse_sections(text: &str) -> Vec<Section> {
    match parse_documents(text) {
        Ok(docs) => vec![Section {
            first_line: 1,
            result: Ok(docs),
        }],
        Err(_) => split_sections(text),
    }
}

fn split_sections(text: &str) -> Vec<Section> {
    let mut starts = vec![(0usize, 1usize)];
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let is_marker = line
            .strip_prefix("---")
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n']));
        if is_marker && offset > 0 {
            starts.push((offset, index + 1));
        }
        offset += line.len();
    }
    // What comes before the first marker may be only comments and directives (`%YAML 1.2`),
    // which belong to the first document.
    if starts.len() > 1 {
        let head = &text[..starts[1].0];
        let empty = head.lines().all(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#') || t.starts_with('%')
        });
        if empty {
            starts.remove(1);
        }
    }
    let mut sections = Vec::with_capacity(starts.len());
    for (i, &(start, first_line)) in starts.iter().enumerate() {
        let end = starts.get(i + 1).map_or(text.len(), |&(next, _)| next);
        let result = parse_documents(&text[start..end]).map(|mut docs| {
            for doc in &mut docs {
                doc.shift(first_line - 1, start);
            }
            docs
        });
        sections.push(Section { first_line, result });
    }
    sections
}

/// Limits on what one file may expand to. Manifests are small, but a file exported from a large
/// instance can hold thousands of documents; nesting stays shallow, which protects the stack,
/// and alias expansion stays bounded (the "billion laughs" input).
fn budget() -> serde_saphyr::Budget {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = 64;
    budget.max_documents = 100_000;
    budget.max_nodes = 5_000_000;
    budget
}

fn into_node(spanned: Spanned<NodeValue>) -> Node {
    let span = spanned.referenced.span();
    let byte_span = span
        .byte_offset()
        .zip(span.byte_len())
        .and_then(|(start, len)| usize::try_from(start).ok().zip(usize::try_from(len).ok()));
    Node {
        pos: Pos::from_location(&spanned.referenced),
        value: spanned.value,
        raw: None,
        byte_span,
    }
}

/// Records the source text of number and boolean scalars, once the whole text is parsed.
fn fill_raw(node: &mut Node, text: &str) {
    match &mut node.value {
        NodeValue::Bool(_) | NodeValue::Int(_) | NodeValue::Float(_) => {
            node.raw = node
                .byte_span
                .and_then(|(start, len)| text.get(start..start.checked_add(len)?))
                .map(str::trim)
                .filter(|s| !s.is_empty() && s.len() <= 64)
                .map(str::to_string);
        }
        NodeValue::Seq(items) => items.iter_mut().for_each(|item| fill_raw(item, text)),
        NodeValue::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            fill_raw(k, text);
            fill_raw(v, text);
        }),
        NodeValue::Null | NodeValue::Str(_) => {}
    }
}

impl<'de> Deserialize<'de> for NodeValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = NodeValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<NodeValue, E> {
        Ok(NodeValue::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<NodeValue, E> {
        Ok(NodeValue::Int(v.into()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<NodeValue, E> {
        Ok(NodeValue::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<NodeValue, E> {
        Ok(NodeValue::Int(v.into()))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<NodeValue, E> {
        Ok(match i128::try_from(v) {
            Ok(i) => NodeValue::Int(i),
            Err(_) => NodeValue::Str(v.to_string()),
        })
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<NodeValue, E> {
        Ok(NodeValue::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<NodeValue, E> {
        Ok(NodeValue::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<NodeValue, E> {
        Ok(NodeValue::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<NodeValue, E> {
        Ok(NodeValue::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<NodeValue, E> {
        Ok(NodeValue::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<NodeValue, E> {
        Ok(NodeValue::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<NodeValue, D::Error> {
        NodeValue::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<NodeValue>>()? {
            items.push(into_node(item));
        }
        Ok(NodeValue::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<NodeValue>>()? {
            let value = map.next_value::<Spanned<NodeValue>>()?;
            entries.push((into_node(key), into_node(value)));
        }
        Ok(NodeValue::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_positions_of_keys_and_values() {
        let docs = parse_documents("a: 1\nb:\n  - x\n  - {c: yes}\n---\nz: 0755\n").unwrap();
        assert_eq!(docs.len(), 2);
        let (bk, bv) = docs[0].entry("b").unwrap();
        assert_eq!(bk.pos, Pos { line: 2, column: 1 });
        let NodeValue::Seq(items) = &bv.value else {
            panic!("b is a list")
        };
        assert_eq!(items[1].pos.line, 4);
        let c = items[1].get("c").unwrap();
        assert_eq!(c.value, NodeValue::Str("yes".into()));
        assert_eq!(c.pos, Pos { line: 4, column: 9 });
        assert_eq!(docs[1].get("z").unwrap().value, NodeValue::Str("0755".into()));
    }

    #[test]
    fn duplicate_keys_are_found_with_both_places() {
        let doc = parse_documents("a: 1\nb: {c: 1, c: 2}\na: 3\n")
            .unwrap()
            .remove(0);
        let dups: Vec<(usize, usize)> = doc
            .duplicate_keys()
            .iter()
            .map(|(f, r)| (f.pos.line, r.pos.line))
            .collect();
        assert_eq!(dups, [(2, 2), (1, 3)]);
    }

    #[test]
    fn duplicate_keys_are_found_in_large_mappings_too() {
        let mut text: String = (0..40).map(|i| format!("k{i}: {i}\n")).collect();
        text.push_str("k3: again\n");
        let doc = parse_documents(&text).unwrap().remove(0);
        let dups: Vec<(usize, usize)> = doc
            .duplicate_keys()
            .iter()
            .map(|(f, r)| (f.pos.line, r.pos.line))
            .collect();
        assert_eq!(dups, [(4, 41)]);
    }

    #[test]
    fn merged_keys_are_not_duplicates() {
        let doc = parse_documents("base: &b {x: 1, y: 2}\nitem:\n  <<: *b\n  x: 3\n")
            .unwrap()
            .remove(0);
        assert!(doc.duplicate_keys().is_empty());
        assert_eq!(
            doc.get("item").unwrap().get("x").unwrap().value,
            NodeValue::Int(3)
        );
    }

    #[test]
    fn empty_documents_are_skipped() {
        assert!(parse_documents("").unwrap().is_empty());
        assert!(parse_documents("# only a comment\n").unwrap().is_empty());
        assert_eq!(parse_documents("---\n---\na: 1\n").unwrap().len(), 1);
    }

    #[test]
    fn sections_keep_file_positions_and_isolate_syntax_errors() {
        let text = "%YAML 1.2\n---\na: 1\n---\nb: [unclosed\n---\nc: |\n  --- not a marker\n  x\n";
        let sections = parse_sections(text);
        assert_eq!(
            sections.iter().map(|s| s.first_line).collect::<Vec<_>>(),
            [1, 4, 6]
        );
        let first = sections[0].result.as_ref().unwrap();
        assert_eq!(first[0].get("a").unwrap().pos.line, 3);
        assert!(sections[1].result.is_err());
        let third = sections[2].result.as_ref().unwrap();
        let (key, c) = third[0].entry("c").unwrap();
        assert_eq!(key.pos.line, 7);
        assert_eq!(c.value, NodeValue::Str("--- not a marker\nx\n".into()));
    }

    #[test]
    fn long_strings_are_cut_in_messages() {
        let long = "x".repeat(1000);
        let shown = quote_short(&long);
        assert!(shown.len() < 100, "{shown}");
        assert!(shown.contains("1000 characters"));
        assert_eq!(quote_short("ab\"c"), "\"ab\\\"c\"");
    }
}
