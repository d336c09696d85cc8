//! `kind: CodeEnv`: a DSS code environment (Python or R) of the design node. This module owns
//! the spec type, the env name rule, the grant checks, what observation reads (the env list,
//! then the definition of each managed env), the plan (definition fields, then the package
//! list and the build options, which need an installation), and the calls apply makes.
//!
//! A code env is addressed by its language and its name (`/admin/code-envs/{lang}/{name}`);
//! dssctl's identity is the name alone (`metadata.name`), and the language is an identity
//! field of the spec: changing it is a plan error, never a silent replace. Apply finds the
//! language of a live env in the env list.
//!
//! Two sub-documents of one DSS document, the definition:
//! - `definition`: `usableByAll`, `permissions` (authoritative, one grant per group, every
//!   flag written) and `desc.owner`;
//! - `packages`: `specPackageList` (the requested packages, one per line) and the build
//!   options in `desc` (`pythonInterpreter`, `installCorePackages`, `installJupyterSupport`).
//!   Its write PUTs the definition and then runs DSS's package installation, waiting for its
//!   end: a failed installation fails the operation with the last lines of its log.
//!
//! After a failed installation DSS answers 500 for the env's definition until the env is
//! rebuilt (`POST .../packages?forceRebuildEnv=true`). Such an env is not a read error: the
//! plan compares the manifest with what the env list still says of it ([`broken_base`]) and
//! plans one `packages` write that PUTs the declared definition and rebuilds the env from
//! scratch, so that fixing the requirement in the manifest and applying again converges.

/// The calls that create, read, update and delete it (an `impl DssClient` block).
mod client;

use std::collections::{BTreeMap, BTreeSet};

use futures::future::BoxFuture;
use schemars::{JsonSchema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::listed::{self, LiveMap};
use super::{Checks, Kind, KindId, KindRead, NameRule, RefSink, group, items, names, overlay_of, user};
use super::{KindApply, KindExport, KindObserve, KindPlan, KindSpec};
use crate::apply::docs::ApplyDocError;
use crate::client::{ClientError, DssClient};
use crate::export::{ExportOut, ExportScope, meta};
use crate::manifest::kinds::{Declared, KeyedMap, ObjectMeta, Resource};
use crate::manifest::node::Node;
use crate::observe::{ObserveError, reading};
use crate::plan::diff::Doc;
use crate::plan::model::DocShape;
use crate::plan::planner::{Planner, flag, text};
use crate::plan::scope::{Needs, ReadPlan};
use crate::plan::{Change, LedgerIntent, Observed, Operation, ResourceId, SubDoc};

/// The word of code env ledger keys and plans.
pub(crate) const ID: KindId = KindId("code_env");

/// The kind.
pub(crate) static KIND: CodeEnvKind = CodeEnvKind;

super::register!(KIND, 110);

/// The sub-document of the requested packages and build options (a view of the definition
/// whose write also installs).
pub(crate) const PACKAGES: SubDoc = SubDoc::new(&DocShape::plain("packages"));

/// Code env names: letters, digits, `_`, `-` and `.`.
pub(crate) static NAME_RULE: NameRule = NameRule {
    what: "a code env name",
    allowed: names::dotted_char,
    allowed_text: "letters, digits, _, - and .",
    example: "py311_ml",
    pattern: Some(names::DOTTED_PATTERN),
    no_edge_spaces: false,
    fixed: None,
};

/// The language of a code env.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub(crate) enum Language {
    #[serde(rename = "python")]
    Python,
    R,
}

impl Language {
    /// The language as DSS writes it in paths and documents (`PYTHON`, `R`).
    pub(crate) fn wire(self) -> &'static str {
        match self {
            Language::Python => "PYTHON",
            Language::R => "R",
        }
    }

    /// The language of a DSS `envLang`, any case.
    pub(crate) fn from_wire(s: &str) -> Option<Language> {
        match s.to_ascii_uppercase().as_str() {
            "PYTHON" => Some(Language::Python),
            "R" => Some(Language::R),
            _ => None,
        }
    }

    /// As a manifest writes it.
    pub(crate) fn manifest(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::R => "R",
        }
    }
}

