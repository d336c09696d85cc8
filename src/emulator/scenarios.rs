//! Scenarios: list, create (step_based, custom_python), get and save the settings, the light
//! view (status), the payload (script), delete, run, abort, last runs, runs by date, run
//! details and log, the trigger fire and the run it started.
//!
//! Create answers `{"id"}`: the id is the one sent, else the name upper-cased without what is
//! not a letter, digit or `_` (suffixed when taken). Server-side fields filled at create and
//! kept on save: `projectKey`, `active: false`, `triggers` (each with a generated `id`, `name`,
//! `delay: 5`, `active`, `params` with `lastUpdate`), `reporters: []`, `params.steps` (each step
//! with a generated `id` and a `name`), `runAsUser` (the creator), `delayedTriggersBehavior`
//! (`delayWhileRunning`, `squashDelayedTriggers`, `suppressTriggersWhileRunning`: true), `tags`,
//! `checklists`, `customFields`, `description`, `versionTag`, `creationTag`.
//!
//! A run (`POST .../run`) fires the `manual` trigger and answers the trigger fire; the run starts
//! at once unless the scenario is already running, in which case the fire is `cancelled`. The
//! steps are executed when the run starts: each `build_flowitem` step starts a job (see `jobs`
//! and `flow_exec`) for its `builds` with its `jobType` (RECURSIVE_BUILD by default); the first
//! failing step ends the run FAILED. Any other step type fails (the emulator runs build steps
//! only), and a custom_python scenario fails at once (the emulator never runs user code). Like
//! jobs, a run's visible progress follows the clock: each step takes the job duration, the run
//! is running until its last step's end, then holds its `result`; an abort before that ends it
//! ABORTED. Runs are kept per scenario, newest first in `get-last-runs`.
//!
//! Test scenarios (`markedAsTest`): `testing-status` counts the outcomes of their last finished
//! runs; the reports are JUnit XML (one `<testsuite>` per run, one `<testcase>` per step, a
//! `<failure>` for a step that did not succeed), or an HTML table for the HTML report.

use axum::routing;
use serde_json::{Value, json};

use super::flow_state::{self, paths};
use super::http::{self, ApiError, ApiResult};
use super::router::{Api, App, Params, Req, Routes};
use super::store::{self, Doc};
use crate::wire::{JobDefinition, JobOutput};

fn not_found(key: &str, id: &str) -> ApiError {
    ApiError::not_found(format!("Scenario '{id}' does not exist in project {key}"))
}

fn scenario<'a>(st: &'a store::Store, key: &str, id: &str) -> Result<&'a Doc, ApiError> {
    st.project(key)?
        .flow
        .scenarios
        .get(id)
        .ok_or_else(|| not_found(key, id))
}

