//! Apply's progress output through the real binary: on a terminal (a pseudo-terminal made by
//! util-linux `script`), a bar redrawn in place and erased before the report; without one, no
//! bar (the periodic line's 10-second cadence is unit-tested in `apply::progress`); with
//! `-q`, neither the bar nor the plan, only the report.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use dssctl::emulator::{EmulatorConfig, RunningEmulator};

use crate::support::{cli_args, dssctl_command, output, quickstart, show, start_emulator};

const KEY: &str = "progress-test-admin-key";

/// Whether util-linux `script` is there to give the binary a terminal.
fn have_script() -> bool {
    Command::new("script")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Quote one argument for the shell `script -c` runs.
fn quoted(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

/// `dssctl apply` of the quickstart under a pseudo-terminal (stdin, stdout and stderr all on
/// it, merged in the transcript `script` prints).
async fn apply_on_a_terminal(emu: &RunningEmulator, cwd: &Path, global: &[&str]) -> Output {
    let mut args: Vec<String> = global.iter().map(|s| s.to_string()).collect();
    args.extend(cli_args(
        "apply",
        &quickstart(),
        emu,
        KEY,
        &["--auto-approve", "--no-color"],
    ));
    let line = std::iter::once(env!("CARGO_BIN_EXE_dssctl").to_string())
        .chain(args)
        .map(|a| quoted(&a))
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = dssctl_command(&["RUST_LOG"]);
    // Same environment clean-up as every run, but the program is `script`.
    let env: Vec<(String, String)> = cmd
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_str()?.to_string(), v?.to_str()?.to_string())))
        .collect();
    let removed: Vec<String> = cmd
        .get_envs()
        .filter(|(_, v)| v.is_none())
        .filter_map(|(k, _)| k.to_str().map(str::to_string))
        .collect();
    cmd = Command::new("script");
    for k in removed {
        cmd.env_remove(k);
    }
    cmd.envs(env)
        .args(["-qfec", &line, "/dev/null"])
        .current_dir(cwd)
        .stdin(Stdio::null());
    output(cmd).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_apply_draws_a_bar_and_erases_it_before_the_report() {
    assert!(
        have_script(),
        "util-linux `script` gives dssctl a terminal here (Debian: bsdutils)"
    );
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let out = apply_on_a_terminal(&emu, dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let screen = String::from_utf8_lossy(&out.stdout);
    // Drawn in place: carriage return and erase-line before each bar.
    let bar = screen
        .find("\r\x1b[2K[")
        .unwrap_or_else(|| panic!("no bar on the terminal:\n{screen:?}"));
    let drawn = &screen[bar..];
    assert!(drawn.contains(" operations, 0 failed, "), "{drawn:?}");
    assert!(drawn.contains("/s"), "{drawn:?}");
    // Erased (a bare erase-line after the last bar), then the report.
    let erased = screen.rfind("\r\x1b[2K").unwrap();
    assert!(erased > bar, "{screen:?}");
    assert!(screen[erased..].contains("Apply complete"), "{screen:?}");
    // The plan is still shown before the writes.
    assert!(screen[..bar].contains("Plan:"), "{screen:?}");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_shows_no_bar_and_no_plan_only_the_report() {
    assert!(
        have_script(),
        "util-linux `script` gives dssctl a terminal here (Debian: bsdutils)"
    );
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let out = apply_on_a_terminal(&emu, dir.path(), &["-q"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(!screen.contains("\x1b[2K"), "{screen:?}");
    assert!(!screen.contains(" operations, "), "{screen:?}");
    assert!(!screen.contains("Plan:"), "{screen:?}");
    assert!(screen.contains("Apply complete"), "{screen:?}");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_terminal_a_short_apply_prints_no_progress() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = dssctl_command(&["RUST_LOG"]);
    cmd.args(cli_args(
        "apply",
        &quickstart(),
        &emu,
        KEY,
        &["--auto-approve", "--no-color"],
    ))
    .current_dir(dir.path())
    .stdin(Stdio::null());
    let out = output(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // No bar off a terminal, and the first line comes only after 10 s.
    assert!(!stderr.contains('\r'), "{stderr:?}");
    assert!(!stderr.contains("apply: "), "{stderr:?}");
    emu.shutdown().await;
}
