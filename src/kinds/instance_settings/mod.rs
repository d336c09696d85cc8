//! `kind: InstanceSettings`: the instance's general settings, a singleton named `general`. This
//! module owns the spec type, the rule of its only name, the rule that the secrets DSS keeps in
//! this document are references (never literals), its sub-document (named lists merged by
//! name), its read and its write, and the plan's warning about top-level settings DSS does not
//! know (a PUT drops them silently and still answers 200).
//!
//! `spec.settings` is managed key by key at any depth; a key left out is untouched. A list of
//! objects that all carry a `name` (`containerSettings.executionConfigs`) is matched by name: the
//! entries listed are managed key by key, the others are left as they are. Any other list is
//! authoritative, as everywhere else.

/// The calls that create, read, update and delete it (an `impl DssClient` block).
mod client;

use futures::future::BoxFuture;
use schemars::{JsonSchema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::export::convert::ExpectedSecret;
use crate::export::{ExportOut, ExportScope, meta};
use crate::plan::overlay::{get_path, set_path};

use super::{Checks, Kind, KindId, KindRead, NameRule, env_name_for, names};
use super::{KindApply, KindExport, KindObserve, KindPlan, KindSpec};
use crate::apply::docs::{ApplyDocError, typed};
use crate::client::{ClientError, DssClient};
use crate::manifest::kinds::{Declared, KeyedMap, ObjectMeta, Resource, SecretRef};
use crate::manifest::node::{Node, NodeValue};
use crate::observe::{ObserveError, reading};
use crate::plan::diff::Doc;
use crate::plan::model::DocShape;
use crate::plan::planner::Planner;
use crate::plan::scope::{Needs, ReadPlan};
use crate::plan::{LedgerIntent, Observed, ResourceId, SubDoc};
use client::SECRET_PATHS as GENERAL_SETTINGS_SECRETS;

/// The kind.
pub(crate) static KIND: InstanceSettingsKind = InstanceSettingsKind;

super::register!(KIND, 130);

/// The word of the ledger key `instance_settings:general` and of plans.
pub(crate) const ID: KindId = KindId("instance_settings");

/// The name of the only `InstanceSettings` resource.
pub(crate) const GENERAL: &str = "general";

/// The general settings document (`/admin/general-settings`): merged key by key, its lists of
/// named objects merged by name at any depth.
pub(crate) const GENERAL_SETTINGS: SubDoc = SubDoc::new(&DocShape {
    named_lists: true,
    ..DocShape::plain("general_settings")
});

/// The only name is `general`.
pub(crate) static NAME_RULE: NameRule = NameRule {
    what: "a name",
    allowed: names::dotted_char,
    allowed_text: "letters, digits, _, - and .",
    example: GENERAL,
    pattern: Some("^general$"),
    no_edge_spaces: false,
    fixed: Some((GENERAL, "the instance settings are named `general`")),
};

/// The live general settings (`None` in the observed state: not read).
pub(crate) type Live = Map<String, Value>;

/// This kind's part of the observed state.
pub(crate) fn live(observed: &Observed) -> Option<&Live> {
    observed.kinds.get(ID)
}

/// `kind: InstanceSettings`: the instance's general settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct InstanceSettingsSpec {
    /// The general settings, as DSS names them, managed key by key at any depth (`null`
    /// removes a key). A list of objects that all have a `name` is matched by name: the
    /// entries listed are managed, the others untouched. The secrets DSS keeps here (the LDAP
    /// bind password, SSO and Azure AD secrets) are `{fromEnv: NAME}` or `{fromFile: PATH}`.
    #[serde(default)]
    pub settings: KeyedMap,
}

/// The `InstanceSettings` kind.
#[derive(Debug)]
pub(crate) struct InstanceSettingsKind;

impl KindSpec for InstanceSettingsKind {
    fn name(&self) -> &'static str {
        "InstanceSettings"
    }

    fn id(&self) -> KindId {
        ID
    }

    fn description(&self) -> &'static str {
        "The instance's general settings, managed key by key (metadata.name must be `general`)."
    }

    fn spec_schema(&self, generator: &mut SchemaGenerator) -> Value {
        generator.subschema_for::<InstanceSettingsSpec>().to_value()
    }

    fn spec_required(&self) -> bool {
        true
    }

    /// First: code environments and other instance objects name its container configs.
    fn apply_rank(&self) -> u8 {
        0
    }

    fn name_rule(&self) -> &'static NameRule {
        &NAME_RULE
    }

    fn check_spec(&self, checks: &mut Checks<'_>, spec: &Node) {
        if let Some(settings) = spec.get("settings") {
            check_secrets(checks, settings, "spec.settings");
        }
    }

    fn is_secret_path(&self, path: &str) -> bool {
        path.strip_prefix("spec.settings.")
            .is_some_and(|rest| GENERAL_SETTINGS_SECRETS.iter().any(|s| rest.starts_with(s)))
    }

    fn parse(&self, meta: ObjectMeta, spec: Value) -> Result<Resource, serde_json::Error> {
        Ok(Resource::new(
            &KIND,
            meta,
            serde_json::from_value::<InstanceSettingsSpec>(spec)?,
        ))
    }
}

