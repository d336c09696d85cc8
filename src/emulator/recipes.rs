//! Recipes: list, create (the official client's recipe creators), get and save (definition
//! and payload together), delete, rename, metadata, status, and the schema updates of their
//! outputs (compute and apply).
//!
//! A recipe is served as `{"recipe": definition, "payload": text}`: the payload is the code of
//! a code recipe (SQL, Python, shell, ...) and a JSON text for visual recipes. Create takes
//! `{recipePrototype, creationSettings}` and answers `{"name"}`: a missing name becomes
//! `compute_<first output>` (suffixed when taken); the payload comes from
//! `creationSettings.script` (code recipes), else `rawPayload`; outputs the client asks for with
//! `createOutputDataset` / `createOutputFolder` are created as managed datasets / folders on the
//! given connection. Inputs and outputs must exist (datasets by name, folders by id; `P.name`
//! for another project) unless `rawCreation`; an output already built by another recipe is
//! refused (DSS gives every dataset at most one producer); the type never changes.
//!
//! Defaults filled at create and on every save: `params: {}` (with `envSelection: INHERIT` for
//! Python and R), input items' `deps: []`, output items' `appendMode: false`, `tags`,
//! `customMeta`, `checklists`, `customFields`, `neededSchemaUpdate: false`,
//! `redispatchPartitioning: false`, `maxRunningActivities: 0`, `variables: {}`, `versionTag`,
//! `creationTag`.

use axum::routing;
use bytes::Bytes;
use serde_json::{Value, json};

use super::flow_state::{self, paths};
use super::http::{self, ApiError, ApiResult, Query};
use super::router::{Api, App, Params, Req, Routes};
use super::store::{self, Doc, Project};

/// Recipe types whose payload is code rather than JSON settings.
const CODE_TYPES: [&str; 15] = [
    "python",
    "r",
    "sql_script",
    "sql_query",
    "pyspark",
    "sparkr",
    "spark_scala",
    "shell",
    "spark_sql_query",
    "hive",
    "impala",
    "cpython",
    "ksql",
    "streaming_spark_scala",
    "julia",
];

fn not_found(key: &str, name: &str) -> ApiError {
    ApiError::not_found(format!("Recipe '{name}' does not exist in project {key}"))
}

fn recipe<'a>(st: &'a store::Store, key: &str, name: &str) -> Result<&'a Doc, ApiError> {
    st.project(key)?
        .flow
        .recipes
        .get(name)
        .ok_or_else(|| not_found(key, name))
}

fn normalise_roles(roles: Option<&Value>, output: bool) -> Result<Value, ApiError> {
    let mut out = serde_json::Map::new();
    let Some(roles) = roles.filter(|r| !r.is_null()) else {
        return Ok(json!({}));
    };
    let roles = roles
        .as_object()
        .ok_or_else(|| ApiError::illegal("recipe: inputs and outputs must be objects of roles"))?;
    for (role, value) in roles {
        let items = value
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut normalised = Vec::new();
        for item in items {
            let mut item = item.as_object().cloned().ok_or_else(|| {
                ApiError::illegal(format!("recipe role '{role}': every item must be an object"))
            })?;
            if item.get("ref").and_then(Value::as_str).is_none_or(str::is_empty) {
                return Err(ApiError::illegal(format!(
                    "recipe role '{role}': every item needs a 'ref'"
                )));
            }
            if output {
                if item.get("appendMode").is_none_or(Value::is_null) {
                    item.insert("appendMode".into(), json!(false));
                }
            } else if item.get("deps").is_none_or(Value::is_null) {
                item.insert("deps".into(), json!([]));
            }
            normalised.push(Value::Object(item));
        }
        let mut r = value.as_object().cloned().unwrap_or_default();
        r.insert("items".into(), json!(normalised));
        out.insert(role.clone(), Value::Object(r));
    }
    Ok(Value::Object(out))
}

