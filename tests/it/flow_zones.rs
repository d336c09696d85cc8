//! Flow zones, managed folders and `zone:` on datasets and folders, through the real binary
//! against the emulator: a flow from empty, then converged (0 writes); each field update (a
//! zone's color, a folder's params, a dataset moved between zones and back to `default`);
//! adoption of zones, a folder and a placement made with the client (no field change, ids
//! recorded in the ledger); the export round trip; prune with the protect guard; two live zones
//! with one name; a zone neither declared nor live; the built-in zone declared.

use std::path::Path;
use std::process::{Output, Stdio};

use dssctl::client::DssClient;
use dssctl::emulator::{EmulatorConfig, RunningEmulator};
use dssctl::kinds::flow_zone::{FlowZone, ZoneItem};
use dssctl::kinds::managed_folder::ManagedFolder;
use dssctl::plan::ledger::Ledger;
use dssctl::wire::{CreateProjectRequest, Dataset};
use serde_json::json;

use crate::support::{
    cli_args, client, dssctl_command, edit, output, reset_stats, show, start_emulator, stats,
};

const KEY: &str = "zones-test-admin-key";

const PROJECT: &str = "apiVersion: dssctl/v1
kind: Project
metadata:
  name: ZONES
spec:
  label: Zones
---
apiVersion: dssctl/v1
kind: Dataset
metadata:
  name: orders
  project: ZONES
spec:
  type: Filesystem
  params:
    connection: filesystem_managed
    path: /ZONES/orders
  formatType: csv
  zone: ingestion
---
apiVersion: dssctl/v1
kind: Dataset
metadata:
  name: orders_by_customer
  project: ZONES
spec:
  type: Filesystem
  params:
    connection: filesystem_managed
    path: /ZONES/orders_by_customer
  formatType: csv
  zone: reporting
";

const ZONES: &str = "apiVersion: dssctl/v1
kind: FlowZone
metadata:
  name: ingestion
  project: ZONES
spec:
  color: \"#4a90d9\"
---
apiVersion: dssctl/v1
kind: FlowZone
metadata:
  name: reporting
  project: ZONES
spec:
  color: \"#2ab1ac\"
";

const FOLDERS: &str = "apiVersion: dssctl/v1
kind: ManagedFolder
metadata:
  name: raw_files
  project: ZONES
spec:
  type: Filesystem
  params:
    connection: filesystem_folders
    path: \"${projectKey}/raw_files\"
  zone: ingestion
";

/// The flow manifests in `dir`: a project with two datasets, two zones, one folder.
fn write_flow(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("project.yaml"), PROJECT).unwrap();
    std::fs::write(dir.join("zones.yaml"), ZONES).unwrap();
    std::fs::write(dir.join("folders.yaml"), FOLDERS).unwrap();
}

async fn dssctl(args: Vec<String>, cwd: &Path) -> Output {
    let mut cmd = dssctl_command(&["RUST_LOG"]);
    cmd.args(&args).current_dir(cwd).stdin(Stdio::null());
    output(cmd).await
}

async fn apply(emu: &RunningEmulator, path: &Path, cwd: &Path) -> Output {
    dssctl(
        cli_args("apply", path, emu, KEY, &["--auto-approve", "--no-color"]),
        cwd,
    )
    .await
}

async fn plan(emu: &RunningEmulator, path: &Path, cwd: &Path) -> Output {
    dssctl(
        cli_args("plan", path, emu, KEY, &["--no-color", "--detailed-exitcode"]),
        cwd,
    )
    .await
}

/// stdout of a run, with the emulator's URL and the run's directory made stable.
fn stable(text: &[u8], emu: &RunningEmulator, dir: &Path) -> String {
    String::from_utf8_lossy(text)
        .replace(&emu.url, "URL")
        .replace(&dir.display().to_string(), "DIR")
}

/// stdout then stderr of a run (a plan's errors and the loader's warnings), made stable.
fn stable_all(out: &Output, emu: &RunningEmulator, dir: &Path) -> String {
    format!(
        "{}--- stderr\n{}",
        stable(&out.stdout, emu, dir),
        stable(&out.stderr, emu, dir)
    )
}

