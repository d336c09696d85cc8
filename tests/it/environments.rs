//! Environments through the real binary: the multi-env example planned and applied per
//! environment against the emulator (each as the stack its Environment names), `render`'s
//! output, and every mistake an Environment can hold, at its file and line.

use std::path::{Path, PathBuf};
use std::process::Output;

use dssctl::emulator::EmulatorConfig;
use dssctl::plan::Plan;

use crate::support::{client, dssctl_command, output, show, start_emulator};

const KEY: &str = "environments-test-admin-key";

/// The repository root: the binary runs there so that paths in the output are stable.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn example(env: &str) -> PathBuf {
    root().join("examples/multi-env/envs").join(env)
}

/// Runs `dssctl ARGS` at the repository root; returns (exit code, stdout, stderr).
fn dssctl(args: &[&str]) -> (i32, String, String) {
    let out = dssctl_command(&[])
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .expect("dssctl runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `dssctl ARGS` against the emulator at `url`, in `cwd`, with `env` set.
async fn run(args: &[&str], url: &str, cwd: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = dssctl_command(&[
        "DEV_WAREHOUSE_PASSWORD",
        "PROD_WAREHOUSE_PASSWORD",
        "PROD_SCHEDULER_PASSWORD",
    ]);
    cmd.args(args)
        .args(["--url", url, "--api-key", KEY])
        .current_dir(cwd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    output(cmd).await
}

/// An environment of the example, the secrets its apply needs, and whether data_scientists
/// administer CHURN there.
type Case = (&'static str, &'static [(&'static str, &'static str)], bool);

#[tokio::test]
async fn each_environment_plans_and_applies_as_its_own_stack() {
    let cases: [Case; 2] = [
        ("dev", &[("DEV_WAREHOUSE_PASSWORD", "dev-pw")], true),
        (
            "prod",
            &[
                ("PROD_WAREHOUSE_PASSWORD", "prod-pw"),
                ("PROD_SCHEDULER_PASSWORD", "sched-pw"),
            ],
            false,
        ),
    ];
    for (env, secrets, admin) in cases {
        let emu = start_emulator(KEY, EmulatorConfig::default()).await;
        let cwd = tempfile::tempdir().unwrap();
        let dir = example(env);
        let dir = dir.to_str().unwrap();

        // The stack is the Environment's; --stack overrides it.
        let out = run(&["plan", dir, "--format", "json"], &emu.url, cwd.path(), &[]).await;
        assert_eq!(out.status.code(), Some(0), "{env}: {}", show(&out));
        let plan: Plan = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(plan.stack, format!("analytics-{env}"));
        assert!(plan.has_changes());
        let out = run(
            &["plan", dir, "--format", "json", "--stack", "other"],
            &emu.url,
            cwd.path(),
            &[],
        )
        .await;
        let plan: Plan = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(plan.stack, "other");

        let out = run(&["apply", dir, "--auto-approve"], &emu.url, cwd.path(), secrets).await;
        assert_eq!(out.status.code(), Some(0), "{env}: {}", show(&out));
        let out = run(
            &["plan", dir, "--detailed-exitcode"],
            &emu.url,
            cwd.path(),
            secrets,
        )
        .await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{env}: a second plan has changes: {}",
            show(&out)
        );

        // What differs between the environments reached the instance.
        let dss = client(&emu, KEY);
        let connection = dss.get_connection(&format!("dwh_{env}")).await.unwrap();
        let connection = serde_json::to_value(&connection).unwrap();
        assert_eq!(
            connection["params"]["db"],
            if env == "dev" {
                "analytics_dev"
            } else {
                "analytics"
            }
        );
        let variables = serde_json::to_value(dss.get_project_variables("CHURN").await.unwrap()).unwrap();
        assert_eq!(variables["standard"]["env"], env);
        assert_eq!(
            variables["standard"]["lookback_days"],
            if env == "dev" { 30 } else { 180 }
        );
        // DSS's own variables are left for DSS.
        assert_eq!(variables["standard"]["scores_table"], "${projectKey}_scores");
        // The prod patch adds a variable dev does not have.
        let alerting = &variables["standard"]["alerting"];
        assert_eq!(alerting.as_str(), (env == "prod").then_some("on"), "{variables}");
        let permissions = serde_json::to_value(dss.get_project_permissions("CHURN").await.unwrap()).unwrap();
        let scientists = permissions["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["group"] == "data_scientists")
            .unwrap();
        // ADMIN in dev, ANALYST_READWRITE (writes, no administration) in prod.
        assert_eq!(scientists["admin"], admin, "{env}: {scientists}");
        assert_eq!(scientists["writeProjectContent"], true, "{env}: {scientists}");
        let globals = serde_json::to_string(&dss.get_global_variables().await.unwrap()).unwrap();
        assert!(
            globals.contains(&format!("analytics-{env}")),
            "{env}: the ledger of its stack"
        );
    }
}

#[test]
fn render_prints_the_prod_manifests_after_values_and_patches() {
    let (code, stdout, stderr) = dssctl(&["render", "examples/multi-env/envs/prod"]);
    assert_eq!(code, 0, "{stderr}");
    // The secret stays a reference.
    assert!(stdout.contains("fromEnv: PROD_WAREHOUSE_PASSWORD"), "{stdout}");
    assert!(!stdout.contains("${{"), "{stdout}");
    insta::assert_snapshot!(stdout);

    // What render prints is a manifest set of its own, with the same resources.
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("all.yaml");
    std::fs::write(&all, &stdout).unwrap();
    let (code, out, err) = dssctl(&["validate", all.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Valid: 11 resources in 1 file."), "{out}");
}

#[test]
fn render_json_reads_back_as_the_yaml_does() {
    let (code, json, stderr) = dssctl(&["render", "examples/multi-env/envs/dev", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let docs: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    let names: Vec<String> = docs
        .iter()
        .map(|d| {
            format!(
                "{}/{}",
                d["kind"].as_str().unwrap(),
                d["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            "Connection/dwh_dev",
            "Connection/filesystem_managed",
            "Group/data_engineers",
            "Group/data_scientists",
            "Group/analysts",
            "Project/CHURN",
            "Dataset/customers",
            "Dataset/churn_scores",
            "Project/SANDBOX",
            "Variables/global",
        ]
    );
    assert_eq!(
        docs[0]["spec"]["allowWrite"], true,
        "a whole placeholder keeps its type"
    );
}

#[test]
fn an_environment_built_on_another_overrides_its_values_and_adds_patches() {
    let (code, stdout, stderr) = dssctl(&["render", "tests/fixtures/environments/layered/prod-eu"]);
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!(stdout);
}

/// Every mistake of an Environment exits 1 with its findings at file:line.
#[test]
fn environment_mistakes_at_their_place() {
    for case in [
        "unknown-value",
        "unmatched-patch",
        "cycle/a",
        "two-environments",
        "missing-include",
        "not-included",
        "bad-patch-value",
        // The included manifests alone: their placeholders have no values.
        "base",
    ] {
        let path = format!("tests/fixtures/environments/{case}");
        let (code, stdout, stderr) = dssctl(&["validate", &path]);
        assert_eq!(code, 1, "{case}: {stdout}{stderr}");
        insta::assert_snapshot!(format!("environment_mistake_{}", case.replace('/', "_")), stdout);
        // plan reports the same findings before any network access.
        let (code, _, plan_stderr) =
            dssctl(&["plan", &path, "--url", "http://127.0.0.1:9", "--api-key", "k"]);
        assert_eq!(code, 1, "{case}: {plan_stderr}");
        let first = stdout.lines().next().unwrap();
        assert!(plan_stderr.contains(first), "{case}: {plan_stderr}");
    }
}

#[test]
fn the_environment_schema_is_written_with_the_others() {
    let out = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = dssctl(&["schema", "--out", out.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("environment.schema.json"), "{stdout}");
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schemas/environment.schema.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(schema["properties"]["kind"]["const"], "Environment");
}