fn fill_defaults(def: &mut Doc, ty: &str) {
    let mut params = def
        .get("params")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if matches!(ty, "python" | "r" | "pyspark" | "sparkr") && !params.contains_key("envSelection") {
        params.insert("envSelection".into(), json!({"envMode": "INHERIT"}));
    }
    def.insert("params".into(), Value::Object(params));
    let defaults = [
        ("tags", json!([])),
        ("customMeta", json!({"kv": {}})),
        ("checklists", json!({"checklists": []})),
        ("customFields", json!({})),
        ("neededSchemaUpdate", json!(false)),
        ("redispatchPartitioning", json!(false)),
        ("maxRunningActivities", json!(0)),
        ("variables", json!({})),
    ];
    for (k, v) in defaults {
        if def.get(k).is_none_or(Value::is_null) {
            def.insert(k.into(), v);
        }
    }
}

/// Whether a ref names an existing dataset or folder.
fn ref_exists(st: &store::Store, key: &str, r: &str) -> bool {
    let (p, n) = flow_state::split_ref(key, r);
    st.projects.get(p).is_some_and(|proj| {
        proj.datasets.contains_key(n)
            || proj
                .flow
                .collections
                .of(&super::managed_folders::FOLDERS)
                .contains_key(n)
    })
}

/// Check a definition's refs: inputs and outputs exist, no output built by another recipe.
fn check_refs(st: &store::Store, key: &str, name: &str, def: &Doc) -> Result<(), ApiError> {
    let project = st.project(key)?;
    for (what, refs) in [
        ("input", flow_state::role_refs(def.get("inputs"))),
        ("output", flow_state::role_refs(def.get("outputs"))),
    ] {
        for r in refs {
            if !ref_exists(st, key, &r) {
                return Err(ApiError::not_found(format!(
                    "Recipe {name}: {what} '{r}' is neither a dataset nor a managed folder of the project"
                )));
            }
        }
    }
    for r in flow_state::role_refs(def.get("outputs")) {
        if let Some(other) = producer_of(project, key, &r).filter(|o| o != name) {
            return Err(ApiError::illegal(format!(
                "Recipe {name}: '{r}' is already the output of recipe {other}"
            )));
        }
    }
    Ok(())
}

fn producer_of(project: &Project, key: &str, r: &str) -> Option<String> {
    let target = flow_state::split_ref(key, r);
    project.flow.recipes.iter().find_map(|(n, stored)| {
        flow_state::recipe_outputs(stored)
            .iter()
            .any(|o| flow_state::split_ref(key, o) == target)
            .then(|| n.clone())
    })
}

pub(crate) fn list(app: &App, req: &Req, key: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let st = app.read();
    let items: Vec<&Doc> = st
        .project(key)?
        .flow
        .recipes
        .values()
        .map(flow_state::recipe_def)
        .collect();
    Ok(http::json(&items))
}

