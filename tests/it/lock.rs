//! The stack lock through the real binary against the emulator on 127.0.0.1:0: ten applies of
//! one stack started at once write one at a time (the emulator counts the lock holders whose
//! writes overlap) and never write an object twice; `plan` names the holder; apply exits 5
//! while another run holds the lock and waits with `--lock-timeout`; `unlock` with and without
//! `--force`; the lock released after a failed apply and on Ctrl-C; the library's lock renewed,
//! excluding others, and noticing a takeover; a link too slow for the write bound reported.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use dssctl::client::DssClient;
use dssctl::emulator::{EmulatorConfig, RunningEmulator};
use dssctl::lock::{
    Holder, LockError, LockSettings, LockState, acquire, acquire_reading, lock_variable, peek,
    unlock as remove_lock,
};
use serde_json::{Value, json};

use crate::support::{
    cli_args, client, copy_quickstart, dssctl_command, output, show, start_emulator, stats,
};

const KEY: &str = "lock-test-admin-key";
/// Δ for these runs: far above the emulator's latency, small enough to keep the tests short.
const WRITE_BOUND: &str = "400ms";

fn command(cmd: &str, emu: &RunningEmulator, path: &Path, cwd: &Path, extra: &[&str]) -> Command {
    let mut c = dssctl_command(&["RUST_LOG", "DSSCTL_LOCK_WRITE_BOUND"]);
    c.args(cli_args(cmd, path, emu, KEY, extra))
        .env("DSSCTL_LOCK_WRITE_BOUND", WRITE_BOUND)
        .current_dir(cwd)
        .stdin(Stdio::null());
    c
}

async fn apply(emu: &RunningEmulator, path: &Path, cwd: &Path, extra: &[&str]) -> Output {
    let mut e = vec!["--auto-approve", "--no-color"];
    e.extend_from_slice(extra);
    output(command("apply", emu, path, cwd, &e)).await
}

async fn unlock(emu: &RunningEmulator, cwd: &Path, extra: &[&str]) -> Output {
    let mut c = dssctl_command(&["RUST_LOG"]);
    c.args(["unlock", "--url", &emu.url, "--api-key", KEY])
        .args(extra)
        .current_dir(cwd)
        .stdin(Stdio::null());
    output(c).await
}

async fn lock_value(c: &DssClient) -> Option<Value> {
    c.get_global_variables()
        .await
        .unwrap()
        .get(&lock_variable("default"))
        .cloned()
}

