//! `dssctl plan` through the real binary against the emulator: the quickstart from empty
//! (creates), after the same state was put in place through the client (adoptions without
//! field changes), with the stack's ledger (no changes, exit 0), after one live tag change
//! (exactly one field of one operation, exit 2); the JSON document; the request budget of
//! `plan::scope` counted through `/__emulator/stats` with zero writes; no secret in any output;
//! the embedded emulator when no URL is given.

use std::path::{Path, PathBuf};
use std::process::Output;

use dssctl::client::DssClient;
use dssctl::emulator::{EmulatorConfig, RunningEmulator};
use dssctl::manifest::resolve_secret;
use dssctl::plan::fingerprint::secret_fingerprint;
use dssctl::plan::ledger::{Ledger, LedgerEntry, ledger_variable};
use dssctl::plan::overlay::{apply_overlay, set_path};
use dssctl::plan::{Action, Plan, SubDoc, Write};
use dssctl::wire::{self, CreateProjectRequest};
use serde_json::{Value, json};

use crate::support::{
    cli_args, client, dssctl_command, output, quickstart, reset_stats, secrets_of_quickstart, start_emulator,
    stats,
};

const KEY: &str = "plan-test-admin-key";

/// Run the binary (off the async runtime, which serves the emulator meanwhile).
async fn dssctl(args: Vec<String>, cwd: Option<PathBuf>) -> Output {
    let mut cmd = dssctl_command(&[]);
    cmd.args(&args);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    output(cmd).await
}

fn plan_args(emu: &RunningEmulator, path: &Path, extra: &[&str]) -> Vec<String> {
    cli_args("plan", path, emu, KEY, extra)
}