pub(crate) async fn create(app: &App, req: &Req, key: &str) -> ApiResult {
    req.caller.require(key, "WRITE_CONF")?;
    let body = http::body_object(&req.body)?;
    let mut proto = body
        .get("recipePrototype")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| ApiError::illegal("recipe creation: 'recipePrototype' is required"))?;
    store::drop_nulls(&mut proto);
    let settings = body
        .get("creationSettings")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let ty = http::required_str(&proto, "recipe", "type")?;
    let raw = settings
        .get("rawCreation")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    proto.insert("inputs".into(), normalise_roles(proto.get("inputs"), false)?);
    proto.insert("outputs".into(), normalise_roles(proto.get("outputs"), true)?);
    st_project_exists(app, key)?;
    // Outputs the client asks the server to create.
    let outputs = flow_state::role_refs(proto.get("outputs"));
    if !raw && settings.get("createOutputDataset").and_then(Value::as_bool) == Some(true) {
        let ds = settings
            .get("outputDatasetSettings")
            .cloned()
            .unwrap_or(json!({}));
        for out in &outputs {
            if ref_exists(&app.read(), key, out) {
                continue;
            }
            let body = json!({"name": out, "creationSettings": {
                "connectionId": ds.get("connectionId").cloned().unwrap_or(Value::Null),
                "typeOptionId": ds.get("typeOptionId").cloned().unwrap_or(Value::Null),
                "specificSettings": ds.get("specificSettings").cloned().unwrap_or(json!({})),
            }});
            let inner = Req {
                query: Query::default(),
                body: Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
                caller: req.caller.clone(),
            };
            super::datasets::create_managed(app, &inner, key).await?;
        }
    }
    let mut outputs_renamed = Vec::new();
    if !raw && settings.get("createOutputFolder").and_then(Value::as_bool) == Some(true) {
        let fs = settings.get("outputFolderSettings").cloned().unwrap_or(json!({}));
        for out in &outputs {
            if ref_exists(&app.read(), key, out) {
                continue;
            }
            let body = json!({"name": out, "params": {
                "connection": fs.get("connectionId").cloned().unwrap_or(json!("filesystem_folders"))}});
            let doc = super::managed_folders::create_folder(
                app,
                key,
                body.as_object().cloned().unwrap_or_default(),
                &req.caller.login(),
            )
            .await?;
            let id = doc
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            outputs_renamed.push((out.clone(), id));
        }
    }
    // A created folder is referenced by its id, not the name the client gave.
    if !outputs_renamed.is_empty()
        && let Some(Value::Object(roles)) = proto.get_mut("outputs")
    {
        for role in roles.values_mut() {
            if let Some(Value::Array(items)) = role.get_mut("items") {
                for item in items {
                    for (name, id) in &outputs_renamed {
                        if item.get("ref").and_then(Value::as_str) == Some(name) {
                            item["ref"] = json!(id);
                        }
                    }
                }
            }
        }
    }
    let payload = settings
        .get("script")
        .and_then(Value::as_str)
        .or_else(|| settings.get("rawPayload").and_then(Value::as_str))
        .or_else(|| settings.get("payload").and_then(Value::as_str))
        .map(str::to_string)
        .unwrap_or_else(|| {
            if CODE_TYPES.contains(&ty.as_str()) {
                String::new()
            } else {
                "{}".to_string()
            }
        });
    let login = req.caller.login();
    let (name, pending) = {
        let mut st = app.write();
        let project = st.project(key)?;
        let name = flow_state::given_or_generated(
            proto.get("name").and_then(Value::as_str),
            "recipe name",
            |n| project.flow.recipes.contains_key(n),
            |n| ApiError::already_exists(format!("Recipe '{key}.{n}' already exists")),
            || {
                // DSS names a recipe after its first output.
                let first = flow_state::role_refs(proto.get("outputs"))
                    .first()
                    .map(|r| flow_state::split_ref(key, r).1.to_string())
                    .unwrap_or_else(|| ty.clone());
                format!("compute_{first}")
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '_' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect()
            },
        )?;
        let mut def = proto;
        def.insert("name".into(), json!(name));
        def.insert("projectKey".into(), json!(key));
        if !raw {
            check_refs(&st, key, &name, &def)?;
        }
        let tags = store::sorted_tags(def.get("tags"), "recipe")?;
        def.insert("tags".into(), tags);
        fill_defaults(&mut def, &ty);
        def.insert("creationTag".into(), store::creation_tag(&login));
        store::bump_version(&mut def, None, &login);
        let stored = json!({"recipe": def, "payload": payload});
        let pending = app.persist.put(paths::recipe(key, &name), &stored);
        let project = st.project_mut(key)?;
        project
            .flow
            .recipes
            .insert(name.clone(), stored.as_object().cloned().unwrap_or_default());
        (name, pending)
    };
    app.persist.run([pending]).await?;
    Ok(http::json(
        &json!({"name": name, "msg": format!("Created recipe {key}.{name}")}),
    ))
}

fn st_project_exists(app: &App, key: &str) -> Result<(), ApiError> {
    app.read().project(key).map(|_| ())
}

