//! The writes of one operation, per kind and action.
//!
//! - Create: one POST carrying only what the create call takes (a group's
//!   name, description and source type; a user's login, password, display name, source type,
//!   groups, profile and email; a connection's name, type, description, params, usableBy and
//!   allowedGroups; a project's key, name and owner; a dataset's whole definition: settings,
//!   schema and metadata with the stamp, see `Kind::create_carries`), then every sub-document
//!   of the plan the POST did not carry as an update, starting from the document the kind
//!   knows a creation leaves when it knows it (a project's variables: two empty scopes, see
//!   `KindApply::created_document`) instead of a GET. A POST that failed
//!   ambiguously (the request may have reached DSS) is followed by a GET: if the object
//!   exists the creation goes on, if it does not the POST is sent again (at most
//!   [`POST_ATTEMPTS`] times), which is safe because the object was seen absent.
//! - Update (and adopt): per planned sub-document, GET fresh → [`apply_overlay`] → set the
//!   secrets that must be sent → PUT, and only if the result differs from what was read (a
//!   rerun after a kill skips what was already written). Fields and attributes the manifests
//!   do not manage go back exactly as read.
//! - Projects and datasets get the stack's stamp (`custom.kv."dssctl.stack"`) in their
//!   metadata at creation (a dataset's in its create call) and adoption, and with any metadata write that happens anyway;
//!   never in a write of its own on an update, so that a converged apply writes nothing.
//! - Delete: a project is exported to `.dssctl/backups/<KEY>-<timestamp>.zip` first and
//!   deleted only if the export succeeded; a dataset keeps its data unless the ledger says
//!   `dropDataOnDelete`; an object already gone counts as deleted.
//! - After a PUT of a document whose content DSS may drop or rewrite (see
//!   [`super::verify::read_back`]: dataset settings, definitions of users, groups and
//!   connections, and any document of another kind) the document is read back and
//!   [`super::verify`] names any managed field DSS dropped or changed. Metadata, permissions,
//!   project variables and schemas are stored as sent and not read back: one request less
//!   per write where most of an apply's writes are.
//!
//! Secret values are resolved here, at the moment they are sent, held only in the document
//! being sent, and never logged: errors name the field and the reference, not the value.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::docs::{ApplyDocError, DocRef, json as to_json};
use super::kind::ApplyDef;
use super::ledger::{LedgerChange, LedgerWriter};
use crate::client::{ClientError, DssClient};
use crate::manifest::resolve_secret;
use crate::plan::fingerprint::secret_fingerprint;
use crate::plan::overlay::{apply_overlay, set_path};
use crate::plan::{Action, Operation, ResourceId, SecretField, SubDoc, Write};

/// How many times a POST that failed ambiguously, and whose object was then seen absent, is
/// sent in all.
pub(crate) const POST_ATTEMPTS: usize = 3;

/// The custom-metadata key of the stack's stamp on projects and datasets.
pub(crate) const STAMP_KEY: &str = "dssctl.stack";

/// What an operation needs.
pub(crate) struct Ctx<'a> {
    pub client: &'a DssClient,
    pub stack: &'a str,
    pub ledger: &'a LedgerWriter<'a>,
    /// Where project exports go before a deletion.
    pub backups: PathBuf,
}

/// A successful operation.
#[derive(Debug, Default)]
pub(crate) struct Done {
    /// Managed fields DSS dropped or changed, and other notes.
    pub warnings: Vec<String>,
    /// What a write did beyond its PUT (a package installation's outcome).
    pub notes: Vec<String>,
    /// The export written before a project deletion.
    pub backup: Option<PathBuf>,
    /// The id DSS generated for an object it created (a flow zone, a managed folder), which
    /// the ledger records.
    pub dss_id: Option<String>,
}

/// A failed operation.
#[derive(Debug)]
pub(crate) struct Failed {
    pub message: String,
    /// Whether the object may exist now (its creation succeeded or its outcome is unknown):
    /// the entry written ahead in the ledger is then kept.
    pub may_exist: bool,
    pub warnings: Vec<String>,
}

