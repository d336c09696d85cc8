//! Plans without secrets: `plan` shows a secret it cannot resolve as not checked (and warns),
//! exits as the rest of the plan says unless `--require-secrets`; `apply` (and `apply --plan`)
//! refuses before any write when a secret it must send cannot be resolved.

use std::path::{Path, PathBuf};
use std::process::Output;

use dssctl::emulator::EmulatorConfig;
use dssctl::plan::Plan;

use crate::support::{
    cli_args, copy_quickstart, dssctl_command, output, reset_stats, show, start_emulator, stats,
};

const KEY: &str = "secrets-test-admin-key";
const PROD_SECRETS: [&str; 2] = ["PROD_WAREHOUSE_PASSWORD", "PROD_SCHEDULER_PASSWORD"];

/// The prod Environment of the multi-env example: its entry point is its directory.
fn multi_env_prod() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/multi-env/envs/prod")
}

async fn run(args: Vec<String>, cwd: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = dssctl_command(&PROD_SECRETS);
    cmd.args(&args).current_dir(cwd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    output(cmd).await
}

fn args(cmd: &str, extra: &[&str]) -> Vec<String> {
    let mut v = vec![cmd.to_string(), multi_env_prod().display().to_string()];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

#[tokio::test]
async fn the_multi_env_plan_runs_without_its_secrets_on_the_embedded_emulator() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(args("plan", &["--detailed-exitcode"]), dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("warning: 2 secret(s) not checked"), "{stderr}");
    for var in PROD_SECRETS {
        assert!(stderr.contains(&format!("{var} is not set")), "{stderr}");
    }
    let stdout = String::from_utf8(out.stdout).unwrap();
    insta::assert_snapshot!("multi_env_prod_plan_without_secrets", stdout);

    // --require-secrets: the old, strict behaviour.
    let out = run(args("plan", &["--require-secrets"]), dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("cannot resolve the secret"));

    // Markdown and JSON say the same.
    let out = run(args("plan", &["--format", "markdown"]), dir.path(), &[]).await;
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        md.contains("(sensitive, not checked: PROD_WAREHOUSE_PASSWORD is not set)"),
        "{md}"
    );
    assert!(md.contains("**Secrets not checked**"), "{md}");
    let out = run(args("plan", &["--format", "json"]), dir.path(), &[]).await;
    let plan: Plan = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan.unchecked.len(), 2);
    let change = plan
        .operations
        .iter()
        .flat_map(|o| &o.changes)
        .find(|c| c.path == "params.password")
        .unwrap();
    assert!(change.sensitive);
    assert_eq!(
        change.unchecked.as_deref(),
        Some("PROD_WAREHOUSE_PASSWORD is not set")
    );
}

#[tokio::test]
async fn apply_refuses_before_any_write_and_so_does_a_saved_plan() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let target = ["--url", emu.url.as_str(), "--api-key", KEY];
    let saved = dir.path().join("plan.json");
    let mut plan_args = target.to_vec();
    plan_args.extend(["--out", saved.to_str().unwrap()]);
    let out = run(args("plan", &plan_args), dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let recorded: Plan = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(recorded.unchecked.len(), 2, "the saved plan records them");

    reset_stats(&emu, KEY).await;
    let mut apply_args = target.to_vec();
    apply_args.push("--auto-approve");
    let out = run(args("apply", &apply_args), dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refusing to apply"), "{stderr}");
    assert!(
        stderr.contains(
            "connection dwh_prod params.password: environment variable PROD_WAREHOUSE_PASSWORD is not set"
        ),
        "{stderr}"
    );
    assert_eq!(
        stats(&emu, KEY).await.writes,
        0,
        "nothing written, not even the lock"
    );

    let saved_apply = |env: &'static [(&'static str, &'static str)]| {
        let mut a = vec!["apply".to_string(), "--plan".into(), saved.display().to_string()];
        a.extend(apply_args.iter().map(|s| s.to_string()));
        run(a, dir.path(), env)
    };
    let out = saved_apply(&[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PROD_SCHEDULER_PASSWORD is not set"));
    assert_eq!(stats(&emu, KEY).await.writes, 0);

    // Where the secrets are, the same saved plan applies.
    let out = saved_apply(&[
        ("PROD_WAREHOUSE_PASSWORD", "wh-secret-value"),
        ("PROD_SCHEDULER_PASSWORD", "sched-secret-value"),
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = show(&out);
    assert!(!text.contains("wh-secret-value") && !text.contains("sched-secret-value"));
}

#[tokio::test]
async fn a_secret_gone_after_apply_is_not_checked_and_not_written() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let manifests = copy_quickstart(dir.path());
    let apply = cli_args("apply", &manifests, &emu, KEY, &["--auto-approve"]);
    let out = run(apply, dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    std::fs::remove_file(manifests.join("secrets/warehouse-password")).unwrap();

    let plan = cli_args("plan", &manifests, &emu, KEY, &["--detailed-exitcode"]);
    let out = run(plan, dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "nothing to compare: {}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("connection warehouse params.password") && stderr.contains("no such file"),
        "{stderr}"
    );
    // apply sends nothing it cannot compare, so it runs.
    reset_stats(&emu, KEY).await;
    let apply = cli_args("apply", &manifests, &emu, KEY, &["--auto-approve"]);
    let out = run(apply, dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(stats(&emu, KEY).await.writes, 0);
}