/// Write another run's lock record, expiring `expires_in_ms` from now (negative: expired).
async fn plant_lock(c: &DssClient, expires_in_ms: i128) {
    let now_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let mut vars = c.get_global_variables().await.unwrap();
    vars.insert(
        lock_variable("default"),
        json!({
            "holder": {"id": "ci-runner:4242:feed", "host": "ci-runner", "pid": 4242,
                       "user": "deploy", "ciJob": "https://ci.example/jobs/7", "command": "apply"},
            "acquiredAt": "2026-01-01T00:00:00Z",
            "expiresAt": "later",
            "expiresAtMs": now_ms + expires_in_ms,
        }),
    );
    c.set_global_variables(&vars).await.unwrap();
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The write counts per route, the global variables (the ledger and the lock) aside.
fn object_writes(s: &dssctl::wire::EmulatorStats) -> Vec<(String, u64)> {
    s.by_route
        .iter()
        .filter(|(route, _)| !route.starts_with("GET ") && !route.contains("/admin/variables"))
        .map(|(r, n)| (r.clone(), *n))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_applies_of_one_stack_write_one_at_a_time() {
    let latency = EmulatorConfig {
        latency: Duration::from_millis(20),
        ..Default::default()
    };
    // What one apply from empty writes: the reference for "no object written twice".
    let baseline = start_emulator(KEY, latency.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let manifests = copy_quickstart(dir.path());
    let once = apply(&baseline, &manifests, dir.path(), &[]).await;
    assert_eq!(once.status.code(), Some(0), "{}", show(&once));
    let expected = object_writes(&stats(&baseline, KEY).await);
    assert!(!expected.is_empty());

    let emu = start_emulator(KEY, latency).await;
    let runs: Vec<_> = (0..10)
        .map(|i| {
            // Half wait for the lock, half give up at once.
            let extra: &[&str] = if i % 2 == 0 {
                &["--lock-timeout", "2m"]
            } else {
                &[]
            };
            let cmd = {
                let mut e = vec!["--auto-approve", "--no-color"];
                e.extend_from_slice(extra);
                command("apply", &emu, &manifests, dir.path(), &e)
            };
            tokio::spawn(output(cmd))
        })
        .collect();
    let mut codes = Vec::new();
    for run in runs {
        let out = run.await.unwrap();
        let code = out.status.code();
        assert!(matches!(code, Some(0 | 5)), "{}", show(&out));
        if code == Some(5) {
            assert!(stderr(&out).contains("is locked by"), "{}", show(&out));
        }
        codes.push(code);
    }
    // Every run that waited got the lock in turn; at least one applied.
    for (i, code) in codes.iter().enumerate() {
        if i % 2 == 0 {
            assert_eq!(*code, Some(0), "{codes:?}");
        }
    }
    let s = stats(&emu, KEY).await;
    assert_eq!(s.max_overlapping_lock_holders, 1, "{s:?}");
    assert_eq!(object_writes(&s), expected, "an object was written twice");
    assert_eq!(lock_value(&client(&emu, KEY)).await, None);
}

#[tokio::test]
async fn a_held_lock_stops_apply_shows_in_plan_and_needs_force_to_remove() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let dir = tempfile::tempdir().unwrap();
    let manifests = copy_quickstart(dir.path());
    plant_lock(&c, 600_000).await;

    let plan = output(command("plan", &emu, &manifests, dir.path(), &[])).await;
    assert_eq!(plan.status.code(), Some(0), "{}", show(&plan));
    assert!(
        stderr(&plan).contains(
            "note: stack \"default\" is locked by deploy@ci-runner (pid 4242, apply, https://ci.example/jobs/7), since 2026-01-01T00:00:00Z"
        ),
        "{}",
        show(&plan)
    );

    let refused = apply(&emu, &manifests, dir.path(), &[]).await;
    assert_eq!(refused.status.code(), Some(5), "{}", show(&refused));
    assert!(
        stderr(&refused).contains("deploy@ci-runner"),
        "{}",
        show(&refused)
    );
    assert!(
        stderr(&refused).contains("nothing was written"),
        "{}",
        show(&refused)
    );
    let waited = apply(&emu, &manifests, dir.path(), &["--lock-timeout", "1s"]).await;
    assert_eq!(waited.status.code(), Some(5), "{}", show(&waited));
    assert!(
        stderr(&waited).contains("waiting for the lock of stack \"default\", held by deploy@ci-runner"),
        "{}",
        show(&waited)
    );
    // The quickstart's groups were not created: only the fresh instance's built-ins are there.
    let groups: Vec<String> = c
        .list_groups()
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert!(
        !groups.iter().any(|g| g == "analysts" || g == "data_scientists"),
        "nothing written: {groups:?}"
    );

    let no_force = unlock(&emu, dir.path(), &[]).await;
    assert_eq!(no_force.status.code(), Some(1), "{}", show(&no_force));
    assert!(stderr(&no_force).contains("--force"), "{}", show(&no_force));
    assert!(lock_value(&c).await.is_some());
    let forced = unlock(&emu, dir.path(), &["--force"]).await;
    assert_eq!(forced.status.code(), Some(0), "{}", show(&forced));
    assert!(
        String::from_utf8_lossy(&forced.stdout).contains("Removed the lock of stack \"default\""),
        "{}",
        show(&forced)
    );
    assert_eq!(lock_value(&c).await, None);
    let again = unlock(&emu, dir.path(), &[]).await;
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("is not locked"),
        "{}",
        show(&again)
    );

    // An expired lock needs no --force, and an apply waiting for one takes it over.
    plant_lock(&c, -1).await;
    let expired = unlock(&emu, dir.path(), &[]).await;
    assert_eq!(expired.status.code(), Some(0), "{}", show(&expired));
    assert_eq!(lock_value(&c).await, None);
    plant_lock(&c, 1_500).await;
    let took_over = apply(&emu, &manifests, dir.path(), &["--lock-timeout", "30s"]).await;
    assert_eq!(took_over.status.code(), Some(0), "{}", show(&took_over));
    assert_eq!(lock_value(&c).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_is_released_after_a_failed_apply() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let dir = tempfile::tempdir().unwrap();
    let manifests = copy_quickstart(dir.path());
    let first = apply(&emu, &manifests, dir.path(), &[]).await;
    assert_eq!(first.status.code(), Some(0), "{}", show(&first));
    // Only the groups left: more deletions than the guard allows (exit 3).
    let refused = apply(&emu, &manifests.join("groups.yaml"), dir.path(), &[]).await;
    assert_eq!(refused.status.code(), Some(3), "{}", show(&refused));
    assert_eq!(lock_value(&c).await, None);
    // A failed operation (the emulator refuses spaces in group names) fails under the lock.
    let bad = dir.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(
        bad.join("g.yaml"),
        "apiVersion: dssctl/v1\nkind: Group\nmetadata:\n  name: data team\n",
    )
    .unwrap();
    let failed = apply(&emu, &bad, dir.path(), &["--stack", "other"]).await;
    assert_eq!(failed.status.code(), Some(1), "{}", show(&failed));
    assert!(
        String::from_utf8_lossy(&failed.stdout).contains("failed"),
        "{}",
        show(&failed)
    );
    let vars = c.get_global_variables().await.unwrap();
    assert!(vars.get(&lock_variable("other")).is_none(), "{vars:?}");
    assert_eq!(lock_value(&c).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_an_apply_releases_the_lock_and_exits_130() {
    let emu = start_emulator(
        KEY,
        EmulatorConfig {
            latency: Duration::from_millis(150),
            ..Default::default()
        },
    )
    .await;
    let c = client(&emu, KEY);
    let dir = tempfile::tempdir().unwrap();
    let manifests = copy_quickstart(dir.path());
    let mut cmd = command(
        "apply",
        &emu,
        &manifests,
        dir.path(),
        &["--auto-approve", "--parallelism", "1"],
    );
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    // Once the lock is held and a few objects are written.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while stats(&emu, KEY).await.by_method.get("POST").copied().unwrap_or(0) < 2 {
        assert!(std::time::Instant::now() < deadline, "the apply made no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(lock_value(&c).await.is_some());
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", show(&out));
    assert!(
        stderr(&out).contains("the lock of stack \"default\" was released"),
        "{}",
        show(&out)
    );
    assert_eq!(lock_value(&c).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lock_is_renewed_excludes_others_and_notices_a_takeover() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let client = client(&emu, KEY);
    let settings = LockSettings {
        timeout: None,
        write_bound: Duration::from_millis(200),
        ttl: Duration::from_millis(900),
    };
    let a = Holder::current("apply", |_| None);
    let guard = acquire(&client, "s", &a, settings, |_| {}).await.unwrap();
    let first = peek(&client, "s", &a.id).await.unwrap();
    let LockState::Mine(first) = first else {
        panic!("{first:?}")
    };
    // Past the first time to live: renewed, so still live for everybody else.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let b = Holder::current("apply", |_| None);
    let LockState::HeldByOther(now) = peek(&client, "s", &b.id).await.unwrap() else {
        panic!("not held")
    };
    assert!(now.expires_at_ms > first.expires_at_ms);
    let mut waited = Vec::new();
    let busy = acquire(
        &client,
        "s",
        &b,
        LockSettings {
            timeout: Some(Duration::from_millis(300)),
            ..settings
        },
        |who| waited.push(who.to_string()),
    )
    .await;
    assert!(matches!(busy, Err(LockError::Held { .. })));
    assert_eq!(waited.len(), 1, "{waited:?}");
    assert!(!guard.lost());

    // Someone forces the lock away: the holder notices at its next renewal and its
    // release leaves the new holder's lock alone.
    assert!(remove_lock(&client, "s", false).await.is_err());
    remove_lock(&client, "s", true).await.unwrap();
    let other = acquire(&client, "s", &b, settings, |_| {}).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(guard.lost());
    guard.release().await.unwrap();
    assert!(matches!(
        peek(&client, "s", &b.id).await.unwrap(),
        LockState::Mine(_)
    ));
    other.release().await.unwrap();
    assert_eq!(peek(&client, "s", &b.id).await.unwrap(), LockState::Free);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_reads_under_the_lock_run_during_its_settle_wait_after_our_record_is_written() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let client = client(&emu, KEY);
    let settings = LockSettings {
        timeout: Some(Duration::from_secs(20)),
        write_bound: Duration::from_millis(300),
        ttl: Duration::from_secs(30),
    };
    let a = Holder::current("apply", |_| None);
    let b = Holder::current("apply", |_| None);
    let attempts = std::sync::atomic::AtomicUsize::new(0);
    // Two runs race; each one's read looks at the lock while the settle wait runs.
    let race = |holder: &'static Holder| {
        let client = client.clone();
        let attempts = &attempts;
        async move {
            let started = std::time::Instant::now();
            let (guard, seen) = acquire_reading(
                &client,
                "s",
                holder,
                settings,
                |_| {},
                || {
                    attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let client = client.clone();
                    async move {
                        (
                            peek(&client, "s", &holder.id).await.unwrap(),
                            std::time::Instant::now(),
                        )
                    }
                },
            )
            .await
            .unwrap();
            let held_at = std::time::Instant::now();
            let (state, read_at) = seen;
            // What the winning attempt read saw our own record: the read came after our write.
            assert!(matches!(state, LockState::Mine(_)), "{state:?}");
            // And it was read during the wait, before the lock was confirmed ours.
            assert!(read_at < held_at);
            assert!(held_at - started >= settings.settle());
            guard.release().await.unwrap();
        }
    };
    let a: &'static Holder = Box::leak(Box::new(a));
    let b: &'static Holder = Box::leak(Box::new(b));
    tokio::join!(race(a), race(b));
    // Both got the lock in turn; the loser's first read (if any) was dropped and redone.
    assert!(attempts.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    assert_eq!(peek(&client, "s", &a.id).await.unwrap(), LockState::Free);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_too_slow_for_the_write_bound_is_reported_instead_of_retried_forever() {
    // Each request answers in 60 ms: the lock's read and write take about 120 ms, more than Δ.
    let config = EmulatorConfig {
        latency: Duration::from_millis(60),
        ..EmulatorConfig::default()
    };
    let emu = start_emulator(KEY, config).await;
    let client = client(&emu, KEY);
    let settings = LockSettings {
        timeout: None,
        write_bound: Duration::from_millis(50),
        ttl: Duration::from_secs(30),
    };
    let a = Holder::current("apply", |_| None);
    let err = acquire(&client, "s", &a, settings, |_| {}).await.err();
    let Some(LockError::TooSlow {
        attempts, bound_ms, ..
    }) = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((*attempts, *bound_ms), (3, 50));
    let message = err.unwrap().to_string();
    assert!(message.contains("DSSCTL_LOCK_WRITE_BOUND"), "{message}");
    // The last void attempt's record was removed: it does not stand as a lock until it expires.
    assert_eq!(peek(&client, "s", &a.id).await.unwrap(), LockState::Free);
}
