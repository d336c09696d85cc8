//! Recipes that read from or write into managed folders declared in the same manifests, through
//! the real binary against the emulator. DSS names a folder by the id it generates on creation,
//! which no plan made before the creation can know: the plan names the folder
//! (`folder:NAME`) and apply puts in the id after the folder's creation. From empty in one run
//! (with the folders' zone, the recipes placed in it and a scenario that builds through them),
//! converged with 0 writes, the same through a saved plan, a folder neither declared nor live,
//! a recipe moved to a new folder; and the whole flow removed, deleted in reverse flow order.

use std::path::Path;
use std::process::Output;

use dssctl::client::DssClient;
use dssctl::emulator::{EmulatorConfig, RunningEmulator};
use dssctl::kinds::managed_folder::ManagedFolder;
use serde_json::Value;

use crate::support::{
    cli_args, client, dssctl_command, edit, output, reset_stats, show, start_emulator, stats,
};

const KEY: &str = "flow-folders-admin-key";

/// A project with two folders (one in a new zone), a dataset, a Python recipe that reads the
/// first folder into the dataset and a shell recipe that writes the dataset into the second
/// folder, both in the new zone, and a scenario that builds the dataset.
const FLOW: &str = r##"apiVersion: dssctl/v1
kind: Project
metadata: {name: FOLIO}
spec: {label: Folders}
---
apiVersion: dssctl/v1
kind: FlowZone
metadata: {name: landing, project: FOLIO}
spec: {color: "#4a90d9"}
---
apiVersion: dssctl/v1
kind: ManagedFolder
metadata: {name: raw files, project: FOLIO}
spec:
  type: Filesystem
  params: {connection: filesystem_folders, path: "${projectKey}/raw"}
  zone: landing
---
apiVersion: dssctl/v1
kind: ManagedFolder
metadata: {name: archive, project: FOLIO}
spec:
  type: Filesystem
  params: {connection: filesystem_folders, path: "${projectKey}/archive"}
---
apiVersion: dssctl/v1
kind: Dataset
metadata: {name: events, project: FOLIO}
spec:
  type: Filesystem
  params: {connection: filesystem_managed, path: /FOLIO/events}
  formatType: csv
---
apiVersion: dssctl/v1
kind: Recipe
metadata: {name: ingest, project: FOLIO}
spec:
  type: python
  inputs: [{folder: raw files}]
  outputs: [events]
  code: "import dataiku\n"
  zone: landing
---
apiVersion: dssctl/v1
kind: Recipe
metadata: {name: archive_events, project: FOLIO}
spec:
  type: shell
  inputs: [events]
  outputs: [{folder: archive}]
  code: "cp events.csv \"$DKU_OUTPUT_0_FOLDER_PATH\"\n"
  zone: landing
---
apiVersion: dssctl/v1
kind: Scenario
metadata: {name: ARCHIVE, project: FOLIO}
spec:
  label: Archive the events
  type: step_based
  steps:
    - name: archive
      type: build_flowitem
      params: {builds: [{type: DATASET, itemId: events}], jobType: RECURSIVE_BUILD}
"##;

async fn dssctl(emu: &RunningEmulator, cmd: &str, path: &Path, cwd: &Path, extra: &[&str]) -> Output {
    let mut c = dssctl_command(&["RUST_LOG"]);
    c.args(cli_args(cmd, path, emu, KEY, extra)).current_dir(cwd);
    output(c).await
}

async fn start() -> (RunningEmulator, DssClient) {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    (emu, c)
}

fn write_flow(dir: &Path) -> std::path::PathBuf {
    let stack = dir.join("stack");
    std::fs::create_dir_all(&stack).unwrap();
    std::fs::write(stack.join("flow.yaml"), FLOW).unwrap();
    stack
}

fn folder_id(folders: &[ManagedFolder], name: &str) -> String {
    folders
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no folder {name} in {folders:?}"))
        .id
        .clone()
}

/// The refs of a recipe's main input and output, as DSS holds them.
async fn refs(c: &DssClient, recipe: &str) -> (Vec<String>, Vec<String>) {
    let doc = c.get_recipe("FOLIO", recipe).await.unwrap();
    let of = |field: &str| -> Vec<String> {
        doc["recipe"][field]["main"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["ref"].as_str().unwrap().to_string())
            .collect()
    };
    (of("inputs"), of("outputs"))
}