impl Failed {
    fn new(message: impl Into<String>, may_exist: bool) -> Self {
        Failed {
            message: message.into(),
            may_exist,
            warnings: Vec::new(),
        }
    }
}

/// Run one operation and queue its ledger change.
pub(crate) async fn execute(ctx: &Ctx<'_>, op: &Operation) -> Result<Done, Failed> {
    let id = op.id();
    let result = match (op.kind, op.action) {
        (_, Action::Delete) => delete(ctx, op).await,
        _ if op.kind.def().is_some_and(|k| k.in_global_variables()) => return variables(ctx, op).await,
        (_, Action::Create) => create(ctx, op).await,
        (_, Action::Update | Action::Adopt) => update(ctx, op, op.action == Action::Adopt).await,
    };
    match &result {
        Ok(_) if op.action == Action::Delete => ctx.ledger.queue(LedgerChange::Remove(id)),
        Ok(done) => {
            let mut change = record(ctx.ledger.salt(), op);
            if let (LedgerChange::Record { intent, .. }, Some(created)) = (&mut change, &done.dss_id) {
                intent.dss_id = Some(created.clone());
            }
            ctx.ledger.queue(change)
        }
        // A creation that certainly created nothing: drop the entry written ahead.
        Err(f) if op.action == Action::Create && !f.may_exist => ctx.ledger.queue(LedgerChange::Remove(id)),
        Err(_) => {}
    }
    let flushed = ctx.ledger.flush().await;
    match (result, flushed) {
        (Ok(mut done), Err(e)) => {
            done.warnings.push(format!("{e} (retried at the end of the run)"));
            Ok(done)
        }
        (result, _) => result,
    }
}

/// The ledger entry of a successful create, update or adoption (also written ahead of a
/// creation: its secrets are the ones the creation sends), fingerprints keyed with `salt`.
pub(crate) fn record(salt: &str, op: &Operation) -> LedgerChange {
    let id = op.id();
    let base = base_dir(op);
    let mut secrets = BTreeMap::new();
    for s in &op.secrets {
        // Resolvable when the plan was made; if it no longer is, no fingerprint is recorded,
        // so the next run sends the secret again.
        if let Ok(value) = resolve_secret(&s.reference, &base) {
            secrets.insert(s.path.clone(), secret_fingerprint(salt, &id, &s.path, &value));
        }
    }
    LedgerChange::Record {
        id,
        intent: op.ledger.clone().unwrap_or(crate::plan::LedgerIntent {
            protect: false,
            drop_data_on_delete: false,
            dss_id: None,
        }),
        keep_on_removal: op.policy.keep_on_removal,
        secrets,
    }
}

/// The directory `fromFile` references of `op` are relative to: its manifest's directory,
/// else the current directory.
pub(crate) fn base_dir(op: &Operation) -> PathBuf {
    op.origin
        .as_ref()
        .map_or_else(|| PathBuf::from("."), |o| o.base_dir().to_path_buf())
}

fn resolve(op: &Operation, s: &SecretField) -> Result<String, Failed> {
    resolve_secret(&s.reference, &base_dir(op)).map_err(|e| {
        Failed::new(
            format!("cannot resolve the secret {} ({:?}): {e}", s.path, s.reference),
            false,
        )
    })
}

fn client_failure(what: &str, e: impl std::fmt::Display, may_exist: bool) -> Failed {
    Failed::new(format!("{what}: {e}"), may_exist)
}

/// `op` with the ids its kind resolves at apply time ([`crate::apply::kind::KindApply::resolve_writes`]:
/// a recipe's folders, created earlier in the run); `op` itself when there are none.
async fn resolved<'o>(
    c: &DssClient,
    op: &'o Operation,
    may_exist: bool,
) -> Result<Cow<'o, Operation>, Failed> {
    let Some(resolve) = op.kind.def().and_then(|k| k.resolve_writes(c, op)) else {
        return Ok(Cow::Borrowed(op));
    };
    let writes = resolve
        .await
        .map_err(|e| client_failure(&format!("cannot write {}", op.id()), e, may_exist))?;
    Ok(Cow::Owned(Operation { writes, ..op.clone() }))
}

