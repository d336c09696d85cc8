//! Read-back verification: after a PUT, apply reads the document again and compares what DSS
//! kept with what was sent, through the managed fields of the write only (the same view the
//! plan compares, so that fields dssctl does not manage never raise a warning). A difference is
//! the source of a perpetual diff — DSS dropped or rewrote a managed field — and is reported as
//! a warning naming the field. Secret fields are compared by presence only (the view holds a
//! boolean there), so no secret value can reach a warning.

use serde_json::Value;

use crate::plan::Write;
use crate::plan::diff::managed_view;

/// The managed fields of `write` whose value in `back` (the read-back) differs from `sent`.
pub fn verify(write: &Write, sent: &Value, back: &Value) -> Vec<String> {
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
    use crate::plan::SubDoc;
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