fn settings_of(stored: &Doc) -> Doc {
    stored
        .get("scenario")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// Fill the server-side fields of a scenario's settings; `old` is the stored version.
fn normalise(doc: &mut Doc, old: Option<&Doc>, login: &str) -> Result<(), ApiError> {
    store::drop_nulls(doc);
    let now = store::now_ms();
    let mut triggers = match doc.get("triggers") {
        None => Vec::new(),
        Some(Value::Array(t)) => t.clone(),
        Some(other) => {
            return Err(ApiError::illegal(format!(
                "scenario: 'triggers' must be a list, got {}",
                http::kind_of(other)
            )));
        }
    };
    for (i, t) in triggers.iter_mut().enumerate() {
        let t = t
            .as_object_mut()
            .ok_or_else(|| ApiError::illegal("scenario: every trigger must be an object"))?;
        if t.get("id").and_then(Value::as_str).is_none_or(str::is_empty) {
            t.insert("id".into(), json!(flow_state::random_id(8)));
        }
        let ty = t
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("manual")
            .to_string();
        t.insert("type".into(), json!(ty));
        if t.get("name").is_none_or(Value::is_null) {
            t.insert("name".into(), json!(format!("Trigger #{}", i + 1)));
        }
        t.entry("active").or_insert(json!(true));
        t.entry("delay").or_insert(json!(5));
        let params = t.entry("params").or_insert(json!({}));
        if let Value::Object(p) = params {
            p.entry("lastUpdate").or_insert(json!(now));
        }
    }
    doc.insert("triggers".into(), json!(triggers));
    let mut params = doc
        .get("params")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if doc.get("type").and_then(Value::as_str) == Some("step_based") {
        let mut steps = params
            .get("steps")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (i, s) in steps.iter_mut().enumerate() {
            let s = s
                .as_object_mut()
                .ok_or_else(|| ApiError::illegal("scenario: every step must be an object"))?;
            if s.get("id").and_then(Value::as_str).is_none_or(str::is_empty) {
                s.insert("id".into(), json!(format!("step_{}", flow_state::random_id(6))));
            }
            if s.get("name").is_none_or(Value::is_null) {
                s.insert("name".into(), json!(format!("Step #{}", i + 1)));
            }
            s.entry("params").or_insert(json!({}));
            s.entry("runConditionType")
                .or_insert(json!("RUN_IF_STATUS_MATCH"));
            s.entry("runConditionStatuses")
                .or_insert(json!(["SUCCESS", "WARNING"]));
        }
        params.insert("steps".into(), json!(steps));
    }
    doc.insert("params".into(), Value::Object(params));
    let tags = store::sorted_tags(doc.get("tags"), "scenario")?;
    doc.insert("tags".into(), tags);
    let keep_or = |k: &str, v: Value| old.and_then(|o| o.get(k).cloned()).unwrap_or(v);
    let defaults = [
        ("active", json!(false)),
        ("reporters", json!([])),
        ("runAsUser", keep_or("runAsUser", json!(login))),
        (
            "delayedTriggersBehavior",
            keep_or(
                "delayedTriggersBehavior",
                json!({"delayWhileRunning": true, "squashDelayedTriggers": true, "suppressTriggersWhileRunning": true}),
            ),
        ),
        ("checklists", json!({"checklists": []})),
        ("customFields", json!({})),
        ("description", json!("")),
        ("automationLocal", json!(false)),
        ("markedAsTest", json!(false)),
    ];
    for (k, v) in defaults {
        if doc.get(k).is_none_or(Value::is_null) {
            doc.insert(k.into(), v);
        }
    }
    match old.and_then(|o| o.get("creationTag")) {
        Some(tag) => {
            doc.insert("creationTag".into(), tag.clone());
        }
        None if old.is_none() => {
            doc.insert("creationTag".into(), store::creation_tag(login));
        }
        None => {
            doc.remove("creationTag");
        }
    }
    store::bump_version(doc, old.and_then(|o| o.get("versionTag")), login);
    Ok(())
}

/// The run in progress of a scenario at `now`, if any.
fn running_run(runs: Option<&std::collections::BTreeMap<String, Doc>>, now: i64) -> Option<&Doc> {
    runs?.values().rev().find(|r| is_running(r, now))
}

fn is_running(run: &Doc, now: i64) -> bool {
    let end = run.get("plannedEnd").and_then(Value::as_i64).unwrap_or(0);
    run.get("abortedOn").is_none_or(Value::is_null) && now < end
}

fn summary(key: &str, doc: &Doc, runs: Option<&std::collections::BTreeMap<String, Doc>>, now: i64) -> Value {
    let running = running_run(runs, now);
    let digest: Vec<String> = doc
        .get("triggers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    json!({
        "projectKey": key,
        "id": doc.get("id").cloned().unwrap_or(Value::Null),
        "name": doc.get("name").cloned().unwrap_or(Value::Null),
        "type": doc.get("type").cloned().unwrap_or(Value::Null),
        "active": doc.get("active").cloned().unwrap_or(json!(false)),
        "tags": doc.get("tags").cloned().unwrap_or(json!([])),
        "description": doc.get("description").cloned().unwrap_or(json!("")),
        "shortDesc": doc.get("shortDesc").cloned().unwrap_or(Value::Null),
        "checklists": doc.get("checklists").cloned().unwrap_or(json!({"checklists": []})),
        "markedAsTest": doc.get("markedAsTest").cloned().unwrap_or(json!(false)),
        "running": running.is_some(),
        "start": running.and_then(|r| r.get("start").cloned()).unwrap_or(json!(0)),
        "nextRun": 0,
        "triggerDigest": digest.join(", "),
        "versionTag": doc.get("versionTag").cloned().unwrap_or(Value::Null),
    })
}

pub(crate) fn list(app: &App, req: &Req, key: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let now = store::now_ms();
    let st = app.read();
    let project = st.project(key)?;
    let items: Vec<Value> = project
        .flow
        .scenarios
        .iter()
        .map(|(id, stored)| summary(key, &settings_of(stored), project.flow.runs.get(id), now))
        .collect();
    Ok(http::json(&items))
}

fn id_from_name(name: &str) -> String {
    let id: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect::<String>()
        .to_ascii_uppercase();
    if id.is_empty() { "SCENARIO".to_string() } else { id }
}

pub(crate) async fn create(app: &App, req: &Req, key: &str) -> ApiResult {
    req.caller.require(key, "WRITE_CONF")?;
    let mut body = http::body_object(&req.body)?;
    store::drop_nulls(&mut body);
    let ty = http::required_str(&body, "scenario", "type")?;
    if ty != "step_based" && ty != "custom_python" {
        return Err(ApiError::illegal(format!(
            "scenario: type must be step_based or custom_python, got '{ty}'"
        )));
    }
    let name = http::required_str(&body, "scenario", "name")?;
    let script = body
        .remove("script")
        .and_then(|s| s.as_str().map(str::to_string))
        .unwrap_or_default();
    let login = req.caller.login();
    let (id, pending) = {
        let mut st = app.write();
        let project = st.project_mut(key)?;
        let id = flow_state::given_or_generated(
            body.get("id").and_then(Value::as_str),
            "scenario id",
            |id| project.flow.scenarios.contains_key(id),
            |id| ApiError::already_exists(format!("Scenario '{key}.{id}' already exists")),
            || id_from_name(&name),
        )?;
        let mut doc = body;
        doc.insert("id".into(), json!(id));
        doc.insert("projectKey".into(), json!(key));
        normalise(&mut doc, None, &login)?;
        let stored = json!({"scenario": doc, "script": script});
        let pending = app.persist.put(paths::scenario(key, &id), &stored);
        project
            .flow
            .scenarios
            .insert(id.clone(), stored.as_object().cloned().unwrap_or_default());
        (id, pending)
    };
    app.persist.run([pending]).await?;
    Ok(http::json(&json!({"id": id})))
}

pub(crate) fn get(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let st = app.read();
    Ok(http::json(&settings_of(scenario(&st, key, id)?)))
}

