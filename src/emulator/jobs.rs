//! Jobs: list (newest first, `limit`), running (per project and instance-wide), start, status,
//! abort, log. Outputs may name a partition (`partition: "2024-01-01"`); the log names it.
//! A job runs the recipes that build its outputs when it starts (see `flow_exec`); its log
//! carries what they did.
//!
//! A job's state is derived from the clock, so no background task is needed and a restart
//! resumes jobs where they were: NOT_STARTED for the first fifth of the job duration, RUNNING
//! until the duration has passed, then DONE. A job FAILS at once when an output dataset does not
//! exist, when an output is not a dataset, or when a dataset's `params.connection` names a
//! connection that does not exist; the log says why. Abort turns a job that has not finished
//! into ABORTED. Job ids are `Build_<first output>_<yyyy-MM-ddTHH-mm-ss.SSS>` (UTC), unique per
//! project.

use axum::routing;
use serde_json::{Value, json};

use super::http::{self, ApiError, ApiResult};
use super::router::{Api, App, Params, Req, Routes};
use super::store::{self, Doc, paths};
use crate::wire::JobDefinition;

fn not_found(key: &str, id: &str) -> ApiError {
    ApiError::not_found(format!("Job '{id}' does not exist in project {key}"))
}

/// The state of `job` at `now` (ms).
fn state_at(job: &Doc, now: i64) -> &'static str {
    if job.get("abortedOn").is_some_and(|v| !v.is_null()) {
        return "ABORTED";
    }
    if job.get("failure").is_some_and(|v| !v.is_null()) {
        return "FAILED";
    }
    let started = job.get("startedOn").and_then(Value::as_i64).unwrap_or(0);
    let duration = job.get("durationMs").and_then(Value::as_i64).unwrap_or(0);
    let elapsed = now - started;
    if elapsed >= duration {
        "DONE"
    } else if elapsed >= duration / 5 {
        "RUNNING"
    } else {
        "NOT_STARTED"
    }
}

fn is_terminal(state: &str) -> bool {
    crate::wire::JOB_TERMINAL_STATES.contains(&state)
}

fn status_json(job: &Doc, now: i64) -> Value {
    let state = state_at(job, now);
    let def = job.get("def").cloned().unwrap_or(Value::Null);
    let total = def.get("outputs").and_then(Value::as_array).map_or(0, Vec::len);
    let started = job.get("startedOn").and_then(Value::as_i64).unwrap_or(0);
    let duration = job.get("durationMs").and_then(Value::as_i64).unwrap_or(0);
    let end = match state {
        "DONE" => started + duration,
        "ABORTED" => job.get("abortedOn").and_then(Value::as_i64).unwrap_or(now),
        "FAILED" => started,
        _ => 0,
    };
    let count = |s: &str| if state == s { total } else { 0 };
    let mut base = json!({
        "def": def,
        "state": state,
        "jobStartTime": started,
        "jobEndTime": end,
    });
    if let Some(reason) = job.get("failure").and_then(Value::as_str) {
        base["unexpectedFailure"] = serde_json::to_value(crate::wire::ErrorBody::new(
            "com.dataiku.dip.exceptions.DKUException",
            reason,
        ))
        .unwrap_or(Value::Null);
    }
    json!({
        "baseStatus": base,
        "globalState": {
            "done": count("DONE"),
            "failed": count("FAILED"),
            "aborted": count("ABORTED"),
            "running": count("RUNNING"),
            "notStarted": count("NOT_STARTED"),
            "total": total,
        },
        "def": job.get("def").cloned().unwrap_or(Value::Null),
    })
}

fn format_ts(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]-[minute]-[second].[subsecond digits:3]"
    ))
    .unwrap_or_default()
}

