//! `dssctl watch` through the real binary against the emulator on 127.0.0.1:0, on a temp
//! manifest directory: resources created at start; an edit applied within seconds; an invalid
//! edit reported with nothing applied and `/readyz` unchanged; drift corrected on the next
//! interval, or only reported with `--no-self-heal`; deletions pending without `--prune`;
//! `/healthz`, `/readyz`, `/metrics`; SIGTERM → exit 0; `--notify` events received on a local
//! HTTP receiver (drift, refusal, failure, lock contention); the status page (`/` and
//! `/api/status`) with a resource in sync, one detect-only and drifted, one failing, and the
//! lock holder, never a secret. Every wait is bounded.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dssctl::client::DssClient;
use dssctl::emulator::{EmulatorConfig, RunningEmulator};

use crate::support::{client, dssctl_command, start_emulator};

const KEY: &str = "watch-test-admin-key";

fn group(name: &str, description: &str) -> String {
    format!(
        "apiVersion: dssctl/v1\nkind: Group\nmetadata:\n  name: {name}\nspec:\n  description: {description}\n"
    )
}

/// A manifest directory with the groups `(name, description)` in `groups.yaml`.
fn manifests(root: &Path, groups: &[(&str, &str)]) -> PathBuf {
    let dir = root.join("manifests");
    std::fs::create_dir_all(&dir).unwrap();
    write_groups(&dir, groups);
    dir
}

fn write_groups(dir: &Path, groups: &[(&str, &str)]) {
    let docs: Vec<String> = groups.iter().map(|(n, d)| group(n, d)).collect();
    std::fs::write(dir.join("groups.yaml"), docs.join("---\n")).unwrap();
}

/// The daemon under test: killed on drop if still running.
struct Daemon {
    child: Child,
    health: String,
    log: PathBuf,
}

impl Daemon {
    /// Start `dssctl watch DIR` against `emu` with `extra` flags; waits for the health address.
    fn start(emu: &RunningEmulator, dir: &Path, cwd: &Path, extra: &[&str]) -> Daemon {
        Daemon::start_with_env(emu, dir, cwd, extra, &[])
    }