/// Create: POST, then every planned sub-document as an update (with the stamp).
async fn create(ctx: &Ctx<'_>, op: &Operation) -> Result<Done, Failed> {
    let op = &*resolved(ctx.client, op, false).await?;
    let id = op.id();
    let (body, carried) = create_body(op, ctx.stack)?;
    let dss_id = post_once(ctx.client, &id, &body).await?;
    // The object exists from here on: any failure below keeps its ledger entry. Secrets went
    // in the POST, and so did the sub-documents it carried whole.
    let rest = writes_with_stamp(op, &carried);
    let mut done = write_all(ctx, op, rest, SecretMode::None, Fresh::Created).await?;
    done.dss_id = dss_id;
    Ok(done)
}

/// Update or adopt: the planned sub-documents (and, on adoption, the stamp).
async fn update(ctx: &Ctx<'_>, op: &Operation, adopt: bool) -> Result<Done, Failed> {
    let op = &*resolved(ctx.client, op, true).await?;
    let writes = if adopt {
        writes_with_stamp(op, &[])
    } else {
        op.writes.clone()
    };
    write_all(ctx, op, writes, SecretMode::Changed, Fresh::Read).await
}

/// Write the sub-documents in order (metadata with the stamp); the first failure stops the
/// rest and, the object existing, keeps its ledger entry.
async fn write_all(
    ctx: &Ctx<'_>,
    op: &Operation,
    writes: Vec<Write>,
    secrets: SecretMode,
    fresh: Fresh,
) -> Result<Done, Failed> {
    let id = op.id();
    let mut done = Done::default();
    for write in writes {
        let Some(doc) = doc_ref(&id, write.subdocument)? else {
            continue;
        };
        let stamp = doc.is_metadata();
        match write_doc(ctx, op, &doc, &write, secrets, stamp, fresh).await {
            Ok((notes, w)) => {
                done.notes.extend(notes);
                done.warnings.extend(w);
            }
            Err(mut f) => {
                f.may_exist = true;
                f.warnings.append(&mut done.warnings);
                return Err(f);
            }
        }
    }
    Ok(done)
}

fn doc_ref(id: &ResourceId, sub: SubDoc) -> Result<Option<DocRef>, Failed> {
    DocRef::of(id, sub).map_err(|e| Failed::new(e.to_string(), true))
}

/// The writes of `op` but those of the sub-documents in `skip`, with an empty metadata write
/// added for a project or dataset that has none, so that the stamp is written at creation and
/// adoption (unless `skip` names the metadata). Only the writes kept are copied: a creation
/// that carried everything in its POST copies nothing.
fn writes_with_stamp(op: &Operation, skip: &[SubDoc]) -> Vec<Write> {
    let mut writes: Vec<Write> = op
        .writes
        .iter()
        .filter(|w| !skip.contains(&w.subdocument))
        .cloned()
        .collect();
    let stamped = op.kind.def().is_some_and(|k| k.stamped());
    if stamped
        && !skip.contains(&SubDoc::METADATA)
        && !op.writes.iter().any(|w| w.subdocument == SubDoc::METADATA)
    {
        writes.push(Write {
            subdocument: SubDoc::METADATA,
            overlay: json!({}),
            secrets: Vec::new(),
            fingerprint: None,
            changes: Vec::new(),
        });
    }
    writes
}

/// Where a sub-document write starts from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fresh {
    /// A GET of the document.
    Read,
    /// The object was just created: the document the kind knows a creation leaves
    /// ([`crate::apply::kind::KindApply::created_document`]), else a GET.
    Created,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SecretMode {
    /// Send no secret (they went in the create call).
    None,
    /// Send the secrets the plan marks changed.
    Changed,
}

