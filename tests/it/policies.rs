//! Drift policies (`metadata.annotations`) through the real binary against the emulator:
//! a `dssctl.io/sync: detect-only` group that drifted is shown by plan (text, Markdown, JSON)
//! and skipped by apply, which says so; a `dssctl.io/prune: "false"` group removed from the
//! manifests is released from the ledger, not deleted; a misspelt annotation is an error at
//! file:line.

use std::path::Path;
use std::process::Output;

use dssctl::emulator::{EmulatorConfig, RunningEmulator};
use dssctl::plan::Plan;

use crate::support::{cli_args, client, dssctl_command, output, show, start_emulator};

const KEY: &str = "policies-test-admin-key";

fn group(name: &str, description: &str, annotations: &str) -> String {
    format!(
        "apiVersion: dssctl/v1\nkind: Group\nmetadata:\n  name: {name}\n{annotations}spec:\n  description: {description}\n"
    )
}

const DETECT_ONLY: &str = "  annotations:\n    dssctl.io/sync: detect-only\n    team: data\n";
const KEEP: &str = "  annotations:\n    dssctl.io/prune: \"false\"\n";

async fn run(emu: &RunningEmulator, cmd: &str, dir: &Path, extra: &[&str]) -> Output {
    let mut c = dssctl_command(&[]);
    c.args(cli_args(cmd, dir, emu, KEY, extra));
    output(c).await
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detect_only_is_shown_and_skipped_and_prune_false_releases() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("manifests");
    std::fs::create_dir_all(&dir).unwrap();
    let all = [
        group("watched", "Watched", DETECT_ONLY),
        group("kept", "Kept", KEEP),
        group("plain", "Plain", ""),
    ];
    std::fs::write(dir.join("groups.yaml"), all.join("---\n")).unwrap();

    // Created, the detect-only one too: it does not exist, so there is no drift to leave.
    let out = run(&emu, "apply", &dir, &["--auto-approve"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        c.get_group("watched").await.unwrap().description.as_deref(),
        Some("Watched")
    );

    for name in ["watched", "plain"] {
        let mut g = c.get_group(name).await.unwrap();
        g.description = Some("Changed by hand".into());
        c.update_group(name, &g).await.unwrap();
    }

    let out = run(&emu, "plan", &dir, &["--no-color"]).await;
    let plan_text = text(&out);
    assert!(
        plan_text
            .lines()
            .any(|l| l.contains("~ group watched") && l.contains("detect-only: not written")),
        "{plan_text}"
    );
    assert!(
        plan_text.contains("1 to change") && plan_text.contains("1 detect-only (not written)"),
        "{plan_text}"
    );
    let out = run(&emu, "plan", &dir, &["--format", "markdown"]).await;
    assert!(
        text(&out).contains("(detect-only: not written)"),
        "{}",
        show(&out)
    );
    let out = run(&emu, "plan", &dir, &["--format", "json"]).await;
    let plan: Plan = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&out)));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ops = json["operations"].as_array().unwrap();
    let op = |name: &str| ops.iter().find(|o| o["name"] == name).unwrap().clone();
    assert_eq!(op("watched")["detect_only"], true);
    assert!(op("plain").get("detect_only").is_none());
    assert_eq!(plan.summary.detect_only, 1);

    let out = run(&emu, "apply", &dir, &["--auto-approve", "--no-color"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        text(&out).contains("Skipped 1 detect-only resource(s) (dssctl.io/sync: detect-only), differences not written: group watched"),
        "{}",
        show(&out)
    );
    let description = |name: &'static str| {
        let c = &c;
        async move { c.get_group(name).await.unwrap().description }
    };
    assert_eq!(description("plain").await.as_deref(), Some("Plain"), "corrected");
    assert_eq!(
        description("watched").await.as_deref(),
        Some("Changed by hand"),
        "left alone"
    );

    // Only the detect-only difference is left: nothing to write, exit 0 even with
    // --detailed-exitcode; apply says what it skips.
    let out = run(&emu, "plan", &dir, &["--no-color", "--detailed-exitcode"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        text(&out).contains("No changes to write. 1 detect-only difference(s)"),
        "{}",
        show(&out)
    );
    let out = run(&emu, "apply", &dir, &["--auto-approve", "--no-color"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        text(&out).contains("Skipped 1 detect-only resource(s)"),
        "{}",
        show(&out)
    );

    // `kept` removed from the manifests: released from the ledger, not deleted.
    std::fs::write(
        dir.join("groups.yaml"),
        [all[0].clone(), all[2].clone()].join("---\n"),
    )
    .unwrap();
    let out = run(&emu, "plan", &dir, &["--no-color"]).await;
    assert!(
        text(&out).contains("group kept (dssctl.io/prune: \"false\": dropped from the ledger, not deleted)"),
        "{}",
        show(&out)
    );
    let out = run(&emu, "plan", &dir, &["--format", "json"]).await;
    let plan: Plan = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan.released.len(), 1);
    assert!(
        plan.operations.iter().all(|o| o.name != "kept"),
        "{:?}",
        plan.operations
    );
    let out = run(&emu, "apply", &dir, &["--auto-approve"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(description("kept").await.as_deref(), Some("Kept"), "not deleted");
    // Forgotten: declaring nothing about it any more, the next plan does not mention it.
    let out = run(&emu, "plan", &dir, &["--no-color"]).await;
    assert!(!text(&out).contains("kept"), "{}", show(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misspelt_policy_annotation_is_an_error_at_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("g.yaml");
    let annotations =
        "  annotations:\n    dssctl.io/snyc: detect-only\n    dssctl.io/prune: no\n    owner: me\n";
    std::fs::write(&file, group("g", "G", annotations)).unwrap();
    let mut c = dssctl_command(&[]);
    c.arg("validate").arg(&file);
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = show(&out);
    let shown = format!("{}", file.display());
    assert!(
        err.contains(&format!(
            "{shown}:6:5: error: group g: metadata.annotations: unknown annotation \"dssctl.io/snyc\""
        )),
        "{err}"
    );
    assert!(err.contains("did you mean dssctl.io/sync?"), "{err}");
    assert!(
        err.contains(&format!("{shown}:7:22: error: group g: metadata.annotations.dssctl.io/prune: \"no\" is not one of \"true\" or \"false\"")),
        "{err}"
    );
    assert!(
        !err.contains("owner"),
        "free-form annotations are accepted: {err}"
    );
}
