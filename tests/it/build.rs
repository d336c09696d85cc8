//! `dssctl build` through the real binary against the emulator on a loopback port: a job that
//! ends DONE (exit 0), a missing output (FAILED, log printed, exit 1), `--timeout` passed (job
//! ABORTED on the emulator, exit 1), SIGINT or SIGTERM during a job (job ABORTED, exit 1), an
//! unknown project (clear error, exit 1), the `--format json` result, `-q`, and bad flags.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use dssctl::client::DssClient;
use dssctl::emulator::{EmulatorConfig, RunningEmulator};
use dssctl::wire::{CreateProjectRequest, Dataset};
use serde_json::{Value, json};

use crate::support::{client, dssctl_command, output, start_emulator};

const KEY: &str = "build-test-admin-key";

/// An emulator whose jobs take `job_duration`, with project CHURN and its dataset `customers`.
async fn start(job_duration: Duration) -> (RunningEmulator, DssClient) {
    let config = EmulatorConfig {
        job_duration,
        ..Default::default()
    };
    let emu = start_emulator(KEY, config).await;
    let client = client(&emu, KEY);
    client
        .create_project(&CreateProjectRequest {
            project_key: "CHURN".into(),
            name: Some("Churn".into()),
            ..Default::default()
        })
        .await
        .expect("project created");
    let dataset: Dataset = serde_json::from_value(json!({
        "projectKey": "CHURN", "name": "customers", "type": "Inline",
        "params": {}, "formatType": "csv", "formatParams": {}
    }))
    .unwrap();
    client
        .create_dataset("CHURN", &dataset)
        .await
        .expect("dataset created");
    (emu, client)
}

fn command(emu: &RunningEmulator, args: &[&str]) -> Command {
    let mut cmd = dssctl_command(&[]);
    cmd.arg("build")
        .args(args)
        .args(["--url", &emu.url, "--api-key", KEY, "--poll", "20ms"]);
    cmd
}

/// Run `dssctl build ARGS` (off the async runtime, which serves the emulator meanwhile).
async fn build(emu: &RunningEmulator, args: &[&str]) -> Output {
    output(command(emu, args)).await
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn only_job(client: &DssClient) -> Value {
    let jobs = client.list_jobs("CHURN", None).await.expect("jobs listed");
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    serde_json::to_value(&jobs[0]).unwrap()
}

#[tokio::test]
async fn a_job_that_ends_done_exits_0_and_shows_its_states() {
    let (emu, client) = start(Duration::from_millis(300)).await;
    let out = build(&emu, &["CHURN", "customers", "--mode", "RECURSIVE_BUILD"]).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.starts_with("job Build_customers_"), "{stdout}");
    assert!(stdout.contains(" DONE in "), "{stdout}");
    assert!(stderr.contains("started job Build_customers_"), "{stderr}");
    assert!(stderr.contains("(RECURSIVE_BUILD: customers)"), "{stderr}");
    // One line per state change, no spinner when stderr is not a terminal.
    assert!(!stderr.contains('\r'), "{stderr:?}");
    let running = stderr
        .lines()
        .filter(|l| l.trim_end().ends_with("RUNNING"))
        .count();
    // At most once (a loaded machine may poll past the short RUNNING phase).
    assert!(running <= 1, "{stderr}");
    assert!(stderr.lines().any(|l| l.trim_end().ends_with("DONE")), "{stderr}");
    assert!(!stderr.contains("log of job"), "{stderr}");
    assert!(!stdout.contains(KEY) && !stderr.contains(KEY));
    let job = only_job(&client).await;
    assert_eq!(job["baseStatus"]["state"], "DONE");
    assert_eq!(job["baseStatus"]["def"]["type"], "RECURSIVE_BUILD");
    emu.shutdown().await;
}

#[tokio::test]
async fn a_missing_output_fails_prints_the_log_and_exits_1() {
    let (emu, client) = start(Duration::from_millis(300)).await;
    let out = build(&emu, &["CHURN", "nowhere"]).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("FAILED after"), "{stdout}");
    assert!(
        stdout.contains("Output dataset CHURN.nowhere does not exist"),
        "{stdout}"
    );
    assert!(stderr.contains("----- log of job Build_nowhere_"), "{stderr}");
    assert!(stderr.contains("[ERROR] Job failed"), "{stderr}");
    assert_eq!(only_job(&client).await["baseStatus"]["state"], "FAILED");
    emu.shutdown().await;
}

