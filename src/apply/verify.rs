//! Read-back verification: after a PUT of a document where DSS may drop or rewrite a managed
//! field ([`read_back`]), apply reads the document again and compares what DSS kept with what
//! was sent, through the managed fields of the write only (the same view the
//! plan compares, so that fields dssctl does not manage never raise a warning). A difference is
//! the source of a perpetual diff — DSS dropped or rewrote a managed field — and is reported as
//! a warning naming the field. Secret fields are compared by presence only (the view holds a
//! boolean there), so no secret value can reach a warning.

use serde_json::Value;

use crate::plan::diff::managed_view;
use crate::plan::{SubDoc, Write};

/// Whether a PUT of sub-document `sub` is read back and verified.
///
/// Read back: the documents whose managed content DSS interprets by type and may drop or
/// rewrite without an error — a dataset's settings (`params` and `formatParams` depend on the
/// dataset and format types), the definitions of users, groups and connections (connection
/// `params` per connection type, secrets re-encrypted; group permission flags that this DSS
/// version may not know), and the global variables. Not read back: metadata, project
/// permissions, project variables and dataset schemas, which DSS stores as sent (labels, tags,
/// free-form key-values, grants of known flags, columns of the types the manifest schema
/// allows); these are most of an apply's writes (every project and dataset gets a metadata
/// write for the stamp), and a read-back doubles their cost. A drop there would still show as
/// a difference in the next plan.
pub(crate) fn read_back(sub: SubDoc) -> bool {
    !matches!(
        sub,
        SubDoc::METADATA | SubDoc::PERMISSIONS | SubDoc::VARIABLES | SubDoc::SCHEMA
    )
}

/// The managed fields of `write` whose value in `back` (the read-back) differs from `sent`.
pub(crate) fn verify(write: &Write, sent: &Value, back: &Value) -> Vec<String> {
    let want = managed_view(write.subdocument, sent, &write.overlay, &write.secrets);
    let got = managed_view(write.subdocument, back, &write.overlay, &write.secrets);
    let mut out = Vec::new();
    diff(&want, &got, String::new(), &mut out);
    out
}

fn diff(want: &Value, got: &Value, path: String, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match g.get(k) {
                    Some(gv) => diff(wv, gv, p, out),
                    None if wv.is_null() => {}
                    None => out.push(format!("{p}: sent {}, DSS dropped it", short(wv))),
                }
            }
        }
        (w, g) if w == g => {}
        (w, Value::Null) => out.push(format!("{path}: sent {}, DSS dropped it", short(w))),
        (w, g) => out.push(format!("{path}: sent {}, DSS kept {}", short(w), short(g))),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        let cut: String = s.chars().take(77).collect();
        format!("{cut}...")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn write(overlay: Value) -> Write {
        Write {
            subdocument: SubDoc::METADATA,
            overlay,
            secrets: Vec::new(),
            fingerprint: None,
            changes: Vec::new(),
        }
    }

    #[test]
    fn typed_documents_are_read_back_and_stored_as_sent_ones_are_not() {
        for sub in [SubDoc::SETTINGS, SubDoc::DEFINITION, SubDoc::VALUES] {
            assert!(read_back(sub), "{sub:?}");
        }
        for sub in [
            SubDoc::METADATA,
            SubDoc::PERMISSIONS,
            SubDoc::VARIABLES,
            SubDoc::SCHEMA,
        ] {
            assert!(!read_back(sub), "{sub:?}");
        }
    }

    #[test]
    fn only_managed_fields_are_compared() {
        let w = write(json!({"label": "L", "tags": ["a"]}));
        let sent = json!({"label": "L", "tags": ["a"], "checklists": {}});
        let back = json!({"label": "L", "tags": ["a"], "checklists": {"x": 1}, "other": 2});
        assert!(verify(&w, &sent, &back).is_empty());
    }

    #[test]
    fn dropped_and_rewritten_fields_are_named() {
        let w = write(json!({"label": "L", "description": "d"}));
        let sent = json!({"label": "L", "description": "d"});
        let back = json!({"label": "l"});
        let warnings = verify(&w, &sent, &back);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("label: sent \"L\", DSS kept \"l\""))
        );
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("description: sent \"d\", DSS dropped it"))
        );
    }
}