pub(crate) fn get(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let st = app.read();
    Ok(http::json(recipe(&st, key, name)?))
}

pub(crate) async fn put(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
    req.caller.require(key, "WRITE_CONF")?;
    let body = http::body_object(&req.body)?;
    let mut def = body
        .get("recipe")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| ApiError::illegal("recipe: the body must be {\"recipe\": ..., \"payload\": ...}"))?;
    store::drop_nulls(&mut def);
    match def.get("name").and_then(Value::as_str) {
        None => {
            def.insert("name".into(), json!(name));
        }
        Some(n) if n == name => {}
        Some(other) => {
            return Err(ApiError::illegal(format!(
                "recipe name '{other}' does not match the path ('{name}'); rename with actions/renameRecipe"
            )));
        }
    }
    def.insert("projectKey".into(), json!(key));
    def.insert("inputs".into(), normalise_roles(def.get("inputs"), false)?);
    def.insert("outputs".into(), normalise_roles(def.get("outputs"), true)?);
    let login = req.caller.login();
    let pending = {
        let mut st = app.write();
        let old = recipe(&st, key, name)?.clone();
        let old_def = flow_state::recipe_def(&old).clone();
        let ty = old_def
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        match def.get("type").and_then(Value::as_str) {
            None => {
                def.insert("type".into(), json!(ty));
            }
            Some(t) if t == ty => {}
            Some(t) => {
                return Err(ApiError::illegal(format!(
                    "The type of recipe {name} cannot change (from {ty} to {t})"
                )));
            }
        }
        check_refs(&st, key, name, &def)?;
        let tags = store::sorted_tags(def.get("tags"), "recipe")?;
        def.insert("tags".into(), tags);
        fill_defaults(&mut def, &ty);
        match old_def.get("creationTag") {
            Some(tag) => def.insert("creationTag".into(), tag.clone()),
            None => def.remove("creationTag"),
        };
        store::bump_version(&mut def, old_def.get("versionTag"), &login);
        let payload = match body.get("payload") {
            Some(Value::String(p)) => json!(p),
            None | Some(Value::Null) => old.get("payload").cloned().unwrap_or(json!("")),
            Some(other) => json!(other.to_string()),
        };
        let stored = json!({"recipe": def, "payload": payload});
        let pending = app.persist.put(paths::recipe(key, name), &stored);
        st.project_mut(key)?
            .flow
            .recipes
            .insert(name.to_string(), stored.as_object().cloned().unwrap_or_default());
        pending
    };
    app.persist.run([pending]).await?;
    Ok(http::msg(format!("Saved recipe {key}.{name}")))
}

pub(crate) async fn delete(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
    req.caller.require(key, "WRITE_CONF")?;
    let pending = {
        let mut st = app.write();
        let project = st.project_mut(key)?;
        project
            .flow
            .recipes
            .remove(name)
            .ok_or_else(|| not_found(key, name))?;
        let changed = flow_state::remove_from_zones(&mut project.flow, "RECIPE", name);
        let mut pending: Vec<_> = changed
            .iter()
            .filter_map(|z| project.flow.zones.get(z).map(|d| (z, d)))
            .map(|(z, d)| app.persist.put(paths::zone(key, z), &Value::Object(d.clone())))
            .collect();
        pending.push(app.persist.remove(paths::recipe(key, name)));
        pending
    };
    app.persist.run(pending).await?;
    Ok(http::empty())
}

