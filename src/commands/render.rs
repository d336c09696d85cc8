//! `dssctl render`: the manifests an entry point amounts to, after its Environment's values
//! and patches, printed for review the way `kustomize build` prints an overlay. Offline; the
//! documents keep their include order and their keys the order they were written in; secret
//! references are printed as written (`{fromEnv: NAME}`), never resolved.

use std::path::PathBuf;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::error::{Error, Outcome};
use crate::manifest::load::ExpandedDocument;
use crate::manifest::node::{Node, NodeValue};

/// `dssctl render`.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// An Environment's directory or file, or manifest files and directories; default `.`.
    pub paths: Vec<PathBuf>,
    /// Output format: multi-document YAML, or a JSON array of the documents.
    #[arg(long, value_enum, default_value_t = RenderFormat::Yaml)]
    pub format: RenderFormat,
}

/// How `dssctl render` writes the documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RenderFormat {
    Yaml,
    Json,
}

pub(super) fn render(args: RenderArgs) -> Result<Outcome, Error> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths
    };
    let loaded = crate::manifest::render_paths(&paths).map_err(Error::InvalidManifests)?;
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    crate::output::print(&render_documents(&loaded.documents, args.format))?;
    Ok(Outcome::Success)
}

/// The documents as `format`: YAML documents each preceded by `# Source: FILE:LINE`, or a
/// pretty JSON array.
pub(crate) fn render_documents(documents: &[ExpandedDocument], format: RenderFormat) -> String {
    match format {
        RenderFormat::Json => {
            let all: Vec<serde_json::Value> = documents.iter().map(|d| d.doc.to_json()).collect();
            let mut text = serde_json::to_string_pretty(&all).unwrap_or_default();
            text.push('\n');
            text
        }
        RenderFormat::Yaml => {
            let mut text = String::new();
            for d in documents {
                text.push_str("---\n");
                text.push_str(&format!("# Source: {}:{}\n", d.file.display(), d.line));
                match serde_saphyr::to_string(&Ordered(&d.doc)) {
                    Ok(yaml) => text.push_str(&yaml),
                    // Every node is plain data; still, never lose a document silently.
                    Err(err) => text.push_str(&format!("# cannot be written as YAML: {err}\n")),
                }
                if !text.ends_with('\n') {
                    text.push('\n');
                }
            }
            text
        }
    }
}

/// A node serialized with its mapping keys in the order they were written (the JSON value
/// would sort them).
struct Ordered<'a>(&'a Node);

impl Serialize for Ordered<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0.value {
            NodeValue::Null => s.serialize_unit(),
            NodeValue::Bool(b) => s.serialize_bool(*b),
            NodeValue::Int(i) => match i64::try_from(*i) {
                Ok(v) => s.serialize_i64(v),
                Err(_) => s.serialize_str(&i.to_string()),
            },
            NodeValue::Float(f) => s.serialize_f64(*f),
            NodeValue::Str(text) => s.serialize_str(text),
            NodeValue::Seq(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Ordered(item))?;
                }
                seq.end()
            }
            NodeValue::Map(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(&k.key_text(), &Ordered(v))?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::node::parse_documents;

    fn documents(yaml: &str) -> Vec<ExpandedDocument> {
        parse_documents(yaml)
            .unwrap()
            .into_iter()
            .map(|doc| ExpandedDocument {
                file: "base/p.yaml".into(),
                line: doc.pos.line,
                doc,
            })
            .collect()
    }

    #[test]
    fn yaml_keeps_the_written_order_and_reads_back_the_same() {
        let source = "kind: Project\nmetadata: {name: P}\nspec:\n  zeta: \"on\"\n  alpha: [1, 2.5, true, null]\n  text: \"a: b\"\n---\nkind: Group\nmetadata: {name: g}\n";
        let docs = documents(source);
        let text = render_documents(&docs, RenderFormat::Yaml);
        assert!(
            text.starts_with("---\n# Source: base/p.yaml:1\nkind: Project\n"),
            "{text}"
        );
        assert!(text.contains("# Source: base/p.yaml:8\n"), "{text}");
        assert!(text.find("zeta").unwrap() < text.find("alpha").unwrap(), "{text}");
        let again: Vec<serde_json::Value> = parse_documents(&text)
            .unwrap()
            .iter()
            .map(Node::to_json)
            .collect();
        let before: Vec<serde_json::Value> = docs.iter().map(|d| d.doc.to_json()).collect();
        assert_eq!(again, before);
    }

    #[test]
    fn json_is_an_array_of_the_documents() {
        let text = render_documents(&documents("a: 1\n---\nb: {fromEnv: X}\n"), RenderFormat::Json);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value, serde_json::json!([{"a": 1}, {"b": {"fromEnv": "X"}}]));
    }
}
