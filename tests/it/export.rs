//! `dssctl export` through the real binary against the emulator on 127.0.0.1:0: the quickstart
//! applied, then exported; the export validates, plans as adoptions with no field change under
//! a fresh stack, and applies with no write but the ledger and the stamps; no secret value in
//! the exported files; `--force`, `--project` and `--include`.

use std::path::Path;
use std::process::{Output, Stdio};

use dssctl::emulator::{EmulatorConfig, RunningEmulator};
use serde_json::Value;

use crate::support::{copy_dir, dssctl_command, output, quickstart, show, start_emulator, stats};

const KEY: &str = "export-test-admin-key";

/// Run the binary (off the async runtime, which serves the emulator meanwhile).
async fn dssctl(args: Vec<String>, cwd: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = dssctl_command(&["RUST_LOG"]);
    cmd.args(&args).current_dir(cwd).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    output(cmd).await
}

fn target(emu: &RunningEmulator) -> Vec<String> {
    vec!["--url".into(), emu.url.clone(), "--api-key".into(), KEY.into()]
}

fn with(cmd: &str, rest: &[&str], emu: &RunningEmulator) -> Vec<String> {
    let mut a = vec![cmd.to_string()];
    a.extend(rest.iter().map(|s| s.to_string()));
    a.extend(target(emu));
    a
}

/// Apply the quickstart (copied into `dir`) to the emulator.
async fn apply_quickstart(emu: &RunningEmulator, dir: &Path) {
    let manifests = dir.join("manifests");
    copy_dir(&quickstart(), &manifests);
    let out = dssctl(
        with(
            "apply",
            &[manifests.to_str().unwrap(), "--auto-approve", "--no-color"],
            emu,
        ),
        dir,
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

async fn export(emu: &RunningEmulator, cwd: &Path, extra: &[&str]) -> Output {
    dssctl(with("export", extra, emu), cwd, &[]).await
}

fn read_all(dir: &Path) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            out.push_str(&read_all(&e.path()));
        } else {
            out.push_str(&std::fs::read_to_string(e.path()).unwrap());
        }
    }
    out
}