impl KindPlan for InstanceSettingsKind {
    fn is_access_path(&self, path: &str) -> bool {
        // Who may log in and as what: the LDAP, SSO and Azure AD blocks, impersonation rules.
        ["ldapSettings", "ssoSettings", "azureADSettings", "impersonation"]
            .iter()
            .any(|p| path.starts_with(p))
    }

    fn plan(&self, planner: &mut Planner<'_>, declared: &Declared) {
        if let Some((meta, spec)) = declared.resource.typed::<InstanceSettingsSpec>() {
            plan_settings(planner, declared, meta, spec);
        }
    }

    fn add_reads(&self, _resource: &Resource, needs: &mut Needs<'_>) {
        needs.reads.mark(ID);
    }

    /// Removing the manifest stops managing the settings; they are never deleted.
    fn deletable(&self) -> bool {
        false
    }

    fn subdocuments(&self) -> &'static [SubDoc] {
        &[GENERAL_SETTINGS]
    }
}

impl KindObserve for InstanceSettingsKind {
    fn observe<'a>(
        &'a self,
        client: &'a DssClient,
        reads: &'a ReadPlan,
        _parallelism: usize,
    ) -> Option<BoxFuture<'a, Result<KindRead, ObserveError>>> {
        if !reads.marked(ID) {
            return None;
        }
        Some(Box::pin(async move {
            let doc: Live = client
                .get_general_settings()
                .await
                .map_err(reading("the general settings"))?;
            Ok(KindRead::list(doc))
        }))
    }
}

impl KindApply for InstanceSettingsKind {
    fn sub_document(&self, _name: &str, sub: SubDoc) -> Option<bool> {
        (sub == GENERAL_SETTINGS).then_some(true)
    }

    fn get_document<'a>(
        &self,
        c: &'a DssClient,
        _name: &'a str,
        sub: SubDoc,
    ) -> Option<BoxFuture<'a, Result<Value, ClientError>>> {
        (sub == GENERAL_SETTINGS).then(|| {
            Box::pin(async move { c.get_general_settings().await.map(Value::Object) })
                as BoxFuture<'a, Result<Value, ClientError>>
        })
    }

    fn put_document<'a>(
        &self,
        c: &'a DssClient,
        _name: &'a str,
        sub: SubDoc,
        doc: Value,
        what: String,
    ) -> Option<BoxFuture<'a, Result<(), ApplyDocError>>> {
        (sub == GENERAL_SETTINGS).then(|| {
            Box::pin(async move {
                let doc: Map<String, Value> = typed(doc, &what)?;
                c.set_general_settings(&doc).await?;
                Ok(())
            }) as BoxFuture<'a, Result<(), ApplyDocError>>
        })
    }

    fn describe_document(&self, _name: &str, _sub: SubDoc) -> String {
        "the general settings".into()
    }

    fn get_main<'a>(
        &self,
        c: &'a DssClient,
        _name: &'a str,
    ) -> Option<BoxFuture<'a, Result<Value, ClientError>>> {
        Some(Box::pin(async move {
            c.get_general_settings().await.map(Value::Object)
        }))
    }
}

impl KindExport for InstanceSettingsKind {
    fn export_word(&self) -> Option<&'static str> {
        Some("instance-settings")
    }

    fn export_read<'a>(
        &'a self,
        scope: &'a ExportScope<'a>,
    ) -> Option<BoxFuture<'a, anyhow::Result<KindRead>>> {
        super::export_list(self, scope)
    }

    /// The whole document, each secret DSS holds replaced by a reference to an environment
    /// variable (never its value).
    fn export(&self, observed: &Observed, out: &mut ExportOut) {
        let Some(settings) = live(observed) else {
            return;
        };
        let mut doc = Value::Object(settings.clone());
        for path in GENERAL_SETTINGS_SECRETS {
            let Some(v) = get_path(&doc, path) else { continue };
            if v.as_str().is_some_and(|s| !s.is_empty()) {
                let env = format!("DSS_{}", env_name_for(&path.replace('.', "_")));
                out.secrets.push(ExpectedSecret {
                    env: env.clone(),
                    used_by: format!("instance settings, settings.{path}"),
                });
                set_path(&mut doc, path, json!({ "fromEnv": env }));
            }
        }
        let Value::Object(settings) = doc else { return };
        let spec = InstanceSettingsSpec {
            settings: settings.into_iter().collect(),
        };
        out.put(
            "instance-settings.yaml",
            Resource::new(&KIND, meta(GENERAL, None), spec),
        );
    }
}