/// Save settings: the whole document (`light == false`) or only the fields the light view
/// may change (`active`, `checklists`, `description`, `shortDesc`, `tags`).
async fn save(app: &App, req: &Req, key: &str, id: &str, light: bool) -> ApiResult {
    req.caller.require(key, "WRITE_CONF")?;
    let body = http::body_object(&req.body)?;
    let login = req.caller.login();
    let pending = {
        let mut st = app.write();
        let project = st.project_mut(key)?;
        let stored = project
            .flow
            .scenarios
            .get_mut(id)
            .ok_or_else(|| not_found(key, id))?;
        let old = settings_of(stored);
        let mut doc = if light {
            let mut doc = old.clone();
            for k in ["active", "checklists", "description", "shortDesc", "tags"] {
                if let Some(v) = body.get(k).filter(|v| !v.is_null()) {
                    doc.insert(k.into(), v.clone());
                }
            }
            doc
        } else {
            body
        };
        if let Some(other) = doc.get("id").and_then(Value::as_str)
            && other != id
        {
            return Err(ApiError::illegal(format!(
                "scenario id '{other}' does not match the path ('{id}')"
            )));
        }
        let ty = old.get("type").cloned().unwrap_or(Value::Null);
        if doc.get("type").is_some_and(|t| *t != ty) {
            return Err(ApiError::illegal(format!(
                "The type of scenario {id} cannot change (it is {ty})"
            )));
        }
        doc.insert("id".into(), json!(id));
        doc.insert("projectKey".into(), json!(key));
        doc.insert("type".into(), ty);
        if doc.get("name").is_none_or(Value::is_null) {
            doc.insert("name".into(), old.get("name").cloned().unwrap_or(json!(id)));
        }
        normalise(&mut doc, Some(&old), &login)?;
        stored.insert("scenario".into(), Value::Object(doc));
        app.persist
            .put(paths::scenario(key, id), &Value::Object(stored.clone()))
    };
    app.persist.run([pending]).await?;
    Ok(http::msg(format!("Saved scenario {key}.{id}")))
}

pub(crate) async fn put(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    save(app, req, key, id, false).await
}

pub(crate) fn get_light(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let now = store::now_ms();
    let st = app.read();
    let stored = scenario(&st, key, id)?;
    let runs = st.project(key)?.flow.runs.get(id);
    Ok(http::json(&summary(key, &settings_of(stored), runs, now)))
}

pub(crate) async fn put_light(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    save(app, req, key, id, true).await
}

pub(crate) fn get_payload(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let st = app.read();
    let stored = scenario(&st, key, id)?;
    let script = stored.get("script").cloned().unwrap_or(json!(""));
    Ok(http::json(&json!({"script": script, "extension": "py"})))
}

pub(crate) async fn put_payload(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    req.caller.require(key, "WRITE_CONF")?;
    let body = http::body_object(&req.body)?;
    let script = match body.get("script") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => String::new(),
        Some(other) => {
            return Err(ApiError::illegal(format!(
                "scenario payload: 'script' must be a string, got {}",
                http::kind_of(other)
            )));
        }
    };
    let pending = {
        let mut st = app.write();
        let stored = st
            .project_mut(key)?
            .flow
            .scenarios
            .get_mut(id)
            .ok_or_else(|| not_found(key, id))?;
        stored.insert("script".into(), json!(script));
        app.persist
            .put(paths::scenario(key, id), &Value::Object(stored.clone()))
    };
    app.persist.run([pending]).await?;
    Ok(http::msg(format!("Saved the payload of scenario {key}.{id}")))
}

pub(crate) async fn delete(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    req.caller.require(key, "WRITE_CONF")?;
    let pending = {
        let mut st = app.write();
        let project = st.project_mut(key)?;
        project
            .flow
            .scenarios
            .remove(id)
            .ok_or_else(|| not_found(key, id))?;
        project.flow.runs.remove(id);
        [
            app.persist.remove(paths::scenario(key, id)),
            app.persist.remove_dir(
                paths::scenario_runs(key, id)
                    .parent()
                    .map(|p| p.to_path_buf())
                    .unwrap_or_default(),
            ),
        ]
    };
    app.persist.run(pending).await?;
    Ok(http::json(
        &json!({"msg": format!("Deleted scenario {key}.{id}")}),
    ))
}

/// `yyyy-MM-dd-HH-mm-ss-SSS` (UTC), the form of DSS run ids.
fn run_id(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(time::macros::format_description!(
        "[year]-[month]-[day]-[hour]-[minute]-[second]-[subsecond digits:3]"
    ))
    .unwrap_or_default()
}

fn thrown(message: &str) -> Value {
    json!({"clazz": "com.dataiku.dip.exceptions.DKUException", "title": message, "message": message,
        "stack": "", "code": Value::Null, "fixability": Value::Null})
}