pub(crate) async fn rename(app: &App, req: &Req, key: &str) -> ApiResult {
    req.caller.require(key, "WRITE_CONF")?;
    let body = http::body_object(&req.body)?;
    let old_name = http::required_str(&body, "rename", "oldName")?;
    let new_name = http::required_str(&body, "rename", "newName")?;
    flow_state::validate_id(&new_name, "recipe name")?;
    let login = req.caller.login();
    let pending = {
        let mut st = app.write();
        let project = st.project_mut(key)?;
        if project.flow.recipes.contains_key(&new_name) {
            return Err(ApiError::already_exists(format!(
                "Recipe '{key}.{new_name}' already exists"
            )));
        }
        let mut stored = project
            .flow
            .recipes
            .remove(&old_name)
            .ok_or_else(|| not_found(key, &old_name))?;
        if let Some(Value::Object(def)) = stored.get_mut("recipe") {
            def.insert("name".into(), json!(new_name));
            let previous = def.get("versionTag").cloned();
            store::bump_version(def, previous.as_ref(), &login);
        }
        let changed = flow_state::rename_in_zones(&mut project.flow, "RECIPE", &old_name, &new_name);
        let mut pending: Vec<_> = changed
            .iter()
            .filter_map(|z| project.flow.zones.get(z).map(|d| (z, d)))
            .map(|(z, d)| app.persist.put(paths::zone(key, z), &Value::Object(d.clone())))
            .collect();
        pending.push(
            app.persist
                .put(paths::recipe(key, &new_name), &Value::Object(stored.clone())),
        );
        pending.push(app.persist.remove(paths::recipe(key, &old_name)));
        project.flow.recipes.insert(new_name.clone(), stored);
        pending
    };
    app.persist.run(pending).await?;
    Ok(http::empty())
}