fn log_text(job: &Doc, now: i64) -> String {
    let state = state_at(job, now);
    let id = job.get("id").and_then(Value::as_str).unwrap_or("");
    let started = job.get("startedOn").and_then(Value::as_i64).unwrap_or(0);
    let duration = job.get("durationMs").and_then(Value::as_i64).unwrap_or(0);
    let def = job.get("def").cloned().unwrap_or(Value::Null);
    let mut lines = vec![format!(
        "[{}] [INFO] Job {id} started by {} (type {})",
        format_ts(started),
        job.get("initiator").and_then(Value::as_str).unwrap_or("?"),
        def.get("type")
            .and_then(Value::as_str)
            .unwrap_or("NON_RECURSIVE_FORCED_BUILD"),
    )];
    for out in def.get("outputs").and_then(Value::as_array).into_iter().flatten() {
        let partition = match out.get("partition") {
            Some(Value::String(p)) if !p.is_empty() => format!(" partition {p}"),
            _ => String::new(),
        };
        lines.push(format!(
            "[{}] [INFO] Output {} {}.{}{partition}",
            format_ts(started),
            out.get("type").and_then(Value::as_str).unwrap_or("DATASET"),
            out.get("projectKey").and_then(Value::as_str).unwrap_or(""),
            out.get("id").and_then(Value::as_str).unwrap_or(""),
        ));
    }
    // What the executor did (see `flow_exec`), when the job ran recipes.
    for line in job.get("execLog").and_then(Value::as_array).into_iter().flatten() {
        let level = line.get(0).and_then(Value::as_str).unwrap_or("INFO");
        let msg = line.get(1).and_then(Value::as_str).unwrap_or("");
        lines.push(format!("[{}] [{level}] {msg}", format_ts(started)));
    }
    if let Some(reason) = job.get("failure").and_then(Value::as_str) {
        lines.push(format!("[{}] [ERROR] Job failed: {reason}", format_ts(started)));
        return lines.join("\n") + "\n";
    }
    let running_at = started + duration / 5;
    let aborted_at = job.get("abortedOn").and_then(Value::as_i64);
    if aborted_at.is_none_or(|a| a >= running_at) && now >= running_at {
        lines.push(format!(
            "[{}] [INFO] Job is RUNNING: building outputs",
            format_ts(running_at)
        ));
    }
    match (state, aborted_at) {
        ("ABORTED", Some(a)) => lines.push(format!("[{}] [WARN] Job aborted", format_ts(a))),
        ("DONE", _) => lines.push(format!(
            "[{}] [INFO] Job DONE: all outputs built",
            format_ts(started + duration)
        )),
        _ => {}
    }
    lines.join("\n") + "\n"
}

pub(crate) fn list(app: &App, req: &Req, key: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let limit = req.query.u64("limit")?;
    let now = store::now_ms();
    let st = app.read();
    let project = st.project(key)?;
    let mut jobs: Vec<&Doc> = project.jobs.values().collect();
    jobs.sort_by_key(|j| std::cmp::Reverse(j.get("startedOn").and_then(Value::as_i64).unwrap_or(0)));
    let limit = limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
    let items: Vec<Value> = jobs
        .into_iter()
        .take(limit)
        .map(|j| status_json(j, now))
        .collect();
    Ok(http::json(&items))
}

/// `GET /projects/{k}/jobs/running/`: the jobs of the project that have not ended.
pub(crate) fn running(app: &App, req: &Req, key: &str) -> ApiResult {
    req.caller.require(key, "MONITOR_JOBS")?;
    let now = store::now_ms();
    let st = app.read();
    let items: Vec<Value> = st
        .project(key)?
        .jobs
        .values()
        .filter(|j| !is_terminal(state_at(j, now)))
        .map(|j| status_json(j, now))
        .collect();
    Ok(http::json(&items))
}

/// `GET /jobs/running/`: the running jobs of every project the caller may monitor
/// (`allUsers` accepted: every job is visible to the keys that may see its project).
pub(crate) fn running_everywhere(app: &App, req: &Req) -> ApiResult {
    req.query.bool("allUsers", true)?;
    let now = store::now_ms();
    let st = app.read();
    let items: Vec<Value> = st
        .projects
        .iter()
        .filter(|(key, _)| req.caller.can(key, "MONITOR_JOBS"))
        .flat_map(|(_, p)| p.jobs.values())
        .filter(|j| !is_terminal(state_at(j, now)))
        .map(|j| status_json(j, now))
        .collect();
    Ok(http::json(&items))
}

pub(crate) async fn start(app: &App, req: &Req, key: &str) -> ApiResult {
    req.caller.require(key, "RUN_JOBS")?;
    let def: JobDefinition = http::body_typed(&req.body, "job definition")?;
    let (id, _) = launch(app, key, def, &req.caller.login()).await?;
    Ok(http::json(&json!({"id": id, "jobId": id})))
}