/// What DSS holds after the flow was applied: the recipes refer to the folders by their ids,
/// the recipes are in the zone, and the next plan has nothing to do.
async fn check_applied(emu: &RunningEmulator, c: &DssClient, stack: &Path, dir: &Path) {
    let folders = c.list_managed_folders("FOLIO").await.unwrap();
    let raw = folder_id(&folders, "raw files");
    let archive = folder_id(&folders, "archive");
    assert_eq!(refs(c, "ingest").await, (vec![raw], vec!["events".to_string()]));
    assert_eq!(
        refs(c, "archive_events").await,
        (vec!["events".to_string()], vec![archive])
    );
    let zones = c.list_flow_zones("FOLIO").await.unwrap();
    let landing = zones.iter().find(|z| z.name == "landing").expect("zone created");
    let items: Vec<(&str, &str)> = landing
        .items
        .iter()
        .map(|i| (i.object_type.as_str(), i.object_id.as_str()))
        .collect();
    for recipe in ["ingest", "archive_events"] {
        assert!(items.contains(&("RECIPE", recipe)), "{items:?}");
    }
    assert!(
        items.contains(&("MANAGED_FOLDER", folder_id(&folders, "raw files").as_str())),
        "{items:?}"
    );

    let out = dssctl(emu, "plan", stack, dir, &["--detailed-exitcode", "--no-color"]).await;
    assert_eq!(out.status.code(), Some(0), "converged: {}", show(&out));
    reset_stats(emu, KEY).await;
    let out = dssctl(emu, "apply", stack, dir, &["--auto-approve"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let s = stats(emu, KEY).await;
    assert_eq!(s.writes, 0, "a converged apply writes nothing: {:?}", s.by_route);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipes_using_folders_created_in_the_same_run_apply_from_empty_and_converge() {
    let (emu, c) = start().await;
    let dir = tempfile::tempdir().unwrap();
    let stack = write_flow(dir.path());

    // The plan names the folders: no id exists yet.
    let out = dssctl(&emu, "plan", &stack, dir.path(), &["--no-color"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("inputs: [\"folder:raw files\"]"), "{stdout}");
    assert!(stdout.contains("outputs: [\"folder:archive\"]"), "{stdout}");

    let out = dssctl(
        &emu,
        "apply",
        &stack,
        dir.path(),
        &["--auto-approve", "--no-color"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Apply complete: 8 created, 0 updated"),
        "{stdout}"
    );
    assert!(!stdout.contains("warning"), "{stdout}");
    check_applied(&emu, &c, &stack, dir.path()).await;

    // The scenario, created in the same run, builds the dataset through the Python recipe,
    // which the emulator never runs: the run fails and its log says why.
    let mut cmd = dssctl_command(&["RUST_LOG"]);
    cmd.args([
        "build",
        "FOLIO",
        "--scenario",
        "ARCHIVE",
        "--poll",
        "50ms",
        "--url",
        &emu.url,
        "--api-key",
        KEY,
    ]);
    let out = output(cmd).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Recipe ingest was not run: the emulator does not execute python recipes"),
        "{stderr}"
    );

    // A recipe moved to a new folder, declared with it: the folder is created, then the
    // recipe written once, the folders shown by name.
    edit(
        &stack.join("flow.yaml"),
        "  outputs: [{folder: archive}]\n",
        "  outputs: [{folder: backup}]\n",
    );
    let mut text = std::fs::read_to_string(stack.join("flow.yaml")).unwrap();
    text.push_str(
        "---\napiVersion: dssctl/v1\nkind: ManagedFolder\nmetadata: {name: backup, project: FOLIO}\nspec: {type: Filesystem}\n",
    );
    std::fs::write(stack.join("flow.yaml"), text).unwrap();
    let out = dssctl(&emu, "plan", &stack, dir.path(), &["--no-color"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("outputs: [\"folder:archive\"] -> [\"folder:backup\"]"),
        "{}",
        show(&out)
    );
    assert!(stdout.contains("1 to add, 1 to change"), "{stdout}");
    reset_stats(&emu, KEY).await;
    let out = dssctl(&emu, "apply", &stack, dir.path(), &["--auto-approve"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let recipe_puts = stats(&emu, KEY)
        .await
        .by_route
        .iter()
        .filter(|(r, _)| r.starts_with("PUT /projects/{projectKey}/recipes/"))
        .map(|(_, n)| *n)
        .sum::<u64>();
    assert_eq!(recipe_puts, 1, "{}", show(&out));
    let folders = c.list_managed_folders("FOLIO").await.unwrap();
    assert_eq!(
        refs(&c, "archive_events").await.1,
        vec![folder_id(&folders, "backup")]
    );
    let out = dssctl(&emu, "plan", &stack, dir.path(), &["--detailed-exitcode"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_creates_the_folders_then_the_recipes_that_use_them() {
    let (emu, c) = start().await;
    let dir = tempfile::tempdir().unwrap();
    let stack = write_flow(dir.path());
    let out = dssctl(&emu, "plan", &stack, dir.path(), &["--out", "flow.plan"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("flow.plan")).unwrap()).unwrap();
    let text = saved.to_string();
    assert!(
        text.contains("\"ref\":\"folder:raw files\""),
        "the plan names the folder: {text}"
    );

    let mut cmd = dssctl_command(&["RUST_LOG"]);
    cmd.args([
        "apply",
        "--plan",
        "flow.plan",
        "--auto-approve",
        "--url",
        &emu.url,
        "--api-key",
        KEY,
    ])
    .current_dir(dir.path());
    let out = output(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("8 created"),
        "{}",
        show(&out)
    );
    check_applied(&emu, &c, &stack, dir.path()).await;

    // An update of a recipe that reads a folder, through a saved plan: the staleness check
    // reads the recipe as the plan did (its folder by name), and the write keeps the folder.
    edit(
        &stack.join("flow.yaml"),
        "  code: \"import dataiku\\n\"\n",
        "  code: \"import dataiku, os\\n\"\n",
    );
    let out = dssctl(&emu, "plan", &stack, dir.path(), &["--out", "update.plan"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let mut cmd = dssctl_command(&["RUST_LOG"]);
    cmd.args([
        "apply",
        "--plan",
        "update.plan",
        "--auto-approve",
        "--url",
        &emu.url,
        "--api-key",
        KEY,
    ])
    .current_dir(dir.path());
    let out = output(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 updated"),
        "{}",
        show(&out)
    );
    let doc = c.get_recipe("FOLIO", "ingest").await.unwrap();
    assert_eq!(doc["payload"], "import dataiku, os\n");
    let folders = c.list_managed_folders("FOLIO").await.unwrap();
    assert_eq!(refs(&c, "ingest").await.0, vec![folder_id(&folders, "raw files")]);
    let out = dssctl(&emu, "plan", &stack, dir.path(), &["--detailed-exitcode"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_neither_declared_nor_live_is_an_error_at_its_line() {
    let (emu, _c) = start().await;
    let dir = tempfile::tempdir().unwrap();
    let stack = write_flow(dir.path());
    edit(
        &stack.join("flow.yaml"),
        "  inputs: [{folder: raw files}]\n",
        "  inputs: [{folder: raw_files}]\n",
    );
    let out = dssctl(&emu, "plan", &stack, dir.path(), &["--no-color"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(
            "inputs names managed folder FOLIO.raw_files, which is neither declared in the manifests nor present on the instance"
        ),
        "{text}"
    );
    assert!(text.contains("flow.yaml:39"), "the line of the folder: {text}");
    assert!(
        text.contains("managed_folder FOLIO.raw_files is not declared in these manifests"),
        "the loader's warning: {text}"
    );
    emu.shutdown().await;
}

/// The flow removed from the manifests (the project kept): every object is deleted, in
/// reverse flow order. The executor's dependencies say it (each deletion waits for the
/// deletions of what comes after it in the flow); the apply deletes everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_flow_is_deleted_in_reverse_flow_order() {
    let (emu, c) = start().await;
    let dir = tempfile::tempdir().unwrap();
    let stack = write_flow(dir.path());
    let out = dssctl(&emu, "apply", &stack, dir.path(), &["--auto-approve"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let project_only = FLOW.split("---\n").next().unwrap();
    std::fs::write(stack.join("flow.yaml"), project_only).unwrap();

    let out = dssctl(&emu, "plan", &stack, dir.path(), &["--out", "prune.plan"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = std::fs::read_to_string(dir.path().join("prune.plan")).unwrap();
    let plan: dssctl::plan::Plan = serde_json::from_str(&text).unwrap();
    let ops = &plan.operations;
    let names: Vec<String> = ops.iter().map(|o| o.id().to_string()).collect();
    assert_eq!(ops.len(), 7, "{names:?}");
    assert!(
        ops.iter().all(|o| o.action == dssctl::plan::Action::Delete),
        "{names:?}"
    );
    let deps = dssctl::apply::executor::dependencies(ops);
    let at = |id: &str| {
        names
            .iter()
            .position(|n| n == id)
            .unwrap_or_else(|| panic!("{id} not in {names:?}"))
    };
    let waits = |who: &str, on: &str| deps[at(who)].contains(&at(on));
    // Scenarios, then recipes, then datasets, then folders and zones.
    for recipe in ["recipe FOLIO.ingest", "recipe FOLIO.archive_events"] {
        assert!(waits(recipe, "scenario FOLIO.ARCHIVE"), "{recipe}: {deps:?}");
        assert!(waits("dataset FOLIO.events", recipe), "{deps:?}");
        for last in [
            "managed_folder FOLIO.raw files",
            "managed_folder FOLIO.archive",
            "flow_zone FOLIO.landing",
        ] {
            assert!(waits(last, recipe), "{last} after {recipe}: {deps:?}");
            assert!(waits(last, "dataset FOLIO.events"), "{last}: {deps:?}");
        }
    }
    assert!(deps[at("scenario FOLIO.ARCHIVE")].is_empty(), "{deps:?}");

    let out = dssctl(&emu, "apply", &stack, dir.path(), &["--auto-approve"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("7 deleted"),
        "{}",
        show(&out)
    );
    assert!(c.list_scenarios("FOLIO").await.unwrap().is_empty());
    assert!(c.list_recipes("FOLIO").await.unwrap().is_empty());
    assert!(c.list_managed_folders("FOLIO").await.unwrap().is_empty());
    assert_eq!(
        c.list_flow_zones("FOLIO").await.unwrap().len(),
        1,
        "the built-in zone"
    );
    let out = dssctl(&emu, "plan", &stack, dir.path(), &["--detailed-exitcode"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    emu.shutdown().await;
}
