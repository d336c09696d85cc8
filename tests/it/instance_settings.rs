//! `kind: InstanceSettings` through the real binary against the emulator: from empty (an
//! adoption: the settings always exist), converged (0 writes), an update of each sort of field
//! (a top-level scalar, a nested map key, a field of a named list entry, a new entry), entries
//! of a named list that the manifests do not list left untouched, adoption of settings made
//! with plain HTTP (as the official client sends them), the export round trip, the manifest
//! removed (settings forgotten, never deleted), a literal secret refused at its line, and the
//! top-level settings DSS drops silently reported by the plan and by apply.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use dssctl::emulator::{EmulatorConfig, RunningEmulator};
use dssctl::plan::{Action, Plan};
use serde_json::{Value, json};

use crate::support::{copy_dir, dssctl_command, edit, output, reset_stats, show, start_emulator, stats};

const KEY: &str = "instance-settings-test-admin-key";

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

async fn get_settings(emu: &RunningEmulator) -> Value {
    reqwest::Client::new()
        .get(format!("{}/public/api/admin/general-settings", emu.url))
        .basic_auth(KEY, Some(""))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn put_settings(emu: &RunningEmulator, doc: &Value) {
    let resp = reqwest::Client::new()
        .put(format!("{}/public/api/admin/general-settings", emu.url))
        .basic_auth(KEY, Some(""))
        .json(doc)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{:?}", resp.text().await);
}

/// A directory holding only `settings.yaml` with `body` under `spec.settings`.
fn settings_dir(root: &Path, body: &str) -> PathBuf {
    let dir = root.join("manifests");
    std::fs::create_dir_all(dir.join("secrets")).unwrap();
    std::fs::write(dir.join("secrets/ldap"), "bind-secret\n").unwrap();
    std::fs::write(
        dir.join("settings.yaml"),
        format!("apiVersion: dssctl/v1\nkind: InstanceSettings\nmetadata:\n  name: general\nspec:\n  settings:\n{body}"),
    )
    .unwrap();
    dir
}

const BASE: &str = "    maxRunningActivities: 8
    limits:
      memSampleBytes: {soft: 1000, hard: 2000}
    containerSettings:
      executionConfigs:
        - {name: k8s-small, type: KUBERNETES, properties: [], cpuRequest: 0.5}
";

fn config<'a>(doc: &'a Value, name: &str) -> Option<&'a Value> {
    doc["containerSettings"]["executionConfigs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_settings_apply_then_converge_with_zero_writes() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("instance");
    copy_dir(&example(), &dir);

    let plan = json_plan(&emu, &dir).await;
    let op = plan
        .operations
        .iter()
        .find(|o| o.kind.as_str() == "instance_settings")
        .expect("the settings are planned");
    // The settings always exist: the first apply adopts them, with its changes.
    assert_eq!(op.action, Action::Adopt);
    let paths: Vec<&str> = op.changes.iter().map(|c| c.path.as_str()).collect();
    assert!(paths.contains(&"maxRunningActivities"), "{paths:?}");
    assert!(
        paths.contains(&"containerSettings.executionConfigs[name=k8s-small]"),
        "{paths:?}"
    );
    let secret = op
        .changes
        .iter()
        .find(|c| c.path == "ldapSettings.bindPassword")
        .expect("the bind password is a change");
    assert!(secret.sensitive && secret.before.is_null() && secret.after.is_null());

    reset_stats(&emu, KEY).await;
    let out = apply(&emu, &dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("warning:"), "{stdout}");
    assert!(!stdout.contains("demo-ldap-bind-password"), "{stdout}");
    let s = stats(&emu, KEY).await;
    eprintln!(
        "examples/instance from empty: {} writes, {} reads: {:?}",
        s.writes, s.reads, s.by_route
    );

    let live = get_settings(&emu).await;
    assert_eq!(live["maxRunningActivities"], 8);
    assert_eq!(config(&live, "k8s-small").unwrap()["cpuRequest"], 0.5);
    assert_eq!(live["ldapSettings"]["enabled"], true);
    let shown = live["ldapSettings"]["bindPassword"].as_str().unwrap();
    assert!(shown.starts_with("e:AES:"), "{shown}");

    reset_stats(&emu, KEY).await;
    let out = apply(&emu, &dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("No changes."),
        "{}",
        show(&out)
    );
    let s = stats(&emu, KEY).await;
    eprintln!(
        "examples/instance converged: {} writes, {} reads",
        s.writes, s.reads
    );
    assert_eq!(s.writes, 0, "a converged apply writes nothing: {:?}", s.by_route);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sort_of_field_updates_alone_and_unlisted_entries_stay() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let tmp = tempfile::tempdir().unwrap();
    // A config nobody here manages, made in the UI: it must survive every apply.
    let mut doc = get_settings(&emu).await;
    doc["containerSettings"]["executionConfigs"] =
        json!([{"name": "team-b", "type": "KUBERNETES", "properties": [{"key": "k", "value": "v"}]}]);
    put_settings(&emu, &doc).await;

    let dir = settings_dir(tmp.path(), BASE);
    let out = apply(&emu, &dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let file = dir.join("settings.yaml");

    let cases: [(&str, &str, &str); 4] = [
        (
            "maxRunningActivities: 8",
            "maxRunningActivities: 9",
            "maxRunningActivities",
        ),
        (
            "{soft: 1000, hard: 2000}",
            "{soft: 1000, hard: 3000}",
            "limits.memSampleBytes.hard",
        ),
        (
            "cpuRequest: 0.5}",
            "cpuRequest: 1}",
            "containerSettings.executionConfigs[name=k8s-small].cpuRequest",
        ),
        (
            "cpuRequest: 1}\n",
            "cpuRequest: 1}\n        - {name: k8s-large, type: KUBERNETES, properties: []}\n",
            "containerSettings.executionConfigs[name=k8s-large]",
        ),
    ];
    for (from, to, path) in cases {
        edit(&file, from, to);
        let plan = json_plan(&emu, &dir).await;
        assert_eq!(plan.operations.len(), 1, "{path}: {:?}", plan.operations);
        let op = &plan.operations[0];
        assert_eq!(op.action, Action::Update);
        let paths: Vec<&str> = op.changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, vec![path]);
        reset_stats(&emu, KEY).await;
        let out = apply(&emu, &dir).await;
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        let s = stats(&emu, KEY).await;
        let puts = s.by_route.get("PUT /admin/general-settings").copied();
        assert_eq!(puts, Some(1), "{path}: {:?}", s.by_route);
        assert!(json_plan(&emu, &dir).await.operations.is_empty(), "{path}");
    }
    let live = get_settings(&emu).await;
    assert_eq!(live["maxRunningActivities"], 9);
    assert_eq!(
        live["limits"]["memSampleBytes"],
        json!({"soft": 1000, "hard": 3000})
    );
    // Untouched: a field of the same map not written, and the unlisted config.
    assert_eq!(live["limits"]["attachmentBytes"], json!({"soft": -1, "hard": -1}));
    assert_eq!(
        config(&live, "team-b").unwrap()["properties"],
        json!([{"key": "k", "value": "v"}])
    );
    let names: Vec<&str> = live["containerSettings"]["executionConfigs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["team-b", "k8s-small", "k8s-large"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_made_outside_dssctl_are_adopted_with_no_change() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let tmp = tempfile::tempdir().unwrap();
    // What the official client's DSSGeneralSettings.save() sends: the whole document back.
    let mut doc = get_settings(&emu).await;
    doc["maxRunningActivities"] = json!(8);
    doc["limits"]["memSampleBytes"] = json!({"soft": 1000, "hard": 2000});
    doc["containerSettings"]["executionConfigs"] = json!([
        {"name": "other", "type": "KUBERNETES", "properties": []},
        {"name": "k8s-small", "type": "KUBERNETES", "properties": [], "cpuRequest": 0.5, "extra": 1}
    ]);
    doc["ldapSettings"]["bindPassword"] = json!("bind-secret");
    put_settings(&emu, &doc).await;

    let body = format!("{BASE}    ldapSettings:\n      bindPassword: {{fromFile: secrets/ldap}}\n");
    let dir = settings_dir(tmp.path(), &body);
    let plan = json_plan(&emu, &dir).await;
    assert_eq!(plan.operations.len(), 1);
    let op = &plan.operations[0];
    assert_eq!(op.action, Action::Adopt);
    assert!(op.changes.is_empty(), "{:?}", op.changes);

    reset_stats(&emu, KEY).await;
    let out = apply(&emu, &dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let s = stats(&emu, KEY).await;
    assert_eq!(
        s.by_route.get("PUT /admin/general-settings"),
        None,
        "{:?}",
        s.by_route
    );
    assert!(json_plan(&emu, &dir).await.operations.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_top_level_settings_are_flagged_by_plan_and_reported_by_apply() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = settings_dir(
        tmp.path(),
        "    maxRunningActivities: 6\n    noSuchSetting: {a: 1}\n",
    );

    let out = dssctl(&emu, "plan", &[dir.to_str().unwrap()], tmp.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout).replace(&emu.url, "URL");
    insta::assert_snapshot!("unknown_setting_plan", text);

    let out = apply(&emu, &dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("noSuchSetting") && stdout.contains("DSS dropped it"),
        "{}",
        show(&out)
    );
    let live = get_settings(&emu).await;
    assert_eq!(live["maxRunningActivities"], 6);
    assert!(live.get("noSuchSetting").is_none());

    // The next plan shows it again, with the reason.
    let plan = json_plan(&emu, &dir).await;
    let op = &plan.operations[0];
    assert_eq!(op.changes.len(), 1, "{:?}", op.changes);
    assert_eq!(op.changes[0].path, "noSuchSetting.a");
    assert!(
        op.changes[0]
            .note
            .as_deref()
            .unwrap()
            .contains("drops it silently")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_literal_secret_in_the_settings_is_refused_at_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    settings_dir(
        tmp.path(),
        "    ldapSettings:\n      enabled: true\n      bindPassword: hunter2\n",
    );
    let mut c = dssctl_command(&[]);
    c.args(["validate", "manifests", "--no-color"])
        .current_dir(tmp.path());
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("hunter2"), "{text}");
    insta::assert_snapshot!("literal_bind_password", text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_settings_are_forgotten_never_deleted() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = settings_dir(tmp.path(), BASE);
    // Something else in the stack, so that the manifests are not empty.
    std::fs::write(
        dir.join("group.yaml"),
        "apiVersion: dssctl/v1\nkind: Group\nmetadata:\n  name: ops\nspec:\n  description: ops\n",
    )
    .unwrap();
    let out = apply(&emu, &dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    std::fs::remove_file(dir.join("settings.yaml")).unwrap();
    let plan = json_plan(&emu, &dir).await;
    assert!(plan.operations.is_empty(), "{:?}", plan.operations);
    assert_eq!(plan.forget.len(), 1, "{:?}", plan.forget);
    assert_eq!(plan.forget[0].ledger_key(), "instance_settings:general");
    reset_stats(&emu, KEY).await;
    let out = apply(&emu, &dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let s = stats(&emu, KEY).await;
    assert_eq!(
        s.by_route.get("PUT /admin/general-settings"),
        None,
        "{:?}",
        s.by_route
    );
    assert_eq!(get_settings(&emu).await["maxRunningActivities"], 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_settings_plan_as_an_adoption_with_no_change() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = settings_dir(tmp.path(), BASE);
    let out = apply(&emu, &dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    let out = dssctl(
        &emu,
        "export",
        &["--out", "exported", "--include", "instance-settings"],
        tmp.path(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let exported = tmp.path().join("exported");
    let text = std::fs::read_to_string(exported.join("instance-settings.yaml")).unwrap();
    assert!(text.contains("kind: InstanceSettings"), "{text}");
    assert!(!text.contains("e:AES:"), "{text}");

    let out = dssctl(
        &emu,
        "plan",
        &[exported.to_str().unwrap(), "--format", "json", "--stack", "fresh"],
        tmp.path(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let plan: Plan = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan.operations.len(), 1, "{:?}", plan.operations);
    assert_eq!(plan.operations[0].action, Action::Adopt);
    assert!(
        plan.operations[0].changes.is_empty(),
        "{:?}",
        plan.operations[0].changes
    );
}
