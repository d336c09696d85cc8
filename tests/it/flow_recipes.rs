//! The `Recipe` kind and `examples/flow` through the real binary against the emulator: the
//! example from empty, converged (0 writes), its scenario run by `dssctl build --scenario` and
//! the aggregated rows read through the data and SQL endpoints; a change of the SQL as one write
//! shown as a line diff (text and Markdown snapshots); params updated key by key; recipes
//! created outside dssctl adopted with no change; a recipe removed from the manifests deleted
//! (and kept while protected); the cycle error at its line; an undeclared output.

use std::path::{Path, PathBuf};
use std::process::Output;

use dssctl::client::DssClient;
use dssctl::emulator::{EmulatorConfig, RunningEmulator};
use serde_json::json;

use crate::support::{
    cli_args, client, copy_dir, dssctl_command, edit, output, reset_stats, show, start_emulator, stats,
};

const KEY: &str = "flow-recipes-admin-key";

/// The example shipped in the repository.
pub(crate) fn flow_example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/flow")
}

/// A copy of the example in `dir/flow`, for tests that edit it.
pub(crate) fn copy_flow(dir: &Path) -> PathBuf {
    let to = dir.join("flow");
    copy_dir(&flow_example(), &to);
    to
}

/// `dssctl CMD PATH --url --api-key EXTRA..` run in `cwd` (the ledger's stack is the default).
pub(crate) async fn run(
    emu: &RunningEmulator,
    key: &str,
    cmd: &str,
    path: &Path,
    cwd: &Path,
    extra: &[&str],
) -> Output {
    let mut c = dssctl_command(&[]);
    c.args(cli_args(cmd, path, emu, key, extra)).current_dir(cwd);
    output(c).await
}

/// `dssctl build PROJECT --scenario ID`.
pub(crate) async fn build_scenario(
    emu: &RunningEmulator,
    key: &str,
    project: &str,
    scenario: &str,
) -> Output {
    let mut c = dssctl_command(&[]);
    c.args([
        "build",
        project,
        "--scenario",
        scenario,
        "--poll",
        "50ms",
        "--url",
        &emu.url,
        "--api-key",
        key,
    ]);
    output(c).await
}

/// Create and fill the raw orders table on the example's connection (DSS's SQL endpoint: the
/// table is loaded outside the flow).
pub(crate) async fn load_orders(emu: &RunningEmulator, key: &str) {
    let body = json!({
        "connection": "flow_warehouse",
        "query": "CREATE TABLE \"FLOW_DEMO_orders\" (customer TEXT, amount INTEGER)",
        "postQueries": ["INSERT INTO \"FLOW_DEMO_orders\" VALUES ('ann', 3), ('bob', 4), ('ann', 5)"],
    });
    let resp = reqwest::Client::new()
        .post(format!("{}/public/api/sql/queries/", emu.url))
        .basic_auth(key, Some(""))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
}

/// The rows of a dataset through the data endpoint (TSV, no header), sorted.
pub(crate) async fn dataset_rows(
    emu: &RunningEmulator,
    key: &str,
    project: &str,
    dataset: &str,
) -> Vec<String> {
    let resp = reqwest::Client::new()
        .get(format!(
            "{}/public/api/projects/{project}/datasets/{dataset}/data/",
            emu.url
        ))
        .basic_auth(key, Some(""))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let mut rows: Vec<String> = resp.text().await.unwrap().lines().map(str::to_string).collect();
    rows.sort();
    rows
}

/// Writes counted by route, without the ledger's (global variables) and the lock's.
fn writes_by_route(s: &dssctl::wire::EmulatorStats) -> Vec<(String, u64)> {
    s.by_route
        .iter()
        .filter(|(r, _)| {
            let method = r.split(' ').next().unwrap_or("");
            method != "GET" && !r.contains("/admin/variables")
        })
        .map(|(r, n)| (r.clone(), *n))
        .collect()
}

