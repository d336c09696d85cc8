//! The emulator's flow plane over raw HTTP: jobs that run sync and sql_query recipes for real
//! (SQL tables and Filesystem files), that fail on a SQL error, that refuse code recipes or skip
//! them with `--code-recipes skip`, scenario runs, and the flow's persistence across a restart.

use std::time::Duration;

use dssctl::emulator::{CodeRecipes, EmulatorConfig, RunningEmulator};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::start_emulator;

const KEY: &str = "flow-admin-key";

struct Emu {
    running: RunningEmulator,
    http: reqwest::Client,
}

impl Emu {
    async fn start(config: EmulatorConfig) -> Emu {
        let config = EmulatorConfig {
            job_duration: Duration::from_millis(100),
            ..config
        };
        Emu {
            running: start_emulator(KEY, config).await,
            http: reqwest::Client::new(),
        }
    }

    /// Status and body (JSON, or the text as a JSON string).
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}/public/api{path}", self.running.url))
            .basic_auth(KEY, Some(""));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request is answered");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body is read");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method.clone(), path, body).await;
        assert_eq!(status, 200, "{method} {path}: {value}");
        value
    }

    async fn sql(&self, conn: &str, query: &str, pre: &[&str]) -> Value {
        let started = self
            .ok(
                Method::POST,
                "/sql/queries/",
                Some(json!({"connection": conn, "query": query, "preQueries": pre})),
            )
            .await;
        let id = started["queryId"].as_str().unwrap().to_string();
        let rows = self
            .ok(
                Method::GET,
                &format!("/sql/queries/{id}/stream?format=json"),
                None,
            )
            .await;
        self.ok(Method::GET, &format!("/sql/queries/{id}/finish-streaming"), None)
            .await;
        rows
    }

    /// A project with a SQL connection `dwh` holding the table `P_orders` as dataset `orders`,
    /// and a Filesystem connection `files`.
    async fn flow_project(&self) {
        self.ok(
            Method::POST,
            "/projects/",
            Some(json!({"projectKey": "P", "name": "P", "owner": "admin"})),
        )
        .await;
        self.ok(
            Method::POST,
            "/admin/connections/",
            Some(json!({"name": "dwh", "type": "PostgreSQL", "params": {}})),
        )
        .await;
        self.ok(
            Method::POST,
            "/admin/connections/",
            Some(json!({"name": "files", "type": "Filesystem", "params": {"root": "/x"}})),
        )
        .await;
        self.sql(
            "dwh",
            "INSERT INTO P_orders VALUES ('ann', 3), ('bob', 4), ('ann', 5)",
            &["CREATE TABLE P_orders (customer TEXT, amount INTEGER)"],
        )
        .await;
        self.ok(
            Method::POST,
            "/projects/P/datasets/",
            Some(json!({"name": "orders", "type": "PostgreSQL",
                "params": {"connection": "dwh", "mode": "table", "table": "${projectKey}_orders"},
                "schema": {"columns": [{"name": "customer", "type": "string"}, {"name": "amount", "type": "bigint"}]}})),
        )
        .await;
    }

    async fn dataset(&self, name: &str, connection: &str) {
        let (ty, params) = if connection == "files" {
            (
                "Filesystem",
                json!({"connection": "files", "path": "${projectKey}/${datasetName}"}),
            )
        } else {
            (
                "PostgreSQL",
                json!({"connection": connection, "mode": "table", "table": format!("${{projectKey}}_{name}")}),
            )
        };
        self.ok(
            Method::POST,
            "/projects/P/datasets/",
            Some(json!({"name": name, "type": ty, "params": params})),
        )
        .await;
    }

    async fn recipe(&self, name: &str, ty: &str, input: &str, output: &str, payload: &str) {
        let created = self
            .ok(
                Method::POST,
                "/projects/P/recipes/",
                Some(json!({"recipePrototype": {"name": name, "type": ty,
                    "inputs": {"main": {"items": [{"ref": input}]}},
                    "outputs": {"main": {"items": [{"ref": output, "appendMode": false}]}}},
                    "creationSettings": {"script": payload}})),
            )
            .await;
        assert_eq!(created["name"], name);
    }

    /// Start a job and wait for its end; its final status and log.
    async fn build(&self, output: &str, job_type: &str) -> (String, String) {
        let started = self
            .ok(
                Method::POST,
                "/projects/P/jobs/",
                Some(json!({"type": job_type, "outputs": [{"id": output, "type": "DATASET"}]})),
            )
            .await;
        let id = started["id"].as_str().unwrap().to_string();
        for _ in 0..100 {
            let status = self
                .ok(Method::GET, &format!("/projects/P/jobs/{id}/"), None)
                .await;
            let state = status["baseStatus"]["state"].as_str().unwrap().to_string();
            if ["DONE", "FAILED", "ABORTED"].contains(&state.as_str()) {
                let log = self
                    .ok(Method::GET, &format!("/projects/P/jobs/{id}/log"), None)
                    .await;
                return (state, log.as_str().unwrap_or_default().to_string());
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        panic!("job {id} never ended");
    }
}

#[tokio::test]
async fn a_recursive_job_runs_sync_and_sql_query_recipes_for_real() {
    let emu = Emu::start(EmulatorConfig::default()).await;
    emu.flow_project().await;
    emu.dataset("orders_files", "files").await;
    emu.dataset("orders_copy", "dwh").await;
    emu.dataset("by_customer", "dwh").await;
    emu.recipe("to_files", "sync", "orders", "orders_files", "").await;
    emu.recipe("back_to_sql", "sync", "orders_files", "orders_copy", "")
        .await;
    emu.recipe(
        "aggregate",
        "sql_query",
        "orders_copy",
        "by_customer",
        "SELECT customer, SUM(amount) AS total FROM \"${projectKey}_orders_copy\" GROUP BY customer ORDER BY customer",
    )
    .await;

    let (state, log) = emu.build("by_customer", "RECURSIVE_BUILD").await;
    assert_eq!(state, "DONE", "{log}");
    assert!(
        log.contains("Recipes to run: to_files, back_to_sql, aggregate"),
        "{log}"
    );
    let rows = emu
        .sql(
            "dwh",
            "SELECT customer, total FROM P_by_customer ORDER BY customer",
            &[],
        )
        .await;
    assert_eq!(rows, json!([["ann", 8], ["bob", 4]]));
    // The Filesystem dataset got its rows and its schema, and serves them.
    let data = emu
        .ok(
            Method::GET,
            "/projects/P/datasets/orders_files/data?format=json",
            None,
        )
        .await;
    assert_eq!(data, json!([["ann", 3], ["bob", 4], ["ann", 5]]));
    let schema = emu
        .ok(Method::GET, "/projects/P/datasets/by_customer/schema", None)
        .await;
    assert_eq!(
        schema["columns"],
        json!([{"name": "customer", "type": "string"}, {"name": "total", "type": "bigint"}])
    );

    // A non-recursive build runs only the producer of the output.
    let (state, log) = emu.build("by_customer", "NON_RECURSIVE_FORCED_BUILD").await;
    assert_eq!(state, "DONE");
    assert!(
        log.contains("Recipes to run: aggregate\n") || log.contains("Recipes to run: aggregate"),
        "{log}"
    );
    assert!(!log.contains("Running recipe to_files"), "{log}");
    // Missing-only: every output holds data, nothing runs.
    let (state, log) = emu.build("by_customer", "RECURSIVE_MISSING_ONLY_BUILD").await;
    assert_eq!(state, "DONE");
    assert!(!log.contains("Running recipe"), "{log}");
    emu.running.shutdown().await;
}

#[tokio::test]
async fn sql_errors_missing_inputs_and_schema_mismatches_fail_the_job() {
    let emu = Emu::start(EmulatorConfig::default()).await;
    emu.flow_project().await;
    emu.dataset("bad_out", "dwh").await;
    emu.recipe(
        "bad",
        "sql_query",
        "orders",
        "bad_out",
        "SELECT nope FROM no_such_table",
    )
    .await;
    let (state, log) = emu.build("bad_out", "NON_RECURSIVE_FORCED_BUILD").await;
    assert_eq!(state, "FAILED");
    assert!(log.contains("[ERROR] SQL error on connection dwh"), "{log}");
    assert!(log.contains("no_such_table"), "{log}");

    // An input whose table does not exist.
    emu.ok(
        Method::POST,
        "/projects/P/datasets/",
        Some(json!({"name": "ghost", "type": "PostgreSQL", "params": {"connection": "dwh", "table": "ghost_table"}})),
    )
    .await;
    emu.dataset("ghost_copy", "dwh").await;
    emu.recipe("copy_ghost", "sync", "ghost", "ghost_copy", "").await;
    let (state, log) = emu.build("ghost_copy", "RECURSIVE_BUILD").await;
    assert_eq!(state, "FAILED");
    assert!(log.contains("table \"ghost_table\" does not exist"), "{log}");

    // An output whose schema names other columns.
    emu.ok(
        Method::POST,
        "/projects/P/datasets/",
        Some(json!({"name": "typed_out", "type": "PostgreSQL",
            "params": {"connection": "dwh", "table": "typed"},
            "schema": {"columns": [{"name": "other", "type": "string"}]}})),
    )
    .await;
    emu.recipe("to_typed", "sync", "orders", "typed_out", "").await;
    let (state, log) = emu.build("typed_out", "RECURSIVE_BUILD").await;
    assert_eq!(state, "FAILED");
    assert!(
        log.contains("Schema mismatch on output dataset P.typed_out"),
        "{log}"
    );
    emu.running.shutdown().await;
}

#[tokio::test]
async fn code_recipes_fail_the_job_by_default_and_are_skipped_on_request() {
    for (mode, expected) in [(CodeRecipes::Fail, "FAILED"), (CodeRecipes::Skip, "DONE")] {
        let emu = Emu::start(EmulatorConfig {
            code_recipes: mode,
            ..Default::default()
        })
        .await;
        emu.flow_project().await;
        emu.dataset("scored", "dwh").await;
        emu.recipe("score", "python", "orders", "scored", "import dataiku")
            .await;
        let (state, log) = emu.build("scored", "RECURSIVE_BUILD").await;
        assert_eq!(state, expected, "{log}");
        match mode {
            CodeRecipes::Fail => assert!(
                log.contains(
                    "[ERROR] Recipe score was not run: the emulator does not execute python recipes"
                ),
                "{log}"
            ),
            CodeRecipes::Skip => {
                assert!(
                    log.contains("[WARN] Recipe score skipped without running"),
                    "{log}"
                );
                // Its output is left as it was: no table was created.
                let (status, _) = emu
                    .call(Method::GET, "/projects/P/datasets/scored/data?format=json", None)
                    .await;
                assert_ne!(status, 200);
            }
        }
        emu.running.shutdown().await;
    }
}

#[tokio::test]
async fn the_flow_and_its_runs_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = || EmulatorConfig {
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let emu = Emu::start(config()).await;
    emu.flow_project().await;
    emu.dataset("orders_files", "files").await;
    emu.recipe("to_files", "sync", "orders", "orders_files", "").await;
    let folder = emu
        .ok(
            Method::POST,
            "/projects/P/managedfolders/",
            Some(json!({"name": "raw", "params": {"connection": "files"}})),
        )
        .await;
    let folder_id = folder["id"].as_str().unwrap().to_string();
    let zone = emu
        .ok(
            Method::POST,
            "/projects/P/flow/zones",
            Some(json!({"name": "ingestion", "color": "#123456"})),
        )
        .await;
    let zone_id = zone["id"].as_str().unwrap().to_string();
    emu.ok(
        Method::POST,
        &format!("/projects/P/flow/zones/{zone_id}/items"),
        Some(json!({"objectId": "to_files", "objectType": "RECIPE"})),
    )
    .await;
    let scenario = emu
        .ok(
            Method::POST,
            "/projects/P/scenarios/",
            Some(json!({"name": "Nightly", "type": "step_based", "params": {"steps": [
                {"type": "build_flowitem", "params": {"builds": [{"type": "DATASET", "itemId": "orders_files"}]}}]}})),
        )
        .await;
    assert_eq!(scenario["id"], "NIGHTLY");
    let fire = emu
        .ok(Method::POST, "/projects/P/scenarios/NIGHTLY/run", Some(json!({})))
        .await;
    let trigger_run = fire["runId"].as_str().unwrap().to_string();
    let mut outcome = Value::Null;
    for _ in 0..100 {
        let found = emu
            .ok(
                Method::GET,
                &format!("/projects/P/scenarios/NIGHTLY/get-run-for-trigger?triggerId=manual&triggerRunId={trigger_run}"),
                None,
            )
            .await;
        outcome = found["scenarioRun"]["result"]["outcome"].clone();
        if !outcome.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(outcome, "SUCCESS");
    let (status, _) = emu
        .call(
            Method::POST,
            &format!("/projects/P/managedfolders/{folder_id}/contents/a/b.txt"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    emu.running.shutdown().await;

    let emu = Emu::start(config()).await;
    let recipes = emu.ok(Method::GET, "/projects/P/recipes/", None).await;
    assert_eq!(recipes[0]["name"], "to_files");
    let folder = emu
        .ok(
            Method::GET,
            &format!("/projects/P/managedfolders/{folder_id}"),
            None,
        )
        .await;
    assert_eq!(folder["name"], "raw");
    let zone = emu
        .ok(Method::GET, &format!("/projects/P/flow/zones/{zone_id}"), None)
        .await;
    assert_eq!(
        zone["items"],
        json!([{"objectId": "to_files", "objectType": "RECIPE"}])
    );
    let runs = emu
        .ok(Method::GET, "/projects/P/scenarios/NIGHTLY/get-last-runs", None)
        .await;
    assert_eq!(runs[0]["result"]["outcome"], "SUCCESS");
    let data = emu
        .ok(
            Method::GET,
            "/projects/P/datasets/orders_files/data?format=json",
            None,
        )
        .await;
    assert_eq!(data, json!([["ann", 3], ["bob", 4], ["ann", 5]]));
    let contents = emu
        .ok(
            Method::GET,
            &format!("/projects/P/managedfolders/{folder_id}/contents"),
            None,
        )
        .await;
    assert_eq!(contents["items"][0]["path"], "/a/b.txt");
    emu.running.shutdown().await;
}