/// Execute the steps of a run starting at `start`; returns the step runs (with planned
/// times) and the outcome.
async fn execute(
    app: &App,
    key: &str,
    settings: &Doc,
    start: i64,
    run_id: &str,
    login: &str,
) -> (Vec<Value>, &'static str, Vec<String>) {
    let step_ms = i64::try_from(app.job_duration.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    let mut log = vec![format!(
        "Scenario {key}.{} started",
        settings.get("id").and_then(Value::as_str).unwrap_or("")
    )];
    if settings.get("type").and_then(Value::as_str) == Some("custom_python") {
        let msg = "custom_python scenarios are not executed: the emulator never runs user code";
        log.push(format!("[ERROR] {msg}"));
        let step = json!({"step": {"id": "script", "name": "Python script", "type": "custom_python"},
            "runId": run_id, "start": start, "end": start + step_ms,
            "result": {"outcome": "FAILED", "type": "STEP_DONE", "thrown": thrown(msg)},
            "additionalReportItems": []});
        return (vec![step], "FAILED", log);
    }
    let steps = settings
        .get("params")
        .and_then(|p| p.get("steps"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut at = start;
    for step in steps {
        let name = step.get("name").and_then(Value::as_str).unwrap_or("").to_string();
        let ty = step.get("type").and_then(Value::as_str).unwrap_or("").to_string();
        log.push(format!("Step '{name}' ({ty}) started"));
        let mut items = Vec::new();
        let failure = if ty == "build_flowitem" {
            let params = step.get("params").cloned().unwrap_or(json!({}));
            let job_type = params
                .get("jobType")
                .and_then(Value::as_str)
                .unwrap_or("RECURSIVE_BUILD")
                .to_string();
            let builds = params
                .get("builds")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let outputs: Vec<JobOutput> = builds
                .iter()
                .filter_map(|b| {
                    Some(JobOutput {
                        output_type: Some(
                            b.get("type")
                                .and_then(Value::as_str)
                                .unwrap_or("DATASET")
                                .to_string(),
                        ),
                        id: b.get("itemId").and_then(Value::as_str)?.to_string(),
                        project_key: Some(
                            b.get("projectKey")
                                .and_then(Value::as_str)
                                .unwrap_or(key)
                                .to_string(),
                        ),
                        partition: b
                            .get("partitionsSpec")
                            .cloned()
                            .filter(|p| !p.is_null() && *p != json!("")),
                    })
                })
                .collect();
            if outputs.is_empty() {
                Some("The build step has nothing to build (params.builds is empty)".to_string())
            } else {
                let def = JobDefinition {
                    job_type: Some(job_type),
                    outputs,
                    ..Default::default()
                };
                match super::jobs::launch(app, key, def, login).await {
                    Ok((job_id, failure)) => {
                        log.push(format!("Job {job_id} started"));
                        let mut item = json!({"type": "JOB_EXECUTED", "jobId": job_id,
                            "outcome": if failure.is_some() { "FAILED" } else { "SUCCESS" }});
                        if let Some(f) = &failure {
                            item["thrown"] = thrown(f);
                        }
                        items.push(item);
                        failure.map(|f| format!("Job {job_id} failed: {f}"))
                    }
                    Err(err) => Some(err.body.message.clone()),
                }
            }
        } else {
            Some(format!(
                "Step type '{ty}' is not executed by the emulator (only build_flowitem steps are)"
            ))
        };
        let mut result =
            json!({"outcome": if failure.is_some() { "FAILED" } else { "SUCCESS" }, "type": "STEP_DONE"});
        if let Some(f) = &failure {
            result["thrown"] = thrown(f);
            log.push(format!("[ERROR] Step '{name}' failed: {f}"));
        } else {
            log.push(format!("Step '{name}' done"));
        }
        out.push(
            json!({"step": step, "runId": run_id, "start": at, "end": at + step_ms,
            "result": result, "additionalReportItems": items}),
        );
        at += step_ms;
        if failure.is_some() {
            return (out, "FAILED", log);
        }
    }
    (out, "SUCCESS", log)
}

pub(crate) async fn run(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    req.caller
        .require(key, "RUN_SCENARIOS")
        .or_else(|_| req.caller.require(key, "RUN_JOBS"))?;
    let params = match http::body_value(&req.body)? {
        Value::Null => json!({}),
        v => v,
    };
    let now = store::now_ms();
    let login = req.caller.login();
    let settings = {
        let st = app.read();
        let project = st.project(key)?;
        let stored = project.flow.scenarios.get(id).ok_or_else(|| not_found(key, id))?;
        settings_of(stored)
    };
    let mut rid = run_id(now);
    {
        let st = app.read();
        let runs = st.project(key)?.flow.runs.get(id);
        let mut t = now;
        while runs.is_some_and(|r| r.contains_key(&rid)) {
            t += 1;
            rid = run_id(t);
        }
    }
    let mut fire = json!({"trigger": {"id": "manual", "type": "manual", "name": "API run", "active": true, "params": {}},
        "runId": rid, "timestamp": now, "cancelled": false, "params": params,
        "projectKey": key, "scenarioId": id});
    let already = {
        let st = app.read();
        running_run(st.project(key)?.flow.runs.get(id), now).is_some()
    };
    if already {
        // DSS suppresses triggers while the scenario runs (delayedTriggersBehavior).
        fire["cancelled"] = json!(true);
        return Ok(http::json(&fire));
    }
    let (steps, outcome, log) = execute(app, key, &settings, now, &rid, &login).await;
    let planned_end = steps
        .last()
        .and_then(|s| s.get("end"))
        .and_then(Value::as_i64)
        .unwrap_or(now + 1);
    let run_doc = json!({
        "runId": rid,
        "start": now,
        "plannedEnd": planned_end,
        "plannedOutcome": outcome,
        "abortedOn": Value::Null,
        "trigger": fire,
        "scenario": {"projectKey": key, "id": id,
            "name": settings.get("name").cloned().unwrap_or(Value::Null),
            "type": settings.get("type").cloned().unwrap_or(Value::Null),
            "markedAsTest": settings.get("markedAsTest").cloned().unwrap_or(json!(false))},
        "runAsUser": {"realUserLogin": login, "authSource": "USER_FROM_UI"},
        "stepRuns": steps,
        "log": log,
    });
    let pending = {
        let mut st = app.write();
        let project = st.project_mut(key)?;
        if !project.flow.scenarios.contains_key(id) {
            return Err(not_found(key, id));
        }
        let pending = app.persist.put(paths::run(key, id, &rid), &run_doc);
        project
            .flow
            .runs
            .entry(id.to_string())
            .or_default()
            .insert(rid.clone(), run_doc.as_object().cloned().unwrap_or_default());
        pending
    };
    app.persist.run([pending]).await?;
    Ok(http::json(&fire))
}

pub(crate) async fn abort(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    req.caller
        .require(key, "RUN_SCENARIOS")
        .or_else(|_| req.caller.require(key, "RUN_JOBS"))?;
    let now = store::now_ms();
    let pending = {
        let mut st = app.write();
        let project = st.project_mut(key)?;
        if !project.flow.scenarios.contains_key(id) {
            return Err(not_found(key, id));
        }
        let run = project
            .flow
            .runs
            .get_mut(id)
            .and_then(|runs| runs.values_mut().rev().find(|r| is_running(r, now)));
        match run {
            Some(run) => {
                run.insert("abortedOn".into(), json!(now));
                let rid = run.get("runId").and_then(Value::as_str).unwrap_or("").to_string();
                app.persist
                    .put(paths::run(key, id, &rid), &Value::Object(run.clone()))
            }
            None => None,
        }
    };
    app.persist.run([pending]).await?;
    Ok(http::json(
        &json!({"msg": format!("Abort requested for scenario {key}.{id}")}),
    ))
}

/// A run as DSS shows it at `now`: `result` once finished, step runs started so far.
fn view(run: &Doc, now: i64) -> (Value, Vec<Value>) {
    let start = run.get("start").and_then(Value::as_i64).unwrap_or(0);
    let planned_end = run.get("plannedEnd").and_then(Value::as_i64).unwrap_or(start);
    let aborted = run.get("abortedOn").and_then(Value::as_i64);
    let cut = aborted.unwrap_or(now).min(now);
    let finished = aborted.is_some() || now >= planned_end;
    let steps: Vec<Value> = run
        .get("stepRuns")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|s| s.get("start").and_then(Value::as_i64).unwrap_or(0) <= cut)
        .map(|s| {
            let end = s.get("end").and_then(Value::as_i64).unwrap_or(0);
            let mut s = s.clone();
            if end > cut {
                // The step was running at the cut: aborted, or still running.
                match aborted {
                    Some(a) => {
                        s["end"] = json!(a);
                        s["result"] = json!({"outcome": "ABORTED", "type": "STEP_DONE"});
                    }
                    None => {
                        s["end"] = json!(0);
                        if let Some(o) = s.as_object_mut() {
                            o.remove("result");
                        }
                    }
                }
            }
            s
        })
        .collect();
    let mut out = Doc::new();
    for k in ["runId", "start", "trigger", "scenario", "runAsUser"] {
        if let Some(v) = run.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    if finished {
        let (outcome, end) = match aborted {
            Some(a) if a < planned_end => ("ABORTED".to_string(), a),
            _ => (
                run.get("plannedOutcome")
                    .and_then(Value::as_str)
                    .unwrap_or("SUCCESS")
                    .to_string(),
                planned_end,
            ),
        };
        out.insert("end".into(), json!(end));
        out.insert(
            "result".into(),
            json!({"outcome": outcome, "type": "SCENARIO_DONE", "start": start, "end": end}),
        );
    } else {
        out.insert("end".into(), json!(0));
    }
    (Value::Object(out), steps)
}

fn runs_of<'a>(st: &'a store::Store, key: &str, id: &str) -> Result<Vec<&'a Doc>, ApiError> {
    scenario(st, key, id)?;
    Ok(st
        .project(key)?
        .flow
        .runs
        .get(id)
        .map(|r| r.values().rev().collect())
        .unwrap_or_default())
}

pub(crate) fn last_runs(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let limit = req.query.u64("limit")?.unwrap_or(10);
    let only_finished = req.query.bool("onlyFinishedRuns", false)?;
    let now = store::now_ms();
    let st = app.read();
    let items: Vec<Value> = runs_of(&st, key, id)?
        .into_iter()
        .map(|r| view(r, now).0)
        .filter(|v| !only_finished || v.get("result").is_some())
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect();
    Ok(http::json(&items))
}

pub(crate) fn runs_by_date(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let from = req.query.get("fromDate").unwrap_or("").to_string();
    let to = req.query.get("toDate").unwrap_or("").to_string();
    let now = store::now_ms();
    let st = app.read();
    // Run ids start with the run's UTC date, `yyyy-MM-dd`.
    let items: Vec<Value> = runs_of(&st, key, id)?
        .into_iter()
        .filter(|r| {
            let day = r
                .get("runId")
                .and_then(Value::as_str)
                .unwrap_or("")
                .get(..10)
                .unwrap_or("");
            (from.is_empty() || day >= from.as_str()) && (to.is_empty() || day <= to.as_str())
        })
        .map(|r| view(r, now).0)
        .collect();
    Ok(http::json(&items))
}

fn find_run<'a>(st: &'a store::Store, key: &str, id: &str, run_id: &str) -> Result<&'a Doc, ApiError> {
    scenario(st, key, id)?;
    st.project(key)?
        .flow
        .runs
        .get(id)
        .and_then(|r| r.get(run_id))
        .ok_or_else(|| ApiError::not_found(format!("Scenario run '{run_id}' of {key}.{id} does not exist")))
}

