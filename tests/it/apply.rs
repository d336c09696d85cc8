//! `dssctl apply` through the real binary against the emulator on 127.0.0.1:0, each test with
//! its data in a tempdir used as the working directory (so `.dssctl/backups` lands there):
//! apply from empty then a plan with no changes and a second apply with zero writes; unmanaged
//! fields and unknown attributes surviving an update; apply under a 30% error rate, then
//! convergence; a kill -9 in the middle of a large apply, then convergence; every safety
//! guard; a stale saved plan; the backup before a project deletion; data kept or dropped on a
//! dataset deletion; failure isolation; no secret value in any
//! output, the saved plan or the ledger.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use dssctl::client::DssClient;
use dssctl::emulator::{EmulatorConfig, RunningEmulator};
use dssctl::plan::ledger::{Ledger, ledger_variable};
use serde_json::json;

use crate::support::{
    cli_args, client, copy_quickstart, dssctl_command, edit, output, quickstart, reset_stats,
    secrets_of_quickstart, show, start_emulator, stats,
};

const KEY: &str = "apply-test-admin-key";

fn command(args: &[String], cwd: &Path) -> Command {
    let mut cmd = dssctl_command(&["RUST_LOG"]);
    cmd.args(args).current_dir(cwd).stdin(Stdio::null());
    cmd
}

/// Run the binary (off the async runtime, which serves the emulator meanwhile).
async fn dssctl(args: Vec<String>, cwd: &Path) -> Output {
    output(command(&args, cwd)).await
}

fn args(cmd: &str, emu: &RunningEmulator, path: &Path, extra: &[&str]) -> Vec<String> {
    cli_args(cmd, path, emu, KEY, extra)
}

async fn apply(emu: &RunningEmulator, path: &Path, cwd: &Path, extra: &[&str]) -> Output {
    let mut e = vec!["--auto-approve", "--no-color"];
    e.extend_from_slice(extra);
    dssctl(args("apply", emu, path, &e), cwd).await
}

/// `plan --detailed-exitcode`'s exit code (0: no changes, 2: changes).
async fn plan_code(emu: &RunningEmulator, path: &Path, cwd: &Path) -> Option<i32> {
    let out = dssctl(args("plan", emu, path, &["--detailed-exitcode"]), cwd).await;
    out.status.code()
}

async fn ledger(c: &DssClient, stack: &str) -> Option<Ledger> {
    let vars = c.get_global_variables().await.unwrap();
    Ledger::from_global_variables(&vars, stack).unwrap()
}

