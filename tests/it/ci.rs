//! docs/ci.md, run: every `dssctl` command line of each pipeline in that page, in order, with
//! the pipeline's variables, against the emulator on a copy of the quickstart (validate, the
//! Markdown plan for the request's comment, `plan --out` then `apply --plan` on merge); then
//! the command of each pre-commit hook on valid and invalid manifests; and the code that keeps
//! one plan comment per stack, run against stand-ins for the GitHub and GitLab APIs (node and a
//! local fake notes API). Only the hosting services themselves are left out.

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
fn pipelines() -> Vec<(Value, Vec<String>)> {
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
                blocks.push((parsed, commands));
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
    blocks
        .into_iter()
        .filter(|(_, commands)| !commands.is_empty())
        .collect()
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
    for (_, commands) in pipelines {
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
        assert!(markdown.contains("Plan: 13 to add"), "{markdown}");
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

/// Two pushes' Markdown plans of one stack, and another stack's: the comment logic must keep one
/// comment per stack, holding the latest plan, and leave other comments alone.
const PUSH_1: &str = "<!-- dssctl-plan stack=prod -->\n### plan of the first push\n";
const PUSH_2: &str = "<!-- dssctl-plan stack=prod -->\n### plan of the second push\n";
const OTHER_STACK: &str = "<!-- dssctl-plan stack=dev -->\n### the dev stack's plan\n";

/// Whether `tool` runs here; the comment tests need jq, curl and node as the CI images have.
fn available(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("{tool} not found: this check of the comment logic is skipped");
    }
    found
}

/// The comments after posting `plans` in turn with the documented logic, starting from a
/// request that holds one comment of a reviewer.
type Comments = Vec<(u64, String)>;

fn expect_one_comment_per_stack(comments: &Comments) {
    let bodies: Vec<&str> = comments.iter().map(|(_, b)| b.as_str()).collect();
    assert_eq!(
        bodies,
        ["LGTM, but see the grants", PUSH_2, OTHER_STACK],
        "{comments:#?}"
    );
    assert_eq!(comments[1].0, 2, "the first push's comment was updated in place");
}

#[test]
fn the_github_step_keeps_one_comment_per_stack_updated_in_place() {
    if !available("node") {
        return;
    }
    let (workflow, _) = pipelines().into_iter().next().unwrap();
    let script = workflow["jobs"]["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|s| s["with"]["script"].as_str())
        .expect("the github-script step")
        .to_string();
    // github-script runs the step's body as an async function of `github`, `context` and
    // `require`; here `github` is a stand-in for the REST API, keeping the comments in a file.
    let harness = format!(
        r#"const fs = require('fs');
const store = process.env.COMMENTS;
const comments = JSON.parse(fs.readFileSync(store, 'utf8'));
const context = {{ repo: {{ owner: 'o', repo: 'r' }}, issue: {{ number: 7 }} }};
const check = (a) => {{ if (a.owner !== 'o' || a.repo !== 'r') throw new Error('wrong repository'); }};
const github = {{
  paginate: async (method, args) => (await method(args)).data,
  rest: {{ issues: {{
    listComments: async (a) => {{ check(a); if (a.issue_number !== 7) throw new Error('wrong request'); return {{ data: comments }}; }},
    updateComment: async (a) => {{ check(a); comments.find(c => c.id === a.comment_id).body = a.body; }},
    createComment: async (a) => {{ check(a); comments.push({{ id: comments.length + 1, body: a.body }}); }},
  }} }},
}};
(async () => {{
{script}
fs.writeFileSync(store, JSON.stringify(comments));
}})().catch(e => {{ console.error(e); process.exit(1); }});
"#
    );
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("comments.json");
    std::fs::write(&store, r#"[{"id": 1, "body": "LGTM, but see the grants"}]"#).unwrap();
    for plan in [PUSH_1, OTHER_STACK, PUSH_2] {
        std::fs::write(dir.path().join("plan.md"), plan).unwrap();
        let out = Command::new("node")
            .args(["-e", &harness])
            .env("COMMENTS", &store)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", show(&out));
    }
    let comments: Vec<Value> = serde_json::from_slice(&std::fs::read(&store).unwrap()).unwrap();
    let mut comments: Comments = comments
        .iter()
        .map(|c| (c["id"].as_u64().unwrap(), c["body"].as_str().unwrap().to_string()))
        .collect();
    comments.sort();
    expect_one_comment_per_stack(&comments);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gitlab_after_script_keeps_one_note_per_stack_updated_in_place() {
    use axum::extract::{Path as UrlPath, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, put};
    use std::sync::{Arc, Mutex};

    if !available("jq") || !available("curl") {
        return;
    }
    let (pipeline, _) = pipelines().into_iter().nth(1).unwrap();
    // The documented lines, but for the installation of jq, which is here already.
    let lines: Vec<String> = pipeline["plan"]["after_script"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .filter(|l| !l.starts_with("apt-get "))
        .collect();
    assert!(lines.iter().any(|l| l.contains("$notes/$id")), "{lines:#?}");

    // A stand-in for GitLab's notes API of merge request 2 of project 1.
    type Notes = Arc<Mutex<Comments>>;
    fn authorised(headers: &HeaderMap) -> Result<(), StatusCode> {
        match headers.get("PRIVATE-TOKEN") {
            Some(token) if token == "project-token" => Ok(()),
            _ => Err(StatusCode::UNAUTHORIZED),
        }
    }
    let notes: Notes = Arc::new(Mutex::new(vec![(1, "LGTM, but see the grants".into())]));
    let list = |State(notes): State<Notes>, headers: HeaderMap| async move {
        authorised(&headers)?;
        let all: Vec<Value> = notes
            .lock()
            .unwrap()
            .iter()
            .map(|(id, body)| serde_json::json!({"id": id, "body": body}))
            .collect();
        Ok::<_, StatusCode>(axum::Json(all))
    };
    let create = |State(notes): State<Notes>, headers: HeaderMap, axum::Json(note): axum::Json<Value>| async move {
        authorised(&headers)?;
        let mut notes = notes.lock().unwrap();
        let id = notes.len() as u64 + 1;
        notes.push((id, note["body"].as_str().unwrap().to_string()));
        Ok::<_, StatusCode>(StatusCode::CREATED)
    };
    let update = |State(notes): State<Notes>,
                  UrlPath(id): UrlPath<u64>,
                  headers: HeaderMap,
                  axum::Json(note): axum::Json<Value>| async move {
        authorised(&headers)?;
        let mut notes = notes.lock().unwrap();
        let entry = notes
            .iter_mut()
            .find(|(i, _)| *i == id)
            .ok_or(StatusCode::NOT_FOUND)?;
        entry.1 = note["body"].as_str().unwrap().to_string();
        Ok::<_, StatusCode>(StatusCode::OK)
    };
    let app = axum::Router::new()
        .route(
            "/api/v4/projects/1/merge_requests/2/notes",
            get(list).post(create),
        )
        .route("/api/v4/projects/1/merge_requests/2/notes/{id}", put(update))
        .with_state(notes.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}/api/v4", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    for plan in [PUSH_1, OTHER_STACK, PUSH_2] {
        std::fs::write(dir.path().join("plan.md"), plan).unwrap();
        // GitLab runs the after_script lines in one shell, stopping at the first failure.
        let mut cmd = Command::new("bash");
        cmd.args(["-eo", "pipefail", "-c", &lines.join("\n")])
            .current_dir(dir.path())
            .env("CI_API_V4_URL", &api)
            .env("CI_PROJECT_ID", "1")
            .env("CI_MERGE_REQUEST_IID", "2")
            .env("GITLAB_TOKEN", "project-token");
        let out = output(cmd).await;
        assert!(out.status.success(), "{}", show(&out));
    }
    let comments = notes.lock().unwrap().clone();
    expect_one_comment_per_stack(&comments);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_github_validate_step_annotates_each_diagnostic_at_its_line() {
    if !available("jq") {
        return;
    }
    let (workflow, _) = pipelines().into_iter().next().unwrap();
    let script = workflow["jobs"]["validate"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Validate")
        .and_then(|s| s["run"].as_str())
        .expect("the Validate step")
        .to_string();
    let tmp = tempfile::tempdir().unwrap();
    let manifests = copy_quickstart(tmp.path());
    let out = run(&script, tmp.path(), "http://127.0.0.1:9").await;
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        out.stdout.is_empty(),
        "no annotation for valid manifests: {}",
        show(&out)
    );
    std::fs::write(
        manifests.join("typo.yaml"),
        "apiVersion: dssctl/v1\nkind: Grop\nmetadata: {name: g}\nspec: {}\n",
    )
    .unwrap();
    let out = run(&script, tmp.path(), "http://127.0.0.1:9").await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        "::error file=manifests/typo.yaml,line=2,col=7::kind: unknown kind \"Grop\", did you mean \"Group\"?"
    );
}