pub(crate) fn run_details(app: &App, req: &Req, key: &str, id: &str, run_id: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let st = app.read();
    let (run, steps) = view(find_run(&st, key, id, run_id)?, store::now_ms());
    Ok(http::json(&json!({"scenarioRun": run, "stepRuns": steps})))
}

pub(crate) fn run_log(app: &App, req: &Req, key: &str, id: &str, run_id: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let st = app.read();
    let run = find_run(&st, key, id, run_id)?;
    let (view, _) = view(run, store::now_ms());
    let mut lines: Vec<String> = run
        .get("log")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_str().map(str::to_string))
        .collect();
    match view
        .get("result")
        .and_then(|r| r.get("outcome"))
        .and_then(Value::as_str)
    {
        Some(o) => lines.push(format!("Scenario run finished: {o}")),
        None => lines.push("Scenario run is still running".to_string()),
    }
    Ok(http::text("text/plain; charset=utf-8", lines.join("\n") + "\n"))
}

pub(crate) fn run_for_trigger(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let trigger_run = req.query.get("triggerRunId").unwrap_or("").to_string();
    let st = app.read();
    let found = runs_of(&st, key, id)?.into_iter().find(|r| {
        r.get("trigger")
            .and_then(|t| t.get("runId"))
            .and_then(Value::as_str)
            == Some(trigger_run.as_str())
    });
    Ok(http::json(&match found {
        Some(r) => json!({"scenarioRun": view(r, store::now_ms()).0}),
        None => json!({}),
    }))
}

