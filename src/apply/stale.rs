//! The staleness check of `apply --plan FILE`: re-read only the objects the saved plan
//! writes and compare each with the fingerprint the plan recorded. Any difference means the
//! plan was computed against a state that is gone, and apply refuses (exit 4) before writing
//! anything:
//! - a creation: the object must still be absent;
//! - an update or adoption: each planned sub-document must still hold the same managed values
//!   (and the same `versionTag` where DSS keeps one), seen through the same view the planner
//!   used ([`crate::plan::Write::is_current`]);
//! - a deletion: the object must still exist with the same fingerprint.
//!
//! The reads run concurrently (bounded by the client's in-flight limit).

use futures::StreamExt;
use futures::stream;
use serde_json::{Map, Value, json};

use super::docs::DocRef;
use super::kind::ApplyDef;
use super::writes::exists;
use crate::client::{ClientError, DssClient};
use crate::plan::fingerprint::live_object_fingerprint;
use crate::plan::ledger::is_reserved_variable;
use crate::plan::{Action, Fingerprint, Operation, Plan, SubDoc};

/// The operations of `plan` whose objects changed since it was made, each with the reason.
/// Errors reading are returned as such (they are not staleness).
pub(crate) async fn stale(
    client: &DssClient,
    plan: &Plan,
    parallelism: usize,
) -> Result<Vec<String>, ClientError> {
    let results: Vec<Result<Option<String>, ClientError>> = stream::iter(&plan.operations)
        .map(|op| check(client, op))
        .buffer_unordered(parallelism.max(1))
        .collect()
        .await;
    let mut out = Vec::new();
    for r in results {
        if let Some(reason) = r? {
            out.push(reason);
        }
    }
    out.sort();
    Ok(out)
}

async fn check(client: &DssClient, op: &Operation) -> Result<Option<String>, ClientError> {
    let id = op.id();
    match op.action {
        Action::Create => Ok(
            if !op.kind.def().is_some_and(|k| k.in_global_variables()) && exists(client, &id).await? {
                Some(format!("{id} was created since the plan"))
            } else {
                None
            },
        ),
        Action::Delete => {
            let Some(planned) = &op.fingerprint else {
                return Ok(Some(format!("{id}: the saved plan has no fingerprint to check")));
            };
            Ok(match delete_fingerprint(client, op).await? {
                None => Some(format!("{id} no longer exists")),
                Some(now) if !same(planned, &now) => Some(format!("{id} changed since the plan")),
                Some(_) => None,
            })
        }
        Action::Update | Action::Adopt => {
            for write in &op.writes {
                let live = if write.subdocument == SubDoc::VALUES {
                    let vars = client.get_global_variables().await?;
                    let visible: Map<String, Value> = vars
                        .into_iter()
                        .filter(|(k, _)| !is_reserved_variable(k))
                        .collect();
                    json!({ "values": visible })
                } else {
                    let Ok(Some(doc)) = DocRef::of(&id, write.subdocument) else {
                        return Ok(Some(format!(
                            "{id}: the saved plan names a {} sub-document it cannot have",
                            write.subdocument.as_str()
                        )));
                    };
                    match doc.get(client).await {
                        Ok(mut v) => {
                            for field in doc.kind().write_only_fields() {
                                // As the planner sees it: DSS never returns a password; the
                                // object's existence stands for "has one".
                                v[*field] = json!("(set)");
                            }
                            v
                        }
                        Err(e) if e.is_not_found() => {
                            return Ok(Some(format!("{id} no longer exists")));
                        }
                        Err(e) => return Err(e),
                    }
                };
                if !write.is_current(&live) {
                    return Ok(Some(format!(
                        "{id}: {} changed since the plan",
                        write.subdocument.as_str()
                    )));
                }
            }
            Ok(None)
        }
    }
}

/// Version tags decide where both sides have one; otherwise the content.
fn same(planned: &Fingerprint, now: &Fingerprint) -> bool {
    match (planned.version_tag, now.version_tag) {
        (Some(a), Some(b)) => a == b,
        _ => planned.content == now.content,
    }
}

/// The fingerprint of a live object as the planner computes it for a deletion.
async fn delete_fingerprint(client: &DssClient, op: &Operation) -> Result<Option<Fingerprint>, ClientError> {
    let id = op.id();
    let Some(kind) = id.kind.def() else {
        return Ok(None);
    };
    let Some(get) = kind.get_main(client, &id.name) else {
        return Ok(None);
    };
    match get.await {
        Ok(v) => Ok(Some(live_object_fingerprint(kind, v))),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_tags_decide_when_both_sides_have_one() {
        let fp = |v: Option<u64>, c: &str| Fingerprint {
            version_tag: v,
            content: c.into(),
        };
        assert!(same(&fp(Some(3), "a"), &fp(Some(3), "b")));
        assert!(!same(&fp(Some(3), "a"), &fp(Some(4), "a")));
        assert!(same(&fp(None, "a"), &fp(Some(4), "a")));
        assert!(!same(&fp(None, "a"), &fp(None, "b")));
    }
}