/// Start a job of project `key` (from the API or a scenario step): check its outputs, run its
/// recipes (see `flow_exec`), record it. Returns its id and its failure, if any.
pub(crate) async fn launch(
    app: &App,
    key: &str,
    mut def: JobDefinition,
    login: &str,
) -> Result<(String, Option<String>), ApiError> {
    if def.outputs.is_empty() {
        return Err(ApiError::illegal(
            "job definition: 'outputs' must name at least one output",
        ));
    }
    for out in &mut def.outputs {
        if out.id.is_empty() {
            return Err(ApiError::illegal("job definition: every output needs an 'id'"));
        }
        if out.output_type.is_none() {
            out.output_type = Some("DATASET".into());
        }
        if out.project_key.as_deref().is_none_or(str::is_empty) {
            out.project_key = Some(key.to_string());
        }
    }
    if def.job_type.is_none() {
        def.job_type = Some("NON_RECURSIVE_FORCED_BUILD".into());
    }
    let failure = {
        let st = app.read();
        st.project(key)?;
        def.outputs.iter().find_map(|out| {
            let pk = out.project_key.as_deref().unwrap_or(key);
            let ty = out.output_type.as_deref().unwrap_or("DATASET");
            if ty != "DATASET" {
                return Some(format!(
                    "Output {pk}.{} is a {ty}: the emulator only builds datasets",
                    out.id
                ));
            }
            let Some(ds) = st.projects.get(pk).and_then(|p| p.datasets.get(&out.id)) else {
                return Some(format!("Output dataset {pk}.{} does not exist", out.id));
            };
            let conn = ds
                .get("params")
                .and_then(|p| p.get("connection"))
                .and_then(Value::as_str)?;
            (!conn.is_empty() && !st.connections.contains_key(conn))
                .then(|| format!("Dataset {pk}.{}: Connection '{conn}' does not exist", out.id))
        })
    };
    // The recipes run when the job starts; its state then follows the clock as before.
    let exec = match failure {
        Some(f) => super::flow_exec::JobRun {
            lines: Vec::new(),
            failure: Some(f),
        },
        None => {
            let outputs: Vec<(String, String)> = def
                .outputs
                .iter()
                .map(|o| {
                    (
                        o.project_key.clone().unwrap_or_else(|| key.to_string()),
                        o.id.clone(),
                    )
                })
                .collect();
            let job_type = def.job_type.clone().unwrap_or_default();
            super::flow_exec::run_job(app, key, &job_type, &outputs).await
        }
    };
    let (id, pending) = {
        let mut st = app.write();
        let project = st.project_mut(key)?;
        let mut now = store::now_ms();
        let mut id;
        loop {
            id = format!("Build_{}_{}", def.outputs[0].id, format_ts(now));
            if !project.jobs.contains_key(&id) {
                break;
            }
            now += 1;
        }
        let mut def_value = serde_json::to_value(&def)
            .map_err(|err| ApiError::internal(format!("cannot store the job: {err}")))?;
        def_value["id"] = json!(id);
        def_value["projectKey"] = json!(key);
        let mut doc = Doc::new();
        doc.insert("id".into(), json!(id));
        doc.insert("projectKey".into(), json!(key));
        doc.insert("def".into(), def_value);
        doc.insert("initiator".into(), json!(login));
        doc.insert("startedOn".into(), json!(now));
        doc.insert(
            "durationMs".into(),
            json!(u64::try_from(app.job_duration.as_millis()).unwrap_or(u64::MAX)),
        );
        doc.insert(
            "failure".into(),
            exec.failure.clone().map_or(Value::Null, Value::String),
        );
        doc.insert("abortedOn".into(), Value::Null);
        let lines: Vec<Value> = exec.lines.iter().map(|(l, m)| json!([l, m])).collect();
        doc.insert("execLog".into(), json!(lines));
        let p = app.persist.put(paths::job(key, &id), &Value::Object(doc.clone()));
        project.jobs.insert(id.clone(), doc);
        (id, p)
    };
    app.persist.run([pending]).await?;
    Ok((id, exec.failure))
}

fn job<'a>(st: &'a store::Store, key: &str, id: &str) -> Result<&'a Doc, ApiError> {
    st.project(key)?.jobs.get(id).ok_or_else(|| not_found(key, id))
}

