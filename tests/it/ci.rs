//! docs/ci.md, run: every `dssctl` command line of each pipeline in that page, in order, with
//! the pipeline's variables, against the emulator on a copy of the quickstart (validate, the
//! Markdown plan for the request's comment, `plan --out` then `apply --plan` on merge); then
//! the command of each pre-commit hook on valid and invalid manifests. Only the hosting
//! services' own API calls are left out.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dssctl::emulator::EmulatorConfig;
use serde_json::Value;

use crate::support::{copy_quickstart, dssctl_command, output, show, start_emulator};

const KEY: &str = "ci-test-admin-key";
const STACK: &str = "ci-test";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The fenced ```yaml blocks of docs/ci.md, each parsed (a pipeline must at least be YAML)
/// and reduced to its `dssctl ...` command lines: a GitLab `- dssctl ...` list item, a GitHub
/// `run: dssctl ...` step, or a line of a `run: |` script.
fn pipelines() -> Vec<Vec<String>> {
    let doc = std::fs::read_to_string(repo().join("docs/ci.md")).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<(String, Vec<String>)> = None;
    for line in doc.lines() {
        let trimmed = line.trim();
        match (&mut current, trimmed) {
            (None, "```yaml") => current = Some((String::new(), Vec::new())),
            (Some(_), "```") => {
                let (text, commands) = current.take().unwrap();
                let parsed: Value = serde_saphyr::from_str(&text)
                    .unwrap_or_else(|e| panic!("a YAML block of docs/ci.md does not parse: {e}\n{text}"));
                shell_lines_are_strings(&parsed);
                blocks.push(commands);
            }
            (Some((text, commands)), _) => {
                text.push_str(line);
                text.push('\n');
                let command = trimmed.trim_start_matches("- ").trim_start_matches("run: ");
                if command.starts_with("dssctl ") {
                    commands.push(command.to_string());
                }
            }
            (None, _) => {}
        }
    }
    blocks.into_iter().filter(|b| !b.is_empty()).collect()
}

/// `line` in bash as CI runs it (errexit, pipefail), in `dir`, with the pipeline's variables
/// and the binary under test first on PATH.
async fn run(line: &str, dir: &Path, url: &str) -> Output {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_dssctl")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    cmd.args(["-eo", "pipefail", "-c", line])
        .current_dir(dir)
        .env_remove("RUST_BACKTRACE")
        .env_remove("DSS_API_KEY_FILE")
        .env_remove("NO_COLOR")
        .env("PATH", path)
        .env("MANIFESTS", "manifests")
        .env("DSS_URL", url)
        .env("DSS_API_KEY", KEY)
        .env("DSSCTL_STACK", STACK);
    output(cmd).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pipeline_of_the_ci_page_runs_against_the_emulator() {
    let pipelines = pipelines();
    assert_eq!(pipelines.len(), 2, "GitHub Actions and GitLab CI: {pipelines:#?}");
    for commands in pipelines {
        // Each pipeline as it is meant to be used: validate, plan the request, apply on merge.
        for expected in [
            "dssctl validate",
            "--format markdown",
            "--out plan.json",
            "apply --plan plan.json",
        ] {
            assert!(
                commands.iter().any(|c| c.contains(expected)),
                "{expected:?} not in {commands:#?}"
            );
        }
        let emu = start_emulator(KEY, EmulatorConfig::default()).await;
        let tmp = tempfile::tempdir().unwrap();
        copy_quickstart(tmp.path());
        for line in &commands {
            let out = run(line, tmp.path(), &emu.url).await;
            assert!(out.status.success(), "{line}\n{}", show(&out));
        }
        let markdown = std::fs::read_to_string(tmp.path().join("plan.md")).unwrap();
        assert_eq!(
            markdown.lines().next(),
            Some(format!("<!-- dssctl-plan stack={STACK} -->").as_str()),
            "the marker the comment is found by"
        );
        assert!(markdown.contains("Plan: 14 to add"), "{markdown}");
        let saved: Value =
            serde_json::from_slice(&std::fs::read(tmp.path().join("plan.json")).unwrap()).unwrap();
        assert_eq!(saved["stack"], STACK);
        // The saved plan was applied: nothing is left to do.
        let after = run(
            "dssctl plan \"$MANIFESTS\" --detailed-exitcode",
            tmp.path(),
            &emu.url,
        )
        .await;
        assert_eq!(after.status.code(), Some(0), "{}", show(&after));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pre_commit_hooks_pass_valid_manifests_and_stop_invalid_ones() {
    let text = std::fs::read_to_string(repo().join(".pre-commit-hooks.yaml")).unwrap();
    let hooks: Vec<Value> = serde_saphyr::from_str(&text).unwrap();
    let ids: Vec<&str> = hooks.iter().map(|h| h["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["dssctl-validate", "dssctl-validate-system"]);
    let doc = std::fs::read_to_string(repo().join("docs/ci.md")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let manifests = copy_quickstart(tmp.path());
    let broken = tmp.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(
        broken.join("group.yaml"),
        "apiVersion: dssctl/v1\nkind: Grop\nmetadata: {name: g}\nspec: {}\n",
    )
    .unwrap();
    for hook in &hooks {
        let id = hook["id"].as_str().unwrap();
        assert!(
            doc.contains(&format!("id: {id}")),
            "docs/ci.md does not show {id}"
        );
        assert_eq!(
            hook["pass_filenames"], false,
            "{id}: the whole directory is validated"
        );
        assert_eq!(hook["files"], r"\.ya?ml$", "{id}: run when a YAML file changes");
        // pre-commit runs `entry` followed by the `args` of the user's configuration.
        let entry: Vec<&str> = hook["entry"].as_str().unwrap().split_whitespace().collect();
        assert_eq!(entry[0], "dssctl");
        for (dir, code) in [(&manifests, 0), (&broken, 1)] {
            let mut cmd = dssctl_command(&[]);
            cmd.args(&entry[1..]).arg(dir).current_dir(tmp.path());
            let out = output(cmd).await;
            assert_eq!(
                out.status.code(),
                Some(code),
                "{id} on {}\n{}",
                dir.display(),
                show(&out)
            );
        }
    }
}

/// Every GitHub `run` and GitLab `script` line is a string: an unquoted `key: value` inside a
/// command would make YAML read a mapping, which the CI service rejects.
fn shell_lines_are_strings(v: &Value) {
    match v {
        Value::Object(map) => {
            for (key, value) in map {
                match key.as_str() {
                    "run" => assert!(value.is_string(), "run: {value}"),
                    // A list of lines in GitLab; github-script's `script` is one string.
                    "script" | "before_script" | "after_script" => match value {
                        Value::Array(lines) => {
                            for line in lines {
                                assert!(line.is_string(), "{key}: {line}");
                            }
                        }
                        _ => assert!(value.is_string(), "{key}: {value}"),
                    },
                    _ => shell_lines_are_strings(value),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(shell_lines_are_strings),
        _ => {}
    }
}
