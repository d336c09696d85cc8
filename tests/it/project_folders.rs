//! `kind: ProjectFolder` and a Project's `spec.folder` through the real binary against the
//! emulator: from empty (parents created, the folder before the project placed in it),
//! converged (0 writes), owner and permission updates, a project moved (an update), a project
//! with no folder left where it is, adoption of folders and a placed project made with plain
//! HTTP (the official client's calls), prune (the project moves out first, sub-folders before
//! their parent; a tree pruned whole, child first; a parent pruned under a kept sub-folder
//! and a folder pruned under a placed project refused at plan time), the protect guard, the
//! clear error for a folder that still holds a project dssctl does not manage, the export
//! round trip (only adoptions, no change), and a project moved from the root folder
//! (`folder: ""`) down the tree and back, each step converging with no write.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use dssctl::emulator::{EmulatorConfig, RunningEmulator};
use dssctl::plan::{Action, Plan};
use serde_json::{Value, json};

use crate::support::{copy_dir, dssctl_command, edit, output, reset_stats, show, start_emulator, stats};

const KEY: &str = "project-folders-test-admin-key";

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/instance")
}

async fn dssctl(emu: &RunningEmulator, cmd: &str, rest: &[&str], cwd: &Path) -> Output {
    let mut c = dssctl_command(&["RUST_LOG"]);
    c.arg(cmd)
        .args(rest)
        .args(["--url", &emu.url, "--api-key", KEY, "--no-color"])
        .current_dir(cwd)
        .stdin(Stdio::null());
    output(c).await
}

async fn json_plan(emu: &RunningEmulator, dir: &Path) -> Plan {
    let out = dssctl(emu, "plan", &[dir.to_str().unwrap(), "--format", "json"], dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&out)))
}

async fn apply(emu: &RunningEmulator, dir: &Path) -> Output {
    dssctl(emu, "apply", &[dir.to_str().unwrap(), "--auto-approve"], dir).await
}

async fn call(emu: &RunningEmulator, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}/public/api{path}", emu.url))
        .basic_auth(KEY, Some(""));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

async fn get(emu: &RunningEmulator, path: &str) -> Value {
    call(emu, reqwest::Method::GET, path, None).await
}

/// The id of the folder at `path` (names from the root), if it exists.
async fn folder_id(emu: &RunningEmulator, path: &str) -> Option<String> {
    let mut current = get(emu, "/project-folders/ROOT").await;
    for name in path.split('/').filter(|s| !s.is_empty()) {
        let mut found = None;
        for child in current["childrenIds"].as_array().unwrap() {
            let c = get(emu, &format!("/project-folders/{}", child.as_str().unwrap())).await;
            if c["name"] == name {
                found = Some(c);
            }
        }
        current = found?;
    }
    Some(current["id"].as_str().unwrap().to_string())
}

/// The path of the folder holding project `key`.
async fn where_is(emu: &RunningEmulator, key: &str) -> String {
    let mut f = get(emu, &format!("/project-folders/locate-project/{key}")).await;
    let mut names = Vec::new();
    while let Some(parent) = f["parentId"].as_str().map(str::to_string) {
        names.push(f["name"].as_str().unwrap().to_string());
        f = get(emu, &format!("/project-folders/{parent}")).await;
    }
    names.reverse();
    names.join("/")
}

