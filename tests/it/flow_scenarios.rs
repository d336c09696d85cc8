//! The `Scenario` kind through the real binary against the emulator: each field updated (label,
//! active, a trigger's params, the steps) as the smallest write, trigger ids DSS generated kept
//! and never a change; a custom_python scenario with its script from a file, changed as a line
//! diff; a type change refused; a Build with `scenario` run by apply after a change.

use serde_json::json;

use crate::flow_recipes::{copy_flow, load_orders, run};
use crate::support::{client, edit, reset_stats, show, start_emulator, stats};
use dssctl::emulator::EmulatorConfig;

const KEY: &str = "flow-scenarios-admin-key";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_scenario_field_is_updated_and_trigger_ids_are_kept() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
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
    let before = c.get_scenario("FLOW_DEMO", "NIGHTLY").await.unwrap();
    let trigger_id = before["triggers"][0]["id"].clone();
    let step_id = before["params"]["steps"][0]["id"].clone();
    assert_eq!(before["runAsUser"], "admin");

    let scenarios = flow.join("scenarios.yaml");
    for (from, to, change) in [
        (
            "label: Nightly refresh",
            "label: Nightly rebuild",
            "name: \"Nightly refresh\" -> \"Nightly rebuild\"",
        ),
        (
            "  active: true\n  triggers",
            "  active: false\n  triggers",
            "active: true -> false",
        ),
        (
            "hour: 2,",
            "hour: 3,",
            "triggers[name=every night].params.hour: 2 -> 3",
        ),
        (
            "jobType: RECURSIVE_BUILD",
            "jobType: RECURSIVE_FORCED_BUILD",
            "steps[0]:",
        ),
    ] {
        edit(&scenarios, from, to);
        let out = run(&emu, KEY, "plan", &flow, dir.path(), &["--no-color"]).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("~ scenario FLOW_DEMO.NIGHTLY"), "{stdout}");
        assert!(stdout.contains(change), "{change}: {stdout}");
        assert!(stdout.contains("1 to change"), "{stdout}");
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
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("warning"),
            "{}",
            show(&out)
        );
        let s = stats(&emu, KEY).await;
        assert_eq!(
            s.by_route
                .get("PUT /projects/{projectKey}/scenarios/{scenarioId}")
                .copied(),
            Some(1),
            "{:?}",
            s.by_route
        );
        let out = run(&emu, KEY, "plan", &flow, dir.path(), &["--detailed-exitcode"]).await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "converged after {change}: {}",
            show(&out)
        );
    }
    let after = c.get_scenario("FLOW_DEMO", "NIGHTLY").await.unwrap();
    assert_eq!(after["triggers"][0]["id"], trigger_id);
    assert_eq!(after["params"]["steps"][0]["id"], step_id);
    assert_eq!(
        after["params"]["steps"][0]["params"]["jobType"],
        "RECURSIVE_FORCED_BUILD"
    );
    assert_eq!(after["name"], "Nightly rebuild");
    assert_eq!(after["active"], false);

    // The type is the identity.
    std::fs::write(
        &scenarios,
        "apiVersion: dssctl/v1\nkind: Scenario\nmetadata: {name: NIGHTLY, project: FLOW_DEMO}\nspec: {type: custom_python}\n",
    )
    .unwrap();
    let out = run(&emu, KEY, "plan", &flow, dir.path(), &["--no-color"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("a scenario's type cannot change in place"),
        "{text}"
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_python_script_from_a_file_is_diffed_and_a_scenario_build_runs_after_apply() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let dir = tempfile::tempdir().unwrap();
    let flow = copy_flow(dir.path());
    std::fs::create_dir_all(flow.join("scenarios")).unwrap();
    std::fs::write(
        flow.join("scenarios/report.py"),
        "from dataiku.scenario import Scenario\nScenario().build_dataset(\"orders_by_customer\")\n",
    )
    .unwrap();
    let doc = "---\napiVersion: dssctl/v1\nkind: Scenario\nmetadata: {name: REPORT, project: FLOW_DEMO}\nspec:\n  type: custom_python\n  label: Report\n  script: {fromFile: scenarios/report.py}\n";
    let scenarios = flow.join("scenarios.yaml");
    let text = std::fs::read_to_string(&scenarios).unwrap();
    std::fs::write(&scenarios, format!("{text}{doc}")).unwrap();
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
    let payload = c.get_scenario_payload("FLOW_DEMO", "REPORT").await.unwrap();
    assert!(
        payload["script"].as_str().unwrap().contains("build_dataset"),
        "{payload}"
    );
    let out = run(&emu, KEY, "plan", &flow, dir.path(), &["--detailed-exitcode"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    edit(
        &flow.join("scenarios/report.py"),
        "orders_by_customer",
        "orders_copy",
    );
    let out = run(&emu, KEY, "plan", &flow, dir.path(), &["--no-color"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("- Scenario().build_dataset(\"orders_by_customer\")"),
        "{stdout}"
    );
    assert!(
        stdout.contains("+ Scenario().build_dataset(\"orders_copy\")"),
        "{stdout}"
    );

    // The change triggers the Build of the project (onChange), which runs NIGHTLY to SUCCESS.
    load_orders(&emu, KEY).await;
    let out = run(
        &emu,
        KEY,
        "apply",
        &flow,
        dir.path(),
        &["--auto-approve", "--no-color"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let runs = c.list_scenarios("FLOW_DEMO").await.unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    let last = reqwest::Client::new()
        .get(format!(
            "{}/public/api/projects/FLOW_DEMO/scenarios/NIGHTLY/get-last-runs",
            emu.url
        ))
        .basic_auth(KEY, Some(""))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(last[0]["result"]["outcome"], json!("SUCCESS"), "{last}");
    emu.shutdown().await;
}