/// One grant on a code env: a group and its rights (a right left out is not granted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CodeEnvGrant {
    /// The group granted.
    pub group: String,
    /// May use the env in recipes, notebooks and webapps.
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_env: Option<bool>,
    /// May update the env's packages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<bool>,
    /// May manage who uses the env (DSS: `manageUsers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manage: Option<bool>,
}

impl CodeEnvGrant {
    /// The grant as DSS keeps it: every flag.
    fn wire(&self) -> Value {
        json!({
            "group": self.group,
            "use": self.use_env.unwrap_or(false),
            "update": self.update.unwrap_or(false),
            "manageUsers": self.manage.unwrap_or(false),
        })
    }
}

/// `kind: CodeEnv` spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CodeEnvSpec {
    /// `python` or `R` (DSS: `envLang`). Identity: cannot change in place.
    pub language: Language,
    /// The Python interpreter (`PYTHON39`, `PYTHON311`, ... or `CUSTOM`); Python envs only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(PYTHON[0-9]{2,}|CUSTOM)$"))]
    pub python_interpreter: Option<String>,
    /// Whether DSS installs its core packages in the env.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_core_packages: Option<bool>,
    /// Whether DSS installs Jupyter support in the env.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_jupyter_support: Option<bool>,
    /// The requested packages, one requirement each (`pandas==2.2.2`, `scikit-learn>=1.4`;
    /// DSS: `specPackageList`, one per line). A change installs them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<Vec<String>>,
    /// Whether every user may use the env.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usable_by_all: Option<bool>,
    /// The env owner's login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The grants, authoritative (grants not listed are removed), one per group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<CodeEnvGrant>>,
    /// Never deleted by dssctl, even after removal from the manifests, until an apply sets it to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect: Option<bool>,
}

/// A managed env's definition as read (`Err`: DSS answered 500, the env is broken; the
/// message says why).
pub(crate) type Definition = Result<Value, String>;

/// The language of a listed env, from its list item.
pub(crate) fn language_of(item: &Value) -> Option<Language> {
    item.get("envLang")
        .and_then(Value::as_str)
        .and_then(Language::from_wire)
}

/// The live envs as observed, keyed by name.
pub(crate) type Live = LiveMap<Definition>;

/// This kind's part of the observed state.
pub(crate) fn live(observed: &Observed) -> Option<&Live> {
    observed.kinds.get(ID)
}

/// The `CodeEnv` kind.
#[derive(Debug)]
pub(crate) struct CodeEnvKind;

impl KindSpec for CodeEnvKind {
    fn name(&self) -> &'static str {
        "CodeEnv"
    }

    fn id(&self) -> KindId {
        ID
    }

    fn description(&self) -> &'static str {
        "A code environment (Python or R): its packages, build options, owner and grants."
    }

    fn spec_schema(&self, generator: &mut SchemaGenerator) -> Value {
        generator.subschema_for::<CodeEnvSpec>().to_value()
    }

    fn spec_required(&self) -> bool {
        true
    }

    /// After the groups and users its grants and owner name; before the plugins whose
    /// settings name it.
    fn apply_rank(&self) -> u8 {
        2
    }

    fn name_rule(&self) -> &'static NameRule {
        &NAME_RULE
    }

    fn referable(&self) -> bool {
        true
    }

    fn check_spec(&self, checks: &mut Checks<'_>, spec: &Node) {
        if let Some(owner) = spec.get("owner") {
            checks.name("spec.owner", owner, &user::LOGIN_RULE);
        }
        let mut seen: Vec<String> = Vec::new();
        for (i, g) in items(spec.get("permissions")).iter().enumerate() {
            let Some(name) = g.get("group") else { continue };
            checks.name(&format!("spec.permissions[{i}].group"), name, &group::NAME_RULE);
            if let Some(text) = name.as_str() {
                if seen.iter().any(|s| s == text) {
                    checks
                        .error(
                            name.pos,
                            format!("spec.permissions[{i}]: group {text:?} is listed twice"),
                        )
                        .hint = Some("give each group one grant with all its rights".into());
                }
                seen.push(text.to_string());
            }
        }
        let is_r = spec.get("language").and_then(Node::as_str) == Some("R");
        if is_r && let Some(interp) = spec.get("pythonInterpreter") {
            checks
                .error(
                    interp.pos,
                    "spec.pythonInterpreter: an R code env has no Python interpreter",
                )
                .hint = Some("remove `pythonInterpreter`, or write `language: python`".into());
        }
        for (i, p) in items(spec.get("packages")).iter().enumerate() {
            if let Some(text) = p.as_str()
                && (text.trim().is_empty() || text.contains('\n'))
            {
                checks
                    .error(
                        p.pos,
                        format!("spec.packages[{i}]: one requirement per item, not empty"),
                    )
                    .hint = Some("write each package as its own item, e.g. `- pandas==2.2.2`".into());
            }
        }
    }

    fn references<'n>(&self, _meta: Option<&'n Node>, spec: Option<&'n Node>, refs: &mut RefSink<'_, 'n>) {
        refs.push(user::ID, spec.and_then(|s| s.get("owner")), None);
        for g in items(spec.and_then(|s| s.get("permissions"))) {
            refs.push(group::ID, g.get("group"), None);
        }
    }

    fn parse(&self, meta: ObjectMeta, spec: Value) -> Result<Resource, serde_json::Error> {
        Ok(Resource::new(
            &KIND,
            meta,
            serde_json::from_value::<CodeEnvSpec>(spec)?,
        ))
    }
}