fn manifests(root: &Path) -> PathBuf {
    let dir = root.join("instance");
    copy_dir(&example(), &dir);
    // The settings, code envs and plugins are other test files' subjects.
    for other in ["settings.yaml", "code-envs.yaml", "plugins.yaml"] {
        std::fs::remove_file(dir.join(other)).unwrap();
    }
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folders_and_a_placed_project_apply_from_empty_then_converge() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = manifests(tmp.path());

    let out = dssctl(&emu, "plan", &[dir.to_str().unwrap()], tmp.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout).replace(&emu.url, "URL");
    insta::assert_snapshot!("folders_from_empty_plan", text);

    let out = apply(&emu, &dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(where_is(&emu, "MARKETING_REPORTS").await, "Analytics/Marketing");
    let id = folder_id(&emu, "Analytics/Marketing").await.unwrap();
    let settings = get(&emu, &format!("/project-folders/{id}/settings")).await;
    assert_eq!(settings["owner"], "admin");
    assert_eq!(
        settings["permissions"],
        json!([{"group": "data_team", "read": true, "writeContents": true, "admin": false}])
    );

    reset_stats(&emu, KEY).await;
    let out = apply(&emu, &dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("No changes."),
        "{}",
        show(&out)
    );
    let s = stats(&emu, KEY).await;
    assert_eq!(s.writes, 0, "{:?}", s.by_route);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_permissions_and_the_project_folder_update_alone() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = manifests(tmp.path());
    // Another admin, to own a folder.
    call(
        &emu,
        reqwest::Method::POST,
        "/admin/users/",
        Some(json!({"login": "ops", "password": "x", "sourceType": "LOCAL", "userProfile": "DESIGNER", "groups": ["administrators"]})),
    )
    .await;
    let out = apply(&emu, &dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let folders = dir.join("folders.yaml");
    let projects = dir.join("projects.yaml");

    let cases: [(&Path, &str, &str, &str); 4] = [
        (
            &folders,
            "name: Analytics\nspec:\n  owner: admin",
            "name: Analytics\nspec:\n  owner: ops",
            "owner",
        ),
        (
            &folders,
            "{group: data_team, read: true, writeContents: true, admin: false}",
            "{group: data_team, read: true, writeContents: false, admin: false}",
            "permissions[group=data_team].writeContents",
        ),
        (
            &folders,
            "{group: data_team, read: true, writeContents: false, admin: false}\n---",
            "{group: data_team, read: true, writeContents: false, admin: false}\n    - {group: administrators, read: true}\n---",
            "permissions[group=administrators]",
        ),
        (
            &projects,
            "folder: Analytics/Marketing",
            "folder: Analytics",
            "folder",
        ),
    ];
    for (file, from, to, path) in cases {
        edit(file, from, to);
        let plan = json_plan(&emu, &dir).await;
        assert_eq!(plan.operations.len(), 1, "{path}: {:?}", plan.operations);
        let op = &plan.operations[0];
        assert_eq!(op.action, Action::Update);
        let paths: Vec<&str> = op.changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, vec![path]);
        let out = apply(&emu, &dir).await;
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        assert!(json_plan(&emu, &dir).await.operations.is_empty(), "{path}");
    }
    let folder = &json_plan(&emu, &dir).await;
    assert!(folder.operations.is_empty());
    assert_eq!(where_is(&emu, "MARKETING_REPORTS").await, "Analytics");
    let id = folder_id(&emu, "Analytics").await.unwrap();
    assert_eq!(
        get(&emu, &format!("/project-folders/{id}/settings")).await["owner"],
        "ops"
    );

    // A project without `folder` stays where it is.
    edit(&projects, "  folder: Analytics\n", "");
    assert!(json_plan(&emu, &dir).await.operations.is_empty());
    assert_eq!(where_is(&emu, "MARKETING_REPORTS").await, "Analytics");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folders_and_a_placed_project_made_outside_dssctl_are_adopted_with_no_change() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = manifests(tmp.path());
    // The official client's calls: the group, the folders and their settings, the project
    // created in its folder.
    let analytics = call(
        &emu,
        reqwest::Method::POST,
        "/project-folders/ROOT/children?name=Analytics",
        None,
    )
    .await;
    let a = analytics["id"].as_str().unwrap().to_string();
    let marketing = call(
        &emu,
        reqwest::Method::POST,
        &format!("/project-folders/{a}/children?name=Marketing"),
        None,
    )
    .await;
    let m = marketing["id"].as_str().unwrap().to_string();
    for (id, write) in [(&a, false), (&m, true)] {
        call(
            &emu,
            reqwest::Method::PUT,
            &format!("/project-folders/{id}/settings"),
            Some(json!({"owner": "admin", "permissions": [
                {"group": "data_team", "read": true, "writeContents": write, "admin": false}]})),
        )
        .await;
    }
    call(
        &emu,
        reqwest::Method::POST,
        &format!("/projects/?projectFolderId={m}"),
        Some(json!({"projectKey": "MARKETING_REPORTS", "name": "Marketing reports", "owner": "admin"})),
    )
    .await;
    call(
        &emu,
        reqwest::Method::PUT,
        "/projects/MARKETING_REPORTS/permissions",
        Some(json!({"owner": "admin", "permissions": [{"group": "data_team", "type": "ANALYST_READWRITE"}]})),
    )
    .await;
    let mut meta = get(&emu, "/projects/MARKETING_REPORTS/metadata").await;
    meta["shortDesc"] = json!("campaign performance dashboards");
    call(
        &emu,
        reqwest::Method::PUT,
        "/projects/MARKETING_REPORTS/metadata",
        Some(meta),
    )
    .await;

    let plan = json_plan(&emu, &dir).await;
    // The folders and the project's placement: adopted with no change (the built-in group
    // of the emulator may differ in its description, which is not this test's subject).
    for op in plan.operations.iter().filter(|o| o.kind.as_str() != "group") {
        assert_eq!(op.action, Action::Adopt, "{op:?}");
        // The grant written by type through plain HTTP is the project kind's subject; here,
        // the folders and the placement must not change.
        assert!(
            op.changes.iter().all(|c| c.path.starts_with("permissions["))
                && !op.changes.iter().any(|c| c.path == "folder"),
            "{op:?}"
        );
    }
    let out = apply(&emu, &dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(json_plan(&emu, &dir).await.operations.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pruned_folder_is_deleted_after_its_projects_move_out_and_guards_hold() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = manifests(tmp.path());
    let out = apply(&emu, &dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    // Protected: removing it is refused.
    edit(
        &dir.join("folders.yaml"),
        "name: Analytics/Marketing\nspec:\n",
        "name: Analytics/Marketing\nspec:\n  protect: true\n",
    );
    let out = apply(&emu, &dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = std::fs::read_to_string(dir.join("folders.yaml")).unwrap();
    let (analytics, _) = text.split_once("---").unwrap();
    std::fs::write(dir.join("folders.yaml"), analytics).unwrap();
    edit(
        &dir.join("projects.yaml"),
        "folder: Analytics/Marketing",
        "folder: Analytics",
    );
    let out = apply(&emu, &dir).await;
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(folder_id(&emu, "Analytics/Marketing").await.is_some());

    // Unprotected (the protect flag cleared by declaring it once more), then removed: the
    // project moves out, the sub-folder goes before its parent.
    std::fs::write(
        dir.join("unprotect.yaml"),
        "apiVersion: dssctl/v1\nkind: ProjectFolder\nmetadata:\n  name: Analytics/Marketing\nspec:\n  protect: false\n",
    )
    .unwrap();
    edit(
        &dir.join("projects.yaml"),
        "folder: Analytics",
        "folder: Analytics/Marketing",
    );
    let out = apply(&emu, &dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    std::fs::remove_file(dir.join("unprotect.yaml")).unwrap();
    edit(
        &dir.join("projects.yaml"),
        "folder: Analytics/Marketing",
        "folder: Analytics",
    );
    let plan = json_plan(&emu, &dir).await;
    let deletes: Vec<&str> = plan
        .operations
        .iter()
        .filter(|o| o.action == Action::Delete)
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(deletes, vec!["Analytics/Marketing"]);
    let out = apply(&emu, &dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(folder_id(&emu, "Analytics/Marketing").await.is_none());
    assert_eq!(where_is(&emu, "MARKETING_REPORTS").await, "Analytics");
    assert!(json_plan(&emu, &dir).await.operations.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_still_holding_an_unmanaged_project_is_a_clear_error() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = manifests(tmp.path());
    let out = apply(&emu, &dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    // Someone puts a project of their own in the folder.
    let m = folder_id(&emu, "Analytics/Marketing").await.unwrap();
    call(
        &emu,
        reqwest::Method::POST,
        &format!("/projects/?projectFolderId={m}"),
        Some(json!({"projectKey": "THEIRS", "name": "Theirs", "owner": "admin"})),
    )
    .await;
    let text = std::fs::read_to_string(dir.join("folders.yaml")).unwrap();
    let (analytics, _) = text.split_once("---").unwrap();
    std::fs::write(dir.join("folders.yaml"), analytics).unwrap();
    edit(
        &dir.join("projects.yaml"),
        "folder: Analytics/Marketing",
        "folder: Analytics",
    );
    let out = apply(&emu, &dir).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("project folder Analytics/Marketing is not empty: it holds project(s) THEIRS"),
        "{text}"
    );
    // The managed project moved out all the same.
    assert_eq!(where_is(&emu, "MARKETING_REPORTS").await, "Analytics");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_pruned_with_its_parent_is_deleted_child_first() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = manifests(tmp.path());
    let out = apply(&emu, &dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let folders = std::fs::read_to_string(dir.join("folders.yaml")).unwrap();
    let path = dir.to_str().unwrap();

    // The parent removed, its sub-folder kept: the parent could not be deleted with the
    // sub-folder in it, so the plan refuses at the sub-folder's manifest.
    let (_, marketing) = folders.split_once("---").unwrap();
    std::fs::write(dir.join("folders.yaml"), marketing).unwrap();
    let out = dssctl(&emu, "plan", &[path], &dir).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "its path refers to project_folder \"Analytics\", which was removed from the manifests: this plan deletes it"
        ),
        "{text}"
    );

    // Both folders removed while the project is still placed in the sub-folder: refused at
    // the project's `folder:` line, nothing written.
    std::fs::remove_file(dir.join("folders.yaml")).unwrap();
    let out = apply(&emu, &dir).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("projects.yaml:10:")
            && text.contains(
                "folder refers to project_folder \"Analytics/Marketing\", which was removed from the manifests"
            ),
        "{text}"
    );
    assert!(folder_id(&emu, "Analytics/Marketing").await.is_some());

    // The project moved to the root folder (`folder: ""`): both deletions planned, the
    // sub-folder first, and applied after the project has moved out.
    edit(
        &dir.join("projects.yaml"),
        "folder: Analytics/Marketing",
        "folder: \"\"",
    );
    let plan = json_plan(&emu, &dir).await;
    let ops: Vec<(Action, &str)> = plan
        .operations
        .iter()
        .map(|o| (o.action, o.name.as_str()))
        .collect();
    assert_eq!(
        ops,
        vec![
            (Action::Update, "MARKETING_REPORTS"),
            (Action::Delete, "Analytics/Marketing"),
            (Action::Delete, "Analytics"),
        ]
    );
    let out = dssctl(&emu, "plan", &[path], &dir).await;
    let text = String::from_utf8_lossy(&out.stdout);
    let child = text
        .find("- project_folder Analytics/Marketing")
        .expect("child deletion shown");
    let parent = text
        .find("- project_folder Analytics\n")
        .expect("parent deletion shown");
    assert!(child < parent, "{text}");
    let out = apply(&emu, &dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(folder_id(&emu, "Analytics").await.is_none());
    assert_eq!(where_is(&emu, "MARKETING_REPORTS").await, "");
    reset_stats(&emu, KEY).await;
    assert!(json_plan(&emu, &dir).await.operations.is_empty());
    let out = apply(&emu, &dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(stats(&emu, KEY).await.writes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_folders_and_placements_plan_as_adoptions_with_no_change() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = manifests(tmp.path());
    let out = apply(&emu, &dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    // A project of someone else's in the root folder, and a folder with no grant.
    call(
        &emu,
        reqwest::Method::POST,
        "/projects/?projectFolderId=ROOT",
        Some(json!({"projectKey": "AT_ROOT", "name": "At the root", "owner": "admin"})),
    )
    .await;
    let a = folder_id(&emu, "Analytics").await.unwrap();
    call(
        &emu,
        reqwest::Method::POST,
        &format!("/project-folders/{a}/children?name=Finance"),
        None,
    )
    .await;

    let out = dssctl(
        &emu,
        "export",
        &[
            "--out",
            "exported",
            "--include",
            "project-folders,projects,groups",
        ],
        tmp.path(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let exported = tmp.path().join("exported");
    let folders = std::fs::read_to_string(exported.join("project-folders.yaml")).unwrap();
    for path in ["Analytics", "Analytics/Finance", "Analytics/Marketing"] {
        assert!(folders.contains(&format!("name: {path}\n")), "{folders}");
    }
    let out = dssctl(
        &emu,
        "plan",
        &[exported.to_str().unwrap(), "--format", "json", "--stack", "fresh"],
        tmp.path(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let plan: Plan = serde_json::from_slice(&out.stdout).unwrap();
    let mut adopted: Vec<(String, String)> = Vec::new();
    for op in &plan.operations {
        assert_eq!(op.action, Action::Adopt, "{op:?}");
        assert!(op.changes.is_empty(), "{op:?}");
        adopted.push((op.kind.as_str().to_string(), op.name.clone()));
    }
    for (kind, name) in [
        ("project_folder", "Analytics"),
        ("project_folder", "Analytics/Finance"),
        ("project_folder", "Analytics/Marketing"),
        ("project", "MARKETING_REPORTS"),
        ("project", "AT_ROOT"),
    ] {
        assert!(
            adopted.contains(&(kind.to_string(), name.to_string())),
            "{kind} {name}: {adopted:?}"
        );
    }
    // Applied, the export adopts everything and writes nothing but its ledger.
    let out = dssctl(
        &emu,
        "apply",
        &[exported.to_str().unwrap(), "--auto-approve", "--stack", "fresh"],
        tmp.path(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(where_is(&emu, "MARKETING_REPORTS").await, "Analytics/Marketing");
    assert_eq!(where_is(&emu, "AT_ROOT").await, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_moves_from_the_root_to_folders_and_back_each_converging() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = manifests(tmp.path());
    let projects = dir.join("projects.yaml");
    // Created in the root folder, moved down the tree, then back to the root.
    let quoted = |path: &str| format!("folder: \"{path}\"");
    edit(&projects, "folder: Analytics/Marketing", &quoted(""));
    let mut at = String::new();
    for to in ["", "Analytics/Marketing", "Analytics", ""] {
        edit(&projects, &quoted(&at), &quoted(to));
        let plan = json_plan(&emu, &dir).await;
        if let Some(op) = plan.operations.iter().find(|o| o.name == "MARKETING_REPORTS")
            && op.action == Action::Update
        {
            let paths: Vec<&str> = op.changes.iter().map(|c| c.path.as_str()).collect();
            assert_eq!(paths, vec!["folder"], "{to:?}");
        }
        let out = apply(&emu, &dir).await;
        assert_eq!(out.status.code(), Some(0), "{to:?}: {}", show(&out));
        assert_eq!(where_is(&emu, "MARKETING_REPORTS").await, to);
        reset_stats(&emu, KEY).await;
        let out = apply(&emu, &dir).await;
        assert_eq!(out.status.code(), Some(0), "{to:?}: {}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("No changes."),
            "{to:?}: {}",
            show(&out)
        );
        assert_eq!(stats(&emu, KEY).await.writes, 0, "{to:?}");
        at = to.to_string();
    }
}