/// A generated stack: one connection, `projects` projects of `datasets` datasets each, and
/// `groups` groups (the first `protected` of the projects protected).
fn generate(dir: &Path, projects: usize, datasets: usize, groups: usize, protected: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut conn = String::from(
        "apiVersion: dssctl/v1\nkind: Connection\nmetadata:\n  name: gen_fs\nspec:\n  type: Filesystem\n  params:\n    root: /gen\n",
    );
    for g in 0..groups {
        conn.push_str(&format!(
            "---\napiVersion: dssctl/v1\nkind: Group\nmetadata:\n  name: team_{g}\nspec:\n  description: Team {g}\n"
        ));
    }
    std::fs::write(dir.join("shared.yaml"), conn).unwrap();
    for p in 0..projects {
        let key = format!("GEN{p}");
        let protect = if p < protected { "\n  protect: true" } else { "" };
        let mut doc = format!(
            "apiVersion: dssctl/v1\nkind: Project\nmetadata:\n  name: {key}\nspec:\n  label: Generated {p}\n  tags: [gen]{protect}\n"
        );
        for d in 0..datasets {
            doc.push_str(&format!(
                "---\napiVersion: dssctl/v1\nkind: Dataset\nmetadata:\n  name: ds_{d}\n  project: {key}\nspec:\n  type: Filesystem\n  params:\n    connection: gen_fs\n    path: /{key}/ds_{d}\n  formatType: csv\n  schema:\n    columns:\n      - {{name: id, type: bigint}}\n      - {{name: value, type: string}}\n  tags: [t{d}]\n"
            ));
        }
        std::fs::write(dir.join(format!("{key}.yaml")), doc).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_from_empty_then_no_changes_and_zero_writes() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let dir = tempfile::tempdir().unwrap();
    let qs = quickstart();
    // Global variables nobody here manages, and another stack's ledger: they must survive.
    let mut vars = c.get_global_variables().await.unwrap();
    vars.insert("foreign".into(), json!({"kept": true}));
    let other = json!({"formatVersion": 1, "salt": "00", "resources": {}});
    vars.insert(ledger_variable("other"), other.clone());
    c.set_global_variables(&vars).await.unwrap();

    reset_stats(&emu, KEY).await;
    let out = apply(&emu, &qs, dir.path(), &["-vvv"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Apply complete: 13 created, 0 updated, 2 adopted, 0 deleted, 0 failed, 0 skipped."),
        "{stdout}"
    );
    assert!(!stdout.contains("warning:"), "{stdout}");
    let s = stats(&emu, KEY).await;
    let from_empty = s.writes;
    eprintln!("quickstart from empty: {from_empty} writes");
    // The variables of the two new projects are written without being read first: a new
    // project's are known (two empty scopes).
    let route = |r: &str| s.by_route.get(r).copied().unwrap_or(0);
    assert_eq!(
        route("PUT /projects/{projectKey}/variables"),
        2,
        "{:?}",
        s.by_route
    );
    assert_eq!(
        route("GET /projects/{projectKey}/variables"),
        0,
        "{:?}",
        s.by_route
    );

    assert_eq!(plan_code(&emu, &qs, dir.path()).await, Some(0));

    // A second apply: nothing to do, nothing written.
    reset_stats(&emu, KEY).await;
    let out = apply(&emu, &qs, dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("No changes."));
    let s = stats(&emu, KEY).await;
    assert_eq!(s.writes, 0, "a converged apply writes nothing: {:?}", s.by_route);

    // The ledger lists everything, with secret fingerprints; the stamps are in place.
    let l = ledger(&c, "default").await.expect("a ledger");
    assert_eq!(l.resources.len(), 15, "{:?}", l.resources.keys());
    let warehouse = &l.resources["connection:warehouse"];
    assert_eq!(warehouse.secrets.len(), 1);
    assert!(!warehouse.applied_at.is_empty());
    let commit = dssctl::apply::ledger::git_commit(&qs);
    assert!(l.resources.values().all(|e| e.git_commit == commit));
    let vars = c.get_global_variables().await.unwrap();
    assert_eq!(vars["foreign"], json!({"kept": true}));
    assert_eq!(vars[&ledger_variable("other")], other);
    assert_eq!(vars["env"], "quickstart");
    let meta = c.get_project_metadata("CHURN").await.unwrap();
    assert_eq!(meta.custom["kv"]["dssctl.stack"], "default");
    let meta = c.get_dataset_metadata("SALES", "weekly_revenue").await.unwrap();
    assert_eq!(meta.custom["kv"]["dssctl.stack"], "default");
    // No duplicate grants, datasets or users.
    assert_eq!(c.list_datasets("SALES").await.unwrap().len(), 3);
    assert_eq!(
        c.list_users()
            .await
            .unwrap()
            .iter()
            .filter(|u| u.login == "alice")
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_any_output_the_saved_plan_or_the_ledger() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let dir = tempfile::tempdir().unwrap();
    let qs = quickstart();
    let plan_file = dir.path().join("plan.json");
    let saved = dssctl(
        args("plan", &emu, &qs, &["-vvv", "--out", plan_file.to_str().unwrap()]),
        dir.path(),
    )
    .await;
    assert_eq!(saved.status.code(), Some(0), "{}", show(&saved));
    let text = apply(&emu, &qs, dir.path(), &["-vvv"]).await;
    assert_eq!(text.status.code(), Some(0), "{}", show(&text));
    // A password change, applied with the JSON report.
    let copy = copy_quickstart(dir.path());
    std::fs::write(copy.join("secrets/alice-password"), "a-new-Secret-value-42\n").unwrap();
    let changed = apply(&emu, &copy, dir.path(), &["-vvv", "--format", "json"]).await;
    assert_eq!(changed.status.code(), Some(0), "{}", show(&changed));
    let report: serde_json::Value = serde_json::from_slice(&changed.stdout).unwrap();
    assert_eq!(report["summary"]["updated"], 1, "{report}");
    assert_eq!(report["operations"][0]["name"], "alice");
    assert!(
        report["operations"][0].get("warnings").is_none(),
        "a password is write-only, not dropped: {report}"
    );

    let vars = c.get_global_variables().await.unwrap();
    let ledger_text = vars[&ledger_variable("default")].to_string();
    let plan_text = std::fs::read_to_string(&plan_file).unwrap();
    let mut secrets = secrets_of_quickstart();
    secrets.push("a-new-Secret-value-42".into());
    for out in [&saved, &text, &changed] {
        for s in &secrets {
            assert!(!String::from_utf8_lossy(&out.stdout).contains(s.as_str()));
            assert!(!String::from_utf8_lossy(&out.stderr).contains(s.as_str()));
        }
    }
    for s in &secrets {
        assert!(!plan_text.contains(s.as_str()), "the saved plan holds a secret");
        assert!(!ledger_text.contains(s.as_str()), "the ledger holds a secret");
    }
    // The changed secret was detected by its fingerprint and the next run is converged.
    assert_eq!(plan_code(&emu, &copy, dir.path()).await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmanaged_fields_and_unknown_attributes_survive_an_update() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let dir = tempfile::tempdir().unwrap();
    let copy = copy_quickstart(dir.path());
    let out = apply(&emu, &copy, dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    // Through the raw API: a field the manifests do not manage, and attributes dssctl does
    // not even know, on the documents the next apply rewrites.
    let mut meta = c.get_project_metadata("CHURN").await.unwrap();
    meta.extra.insert(
        "checklists".into(),
        json!({"checklists": [{"id": "c1", "title": "Review", "items": []}]}),
    );
    meta.custom.insert(
        "kv".into(),
        json!({"owner_team": "ml", "dssctl.stack": "default"}),
    );
    c.set_project_metadata("CHURN", &meta).await.unwrap();
    let mut ds = c.get_dataset("CHURN", "customers").await.unwrap();
    ds.params.insert("notReadyIfEmpty".into(), json!(true));
    ds.extra
        .insert("futureAttribute".into(), json!({"nested": [1, 2, 3]}));
    c.update_dataset("CHURN", "customers", &ds).await.unwrap();

    edit(
        &copy.join("projects/churn.yaml"),
        "tags: [ml, churn]",
        "tags: [ml, churn, v2]",
    );
    edit(
        &copy.join("projects/churn.yaml"),
        "path: /CHURN/customers",
        "path: /CHURN/customers_v2",
    );
    reset_stats(&emu, KEY).await;
    let out = apply(&emu, &copy, dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("~ project CHURN: updated"), "{stdout}");
    assert!(!stdout.contains("warning:"), "{stdout}");
    let s = stats(&emu, KEY).await;
    // One metadata PUT and one settings PUT: the smallest writes (plus the ledger's).
    let route = |r: &str| s.by_route.get(r).copied().unwrap_or(0);
    assert_eq!(
        route("PUT /projects/{projectKey}/metadata"),
        1,
        "{:?}",
        s.by_route
    );
    assert_eq!(route("PUT /projects/{projectKey}/datasets/{datasetName}"), 1);
    let ledger_writes = route("PUT /admin/variables");
    // At most one per finished operation (none when nothing in the entries changed, as
    // when both applies fall in the same second), and the stack lock's two (take, release).
    assert!((2..=4).contains(&ledger_writes), "{:?}", s.by_route);
    assert_eq!(s.writes, 2 + ledger_writes, "{:?}", s.by_route);

    let meta = c.get_project_metadata("CHURN").await.unwrap();
    assert!(meta.tags.contains(&"v2".to_string()));
    assert_eq!(meta.extra["checklists"]["checklists"][0]["title"], "Review");
    assert_eq!(meta.custom["kv"]["owner_team"], "ml");
    let ds = c.get_dataset("CHURN", "customers").await.unwrap();
    assert_eq!(ds.params["path"], "/CHURN/customers_v2");
    assert_eq!(ds.params["notReadyIfEmpty"], true);
    assert_eq!(ds.extra["futureAttribute"], json!({"nested": [1, 2, 3]}));
    assert_eq!(plan_code(&emu, &copy, dir.path()).await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_thirty_percent_error_rate_apply_fails_cleanly_and_the_next_runs_converge() {
    let data = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("stack");
    generate(&stack, 3, 4, 3, 0);
    let faulty = start_emulator(
        KEY,
        EmulatorConfig {
            data_dir: Some(data.path().to_path_buf()),
            error_rate: 0.3,
            ..Default::default()
        },
    )
    .await;
    let out = apply(&faulty, &stack, dir.path(), &[]).await;
    let code = out.status.code();
    assert!(matches!(code, Some(0 | 1)), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{}", show(&out));
    if code == Some(1) {
        // Either the plan could not be read, or every operation's outcome is listed.
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stderr.contains("error:") || stdout.contains("Apply incomplete"),
            "{}",
            show(&out)
        );
    }
    faulty.shutdown().await;

    let healthy = start_emulator(
        KEY,
        EmulatorConfig {
            data_dir: Some(data.path().to_path_buf()),
            ..Default::default()
        },
    )
    .await;
    let mut converged = false;
    for _ in 0..3 {
        let out = apply(&healthy, &stack, dir.path(), &[]).await;
        if out.status.code() == Some(0) {
            converged = true;
            break;
        }
    }
    assert!(converged, "no convergence within three runs");
    assert_eq!(plan_code(&healthy, &stack, dir.path()).await, Some(0));
    let c = client(&healthy, KEY);
    for p in 0..3 {
        assert_eq!(c.list_datasets(&format!("GEN{p}")).await.unwrap().len(), 4);
    }
    let l = ledger(&c, "default").await.unwrap();
    assert_eq!(l.resources.len(), 1 + 3 + 3 + 3 * 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_in_the_middle_of_a_large_apply_is_followed_by_a_converging_run() {
    let emu = start_emulator(
        KEY,
        EmulatorConfig {
            latency: Duration::from_millis(5),
            ..Default::default()
        },
    )
    .await;
    let c = client(&emu, KEY);
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("stack");
    generate(&stack, 10, 30, 0, 0);

    reset_stats(&emu, KEY).await;
    let a = args("apply", &emu, &stack, &["--auto-approve"]);
    let mut child = command(&a, dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill once a good part of the writes happened, well before the end.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        if stats(&emu, KEY).await.writes >= 150 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "apply finished before it could be killed"
        );
        assert!(std::time::Instant::now() < deadline, "apply made no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let projects_before = c.list_projects().await.unwrap().len();
    assert!(projects_before > 0);
    // The killed run still holds the stack lock (until it expires): remove it, as one would.
    let mut unlock = dssctl_command(&["RUST_LOG"]);
    unlock
        .args(["unlock", "--url", &emu.url, "--api-key", KEY, "--force"])
        .current_dir(dir.path());
    let unlock = output(unlock).await;
    assert!(unlock.status.success(), "{}", show(&unlock));

    let out = apply(&emu, &stack, dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(plan_code(&emu, &stack, dir.path()).await, Some(0));
    let projects = c.list_projects().await.unwrap();
    assert_eq!(projects.len(), 10);
    for p in &projects {
        let ds = c.list_datasets(&p.project_key).await.unwrap();
        assert_eq!(ds.len(), 30, "{}", p.project_key);
        let mut names: Vec<_> = ds.iter().map(|d| d.name.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 30);
    }
    let l = ledger(&c, "default").await.unwrap();
    assert_eq!(l.resources.len(), 1 + 10 + 300, "the ledger covers everything");
    assert!(l.resources.values().all(|e| !e.applied_at.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mass_deletions_need_the_exact_allowance() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("stack");
    generate(&stack, 0, 0, 12, 0);
    let out = apply(&emu, &stack, dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    // Keep the connection and one group: 11 deletions, beyond the default of 10.
    let shared = std::fs::read_to_string(stack.join("shared.yaml")).unwrap();
    let kept: Vec<&str> = shared.split("---\n").take(2).collect();
    std::fs::write(stack.join("shared.yaml"), kept.join("---\n")).unwrap();
    reset_stats(&emu, KEY).await;
    for extra in [&[][..], &["--allow-deletes", "10"][..]] {
        let out = apply(&emu, &stack, dir.path(), extra).await;
        assert_eq!(out.status.code(), Some(3), "{}", show(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("deletes 11"), "{stderr}");
    }
    let out = apply(
        &emu,
        &stack,
        dir.path(),
        &["--max-deletes", "5", "--allow-deletes", "11"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let groups = c.list_groups().await.unwrap();
    assert!(groups.iter().any(|g| g.name == "team_0"));
    assert!(!groups.iter().any(|g| g.name == "team_5"));
    assert_eq!(plan_code(&emu, &stack, dir.path()).await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_manifests_and_removed_protected_resources_are_refused() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("stack");
    generate(&stack, 2, 1, 0, 1);
    let out = apply(&emu, &stack, dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(ledger(&c, "default").await.unwrap().resources["project:GEN0"].protect);

    // Manifests that declare no resource (a build only) against a non-empty ledger.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(
        empty.join("build.yaml"),
        "apiVersion: dssctl/v1\nkind: Build\nmetadata:\n  name: b\n  project: GEN0\nspec:\n  outputs:\n    - id: ds_0\n",
    )
    .unwrap();
    reset_stats(&emu, KEY).await;
    let out = apply(&emu, &empty, dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("declare no resource"));

    // The protected project removed from the manifests.
    std::fs::remove_file(stack.join("GEN0.yaml")).unwrap();
    let out = apply(&emu, &stack, dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("project GEN0"));
    assert_eq!(stats(&emu, KEY).await.writes, 0, "a refusal writes nothing");
    assert!(c.get_project("GEN0").await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_saved_plan_is_refused_and_a_fresh_one_applied_exactly() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let dir = tempfile::tempdir().unwrap();
    let copy = copy_quickstart(dir.path());
    let out = apply(&emu, &copy, dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    edit(
        &copy.join("projects/churn.yaml"),
        "tags: [ml, churn]",
        "tags: [ml]",
    );
    let plan_file = dir.path().join("plan.json");
    let plan_out = |file: &Path| args("plan", &emu, &copy, &["--out", file.to_str().unwrap()]);
    let out = dssctl(plan_out(&plan_file), dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let saved = |file: &Path| {
        vec![
            "apply".to_string(),
            "--plan".into(),
            file.display().to_string(),
            "--url".into(),
            emu.url.clone(),
            "--api-key".into(),
            KEY.into(),
            "--auto-approve".into(),
        ]
    };

    // Someone changes the project's metadata in between.
    let mut meta = c.get_project_metadata("CHURN").await.unwrap();
    meta.tags.push("hotfix".into());
    c.set_project_metadata("CHURN", &meta).await.unwrap();
    reset_stats(&emu, KEY).await;
    let out = dssctl(saved(&plan_file), dir.path()).await;
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("project CHURN"));
    assert_eq!(stats(&emu, KEY).await.writes, 0);

    // A fresh plan applies exactly.
    let out = dssctl(plan_out(&plan_file), dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let out = dssctl(saved(&plan_file), dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(c.get_project_metadata("CHURN").await.unwrap().tags, vec!["ml"]);
    assert_eq!(plan_code(&emu, &copy, dir.path()).await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_is_exported_before_its_deletion() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("stack");
    generate(&stack, 2, 2, 0, 0);
    let out = apply(&emu, &stack, dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    std::fs::remove_file(stack.join("GEN1.yaml")).unwrap();
    let out = apply(&emu, &stack, dir.path(), &["--format", "json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["summary"]["deleted"], 3, "{report}");
    let backups: Vec<PathBuf> = std::fs::read_dir(dir.path().join(".dssctl/backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    let name = backups[0].file_name().unwrap().to_string_lossy().to_string();
    assert!(name.starts_with("GEN1-") && name.ends_with(".zip"), "{name}");
    let zip = std::fs::read(&backups[0]).unwrap();
    assert!(zip.starts_with(b"PK"));
    assert!(c.get_project("GEN1").await.unwrap_err().is_not_found());
    assert!(c.get_project("GEN0").await.is_ok());
    let l = ledger(&c, "default").await.unwrap();
    assert!(!l.resources.keys().any(|k| k.contains("GEN1")));
    assert!(
        l.resources
            .values()
            .all(|e| e.kind != dssctl::kinds::dataset::ID || !e.drop_data_on_delete)
    );
    assert_eq!(plan_code(&emu, &stack, dir.path()).await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_terminal_apply_needs_auto_approve() {
    let dir = tempfile::tempdir().unwrap();
    let out = dssctl(
        vec!["apply".into(), quickstart().display().to_string()],
        dir.path(),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--auto-approve"));
    assert!(!dir.path().join(".dssctl").exists(), "nothing started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_operation_skips_its_dependents_and_the_rest_completes() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("stack");
    std::fs::create_dir_all(&stack).unwrap();
    // The emulator refuses spaces in group names (the manifests accept them): the group's
    // creation fails, so the user in it and the project granting it are skipped, and the
    // project's dataset after them; the unrelated group and project are created.
    let manifests = |group: &str| {
        format!(
            "apiVersion: dssctl/v1\nkind: Group\nmetadata:\n  name: {group}\n---\n\
             apiVersion: dssctl/v1\nkind: Group\nmetadata:\n  name: fine\n---\n\
             apiVersion: dssctl/v1\nkind: User\nmetadata:\n  name: dana\nspec:\n  displayName: Dana\n  groups: [{group}]\n---\n\
             apiVersion: dssctl/v1\nkind: Connection\nmetadata:\n  name: files\nspec:\n  type: Filesystem\n  params:\n    root: /f\n---\n\
             apiVersion: dssctl/v1\nkind: Project\nmetadata:\n  name: TEAM\nspec:\n  permissions:\n    - group: {group}\n      type: READER\n---\n\
             apiVersion: dssctl/v1\nkind: Dataset\nmetadata:\n  name: d\n  project: TEAM\nspec:\n  type: Filesystem\n  params:\n    connection: files\n    path: /d\n---\n\
             apiVersion: dssctl/v1\nkind: Project\nmetadata:\n  name: OTHER\nspec:\n  label: Other\n"
        )
    };
    std::fs::write(stack.join("all.yaml"), manifests("data team")).unwrap();
    let out = apply(&emu, &stack, dir.path(), &["--format", "json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let outcome = |kind: &str, name: &str| {
        report["operations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["kind"] == kind && o["name"] == name)
            .unwrap_or_else(|| panic!("{kind} {name} not in {report}"))
            .clone()
    };
    assert_eq!(outcome("group", "data team")["outcome"], "failed");
    assert!(
        outcome("group", "data team")["error"]
            .as_str()
            .unwrap()
            .contains("not allowed")
    );
    assert_eq!(outcome("user", "dana")["outcome"], "skipped");
    assert_eq!(outcome("user", "dana")["skipped_because"], "group data team");
    assert_eq!(outcome("project", "TEAM")["outcome"], "skipped");
    assert_eq!(outcome("dataset", "TEAM.d")["skipped_because"], "project TEAM");
    for (kind, name) in [("group", "fine"), ("connection", "files"), ("project", "OTHER")] {
        assert_eq!(outcome(kind, name)["outcome"], "done", "{kind} {name}");
    }
    assert_eq!(report["summary"]["failed"], 1);
    assert_eq!(report["summary"]["skipped"], 3);
    // The entry written ahead for the failed creation is gone; the others are recorded.
    let l = ledger(&c, "default").await.unwrap();
    assert!(l.resources.contains_key("group:fine"));
    assert!(!l.resources.contains_key("group:data team"));
    assert!(!l.resources.contains_key("project:TEAM"));

    // Fixed: the next run converges.
    std::fs::write(stack.join("all.yaml"), manifests("data_team")).unwrap();
    let out = apply(&emu, &stack, dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(plan_code(&emu, &stack, dir.path()).await, Some(0));
}

/// Run one SQL statement on an emulator connection; whether it succeeded.
async fn sql(emu: &RunningEmulator, connection: &str, query: &str) -> bool {
    reqwest::Client::new()
        .post(format!("{}/public/api/sql/queries/", emu.url))
        .basic_auth(KEY, Some(""))
        .json(&json!({"query": query, "connection": connection}))
        .send()
        .await
        .unwrap()
        .status()
        .is_success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_dataset_keeps_its_data_unless_drop_data_on_delete_was_applied() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("stack");
    std::fs::create_dir_all(&stack).unwrap();
    let base = "apiVersion: dssctl/v1\nkind: Connection\nmetadata:\n  name: wh\nspec:\n  type: PostgreSQL\n  params:\n    host: db\n---\n\
                apiVersion: dssctl/v1\nkind: Project\nmetadata:\n  name: P\nspec:\n  label: P\n";
    let dataset = |name: &str, drop: bool| {
        format!(
            "---\napiVersion: dssctl/v1\nkind: Dataset\nmetadata:\n  name: {name}\n  project: P\nspec:\n  type: PostgreSQL\n  params:\n    connection: wh\n    mode: table\n    table: t_{name}\n  dropDataOnDelete: {drop}\n"
        )
    };
    std::fs::write(
        stack.join("all.yaml"),
        format!("{base}{}{}", dataset("dropped", true), dataset("kept", false)),
    )
    .unwrap();
    let out = apply(&emu, &stack, dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let l = ledger(&c, "default").await.unwrap();
    assert!(l.resources["dataset:P.dropped"].drop_data_on_delete);
    assert!(!l.resources["dataset:P.kept"].drop_data_on_delete);
    for t in ["t_dropped", "t_kept"] {
        assert!(sql(&emu, "wh", &format!("CREATE TABLE {t} (id INTEGER)")).await);
        assert!(sql(&emu, "wh", &format!("INSERT INTO {t} VALUES (1)")).await);
    }

    std::fs::write(stack.join("all.yaml"), base).unwrap();
    let out = apply(&emu, &stack, dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(c.list_datasets("P").await.unwrap().is_empty());
    assert!(!sql(&emu, "wh", "SELECT * FROM t_dropped").await, "data dropped");
    assert!(sql(&emu, "wh", "SELECT * FROM t_kept").await, "data kept");
}