/// GET → overlay → stamp → secrets → PUT (only if different) → read back and verify, for
/// the documents where DSS may drop or rewrite a field ([`super::verify::read_back`]).
/// Answers the write's notes and its warnings.
async fn write_doc(
    ctx: &Ctx<'_>,
    op: &Operation,
    doc: &DocRef,
    write: &Write,
    secrets: SecretMode,
    stamp: bool,
    start: Fresh,
) -> Result<(Vec<String>, Vec<String>), Failed> {
    let known = match start {
        Fresh::Created => op.kind.def().and_then(|k| k.created_document(doc.sub)),
        Fresh::Read => None,
    };
    let fresh = match known {
        Some(created) => created,
        None => doc
            .get(ctx.client)
            .await
            .map_err(|e| client_failure(&format!("cannot read {doc}"), e, true))?,
    };
    let mut next = fresh.clone();
    apply_overlay(write.subdocument, &mut next, &write.overlay);
    if stamp {
        set_stamp(&mut next, ctx.stack);
    }
    if secrets == SecretMode::Changed {
        for s in write.secrets.iter().filter(|s| s.changed) {
            let value = resolve(op, s)?;
            set_path(&mut next, &s.path, Value::String(value));
        }
    }
    if next == fresh {
        return Ok((Vec::new(), Vec::new()));
    }
    let read_back = super::verify::read_back(doc.sub);
    let mut sent_view = if read_back { next.clone() } else { Value::Null };
    let notes: Vec<String> = doc
        .put(ctx.client, next)
        .await
        .map_err(|e| client_failure(&format!("cannot write {doc}"), e, true))?
        .into_iter()
        .map(|n| format!("{doc}: {n}"))
        .collect();
    tracing::info!(document = %doc, "written");
    if !read_back {
        return Ok((notes, Vec::new()));
    }
    let warnings = match doc.get(ctx.client).await {
        Ok(mut back) => {
            for field in doc.kind().write_only_fields() {
                // DSS never returns a write-only field (a password); the planner reads the
                // object's existence as "has one", and so does the check, on both sides.
                back[*field] = json!("(set)");
                sent_view[*field] = json!("(set)");
            }
            super::verify::verify(write, &sent_view, &back)
                .into_iter()
                .map(|w| format!("{doc}: {w}"))
                .collect()
        }
        Err(e) => vec![format!("cannot read back {doc} to verify it: {e}")],
    };
    Ok((notes, warnings))
}

/// Put the stack's stamp in a metadata document's `custom.kv`.
pub(crate) fn set_stamp(metadata: &mut Value, stack: &str) {
    if !metadata.is_object() {
        *metadata = Value::Object(Map::new());
    }
    let custom = metadata
        .as_object_mut()
        .expect("made an object above")
        .entry("custom")
        .or_insert_with(|| json!({}));
    if !custom.is_object() {
        *custom = json!({});
    }
    let kv = custom
        .as_object_mut()
        .expect("made an object above")
        .entry("kv")
        .or_insert_with(|| json!({}));
    if !kv.is_object() {
        *kv = json!({});
    }
    kv.as_object_mut()
        .expect("made an object above")
        .insert(STAMP_KEY.to_string(), json!(stack));
}