pub(crate) fn trigger_fire(app: &App, req: &Req, key: &str, id: &str, trigger_id: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let trigger_run = req.query.get("triggerRunId").unwrap_or("").to_string();
    let st = app.read();
    runs_of(&st, key, id)?
        .into_iter()
        .filter_map(|r| r.get("trigger"))
        .find(|t| {
            t.get("runId").and_then(Value::as_str) == Some(trigger_run.as_str())
                && t.get("trigger").and_then(|x| x.get("id")).and_then(Value::as_str) == Some(trigger_id)
        })
        .map(http::json)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Trigger fire {trigger_id}/{trigger_run} of scenario {key}.{id} does not exist"
            ))
        })
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One run as a JUnit `<testsuite>`: one `<testcase>` per step run (only `step_id` when given).
fn junit_suite(key: &str, id: &str, run: &Doc, now: i64, step_id: Option<&str>) -> String {
    let (view, steps) = view(run, now);
    let mut cases = String::new();
    let mut failures = 0;
    let mut count = 0;
    for step in &steps {
        let sid = step
            .get("step")
            .and_then(|s| s.get("id"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if step_id.is_some_and(|wanted| wanted != sid) {
            continue;
        }
        count += 1;
        let name = step
            .get("step")
            .and_then(|s| s.get("name"))
            .and_then(Value::as_str)
            .unwrap_or(sid);
        let start = step.get("start").and_then(Value::as_i64).unwrap_or(0);
        let end = step
            .get("end")
            .and_then(Value::as_i64)
            .unwrap_or(start)
            .max(start);
        let secs = (end - start) as f64 / 1000.0;
        let outcome = step
            .get("result")
            .and_then(|r| r.get("outcome"))
            .and_then(Value::as_str)
            .unwrap_or("RUNNING");
        cases.push_str(&format!(
            "    <testcase name=\"{}\" classname=\"{}.{}\" time=\"{secs:.3}\">",
            xml_escape(name),
            xml_escape(key),
            xml_escape(id)
        ));
        if outcome != "SUCCESS" && outcome != "WARNING" {
            failures += 1;
            let message = step
                .get("result")
                .and_then(|r| r.get("thrown"))
                .and_then(|t| t.get("message"))
                .and_then(Value::as_str)
                .unwrap_or(outcome);
            cases.push_str(&format!("<failure message=\"{}\"/>", xml_escape(message)));
        }
        cases.push_str("</testcase>\n");
    }
    let outcome = view
        .get("result")
        .and_then(|r| r.get("outcome"))
        .and_then(Value::as_str)
        .unwrap_or("RUNNING");
    format!(
        "  <testsuite name=\"{}\" tests=\"{count}\" failures=\"{failures}\" outcome=\"{outcome}\" runId=\"{}\">\n{cases}  </testsuite>\n",
        xml_escape(id),
        xml_escape(run.get("runId").and_then(Value::as_str).unwrap_or(""))
    )
}

fn junit(key: &str, suites: &[String]) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"{}\">\n{}</testsuites>\n",
        xml_escape(key),
        suites.concat()
    )
}

/// The last finished run of every scenario marked as test.
fn last_test_runs<'a>(st: &'a store::Store, key: &str, now: i64) -> Result<Vec<(String, &'a Doc)>, ApiError> {
    let project = st.project(key)?;
    let mut out = Vec::new();
    for (id, stored) in &project.flow.scenarios {
        let settings = settings_of(stored);
        if settings.get("markedAsTest").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        if let Some(run) = project.flow.runs.get(id).and_then(|runs| {
            runs.values()
                .rev()
                .find(|r| view(r, now).0.get("result").is_some())
        }) {
            out.push((id.clone(), run));
        }
    }
    Ok(out)
}