async fn ledger(c: &DssClient) -> Ledger {
    let vars = c.get_global_variables().await.unwrap();
    Ledger::from_global_variables(&vars, "default")
        .unwrap()
        .expect("a ledger")
}

fn zone<'z>(zones: &'z [FlowZone], name: &str) -> &'z FlowZone {
    zones
        .iter()
        .find(|z| z.name == name && z.id != "default")
        .unwrap_or_else(|| panic!("no zone {name} in {zones:?}"))
}

fn folder<'f>(folders: &'f [ManagedFolder], name: &str) -> &'f ManagedFolder {
    folders
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no folder {name} in {folders:?}"))
}

/// Apply the flow from empty and check it converged.
async fn applied_flow(emu: &RunningEmulator, dir: &Path) -> std::path::PathBuf {
    let stack = dir.join("stack");
    write_flow(&stack);
    let out = apply(emu, &stack, dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    stack
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_from_empty_then_converged_with_zero_writes() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("stack");
    write_flow(&stack);

    let out = plan(&emu, &stack, dir.path()).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    insta::assert_snapshot!(
        "flow_zones_plan_from_empty",
        stable(&out.stdout, &emu, dir.path())
    );

    reset_stats(&emu, KEY).await;
    let out = apply(&emu, &stack, dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Apply complete: 6 created"), "{stdout}");
    assert!(!stdout.contains("warning:"), "{stdout}");
    eprintln!("flow zones from empty: {} writes", stats(&emu, KEY).await.writes);

    let zones = c.list_flow_zones("ZONES").await.unwrap();
    let folders = c.list_managed_folders("ZONES").await.unwrap();
    let raw = folder(&folders, "raw_files");
    assert_eq!(raw.folder_type.as_deref(), Some("Filesystem"));
    assert_eq!(raw.params["path"], "${projectKey}/raw_files");
    let ingestion = zone(&zones, "ingestion");
    assert_eq!(ingestion.color.as_deref(), Some("#4a90d9"));
    assert!(ingestion.holds("DATASET", "orders"));
    assert!(ingestion.holds("MANAGED_FOLDER", &raw.id));
    let reporting = zone(&zones, "reporting");
    assert!(reporting.holds("DATASET", "orders_by_customer"));

    // The ledger maps each name to the id DSS generated.
    let l = ledger(&c).await;
    assert_eq!(
        l.resources["flow_zone:ZONES.ingestion"].dss_id.as_deref(),
        Some(ingestion.id.as_str())
    );
    assert_eq!(
        l.resources["managed_folder:ZONES.raw_files"].dss_id.as_deref(),
        Some(raw.id.as_str())
    );

    let out = plan(&emu, &stack, dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    reset_stats(&emu, KEY).await;
    let out = apply(&emu, &stack, dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("No changes."));
    let s = stats(&emu, KEY).await;
    assert_eq!(s.writes, 0, "a converged apply writes nothing: {:?}", s.by_route);
    // No second zone or folder of the same name.
    assert_eq!(c.list_flow_zones("ZONES").await.unwrap().len(), 3);
    assert_eq!(c.list_managed_folders("ZONES").await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_field_update_writes_only_that_field() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let dir = tempfile::tempdir().unwrap();
    let stack = applied_flow(&emu, dir.path()).await;

    // A zone's color.
    edit(&stack.join("zones.yaml"), "#2ab1ac", "#ff8800");
    let out = plan(&emu, &stack, dir.path()).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    insta::assert_snapshot!("flow_zones_plan_color", stable(&out.stdout, &emu, dir.path()));
    reset_stats(&emu, KEY).await;
    let out = apply(&emu, &stack, dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        zone(&c.list_flow_zones("ZONES").await.unwrap(), "reporting")
            .color
            .as_deref(),
        Some("#ff8800")
    );

    // A folder's params.
    edit(
        &stack.join("folders.yaml"),
        "${projectKey}/raw_files",
        "${projectKey}/landing",
    );
    let out = apply(&emu, &stack, dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 updated"));
    let folders = c.list_managed_folders("ZONES").await.unwrap();
    assert_eq!(
        folder(&folders, "raw_files").params["path"],
        "${projectKey}/landing"
    );
    assert_eq!(folders.len(), 1, "updated in place");

    // A dataset moved between zones: one write, the zone's items endpoint.
    edit(&stack.join("project.yaml"), "zone: ingestion", "zone: reporting");
    let out = plan(&emu, &stack, dir.path()).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    insta::assert_snapshot!(
        "flow_zones_plan_move_dataset",
        stable(&out.stdout, &emu, dir.path())
    );
    reset_stats(&emu, KEY).await;
    let out = apply(&emu, &stack, dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let s = stats(&emu, KEY).await;
    let moves: u64 = s
        .by_route
        .iter()
        .filter(|(route, _)| route.contains("/flow/zones/{zoneId}/items"))
        .map(|(_, n)| *n)
        .sum();
    assert_eq!(moves, 1, "{:?}", s.by_route);
    let zones = c.list_flow_zones("ZONES").await.unwrap();
    assert!(zone(&zones, "reporting").holds("DATASET", "orders"));
    assert!(!zone(&zones, "ingestion").holds("DATASET", "orders"));

    // Back to the built-in zone.
    edit(&stack.join("project.yaml"), "zone: reporting", "zone: default");
    let out = apply(&emu, &stack, dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let zones = c.list_flow_zones("ZONES").await.unwrap();
    assert!(
        zones
            .iter()
            .find(|z| z.id == "default")
            .unwrap()
            .holds("DATASET", "orders")
    );
    assert!(!zone(&zones, "reporting").holds("DATASET", "orders"));

    // An object without `zone:` is not moved.
    edit(&stack.join("project.yaml"), "  zone: reporting\n", "");
    let out = plan(&emu, &stack, dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zones_and_folders_made_with_the_client_are_adopted_without_change() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let dir = tempfile::tempdir().unwrap();
    c.create_project(&CreateProjectRequest {
        project_key: "ZONES".into(),
        name: Some("Zones".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let ingestion = c
        .create_flow_zone("ZONES", "ingestion", Some("#4a90d9"))
        .await
        .unwrap();
    let reporting = c
        .create_flow_zone("ZONES", "reporting", Some("#2ab1ac"))
        .await
        .unwrap();
    let raw = c
        .create_managed_folder(
            "ZONES",
            &serde_json::from_value(json!({"name": "raw_files", "type": "Filesystem",
                "params": {"connection": "filesystem_folders", "path": "${projectKey}/raw_files"}}))
            .unwrap(),
        )
        .await
        .unwrap();
    for (name, zone) in [("orders", &ingestion), ("orders_by_customer", &reporting)] {
        let ds: Dataset = serde_json::from_value(json!({"projectKey": "ZONES", "name": name,
            "type": "Filesystem", "formatType": "csv",
            "params": {"connection": "filesystem_managed", "path": format!("/ZONES/{name}")}}))
        .unwrap();
        c.create_dataset("ZONES", &ds).await.unwrap();
        let item = ZoneItem {
            object_type: "DATASET".into(),
            object_id: name.into(),
        };
        c.add_flow_zone_item("ZONES", &zone.id, &item).await.unwrap();
    }
    let item = ZoneItem {
        object_type: "MANAGED_FOLDER".into(),
        object_id: raw.id.clone(),
    };
    c.add_flow_zone_item("ZONES", &ingestion.id, &item).await.unwrap();

    let stack = dir.path().join("stack");
    write_flow(&stack);
    let out = plan(&emu, &stack, dir.path()).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    insta::assert_snapshot!("flow_zones_plan_adoption", stable(&out.stdout, &emu, dir.path()));

    let out = apply(&emu, &stack, dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("6 adopted"));
    let l = ledger(&c).await;
    assert_eq!(
        l.resources["flow_zone:ZONES.reporting"].dss_id.as_deref(),
        Some(reporting.id.as_str())
    );
    assert_eq!(
        l.resources["managed_folder:ZONES.raw_files"].dss_id.as_deref(),
        Some(raw.id.as_str())
    );
    let out = plan(&emu, &stack, dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_zones_and_folders_are_deleted_unless_protected() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let dir = tempfile::tempdir().unwrap();
    let stack = applied_flow(&emu, dir.path()).await;
    edit(
        &stack.join("zones.yaml"),
        "  color: \"#2ab1ac\"",
        "  color: \"#2ab1ac\"\n  protect: true",
    );
    let out = apply(&emu, &stack, dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    // Nothing placed in them any more, then the zones and the folder removed: the protected
    // zone stops the apply before any write.
    edit(&stack.join("project.yaml"), "  zone: ingestion\n", "");
    edit(&stack.join("project.yaml"), "  zone: reporting\n", "");
    std::fs::remove_file(stack.join("zones.yaml")).unwrap();
    std::fs::remove_file(stack.join("folders.yaml")).unwrap();
    reset_stats(&emu, KEY).await;
    let out = apply(&emu, &stack, dir.path()).await;
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("flow_zone ZONES.reporting"));
    assert_eq!(stats(&emu, KEY).await.writes, 0, "a refusal writes nothing");

    // Unprotected, then removed: the zones and the folder are deleted, the datasets go back
    // to the built-in zone.
    write_flow(&stack);
    edit(&stack.join("project.yaml"), "  zone: ingestion\n", "");
    edit(&stack.join("project.yaml"), "  zone: reporting\n", "");
    edit(&stack.join("folders.yaml"), "  zone: ingestion\n", "");
    let out = apply(&emu, &stack, dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    std::fs::remove_file(stack.join("zones.yaml")).unwrap();
    std::fs::remove_file(stack.join("folders.yaml")).unwrap();
    let out = plan(&emu, &stack, dir.path()).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    insta::assert_snapshot!("flow_zones_plan_prune", stable(&out.stdout, &emu, dir.path()));
    let out = apply(&emu, &stack, dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 deleted"));
    let zones = c.list_flow_zones("ZONES").await.unwrap();
    assert_eq!(zones.len(), 1, "only the built-in zone is left: {zones:?}");
    assert!(c.list_managed_folders("ZONES").await.unwrap().is_empty());
    let l = ledger(&c).await;
    assert!(
        !l.resources
            .keys()
            .any(|k| k.starts_with("flow_zone:") || k.starts_with("managed_folder:"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_live_zones_or_folders_with_one_name_are_an_error_naming_both_ids() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let dir = tempfile::tempdir().unwrap();
    let stack = applied_flow(&emu, dir.path()).await;
    let twin = c.create_flow_zone("ZONES", "reporting", None).await.unwrap();
    let first = c
        .list_flow_zones("ZONES")
        .await
        .unwrap()
        .into_iter()
        .find(|z| z.name == "reporting" && z.id != twin.id)
        .unwrap()
        .id;
    let folder_twin = c
        .create_managed_folder(
            "ZONES",
            &serde_json::from_value(json!({"name": "raw_files", "type": "Filesystem",
                "params": {"connection": "filesystem_folders"}}))
            .unwrap(),
        )
        .await
        .unwrap();
    let folder_first = c
        .list_managed_folders("ZONES")
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.id != folder_twin.id)
        .unwrap()
        .id;

    reset_stats(&emu, KEY).await;
    let out = plan(&emu, &stack, dir.path()).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for id in [&first, &twin.id, &folder_first, &folder_twin.id] {
        assert!(text.contains(id.as_str()), "{id} not named: {text}");
    }
    let stable_ids = stable_all(&out, &emu, dir.path())
        .replace(&first, "ZONE_ID")
        .replace(&twin.id, "ZONE_ID")
        .replace(&folder_first, "FOLDER_ID")
        .replace(&folder_twin.id, "FOLDER_ID");
    insta::assert_snapshot!("flow_zones_duplicate_names", stable_ids);
    assert_eq!(stats(&emu, KEY).await.writes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_neither_declared_nor_live_is_an_error_at_its_line() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("stack");
    write_flow(&stack);
    std::fs::remove_file(stack.join("zones.yaml")).unwrap();
    let out = plan(&emu, &stack, dir.path()).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    insta::assert_snapshot!("flow_zones_undeclared_zone", stable_all(&out, &emu, dir.path()));

    // The built-in zone is never declared.
    std::fs::write(
        stack.join("zones.yaml"),
        "apiVersion: dssctl/v1\nkind: FlowZone\nmetadata:\n  name: default\n  project: ZONES\nspec:\n  color: \"#000000\"\n",
    )
    .unwrap();
    edit(&stack.join("project.yaml"), "zone: ingestion", "zone: default");
    edit(&stack.join("project.yaml"), "zone: reporting", "zone: default");
    edit(&stack.join("folders.yaml"), "zone: ingestion", "zone: default");
    let out = plan(&emu, &stack, dir.path()).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    insta::assert_snapshot!("flow_zones_default_declared", stable_all(&out, &emu, dir.path()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_zones_and_folders_are_reported_at_their_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yaml"),
        "apiVersion: dssctl/v1
kind: FlowZone
metadata:
  name: reporting
  project: SALES
spec:
  color: teal
  colour: \"#ffffff\"
---
apiVersion: dssctl/v1
kind: ManagedFolder
metadata:
  name: \" raw\"
  project: SALES
spec:
  params:
    connection: filesystem_folders
  zone: 42
",
    )
    .unwrap();
    let out = dssctl(vec!["validate".into(), "bad.yaml".into()], dir.path()).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    insta::assert_snapshot!("flow_zones_invalid_manifests", text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_moves_a_dataset_unless_someone_moved_it_in_between() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let dir = tempfile::tempdir().unwrap();
    let stack = applied_flow(&emu, dir.path()).await;
    edit(&stack.join("project.yaml"), "zone: ingestion", "zone: reporting");
    let plan_file = dir.path().join("plan.json");
    let out = dssctl(
        cli_args("plan", &stack, &emu, KEY, &["--out", plan_file.to_str().unwrap()]),
        dir.path(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&plan_file).unwrap()).unwrap();
    assert_eq!(saved["operations"][0]["subdocuments"], json!(["zone"]));
    let apply_saved = vec![
        "apply".to_string(),
        "--plan".into(),
        plan_file.display().to_string(),
        "--url".into(),
        emu.url.clone(),
        "--api-key".into(),
        KEY.into(),
        "--auto-approve".into(),
    ];

    // Moved by someone else in between: the plan is stale, nothing is written.
    let zones = c.list_flow_zones("ZONES").await.unwrap();
    let item = ZoneItem {
        object_type: "DATASET".into(),
        object_id: "orders".into(),
    };
    c.add_flow_zone_item("ZONES", "default", &item).await.unwrap();
    reset_stats(&emu, KEY).await;
    let out = dssctl(apply_saved.clone(), dir.path()).await;
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    assert_eq!(stats(&emu, KEY).await.writes, 0);

    // Put back where the plan saw it: the saved plan applies.
    c.add_flow_zone_item("ZONES", &zone(&zones, "ingestion").id, &item)
        .await
        .unwrap();
    let out = dssctl(apply_saved, dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let zones = c.list_flow_zones("ZONES").await.unwrap();
    assert!(zone(&zones, "reporting").holds("DATASET", "orders"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_of_zones_and_folders_plans_as_adoptions_without_change() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    applied_flow(&emu, dir.path()).await;

    let args = [
        "export",
        "--project",
        "ZONES",
        "--include",
        "projects,datasets,zones,folders",
        "--out",
        "exported",
        "--url",
        &emu.url,
        "--api-key",
        KEY,
    ];
    let out = dssctl(args.iter().map(|s| s.to_string()).collect(), dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = std::fs::read_to_string(dir.path().join("exported/projects/ZONES.yaml")).unwrap();
    for expected in [
        "kind: FlowZone",
        "name: ingestion",
        "color: \"#4a90d9\"",
        "kind: ManagedFolder",
        "path: ${projectKey}/raw_files",
        "zone: ingestion",
        "zone: reporting",
    ] {
        assert!(text.contains(expected), "{expected} missing:\n{text}");
    }
    assert!(
        !text.contains("name: default"),
        "the built-in zone is never exported:\n{text}"
    );

    // A fresh stack adopts every object with no field change, then writes only its ledger.
    let out = dssctl(
        cli_args(
            "plan",
            Path::new("exported"),
            &emu,
            KEY,
            &["--stack", "adopter", "--format", "json"],
        ),
        dir.path(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["summary"]["adopt"], 6, "{plan:#}");
    for op in plan["operations"].as_array().unwrap() {
        assert_eq!(op["action"], "adopt", "{op:#}");
        assert!(
            op["changes"].as_array().unwrap().is_empty(),
            "a field change on adoption: {op:#}"
        );
    }
}