/// The body of the create call (secrets resolved), as JSON: the kind's seed with its overlay,
/// only the fields its create call takes, shaped by the kind, with the sub-documents the kind's
/// create call carries folded in. Also answers the sub-documents the body carries whole, whose
/// writes the creation does not repeat: those of [`crate::apply::kind::KindApply::create_carries`] without secrets (the
/// seed's own sub-document only when every field its overlay sets is one the create call
/// takes).
fn create_body(op: &Operation, stack: &str) -> Result<(Value, Vec<SubDoc>), Failed> {
    let Some(kind) = op.kind.def() else {
        return Err(Failed::new(format!("{} cannot be created", op.id()), false));
    };
    let (sub, mut doc) = kind.create_seed(&op.name);
    let fields = kind.create_fields();
    let carries = kind.create_carries();
    let mut carried = Vec::new();
    if let Some(write) = op.writes.iter().find(|w| w.subdocument == sub) {
        apply_overlay(sub, &mut doc, &write.overlay);
        for s in &write.secrets {
            let value = resolve(op, s)?;
            set_path(&mut doc, &s.path, Value::String(value));
        }
        let sets_only_create_fields = write
            .overlay
            .as_object()
            .is_some_and(|o| o.keys().all(|k| fields.contains(&k.as_str())));
        if carries.contains(&sub) && sets_only_create_fields {
            carried.push(sub);
        }
    }
    if let Value::Object(map) = &mut doc {
        map.retain(|k, _| fields.contains(&k.as_str()));
    }
    for &part in carries.iter().filter(|&&part| part != sub) {
        let write = op.writes.iter().find(|w| w.subdocument == part);
        if write.is_some_and(|w| !w.secrets.is_empty()) {
            continue;
        }
        let mut part_doc = json!({});
        if let Some(w) = write {
            apply_overlay(part, &mut part_doc, &w.overlay);
        }
        if part == SubDoc::METADATA && kind.stamped() {
            set_stamp(&mut part_doc, stack);
        }
        kind.fold_into_create(part, part_doc, &mut doc);
        carried.push(part);
    }
    Ok((kind.create_body(op, doc), carried))
}

/// POST the creation; after an ambiguous failure, look whether the object exists and send
/// again only if it does not. The id DSS generated, for a kind whose objects have one.
async fn post_once(c: &DssClient, id: &ResourceId, body: &Value) -> Result<Option<String>, Failed> {
    let what = format!("the creation of {id}");
    let Some(kind) = id.kind.def() else {
        return Err(Failed::new(format!("{id} cannot be created"), false));
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let Some(post) = kind.create_with_id(c, &id.name, body, &what) else {
            return Err(Failed::new(format!("{id} cannot be created"), false));
        };
        let err = match post.await {
            Ok(dss_id) => return Ok(dss_id),
            // A body without the shape DSS requires was never sent.
            Err(e @ ApplyDocError::Shape { .. }) => return Err(Failed::new(e.to_string(), false)),
            Err(ApplyDocError::Client(e)) if e.is_ambiguous() => e,
            Err(ApplyDocError::Client(e)) => {
                return Err(client_failure(&format!("cannot create {id}"), e, false));
            }
        };
        tracing::warn!(%id, error = %err, "creation failed ambiguously; checking whether it happened");
        match exists(c, id).await {
            // Its id is read by the next plan, which records it.
            Ok(true) => return Ok(None),
            Ok(false) if attempt < POST_ATTEMPTS => {
                tokio::time::sleep(Duration::from_millis(100 * attempt as u64)).await;
            }
            Ok(false) => return Err(client_failure(&format!("cannot create {id}"), err, false)),
            Err(e) => {
                return Err(Failed::new(
                    format!(
                        "cannot create {id}: {err}; whether it was created is unknown (reading it failed: {e})"
                    ),
                    true,
                ));
            }
        }
    }
}