impl KindPlan for CodeEnvKind {
    fn is_access_path(&self, path: &str) -> bool {
        path == "usableByAll" || path == "desc.owner"
    }

    fn plan(&self, planner: &mut Planner<'_>, declared: &Declared) {
        if let Some((meta, spec)) = declared.resource.typed::<CodeEnvSpec>() {
            plan_code_env(planner, declared, meta, spec);
        }
    }

    fn add_reads(&self, resource: &Resource, needs: &mut Needs<'_>) {
        let Some((meta, spec)) = resource.typed::<CodeEnvSpec>() else {
            return;
        };
        listed::details_mut(needs.reads, ID)
            .names
            .insert(meta.name.clone());
        if let Some(owner) = &spec.owner {
            needs.referenced(user::ID, owner);
        }
        for g in spec.permissions.iter().flatten() {
            needs.referenced(group::ID, &g.group);
        }
    }

    fn need_live(&self, _name: &str, reads: &mut ReadPlan) {
        listed::details_mut(reads, ID);
    }

    fn need_referenced(&self, _name: &str, reads: &mut ReadPlan) {
        listed::details_mut(reads, ID);
    }

    fn read_budget(&self, reads: &ReadPlan, live: &BTreeSet<ResourceId>) -> usize {
        listed::budget(ID, reads, live)
    }

    fn live_exists(&self, observed: &Observed, name: &str) -> Option<bool> {
        listed::exists::<Definition>(observed, ID, name)
    }

    fn live_document(&self, observed: &Observed, name: &str) -> Result<Option<Value>, &'static str> {
        listed::document::<Definition>(observed, ID, name, "code env list", |e| e.summary.clone())
    }

    fn subdocuments(&self) -> &'static [SubDoc] {
        &[SubDoc::DEFINITION, PACKAGES]
    }
}

impl KindObserve for CodeEnvKind {
    fn observe<'a>(
        &'a self,
        client: &'a DssClient,
        reads: &'a ReadPlan,
        parallelism: usize,
    ) -> Option<BoxFuture<'a, Result<KindRead, ObserveError>>> {
        let planned = listed::details(reads, ID)?;
        Some(Box::pin(async move {
            read_envs(client, &|name, _| planned.names.contains(name), parallelism).await
        }))
    }
}

