//! `Build` manifests run by `dssctl apply`, through the real binary against
//! the emulator on 127.0.0.1:0, on a copy of the quickstart whose Build's trigger each test
//! sets: `onChange` runs after a create and after a change, not on a converged re-apply;
//! `always` runs on every apply; `manual` never; a build of a missing output fails the apply
//! (exit 1) with its job log; `--no-builds`; the plan lists the builds; the JSON report
//! carries them.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use dssctl::client::DssClient;
use dssctl::emulator::{EmulatorConfig, RunningEmulator};
use serde_json::Value;

use crate::support::{client, copy_quickstart, dssctl_command, edit, output, show, start_emulator};

const KEY: &str = "builds-test-admin-key";
const BUILD_FILE: &str = "projects/churn.yaml";

async fn start() -> (RunningEmulator, DssClient) {
    let config = EmulatorConfig {
        job_duration: Duration::from_millis(50),
        ..Default::default()
    };
    let emu = start_emulator(KEY, config).await;
    let client = client(&emu, KEY);
    (emu, client)
}

/// A copy of the quickstart under `dir` with its Build's trigger set to `trigger`.
fn quickstart_with_trigger(dir: &Path, trigger: &str) -> PathBuf {
    let to = copy_quickstart(dir);
    edit(
        &to.join(BUILD_FILE),
        "trigger: manual",
        &format!("trigger: {trigger}"),
    );
    to
}

