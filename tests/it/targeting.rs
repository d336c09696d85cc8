//! `--target` and `--exclude` through the real binary against the emulator: a target brings
//! what it depends on; a partial plan never deletes outside its scope and its guards count
//! only what is in scope; a saved plan records its scope and `apply --plan` honours it; an
//! unknown name is an error with the closest one; the outputs say the plan is partial.

use std::path::Path;
use std::process::Output;

use dssctl::emulator::{EmulatorConfig, RunningEmulator};
use dssctl::plan::{Action, Plan};

use crate::support::{
    cli_args, client, copy_quickstart, dssctl_command, output, reset_stats, show, start_emulator, stats,
};

const KEY: &str = "targeting-test-admin-key";
/// What a whole plan still deletes once `Dataset/SALES.orders` alone was deleted.
const REST: [&str; 3] = [
    "delete dataset SALES.warehouse_customers",
    "delete dataset SALES.weekly_revenue",
    "delete project SALES",
];

async fn run(args: Vec<String>) -> Output {
    let mut cmd = dssctl_command(&[]);
    cmd.args(&args);
    output(cmd).await
}

async fn json_plan(emu: &RunningEmulator, path: &Path, extra: &[&str]) -> (Plan, Output) {
    let mut a = vec!["--format", "json"];
    a.extend(extra);
    let out = run(cli_args("plan", path, emu, KEY, &a)).await;
    let plan = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&out)));
    (plan, out)
}

fn names(plan: &Plan) -> Vec<String> {
    plan.operations
        .iter()
        .map(|o| format!("{} {} {}", o.action.as_str(), o.kind, o.name))
        .collect()
}

/// The quickstart applied, then `projects/sales.yaml` removed from the manifests: a whole
/// plan deletes the SALES project and its dataset.
async fn applied_then_sales_removed(emu: &RunningEmulator, dir: &Path) -> std::path::PathBuf {
    let manifests = copy_quickstart(dir);
    let out = run(cli_args("apply", &manifests, emu, KEY, &["--auto-approve"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    std::fs::remove_file(manifests.join("projects/sales.yaml")).unwrap();
    let (whole, _) = json_plan(emu, &manifests, &[]).await;
    let deletes: Vec<_> = whole
        .operations
        .iter()
        .filter(|o| o.action == Action::Delete)
        .collect();
    assert_eq!(deletes.len(), 4, "{:?}", names(&whole));
    manifests
}

#[tokio::test]
async fn a_target_brings_its_dependencies_and_nothing_else() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let manifests = copy_quickstart(dir.path());
    let (plan, out) = json_plan(&emu, &manifests, &["--target", "dataset/CHURN.customers"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let ops = names(&plan);
    assert!(
        ops.contains(&"create dataset CHURN.customers".to_string()),
        "{ops:?}"
    );
    assert!(ops.contains(&"create project CHURN".to_string()), "{ops:?}");
    assert!(
        ops.iter()
            .all(|o| !o.contains("SALES") && !o.contains("churn_scores")),
        "{ops:?}"
    );
    let scope = plan.scope.expect("a partial plan records its scope");
    assert_eq!(scope.targets, vec!["Dataset/CHURN.customers"]);

    let text = run(cli_args(
        "plan",
        &manifests,
        &emu,
        KEY,
        &["--target", "Dataset/CHURN.customers"],
    ))
    .await;
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.starts_with("Partial plan: --target Dataset/CHURN.customers"),
        "{stdout}"
    );
    insta::assert_snapshot!("partial_plan_of_one_dataset", stdout);
    let md = run(cli_args(
        "plan",
        &manifests,
        &emu,
        KEY,
        &["--target", "Project/SALES", "--format", "markdown"],
    ))
    .await;
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(md.contains("**Partial plan:** `--target Project/SALES`"), "{md}");

    // An exclude takes what depends on it along.
    let (plan, out) = json_plan(&emu, &manifests, &["--exclude", "Project/CHURN"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        names(&plan).iter().all(|o| !o.contains("CHURN")),
        "{:?}",
        names(&plan)
    );
    assert!(names(&plan).contains(&"create dataset SALES.orders".to_string()));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("also excluded"),
        "{}",
        show(&out)
    );

    // An unknown name: the closest one.
    let out = run(cli_args(
        "plan",
        &manifests,
        &emu,
        KEY,
        &["--target", "Dataset/CHURN.customer"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("did you mean Dataset/CHURN.customers?"),
        "{stderr}"
    );
    let out = run(cli_args("plan", &manifests, &emu, KEY, &["--target", "CHURN"])).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
}

#[tokio::test]
async fn a_partial_plan_never_deletes_outside_its_scope() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let manifests = applied_then_sales_removed(&emu, dir.path()).await;

    // Out of scope: the deletions of SALES are not planned, even with --max-deletes 0.
    let (plan, out) = json_plan(
        &emu,
        &manifests,
        &["--target", "Project/CHURN", "--detailed-exitcode"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(plan.operations.is_empty(), "{:?}", names(&plan));
    reset_stats(&emu, KEY).await;
    let out = run(cli_args(
        "apply",
        &manifests,
        &emu,
        KEY,
        &[
            "--target",
            "Project/CHURN",
            "--auto-approve",
            "--max-deletes",
            "0",
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(stats(&emu, KEY).await.writes, 0);
    let exclude = [
        "--exclude",
        "Project/SALES",
        "--auto-approve",
        "--max-deletes",
        "0",
    ];
    let out = run(cli_args("apply", &manifests, &emu, KEY, &exclude)).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(stats(&emu, KEY).await.writes, 0);
    let projects: Vec<String> = client(&emu, KEY)
        .list_projects()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.project_key)
        .collect();
    assert!(projects.iter().any(|p| p == "SALES"), "{projects:?}");

    // In scope: the guard counts the deletion (and refuses past --max-deletes).
    let only = [
        "--target",
        "Dataset/SALES.orders",
        "--auto-approve",
        "--max-deletes",
        "0",
    ];
    let out = run(cli_args("apply", &manifests, &emu, KEY, &only)).await;
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let out = run(cli_args("apply", &manifests, &emu, KEY, &only[..3])).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let (plan, _) = json_plan(&emu, &manifests, &[]).await;
    assert_eq!(names(&plan), REST, "only the target was deleted");
}

#[tokio::test]
async fn a_saved_partial_plan_keeps_its_scope() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let manifests = applied_then_sales_removed(&emu, dir.path()).await;
    let saved = dir.path().join("plan.json");
    let out = run(cli_args(
        "plan",
        &manifests,
        &emu,
        KEY,
        &[
            "--target",
            "Dataset/SALES.orders",
            "--out",
            saved.to_str().unwrap(),
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(
        doc["scope"]["targets"],
        serde_json::json!(["Dataset/SALES.orders"])
    );

    let mut apply = vec!["apply".to_string(), "--plan".into(), saved.display().to_string()];
    apply.extend([
        "--url".into(),
        emu.url.clone(),
        "--api-key".into(),
        KEY.into(),
        "--auto-approve".into(),
    ]);
    let mut with_target = apply.clone();
    with_target.extend(["--target".into(), "Project/SALES".into()]);
    let out = run(with_target).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("saved plan"),
        "{}",
        show(&out)
    );

    let out = run(apply).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Partial plan"),
        "{}",
        show(&out)
    );
    let (plan, _) = json_plan(&emu, &manifests, &[]).await;
    assert_eq!(names(&plan), REST);
}