impl KindApply for CodeEnvKind {
    fn get_main<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
    ) -> Option<BoxFuture<'a, Result<Value, ClientError>>> {
        // The list item: a broken env still exists, and its definition answers 500.
        Some(Box::pin(async move { summary_of(c, name).await }))
    }

    fn delete<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        _drop_data: bool,
    ) -> Option<BoxFuture<'a, Result<(), ClientError>>> {
        Some(Box::pin(async move {
            let lang = lang_of(c, name).await?;
            c.delete_code_env(lang.wire(), name).await
        }))
    }

    fn sub_document(&self, _name: &str, sub: SubDoc) -> Option<bool> {
        (sub == SubDoc::DEFINITION || sub == PACKAGES).then_some(true)
    }

    fn get_document<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        sub: SubDoc,
    ) -> Option<BoxFuture<'a, Result<Value, ClientError>>> {
        (sub == SubDoc::DEFINITION || sub == PACKAGES)
            .then(|| Box::pin(definition_or_base(c, name)) as BoxFuture<'a, Result<Value, ClientError>>)
    }

    fn put_document<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        sub: SubDoc,
        doc: Value,
        _what: String,
    ) -> Option<BoxFuture<'a, Result<(), ApplyDocError>>> {
        if sub == SubDoc::DEFINITION {
            return Some(Box::pin(async move {
                let lang = lang_of(c, name).await?;
                c.put_code_env(lang.wire(), name, &doc).await?;
                Ok(())
            }));
        }
        (sub == PACKAGES).then(|| {
            Box::pin(async move {
                put_packages(c, name, &doc).await.map(drop)?;
                Ok(())
            }) as BoxFuture<'a, Result<(), ApplyDocError>>
        })
    }

    /// The `packages` write reports its installation's outcome.
    fn put_document_with_notes<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        sub: SubDoc,
        doc: Value,
        what: String,
    ) -> Option<BoxFuture<'a, Result<Vec<String>, ApplyDocError>>> {
        if sub != PACKAGES {
            let put = self.put_document(c, name, sub, doc, what)?;
            return Some(Box::pin(async move { put.await.map(|()| Vec::new()) }));
        }
        Some(Box::pin(async move {
            let (summary, rebuilt) = put_packages(c, name, &doc).await?;
            let what = if rebuilt {
                "env rebuilt from scratch, package installation done"
            } else {
                "package installation done"
            };
            Ok(vec![format!("{what}: {summary}")])
        }))
    }

    fn describe_document(&self, name: &str, sub: SubDoc) -> String {
        if sub == PACKAGES {
            format!("the packages of code env {name}")
        } else {
            format!("code env {name}")
        }
    }

    fn create_seed(&self, name: &str) -> (SubDoc, Value) {
        (SubDoc::DEFINITION, json!({ "envName": name }))
    }

    fn create_fields(&self) -> &'static [&'static str] {
        &["envName", "envLang", "usableByAll", "permissions", "desc"]
    }

    /// The create call takes the language, the deployment mode and the build options; the
    /// packages are left to the `packages` write that follows, so that their installation is
    /// reported like any later one.
    fn create_body(&self, op: &Operation, doc: Value) -> Value {
        let mut body = doc;
        body["deploymentMode"] = json!("DESIGN_MANAGED");
        if let Some(Value::Object(desc)) = overlay_of(op, PACKAGES).and_then(|o| o.get("desc")) {
            let target = body
                .as_object_mut()
                .expect("the seed is an object")
                .entry("desc")
                .or_insert_with(|| json!({}));
            if let Value::Object(t) = target {
                for (k, v) in desc {
                    t.insert(k.clone(), v.clone());
                }
            }
        }
        body
    }

    fn create<'a>(
        &self,
        c: &'a DssClient,
        name: &'a str,
        body: &'a Value,
        _what: &'a str,
    ) -> Option<BoxFuture<'a, Result<(), ApplyDocError>>> {
        Some(Box::pin(async move {
            let lang = body
                .get("envLang")
                .and_then(Value::as_str)
                .unwrap_or("PYTHON")
                .to_string();
            let mut body = body.clone();
            if let Value::Object(m) = &mut body {
                m.remove("envLang");
                m.remove("envName");
            }
            c.create_code_env(&lang, name, &body).await?;
            Ok(())
        }))
    }

    fn write_references(&self, op: &Operation, out: &mut Vec<ResourceId>) {
        if let Some(def) = overlay_of(op, SubDoc::DEFINITION) {
            let owner = def.get("desc").and_then(|d| d.get("owner"));
            super::access_references(owner, def.get("permissions"), out);
        }
    }
}