pub(crate) fn get(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    req.caller.require(key, "MONITOR_JOBS")?;
    let st = app.read();
    Ok(http::json(&status_json(job(&st, key, id)?, store::now_ms())))
}

pub(crate) async fn abort(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    req.caller.require(key, "RUN_JOBS")?;
    let pending = {
        let mut st = app.write();
        let project = st.project_mut(key)?;
        let job = project.jobs.get_mut(id).ok_or_else(|| not_found(key, id))?;
        let now = store::now_ms();
        if is_terminal(state_at(job, now)) {
            None
        } else {
            job.insert("abortedOn".into(), json!(now));
            app.persist.put(paths::job(key, id), &Value::Object(job.clone()))
        }
    };
    app.persist.run([pending]).await?;
    Ok(http::msg(format!("Abort requested for job {id}")))
}

pub(crate) fn log(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    req.caller.require(key, "READ_CONF")?;
    let st = app.read();
    let text = log_text(job(&st, key, id)?, store::now_ms());
    Ok(http::text("text/plain; charset=utf-8", text))
}

/// Served by the emulator: registered in the API table ([`super::router::AREAS`]).
#[linkme::distributed_slice(super::router::AREAS)]
#[allow(
    unsafe_code,
    reason = "linkme places the entry in a link section; nothing else is unsafe"
)]
static AREA: fn() -> Routes = routes;

/// The jobs area's routes.
pub(crate) fn routes() -> Routes {
    type K = Params<String>;
    type KJ = Params<(String, String)>;
    Routes::new()
        .route(
            "/projects/{projectKey}/jobs",
            routing::get(|Params(k): K, a: Api| async move { list(&a.app, &a.req, &k) })
                .post(|Params(k): K, a: Api| async move { start(&a.app, &a.req, &k).await }),
        )
        .route(
            "/projects/{projectKey}/jobs/running",
            routing::get(|Params(k): K, a: Api| async move { running(&a.app, &a.req, &k) }),
        )
        .route(
            "/jobs/running",
            routing::get(|a: Api| async move { running_everywhere(&a.app, &a.req) }),
        )
        .route(
            "/projects/{projectKey}/jobs/{jobId}",
            routing::get(|Params((k, id)): KJ, a: Api| async move { get(&a.app, &a.req, &k, &id) }),
        )
        // The 2015 client asked for `/status`.
        .route(
            "/projects/{projectKey}/jobs/{jobId}/status",
            routing::get(|Params((k, id)): KJ, a: Api| async move { get(&a.app, &a.req, &k, &id) }),
        )
        .route(
            "/projects/{projectKey}/jobs/{jobId}/abort",
            routing::post(|Params((k, id)): KJ, a: Api| async move { abort(&a.app, &a.req, &k, &id).await }),
        )
        .route(
            "/projects/{projectKey}/jobs/{jobId}/log",
            routing::get(|Params((k, id)): KJ, a: Api| async move { log(&a.app, &a.req, &k, &id) }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(started: i64, duration: i64) -> Doc {
        json!({"id": "j", "startedOn": started, "durationMs": duration,
            "def": {"type": "NON_RECURSIVE_FORCED_BUILD", "outputs": [{"id": "d", "type": "DATASET", "projectKey": "P"}]}})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn states_follow_the_clock() {
        let j = job(1000, 500);
        assert_eq!(state_at(&j, 1050), "NOT_STARTED");
        assert_eq!(state_at(&j, 1200), "RUNNING");
        assert_eq!(state_at(&j, 1500), "DONE");
        assert!(log_text(&j, 1600).contains("DONE"));
        let mut failed = job(1000, 500);
        failed.insert("failure".into(), json!("Output dataset P.d does not exist"));
        assert_eq!(state_at(&failed, 1001), "FAILED");
        assert!(log_text(&failed, 1001).contains("does not exist"));
        let mut aborted = job(1000, 500);
        aborted.insert("abortedOn".into(), json!(1300));
        assert_eq!(state_at(&aborted, 2000), "ABORTED");
        assert_eq!(status_json(&aborted, 2000)["baseStatus"]["state"], "ABORTED");
    }

    #[test]
    fn ids_use_the_dss_timestamp_format() {
        assert_eq!(format_ts(1_508_936_723_615), "2017-10-25T13-05-23.615");
    }
}