const SECRET_ENV: [(&str, &str); 1] = [("DSS_CONN_WAREHOUSE_PASSWORD", "whatever-the-operator-sets")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_of_the_quickstart_validates_plans_as_adoptions_and_applies_without_writes() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    apply_quickstart(&emu, dir.path()).await;

    let out = export(&emu, dir.path(), &["--out", "exported"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("DSS_CONN_WAREHOUSE_PASSWORD"), "{stderr}");
    let exported = dir.path().join("exported");
    for f in [
        "groups.yaml",
        "users.yaml",
        "connections.yaml",
        "variables.yaml",
        "projects/CHURN.yaml",
        "projects/SALES.yaml",
    ] {
        assert!(exported.join(f).is_file(), "{f} missing: {}", show(&out));
    }

    // No secret value, no ledger, no password, no stamp in the files.
    let text = read_all(&exported);
    for secret in ["secrets/warehouse-password", "secrets/alice-password"] {
        let value = std::fs::read_to_string(quickstart().join(secret)).unwrap();
        assert!(!text.contains(value.trim_end()), "a secret was exported");
    }
    assert!(
        !text.contains("e:AES:"),
        "an encrypted value was exported:\n{text}"
    );
    assert!(
        !text.contains("dssctl."),
        "dssctl's own variables or stamps exported:\n{text}"
    );
    assert!(!text.contains("password: "), "{text}");
    assert!(text.contains("fromEnv: DSS_CONN_WAREHOUSE_PASSWORD"), "{text}");

    let out = dssctl(vec!["validate".into(), "exported".into()], dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}\n{text}", show(&out));

    // A fresh stack: nothing is in its ledger, so everything is adopted, with no field change.
    let out = dssctl(
        with(
            "plan",
            &["exported", "--stack", "adopter", "--format", "json"],
            &emu,
        ),
        dir.path(),
        &SECRET_ENV,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ops = plan["operations"].as_array().expect("operations");
    // 5 groups, 4 users, 3 connections (the quickstart's and the instance's built-ins:
    // admin, administrators, readers, data_team, filesystem_folders), the global variables,
    // the general settings, 2 projects and their 5 datasets: every one adopted, with no field
    // change.
    assert_eq!(ops.len(), 21, "{plan:#}");
    assert_eq!(plan["summary"]["adopt"], 21, "{plan:#}");
    for op in ops {
        assert_eq!(op["action"], "adopt", "{op:#}");
        assert!(
            op["changes"].as_array().is_none_or(Vec::is_empty),
            "a field change on adoption: {op:#}"
        );
    }
    assert!(plan["errors"].as_array().is_none_or(Vec::is_empty), "{plan:#}");

    // Apply converges writing only the ledger and the stamps.
    let before = stats(&emu, KEY).await;
    let out = dssctl(
        with(
            "apply",
            &["exported", "--stack", "adopter", "--auto-approve", "--no-color"],
            &emu,
        ),
        dir.path(),
        &SECRET_ENV,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let after = stats(&emu, KEY).await;
    let writes: Vec<(String, u64)> = after
        .by_route
        .iter()
        .filter(|(route, n)| {
            let was = before.by_route.get(*route).copied().unwrap_or(0);
            **n > was && !route.starts_with("GET")
        })
        .map(|(r, n)| (r.clone(), n - before.by_route.get(r).copied().unwrap_or(0)))
        .collect();
    assert!(
        writes.iter().any(|(r, _)| r.contains("/admin/variables")),
        "the ledger was not written: {writes:?}"
    );
    for (route, _) in &writes {
        assert!(
            route.contains("/metadata") || route.contains("/admin/variables"),
            "an unexpected write {route}: {writes:?}\n{}",
            show(&out)
        );
    }
    let out = dssctl(
        with(
            "plan",
            &["exported", "--stack", "adopter", "--detailed-exitcode"],
            &emu,
        ),
        dir.path(),
        &SECRET_ENV,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_files_are_kept_unless_forced() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    apply_quickstart(&emu, dir.path()).await;
    let out_dir = dir.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    std::fs::write(out_dir.join("groups.yaml"), "# mine\n").unwrap();

    let out = export(&emu, dir.path(), &["--out", "out"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("groups.yaml") && stderr.contains("--force"),
        "{stderr}"
    );
    // Nothing at all was written.
    assert_eq!(
        std::fs::read_to_string(out_dir.join("groups.yaml")).unwrap(),
        "# mine\n"
    );
    assert!(!out_dir.join("users.yaml").exists());

    let out = export(&emu, dir.path(), &["--out", "out", "--force"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let groups = std::fs::read_to_string(out_dir.join("groups.yaml")).unwrap();
    assert!(groups.contains("name: data_scientists"), "{groups}");
    assert!(out_dir.join("users.yaml").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_and_include_select_what_is_exported() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    apply_quickstart(&emu, dir.path()).await;

    let out = export(
        &emu,
        dir.path(),
        &[
            "--out",
            "one",
            "--project",
            "CHURN",
            "--include",
            "projects,datasets",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let one = dir.path().join("one");
    let names: Vec<String> = walk(&one);
    assert_eq!(names, vec!["projects/CHURN.yaml".to_string()], "{}", show(&out));
    let churn = std::fs::read_to_string(one.join("projects/CHURN.yaml")).unwrap();
    assert!(
        churn.contains("kind: Project") && churn.contains("kind: Dataset"),
        "{churn}"
    );
    assert!(churn.contains("project: CHURN"), "{churn}");
    // The plan of one project alone (against what exists) adopts it with no change.
    let out = dssctl(
        with("plan", &["one", "--stack", "solo", "--detailed-exitcode"], &emu),
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.to_lowercase().contains("adopt"), "{text}");

    let out = export(&emu, dir.path(), &["--out", "none", "--project", "NOPE"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("NOPE"),
        "{}",
        show(&out)
    );

    let out = export(&emu, dir.path(), &["--out", "groups", "--include", "groups"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(walk(&dir.path().join("groups")), vec!["groups.yaml".to_string()]);
}

/// The files under `dir`, relative, sorted.
fn walk(dir: &Path) -> Vec<String> {
    fn go(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                go(root, &e.path(), out);
            } else {
                let rel = e
                    .path()
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    go(dir, dir, &mut out);
    out.sort();
    out
}