impl KindExport for CodeEnvKind {
    fn export_word(&self) -> Option<&'static str> {
        Some("code-envs")
    }

    fn export_read<'a>(
        &'a self,
        scope: &'a ExportScope<'a>,
    ) -> Option<BoxFuture<'a, anyhow::Result<KindRead>>> {
        Some(Box::pin(async move {
            // Every env a CodeEnv manifest could declare (the design-managed ones).
            let read = read_envs(
                scope.client,
                &|_, item| is_design_managed(item),
                scope.parallelism,
            )
            .await?;
            Ok(read)
        }))
    }

    fn export(&self, observed: &Observed, out: &mut ExportOut) {
        for (name, env) in live(observed).into_iter().flatten() {
            if !is_design_managed(&env.summary) {
                let mode = env
                    .summary
                    .get("deploymentMode")
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                out.notes.push(format!(
                    "code env {name} left out: its deployment mode is {mode} (a CodeEnv manifest declares design-managed envs)"
                ));
                continue;
            }
            match &env.detail {
                Some(Ok(def)) => {
                    if let Some(spec) = export_spec(&env.summary, Some(def)) {
                        out.put("code-envs.yaml", Resource::new(&KIND, meta(name, None), spec));
                    }
                }
                Some(Err(message)) => out.notes.push(format!(
                    "code env {name} left out: DSS answers 500 for it ({message})"
                )),
                None => {}
            }
        }
    }
}

impl Kind for CodeEnvKind {}

/// The list item of env `name` (not found when absent).
async fn summary_of(c: &DssClient, name: &str) -> Result<Value, ClientError> {
    let items = c.list_code_envs().await?;
    listed::find(
        items,
        "envName",
        name,
        "/admin/code-envs/",
        format!("code env {name} is not in the code env list"),
    )
}

/// The language of the live env `name`, from the env list.
async fn lang_of(c: &DssClient, name: &str) -> Result<Language, ClientError> {
    let item = summary_of(c, name).await?;
    let lang = item.get("envLang").and_then(Value::as_str).unwrap_or("PYTHON");
    Language::from_wire(lang).ok_or_else(|| ClientError::Task(format!("code env {name} has language {lang}")))
}

/// Whether a client error is DSS's answer for a broken env (500 on its definition).
fn is_broken(e: &ClientError) -> bool {
    matches!(e, ClientError::Api { status: 500, .. })
}

/// What the definition of a broken env is taken to be, from its list item (which DSS still
/// serves): identity, deployment mode, `usableByAll`, owner and interpreter. The plan compares
/// the manifest with it, and apply writes over it: both build it here, so that a saved plan's
/// fingerprint matches at apply time.
pub(crate) fn broken_base(item: &Value) -> Value {
    let mut desc = serde_json::Map::new();
    if let Some(owner) = item.get("owner").filter(|v| v.is_string()) {
        desc.insert("owner".into(), owner.clone());
    }
    if let Some(interp) = item.get("pythonInterpreter").filter(|v| v.is_string()) {
        desc.insert("pythonInterpreter".into(), interp.clone());
    }
    let mut base = json!({ "desc": desc });
    for k in ["envName", "envLang", "deploymentMode", "usableByAll"] {
        if let Some(v) = item.get(k).filter(|v| !v.is_null()) {
            base[k] = v.clone();
        }
    }
    base
}

/// The definition of env `name`; for a broken env (500), its [`broken_base`].
async fn definition_or_base(c: &DssClient, name: &str) -> Result<Value, ClientError> {
    let item = summary_of(c, name).await?;
    let lang = item.get("envLang").and_then(Value::as_str).unwrap_or("PYTHON");
    let lang = Language::from_wire(lang)
        .ok_or_else(|| ClientError::Task(format!("code env {name} has language {lang}")))?;
    match c.get_code_env(lang.wire(), name).await {
        Err(e) if is_broken(&e) => Ok(broken_base(&item)),
        other => other,
    }
}

/// The `packages` write: PUT the definition with the requested packages and build options,
/// then install, waiting for the end. The env is rebuilt from scratch when the interpreter
/// changed or the env is broken (its definition answers 500); the second value says so.
async fn put_packages(c: &DssClient, name: &str, doc: &Value) -> Result<(String, bool), ClientError> {
    let lang = lang_of(c, name).await?;
    let interpreter = |d: &Value| d.get("desc").and_then(|x| x.get("pythonInterpreter")).cloned();
    let rebuild = match c.get_code_env(lang.wire(), name).await {
        Ok(before) => interpreter(&before) != interpreter(doc),
        Err(e) if is_broken(&e) => true,
        Err(e) => return Err(e),
    };
    c.put_code_env(lang.wire(), name, doc).await?;
    let outcome = c.update_code_env_packages(lang.wire(), name, rebuild).await?;
    // DSS's message repeats the env's name, which the report already gives.
    let prefix = format!("Code env {name}: ");
    let summary = outcome
        .summary
        .strip_prefix(&prefix)
        .unwrap_or(&outcome.summary)
        .to_string();
    Ok((summary, rebuild))
}