pub(crate) fn get_metadata(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let st = app.read();
    let def = flow_state::recipe_def(recipe(&st, key, name)?);
    let mut out = Doc::new();
    for k in ["label", "description", "shortDesc"] {
        if let Some(v) = def.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    out.insert("tags".into(), def.get("tags").cloned().unwrap_or(json!([])));
    out.insert(
        "custom".into(),
        def.get("customMeta").cloned().unwrap_or(json!({"kv": {}})),
    );
    out.insert(
        "checklists".into(),
        def.get("checklists")
            .cloned()
            .unwrap_or(json!({"checklists": []})),
    );
    out.insert(
        "customFields".into(),
        def.get("customFields").cloned().unwrap_or(json!({})),
    );
    Ok(http::json(&out))
}

pub(crate) async fn put_metadata(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
    req.caller.require(key, "WRITE_CONF")?;
    let mut body = http::body_object(&req.body)?;
    store::drop_nulls(&mut body);
    let tags = store::sorted_tags(body.get("tags"), "recipe metadata")?;
    let login = req.caller.login();
    let pending = {
        let mut st = app.write();
        let project = st.project_mut(key)?;
        let stored = project
            .flow
            .recipes
            .get_mut(name)
            .ok_or_else(|| not_found(key, name))?;
        if let Some(Value::Object(def)) = stored.get_mut("recipe") {
            for k in ["label", "description", "shortDesc", "checklists", "customFields"] {
                if let Some(v) = body.get(k) {
                    def.insert(k.into(), v.clone());
                }
            }
            if let Some(c) = body.get("custom") {
                def.insert("customMeta".into(), c.clone());
            }
            def.insert("tags".into(), tags);
            let previous = def.get("versionTag").cloned();
            store::bump_version(def, previous.as_ref(), &login);
        }
        app.persist
            .put(paths::recipe(key, name), &Value::Object(stored.clone()))
    };
    app.persist.run([pending]).await?;
    Ok(http::msg(format!("Saved metadata of recipe {key}.{name}")))
}

/// The status DSS computes for a recipe: engines, and messages from checks. The emulator
/// checks that inputs and outputs exist, and says which engine would run the recipe (the
/// emulator's: sync on "DSS", sql_query on "SQL"; none for recipes it does not run).
pub(crate) fn status(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let st = app.read();
    let def = flow_state::recipe_def(recipe(&st, key, name)?);
    let ty = def.get("type").and_then(Value::as_str).unwrap_or("");
    let mut messages = Vec::new();
    for r in flow_state::role_refs(def.get("inputs"))
        .into_iter()
        .chain(flow_state::role_refs(def.get("outputs")))
    {
        if !ref_exists(&st, key, &r) {
            messages.push(json!({"severity": "ERROR", "isFatal": true, "code": "ERR_RECIPE_INPUT_OR_OUTPUT_MISSING",
                "title": "Missing input or output", "message": format!("'{r}' does not exist"), "details": ""}));
        }
    }
    let max = if messages.is_empty() {
        Value::Null
    } else {
        json!("ERROR")
    };
    let mut out = json!({"allMessagesForFrontend": {"maxSeverity": max, "messages": messages,
        "anyMessage": !messages.is_empty(), "success": false, "warning": false, "error": !messages.is_empty()}});
    let engine = match ty {
        "sync" => Some(
            json!({"type": "DSS", "label": "DSS", "recommended": true, "statusWarnLevel": "OK", "isSelectable": true}),
        ),
        "sql_query" => Some(
            json!({"type": "SQL", "label": "In-database (SQL)", "recommended": true, "statusWarnLevel": "OK", "isSelectable": true}),
        ),
        _ => None,
    };
    if let Some(e) = engine {
        out["selectedEngine"] = e.clone();
        out["engines"] = json!([e]);
    }
    Ok(http::json(&out))
}

/// `schema-update`: the schema each output would get from the recipe, where it differs from the
/// output's. Code recipes cannot compute it (the client's docstring: the call raises for them).
pub(crate) async fn schema_update(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let stored = recipe(&app.read(), key, name)?.clone();
    let produced = super::flow_exec::produced_schema(app, key, &stored)
        .await
        .map_err(ApiError::illegal)?;
    let new_columns: Vec<Value> = produced
        .iter()
        .map(|(c, ty)| json!({"name": c, "type": ty}))
        .collect();
    let mut computables = Vec::new();
    let st = app.read();
    for r in flow_state::recipe_outputs(&stored) {
        let (p, n) = flow_state::split_ref(key, &r);
        let Some(doc) = st.projects.get(p).and_then(|proj| proj.datasets.get(n)) else {
            continue;
        };
        let current = super::flow_exec::declared_schema(doc);
        if current == produced {
            continue;
        }
        let incompatibilities = vec![format!(
            "The schema of {p}.{n} has columns [{}], the recipe produces [{}]",
            current
                .iter()
                .map(|(c, t)| format!("{c}:{t}"))
                .collect::<Vec<_>>()
                .join(", "),
            produced
                .iter()
                .map(|(c, t)| format!("{c}:{t}"))
                .collect::<Vec<_>>()
                .join(", ")
        )];
        computables.push(
            json!({"type": "DATASET", "id": n, "datasetName": n, "projectKey": p,
            "newSchema": {"columns": new_columns.clone(), "userModified": false},
            "incompatibilities": incompatibilities}),
        );
    }
    Ok(http::json(
        &json!({"totalIncompatibilities": computables.len(), "computables": computables}),
    ))
}

/// `actions/updateOutputSchema`: give an output its new schema; `dropAndRecreate` drops the
/// SQL table behind it, which the next build creates again.
pub(crate) async fn update_output_schema(app: &App, req: &Req, key: &str, name: &str) -> ApiResult {
    req.caller.require(key, "WRITE_CONF")?;
    let body = http::body_object(&req.body)?;
    let dataset = http::required_str(&body, "updateOutputSchema", "computableId")?;
    let schema = body
        .get("newSchema")
        .cloned()
        .ok_or_else(|| ApiError::illegal("updateOutputSchema: 'newSchema' is required"))?;
    let drop = body
        .get("dropAndRecreate")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let login = req.caller.login();
    let (p, n) = flow_state::split_ref(key, &dataset);
    let (p, n) = (p.to_string(), n.to_string());
    let (pending, doc) = {
        let mut st = app.write();
        let stored = recipe(&st, key, name)?;
        if !flow_state::recipe_outputs(stored)
            .iter()
            .any(|r| flow_state::split_ref(key, r) == (p.as_str(), n.as_str()))
        {
            return Err(ApiError::illegal(format!(
                "{dataset} is not an output of recipe {name}"
            )));
        }
        let project = st.project_mut(&p)?;
        let old = project
            .datasets
            .get(&n)
            .ok_or_else(|| store::dataset_not_found(&p, &n))?;
        let mut doc = (**old).clone();
        doc.insert("schema".into(), schema);
        store::bump_version(&mut doc, old.get("versionTag"), &login);
        let pending = app
            .persist
            .put(store::paths::dataset(&p, &n), &Value::Object(doc.clone()));
        project
            .datasets
            .insert(n.clone(), super::store::Stored::new(doc.clone()));
        (pending, doc)
    };
    app.persist.run([pending]).await?;
    if drop {
        let conn = doc
            .get("params")
            .and_then(|x| x.get("connection"))
            .and_then(Value::as_str);
        let table = doc
            .get("params")
            .and_then(|x| x.get("table"))
            .and_then(Value::as_str);
        let is_sql = conn.is_some_and(|c| {
            app.read()
                .connections
                .get(c)
                .and_then(|d| d.get("type"))
                .and_then(Value::as_str)
                .is_some_and(super::sql::is_sql_type)
        });
        if let (true, Some(c), Some(t)) = (is_sql, conn, table) {
            let t = t.replace("${projectKey}", &p);
            app.sql
                .execute_admin(
                    c,
                    &format!("DROP TABLE IF EXISTS {}", super::sql::quote_ident(&t)),
                )
                .await?;
        }
    }
    Ok(http::msg(format!("Updated the schema of {p}.{n}")))
}

/// Served by the emulator: registered in the API table ([`super::router::AREAS`]).
#[linkme::distributed_slice(super::router::AREAS)]
#[allow(
    unsafe_code,
    reason = "linkme places the entry in a link section; nothing else is unsafe"
)]
static AREA: fn() -> Routes = routes;