/// `testing-status`: how the last runs of the test scenarios ended. The emulator has no
/// bundles: `bundleId` is accepted and ignored.
pub(crate) fn testing_status(app: &App, req: &Req, key: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let now = store::now_ms();
    let st = app.read();
    let mut per_outcome = serde_json::Map::new();
    let mut scenarios = Vec::new();
    let runs = last_test_runs(&st, key, now)?;
    for (id, run) in &runs {
        let (v, _) = view(run, now);
        let outcome = v["result"]["outcome"].as_str().unwrap_or("").to_string();
        let n = per_outcome.get(&outcome).and_then(Value::as_u64).unwrap_or(0);
        per_outcome.insert(outcome.clone(), json!(n + 1));
        scenarios.push(json!({"scenarioId": id, "runId": v["runId"], "outcome": outcome}));
    }
    Ok(http::json(
        &json!({"nbTotalRanScenarios": runs.len(), "nbScenariosPerOutcome": per_outcome,
        "scenarios": scenarios}),
    ))
}

/// The JUnit XML (or HTML) report of the last runs of the test scenarios.
pub(crate) fn last_test_report(app: &App, req: &Req, key: &str, html: bool) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let now = store::now_ms();
    let st = app.read();
    let runs = last_test_runs(&st, key, now)?;
    if html {
        let mut rows = String::new();
        for (id, run) in &runs {
            let (v, _) = view(run, now);
            rows.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                xml_escape(id),
                xml_escape(v["runId"].as_str().unwrap_or("")),
                xml_escape(v["result"]["outcome"].as_str().unwrap_or(""))
            ));
        }
        let page = format!(
            "<!DOCTYPE html>\n<html><head><title>Test scenarios of {k}</title></head><body>\n<h1>Test scenarios of {k}</h1>\n<table><tr><th>Scenario</th><th>Run</th><th>Outcome</th></tr>\n{rows}</table></body></html>\n",
            k = xml_escape(key)
        );
        return Ok(http::text("text/html; charset=utf-8", page));
    }
    let suites: Vec<String> = runs
        .iter()
        .map(|(id, run)| junit_suite(key, id, run, now, None))
        .collect();
    Ok(http::text("application/xml; charset=utf-8", junit(key, &suites)))
}

