//! How dssctl says what went wrong, through the real binary: each error said once, with a hint
//! when the user can fix it (a refused API key names where the key came from without showing
//! it; a refused connection names the URL and whether it came from `--url` or `DSS_URL`; an
//! API address given as the URL is taken as the base URL with a note), and stdout failures
//! (a full device: exit 1 and a message, never a panic; a closed pipe: a quiet exit 0); a
//! second Ctrl-C during a build (exit 130, reaching `main`).

use std::path::Path;
use std::process::{Command, Output, Stdio};

use dssctl::emulator::{EmulatorConfig, RunningEmulator};

use crate::support::{dssctl_command, output, show, start_emulator};

const KEY: &str = "errors-test-admin-key";
const WRONG_KEY: &str = "not-the-key-of-this-instance";

/// One group: a plan that needs no secret.
fn manifests(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("m");
    std::fs::create_dir_all(&path).unwrap();
    std::fs::write(
        path.join("groups.yaml"),
        "apiVersion: dssctl/v1\nkind: Group\nmetadata:\n  name: analysts\nspec:\n  description: Analysts\n",
    )
    .unwrap();
    path
}

fn command(cwd: &Path, args: &[&str]) -> Command {
    let mut cmd = dssctl_command(&["RUST_LOG"]);
    cmd.args(args).current_dir(cwd).stdin(Stdio::null());
    cmd
}

/// stderr with the run's variable parts replaced: the emulator's URL, the temporary directory.
fn stderr(out: &Output, emu_url: &str, dir: &Path) -> String {
    String::from_utf8_lossy(&out.stderr)
        .replace(emu_url, "http://[EMULATOR]")
        .replace(&dir.display().to_string(), "[DIR]")
}