/// This area's routes (templates as the statistics count them).
pub(crate) fn routes() -> Routes {
    type K = Params<String>;
    type KN = Params<(String, String)>;
    Routes::new()
        .route(
            "/projects/{projectKey}/recipes",
            routing::get(|Params(k): K, a: Api| async move { list(&a.app, &a.req, &k) })
                .post(|Params(k): K, a: Api| async move { create(&a.app, &a.req, &k).await }),
        )
        .route(
            "/projects/{projectKey}/recipes/{recipeName}",
            routing::get(|Params((k, n)): KN, a: Api| async move { get(&a.app, &a.req, &k, &n) })
                .put(|Params((k, n)): KN, a: Api| async move { put(&a.app, &a.req, &k, &n).await })
                .delete(|Params((k, n)): KN, a: Api| async move { delete(&a.app, &a.req, &k, &n).await }),
        )
        .route(
            "/projects/{projectKey}/actions/renameRecipe",
            routing::post(|Params(k): K, a: Api| async move { rename(&a.app, &a.req, &k).await }),
        )
        .route(
            "/projects/{projectKey}/recipes/{recipeName}/metadata",
            routing::get(|Params((k, n)): KN, a: Api| async move { get_metadata(&a.app, &a.req, &k, &n) })
                .put(|Params((k, n)): KN, a: Api| async move { put_metadata(&a.app, &a.req, &k, &n).await }),
        )
        .route(
            "/projects/{projectKey}/recipes/{recipeName}/status",
            routing::get(|Params((k, n)): KN, a: Api| async move { status(&a.app, &a.req, &k, &n) }),
        )
        .route(
            "/projects/{projectKey}/recipes/{recipeName}/schema-update",
            routing::get(
                |Params((k, n)): KN, a: Api| async move { schema_update(&a.app, &a.req, &k, &n).await },
            ),
        )
        .route(
            "/projects/{projectKey}/recipes/{recipeName}/actions/updateOutputSchema",
            routing::post(|Params((k, n)): KN, a: Api| async move {
                update_output_schema(&a.app, &a.req, &k, &n).await
            }),
        )
}