impl Kind for InstanceSettingsKind {}

/// Every value of `node` (at `path`): a reference is well formed, and a secret field DSS
/// encrypts holds a reference (or nothing), never a literal.
fn check_secrets(checks: &mut Checks<'_>, node: &Node, path: &str) {
    let dotted = path.strip_prefix("spec.settings.").unwrap_or("");
    if node.get("fromEnv").is_some() || node.get("fromFile").is_some() {
        if SecretRef::from_value(&node.to_json()).is_none() {
            checks
                .error(
                    node.pos,
                    format!("{path}: a secret reference is `{{fromEnv: NAME}}` or `{{fromFile: PATH}}` with a string, and nothing else"),
                )
                .hint = Some(format!("for example `{{fromEnv: {}}}`", env_name_for(last_key(path))));
        } else {
            checks.secret_ref_target(node, path);
        }
        return;
    }
    match &node.value {
        NodeValue::Map(entries) => {
            for (key, value) in entries {
                if let Some(k) = key.as_str() {
                    check_secrets(checks, value, &format!("{path}.{k}"));
                }
            }
        }
        NodeValue::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                check_secrets(checks, item, &format!("{path}[{i}]"));
            }
        }
        _ if GENERAL_SETTINGS_SECRETS.contains(&dotted)
            && node.as_str().is_none_or(|s| !s.is_empty())
            && !matches!(node.value, NodeValue::Null) =>
        {
            let name = last_key(path);
            checks
                .error(
                    node.pos,
                    format!("{path}: a secret must not be written in a manifest"),
                )
                .hint = Some(format!(
                "write `{name}: {{fromEnv: {}}}` (or `{{fromFile: PATH}}`); it is read only when sent to DSS",
                env_name_for(name)
            ));
        }
        _ => {}
    }
}

fn last_key(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

/// The top-level settings of `spec` that the live document does not have: DSS answers every
/// setting it knows (with its default), so a PUT would drop these silently.
pub(crate) fn unknown_settings(spec: &KeyedMap, live: &Live) -> Vec<String> {
    spec.iter()
        .filter(|(k, v)| !v.is_null() && !live.contains_key(k.as_str()))
        .map(|(k, _)| k.clone())
        .collect()
}

/// The note a change of an unknown top-level setting carries, in the plan and after apply.
pub(crate) fn unknown_note() -> String {
    "DSS does not know this top-level setting: a save drops it silently (answered 200), so it shows as a change at every plan".into()
}

/// Plan the declared settings: their writes, compared with the live document.
pub(crate) fn plan_settings(
    p: &mut Planner<'_>,
    d: &Declared,
    meta: &ObjectMeta,
    spec: &InstanceSettingsSpec,
) {
    let id = ResourceId::new(ID, &meta.name);
    if meta.name != GENERAL {
        return p.error_at(
            &id,
            Some(&d.origin),
            format!("an InstanceSettings resource must be named {GENERAL:?}"),
            Some("write `metadata: {name: general}`".into()),
        );
    }
    let Some(settings) = live(p.observed()) else {
        return p.not_read(&id, &d.origin, "general settings");
    };
    let live = Value::Object(settings.clone());
    let mut doc = Doc::new(GENERAL_SETTINGS, Some(&live), None);
    doc.keyed_root(&spec.settings);
    let unknown = unknown_settings(&spec.settings, settings);
    for c in &mut doc.changes {
        let top = c.path.split(['.', '[']).next().unwrap_or_default();
        if unknown.iter().any(|u| u == top) {
            c.note = Some(unknown_note());
        }
    }
    p.judge_secrets(&id, &d.origin, &mut doc);
    let write = doc.finish(None);
    let intent = LedgerIntent {
        protect: false,
        drop_data_on_delete: false,
        dss_id: None,
    };
    p.finish(id, &d.origin, true, vec![write], intent);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_top_level_settings_are_those_the_live_document_lacks() {
        let live: Live = json!({"maxRunningActivities": 5, "limits": {}})
            .as_object()
            .unwrap()
            .clone();
        let spec: KeyedMap =
            serde_json::from_value(json!({"maxRunningActivities": 8, "noSuchSetting": 1, "gone": null}))
                .unwrap();
        assert_eq!(unknown_settings(&spec, &live), vec!["noSuchSetting".to_string()]);
    }

    #[test]
    fn the_only_name_is_general() {
        assert!(NAME_RULE.check("general").is_none());
        assert!(NAME_RULE.check("settings").is_some());
    }

    #[test]
    fn secret_paths_are_recognised_for_schema_findings() {
        assert!(KIND.is_secret_path("spec.settings.ldapSettings.bindPassword"));
        assert!(!KIND.is_secret_path("spec.settings.ldapSettings.url"));
    }
}
