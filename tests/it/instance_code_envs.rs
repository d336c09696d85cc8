//! `CodeEnv` and `Plugin` through the real binary against the emulator on 127.0.0.1:0: from
//! empty, converged (a second apply writes nothing), an update of each field, adoption of
//! objects created outside dssctl, the export round trip, prune with its guards (an env a
//! plugin's settings name is refused at the plugin's line), a failing
//! package installation (its log's last lines in the report; the broken env planned for a
//! rebuild, which converges once the requirement is fixed), and the identity and source
//! errors.

use std::io::Write as _;
use std::path::Path;
use std::process::{Output, Stdio};

use dssctl::client::DssClient;
use dssctl::emulator::{EmulatorConfig, RunningEmulator};
use dssctl::kinds::plugin::PluginSource;
use serde_json::{Value, json};

use crate::support::{cli_args, client, dssctl_command, output, reset_stats, show, start_emulator, stats};

const KEY: &str = "code-env-test-admin-key";

const GROUPS: &str = "apiVersion: dssctl/v1\nkind: Group\nmetadata:\n  name: data_team\n---\napiVersion: dssctl/v1\nkind: Group\nmetadata:\n  name: analysts\n";

const ENV: &str = r#"apiVersion: dssctl/v1
kind: CodeEnv
metadata:
  name: py311_ml
spec:
  language: python
  pythonInterpreter: PYTHON311
  installCorePackages: true
  installJupyterSupport: false
  packages:
    - pandas==2.2.2
    - scikit-learn>=1.4
  usableByAll: false
  owner: admin
  permissions:
    - {group: data_team, use: true, update: false, manage: false}
"#;

const PLUGIN: &str = r#"apiVersion: dssctl/v1
kind: Plugin
metadata:
  name: googlesheets
spec:
  source:
    store: {version: "1.2.0"}
  settings:
    config: {maxRows: 1000}
  codeEnv: {create: true}
"#;

async fn dssctl(args: Vec<String>, cwd: &Path) -> Output {
    let mut cmd = dssctl_command(&["RUST_LOG"]);
    cmd.args(&args).current_dir(cwd).stdin(Stdio::null());
    output(cmd).await
}

async fn apply(emu: &RunningEmulator, path: &Path, extra: &[&str]) -> Output {
    let mut e = vec!["--auto-approve", "--no-color"];
    e.extend_from_slice(extra);
    dssctl(cli_args("apply", path, emu, KEY, &e), path.parent().unwrap()).await
}

async fn plan(emu: &RunningEmulator, path: &Path, extra: &[&str]) -> Output {
    let mut e = vec!["--no-color"];
    e.extend_from_slice(extra);
    dssctl(cli_args("plan", path, emu, KEY, &e), path.parent().unwrap()).await
}

async fn plan_json(emu: &RunningEmulator, path: &Path) -> Value {
    let out = plan(emu, path, &["--format", "json"]).await;
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", show(&out)))
}

/// `plan --detailed-exitcode`: 0 when converged.
async fn converged(emu: &RunningEmulator, path: &Path) -> bool {
    let out = plan(emu, path, &["--detailed-exitcode"]).await;
    out.status.code() == Some(0)
}

fn stack(dir: &Path, files: &[(&str, &str)]) -> std::path::PathBuf {
    let s = dir.join("stack");
    std::fs::create_dir_all(&s).unwrap();
    for (name, text) in files {
        std::fs::write(s.join(name), text).unwrap();
    }
    s
}

fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{} lacks {from:?}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).unwrap();
}

async fn definition(c: &DssClient, name: &str) -> Value {
    c.get_code_env("PYTHON", name).await.unwrap()
}

async fn plugin_item(c: &DssClient, id: &str) -> Value {
    c.list_plugins()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p["id"] == id)
        .unwrap_or_else(|| panic!("plugin {id} is not installed"))
}