/// Whether a listed env is one a CodeEnv manifest declares (DSS manages it, for the design
/// node; not a plugin's).
fn is_design_managed(item: &Value) -> bool {
    item.get("deploymentMode").and_then(Value::as_str) == Some("DESIGN_MANAGED")
}

/// The env list, then the definition of every listed env that `wanted` selects.
async fn read_envs(
    c: &DssClient,
    wanted: &(dyn Fn(&str, &Value) -> bool + Sync),
    parallelism: usize,
) -> Result<KindRead, ObserveError> {
    let list = c.list_code_envs().await.map_err(reading("the code env list"))?;
    // An env whose language dssctl does not know has no definition it could read.
    let known = |name: &str, item: &Value| language_of(item).is_some() && wanted(name, item);
    listed::read(
        ID,
        list,
        "envName",
        &known,
        parallelism,
        |name, item| async move {
            let lang = language_of(&item).unwrap_or(Language::Python);
            match c.get_code_env(lang.wire(), &name).await {
                Ok(d) => Ok(Ok(d)),
                // DSS answers 500 for an env whose last installation failed: the planner says so.
                Err(ClientError::Api {
                    status: 500, message, ..
                }) => Ok(Err(message)),
                Err(e) => Err(reading(format!("code env {name}"))(e)),
            }
        },
    )
    .await
}