/// The JUnit XML report of one run of a test scenario (or of one of its steps).
pub(crate) fn run_report(
    app: &App,
    req: &Req,
    key: &str,
    id: &str,
    run_id: &str,
    by_step: bool,
) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let step_id = if by_step {
        Some(
            req.query
                .get("stepId")
                .filter(|s| !s.is_empty())
                .ok_or_else(|| ApiError::illegal("step-run-report: 'stepId' is required"))?
                .to_string(),
        )
    } else {
        None
    };
    let st = app.read();
    let run = find_run(&st, key, id, run_id)?;
    let marked = run
        .get("scenario")
        .and_then(|s| s.get("markedAsTest"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if !marked {
        return Err(ApiError::illegal(format!(
            "When run {run_id} was performed, scenario {id} was not marked as a test scenario: reports exist for test scenarios only"
        )));
    }
    let suite = junit_suite(key, id, run, store::now_ms(), step_id.as_deref());
    Ok(http::text("application/xml; charset=utf-8", junit(key, &[suite])))
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
    type K3 = Params<(String, String, String)>;
    Routes::new()
        .route(
            "/projects/{projectKey}/scenarios",
            routing::get(|Params(k): K, a: Api| async move { list(&a.app, &a.req, &k) })
                .post(|Params(k): K, a: Api| async move { create(&a.app, &a.req, &k).await }),
        )
        .route(
            "/projects/{projectKey}/scenarios/testing-status",
            routing::get(|Params(k): K, a: Api| async move { testing_status(&a.app, &a.req, &k) }),
        )
        .route(
            "/projects/{projectKey}/scenarios/last-test-scenario-runs-report",
            routing::get(|Params(k): K, a: Api| async move { last_test_report(&a.app, &a.req, &k, false) }),
        )
        .route(
            "/projects/{projectKey}/scenarios/last-test-scenario-runs-html-report",
            routing::get(|Params(k): K, a: Api| async move { last_test_report(&a.app, &a.req, &k, true) }),
        )
        .route(
            "/projects/{projectKey}/scenarios/trigger/{scenarioId}/{triggerId}",
            routing::get(|Params((k, id, t)): K3, a: Api| async move {
                trigger_fire(&a.app, &a.req, &k, &id, &t)
            }),
        )
        .route(
            "/projects/{projectKey}/scenarios/{scenarioId}",
            routing::get(|Params((k, id)): KN, a: Api| async move { get(&a.app, &a.req, &k, &id) })
                .put(|Params((k, id)): KN, a: Api| async move { put(&a.app, &a.req, &k, &id).await })
                .delete(|Params((k, id)): KN, a: Api| async move { delete(&a.app, &a.req, &k, &id).await }),
        )
        .route(
            "/projects/{projectKey}/scenarios/{scenarioId}/light",
            routing::get(|Params((k, id)): KN, a: Api| async move { get_light(&a.app, &a.req, &k, &id) })
                .put(|Params((k, id)): KN, a: Api| async move { put_light(&a.app, &a.req, &k, &id).await }),
        )
        .route(
            "/projects/{projectKey}/scenarios/{scenarioId}/payload",
            routing::get(|Params((k, id)): KN, a: Api| async move { get_payload(&a.app, &a.req, &k, &id) })
                .put(|Params((k, id)): KN, a: Api| async move { put_payload(&a.app, &a.req, &k, &id).await }),
        )
        .route(
            "/projects/{projectKey}/scenarios/{scenarioId}/run",
            routing::post(|Params((k, id)): KN, a: Api| async move { run(&a.app, &a.req, &k, &id).await }),
        )
        .route(
            "/projects/{projectKey}/scenarios/{scenarioId}/abort",
            routing::post(|Params((k, id)): KN, a: Api| async move { abort(&a.app, &a.req, &k, &id).await }),
        )
        .route(
            "/projects/{projectKey}/scenarios/{scenarioId}/get-last-runs",
            routing::get(|Params((k, id)): KN, a: Api| async move { last_runs(&a.app, &a.req, &k, &id) }),
        )
        .route(
            "/projects/{projectKey}/scenarios/{scenarioId}/get-runs-by-date",
            routing::get(|Params((k, id)): KN, a: Api| async move { runs_by_date(&a.app, &a.req, &k, &id) }),
        )
        .route(
            "/projects/{projectKey}/scenarios/{scenarioId}/get-run-for-trigger",
            routing::get(
                |Params((k, id)): KN, a: Api| async move { run_for_trigger(&a.app, &a.req, &k, &id) },
            ),
        )
        .route(
            "/projects/{projectKey}/scenarios/{scenarioId}/{runId}",
            routing::get(|Params((k, id, run)): K3, a: Api| async move {
                run_details(&a.app, &a.req, &k, &id, &run)
            }),
        )
        .route(
            "/projects/{projectKey}/scenarios/{scenarioId}/{runId}/log",
            routing::get(
                |Params((k, id, run)): K3, a: Api| async move { run_log(&a.app, &a.req, &k, &id, &run) },
            ),
        )
        .route(
            "/projects/{projectKey}/scenarios/{scenarioId}/{runId}/scenario-run-report",
            routing::get(|Params((k, id, run)): K3, a: Api| async move {
                run_report(&a.app, &a.req, &k, &id, &run, false)
            }),
        )
        .route(
            "/projects/{projectKey}/scenarios/{scenarioId}/{runId}/step-run-report",
            routing::get(|Params((k, id, run)): K3, a: Api| async move {
                run_report(&a.app, &a.req, &k, &id, &run, true)
            }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_run_ids() {
        assert_eq!(id_from_name("Nightly refresh!"), "NIGHTLYREFRESH");
        assert_eq!(id_from_name("é"), "SCENARIO");
        assert_eq!(run_id(1_508_936_723_615), "2017-10-25-13-05-23-615");
    }

    #[test]
    fn runs_follow_the_clock_and_aborts_end_them() {
        let run = json!({"runId": "r", "start": 1000, "plannedEnd": 1400, "plannedOutcome": "SUCCESS",
            "abortedOn": null, "stepRuns": [
                {"start": 1000, "end": 1200, "result": {"outcome": "SUCCESS"}},
                {"start": 1200, "end": 1400, "result": {"outcome": "SUCCESS"}}]});
        let run = run.as_object().unwrap().clone();
        let (v, steps) = view(&run, 1100);
        assert!(v.get("result").is_none());
        assert_eq!(steps.len(), 1);
        assert!(steps[0].get("result").is_none());
        let (v, steps) = view(&run, 1500);
        assert_eq!(v["result"]["outcome"], "SUCCESS");
        assert_eq!(steps.len(), 2);
        let mut aborted = run.clone();
        aborted.insert("abortedOn".into(), json!(1300));
        let (v, steps) = view(&aborted, 2000);
        assert_eq!(v["result"]["outcome"], "ABORTED");
        assert_eq!(steps[1]["result"]["outcome"], "ABORTED");
        assert!(!is_running(&aborted, 1350));
        assert!(is_running(&run, 1350));
    }

    #[test]
    fn server_side_fields_are_filled_and_kept() {
        let mut doc = json!({"id": "S", "type": "step_based", "name": "s",
            "triggers": [{"type": "temporal", "params": {"frequency": "Daily"}}],
            "params": {"steps": [{"type": "build_flowitem"}]}})
        .as_object()
        .unwrap()
        .clone();
        normalise(&mut doc, None, "me").unwrap();
        assert_eq!(doc["runAsUser"], "me");
        assert_eq!(doc["triggers"][0]["id"].as_str().unwrap().len(), 8);
        assert!(doc["triggers"][0]["params"]["lastUpdate"].is_i64());
        assert!(doc["params"]["steps"][0]["id"].is_string());
        assert_eq!(doc["delayedTriggersBehavior"]["delayWhileRunning"], true);
        let old = doc.clone();
        let mut again = doc.clone();
        again.remove("runAsUser");
        normalise(&mut again, Some(&old), "other").unwrap();
        assert_eq!(again["runAsUser"], "me");
        assert_eq!(again["triggers"][0]["id"], old["triggers"][0]["id"]);
        assert_eq!(again["versionTag"]["versionNumber"], 2);
    }
}