/// Run `dssctl CMD PATH --url .. --api-key .. EXTRA` in `cwd` (off the async runtime, which
/// serves the emulator meanwhile).
async fn dssctl(cmd: &str, emu: &RunningEmulator, path: &Path, cwd: &Path, extra: &[&str]) -> Output {
    let mut c = dssctl_command(&["RUST_LOG"]);
    c.arg(cmd)
        .arg(path)
        .args(["--url", &emu.url, "--api-key", KEY, "--no-color"])
        .args(extra)
        .current_dir(cwd)
        .stdin(Stdio::null());
    if cmd == "apply" {
        c.arg("--auto-approve");
    }
    output(c).await
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn jobs(client: &DssClient) -> usize {
    client.list_jobs("CHURN", None).await.expect("jobs listed").len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_change_builds_run_after_a_change_and_not_on_a_converged_apply() {
    let (emu, client) = start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = quickstart_with_trigger(dir.path(), "onChange");

    // The plan of the first apply lists the build it triggers.
    let plan = dssctl("plan", &emu, &path, dir.path(), &[]).await;
    assert!(plan.status.success(), "{}", show(&plan));
    assert!(
        stdout(&plan).contains(
            "Builds:\n  > build refresh-churn-scores (CHURN: churn_scores)  onChange: project CHURN created"
        ),
        "{}",
        show(&plan)
    );

    let first = dssctl("apply", &emu, &path, dir.path(), &[]).await;
    assert_eq!(first.status.code(), Some(0), "{}", show(&first));
    let text = stdout(&first);
    assert!(text.contains("Apply complete:"), "{}", show(&first));
    assert!(
        text.contains("  > build refresh-churn-scores (CHURN): job ") && text.contains(" DONE in "),
        "{}",
        show(&first)
    );
    assert!(
        text.ends_with("Builds: 1 succeeded, 0 failed, 0 skipped.\n"),
        "{text}"
    );
    // The build is not a resource: not in the counts of operations.
    assert!(!text.contains("build refresh-churn-scores: created"), "{text}");
    assert_eq!(jobs(&client).await, 1);

    // Converged: the plan lists no build, apply says "No changes." and starts nothing.
    let plan = dssctl("plan", &emu, &path, dir.path(), &["--format", "json"]).await;
    let doc: Value = serde_json::from_slice(&plan.stdout).expect("JSON plan");
    assert!(doc.get("builds").is_none(), "{}", show(&plan));
    let again = dssctl("apply", &emu, &path, dir.path(), &[]).await;
    assert_eq!(again.status.code(), Some(0), "{}", show(&again));
    assert!(stdout(&again).starts_with("No changes."), "{}", show(&again));
    assert!(!stdout(&again).contains("Builds"), "{}", show(&again));
    assert_eq!(jobs(&client).await, 1);

    // A change to a dataset of the project triggers it again.
    edit(
        &path.join(BUILD_FILE),
        "refreshed by the build below.",
        "refreshed nightly by the build below.",
    );
    let changed = dssctl("apply", &emu, &path, dir.path(), &[]).await;
    assert_eq!(changed.status.code(), Some(0), "{}", show(&changed));
    assert!(stdout(&changed).contains(" DONE in "), "{}", show(&changed));
    assert_eq!(jobs(&client).await, 2);

    // --no-builds: the change is applied, no job starts.
    edit(
        &path.join(BUILD_FILE),
        "refreshed nightly by",
        "refreshed daily by",
    );
    let skipped = dssctl("apply", &emu, &path, dir.path(), &["--no-builds"]).await;
    assert_eq!(skipped.status.code(), Some(0), "{}", show(&skipped));
    assert!(!stdout(&skipped).contains("Builds"), "{}", show(&skipped));
    assert_eq!(jobs(&client).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_builds_run_on_every_apply_and_manual_ones_never() {
    let (emu, client) = start().await;
    let dir = tempfile::tempdir().unwrap();
    let manual = dir.path().join("manual");
    let path = quickstart_with_trigger(&manual, "manual");
    let first = dssctl("apply", &emu, &path, dir.path(), &[]).await;
    assert_eq!(first.status.code(), Some(0), "{}", show(&first));
    assert!(!stdout(&first).contains("Builds"), "{}", show(&first));
    assert_eq!(jobs(&client).await, 0);

    let always = dir.path().join("always");
    let path = quickstart_with_trigger(&always, "always");
    // Nothing to change; the build runs anyway, after "No changes.".
    let plan = dssctl("plan", &emu, &path, dir.path(), &[]).await;
    assert!(
        stdout(&plan).contains("No changes.")
            && stdout(&plan).contains("build refresh-churn-scores (CHURN: churn_scores)  always: always"),
        "{}",
        show(&plan)
    );
    for round in 1..=2 {
        let out = dssctl("apply", &emu, &path, dir.path(), &["--format", "json"]).await;
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
        let builds = report["builds"].as_array().expect("a builds section");
        assert_eq!(builds.len(), 1, "{report}");
        let b = &builds[0];
        assert_eq!(b["name"], "refresh-churn-scores");
        assert_eq!(b["project"], "CHURN");
        assert_eq!(b["trigger"], "always");
        assert_eq!(b["outcome"], "done");
        assert_eq!(b["state"], "DONE");
        assert!(b["job_id"].as_str().is_some_and(|id| !id.is_empty()), "{b}");
        assert!(b["duration_ms"].is_u64(), "{b}");
        // Builds are not operations.
        assert_eq!(report["operations"].as_array().map(Vec::len), Some(0));
        assert_eq!(jobs(&client).await, round);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_build_fails_the_apply_with_its_log() {
    let (emu, client) = start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = quickstart_with_trigger(dir.path(), "onChange");
    edit(
        &path.join(BUILD_FILE),
        "    - id: churn_scores",
        "    - id: churn_missing",
    );
    let out = dssctl("apply", &emu, &path, dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = stdout(&out);
    // The resources were applied; the build failed.
    assert!(text.contains("Apply complete:"), "{}", show(&out));
    assert!(
        text.contains("  ! build refresh-churn-scores (CHURN): job ") && text.contains(" FAILED in "),
        "{}",
        show(&out)
    );
    assert!(
        text.contains("Output dataset CHURN.churn_missing does not exist"),
        "{}",
        show(&out)
    );
    assert!(
        text.ends_with("Builds: 0 succeeded, 1 failed, 0 skipped.\n"),
        "{text}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("----- log of job "), "{}", show(&out));
    assert!(err.contains("churn_missing"), "{}", show(&out));
    assert_eq!(jobs(&client).await, 1);
    // The failed build changed nothing: the next apply converges without a job.
    let again = dssctl("apply", &emu, &path, dir.path(), &[]).await;
    assert_eq!(again.status.code(), Some(0), "{}", show(&again));
    assert!(stdout(&again).starts_with("No changes."), "{}", show(&again));
    assert_eq!(jobs(&client).await, 1);
}