async fn start() -> (RunningEmulator, DssClient) {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    (emu, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flow_example_from_empty_converges_and_its_scenario_builds_the_aggregate() {
    let (emu, c) = start().await;
    let dir = tempfile::tempdir().unwrap();
    let flow = flow_example();

    reset_stats(&emu, KEY).await;
    let out = run(
        &emu,
        KEY,
        "apply",
        &flow,
        dir.path(),
        &["--auto-approve", "--no-builds"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Apply complete: 11 created, 0 updated, 0 adopted"),
        "{stdout}"
    );
    assert!(!stdout.contains("warning"), "{stdout}");
    eprintln!(
        "examples/flow from empty: {} writes",
        stats(&emu, KEY).await.writes
    );

    // Converged: the plan shows nothing, a second apply writes nothing.
    let out = run(&emu, KEY, "plan", &flow, dir.path(), &["--detailed-exitcode"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    reset_stats(&emu, KEY).await;
    let out = run(&emu, KEY, "apply", &flow, dir.path(), &["--auto-approve"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("No changes."),
        "{}",
        show(&out)
    );
    let s = stats(&emu, KEY).await;
    assert_eq!(s.writes, 0, "a converged apply writes nothing: {:?}", s.by_route);

    // What DSS holds: the recipes as declared, the SQL as the file says.
    let r = c
        .get_recipe("FLOW_DEMO", "compute_orders_by_customer")
        .await
        .unwrap();
    assert_eq!(r["recipe"]["type"], "sql_query");
    let sql = std::fs::read_to_string(flow.join("recipes/orders_by_customer.sql")).unwrap();
    assert_eq!(r["payload"], json!(sql));
    assert_eq!(r["recipe"]["inputs"]["main"]["items"][0]["ref"], "orders_copy");

    // The scenario, run through `dssctl build`, builds the aggregate.
    load_orders(&emu, KEY).await;
    let out = build_scenario(&emu, KEY, "FLOW_DEMO", "NIGHTLY").await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("scenario NIGHTLY run ") && stdout.contains(" SUCCESS in "),
        "{stdout}"
    );
    assert_eq!(
        dataset_rows(&emu, KEY, "FLOW_DEMO", "orders_by_customer").await,
        vec!["ann\t8", "bob\t4"]
    );
    assert_eq!(dataset_rows(&emu, KEY, "FLOW_DEMO", "orders_copy").await.len(), 3);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sql_change_is_one_write_shown_as_a_line_diff_and_runs_the_build() {
    let (emu, c) = start().await;
    let dir = tempfile::tempdir().unwrap();
    let flow = copy_flow(dir.path());
    let out = run(
        &emu,
        KEY,
        "apply",
        &flow,
        dir.path(),
        &["--auto-approve", "--no-builds"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    load_orders(&emu, KEY).await;

    let sql = flow.join("recipes/orders_by_customer.sql");
    edit(
        &sql,
        "SUM(amount) AS total",
        "SUM(amount) AS total,\n       COUNT(*) AS orders",
    );
    let out = run(&emu, KEY, "plan", &flow, dir.path(), &["--no-color"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    insta::assert_snapshot!("flow_sql_change_plan_text", String::from_utf8_lossy(&out.stdout));
    let out = run(&emu, KEY, "plan", &flow, dir.path(), &["--format", "markdown"]).await;
    let markdown = String::from_utf8_lossy(&out.stdout).replace(&emu.url, "URL");
    insta::assert_snapshot!("flow_sql_change_plan_markdown", markdown);

    // One PUT of the recipe; the Build (onChange) runs the scenario, which ends SUCCESS.
    reset_stats(&emu, KEY).await;
    let out = run(&emu, KEY, "apply", &flow, dir.path(), &["--auto-approve"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let s = stats(&emu, KEY).await;
    let writes = writes_by_route(&s);
    let recipe_puts: u64 = writes
        .iter()
        .filter(|(r, _)| r.starts_with("PUT /projects/{projectKey}/recipes/"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(recipe_puts, 1, "{writes:?}");
    assert!(
        writes
            .iter()
            .all(|(r, _)| r.starts_with("PUT /projects/{projectKey}/recipes/") || r.contains("/scenarios/")),
        "only the recipe is written, then the scenario is run: {writes:?}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("nightly"), "{stdout}");
    let r = c
        .get_recipe("FLOW_DEMO", "compute_orders_by_customer")
        .await
        .unwrap();
    assert!(r["payload"].as_str().unwrap().contains("COUNT(*) AS orders"));
    // The new column reached the aggregate (its schema is not managed by the manifests).
    assert_eq!(
        dataset_rows(&emu, KEY, "FLOW_DEMO", "orders_by_customer").await,
        vec!["ann\t8\t2", "bob\t4\t1"]
    );
    let out = run(&emu, KEY, "plan", &flow, dir.path(), &["--detailed-exitcode"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn params_inputs_and_removal_are_planned_and_a_protected_recipe_is_kept() {
    let (emu, c) = start().await;
    let dir = tempfile::tempdir().unwrap();
    let flow = copy_flow(dir.path());
    let out = run(
        &emu,
        KEY,
        "apply",
        &flow,
        dir.path(),
        &["--auto-approve", "--no-builds"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    // params key by key: a key DSS holds and the manifest does not name is kept.
    let mut doc = c.get_recipe("FLOW_DEMO", "copy_orders").await.unwrap();
    doc["recipe"]["params"]["keptByDss"] = json!(1);
    c.save_recipe("FLOW_DEMO", "copy_orders", &doc).await.unwrap();
    let recipes = flow.join("recipes.yaml");
    edit(
        &recipes,
        "  outputs: [orders_copy]\n",
        "  outputs: [orders_copy]\n  params: {schemaMode: strict}\n  protect: true\n",
    );
    let out = run(&emu, KEY, "plan", &flow, dir.path(), &["--no-color"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("~ recipe FLOW_DEMO.copy_orders"), "{stdout}");
    assert!(stdout.contains("params.schemaMode: (none) -> strict"), "{stdout}");
    let out = run(
        &emu,
        KEY,
        "apply",
        &flow,
        dir.path(),
        &["--auto-approve", "--no-builds"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let doc = c.get_recipe("FLOW_DEMO", "copy_orders").await.unwrap();
    assert_eq!(doc["recipe"]["params"]["keptByDss"], 1);
    assert_eq!(doc["recipe"]["params"]["schemaMode"], "strict");

    // Removed from the manifests: the protected recipe stops the apply (the guard), nothing is
    // deleted.
    let text = std::fs::read_to_string(&recipes).unwrap();
    std::fs::remove_file(&recipes).unwrap();
    let scenarios = flow.join("scenarios.yaml");
    std::fs::remove_file(&scenarios).unwrap();
    let out = run(
        &emu,
        KEY,
        "apply",
        &flow,
        dir.path(),
        &["--auto-approve", "--no-builds"],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("protected resources are no longer declared"));
    assert_eq!(c.list_recipes("FLOW_DEMO").await.unwrap().len(), 2);
    // With the protected recipe declared again, the other recipe is deleted, after the scenario
    // that builds through it.
    let copy_orders = text.split("---\n").next().unwrap().to_string();
    std::fs::write(&recipes, copy_orders).unwrap();
    let out = run(
        &emu,
        KEY,
        "apply",
        &flow,
        dir.path(),
        &["--auto-approve", "--no-builds"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let scenario_at = stdout
        .find("- scenario FLOW_DEMO.NIGHTLY")
        .expect("scenario deleted");
    let recipe_at = stdout
        .find("- recipe FLOW_DEMO.compute_orders_by_customer")
        .expect("recipe deleted");
    assert!(
        scenario_at < recipe_at,
        "scenarios are deleted before recipes: {stdout}"
    );
    let names: Vec<String> = c
        .list_recipes("FLOW_DEMO")
        .await
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["copy_orders"], "{stdout}");
    assert!(c.list_scenarios("FLOW_DEMO").await.unwrap().is_empty());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipes_and_a_scenario_created_outside_dssctl_are_adopted_with_no_change() {
    let (emu, c) = start().await;
    let dir = tempfile::tempdir().unwrap();
    let flow = copy_flow(dir.path());
    // Everything but the recipes and the scenario, by dssctl; those by plain HTTP, as the
    // official client's creators send them.
    let recipes = flow.join("recipes.yaml");
    let scenarios = flow.join("scenarios.yaml");
    let held = dir.path().join("held");
    std::fs::create_dir_all(held.join("recipes")).unwrap();
    std::fs::rename(&recipes, held.join("recipes.yaml")).unwrap();
    std::fs::rename(&scenarios, held.join("scenarios.yaml")).unwrap();
    let out = run(
        &emu,
        KEY,
        "apply",
        &flow,
        dir.path(),
        &["--auto-approve", "--no-builds"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    let sql = std::fs::read_to_string(flow.join("recipes/orders_by_customer.sql")).unwrap();
    let proto = |name: &str, ty: &str, input: &str, output: &str| {
        json!({"recipePrototype": {"name": name, "type": ty, "projectKey": "FLOW_DEMO",
            "inputs": {"main": {"items": [{"ref": input, "deps": []}]}},
            "outputs": {"main": {"items": [{"ref": output, "appendMode": false}]}}},
            "creationSettings": {}})
    };
    c.create_recipe(
        "FLOW_DEMO",
        &proto("copy_orders", "sync", "orders", "orders_copy"),
    )
    .await
    .unwrap();
    let mut body = proto(
        "compute_orders_by_customer",
        "sql_query",
        "orders_copy",
        "orders_by_customer",
    );
    body["creationSettings"]["script"] = json!(sql);
    c.create_recipe("FLOW_DEMO", &body).await.unwrap();
    c.create_scenario(
        "FLOW_DEMO",
        &json!({"id": "NIGHTLY", "name": "Nightly refresh", "type": "step_based", "active": true,
            "triggers": [{"name": "every night", "type": "temporal", "active": true,
                "params": {"frequency": "Daily", "hour": 2, "minute": 0}}],
            "params": {"steps": [{"name": "build the aggregate", "type": "build_flowitem",
                "params": {"builds": [{"type": "DATASET", "itemId": "orders_by_customer"}],
                    "jobType": "RECURSIVE_BUILD"}}]}}),
    )
    .await
    .unwrap();
    let trigger_id = c.get_scenario("FLOW_DEMO", "NIGHTLY").await.unwrap()["triggers"][0]["id"].clone();

    std::fs::rename(held.join("recipes.yaml"), &recipes).unwrap();
    std::fs::rename(held.join("scenarios.yaml"), &scenarios).unwrap();
    let out = run(&emu, KEY, "plan", &flow, dir.path(), &["--no-color"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    for adopted in [
        "= recipe FLOW_DEMO.copy_orders",
        "= recipe FLOW_DEMO.compute_orders_by_customer",
        "= scenario FLOW_DEMO.NIGHTLY",
    ] {
        assert!(stdout.contains(adopted), "{adopted}: {stdout}");
    }
    assert!(stdout.contains("0 to add, 0 to change"), "{stdout}");
    assert!(!stdout.contains("->"), "no field changes: {stdout}");
    reset_stats(&emu, KEY).await;
    let out = run(
        &emu,
        KEY,
        "apply",
        &flow,
        dir.path(),
        &["--auto-approve", "--no-builds"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let writes = writes_by_route(&stats(&emu, KEY).await);
    assert!(
        writes.is_empty(),
        "adoption writes nothing but the ledger: {writes:?}"
    );
    let out = run(&emu, KEY, "plan", &flow, dir.path(), &["--detailed-exitcode"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let settings = c.get_scenario("FLOW_DEMO", "NIGHTLY").await.unwrap();
    assert_eq!(settings["triggers"][0]["id"], trigger_id);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_and_an_undeclared_output_are_errors_at_their_lines() {
    let (emu, _c) = start().await;
    let dir = tempfile::tempdir().unwrap();
    let flow = copy_flow(dir.path());
    // copy_orders reads the aggregate that compute_orders_by_customer builds from its output.
    edit(
        &flow.join("recipes.yaml"),
        "  inputs: [orders]\n",
        "  inputs: [orders, orders_by_customer]\n",
    );
    let mut cmd = dssctl_command(&[]);
    cmd.args(["validate", "--no-color"])
        .arg(&flow)
        .current_dir(dir.path());
    let out = output(cmd).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .replace(&*flow.display().to_string(), "FLOW");
    insta::assert_snapshot!("flow_recipe_cycle", text);

    let flow = copy_flow(&dir.path().join("second"));
    edit(
        &flow.join("recipes.yaml"),
        "  outputs: [orders_copy]\n",
        "  outputs: [orders_copi]\n",
    );
    let out = run(&emu, KEY, "plan", &flow, dir.path(), &["--no-color"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("outputs names dataset FLOW_DEMO.orders_copi, which is neither declared"),
        "{text}"
    );
    assert!(text.contains("recipes.yaml:10"), "the line of the output: {text}");
    emu.shutdown().await;
}

/// A failing recipe fails the scenario run: exit 1, the failing step and the job log printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_scenario_run_exits_1_with_the_failing_steps_log() {
    let (emu, _c) = start().await;
    let dir = tempfile::tempdir().unwrap();
    let flow = copy_flow(dir.path());
    edit(
        &flow.join("recipes/orders_by_customer.sql"),
        "SUM(amount)",
        "SUM(no_such_column)",
    );
    let out = run(
        &emu,
        KEY,
        "apply",
        &flow,
        dir.path(),
        &["--auto-approve", "--no-builds"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    load_orders(&emu, KEY).await;
    let out = build_scenario(&emu, KEY, "FLOW_DEMO", "NIGHTLY").await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("scenario NIGHTLY run ") && stdout.contains("FAILED"),
        "{stdout}"
    );
    assert!(stdout.contains("step \"build the aggregate\" failed"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("----- log of scenario NIGHTLY run "), "{stderr}");
    assert!(
        stderr.contains("no_such_column"),
        "the job's log says why: {stderr}"
    );

    // A scenario that does not exist: a clear start error.
    let out = build_scenario(&emu, KEY, "FLOW_DEMO", "NOPE").await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("NOPE"), "{stderr}");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_of_the_flow_plans_as_adoptions_without_change() {
    let (emu, _c) = start().await;
    let dir = tempfile::tempdir().unwrap();
    let flow = flow_example();
    let out = run(
        &emu,
        KEY,
        "apply",
        &flow,
        dir.path(),
        &["--auto-approve", "--no-builds"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    let mut c = dssctl_command(&[]);
    c.args([
        "export",
        "--project",
        "FLOW_DEMO",
        "--include",
        "projects,datasets,zones,folders,recipes,scenarios",
        "--out",
        "exported",
        "--url",
        &emu.url,
        "--api-key",
        KEY,
    ])
    .current_dir(dir.path());
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = std::fs::read_to_string(dir.path().join("exported/projects/FLOW_DEMO.yaml")).unwrap();
    for expected in [
        "kind: Recipe",
        "name: compute_orders_by_customer",
        "type: sql_query",
        "GROUP BY customer",
        "kind: Scenario",
        "name: NIGHTLY",
        "type: build_flowitem",
    ] {
        assert!(text.contains(expected), "{expected} missing:\n{text}");
    }

    // A fresh stack adopts every object with no field change.
    let out = run(
        &emu,
        KEY,
        "plan",
        Path::new("exported"),
        dir.path(),
        &["--stack", "adopter", "--format", "json"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ops = plan["operations"].as_array().unwrap();
    // The project, 3 datasets, 2 zones, 1 folder, 2 recipes, 1 scenario.
    assert_eq!(ops.len(), 10, "{plan:#}");
    for op in ops {
        assert_eq!(op["action"], "adopt", "{op:#}");
        assert!(
            op["changes"].as_array().is_none_or(Vec::is_empty),
            "a field change on adoption: {op:#}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recipe_is_placed_in_its_zone_then_converges() {
    let (emu, _c) = start().await;
    let dir = tempfile::tempdir().unwrap();
    let flow = copy_flow(dir.path());
    edit(
        &flow.join("recipes.yaml"),
        "  code: {fromFile: recipes/orders_by_customer.sql}\n",
        "  code: {fromFile: recipes/orders_by_customer.sql}\n  zone: reporting\n",
    );
    let out = run(&emu, KEY, "plan", &flow, dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("zone: reporting"), "{stdout}");
    let out = run(
        &emu,
        KEY,
        "apply",
        &flow,
        dir.path(),
        &["--auto-approve", "--no-builds"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    // The zone's items name the recipe; a second plan has nothing to do.
    let out = run(&emu, KEY, "plan", &flow, dir.path(), &["--detailed-exitcode"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    // Moved back to the built-in zone: one change, the recipe's placement.
    edit(
        &flow.join("recipes.yaml"),
        "  zone: reporting\n",
        "  zone: default\n",
    );
    let out = run(&emu, KEY, "plan", &flow, dir.path(), &["--format", "json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ops = plan["operations"].as_array().unwrap();
    assert_eq!(ops.len(), 1, "{plan:#}");
    assert_eq!(ops[0]["name"], "FLOW_DEMO.compute_orders_by_customer", "{plan:#}");
    assert_eq!(ops[0]["subdocuments"], json!(["zone"]), "{plan:#}");
}