/// Whether the object exists (a GET of its main document).
pub(crate) async fn exists(c: &DssClient, id: &ResourceId) -> Result<bool, ClientError> {
    let Some(get) = id.kind.def().and_then(|k| k.get_main(c, &id.name)) else {
        // A kind without a main document (the global variables) is always there.
        return Ok(true);
    };
    match get.await {
        Ok(_) => Ok(true),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Delete one object (a project after its export).
async fn delete(ctx: &Ctx<'_>, op: &Operation) -> Result<Done, Failed> {
    let c = ctx.client;
    let id = op.id();
    let mut done = Done::default();
    let Some(kind) = op.kind.def() else {
        return Ok(done);
    };
    if kind.backup_before_delete() {
        match super::backup::export_project(c, &op.name, &ctx.backups).await {
            Ok(Some(path)) => done.backup = Some(path),
            // Already gone.
            Ok(None) => return Ok(done),
            Err(e) => {
                return Err(Failed::new(
                    format!("not deleted: the export before deletion failed: {e}"),
                    true,
                ));
            }
        }
    }
    let result = match kind.delete(c, &op.name, op.drop_data) {
        Some(call) => call.await,
        None => Ok(()),
    };
    match result {
        Ok(()) => Ok(done),
        Err(e) if e.is_not_found() => Ok(done),
        Err(e) => Err(client_failure(&format!("cannot delete {id}"), e, true)),
    }
}

/// The global variables: GET → overlay → PUT under the ledger's lock, with the ledger entry
/// (and any queued ledger change) in the same PUT.
async fn variables(ctx: &Ctx<'_>, op: &Operation) -> Result<Done, Failed> {
    let write = op.writes.iter().find(|w| w.subdocument == SubDoc::VALUES);
    let mut sent = None;
    let written = ctx
        .ledger
        .with_variables(vec![record(ctx.ledger.salt(), op)], |vars| {
            if let Some(w) = write {
                let mut doc = json!({ "values": Value::Object(std::mem::take(vars)) });
                apply_overlay(SubDoc::VALUES, &mut doc, &w.overlay);
                *vars = match doc {
                    Value::Object(mut m) => match m.remove("values") {
                        Some(Value::Object(v)) => v,
                        _ => return Err("the variables overlay is not an object".into()),
                    },
                    _ => return Err("the variables overlay is not an object".into()),
                };
                sent = Some(json!({ "values": to_json(&*vars) }));
            }
            Ok(())
        })
        .await
        .map_err(|e| Failed::new(format!("cannot write the global variables: {e}"), true))?;
    let mut done = Done::default();
    if let (true, Some(w), Some(sent)) = (written, write, sent) {
        match ctx.client.get_global_variables().await {
            Ok(back) => done.warnings.extend(
                super::verify::verify(w, &sent, &json!({ "values": back }))
                    .into_iter()
                    .map(|x| format!("global variables: {x}")),
            ),
            Err(e) => done.warnings.push(format!(
                "cannot read back the global variables to verify them: {e}"
            )),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Kind;
    use std::collections::{HashMap, VecDeque};
    use std::sync::{Arc, Mutex};

    /// A scripted DSS: per `"METHOD /path"`, the statuses to answer in order (then 200 `{}`),
    /// and every request seen.
    #[derive(Default)]
    struct Script {
        replies: Mutex<HashMap<String, VecDeque<u16>>>,
        seen: Mutex<Vec<String>>,
    }

    async fn scripted(replies: &[(&str, &[u16])]) -> (Arc<Script>, DssClient) {
        let script = Arc::new(Script::default());
        for (route, statuses) in replies {
            script
                .replies
                .lock()
                .unwrap()
                .insert(route.to_string(), statuses.iter().copied().collect());
        }
        let state = script.clone();
        let app = axum::Router::new().fallback(move |method: axum::http::Method, uri: axum::http::Uri| {
            let state = state.clone();
            async move {
                let path = uri.path().trim_start_matches("/public/api").to_string();
                let route = format!("{method} {path}");
                state.seen.lock().unwrap().push(route.clone());
                let status = state
                    .replies
                    .lock()
                    .unwrap()
                    .get_mut(&route)
                    .and_then(VecDeque::pop_front)
                    .unwrap_or(200);
                let body = if status == 404 {
                    r#"{"errorType":"com.dataiku.dip.server.controllers.NotFoundException","message":"not found"}"#
                } else if status >= 500 {
                    // A gateway page: no DSS error body, so the outcome is unknown.
                    "<html>Bad gateway</html>"
                } else {
                    r#"{"name":"g"}"#
                };
                (axum::http::StatusCode::from_u16(status).unwrap(), body.to_string())
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        crate::install_crypto_provider();
        let mut config = crate::client::ClientConfig::new(format!("http://{addr}"), "k");
        config.base_backoff = Duration::from_millis(1);
        (script, DssClient::new(config).unwrap())
    }

    fn group_body() -> Value {
        json!({"name": "g"})
    }

    #[tokio::test]
    async fn an_ambiguous_post_whose_object_exists_is_not_sent_again() {
        let (script, c) = scripted(&[("POST /admin/groups/", &[502])]).await;
        let id = ResourceId::new(crate::kinds::group::ID, "g");
        post_once(&c, &id, &group_body()).await.unwrap();
        assert_eq!(
            *script.seen.lock().unwrap(),
            vec!["POST /admin/groups/", "GET /admin/groups/g"]
        );
    }

    #[tokio::test]
    async fn an_ambiguous_post_whose_object_is_absent_is_sent_again() {
        let (script, c) = scripted(&[("POST /admin/groups/", &[502]), ("GET /admin/groups/g", &[404])]).await;
        let id = ResourceId::new(crate::kinds::group::ID, "g");
        post_once(&c, &id, &group_body()).await.unwrap();
        assert_eq!(
            *script.seen.lock().unwrap(),
            vec![
                "POST /admin/groups/",
                "GET /admin/groups/g",
                "POST /admin/groups/"
            ]
        );
    }

    #[tokio::test]
    async fn a_post_refused_by_dss_fails_without_a_read_and_created_nothing() {
        let (script, c) = scripted(&[("POST /admin/groups/", &[404])]).await;
        let id = ResourceId::new(crate::kinds::group::ID, "g");
        let failed = post_once(&c, &id, &group_body()).await.unwrap_err();
        assert!(!failed.may_exist);
        assert!(
            failed.message.starts_with("cannot create group g"),
            "{}",
            failed.message
        );
        assert_eq!(*script.seen.lock().unwrap(), vec!["POST /admin/groups/"]);
    }

    #[tokio::test]
    async fn an_ambiguous_post_whose_outcome_cannot_be_read_may_have_created() {
        let (_script, c) = scripted(&[
            ("POST /admin/groups/", &[502]),
            ("GET /admin/groups/g", &[503, 503, 503, 503, 503, 503]),
        ])
        .await;
        let id = ResourceId::new(crate::kinds::group::ID, "g");
        let failed = post_once(&c, &id, &group_body()).await.unwrap_err();
        assert!(failed.may_exist, "{}", failed.message);
        assert!(failed.message.contains("unknown"), "{}", failed.message);
    }

    fn op(kind: Kind, name: &str, origin: Option<&str>) -> Operation {
        Operation {
            kind,
            name: name.into(),
            action: Action::Create,
            subdocuments: Vec::new(),
            changes: Vec::new(),
            writes: Vec::new(),
            secrets: Vec::new(),
            ledger: None,
            drop_data: false,
            origin: origin.map(|o| crate::manifest::Origin::parse(o).unwrap()),
            fingerprint: None,
            policy: Default::default(),
        }
    }

    #[test]
    fn secrets_resolve_from_the_manifest_directory() {
        assert_eq!(
            base_dir(&op(
                crate::kinds::user::ID,
                "a",
                Some("examples/q/users.yaml:3:1")
            )),
            PathBuf::from("examples/q")
        );
        assert_eq!(
            base_dir(&op(crate::kinds::user::ID, "a", Some("users.yaml:3:1"))),
            PathBuf::from(".")
        );
        assert_eq!(
            base_dir(&op(crate::kinds::user::ID, "a", None)),
            PathBuf::from(".")
        );
    }

    #[test]
    fn the_stamp_goes_under_custom_kv_and_keeps_the_rest() {
        let mut m = json!({"label": "x", "custom": {"kv": {"team": "a"}, "other": 1}});
        set_stamp(&mut m, "prod");
        assert_eq!(
            m,
            json!({"label": "x", "custom": {"kv": {"team": "a", "dssctl.stack": "prod"}, "other": 1}})
        );
        let mut empty = json!({"custom": []});
        set_stamp(&mut empty, "s");
        assert_eq!(empty["custom"]["kv"]["dssctl.stack"], "s");
    }

    fn write(sub: SubDoc, overlay: Value) -> Write {
        Write {
            subdocument: sub,
            overlay,
            secrets: Vec::new(),
            fingerprint: None,
            changes: Vec::new(),
        }
    }

    #[test]
    fn create_bodies_carry_only_what_the_create_call_takes() {
        let mut p = op(crate::kinds::project::ID, "K", None);
        p.writes
            .push(write(SubDoc::METADATA, json!({"label": "Nice", "tags": ["a"]})));
        let (body, carried) = create_body(&p, "s").unwrap();
        let req: crate::wire::CreateProjectRequest = serde_json::from_value(body).unwrap();
        assert_eq!(req.name.as_deref(), Some("Nice"));
        assert_eq!(req.owner, None);
        // The project's metadata is written after the creation, with the stamp.
        assert!(carried.is_empty());
        assert_eq!(writes_with_stamp(&p, &[]).len(), 1);
        assert!(writes_with_stamp(&p, &[SubDoc::METADATA]).is_empty());
        assert!(writes_with_stamp(&op(crate::kinds::group::ID, "g", None), &[]).is_empty());
    }

    #[test]
    fn a_dataset_is_created_whole_in_one_call() {
        let mut o = op(crate::kinds::dataset::ID, "P.d", None);
        o.writes.push(write(
            SubDoc::SETTINGS,
            json!({"type": "Filesystem", "params": {"path": "/p"}, "managed": true, "formatType": "csv"}),
        ));
        o.writes.push(write(
            SubDoc::SCHEMA,
            json!({"columns": [{"name": "id", "type": "bigint"}]}),
        ));
        o.writes.push(write(
            SubDoc::METADATA,
            json!({"description": "d", "tags": ["t"], "custom": {"kv": {"team": "a"}}}),
        ));
        let (body, carried) = create_body(&o, "prod").unwrap();
        assert_eq!(carried, vec![SubDoc::SETTINGS, SubDoc::SCHEMA, SubDoc::METADATA]);
        assert_eq!(body["projectKey"], "P");
        let ds: crate::wire::Dataset = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(ds.name, "d");
        assert_eq!(ds.dataset_type, "Filesystem");
        assert_eq!(ds.managed, Some(true));
        assert_eq!(ds.format_type.as_deref(), Some("csv"));
        assert_eq!(ds.tags, vec!["t".to_string()]);
        assert_eq!(body["schema"]["columns"][0]["name"], "id");
        assert_eq!(body["description"], "d");
        // The metadata view's `custom` is the definition's `customMeta`, stamp included.
        assert_eq!(
            body["customMeta"],
            json!({"kv": {"team": "a", STAMP_KEY: "prod"}})
        );
        assert!(body.get("custom").is_none());

        // A dataset declared with no metadata still gets the stamp in its create call.
        let (bare, _) = create_body(&op(crate::kinds::dataset::ID, "P.e", None), "s").unwrap();
        assert_eq!(bare["customMeta"]["kv"][STAMP_KEY], "s");
    }

    #[test]
    fn a_seed_field_the_create_call_does_not_take_is_written_after_it() {
        let mut o = op(crate::kinds::dataset::ID, "P.d", None);
        o.writes.push(write(
            SubDoc::SETTINGS,
            json!({"type": "Filesystem", "partitioning": {"dimensions": []}}),
        ));
        let (body, carried) = create_body(&o, "s").unwrap();
        assert!(body.get("partitioning").is_none());
        assert_eq!(carried, vec![SubDoc::SCHEMA, SubDoc::METADATA]);
    }
}