    /// [`Daemon::start`] with `env` added to the daemon's environment.
    fn start_with_env(
        emu: &RunningEmulator,
        dir: &Path,
        cwd: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Daemon {
        let log = cwd.join("watch.log");
        let mut cmd = dssctl_command(&["RUST_LOG"]);
        cmd.envs(env.iter().copied());
        // A short lock handshake: every reconcile that writes takes the stack lock.
        cmd.env("DSSCTL_LOCK_WRITE_BOUND", "200ms");
        cmd.arg("watch")
            .arg(dir)
            .args(["--url", &emu.url, "--api-key", KEY, "--listen", "127.0.0.1:0"])
            .args(extra)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        let mut child = cmd.spawn().expect("dssctl watch starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("the daemon prints its address");
        let health = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Daemon { child, health, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let resp = reqwest::Client::new()
            .get(format!("{}{path}", self.health))
            .send()
            .await
            .expect("the health endpoint answers");
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    /// One sample of `/metrics`, by its full name with labels.
    async fn metric(&self, sample: &str) -> Option<f64> {
        let (_, text) = self.get("/metrics").await;
        text.lines()
            .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
    }

    /// SIGTERM, then the exit code (bounded wait).
    fn terminate(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the daemon did not stop after SIGTERM:\n{}", self.log());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Poll `check` until it returns true, at most `within`.
async fn eventually<F, Fut>(within: Duration, what: &str, daemon: &Daemon, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}; daemon log:\n{}", daemon.log());
}

async fn description(c: &DssClient, name: &str) -> Option<String> {
    c.get_group(name).await.ok().and_then(|g| g.description)
}

async fn set_description(c: &DssClient, name: &str, description: &str) {
    let mut g = c.get_group(name).await.unwrap();
    g.description = Some(description.into());
    c.update_group(name, &g).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_applies_edits_and_keeps_the_last_good_state_on_an_invalid_one() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let tmp = tempfile::tempdir().unwrap();
    let dir = manifests(tmp.path(), &[("analysts", "Readers")]);
    let daemon = Daemon::start(&emu, &dir, tmp.path(), &["--interval", "1h"]);

    assert_eq!(daemon.get("/healthz").await.0, 200);
    eventually(Duration::from_secs(10), "the group created", &daemon, || async {
        description(&c, "analysts").await.as_deref() == Some("Readers")
    })
    .await;
    eventually(Duration::from_secs(5), "ready", &daemon, || async {
        daemon.get("/readyz").await.0 == 200
    })
    .await;

    // A saved edit is applied within a few seconds.
    let saved = Instant::now();
    write_groups(&dir, &[("analysts", "Business readers")]);
    eventually(Duration::from_secs(5), "the edit applied", &daemon, || async {
        description(&c, "analysts").await.as_deref() == Some("Business readers")
    })
    .await;
    let took = saved.elapsed();
    assert!(took < Duration::from_secs(4), "applied after {took:?}");

    // An invalid edit: reported, nothing applied, readiness unchanged.
    std::fs::write(
        dir.join("groups.yaml"),
        group("analysts", "Broken") + "  notAField: true\n",
    )
    .unwrap();
    eventually(
        Duration::from_secs(5),
        "the invalid edit reported",
        &daemon,
        || async { daemon.metric("dssctl_reconciles_total{result=\"invalid\"}").await == Some(1.0) },
    )
    .await;
    let log = daemon.log();
    assert!(log.contains("invalid manifests"), "{log}");
    assert!(
        log.contains("groups.yaml"),
        "the diagnostic names the file:\n{log}"
    );
    assert_eq!(
        description(&c, "analysts").await.as_deref(),
        Some("Business readers")
    );
    assert_eq!(daemon.get("/readyz").await.0, 200);

    // Fixing the file applies again.
    write_groups(&dir, &[("analysts", "Fixed")]);
    eventually(Duration::from_secs(5), "the fix applied", &daemon, || async {
        description(&c, "analysts").await.as_deref() == Some("Fixed")
    })
    .await;

    let (status, metrics) = daemon.get("/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(
        daemon.metric("dssctl_reconciles_total{result=\"success\"}").await,
        Some(3.0),
        "{metrics}"
    );
    assert_eq!(
        daemon.metric("dssctl_reconciles_total{result=\"error\"}").await,
        Some(0.0)
    );
    assert_eq!(
        daemon.metric("dssctl_reconcile_duration_seconds_count").await,
        Some(4.0)
    );
    assert_eq!(daemon.metric("dssctl_drifted_resources").await, Some(0.0));
    assert_eq!(daemon.metric("dssctl_pending_deletes").await, Some(0.0));
    assert!(metrics.contains("# TYPE dssctl_reconcile_duration_seconds histogram"));
    assert!(!daemon.log().contains(KEY), "the API key reached the log");

    let code = tokio::task::spawn_blocking(move || daemon.terminate())
        .await
        .unwrap();
    assert_eq!(code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_corrects_drift_and_leaves_deletions_pending_without_prune() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let tmp = tempfile::tempdir().unwrap();
    let dir = manifests(tmp.path(), &[("analysts", "Readers"), ("interns", "Temps")]);
    let daemon = Daemon::start(&emu, &dir, tmp.path(), &["--interval", "1s"]);
    eventually(Duration::from_secs(10), "the groups created", &daemon, || async {
        description(&c, "interns").await.is_some() && description(&c, "analysts").await.is_some()
    })
    .await;

    // Drift made behind the daemon's back is corrected on the next interval.
    set_description(&c, "analysts", "Changed by hand").await;
    eventually(Duration::from_secs(6), "the drift corrected", &daemon, || async {
        description(&c, "analysts").await.as_deref() == Some("Readers")
    })
    .await;

    // A group no longer declared is not deleted without --prune: it is pending.
    write_groups(&dir, &[("analysts", "Readers")]);
    eventually(Duration::from_secs(6), "a pending delete", &daemon, || async {
        daemon.metric("dssctl_pending_deletes").await == Some(1.0)
    })
    .await;
    assert!(description(&c, "interns").await.is_some());
    assert!(daemon.log().contains("not deleted without --prune"));
    assert_eq!(daemon.get("/readyz").await.0, 200);

    let code = tokio::task::spawn_blocking(move || daemon.terminate())
        .await
        .unwrap();
    assert_eq!(code, Some(0));

    // With --prune, the next start deletes it.
    let daemon = Daemon::start(&emu, &dir, tmp.path(), &["--interval", "1h", "--prune"]);
    eventually(Duration::from_secs(10), "the group deleted", &daemon, || async {
        c.get_group("interns").await.is_err()
    })
    .await;
    assert_eq!(daemon.metric("dssctl_pending_deletes").await, Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_without_self_heal_only_reports_drift() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let tmp = tempfile::tempdir().unwrap();
    let dir = manifests(tmp.path(), &[("analysts", "Readers")]);
    let daemon = Daemon::start(
        &emu,
        &dir,
        tmp.path(),
        &["--interval", "1s", "--no-self-heal", "--log-format", "json"],
    );
    eventually(Duration::from_secs(10), "the group created", &daemon, || async {
        description(&c, "analysts").await.is_some()
    })
    .await;
    set_description(&c, "analysts", "Changed by hand").await;
    eventually(Duration::from_secs(6), "the drift reported", &daemon, || async {
        daemon.metric("dssctl_drifted_resources").await == Some(1.0) && daemon.log().contains("not corrected")
    })
    .await;
    // Two more intervals: still not corrected, and the daemon stays ready.
    tokio::time::sleep(Duration::from_millis(2300)).await;
    assert_eq!(
        description(&c, "analysts").await.as_deref(),
        Some("Changed by hand")
    );
    assert_eq!(daemon.get("/readyz").await.0, 200);
    // --log-format json: one JSON object per line.
    let log = daemon.log();
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        assert!(v.get("level").is_some() && v.get("fields").is_some(), "{line}");
    }
    let code = tokio::task::spawn_blocking(move || daemon.terminate())
        .await
        .unwrap();
    assert_eq!(code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_survives_an_unreachable_instance_and_is_not_ready() {
    dssctl::install_crypto_provider();
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tmp = tempfile::tempdir().unwrap();
    let dir = manifests(tmp.path(), &[("analysts", "Readers")]);
    let emu_url = format!("http://127.0.0.1:{port}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dssctl"));
    let log = tmp.path().join("watch.log");
    cmd.arg("watch")
        .arg(&dir)
        .args(["--url", &emu_url, "--api-key", KEY, "--listen", "127.0.0.1:0"])
        .args(["--interval", "2s"])
        .current_dir(tmp.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LOG");
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let health = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_string();
    let daemon = Daemon { child, health, log };
    eventually(Duration::from_secs(15), "a failed reconcile", &daemon, || async {
        daemon
            .metric("dssctl_reconciles_total{result=\"error\"}")
            .await
            .is_some_and(|n| n >= 1.0)
    })
    .await;
    assert_eq!(daemon.get("/healthz").await.0, 200);
    assert_eq!(daemon.get("/readyz").await.0, 503);
    assert!(daemon.log().contains("retrying"), "{}", daemon.log());
    let code = tokio::task::spawn_blocking(move || daemon.terminate())
        .await
        .unwrap();
    assert_eq!(code, Some(0));
}

/// A webhook receiver on 127.0.0.1:0: records every JSON body; answers 503 to the very first
/// request (the daemon must retry it).
async fn receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let refused_once = Arc::new(AtomicBool::new(false));
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let record = record.clone();
            let refused_once = refused_once.clone();
            async move {
                if !refused_once.swap(true, Ordering::SeqCst) {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                }
                record.lock().unwrap().push(body);
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_notifies_drift_refusals_failures_and_lock_contention() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let tmp = tempfile::tempdir().unwrap();
    let dir = manifests(tmp.path(), &[("analysts", "Readers"), ("auditors", "Audit")]);
    let (hook, seen) = receiver().await;
    let daemon = Daemon::start(
        &emu,
        &dir,
        tmp.path(),
        &[
            "--interval",
            "1s",
            "--prune",
            "--max-deletes",
            "0",
            "--notify",
            &hook,
        ],
    );
    let events = |kind: &'static str| {
        let seen = seen.clone();
        move || {
            seen.lock()
                .unwrap()
                .iter()
                .filter(|e| e["event"] == kind)
                .cloned()
                .collect::<Vec<_>>()
        }
    };
    eventually(Duration::from_secs(10), "the groups created", &daemon, || async {
        description(&c, "auditors").await.as_deref() == Some("Audit")
    })
    .await;

    // Drift: detected and corrected on the next interval, both notified (the first POST was
    // refused with a 503 and retried).
    set_description(&c, "analysts", "Changed by hand").await;
    let corrected = events("drift_corrected");
    eventually(Duration::from_secs(10), "drift corrected", &daemon, || {
        let corrected = corrected.clone();
        async move { !corrected().is_empty() }
    })
    .await;
    let detected = events("drift_detected")();
    let first = detected.first().expect("drift detected was notified");
    assert_eq!(first["resources"], serde_json::json!(["group/analysts"]));
    assert_eq!(first["count"], 1);
    assert_eq!(first["stack"], "default");
    assert_eq!(first["target"], emu.url.as_str());
    let text = first["text"].as_str().unwrap();
    assert!(
        text.contains("drift detected (1 resource(s): group/analysts)"),
        "{text}"
    );
    assert!(!text.contains(KEY) && !seen.lock().unwrap().iter().any(|e| e.to_string().contains(KEY)));

    // Another run holds the lock: the drift is not corrected, contention is notified.
    let mut vars = c.get_global_variables().await.unwrap();
    let far = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000 + 600_000;
    vars.insert(
        dssctl::lock::lock_variable("default"),
        serde_json::json!({
            "holder": {"id": "other:1:1", "host": "other", "pid": 1, "user": "ops", "command": "apply"},
            "acquiredAt": "2026-01-01T00:00:00Z", "expiresAt": "later", "expiresAtMs": far,
        }),
    );
    c.set_global_variables(&vars).await.unwrap();
    set_description(&c, "analysts", "Changed again").await;
    let contention = events("lock_contention");
    eventually(Duration::from_secs(10), "lock contention", &daemon, || {
        let contention = contention.clone();
        async move { !contention().is_empty() }
    })
    .await;
    let held = &contention()[0];
    assert!(
        held["text"].as_str().unwrap().contains("held by ops@other"),
        "{held}"
    );
    assert_eq!(
        description(&c, "analysts").await.as_deref(),
        Some("Changed again")
    );
    let mut vars = c.get_global_variables().await.unwrap();
    vars.remove(&dssctl::lock::lock_variable("default"));
    c.set_global_variables(&vars).await.unwrap();

    // A deletion beyond --max-deletes 0: the guard refuses, notified.
    write_groups(&dir, &[("analysts", "Readers")]);
    let refused = events("guard_refused");
    eventually(Duration::from_secs(10), "guard refused", &daemon, || {
        let refused = refused.clone();
        async move { !refused().is_empty() }
    })
    .await;
    assert!(
        refused()[0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "group/auditors")
    );
    assert!(c.get_group("auditors").await.is_ok(), "nothing deleted");

    // An operation DSS refuses (the emulator refuses spaces in group names): apply failed.
    write_groups(
        &dir,
        &[("analysts", "Readers"), ("auditors", "Audit"), ("data team", "x")],
    );
    let failed = events("apply_failed");
    eventually(Duration::from_secs(10), "apply failed", &daemon, || {
        let failed = failed.clone();
        async move { !failed().is_empty() }
    })
    .await;
    assert_eq!(failed()[0]["resources"], serde_json::json!(["group/data team"]));

    for kind in [
        "drift_detected",
        "drift_corrected",
        "lock_contention",
        "guard_refused",
        "apply_failed",
    ] {
        let sample = format!("dssctl_events_total{{event=\"{kind}\"}}");
        assert!(daemon.metric(&sample).await.unwrap_or(0.0) >= 1.0, "{sample}");
    }
    assert_eq!(
        daemon.metric("dssctl_notifications_dropped_total").await,
        Some(0.0)
    );
    assert_eq!(daemon.terminate(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_serves_a_status_page_of_every_resource() {
    const SECRET: &str = "status-page-secret-value";
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    // Exists already and differs: adopted as detect-only, so never written.
    let auditors = serde_json::json!({"name": "auditors", "description": "Set by hand"});
    c.create_group(&serde_json::from_value(auditors).unwrap())
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = manifests(tmp.path(), &[("analysts", "Readers"), ("data team", "x")]);
    std::fs::write(
        dir.join("more.yaml"),
        "apiVersion: dssctl/v1\nkind: Group\nmetadata:\n  name: auditors\n  annotations:\n    \
         dssctl.io/sync: detect-only\nspec:\n  description: Audit\n---\napiVersion: dssctl/v1\n\
         kind: Connection\nmetadata:\n  name: wh\nspec:\n  type: PostgreSQL\n  params:\n    \
         host: db\n    password: {fromEnv: STATUS_TEST_PASSWORD}\n",
    )
    .unwrap();
    let daemon = Daemon::start_with_env(
        &emu,
        &dir,
        tmp.path(),
        &["--interval", "1s"],
        &[("STATUS_TEST_PASSWORD", SECRET)],
    );
    let status = || async {
        let (code, body) = daemon.get("/api/status").await;
        assert_eq!(code, 200);
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };
    let state_of = |doc: &serde_json::Value, name: &str| {
        doc["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .map(|r| r["state"].as_str().unwrap().to_string())
    };
    eventually(
        Duration::from_secs(15),
        "every resource with its state",
        &daemon,
        || async {
            let doc = status().await;
            state_of(&doc, "analysts").as_deref() == Some("in_sync")
                && state_of(&doc, "wh").as_deref() == Some("in_sync")
                && state_of(&doc, "auditors").as_deref() == Some("detect_only")
                && state_of(&doc, "data team").as_deref() == Some("failed")
        },
    )
    .await;
    let doc = status().await;
    assert_eq!(doc["stack"], "default");
    assert_eq!(doc["counts"]["in_sync"], 2);
    assert_eq!(doc["counts"]["detect_only"], 1);
    assert_eq!(doc["counts"]["failed"], 1);
    let auditors = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "auditors")
        .unwrap();
    assert_eq!(auditors["detail"], "description");
    assert!(
        auditors["origin"].as_str().unwrap().ends_with("more.yaml:1:1"),
        "{auditors}"
    );
    let failure = doc["last_failure"]["error"].as_str().unwrap();
    assert!(failure.contains("group data team"), "{failure}");
    let last = &doc["reconciles"][0];
    assert_eq!(last["result"], "error");
    assert!(last["summary"].as_str().unwrap().starts_with("Plan: "), "{last}");
    assert_eq!(
        c.get_group("auditors").await.unwrap().description.as_deref(),
        Some("Set by hand"),
        "a detect-only resource is never written"
    );
    assert_eq!(
        daemon.metric("dssctl_detect_only_drifted_resources").await,
        Some(1.0)
    );

    let (code, html) = daemon.get("/").await;
    assert_eq!(code, 200);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<meta http-equiv=\"refresh\""));
    for (name, state) in [
        ("analysts", "in_sync"),
        ("wh", "in_sync"),
        ("auditors", "detect_only"),
        ("data team", "failed"),
    ] {
        assert!(
            html.lines()
                .any(|l| l.contains(&format!("data-state=\"{state}\""))
                    && l.contains(&format!("<code>{name}</code>"))),
            "{name} {state} not on the page:\n{html}"
        );
    }
    assert!(
        !html.contains("<script") && !html.contains("<link"),
        "self-contained"
    );

    // Another run holds the stack lock: the page names it.
    let mut vars = c.get_global_variables().await.unwrap();
    let far = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000 + 600_000;
    vars.insert(
        dssctl::lock::lock_variable("default"),
        serde_json::json!({
            "holder": {"id": "other:1:1", "host": "other", "pid": 1, "user": "ops", "command": "apply"},
            "acquiredAt": "2026-01-01T00:00:00Z", "expiresAt": "later", "expiresAtMs": far,
        }),
    );
    c.set_global_variables(&vars).await.unwrap();
    eventually(
        Duration::from_secs(15),
        "the lock holder on the page",
        &daemon,
        || async {
            status().await["lock"]["holder"]
                .as_str()
                .is_some_and(|h| h.contains("ops@other"))
        },
    )
    .await;
    let (_, html) = daemon.get("/").await;
    assert!(html.contains("Stack lock</b> held by <code>ops@other"), "{html}");

    // Read-only, and never a secret (nor the API key).
    let (_, json) = daemon.get("/api/status").await;
    for body in [&html, &json] {
        assert!(!body.contains(SECRET) && !body.contains(KEY), "{body}");
    }
    let post = reqwest::Client::new()
        .post(format!("{}/", daemon.health))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status().as_u16(), 405);
    assert_eq!(daemon.terminate(), Some(0));
}