/// What a run printed, stdout then stderr.
fn both(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Apply `path`, expecting success; its stdout.
async fn applied(emu: &RunningEmulator, path: &Path) -> String {
    let out = apply(emu, path, &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_empty_converged_then_each_field_updates() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let dir = tempfile::tempdir().unwrap();
    let s = stack(
        dir.path(),
        &[
            ("groups.yaml", GROUPS),
            ("env.yaml", ENV),
            ("plugin.yaml", PLUGIN),
        ],
    );

    let stdout = applied(&emu, &s).await;
    // data_team is one of a fresh emulator's groups: adopted.
    assert!(
        stdout.contains("Apply complete: 3 created, 0 updated, 1 adopted, 0 deleted, 0 failed, 0 skipped."),
        "{stdout}"
    );
    assert!(
        stdout.contains("note: the packages of code env py311_ml: package installation done: 2 requested package(s) recorded as installed"),
        "the install outcome is reported:\n{stdout}"
    );
    let def = definition(&c, "py311_ml").await;
    assert_eq!(def["specPackageList"], "pandas==2.2.2\nscikit-learn>=1.4");
    assert_eq!(def["actualPackageList"], "pandas==2.2.2\nscikit-learn>=1.4");
    assert_eq!(def["desc"]["pythonInterpreter"], "PYTHON311");
    assert_eq!(def["desc"]["installJupyterSupport"], false);
    assert_eq!(
        def["permissions"],
        json!([{"group": "data_team", "use": true, "update": false, "manageUsers": false}])
    );
    let p = plugin_item(&c, "googlesheets").await;
    assert_eq!(
        (p["version"].as_str(), p["installedFrom"].as_str()),
        (Some("1.2.0"), Some("STORE"))
    );
    let settings = c.get_plugin_settings("googlesheets").await.unwrap();
    assert_eq!(settings["config"], json!({"maxRows": 1000}));
    assert!(
        settings["presets"].is_array(),
        "settings not managed are kept: {settings}"
    );

    // Converged: no change, and a second apply writes nothing.
    assert!(converged(&emu, &s).await);
    reset_stats(&emu, KEY).await;
    let stdout = applied(&emu, &s).await;
    assert!(stdout.contains("No changes."), "{stdout}");
    let st = stats(&emu, KEY).await;
    assert_eq!(
        st.writes, 0,
        "a converged apply writes nothing: {:?}",
        st.by_route
    );

    // Each field, one at a time: the plan names it, apply writes it, and it converges.
    let env = s.join("env.yaml");
    let plugin = s.join("plugin.yaml");
    let steps: [(&Path, &str, &str, &str); 8] = [
        (
            &env,
            "    - scikit-learn>=1.4\n",
            "    - scikit-learn>=1.4\n    - requests\n",
            "packages",
        ),
        (&env, "usableByAll: false", "usableByAll: true", "usableByAll"),
        (&env, "owner: admin", "owner: alice", "desc.owner"),
        (
            &env,
            "    - {group: data_team, use: true, update: false, manage: false}",
            "    - {group: analysts, use: true, update: true, manage: true}",
            "permissions[group=analysts]",
        ),
        (
            &env,
            "installJupyterSupport: false",
            "installJupyterSupport: true",
            "desc.installJupyterSupport",
        ),
        (&env, "PYTHON311", "PYTHON312", "desc.pythonInterpreter"),
        (
            &plugin,
            "version: \"1.2.0\"",
            "version: \"1.3.0\"",
            "source.store.version",
        ),
        (&plugin, "maxRows: 1000", "maxRows: 50", "config.maxRows"),
    ];
    // The owner named must exist.
    c.create_user(
        &serde_json::from_value(json!({"login": "alice", "password": "x", "displayName": "Alice"})).unwrap(),
    )
    .await
    .unwrap();
    for (file, from, to, path) in steps {
        edit(file, from, to);
        let plan = plan_json(&emu, &s).await;
        let ops = plan["operations"].as_array().unwrap();
        assert_eq!(ops.len(), 1, "{path}: {plan:#}");
        assert_eq!(ops[0]["action"], "update", "{path}: {plan:#}");
        let paths: Vec<&str> = ops[0]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["path"].as_str())
            .collect();
        assert!(paths.contains(&path), "{path} not in {paths:?}");
        applied(&emu, &s).await;
        assert!(converged(&emu, &s).await, "{path} does not converge");
    }
    let def = definition(&c, "py311_ml").await;
    assert_eq!(
        def["actualPackageList"],
        "pandas==2.2.2\nscikit-learn>=1.4\nrequests"
    );
    assert_eq!(def["usableByAll"], true);
    assert_eq!(def["desc"]["usableByAll"], true, "DSS copies it into desc");
    assert_eq!(def["desc"]["owner"], "alice");
    assert_eq!(def["desc"]["pythonInterpreter"], "PYTHON312");
    assert_eq!(
        def["permissions"],
        json!([{"group": "analysts", "use": true, "update": true, "manageUsers": true}]),
        "grants are authoritative"
    );
    assert_eq!(plugin_item(&c, "googlesheets").await["version"], "1.3.0");
    let settings = c.get_plugin_settings("googlesheets").await.unwrap();
    assert_eq!(settings["config"]["maxRows"], 50);
}

/// A plugin zip with `plugin.json` and a declared Python code env.
fn plugin_zip(path: &Path, id: &str, version: &str) {
    let file = std::fs::File::create(path).unwrap();
    let mut zw = zip::ZipWriter::new(file);
    let opts = zip::write::SimpleFileOptions::default();
    let entries = [
        (
            "plugin.json",
            json!({"id": id, "version": version, "meta": {"label": id}}).to_string(),
        ),
        (
            "code-env/python/desc.json",
            json!({"acceptedPythonInterpreters": ["PYTHON311"]}).to_string(),
        ),
        ("code-env/python/spec/requirements.txt", "requests\n".to_string()),
        ("custom-recipes/fetch/recipe.json", "{}".to_string()),
    ];
    for (name, text) in entries {
        zw.start_file(name, opts).unwrap();
        zw.write_all(text.as_bytes()).unwrap();
    }
    zw.finish().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zip_plugin_gets_its_code_env_and_a_new_version_reinstalls_it() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let dir = tempfile::tempdir().unwrap();
    let s = stack(
        dir.path(),
        &[(
            "plugin.yaml",
            "apiVersion: dssctl/v1\nkind: Plugin\nmetadata:\n  name: fetcher\nspec:\n  source:\n    zip: {fromFile: archives/fetcher.zip}\n  codeEnv: {create: true}\n",
        )],
    );
    std::fs::create_dir_all(s.join("archives")).unwrap();
    plugin_zip(&s.join("archives/fetcher.zip"), "fetcher", "0.1.0");
    applied(&emu, &s).await;
    let p = plugin_item(&c, "fetcher").await;
    assert_eq!(
        (p["version"].as_str(), p["installedFrom"].as_str()),
        (Some("0.1.0"), Some("ZIP"))
    );
    let settings = c.get_plugin_settings("fetcher").await.unwrap();
    let env = settings["codeEnvName"]
        .as_str()
        .expect("the code env is named in the settings");
    assert!(c.get_code_env("PYTHON", env).await.is_ok());
    assert!(converged(&emu, &s).await);

    plugin_zip(&s.join("archives/fetcher.zip"), "fetcher", "0.2.0");
    let planned = plan_json(&emu, &s).await;
    assert_eq!(
        planned["operations"][0]["changes"][0]["path"],
        "source.zip.version"
    );
    applied(&emu, &s).await;
    assert_eq!(plugin_item(&c, "fetcher").await["version"], "0.2.0");
    assert!(converged(&emu, &s).await);

    // An archive of another plugin is a plan error, before anything is written.
    plugin_zip(&s.join("archives/fetcher.zip"), "other", "1.0.0");
    let out = plan(&emu, &s, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        both(&out).contains("holds plugin \"other\", not \"fetcher\""),
        "{}",
        show(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_created_outside_dssctl_are_adopted_without_change_and_export_round_trips() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let dir = tempfile::tempdir().unwrap();
    // Created with plain HTTP calls, as an administrator would with the official client (the
    // group data_team is one a fresh emulator has).
    c.create_code_env(
        "PYTHON",
        "py311_ml",
        &json!({"deploymentMode": "DESIGN_MANAGED", "pythonInterpreter": "PYTHON311",
                "installJupyterSupport": false, "specPackageList": "pandas==2.2.2\nscikit-learn>=1.4"}),
    )
    .await
    .unwrap();
    let mut def = definition(&c, "py311_ml").await;
    def["permissions"] = json!([{"group": "data_team", "use": true}]);
    c.put_code_env("PYTHON", "py311_ml", &def).await.unwrap();
    c.install_plugin(
        "googlesheets",
        &PluginSource::Store {
            version: Some("1.2.0".into()),
        },
    )
    .await
    .unwrap();
    let mut settings = c.get_plugin_settings("googlesheets").await.unwrap();
    settings["config"] = json!({"maxRows": 1000});
    c.set_plugin_settings("googlesheets", &settings).await.unwrap();

    // The example's manifests adopt them with no field change.
    let s = stack(dir.path(), &[("env.yaml", ENV), ("plugin.yaml", PLUGIN)]);
    let plan = plan_json(&emu, &s).await;
    let ops = plan["operations"].as_array().unwrap();
    assert_eq!(ops.len(), 2, "{plan:#}");
    for op in ops {
        assert_eq!(op["action"], "adopt", "{plan:#}");
        assert_eq!(op["changes"], json!([]), "{plan:#}");
    }
    reset_stats(&emu, KEY).await;
    let stdout = applied(&emu, &s).await;
    assert!(stdout.contains("2 adopted"), "{stdout}");
    let st = stats(&emu, KEY).await;
    let ledger_writes = st.by_route.get("PUT /admin/variables").copied().unwrap_or(0);
    assert_eq!(
        st.writes, ledger_writes,
        "an adoption without change writes only the ledger: {:?}",
        st.by_route
    );

    // Export: the files validate and plan as adoptions with no field change under a new stack.
    let out = dssctl(
        vec![
            "export".into(),
            "--out".into(),
            "exported".into(),
            "--url".into(),
            emu.url.clone(),
            "--api-key".into(),
            KEY.into(),
        ],
        dir.path(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let exported = dir.path().join("exported");
    let out = dssctl(
        cli_args(
            "plan",
            &exported,
            &emu,
            KEY,
            &["--stack", "adopter", "--format", "json"],
        ),
        dir.path(),
    )
    .await;
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", show(&out)));
    let ours: Vec<&Value> = plan["operations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|op| op["kind"] == "code_env" || op["kind"] == "plugin")
        .collect();
    assert_eq!(ours.len(), 2, "{plan:#}");
    for op in ours {
        assert_eq!(op["action"], "adopt", "{plan:#}");
        assert_eq!(op["changes"], json!([]), "{plan:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_manifests_are_pruned_within_the_guards() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let dir = tempfile::tempdir().unwrap();
    let protected = ENV.replace("  owner: admin\n", "  owner: admin\n  protect: true\n");
    let s = stack(
        dir.path(),
        &[
            ("groups.yaml", GROUPS),
            ("env.yaml", &protected),
            ("plugin.yaml", PLUGIN),
        ],
    );
    applied(&emu, &s).await;

    // A protected env is not deleted when its manifest goes; the plugin is.
    std::fs::remove_file(s.join("env.yaml")).unwrap();
    std::fs::remove_file(s.join("plugin.yaml")).unwrap();
    let out = apply(&emu, &s, &[]).await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "a protected resource removed is refused: {}",
        show(&out)
    );
    assert!(
        c.list_plugins()
            .await
            .unwrap()
            .iter()
            .any(|p| p["id"] == "googlesheets")
    );

    std::fs::write(s.join("env.yaml"), &protected).unwrap();
    let stdout = applied(&emu, &s).await;
    assert!(stdout.contains("1 deleted"), "{stdout}");
    assert!(
        !c.list_plugins()
            .await
            .unwrap()
            .iter()
            .any(|p| p["id"] == "googlesheets")
    );

    // Unprotected, then removed: deleted.
    std::fs::write(s.join("env.yaml"), ENV).unwrap();
    applied(&emu, &s).await;
    std::fs::remove_file(s.join("env.yaml")).unwrap();
    let stdout = applied(&emu, &s).await;
    assert!(stdout.contains("1 deleted"), "{stdout}");
    assert!(
        !c.list_code_envs()
            .await
            .unwrap()
            .iter()
            .any(|e| e["envName"] == "py311_ml"),
        "the env is deleted"
    );
    assert!(converged(&emu, &s).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_package_installation_fails_with_its_log_and_a_fixed_manifest_rebuilds_the_env() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let s = stack(dir.path(), &[("groups.yaml", GROUPS), ("env.yaml", ENV)]);
    applied(&emu, &s).await;

    edit(&s.join("env.yaml"), "    - pandas==2.2.2\n", "    - pandas===\n");
    let out = apply(&emu, &s, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("! code_env py311_ml: update failed:"), "{stdout}");
    assert!(
        stdout.contains("ERROR: Invalid requirement: 'pandas==='"),
        "the log's last lines are in the report:\n{stdout}"
    );

    // DSS now answers 500 for the env: the plan does not fail, it shows the rebuild.
    let out = plan(&emu, &s, &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    insta::assert_snapshot!("code_env_broken_after_failed_install", text);
    // Applied as it is, the requirement fails again, with its log.
    let out = apply(&emu, &s, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ERROR: Invalid requirement: 'pandas==='"),
        "{}",
        show(&out)
    );

    // The requirement fixed in the manifest: apply rebuilds the env, and it converges.
    edit(
        &s.join("env.yaml"),
        "    - pandas===
",
        "    - pandas==2.2.2
",
    );
    let stdout = applied(&emu, &s).await;
    assert!(
        stdout.contains("env rebuilt from scratch, package installation done: 2 requested package(s) recorded as installed"),
        "{stdout}"
    );
    let c = client(&emu, KEY);
    let def = definition(&c, "py311_ml").await;
    assert_eq!(def["actualPackageList"], "pandas==2.2.2\nscikit-learn>=1.4");
    assert_eq!(def["desc"]["pythonInterpreter"], "PYTHON311");
    assert_eq!(def["permissions"][0]["group"], "data_team");
    assert!(converged(&emu, &s).await);
    reset_stats(&emu, KEY).await;
    assert!(applied(&emu, &s).await.contains("No changes."));
    assert_eq!(stats(&emu, KEY).await.writes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_and_source_errors_are_reported_at_their_line() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let dir = tempfile::tempdir().unwrap();
    c.create_code_env("R", "py311_ml", &json!({"deploymentMode": "DESIGN_MANAGED"}))
        .await
        .unwrap();
    let s = stack(dir.path(), &[("groups.yaml", GROUPS), ("env.yaml", ENV)]);
    let out = plan(&emu, &s, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = both(&out);
    let line = text
        .lines()
        .find(|l| l.contains("language"))
        .unwrap_or_else(|| panic!("{}", show(&out)));
    let at = line.find("code_env").unwrap_or(0);
    insta::assert_snapshot!("code_env_language_is_identity", &line[at..]);

    let two = PLUGIN.replace(
        "    store: {version: \"1.2.0\"}\n",
        "    store: {version: \"1.2.0\"}\n    git: {repository: https://example.com/p.git}\n",
    );
    let bad = stack(&dir.path().join("bad"), &[("plugin.yaml", &two)]);
    let out = dssctl(
        vec!["validate".into(), bad.display().to_string(), "--no-color".into()],
        dir.path(),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = both(&out).replace(&bad.display().to_string(), "stack");
    insta::assert_snapshot!("plugin_with_two_sources", text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_env_a_plugin_names_cannot_be_pruned_under_it() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let named = PLUGIN.replace(
        "config: {maxRows: 1000}",
        "config: {maxRows: 1000}\n    codeEnvName: py311_ml",
    );
    let s = stack(
        dir.path(),
        &[
            ("groups.yaml", GROUPS),
            ("env.yaml", ENV),
            ("plugin.yaml", &named),
        ],
    );
    applied(&emu, &s).await;
    std::fs::remove_file(s.join("env.yaml")).unwrap();
    let out = plan(&emu, &s, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = both(&out);
    assert!(
        text.contains("plugin.yaml:")
            && text.contains(
                "settings.codeEnvName refers to code_env \"py311_ml\", which was removed from the manifests: this plan deletes it"
            ),
        "{text}"
    );
}