async fn json_plan(emu: &RunningEmulator, path: &Path) -> (Plan, Output) {
    let out = dssctl(
        plan_args(emu, path, &["--format", "json", "--detailed-exitcode"]),
        None,
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let plan: Plan = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "plan JSON does not parse: {e}\nstdout:\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (plan, out)
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap()
}

fn from_value<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn write_of(op: &dssctl::plan::Operation, sub: SubDoc) -> Option<&Write> {
    op.writes.iter().find(|w| w.subdocument == sub)
}

/// A write put on a fresh document, secrets resolved from the manifests of `base`.
fn overlaid(doc: Value, write: &Write, base: &Path) -> Value {
    let mut doc = doc;
    apply_overlay(write.subdocument, &mut doc, &write.overlay);
    for s in write.secrets.iter().filter(|s| s.changed) {
        let value = resolve_secret(&s.reference, base).expect("secret resolves");
        set_path(&mut doc, &s.path, json!(value));
    }
    doc
}

/// Put a plan's creates and writes in place through the client, as an apply would: create,
/// then GET, overlay, PUT each sub-document. Secrets of `base`'s manifests.
async fn put_in_place(c: &DssClient, plan: &Plan, base: &Path) {
    for op in &plan.operations {
        let create = op.action == Action::Create;
        match op.kind {
            dssctl::kinds::group::ID => {
                if create {
                    let g = wire::Group {
                        name: op.name.clone(),
                        ..Default::default()
                    };
                    c.create_group(&g).await.unwrap();
                }
                if let Some(w) = write_of(op, SubDoc::DEFINITION) {
                    let doc = overlaid(to_value(&c.get_group(&op.name).await.unwrap()), w, base);
                    c.update_group(&op.name, &from_value(doc)).await.unwrap();
                }
            }
            dssctl::kinds::user::ID => {
                if let Some(w) = write_of(op, SubDoc::DEFINITION) {
                    if create {
                        let doc = overlaid(json!({"login": op.name}), w, base);
                        c.create_user(&from_value(doc)).await.unwrap();
                    }
                    let doc = overlaid(to_value(&c.get_user(&op.name).await.unwrap()), w, base);
                    c.update_user(&op.name, &from_value(doc)).await.unwrap();
                }
            }
            dssctl::kinds::connection::ID => {
                if let Some(w) = write_of(op, SubDoc::DEFINITION) {
                    if create {
                        let doc = overlaid(json!({"name": op.name}), w, base);
                        c.create_connection(&from_value(doc)).await.unwrap();
                    }
                    let doc = overlaid(to_value(&c.get_connection(&op.name).await.unwrap()), w, base);
                    c.update_connection(&op.name, &from_value(doc)).await.unwrap();
                }
            }
            dssctl::kinds::project::ID => {
                if create {
                    let req = CreateProjectRequest {
                        project_key: op.name.clone(),
                        ..Default::default()
                    };
                    c.create_project(&req).await.unwrap();
                }
                if let Some(w) = write_of(op, SubDoc::METADATA) {
                    let doc = overlaid(
                        to_value(&c.get_project_metadata(&op.name).await.unwrap()),
                        w,
                        base,
                    );
                    c.set_project_metadata(&op.name, &from_value(doc)).await.unwrap();
                }
                if let Some(w) = write_of(op, SubDoc::PERMISSIONS) {
                    let doc = overlaid(
                        to_value(&c.get_project_permissions(&op.name).await.unwrap()),
                        w,
                        base,
                    );
                    c.set_project_permissions(&op.name, &from_value(doc))
                        .await
                        .unwrap();
                }
                if let Some(w) = write_of(op, SubDoc::VARIABLES) {
                    let doc = overlaid(
                        to_value(&c.get_project_variables(&op.name).await.unwrap()),
                        w,
                        base,
                    );
                    c.set_project_variables(&op.name, &from_value(doc)).await.unwrap();
                }
            }
            dssctl::kinds::dataset::ID => {
                let (key, name) = op.name.split_once('.').unwrap();
                if let Some(w) = write_of(op, SubDoc::SETTINGS) {
                    if create {
                        let doc = overlaid(json!({"projectKey": key, "name": name}), w, base);
                        c.create_dataset(key, &from_value(doc)).await.unwrap();
                    }
                    let doc = overlaid(to_value(&c.get_dataset(key, name).await.unwrap()), w, base);
                    c.update_dataset(key, name, &from_value(doc)).await.unwrap();
                }
                if let Some(w) = write_of(op, SubDoc::SCHEMA) {
                    let doc = overlaid(to_value(&c.get_dataset_schema(key, name).await.unwrap()), w, base);
                    c.set_dataset_schema(key, name, &from_value(doc)).await.unwrap();
                }
                if let Some(w) = write_of(op, SubDoc::METADATA) {
                    let doc = overlaid(
                        to_value(&c.get_dataset_metadata(key, name).await.unwrap()),
                        w,
                        base,
                    );
                    c.set_dataset_metadata(key, name, &from_value(doc)).await.unwrap();
                }
            }
            dssctl::kinds::variables::ID => {
                if let Some(w) = write_of(op, SubDoc::VALUES) {
                    let vars = c.get_global_variables().await.unwrap();
                    let doc = overlaid(json!({ "values": vars }), w, base);
                    c.set_global_variables(doc["values"].as_object().unwrap())
                        .await
                        .unwrap();
                }
            }
            other => panic!("this test does not write kind {other}"),
        }
    }
}

/// Record every operation of `plan` in the stack's ledger, as apply does.
async fn record_ledger(c: &DssClient, plan: &Plan, base: &Path) {
    let mut ledger = Ledger::new();
    for op in &plan.operations {
        let id = op.id();
        let mut entry = LedgerEntry {
            kind: op.kind,
            name: op.name.clone(),
            applied_at: "2026-01-01T00:00:00Z".into(),
            git_commit: None,
            protect: op.ledger.as_ref().is_some_and(|l| l.protect),
            drop_data_on_delete: op.ledger.as_ref().is_some_and(|l| l.drop_data_on_delete),
            secrets: Default::default(),
            keep_on_removal: false,
            dss_id: None,
        };
        for s in &op.secrets {
            let value = resolve_secret(&s.reference, base).unwrap();
            entry.secrets.insert(
                s.path.clone(),
                secret_fingerprint(&ledger.salt, &id, &s.path, &value),
            );
        }
        ledger.insert(entry);
    }
    let mut vars = c.get_global_variables().await.unwrap();
    vars.insert(ledger_variable(&plan.stack), ledger.to_value());
    c.set_global_variables(&vars).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_from_create_to_adopt_to_converged_to_one_tag() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let qs = quickstart();

    // 1. A fresh instance: everything is created, except what every DSS already holds (the
    // global variables, the built-in connection filesystem_managed): adopted.
    let (plan, out) = json_plan(&emu, &qs).await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    for op in &plan.operations {
        let expected = if op.kind == dssctl::kinds::variables::ID || op.name == "filesystem_managed" {
            Action::Adopt
        } else {
            Action::Create
        };
        assert_eq!(op.action, expected, "{} {}", op.kind, op.name);
    }
    let creates = plan
        .operations
        .iter()
        .filter(|o| o.action == Action::Create)
        .count();
    assert_eq!(
        creates,
        2 + 3 + 1 + 2 + 5,
        "groups, users, connections, projects, datasets"
    );
    assert_eq!(plan.summary.create, creates);
    let text = dssctl(plan_args(&emu, &qs, &["--no-color"]), None).await;
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("  + project CHURN"), "{text}");
    assert!(
        text.contains("Plan: 13 to add, 0 to change, 0 to delete, 2 to adopt, 0 unchanged."),
        "{text}"
    );

    // 2. The same state put in place through the client: adopted, no field change.
    put_in_place(&c, &plan, &qs).await;
    let (adopt, out) = json_plan(&emu, &qs).await;
    assert!(adopt.errors.is_empty(), "{:?}", adopt.errors);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(adopt.operations.len(), plan.operations.len());
    for op in &adopt.operations {
        assert_eq!(op.action, Action::Adopt, "{} {}", op.kind, op.name);
        assert!(op.changes.is_empty(), "{} {}: {:?}", op.kind, op.name, op.changes);
    }

    // 3. With those resources in the stack's ledger: no changes, exit 0.
    record_ledger(&c, &adopt, &qs).await;
    let (converged, out) = json_plan(&emu, &qs).await;
    assert!(converged.operations.is_empty(), "{:#?}", converged.operations);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(converged.summary.unchanged, 15);
    let text = dssctl(plan_args(&emu, &qs, &["--detailed-exitcode"]), None).await;
    assert_eq!(text.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&text.stdout).contains("No changes."));

    // 4. One tag changed live on one dataset: exactly that field, one operation, exit 2.
    let mut meta = c.get_dataset_metadata("CHURN", "customers").await.unwrap();
    meta.tags.push("drift".into());
    c.set_dataset_metadata("CHURN", "customers", &meta).await.unwrap();
    let (drift, out) = json_plan(&emu, &qs).await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(drift.operations.len(), 1, "{:#?}", drift.operations);
    let op = &drift.operations[0];
    assert_eq!(
        (op.kind, op.name.as_str(), op.action),
        (dssctl::kinds::dataset::ID, "CHURN.customers", Action::Update)
    );
    assert_eq!(op.subdocuments, vec![SubDoc::METADATA]);
    assert_eq!(op.changes.len(), 1);
    assert_eq!(op.changes[0].path, "tags");
    assert_eq!(op.changes[0].before, json!(["drift", "pii"]));
    assert_eq!(op.changes[0].after, json!(["pii"]));
    assert!(op.writes[0].fingerprint.is_some());

    // The JSON document follows the documented shape.
    let raw: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(raw["format_version"], 2);
    assert_eq!(raw["target"], json!(emu.url));
    assert_eq!(raw["stack"], "default");
    for k in ["create", "update", "delete", "unchanged"] {
        assert!(raw["summary"][k].is_u64(), "{k}");
    }
    let op = &raw["operations"][0];
    assert_eq!(op["kind"], "dataset");
    assert_eq!(op["name"], "CHURN.customers");
    assert_eq!(op["action"], "update");
    assert_eq!(op["subdocuments"], json!(["metadata"]));
    assert_eq!(
        op["changes"][0],
        json!({"path": "tags", "before": ["drift", "pii"], "after": ["pii"]})
    );

    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_value_in_any_format_nor_in_a_saved_plan() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let qs = quickstart();
    let (plan, _) = json_plan(&emu, &qs).await;
    put_in_place(&c, &plan, &qs).await;
    // A ledger whose fingerprints are of other values: every secret shows as changed.
    let mut ledger = Ledger::new();
    for op in &plan.operations {
        let mut entry = dssctl::plan::LedgerEntry {
            kind: op.kind,
            name: op.name.clone(),
            applied_at: "1970-01-01T00:00:00Z".into(),
            git_commit: None,
            protect: false,
            drop_data_on_delete: false,
            secrets: Default::default(),
            keep_on_removal: false,
            dss_id: None,
        };
        for s in &op.secrets {
            entry.secrets.insert(s.path.clone(), "0".repeat(64));
        }
        ledger.insert(entry);
    }
    let mut vars = c.get_global_variables().await.unwrap();
    vars.insert(ledger_variable("default"), ledger.to_value());
    c.set_global_variables(&vars).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("plan.json");
    let mut outputs = Vec::new();
    for format in ["text", "json", "markdown"] {
        let out = dssctl(
            plan_args(&emu, &qs, &["--format", format, "--out", saved.to_str().unwrap()]),
            None,
        )
        .await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        outputs.push(String::from_utf8_lossy(&out.stdout).into_owned());
        outputs.push(String::from_utf8_lossy(&out.stderr).into_owned());
        outputs.push(std::fs::read_to_string(&saved).unwrap());
    }
    assert!(
        outputs[0].contains("params.password: (sensitive, changed)"),
        "{}",
        outputs[0]
    );
    assert!(outputs[6].contains("(sensitive, changed)"), "{}", outputs[6]);
    let saved: Plan = serde_json::from_str(&outputs[2]).unwrap();
    let conn = saved.operations.iter().find(|o| o.name == "warehouse").unwrap();
    assert!(conn.writes[0].secrets[0].changed);
    assert!(
        conn.writes[0].fingerprint.is_some(),
        "saved plans carry the live fingerprint"
    );
    for secret in secrets_of_quickstart() {
        for (i, o) in outputs.iter().enumerate() {
            assert!(!o.contains(&secret), "output {i} leaks a secret");
        }
    }
    emu.shutdown().await;
}