async fn emulator() -> RunningEmulator {
    start_emulator(KEY, EmulatorConfig::default()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_names_where_it_came_from_once_and_never_shows_it() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let m = manifests(dir.path());
    let m = m.to_str().unwrap();
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, format!("{WRONG_KEY}\n")).unwrap();

    let flag = command(
        dir.path(),
        &["plan", m, "--url", &emu.url, "--api-key", WRONG_KEY],
    );
    let mut env = command(dir.path(), &["plan", m]);
    env.env("DSS_URL", &emu.url).env("DSS_API_KEY", WRONG_KEY);
    let mut file = command(dir.path(), &["plan", m, "--url", &emu.url]);
    file.env("DSS_API_KEY_FILE", &key_file);
    for (name, cmd) in [("flag", flag), ("env", env), ("file", file)] {
        let out = output(cmd).await;
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        let text = stderr(&out, &emu.url, dir.path());
        assert!(!text.contains(WRONG_KEY), "the key is shown:\n{text}");
        assert_eq!(
            text.matches("unauthorized (401)").count(),
            1,
            "said twice:\n{text}"
        );
        insta::assert_snapshot!(format!("unauthorized_key_from_{name}"), text);
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_address_is_taken_as_the_base_url_with_a_note() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let m = manifests(dir.path());
    for suffix in ["/public/api", "/dip/publicapi/"] {
        let url = format!("{}{suffix}", emu.url);
        let cmd = command(
            dir.path(),
            &[
                "plan",
                m.to_str().unwrap(),
                "--url",
                &url,
                "--api-key",
                KEY,
                "--no-color",
            ],
        );
        let out = output(cmd).await;
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("analysts"),
            "{}",
            show(&out)
        );
        insta::assert_snapshot!(
            format!(
                "api_address_as_url{}",
                suffix.trim_end_matches('/').replace('/', "_")
            ),
            stderr(&out, &emu.url, dir.path())
        );
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_names_the_url_and_where_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifests(dir.path());
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let mut cmd = command(dir.path(), &["plan", m.to_str().unwrap()]);
    cmd.env("DSS_URL", &url).env("DSS_API_KEY", KEY);
    let out = output(cmd).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = stderr(&out, &url, dir.path());
    assert!(text.contains("from the environment variable DSS_URL"), "{text}");
    // The operating system's words for a refused connection vary; keep the lines dssctl owns.
    let hint: Vec<&str> = text.lines().filter(|l| l.starts_with("hint:")).collect();
    insta::assert_snapshot!("connection_refused_hint", hint.join("\n"));
}

/// stdout on a device that is always full.
fn full() -> Stdio {
    Stdio::from(std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_stdout_is_an_error_and_exit_1_for_every_command() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let m = manifests(dir.path());
    let m = m.to_str().unwrap();
    let runs: [(&str, Vec<&str>); 6] = [
        // clap's own answers go through the same writer as every command's output.
        ("help", vec!["--help"]),
        ("version", vec!["--version"]),
        ("schema", vec!["schema"]),
        ("validate", vec!["validate", m]),
        ("plan", vec!["plan", m, "--url", &emu.url, "--api-key", KEY]),
        (
            "apply",
            vec!["apply", m, "--url", &emu.url, "--api-key", KEY, "--auto-approve"],
        ),
    ];
    for (name, args) in runs {
        let mut cmd = command(dir.path(), &args);
        cmd.stdout(full());
        let out = output(cmd).await;
        assert_eq!(out.status.code(), Some(1), "{name}: {}", show(&out));
        let text = stderr(&out, &emu.url, dir.path());
        assert!(!text.contains("panicked"), "{name}: {text}");
        insta::assert_snapshot!(format!("full_stdout_{name}"), text);
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_ends_quietly_with_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifests(dir.path());
    for args in [
        vec!["schema"],
        vec!["--help"],
        vec!["validate", m.to_str().unwrap(), "--format", "json"],
    ] {
        let mut cmd = command(dir.path(), &args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let out = tokio::task::spawn_blocking(move || {
            let mut child = cmd.spawn().expect("dssctl runs");
            // The reader goes away before dssctl writes anything, as `| head -c0` would.
            drop(child.stdout.take());
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", show(&out));
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{args:?}");
    }
}

/// A command line dssctl does not accept exits 1, as every error does: clap's own status (2)
/// would read as "changes" to a CI script running `plan --detailed-exitcode`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_command_line_is_an_error_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    for (name, args) in [
        ("unknown_flag", vec!["plan", "--detailed-exitcod"]),
        ("no_command", vec![]),
        ("bad_value", vec!["plan", "--parallelism", "many"]),
    ] {
        let out = output(command(dir.path(), &args)).await;
        assert_eq!(out.status.code(), Some(1), "{name}: {}", show(&out));
        assert!(out.stdout.is_empty(), "{name}: {}", show(&out));
        let text = String::from_utf8_lossy(&out.stderr).into_owned();
        insta::assert_snapshot!(format!("refused_command_line_{name}"), text);
    }
}

/// A second Ctrl-C while dssctl waits for DSS to confirm the abort of a build: dssctl stops at
/// once with 130, the status flowing back to `main` (no exit from inside the signal task).
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_interrupt_stops_a_build_with_130() {
    use dssctl::wire::{CreateProjectRequest, Dataset};

    // Every request takes a while, so that the abort is still unconfirmed at the second signal.
    let config = EmulatorConfig {
        job_duration: std::time::Duration::from_secs(120),
        latency: std::time::Duration::from_millis(1500),
        ..Default::default()
    };
    let emu = start_emulator(KEY, config).await;
    let client = crate::support::client(&emu, KEY);
    client
        .create_project(&CreateProjectRequest {
            project_key: "CHURN".into(),
            name: Some("Churn".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let dataset: Dataset = serde_json::from_value(serde_json::json!({
        "projectKey": "CHURN", "name": "customers", "type": "Inline",
        "params": {}, "formatType": "csv", "formatParams": {}
    }))
    .unwrap();
    client.create_dataset("CHURN", &dataset).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command(
        dir.path(),
        &[
            "build",
            "CHURN",
            "customers",
            "--url",
            &emu.url,
            "--api-key",
            KEY,
            "--poll",
            "20ms",
        ],
    );
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().expect("dssctl starts");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while client.list_jobs("CHURN", None).await.unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the job never started");
    }
    let interrupt = || {
        let status = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    };
    interrupt();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    interrupt();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("interrupted: aborting the job"), "{text}");
    assert!(
        text.trim_end()
            .ends_with("error: interrupted again: exiting without waiting; the job may still be running"),
        "{text}"
    );
    emu.shutdown().await;
}