#[tokio::test]
async fn a_passed_timeout_aborts_the_job_and_exits_1() {
    let (emu, client) = start(Duration::from_secs(120)).await;
    let out = build(&emu, &["CHURN", "customers", "--timeout", "1ms"]).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stdout.contains("passed the timeout of 1ms: aborted after"),
        "{stdout}"
    );
    assert!(!stdout.contains("may still be running"), "{stdout}");
    assert!(
        stderr.contains("timeout of 1ms passed: aborting the job"),
        "{stderr}"
    );
    assert!(stderr.contains("Job aborted"), "{stderr}");
    assert_eq!(only_job(&client).await["baseStatus"]["state"], "ABORTED");
    emu.shutdown().await;
}

/// Start a long build, send it `signal` once the job exists, and check the job was aborted.
#[cfg(unix)]
async fn a_signal_aborts_the_running_job(signal: &str, said: &str) {
    let (emu, client) = start(Duration::from_secs(120)).await;
    let mut cmd = command(&emu, &["CHURN", "customers", "--format", "json"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().expect("dssctl starts");
    // The signal handlers are installed before the job is started: once the job exists, a
    // SIGINT reaches them.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let jobs = client.list_jobs("CHURN", None).await.unwrap();
        if !jobs.is_empty() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the job never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains(&format!("{said}: aborting the job")), "{stderr}");
    let result: Value = serde_json::from_str(&stdout).expect("one JSON object");
    assert_eq!(result["outcome"], "interrupted");
    assert_eq!(result["succeeded"], false);
    assert_eq!(result["state"], "ABORTED");
    assert_eq!(result["abortAcknowledged"], true);
    assert_eq!(only_job(&client).await["baseStatus"]["state"], "ABORTED");
    emu.shutdown().await;
}

#[cfg(unix)]
#[tokio::test]
async fn sigint_aborts_the_running_job() {
    a_signal_aborts_the_running_job("-INT", "interrupted").await;
}

/// A cancelled CI job sends SIGTERM: the DSS job must not outlive it.
#[cfg(unix)]
#[tokio::test]
async fn sigterm_aborts_the_running_job() {
    a_signal_aborts_the_running_job("-TERM", "terminated").await;
}

#[tokio::test]
async fn quiet_keeps_the_result_and_drops_the_progress() {
    let (emu, _client) = start(Duration::from_millis(100)).await;
    let out = build(&emu, &["-q", "CHURN", "customers"]).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains(" DONE in "), "{stdout}");
    assert!(stderr.is_empty(), "{stderr}");
    emu.shutdown().await;
}

#[tokio::test]
async fn an_unknown_project_is_a_clear_error() {
    let (emu, client) = start(Duration::from_millis(300)).await;
    let out = build(&emu, &["NOPE", "customers"]).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("error: cannot start the job in project NOPE"),
        "{stderr}"
    );
    assert!(stderr.contains("not found"), "{stderr}");
    assert!(!stderr.contains(KEY), "{stderr}");
    assert!(client.list_jobs("CHURN", None).await.unwrap().is_empty());
    emu.shutdown().await;
}

#[tokio::test]
async fn the_json_result_is_one_object() {
    let (emu, _client) = start(Duration::from_millis(200)).await;
    let out = build(
        &emu,
        &[
            "CHURN",
            "customers",
            "--format",
            "json",
            "--mode",
            "non-recursive-forced-build",
        ],
    )
    .await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stdout: {stdout}\nstderr: {stderr}");
    let result: Value = serde_json::from_str(&stdout).expect("stdout is one JSON object");
    assert_eq!(result["project"], "CHURN");
    assert!(result["jobId"].as_str().unwrap().starts_with("Build_customers_"));
    assert_eq!(result["state"], "DONE");
    assert_eq!(result["outcome"], "done");
    assert_eq!(result["succeeded"], true);
    assert_eq!(result["mode"], "NON_RECURSIVE_FORCED_BUILD");
    assert_eq!(result["outputs"], json!(["customers"]));
    assert!(result["durationMs"].as_u64().unwrap() >= 200);
    assert!(result["timeoutMs"].is_null());
    emu.shutdown().await;
}

#[tokio::test]
async fn bad_flags_are_refused_before_anything_is_started() {
    let (emu, client) = start(Duration::from_millis(200)).await;
    let out = build(&emu, &["CHURN", "customers", "--mode", "FAST"]).await;
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("unknown build mode \"FAST\""));
    let out = build(&emu, &["CHURN", "customers", "--timeout", "30"]).await;
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("has no unit"));
    let out = build(&emu, &["CHURN", "a.b.c"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("invalid output \"a.b.c\""));
    assert!(client.list_jobs("CHURN", None).await.unwrap().is_empty());
    emu.shutdown().await;
}