/// `P` projects of `D` datasets each (one file per project), with a group and a connection.
fn stack_manifests(dir: &Path, projects: usize, datasets: usize) {
    std::fs::write(
        dir.join("common.yaml"),
        "apiVersion: dssctl/v1\nkind: Group\nmetadata: {name: readers}\nspec: {description: Readers}\n---\napiVersion: dssctl/v1\nkind: Connection\nmetadata: {name: files}\nspec: {type: Filesystem, params: {root: /data}}\n",
    )
    .unwrap();
    for p in 0..projects {
        let mut docs = vec![format!(
            "apiVersion: dssctl/v1\nkind: Project\nmetadata: {{name: P{p:02}}}\nspec:\n  label: Project {p}\n  description: Project number {p}.\n  tags: [bench, p{p}]\n  permissions: [{{group: readers, type: READER}}]\n  variables: {{standard: {{n: {p}}}}}\n"
        )];
        for d in 0..datasets {
            docs.push(format!(
                "apiVersion: dssctl/v1\nkind: Dataset\nmetadata: {{name: d{d:03}, project: P{p:02}}}\nspec:\n  type: Filesystem\n  params: {{connection: files, path: /P{p:02}/d{d:03}}}\n  formatType: csv\n  schema: {{columns: [{{name: id, type: bigint}}, {{name: v, type: string}}]}}\n  label: Dataset {d}\n  description: Rows of {d}.\n  tags: [t{d}]\n"
            ));
        }
        std::fs::write(dir.join(format!("p{p:02}.yaml")), docs.join("---\n")).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_budget_holds_and_a_plan_never_writes() {
    const P: usize = 20;
    const D: usize = 10;
    // Empty: the group `readers` these manifests declare is one a fresh DSS already holds.
    let emu = start_emulator(
        KEY,
        EmulatorConfig {
            empty: true,
            ..EmulatorConfig::default()
        },
    )
    .await;
    let c = client(&emu, KEY);
    let dir = tempfile::tempdir().unwrap();
    stack_manifests(dir.path(), P, D);

    // Nothing exists yet: the variables, the project, group and connection lists, and
    // nothing at all for the projects that do not exist.
    reset_stats(&emu, KEY).await;
    let (plan, _) = json_plan(&emu, dir.path()).await;
    assert_eq!(plan.summary.create, 2 + P + P * D);
    let s = stats(&emu, KEY).await;
    assert_eq!(s.writes, 0, "{s:?}");
    assert_eq!(s.total, 1 + 3, "{s:?}");

    put_in_place(&c, &plan, dir.path()).await;
    let (adopt, _) = json_plan(&emu, dir.path()).await;
    record_ledger(&c, &adopt, dir.path()).await;

    // Converged: 1 + 3 lists + per project (datasets + permissions + variables); the lists
    // carry descriptions and labels, so no metadata GET.
    reset_stats(&emu, KEY).await;
    let started = std::time::Instant::now();
    let (converged, _) = json_plan(&emu, dir.path()).await;
    let elapsed = started.elapsed();
    assert!(converged.operations.is_empty(), "{:#?}", converged.operations);
    assert_eq!(converged.summary.unchanged, 2 + P + P * D);
    let s = stats(&emu, KEY).await;
    assert_eq!(s.writes, 0, "{s:?}");
    assert_eq!(s.total as usize, 1 + 3 + 3 * P, "{s:?}");
    assert_eq!(
        s.by_route.get("GET /projects/{projectKey}/datasets"),
        Some(&(P as u64)),
        "{s:?}"
    );
    assert_eq!(
        s.by_route.get("GET /projects/{projectKey}/metadata"),
        None,
        "{s:?}"
    );
    eprintln!(
        "plan of {P} projects x {D} datasets: {} requests ({:?} incl. process start)",
        s.total, elapsed
    );

    // The formula of plan::scope, as observe evaluates it, is what the emulator counted.
    reset_stats(&emu, KEY).await;
    let loaded = dssctl::manifest::load_paths(&[dir.path().to_path_buf()]).unwrap();
    let observation = dssctl::observe::observe(&c, &loaded.resources, "default", 8)
        .await
        .unwrap();
    let s = stats(&emu, KEY).await;
    assert_eq!(observation.requests(), s.total as usize);
    assert_eq!(observation.conditional_reads, 0);
    assert_eq!(observation.live.len(), P);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_url_the_embedded_emulator_is_used_and_said_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("g.yaml"),
        "apiVersion: dssctl/v1\nkind: Group\nmetadata: {name: team}\nspec: {description: Team}\n",
    )
    .unwrap();
    let out = dssctl(
        vec!["plan".into(), "--no-color".into()],
        Some(dir.path().to_path_buf()),
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("embedded DSS emulator"), "{stderr}");
    assert!(stderr.contains(".dssctl/local"), "{stderr}");
    assert!(dir.path().join(".dssctl/local").is_dir());
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".dssctl/.gitignore")).unwrap(),
        "*\n"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("+ group team"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_without_a_key_and_bad_manifests_fail_with_exit_1() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let out = dssctl(
        vec![
            "plan".into(),
            quickstart().display().to_string(),
            "--url".into(),
            emu.url.clone(),
        ],
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no API key"));

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yaml"),
        "apiVersion: dssctl/v1\nkind: Group\nmetadata: {name: team}\nspec: {descripton: Team}\n",
    )
    .unwrap();
    let out = dssctl(plan_args(&emu, dir.path(), &["--detailed-exitcode"]), None).await;
    assert_eq!(out.status.code(), Some(1));
    // Nothing is written; the one read that may have started while the manifests loaded is
    // the global variables (the ledger), there being no ledger to name more.
    let stats = stats(&emu, KEY).await;
    assert_eq!(stats.writes, 0, "invalid manifests cause no write");
    assert!(stats.total <= 1, "{stats:?}");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reference_neither_declared_nor_live_is_an_error_at_its_line() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    // A group that exists only live is fine.
    c.create_group(&wire::Group {
        name: "live_only".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("users.yaml"),
        "apiVersion: dssctl/v1\nkind: User\nmetadata:\n  name: dave\nspec:\n  displayName: Dave\n  groups:\n    - live_only\n    - ghosts\n",
    )
    .unwrap();
    let out = dssctl(plan_args(&emu, dir.path(), &["--no-color"]), None).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let file = dir.path().join("users.yaml");
    let expected = format!("{}:9:", file.display());
    let line = stdout
        .lines()
        .find(|l| l.starts_with("Error:") && l.contains("ghosts"))
        .unwrap_or_else(|| panic!("no error names the group: {stdout}"));
    assert!(line.contains(&expected), "{line}");
    assert!(
        line.contains("neither declared in the manifests nor present on the instance"),
        "{line}"
    );
    assert!(
        !stdout
            .lines()
            .any(|l| l.starts_with("Error:") && l.contains("live_only")),
        "{stdout}"
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_is_read_only_where_the_lists_lack_a_managed_field() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    for key in ["BARE", "FULL"] {
        let req = CreateProjectRequest {
            project_key: key.into(),
            description: (key == "FULL").then(|| "Described.".to_string()),
            ..Default::default()
        };
        c.create_project(&req).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.yaml"),
        "apiVersion: dssctl/v1\nkind: Project\nmetadata: {name: BARE}\nspec: {description: Now described.}\n---\n\
         apiVersion: dssctl/v1\nkind: Project\nmetadata: {name: FULL}\nspec: {description: Described.}\n---\n\
         apiVersion: dssctl/v1\nkind: Project\nmetadata: {name: ABSENT}\nspec: {description: New., custom: {kv: {a: 1}}}\n",
    )
    .unwrap();
    let loaded = dssctl::manifest::load_paths(&[dir.path().to_path_buf()]).unwrap();
    reset_stats(&emu, KEY).await;
    let observation = dssctl::observe::observe(&c, &loaded.resources, "default", 4)
        .await
        .unwrap();
    let s = stats(&emu, KEY).await;
    // The variables, the project list, and BARE's metadata (its list item has no description);
    // nothing for FULL (the list carries it) nor for ABSENT (it does not exist).
    assert_eq!(observation.conditional_reads, 1);
    assert_eq!(s.total, 3, "{s:?}");
    assert_eq!(observation.requests(), 3);
    assert_eq!(s.by_route.get("GET /projects/{projectKey}/metadata"), Some(&1));
    emu.shutdown().await;
}

#[tokio::test]
async fn a_project_owned_by_the_built_in_admin_plans_on_a_fresh_instance() {
    // A fresh DSS (and so a fresh emulator) has the `admin` user: a project owned by it is a
    // valid reference, neither declared nor to be created.
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("project.yaml"),
        "apiVersion: dssctl/v1\nkind: Project\nmetadata: {name: OWNED}\nspec:\n  label: Owned by admin\n  owner: admin\n",
    )
    .unwrap();
    let out = dssctl(plan_args(&emu, dir.path(), &["--detailed-exitcode"]), None).await;
    assert_eq!(out.status.code(), Some(2), "{}", crate::support::show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("+ project OWNED"), "{text}");
    assert!(text.contains("Plan: 1 to add"), "{text}");
}
