//! Helpers shared by the integration-test modules: starting the emulator on 127.0.0.1:0 with
//! an admin key, a client for it, running the real `dssctl` binary with a clean environment,
//! the emulator's request counters, and copies of the quickstart for tests that edit it.
//! Each module keeps its own admin key, so the helpers take it as a parameter.

#![allow(dead_code)] // not every module uses every helper

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dssctl::client::{ClientConfig, DssClient};
use dssctl::emulator::{self, EmulatorConfig, RunningEmulator};
use dssctl::wire;

/// Variables of the caller's environment that would change what the binary does (a target,
/// a key, a stack, colours, a backtrace in an error), removed from every child.
const HOST_ENV: [&str; 6] = [
    "RUST_BACKTRACE",
    "DSS_URL",
    "DSS_API_KEY",
    "DSS_API_KEY_FILE",
    "DSSCTL_STACK",
    "NO_COLOR",
];

/// The quickstart example shipped in the repository.
pub(crate) fn quickstart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart")
}

/// The emulator on 127.0.0.1:0 with `config` and `key` as its admin key.
pub(crate) async fn start_emulator(key: &str, config: EmulatorConfig) -> RunningEmulator {
    dssctl::install_crypto_provider();
    let config = EmulatorConfig {
        admin_key: key.into(),
        ..config
    };
    emulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("emulator starts")
}

/// A client of `emu` with the API key `key`.
pub(crate) fn client(emu: &RunningEmulator, key: &str) -> DssClient {
    DssClient::new(ClientConfig::new(emu.url.clone(), key)).expect("client builds")
}

/// The `dssctl` binary with the host variables (and `also_remove`) taken out of its
/// environment.
pub(crate) fn dssctl_command(also_remove: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dssctl"));
    for var in HOST_ENV.iter().chain(also_remove) {
        cmd.env_remove(var);
    }
    cmd
}

/// `CMD PATH --url URL --api-key KEY EXTRA..`: the arguments of a run against `emu`.
pub(crate) fn cli_args(
    cmd: &str,
    path: &Path,
    emu: &RunningEmulator,
    key: &str,
    extra: &[&str],
) -> Vec<String> {
    let mut args = vec![
        cmd.to_string(),
        path.display().to_string(),
        "--url".into(),
        emu.url.clone(),
        "--api-key".into(),
        key.into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Run `cmd` to its end off the async runtime, which serves the emulator meanwhile.
pub(crate) async fn output(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("dssctl runs"))
        .await
        .unwrap()
}

/// Exit code, stdout and stderr of a run, for assertion messages.
pub(crate) fn show(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The emulator's request counters.
pub(crate) async fn stats(emu: &RunningEmulator, key: &str) -> wire::EmulatorStats {
    reqwest::Client::new()
        .get(format!("{}/__emulator/stats", emu.url))
        .basic_auth(key, Some(""))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Zero the emulator's request counters.
pub(crate) async fn reset_stats(emu: &RunningEmulator, key: &str) {
    let resp = reqwest::Client::new()
        .post(format!("{}/__emulator/stats/reset", emu.url))
        .basic_auth(key, Some(""))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
}

/// Copy the tree `from` to `to`.
pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// A copy of the quickstart in `dir/manifests`, for tests that edit it.
pub(crate) fn copy_quickstart(dir: &Path) -> PathBuf {
    let to = dir.join("manifests");
    copy_dir(&quickstart(), &to);
    to
}

/// Replace the first `from` in `file` by `to`; `from` must be there.
pub(crate) fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{} lacks {from:?}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).unwrap();
}

/// The secret values of the quickstart, which no output may show.
pub(crate) fn secrets_of_quickstart() -> Vec<String> {
    ["secrets/warehouse-password", "secrets/alice-password"]
        .iter()
        .map(|f| {
            std::fs::read_to_string(quickstart().join(f))
                .unwrap()
                .trim_end()
                .to_string()
        })
        .collect()
}