/// The requested lines of a `specPackageList`: trimmed, comments and blank lines dropped.
pub(crate) fn package_lines(spec: &str) -> Vec<String> {
    spec.lines()
        .map(|l| l.split(" #").next().unwrap_or("").trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// The grants of a live definition, by group, as DSS keeps them (missing flags false).
fn live_grants(def: Option<&Value>) -> BTreeMap<String, Value> {
    def.and_then(|d| d.get("permissions"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|g| {
            let group = g.get("group")?.as_str()?.to_string();
            let flag = |k: &str| g.get(k).and_then(Value::as_bool).unwrap_or(false);
            Some((
                group.clone(),
                json!({"group": group, "use": flag("use"), "update": flag("update"), "manageUsers": flag("manageUsers")}),
            ))
        })
        .collect()
}

/// Compare the grants: authoritative, matched by group, every flag.
fn plan_grants(doc: &mut Doc<'_>, desired: &[CodeEnvGrant]) {
    let live = live_grants(doc.live);
    let creating = doc.live.is_none();
    let want: Vec<Value> = desired.iter().map(CodeEnvGrant::wire).collect();
    for (spec, w) in desired.iter().zip(&want) {
        let path = format!("permissions[group={}]", spec.group);
        match live.get(&spec.group) {
            None => doc.changes.push(Change::new(path, Value::Null, w.clone())),
            Some(have) => {
                for flag in ["use", "update", "manageUsers"] {
                    if have[flag] != w[flag] {
                        doc.changes.push(Change::new(
                            format!("{path}.{flag}"),
                            have[flag].clone(),
                            w[flag].clone(),
                        ));
                    }
                }
            }
        }
    }
    if !creating {
        for (g, have) in &live {
            if !desired.iter().any(|d| &d.group == g) {
                doc.changes.push(Change::new(
                    format!("permissions[group={g}]"),
                    have.clone(),
                    Value::Null,
                ));
            }
        }
    }
    doc.overlay.insert("permissions".into(), Value::Array(want));
}

/// The definition fields of a plan: `usableByAll`, the owner, the grants.
fn plan_definition(def: &mut Doc<'_>, spec: &CodeEnvSpec, creating: bool) {
    if creating {
        def.write_only("envLang", json!(spec.language.wire()));
    }
    def.scalar("usableByAll", flag(spec.usable_by_all), Some(json!(false)));
    if let Some(owner) = &spec.owner {
        let mut desc = KeyedMap::new();
        desc.insert("owner".into(), json!(owner));
        def.keyed("desc", Some(&desc));
    }
    if let Some(grants) = &spec.permissions {
        plan_grants(def, grants);
    }
}

/// The packages and build options of a plan. `definition` is the live one (`None`: the
/// packages are written whatever they were, on creation or rebuild).
fn plan_packages(pkgs: &mut Doc<'_>, spec: &CodeEnvSpec, definition: Option<&Value>, creating: bool) {
    let mut build = KeyedMap::new();
    if let Some(v) = text(&spec.python_interpreter) {
        build.insert("pythonInterpreter".into(), v);
    }
    if let Some(v) = flag(spec.install_core_packages) {
        build.insert("installCorePackages".into(), v);
    }
    if let Some(v) = flag(spec.install_jupyter_support) {
        build.insert("installJupyterSupport".into(), v);
    }
    if !build.is_empty() {
        pkgs.keyed("desc", Some(&build));
    }
    let Some(wanted) = &spec.packages else {
        return;
    };
    let want: Vec<String> = wanted.iter().map(|l| l.trim().to_string()).collect();
    let have = definition.map(|d| {
        d.get("specPackageList")
            .and_then(Value::as_str)
            .map(package_lines)
            .unwrap_or_default()
    });
    match have {
        Some(have) if have == want => {}
        Some(have) => pkgs
            .changes
            .push(Change::new("packages", json!(have), json!(want))),
        None => pkgs
            .changes
            .push(Change::new("packages", Value::Null, json!(want))),
    }
    // A creation installs only when there is something to install beyond the defaults.
    if !(creating && want.is_empty()) {
        pkgs.overlay
            .insert("specPackageList".into(), json!(want.join("\n")));
    }
}

/// Plan one declared code env: its writes, compared with the live state.
pub(crate) fn plan_code_env(p: &mut Planner<'_>, d: &Declared, meta: &ObjectMeta, spec: &CodeEnvSpec) {
    let id = ResourceId::new(ID, &meta.name);
    let Some(envs) = live(p.observed()) else {
        return p.not_read(&id, &d.origin, "code env list");
    };
    if let Some(owner) = &spec.owner {
        p.check_ref(d, &id, user::ID, owner, "owner");
    }
    for g in spec.permissions.iter().flatten() {
        p.check_ref(d, &id, group::ID, &g.group, "permissions");
    }
    let env = envs.get(&meta.name);
    if let Some(e) = env
        && let Some(lang) = language_of(&e.summary)
        && lang != spec.language
    {
        return p.error_at(
            &id,
            Some(&d.origin),
            format!(
                "language is {} on the instance but {} in the manifest; a code env's language cannot change in place",
                lang.manifest(),
                spec.language.manifest()
            ),
            Some(format!(
                "declare the new env under another name and move its users to it, or delete code env {:?} in DSS first",
                meta.name
            )),
        );
    }
    let (base, broken) = match env.map(|e| (e, e.detail.as_ref())) {
        None => (None, None),
        Some((_, Some(Ok(def)))) => (Some(def.clone()), None),
        Some((e, Some(Err(message)))) => (Some(broken_base(&e.summary)), Some(message.as_str())),
        Some((_, None)) => return p.not_read(&id, &d.origin, "code env definition"),
    };
    let definition = base.as_ref();
    let creating = env.is_none();

    let writes = match broken {
        None => {
            let mut def = Doc::new(SubDoc::DEFINITION, definition, None);
            plan_definition(&mut def, spec, creating);
            let mut pkgs = Doc::new(PACKAGES, definition, None);
            plan_packages(&mut pkgs, spec, definition, creating);
            vec![def.finish(None), pkgs.finish(None)]
        }
        // DSS answers 500 until the env is rebuilt: one write PUTs the whole declared
        // definition (a second GET would not see the first PUT) and rebuilds the env.
        Some(message) => {
            let mut doc = Doc::new(PACKAGES, definition, None);
            doc.changes.push(Change {
                note: Some(
                    "DSS answers 500 for this env's definition, as after a failed package installation: apply writes the declared definition over it and rebuilds the env from scratch; what the manifest does not declare goes back to DSS's defaults".into(),
                ),
                ..Change::new("rebuild", json!(format!("broken: {message}")), json!("rebuilt"))
            });
            plan_definition(&mut doc, spec, false);
            plan_packages(&mut doc, spec, None, true);
            vec![doc.finish(None)]
        }
    };
    let intent = LedgerIntent {
        protect: spec.protect.unwrap_or(false),
        drop_data_on_delete: false,
        dss_id: None,
    };
    p.finish(id, &d.origin, !creating, writes, intent);
}

/// The manifest of a live env, for export: its language, build options, packages, owner and
/// grants (`definition` when read, else what the list item says).
pub(crate) fn export_spec(summary: &Value, definition: Option<&Value>) -> Option<CodeEnvSpec> {
    let language = summary
        .get("envLang")
        .and_then(Value::as_str)
        .and_then(Language::from_wire)?;
    let src = definition.unwrap_or(summary);
    let desc = definition.and_then(|d| d.get("desc"));
    let desc_str = |k: &str| {
        desc.and_then(|x| x.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let desc_bool = |k: &str| desc.and_then(|x| x.get(k)).and_then(Value::as_bool);
    let owner =
        desc_str("owner").or_else(|| summary.get("owner").and_then(Value::as_str).map(str::to_string));
    let permissions = definition.map(|_| {
        live_grants(definition)
            .into_values()
            .map(|g| CodeEnvGrant {
                group: g["group"].as_str().unwrap_or_default().to_string(),
                use_env: Some(g["use"] == json!(true)),
                update: Some(g["update"] == json!(true)),
                manage: Some(g["manageUsers"] == json!(true)),
            })
            .collect()
    });
    Some(CodeEnvSpec {
        language,
        python_interpreter: if language == Language::Python {
            desc_str("pythonInterpreter")
        } else {
            None
        },
        install_core_packages: desc_bool("installCorePackages"),
        install_jupyter_support: desc_bool("installJupyterSupport"),
        packages: definition
            .and_then(|d| d.get("specPackageList"))
            .and_then(Value::as_str)
            .map(package_lines),
        usable_by_all: src.get("usableByAll").and_then(Value::as_bool),
        owner,
        permissions,
        protect: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_lines_drop_comments_and_blanks() {
        assert_eq!(
            package_lines("pandas==2.2.2\n\n# a comment\nnumpy  # pinned later\n"),
            vec!["pandas==2.2.2", "numpy"]
        );
    }

    #[test]
    fn grants_are_written_with_every_flag() {
        let g = CodeEnvGrant {
            group: "data_team".into(),
            use_env: Some(true),
            ..Default::default()
        };
        assert_eq!(
            g.wire(),
            json!({"group": "data_team", "use": true, "update": false, "manageUsers": false})
        );
    }

    #[test]
    fn languages_read_in_any_case() {
        assert_eq!(Language::from_wire("python"), Some(Language::Python));
        assert_eq!(Language::from_wire("R"), Some(Language::R));
        assert_eq!(Language::from_wire("julia"), None);
        let spec: CodeEnvSpec = serde_json::from_value(json!({"language": "R"})).unwrap();
        assert_eq!(spec.language, Language::R);
        assert!(serde_json::from_value::<CodeEnvSpec>(json!({"language": "PYTHON"})).is_err());
    }

    #[test]
    fn a_broken_env_is_taken_as_what_its_list_item_says() {
        let item = json!({"envName": "e", "envLang": "PYTHON", "deploymentMode": "DESIGN_MANAGED",
            "owner": "admin", "usableByAll": false, "isUptodate": false, "pythonInterpreter": "PYTHON311"});
        assert_eq!(
            broken_base(&item),
            json!({"envName": "e", "envLang": "PYTHON", "deploymentMode": "DESIGN_MANAGED",
                "usableByAll": false, "desc": {"owner": "admin", "pythonInterpreter": "PYTHON311"}})
        );
    }

    #[test]
    fn export_reads_the_definition() {
        let summary = json!({"envName": "e", "envLang": "PYTHON", "owner": "admin"});
        let def = json!({"envName": "e", "usableByAll": true, "specPackageList": "pandas\n",
            "permissions": [{"group": "g", "use": true, "update": false, "manageUsers": false}],
            "desc": {"owner": "admin", "pythonInterpreter": "PYTHON311", "installCorePackages": true,
                     "installJupyterSupport": false}});
        let spec = export_spec(&summary, Some(&def)).unwrap();
        assert_eq!(spec.python_interpreter.as_deref(), Some("PYTHON311"));
        assert_eq!(spec.packages, Some(vec!["pandas".to_string()]));
        assert_eq!(spec.permissions.as_ref().unwrap()[0].use_env, Some(true));
        assert_eq!(spec.usable_by_all, Some(true));
    }
}
