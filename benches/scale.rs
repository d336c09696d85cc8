//! The performance benchmark: `cargo bench --features test-support --bench scale`.
//!
//! Scenario (scale 1): 200 projects x 25 datasets (5,000 datasets), 100 users, 30 groups and
//! 20 connections, against the embedded emulator with 20 ms latency per request and
//! `--parallelism 32`. The benchmark
//! 1. generates the manifests into a temporary directory;
//! 2. starts an emulator with the latency and runs `dssctl plan` then `dssctl apply` from
//!    empty, counting the apply's writes against the writes of the plan and its wall time
//!    against the floor `(writes + the plan's reads) / parallelism x latency` (when the
//!    `dssctl` binary has no `apply`, the state a first apply produces, ledger included, is
//!    written through the client instead);
//! 3. runs the real `dssctl plan` on the converged instance and counts its requests
//!    (`GET /__emulator/stats`) against the minimum of `ReadPlan::budget`, its wall time
//!    against the floor `minimum / parallelism x latency`, and its peak RSS (`wait4` rusage);
//! 4. runs a converged `dssctl apply`, which must make zero writes;
//! 5. runs `benches/sequential_baseline.py` (the official Python client, one request at a time)
//!    on the first projects and extrapolates linearly to all of them;
//! 6. measures the CPU time of the pure `plan::plan` call and the peak memory of a process that
//!    loads, simulates and plans, at 1x and 10x the scenario, in-process, without network.
//!
//! Options (environment variables):
//! - `DSSCTL_BENCH_SCALE` (default 1): multiplies projects, users, groups and connections
//!   (25 datasets per project always); 0.1 is a quick run;
//! - `DSSCTL_BENCH_LATENCY_MS` (default 20), `DSSCTL_BENCH_PARALLELISM` (default 32);
//! - `DSSCTL_BENCH_PLAN_RUNS` (default 3): converged plans to run (the median is reported);
//! - `DSSCTL_BENCH_APPLY_RUNS` (default 3): applies from empty to run, each on an instance of
//!   its own (the median is reported; the last instance is the converged one of what follows);
//! - `DSSCTL_BENCH_BASELINE_PROJECTS` (default 10; 0 skips the Python baseline);
//! - `DSSCTL_BENCH_PYTHON` (default `python3`);
//! - `DSSCTL_BENCH_GROWTH` (default 10; 0 skips): the multiple of the in-process growth check;
//! - `DSSCTL_BENCH_KEEP=1`: keep the temporary directory (manifests, data dir, outputs).
//!
//! Output: a readable report, then one line `BENCH_JSON {...}` with every number. The binary
//! runs only when given `--bench` (as `cargo bench` does), so that `cargo test --benches` does
//! not start a run of several minutes.

// Peak RSS and thread CPU time come from libc (wait4, clock_gettime): the only unsafe code of
// the package, allowed here alone.
#![allow(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt, stream};
use serde_json::{Map, Value, json};

use dssctl::client::{ClientConfig, DssClient};
use dssctl::emulator::{EmulatorConfig, RunningEmulator};
use dssctl::kinds::simulate::simulate_apply;
use dssctl::manifest::Declared;
use dssctl::plan::ledger::{Ledger, ledger_variable};
use dssctl::plan::scope::ReadPlan;
use dssctl::plan::{Observed, PlanInput, plan};
use dssctl::wire::CreateProjectRequest;

const ADMIN_KEY: &str = "bench-admin-key-0123456789";
const STACK: &str = "default";
const DATASETS_PER_PROJECT: usize = 25;
/// Set in the environment of the benchmark re-executing itself for one in-process measurement.
const CHILD_ENV: &str = "DSSCTL_BENCH_CHILD";
/// Set in the environment of the benchmark re-executing itself as a measuring wrapper.
const MEASURE_ENV: &str = "DSSCTL_BENCH_MEASURE";

// ---------------------------------------------------------------------------------------------
// Options and scenario

struct Options {
    scale: f64,
    latency: Duration,
    parallelism: u16,
    plan_runs: usize,
    apply_runs: usize,
    baseline_projects: usize,
    python: String,
    growth: u32,
    keep: bool,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={v:?} is not a valid value")),
        _ => Ok(default),
    }
}

impl Options {
    fn from_env() -> anyhow::Result<Self> {
        let o = Options {
            scale: env_or("DSSCTL_BENCH_SCALE", 1.0)?,
            latency: Duration::from_millis(env_or("DSSCTL_BENCH_LATENCY_MS", 20)?),
            parallelism: env_or("DSSCTL_BENCH_PARALLELISM", 32)?,
            plan_runs: env_or("DSSCTL_BENCH_PLAN_RUNS", 3)?,
            apply_runs: env_or("DSSCTL_BENCH_APPLY_RUNS", 3)?,
            baseline_projects: env_or("DSSCTL_BENCH_BASELINE_PROJECTS", 10)?,
            python: env_or("DSSCTL_BENCH_PYTHON", "python3".to_string())?,
            growth: env_or("DSSCTL_BENCH_GROWTH", 10)?,
            keep: env_or("DSSCTL_BENCH_KEEP", 0u8)? != 0,
        };
        if !(o.scale > 0.0 && o.scale <= 100.0) {
            bail!("DSSCTL_BENCH_SCALE must be in (0, 100], got {}", o.scale);
        }
        if o.parallelism == 0 || o.plan_runs == 0 || o.apply_runs == 0 {
            bail!(
                "DSSCTL_BENCH_PARALLELISM, DSSCTL_BENCH_PLAN_RUNS and DSSCTL_BENCH_APPLY_RUNS must be at least 1"
            );
        }
        Ok(o)
    }
}

/// The sizes of one scenario.
#[derive(Debug, Clone, Copy)]
struct Scenario {
    projects: usize,
    users: usize,
    groups: usize,
    connections: usize,
}

impl Scenario {
    fn at(scale: f64) -> Self {
        let n = |base: f64| ((base * scale).round() as usize).max(1);
        Scenario {
            projects: n(200.0),
            users: n(100.0),
            // Two at least: each project grants two different groups.
            groups: n(30.0).max(2),
            connections: n(20.0),
        }
    }

    fn datasets(&self) -> usize {
        self.projects * DATASETS_PER_PROJECT
    }

    fn describe(&self) -> String {
        format!(
            "{} projects x {} datasets ({} datasets), {} users, {} groups, {} connections",
            self.projects,
            DATASETS_PER_PROJECT,
            self.datasets(),
            self.users,
            self.groups,
            self.connections
        )
    }

    fn to_json(self) -> Value {
        json!({"projects": self.projects, "datasets": self.datasets(), "users": self.users,
               "groups": self.groups, "connections": self.connections})
    }
}

// ---------------------------------------------------------------------------------------------
// Manifest generation

fn group_name(i: usize) -> String {
    format!("grp_{i:03}")
}

/// The manifests of a scenario: `groups.yaml`, `users.yaml`, `connections.yaml` and one file
/// per project holding the project and its datasets. Every kind carries the fields a real
/// repository manages (labels, descriptions, tags, custom metadata, permissions, variables,
/// schemas), so that plan reads and compares every sub-document.
fn generate(s: &Scenario, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("projects"))?;
    let mut groups = String::new();
    for i in 0..s.groups {
        let _ = write!(
            groups,
            "---\napiVersion: dssctl/v1\nkind: Group\nmetadata: {{name: {g}}}\nspec:\n  \
             description: Team {i} of the benchmark\n  admin: false\n",
            g = group_name(i)
        );
    }
    std::fs::write(dir.join("groups.yaml"), groups)?;

    let mut users = String::new();
    for i in 0..s.users {
        let mut gs = BTreeSet::from([group_name(i % s.groups), group_name((i * 7 + 3) % s.groups)]);
        if s.groups > 2 {
            gs.insert(group_name((i + 1) % s.groups));
        }
        let gs: Vec<String> = gs.into_iter().collect();
        let _ = write!(
            users,
            "---\napiVersion: dssctl/v1\nkind: User\nmetadata: {{name: user_{i:03}}}\nspec:\n  \
             displayName: User {i}\n  email: user_{i:03}@example.com\n  groups: [{}]\n  \
             codeAllowed: {}\n",
            gs.join(", "),
            i % 3 == 0
        );
    }
    std::fs::write(dir.join("users.yaml"), users)?;

    let mut connections = String::new();
    for i in 0..s.connections {
        let _ = write!(
            connections,
            "---\napiVersion: dssctl/v1\nkind: Connection\nmetadata: {{name: fs_{i:02}}}\nspec:\n  \
             type: Filesystem\n  description: Files of area {i}\n  allowWrite: true\n  \
             allowManagedDatasets: true\n  usableBy: ALLOWED\n  allowedGroups: [{}]\n  \
             params: {{root: /data/area_{i:02}}}\n",
            group_name(i % s.groups)
        );
    }
    std::fs::write(dir.join("connections.yaml"), connections)?;

    for p in 0..s.projects {
        let key = format!("P{p:04}");
        let mut text = String::new();
        let _ = write!(
            text,
            "apiVersion: dssctl/v1\nkind: Project\nmetadata: {{name: {key}}}\nspec:\n  \
             label: Project {p}\n  description: |\n    Benchmark project {p}.\n    \
             Refreshed nightly from the area {area} files.\n  shortDesc: project {p}\n  \
             tags: [bench, team_{team}]\n  custom: {{kv: {{costCenter: \"{cc}\"}}}}\n  \
             permissions:\n    - group: {g1}\n      type: ANALYST_READWRITE\n    \
             - group: {g2}\n      readProjectContent: true\n      readDashboards: true\n  \
             variables:\n    standard: {{threshold: 0.{t}, lookback_days: {lb}, env: bench}}\n",
            area = p % s.connections,
            team = p % 7,
            cc = 1000 + p,
            g1 = group_name(p % s.groups),
            g2 = group_name((p + 1) % s.groups),
            t = 1 + p % 9,
            lb = 30 + p % 60,
        );
        for d in 0..DATASETS_PER_PROJECT {
            let _ = write!(
                text,
                "---\napiVersion: dssctl/v1\nkind: Dataset\nmetadata: {{name: ds_{d:02}, project: {key}}}\n\
                 spec:\n  type: Filesystem\n  params: {{connection: fs_{c:02}, path: /{key}/ds_{d:02}}}\n  \
                 formatType: csv\n  formatParams: {{style: excel, separator: \",\", parseHeaderRow: true}}\n  \
                 managed: true\n  schema:\n    columns:\n      - {{name: id, type: bigint}}\n      \
                 - {{name: name, type: string, maxLength: 200}}\n      - {{name: amount, type: double}}\n      \
                 - {{name: created, type: date}}\n      - {{name: active, type: boolean}}\n      \
                 - {{name: note, type: string, comment: free text}}\n  \
                 label: Dataset {d} of {key}\n  description: Rows of dataset {d}.\n  \
                 tags: [tier_{tier}]\n",
                c = (p + d) % s.connections,
                tier = d % 3,
            );
        }
        std::fs::write(dir.join("projects").join(format!("{key}.yaml")), text)?;
    }
    Ok(())
}

fn load(dir: &Path) -> anyhow::Result<Vec<Declared>> {
    match dssctl::manifest::load_paths(&[dir.to_path_buf()]) {
        Ok(loaded) => Ok(loaded.resources),
        Err(d) => bail!("the generated manifests are invalid:\n{d}"),
    }
}

fn no_secrets(_: &dssctl::manifest::SecretRef, _: &dssctl::manifest::Origin) -> Result<String, String> {
    Err("the benchmark manifests hold no secrets".into())
}

// ---------------------------------------------------------------------------------------------
// Processes: wall time, CPU time and peak RSS through wait4

#[derive(Debug, Clone, Copy)]
struct Measured {
    code: i32,
    wall: Duration,
    cpu: Duration,
    max_rss_kb: u64,
}

/// Run `cmd` to completion (stdout to `stdout`) and measure it. The benchmark re-executes
/// itself as a small wrapper process that spawns `cmd` and reaps it with `wait4`, whose
/// `ru_maxrss` is the RSS high-water mark of exactly that process. The wrapper is needed
/// because on Linux a child's `ru_maxrss` starts from the high-water mark of the process it
/// was spawned from (here, this benchmark with its in-process emulator), and the small
/// wrapper keeps that floor far below what dssctl uses.
fn run_measured(cmd: &Command, stdout: &Path) -> anyhow::Result<Measured> {
    let usage_file = stdout.with_extension("rusage.json");
    let mut wrapper = Command::new(std::env::current_exe()?);
    wrapper.arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapper.env(k, v),
            None => wrapper.env_remove(k),
        };
    }
    wrapper
        .env(MEASURE_ENV, &usage_file)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(stdout)?);
    let status = wrapper.status().with_context(|| format!("cannot run {cmd:?}"))?;
    if !status.success() {
        bail!("the measuring wrapper of {cmd:?} failed ({status})");
    }
    let v: Value = serde_json::from_slice(&std::fs::read(&usage_file)?)?;
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    Ok(Measured {
        code: v["code"].as_i64().unwrap_or(-1) as i32,
        wall: Duration::from_nanos(n("wall_ns")),
        cpu: Duration::from_nanos(n("cpu_ns")),
        max_rss_kb: n("max_rss_kb"),
    })
}

/// The wrapper of [`run_measured`]: run the command given as arguments, reap it with `wait4`,
/// and write its exit code, wall time, CPU time and peak RSS as JSON to `usage_file`.
fn measure_main(usage_file: &Path) -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let program = args.next().context("no command to measure")?;
    let start = Instant::now();
    let child = Command::new(&program)
        .args(args)
        .env_remove(MEASURE_ENV)
        .spawn()
        .with_context(|| format!("cannot run {}", program.to_string_lossy()))?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: a zeroed rusage is a valid value; wait4 only writes into the two out-pointers.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our own child, not yet reaped (std's Child never waits on drop).
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err).context("wait4");
        }
    }
    let wall = start.elapsed();
    drop(child);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    let cpu = tv(usage.ru_utime) + tv(usage.ru_stime);
    std::fs::write(
        usage_file,
        json!({"code": code, "wall_ns": wall.as_nanos() as u64, "cpu_ns": cpu.as_nanos() as u64,
               "max_rss_kb": usage.ru_maxrss as u64})
        .to_string(),
    )?;
    Ok(())
}

/// The CPU time of the whole process, every thread's: `plan::plan` plans on every core, so the
/// calling thread's own time would leave most of it out. (Nothing else in the process works
/// while it is measured.)
fn process_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A `kB` field of `/proc/self/status` (`VmHWM`, `VmRSS`).
fn own_status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn own_vm_hwm_kb() -> u64 {
    own_status_kb("VmHWM")
}

/// Give freed heap back to the system, then reset `VmHWM` to the current RSS (Linux
/// `clear_refs` value 5), so that the next `VmHWM` is the peak of what runs after.
fn reset_peak() -> u64 {
    // SAFETY: malloc_trim only releases free memory of the glibc allocator.
    unsafe { libc::malloc_trim(0) };
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    own_status_kb("VmRSS")
}

/// The 1-minute load average and the number of CPUs: the benchmark's numbers depend on them.
fn machine() -> (f64, usize) {
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN);
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    (load, cpus)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

// ---------------------------------------------------------------------------------------------
// The emulator and its statistics

async fn start_emulator(data_dir: &Path, latency: Duration) -> anyhow::Result<RunningEmulator> {
    let config = EmulatorConfig {
        data_dir: Some(data_dir.to_path_buf()),
        admin_key: ADMIN_KEY.into(),
        latency,
        ..EmulatorConfig::default()
    };
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("a loopback address");
    dssctl::emulator::start(config, addr).await
}

/// Request counts of the emulator since the last reset.
#[derive(Debug, Clone, Default)]
struct Stats {
    total: u64,
    reads: u64,
    writes: u64,
    by_route: BTreeMap<String, u64>,
}

impl Stats {
    fn writes_by_route(&self) -> BTreeMap<String, u64> {
        self.by_route
            .iter()
            .filter(|(r, n)| **n > 0 && !r.starts_with("GET "))
            .map(|(r, n)| (r.clone(), *n))
            .collect()
    }

    fn nonzero_routes(&self) -> BTreeMap<String, u64> {
        self.by_route
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(r, n)| (r.clone(), *n))
            .collect()
    }
}

struct StatsClient {
    http: reqwest::Client,
    url: String,
}

impl StatsClient {
    fn new(url: &str) -> Self {
        StatsClient {
            http: reqwest::Client::new(),
            url: url.to_string(),
        }
    }

    async fn reset(&self) -> anyhow::Result<()> {
        self.http
            .post(format!("{}/__emulator/stats/reset", self.url))
            .basic_auth(ADMIN_KEY, Some(""))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    async fn read(&self) -> anyhow::Result<Stats> {
        let v: Value = self
            .http
            .get(format!("{}/__emulator/stats", self.url))
            .basic_auth(ADMIN_KEY, Some(""))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let n = |k: &str| v[k].as_u64().unwrap_or(0);
        Ok(Stats {
            total: n("total"),
            reads: n("reads"),
            writes: n("writes"),
            by_route: v["by_route"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

fn client(url: &str, parallelism: usize) -> anyhow::Result<DssClient> {
    let mut config = ClientConfig::new(url, ADMIN_KEY);
    config.max_in_flight = parallelism;
    Ok(DssClient::new(config)?)
}

// ---------------------------------------------------------------------------------------------
// dssctl

struct Dssctl {
    bin: PathBuf,
    has_apply: bool,
}

impl Dssctl {
    fn find() -> anyhow::Result<Self> {
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_dssctl"));
        if !bin.is_file() {
            bail!("the dssctl binary is missing at {}", bin.display());
        }
        let has_apply = Command::new(&bin)
            .args(["apply", "--help"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        Ok(Dssctl { bin, has_apply })
    }

    fn command(&self, sub: &str, url: &str, parallelism: u16, manifests: &Path) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg(sub)
            .arg("--url")
            .arg(url)
            .arg("--parallelism")
            .arg(parallelism.to_string())
            .arg("--no-color")
            .arg(manifests)
            .env("DSS_API_KEY", ADMIN_KEY)
            .env_remove("DSS_API_KEY_FILE")
            .env_remove("DSSCTL_STACK");
        cmd
    }

    /// `dssctl plan --format json --detailed-exitcode`, measured; the plan document parsed.
    async fn plan(
        &self,
        url: &str,
        parallelism: u16,
        manifests: &Path,
        out: &Path,
    ) -> anyhow::Result<(Measured, Value)> {
        let mut cmd = self.command("plan", url, parallelism, manifests);
        cmd.args(["--format", "json", "--detailed-exitcode"]);
        let out_path = out.to_path_buf();
        let m = tokio::task::spawn_blocking(move || run_measured(&cmd, &out_path)).await??;
        if m.code != 0 && m.code != 2 {
            bail!(
                "dssctl plan failed (exit {}); output in {}",
                m.code,
                out.display()
            );
        }
        let doc = serde_json::from_slice(&std::fs::read(out)?)
            .with_context(|| format!("the plan in {} is not JSON", out.display()))?;
        Ok((m, doc))
    }

    async fn apply(
        &self,
        url: &str,
        parallelism: u16,
        manifests: &Path,
        out: &Path,
    ) -> anyhow::Result<Measured> {
        let mut cmd = self.command("apply", url, parallelism, manifests);
        cmd.args(["--auto-approve"]);
        let out_path = out.to_path_buf();
        let m = tokio::task::spawn_blocking(move || run_measured(&cmd, &out_path)).await??;
        if m.code != 0 {
            bail!(
                "dssctl apply failed (exit {}); output in {}",
                m.code,
                out.display()
            );
        }
        Ok(m)
    }
}

/// The writes a plan document lists, and its number of operations with changes.
fn plan_writes(doc: &Value) -> (usize, usize) {
    let ops = doc["operations"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let writes = ops
        .iter()
        .map(|op| op["writes"].as_array().map_or(0, Vec::len))
        .sum();
    let changed = ops
        .iter()
        .filter(|op| {
            op["action"].as_str() != Some("adopt") || op["writes"].as_array().is_some_and(|w| !w.is_empty())
        })
        .count();
    (writes, changed)
}

/// What one HTTP write does, by its route template: `(kind, what)` where `what` is `create`,
/// `delete`, or the sub-document a PUT writes (the names of the plan document). `None` for a
/// route no plan operation maps to.
fn route_class(route: &str) -> Option<(&'static str, &'static str)> {
    let (method, path) = route.split_once(' ')?;
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let admin_kind = |s: &str| match s {
        "groups" => Some("group"),
        "users" => Some("user"),
        "connections" => Some("connection"),
        _ => None,
    };
    let sub = |s: &str| match s {
        "metadata" => Some("metadata"),
        "permissions" => Some("permissions"),
        "variables" => Some("variables"),
        "schema" => Some("schema"),
        _ => None,
    };
    match (method, segs.as_slice()) {
        ("PUT", ["admin", "variables"]) => Some(("variables", "values")),
        ("POST", ["admin", k]) => Some((admin_kind(k)?, "create")),
        ("PUT", ["admin", k, _]) => Some((admin_kind(k)?, "definition")),
        ("DELETE", ["admin", k, _]) => Some((admin_kind(k)?, "delete")),
        ("POST", ["projects"]) => Some(("project", "create")),
        ("DELETE", ["projects", _]) => Some(("project", "delete")),
        ("PUT", ["projects", _, s]) => Some(("project", sub(s)?)),
        ("POST", ["projects", _, "datasets"]) => Some(("dataset", "create")),
        ("PUT", ["projects", _, "datasets", _]) => Some(("dataset", "settings")),
        ("DELETE", ["projects", _, "datasets", _]) => Some(("dataset", "delete")),
        ("PUT", ["projects", _, "datasets", _, s]) => Some(("dataset", sub(s)?)),
        _ => None,
    }
}

/// The writes of an apply checked against its plan: one POST per planned creation, one DELETE
/// per planned deletion, at most one PUT per planned sub-document write (fewer when the
/// creation already left the sub-document as planned), and the ledger saves.
struct WriteCheck {
    /// `(kind, what)` → (planned, made).
    rows: BTreeMap<(String, String), (u64, u64)>,
    ledger_saves: u64,
    unexpected: BTreeMap<String, u64>,
    exact: bool,
}

fn check_writes(plan_doc: &Value, stats: &Stats) -> WriteCheck {
    let mut rows: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for op in plan_doc["operations"].as_array().into_iter().flatten() {
        let kind = op["kind"].as_str().unwrap_or("?").to_string();
        match op["action"].as_str() {
            Some("create") => rows.entry((kind.clone(), "create".into())).or_default().0 += 1,
            Some("delete") => rows.entry((kind.clone(), "delete".into())).or_default().0 += 1,
            _ => {}
        }
        for w in op["writes"].as_array().into_iter().flatten() {
            let sub = w["subdocument"].as_str().unwrap_or("?").to_string();
            rows.entry((kind.clone(), sub)).or_default().0 += 1;
        }
    }
    let mut unexpected = BTreeMap::new();
    for (route, n) in stats.writes_by_route() {
        match route_class(&route) {
            Some((k, w)) => rows.entry((k.into(), w.into())).or_default().1 += n,
            None => {
                unexpected.insert(route, n);
            }
        }
    }
    // Global-variable saves beyond the planned `Variables` writes are the ledger's.
    let values = rows
        .remove(&("variables".to_string(), "values".to_string()))
        .unwrap_or_default();
    let ledger_saves = values.1.saturating_sub(values.0);
    if values.0 > 0 {
        rows.insert(
            ("variables".into(), "values".into()),
            (values.0, values.1.min(values.0)),
        );
    }
    let exact = unexpected.is_empty()
        && rows.iter().all(|((_, what), (planned, made))| {
            if what == "create" || what == "delete" {
                planned == made
            } else {
                made <= planned
            }
        });
    WriteCheck {
        rows,
        ledger_saves,
        unexpected,
        exact,
    }
}

// ---------------------------------------------------------------------------------------------
// Seeding without `dssctl apply`

/// Write the state a first apply of `desired` produces (from `kinds::simulate`), ledger
/// included, through the client: the fallback when the `dssctl` binary has no `apply`.
async fn seed_with_client(
    client: &DssClient,
    desired: &[Declared],
    parallelism: usize,
) -> anyhow::Result<()> {
    let state = simulate_apply(desired, &no_secrets);
    let groups = dssctl::kinds::group::live(&state).cloned().unwrap_or_default();
    stream::iter(groups.values())
        .map(|g| client.create_group(g))
        .buffer_unordered(parallelism)
        .try_collect::<Vec<_>>()
        .await
        .context("seeding groups")?;
    let users = dssctl::kinds::user::live(&state).cloned().unwrap_or_default();
    stream::iter(users.values())
        .map(|u| async move {
            let mut u = u.clone();
            u.password = Some(format!("pw-{}", u.login));
            client.create_user(&u).await
        })
        .buffer_unordered(parallelism)
        .try_collect::<Vec<_>>()
        .await
        .context("seeding users")?;
    let connections = dssctl::kinds::connection::live(&state)
        .cloned()
        .unwrap_or_default();
    stream::iter(connections.values())
        .map(|c| client.create_connection(c))
        .buffer_unordered(parallelism)
        .try_collect::<Vec<_>>()
        .await
        .context("seeding connections")?;
    let projects = dssctl::kinds::project::live(&state).cloned().unwrap_or_default();
    stream::iter(projects.iter())
        .map(|(key, p)| async move {
            client
                .create_project(&CreateProjectRequest {
                    project_key: key.clone(),
                    name: p.summary.name.clone(),
                    owner: p.summary.owner_login.clone(),
                    ..CreateProjectRequest::default()
                })
                .await?;
            if let Some(m) = &p.metadata {
                client.set_project_metadata(key, m).await?;
            }
            if let Some(x) = &p.permissions {
                client.set_project_permissions(key, x).await?;
            }
            if let Some(v) = &p.variables {
                client.set_project_variables(key, v).await?;
            }
            for d in p.datasets.iter().flat_map(|ds| ds.values()) {
                client.create_dataset(key, &d.definition).await?;
            }
            Ok::<_, dssctl::client::ClientError>(())
        })
        .buffer_unordered(parallelism)
        .try_collect::<Vec<_>>()
        .await
        .context("seeding projects")?;
    let mut globals = client.get_global_variables().await?;
    if let Some(ledger) = &state.ledger {
        globals.insert(ledger_variable(STACK), ledger.to_value());
    }
    client.set_global_variables(&globals).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The minimum number of requests

/// The minimum number of requests of a plan of `desired` on the instance behind `client`,
/// by `ReadPlan::budget`, with its live inputs (which managed projects exist, and how many
/// metadata reads the lists leave necessary) read here, independently of `dssctl::observe`.
async fn minimum_requests(
    client: &DssClient,
    desired: &[Declared],
    parallelism: usize,
) -> anyhow::Result<(usize, ReadPlan)> {
    let globals = client.get_global_variables().await?;
    let ledger = Ledger::from_global_variables(&globals, STACK)?;
    let reads = ReadPlan::new(desired, ledger.as_ref());
    let summaries: BTreeMap<String, dssctl::wire::ProjectSummary> = client
        .list_projects()
        .await?
        .into_iter()
        .map(|p| (p.project_key.clone(), p))
        .collect();
    let empty = Default::default();
    let planned = dssctl::kinds::project::reads(&reads).unwrap_or(&empty);
    let live: BTreeSet<String> = planned
        .keys()
        .filter(|k| summaries.contains_key(*k))
        .cloned()
        .collect();
    let mut conditional = planned
        .iter()
        .filter(|(k, r)| {
            !r.metadata && r.description && summaries.get(*k).is_some_and(|s| s.description.is_none())
        })
        .count();
    let with_labels: Vec<(&String, &BTreeSet<String>)> = planned
        .iter()
        .filter(|(k, r)| live.contains(*k) && !r.dataset_labels.is_empty())
        .map(|(k, r)| (k, &r.dataset_labels))
        .collect();
    let missing: Vec<usize> = stream::iter(with_labels)
        .map(|(key, labels)| async move {
            let list = client.list_datasets(key).await?;
            Ok::<_, dssctl::client::ClientError>(
                list.iter()
                    .filter(|d| labels.contains(&d.name) && !d.extra.contains_key("label"))
                    .count(),
            )
        })
        .buffer_unordered(parallelism)
        .try_collect()
        .await?;
    conditional += missing.iter().sum::<usize>();
    let live: BTreeSet<dssctl::plan::ResourceId> = live
        .iter()
        .map(|k| dssctl::plan::ResourceId::new(dssctl::kinds::project::ID, k.as_str()))
        .collect();
    let budget = reads.budget(&live, conditional);
    Ok((budget, reads))
}

// ---------------------------------------------------------------------------------------------
// In-process measurement of plan::plan (run in a child process, for a clean peak RSS)

/// The child: generate the scenario at `scale`, load it, simulate the converged state, and
/// time `plan::plan` on it. Prints one JSON line.
fn child_main(scale: f64, dir: &Path) -> anyhow::Result<()> {
    let s = Scenario::at(scale);
    generate(&s, dir)?;
    let t = Instant::now();
    let desired = load(dir)?;
    let load_time = t.elapsed();
    let hwm_loaded = own_vm_hwm_kb();
    let observed: Observed = simulate_apply(&desired, &no_secrets);
    // What a plan process holds before planning: the manifests and the observed state
    // (simulating it needs more, transiently: not counted).
    let rss_state = reset_peak();
    let input = PlanInput {
        desired: &desired,
        observed: &observed,
        stack: STACK,
        target: "http://bench",
        resolve_secret: &no_secrets,
    };
    let mut best_cpu = Duration::MAX;
    let mut best_wall = Duration::MAX;
    let mut changes = 0;
    let mut unchanged = 0;
    let mut plan_peak = 0;
    for run in 0..3 {
        // The first run measures memory; trimming the heap before it makes that run fault
        // pages in again, so the CPU time is the best of all runs.
        let before = if run == 0 { reset_peak() } else { 0 };
        let (c0, w0) = (process_cpu(), Instant::now());
        let p = plan(&input);
        let (cpu, wall) = (process_cpu() - c0, w0.elapsed());
        if run == 0 {
            plan_peak = own_vm_hwm_kb().saturating_sub(before);
        }
        best_cpu = best_cpu.min(cpu);
        best_wall = best_wall.min(wall);
        changes = p.operations.len();
        unchanged = p.summary.unchanged;
        drop(p);
    }
    println!(
        "{}",
        json!({"scale": scale, "scenario": s.to_json(), "resources": desired.len(),
               "load_ms": ms(load_time), "plan_cpu_ms": ms(best_cpu), "plan_wall_ms": ms(best_wall),
               "operations": changes, "unchanged": unchanged,
               "vm_hwm_kb_after_load": hwm_loaded, "rss_kb_state": rss_state,
               "plan_peak_extra_kb": plan_peak})
    );
    Ok(())
}

struct Growth {
    scale: f64,
    resources: u64,
    load_ms: f64,
    plan_cpu_ms: f64,
    operations: u64,
    max_rss_kb: u64,
    /// `VmHWM` after loading the manifests.
    hwm_after_load_kb: u64,
    /// RSS holding the manifests and the observed state, before planning.
    rss_state_kb: u64,
    /// The peak RSS increase during `plan::plan`.
    plan_peak_extra_kb: u64,
}

impl Growth {
    /// The peak of a plan process on this data: the state it holds plus planning's peak.
    fn plan_process_kb(&self) -> u64 {
        self.rss_state_kb + self.plan_peak_extra_kb
    }
}

fn run_child(scale: f64, work: &Path) -> anyhow::Result<Growth> {
    let dir = work.join(format!("growth-{scale}"));
    let out = work.join(format!("growth-{scale}.json"));
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.env(CHILD_ENV, scale.to_string())
        .env("DSSCTL_BENCH_CHILD_DIR", &dir)
        .stderr(Stdio::inherit());
    let m = run_measured(&cmd, &out)?;
    if m.code != 0 {
        bail!(
            "the in-process measurement at scale {scale} failed (exit {})",
            m.code
        );
    }
    let text = std::fs::read_to_string(&out)?;
    let v: Value = serde_json::from_str(text.lines().last().unwrap_or(""))
        .with_context(|| format!("unexpected output of the scale {scale} measurement: {text}"))?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Growth {
        scale,
        resources: v["resources"].as_u64().unwrap_or(0),
        load_ms: v["load_ms"].as_f64().unwrap_or(0.0),
        plan_cpu_ms: v["plan_cpu_ms"].as_f64().unwrap_or(0.0),
        operations: v["operations"].as_u64().unwrap_or(0),
        max_rss_kb: m.max_rss_kb,
        hwm_after_load_kb: v["vm_hwm_kb_after_load"].as_u64().unwrap_or(0),
        rss_state_kb: v["rss_kb_state"].as_u64().unwrap_or(0),
        plan_peak_extra_kb: v["plan_peak_extra_kb"].as_u64().unwrap_or(0),
    })
}

// ---------------------------------------------------------------------------------------------
// Python baseline

struct Baseline {
    projects_read: u64,
    projects_total: u64,
    requests: u64,
    measured: Duration,
    extrapolated: Duration,
}

async fn run_baseline(o: &Options, url: &str, stats: &StatsClient, out: &Path) -> anyhow::Result<Baseline> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/sequential_baseline.py");
    let mut cmd = Command::new(&o.python);
    cmd.arg(&script)
        .args(["--url", url, "--projects", &o.baseline_projects.to_string()])
        .env("DSS_API_KEY", ADMIN_KEY)
        .stderr(Stdio::inherit());
    stats.reset().await?;
    let out_path = out.to_path_buf();
    let m = tokio::task::spawn_blocking(move || run_measured(&cmd, &out_path)).await??;
    if m.code != 0 {
        bail!(
            "the Python baseline failed (exit {}); is dataikuapi installed?",
            m.code
        );
    }
    let requests = stats.read().await?.total;
    let text = std::fs::read_to_string(out)?;
    let v: Value = serde_json::from_str(text.lines().last().unwrap_or(""))
        .with_context(|| format!("unexpected output of the Python baseline: {text}"))?;
    let read = v["projects_read"].as_u64().unwrap_or(0);
    let total = v["projects_total"].as_u64().unwrap_or(0);
    let globals = v["globals_seconds"].as_f64().unwrap_or(0.0);
    let projects = v["projects_seconds"].as_f64().unwrap_or(0.0);
    let extrapolated = if read == 0 {
        globals
    } else {
        globals + projects * total as f64 / read as f64
    };
    Ok(Baseline {
        projects_read: read,
        projects_total: total,
        requests,
        measured: Duration::from_secs_f64(globals + projects),
        extrapolated: Duration::from_secs_f64(extrapolated),
    })
}

// ---------------------------------------------------------------------------------------------
// The benchmark

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn routes_table(out: &mut String, routes: &BTreeMap<String, u64>) {
    for (route, n) in routes {
        let _ = writeln!(out, "      {n:>6}  {route}");
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "MISSED" }
}

async fn bench(o: Options) -> anyhow::Result<()> {
    let scenario = Scenario::at(o.scale);
    let dssctl = Dssctl::find()?;
    let tmp = tempfile::Builder::new().prefix("dssctl-bench-").tempdir()?;
    let work = tmp.path().to_path_buf();
    let manifests = work.join("manifests");
    let data = work.join("data");
    let mut report = String::new();
    let mut j = Map::new();
    j.insert("scenario".into(), scenario.to_json());
    j.insert("scale".into(), json!(o.scale));
    j.insert("latency_ms".into(), json!(ms(o.latency)));
    j.insert("parallelism".into(), json!(o.parallelism));
    let par = usize::from(o.parallelism);

    eprintln!("bench: {} in {}", scenario.describe(), work.display());
    generate(&scenario, &manifests)?;
    let desired = load(&manifests)?;
    let (load_start, cpus) = machine();
    let _ = writeln!(
        report,
        "dssctl scale benchmark: {} ({} resources), emulator latency {} ms, --parallelism {}",
        scenario.describe(),
        desired.len(),
        ms(o.latency),
        o.parallelism
    );

    // Apply from empty, with the latency: the measurement of the write path.
    let emulator = start_emulator(&data, o.latency).await?;
    let stats = StatsClient::new(&emulator.url);
    let c = client(&emulator.url, par)?;
    // Printed after the plan section, with the other apply measurement.
    let mut seed_report = String::new();
    let _ = writeln!(
        seed_report,
        "\n2. apply\n   apply from empty (emulator with {} ms latency, --parallelism {})",
        ms(o.latency),
        o.parallelism
    );
    if dssctl.has_apply {
        // The runs before the last, each on an instance of its own: one run's wall time moves
        // with the machine's speed by more than the changes measured, so the median is
        // reported. The last run is on the instance the rest of the benchmark uses.
        let mut walls = Vec::new();
        for run in 1..o.apply_runs {
            eprintln!("bench: applying from empty {run}/{}", o.apply_runs);
            let fresh = start_emulator(&work.join(format!("data-apply-{run}")), o.latency).await?;
            let m = dssctl
                .apply(
                    &fresh.url,
                    o.parallelism,
                    &manifests,
                    &work.join(format!("apply-empty-{run}.out")),
                )
                .await?;
            walls.push(m.wall);
            fresh.shutdown().await;
        }
        eprintln!("bench: planning and applying from empty {0}/{0}", o.apply_runs);
        stats.reset().await?;
        let (_, empty_plan) = dssctl
            .plan(
                &emulator.url,
                o.parallelism,
                &manifests,
                &work.join("plan-empty.json"),
            )
            .await?;
        let (planned_writes, _) = plan_writes(&empty_plan);
        let plan_reads = stats.read().await?.reads;
        stats.reset().await?;
        let m = dssctl
            .apply(
                &emulator.url,
                o.parallelism,
                &manifests,
                &work.join("apply-empty.out"),
            )
            .await?;
        let s = stats.read().await?;
        let check = check_writes(&empty_plan, &s);
        // The floor: every write, and the reads of one plan, at `parallelism` requests in
        // flight, each taking the latency. Everything else (the reads before each PUT, the
        // read-backs, the second plan under the lock, the lock's settle wait, dependency waits)
        // is above it.
        let floor_s = (s.writes + plan_reads) as f64 / par as f64 * o.latency.as_secs_f64();
        walls.push(m.wall);
        let wall = median(walls.clone());
        let apply_ratio = wall.as_secs_f64() / floor_s.max(f64::EPSILON);
        // The share of the last run's wall time the parallelism was busy: every request's
        // latency over `parallelism` slots.
        let occupancy = s.total as f64 * o.latency.as_secs_f64() / (m.wall.as_secs_f64() * par as f64);
        let runs: Vec<String> = walls.iter().map(|w| format!("{:.2}", w.as_secs_f64())).collect();
        let settle = dssctl::lock::LockSettings::default().settle();
        let _ = writeln!(
            seed_report,
            "   wall time: median {:.2} s of {} runs ({} s); floor ({} writes + {} plan reads) / {} x {} ms = {:.2} s; ratio {:.2}  (target <= 1.5) [{}]",
            wall.as_secs_f64(),
            walls.len(),
            runs.join(", "),
            s.writes,
            plan_reads,
            par,
            ms(o.latency),
            floor_s,
            apply_ratio,
            verdict(apply_ratio <= 1.5)
        );
        let _ = writeln!(
            seed_report,
            "   last run: {} requests in all ({} reads): the parallelism was busy {:.0}% of its wall time; \
             of it, {:.2} s is the stack lock's fixed settle wait",
            s.total,
            s.reads,
            occupancy * 100.0,
            settle.as_secs_f64()
        );
        let _ = writeln!(
            seed_report,
            "   last run: {} HTTP writes ({} reads) in {:.2} s for {} planned operations with {} sub-document writes  [{}]",
            s.writes,
            s.reads,
            m.wall.as_secs_f64(),
            empty_plan["operations"].as_array().map_or(0, Vec::len),
            planned_writes,
            if check.exact { "exact" } else { "NOT EXACT" }
        );
        let _ = writeln!(
            seed_report,
            "   (one POST per creation, at most one PUT per planned sub-document, plus the ledger saves)"
        );
        let _ = writeln!(seed_report, "      kind        write          planned    made");
        for ((kind, what), (planned, made)) in &check.rows {
            let _ = writeln!(seed_report, "      {kind:<11} {what:<13} {planned:>8} {made:>7}");
        }
        let _ = writeln!(
            seed_report,
            "      ledger      PUT /admin/variables      {:>7}",
            check.ledger_saves
        );
        for (route, n) in &check.unexpected {
            let _ = writeln!(seed_report, "      UNEXPECTED  {route}: {n}");
        }
        let _ = writeln!(seed_report, "   writes by route:");
        routes_table(&mut seed_report, &s.writes_by_route());
        j.insert(
            "apply_from_empty".into(),
            json!({"planned_operations": empty_plan["operations"].as_array().map_or(0, Vec::len),
                   "planned_writes": planned_writes, "writes": s.writes,
                   "ledger_writes": check.ledger_saves, "reads": s.reads, "exact": check.exact,
                   "wall_ms": ms(wall), "wall_ms_runs": walls.iter().map(|w| ms(*w)).collect::<Vec<_>>(),
                   "plan_reads": plan_reads, "floor_ms": floor_s * 1000.0,
                   "ratio": apply_ratio, "occupancy": occupancy, "lock_settle_ms": ms(settle), "writes_by_route": s.writes_by_route(),
                   "by_kind": check.rows.iter().map(|((k, w), (p, n))| json!({"kind": k, "write": w, "planned": p, "made": n})).collect::<Vec<_>>()}),
        );
    } else {
        eprintln!("bench: this dssctl has no apply; seeding through the client");
        seed_with_client(&c, &desired, par).await?;
        let _ = writeln!(
            seed_report,
            "   not measured: this dssctl has no `apply`; the converged state (ledger included) was \
             written through the client from kinds::simulate"
        );
        j.insert("apply_from_empty".into(), Value::Null);
    }
    let (minimum, _) = minimum_requests(&c, &desired, par).await?;

    // Diff+plan CPU time on the state observed from the emulator.
    let observation = dssctl::observe::observe(&c, &desired, STACK, par).await?;
    let input = PlanInput {
        desired: &desired,
        observed: &observation.observed,
        stack: STACK,
        target: &emulator.url,
        resolve_secret: &no_secrets,
    };
    let mut cpu = Duration::MAX;
    let mut live_ops = 0;
    for _ in 0..3 {
        let c0 = process_cpu();
        let p = plan(&input);
        cpu = cpu.min(process_cpu() - c0);
        live_ops = p.operations.len();
    }
    drop(observation);

    // The converged instance, with latency.
    let mut walls = Vec::new();
    let mut last = None;
    for run in 0..o.plan_runs {
        eprintln!("bench: converged plan {}/{}", run + 1, o.plan_runs);
        stats.reset().await?;
        let (m, doc) = dssctl
            .plan(
                &emulator.url,
                o.parallelism,
                &manifests,
                &work.join(format!("plan-converged-{run}.json")),
            )
            .await?;
        let s = stats.read().await?;
        walls.push(m.wall);
        last = Some((m, doc, s));
    }
    let (m, doc, s) = last.expect("at least one plan run");
    let wall = median(walls.clone());
    let (pending_writes, _) = plan_writes(&doc);
    let converged = m.code == 0;
    let ideal = Duration::from_secs_f64(minimum as f64 / par as f64 * o.latency.as_secs_f64());
    let overhead = s.total as f64 / minimum as f64 - 1.0;
    let wall_ratio = wall.as_secs_f64() / ideal.as_secs_f64().max(f64::EPSILON);
    let _ = writeln!(report, "\n1. plan on the converged instance");
    let _ = writeln!(
        report,
        "   converged: {} (exit {}, {} pending writes, summary {})",
        if converged { "yes" } else { "NO" },
        m.code,
        pending_writes,
        doc["summary"]
    );
    let _ = writeln!(
        report,
        "   requests: {} (reads {}, writes {}); minimum by ReadPlan::budget: {}; {:+.1}%  (target within 5%) [{}]",
        s.total,
        s.reads,
        s.writes,
        minimum,
        overhead * 100.0,
        verdict(overhead <= 0.05 && s.writes == 0)
    );
    let _ = writeln!(report, "   requests by route:");
    routes_table(&mut report, &s.nonzero_routes());
    let _ = writeln!(
        report,
        "   wall time: median {:.3} s of {} runs (min {:.3} s); floor {} / {} x {} ms = {:.3} s; ratio {:.2}  (target <= 1.2) [{}]",
        wall.as_secs_f64(),
        walls.len(),
        walls.iter().min().expect("runs").as_secs_f64(),
        minimum,
        par,
        ms(o.latency),
        ideal.as_secs_f64(),
        wall_ratio,
        verdict(wall_ratio <= 1.2)
    );
    let _ = writeln!(
        report,
        "   dssctl plan process: CPU {:.3} s, peak RSS {:.1} MB",
        m.cpu.as_secs_f64(),
        mb(m.max_rss_kb)
    );
    j.insert(
        "plan_converged".into(),
        json!({"converged": converged, "exit": m.code, "requests": s.total, "reads": s.reads,
               "writes": s.writes, "minimum_requests": minimum, "overhead": overhead,
               "by_route": s.nonzero_routes(), "wall_ms_median": ms(wall),
               "wall_ms_runs": walls.iter().map(|w| ms(*w)).collect::<Vec<_>>(),
               "ideal_ms": ms(ideal), "wall_ratio": wall_ratio,
               "process_cpu_ms": ms(m.cpu), "process_max_rss_kb": m.max_rss_kb}),
    );

    // Speed-up over the sequential Python script.
    if o.baseline_projects > 0 {
        eprintln!(
            "bench: the sequential Python baseline on {} projects",
            o.baseline_projects
        );
        match run_baseline(&o, &emulator.url, &stats, &work.join("baseline.json")).await {
            Ok(b) => {
                let speedup = b.extrapolated.as_secs_f64() / wall.as_secs_f64();
                let _ = writeln!(
                    report,
                    "   sequential Python baseline (dataikuapi): {} requests in {:.2} s for {} of {} projects, \
                     extrapolated linearly to all projects: {:.1} s\n   speed-up of dssctl plan: {:.0}x  (target >= 100x) [{}]",
                    b.requests,
                    b.measured.as_secs_f64(),
                    b.projects_read,
                    b.projects_total,
                    b.extrapolated.as_secs_f64(),
                    speedup,
                    verdict(speedup >= 100.0)
                );
                j.insert(
                    "baseline".into(),
                    json!({"projects_read": b.projects_read, "projects_total": b.projects_total,
                           "requests": b.requests, "measured_ms": ms(b.measured),
                           "extrapolated_ms": ms(b.extrapolated), "speedup": speedup}),
                );
            }
            Err(e) => {
                let _ = writeln!(report, "   sequential Python baseline: not run ({e:#})");
                j.insert("baseline".into(), Value::Null);
            }
        }
    }

    // Converged apply.
    report.push_str(&seed_report);
    let _ = writeln!(
        report,
        "\n   apply on the converged instance (emulator with latency)"
    );
    if dssctl.has_apply {
        eprintln!("bench: converged apply");
        stats.reset().await?;
        let m = dssctl
            .apply(
                &emulator.url,
                o.parallelism,
                &manifests,
                &work.join("apply-converged.out"),
            )
            .await?;
        let s = stats.read().await?;
        let _ = writeln!(
            report,
            "   writes: {} (target 0) [{}]; reads {}; wall time {:.2} s",
            s.writes,
            verdict(s.writes == 0),
            s.reads,
            m.wall.as_secs_f64()
        );
        if s.writes > 0 {
            routes_table(&mut report, &s.writes_by_route());
        }
        j.insert(
            "apply_converged".into(),
            json!({"writes": s.writes, "reads": s.reads, "wall_ms": ms(m.wall),
                   "writes_by_route": s.writes_by_route()}),
        );
    } else {
        let _ = writeln!(report, "   not measured: this dssctl has no `apply`");
        j.insert("apply_converged".into(), Value::Null);
    }
    emulator.shutdown().await;

    // Diff+plan CPU time and peak memory, 1x and the growth multiple.
    let _ = writeln!(report, "\n3. diff+plan CPU time and peak memory");
    let _ = writeln!(
        report,
        "   plan::plan on the state observed from the emulator: {:.1} ms CPU ({} operations)  (target < 1 s) [{}]",
        ms(cpu),
        live_ops,
        verdict(cpu < Duration::from_secs(1))
    );
    let mut growth = Vec::new();
    let scales: Vec<f64> = if o.growth > 0 {
        vec![o.scale, o.scale * f64::from(o.growth)]
    } else {
        vec![o.scale]
    };
    for s in scales {
        eprintln!("bench: in-process plan::plan at scale {s}");
        growth.push(run_child(s, &work)?);
    }
    let _ = writeln!(
        report,
        "   in-process, on generated data and the simulated converged state (no network); state RSS =\n   \
         manifests + observed state held before planning, plan process = state RSS + plan::plan peak:"
    );
    let _ = writeln!(
        report,
        "      scale  resources  load+validate  plan::plan CPU   load peak  state RSS  plan::plan peak  plan process  (whole run)"
    );
    for g in &growth {
        let _ = writeln!(
            report,
            "   {:>8}  {:>9}  {:>10.0} ms  {:>11.1} ms  {:>7.1} MB {:>7.1} MB  {:>12.1} MB {:>9.1} MB  {:>8.1} MB",
            format!("{}x", g.scale),
            g.resources,
            g.load_ms,
            g.plan_cpu_ms,
            mb(g.hwm_after_load_kb),
            mb(g.rss_state_kb),
            mb(g.plan_peak_extra_kb),
            mb(g.plan_process_kb()),
            mb(g.max_rss_kb)
        );
    }
    if let [a, b] = growth.as_slice() {
        let k = b.resources as f64 / a.resources as f64;
        let cpu_k = b.plan_cpu_ms / a.plan_cpu_ms;
        let rss_k = b.plan_process_kb() as f64 / a.plan_process_kb() as f64;
        let _ = writeln!(
            report,
            // Linear within timing noise: at most 25% over proportional (one CPU-time sample
            // each on a shared machine).
            "   growth for {k:.1}x the resources: plan CPU x{cpu_k:.2}, plan process RSS x{rss_k:.2}  (linear: <= x{k:.0}, 25% allowed for noise: <= x{:.1}) [{}]",
            k * 1.25,
            verdict(cpu_k <= k * 1.25 && rss_k <= k * 1.25)
        );
    }
    let _ = writeln!(
        report,
        "   dssctl plan process at {}x: peak RSS {:.1} MB  (target < 150 MB) [{}]",
        o.scale,
        mb(m.max_rss_kb),
        verdict(m.max_rss_kb < 150 * 1024)
    );
    j.insert(
        "plan_cpu".into(),
        json!({"observed_cpu_ms": ms(cpu), "observed_operations": live_ops,
               "in_process": growth.iter().map(|g| json!({"scale": g.scale, "resources": g.resources,
                   "load_ms": g.load_ms, "plan_cpu_ms": g.plan_cpu_ms, "operations": g.operations,
                   "max_rss_kb": g.max_rss_kb, "vm_hwm_kb_after_load": g.hwm_after_load_kb,
                   "rss_kb_state": g.rss_state_kb, "plan_peak_extra_kb": g.plan_peak_extra_kb,
                   "plan_process_kb": g.plan_process_kb()})).collect::<Vec<_>>()}),
    );

    let (load_end, _) = machine();
    let _ = writeln!(
        report,
        "\nmachine: {cpus} CPUs, load average {load_start:.1} at the start, {load_end:.1} at the end \
         (the emulator, dssctl and the baseline share these CPUs)"
    );
    j.insert(
        "machine".into(),
        json!({"cpus": cpus, "load_start": load_start, "load_end": load_end}),
    );
    println!("{report}");
    println!("BENCH_JSON {}", Value::Object(j));
    if o.keep {
        let kept = tmp.keep();
        eprintln!("bench: kept {}", kept.display());
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    if let Some(usage_file) = std::env::var_os(MEASURE_ENV) {
        return measure_main(Path::new(&usage_file));
    }
    if let Ok(scale) = std::env::var(CHILD_ENV) {
        let scale: f64 = scale.parse().context("child scale")?;
        let dir = PathBuf::from(std::env::var("DSSCTL_BENCH_CHILD_DIR").context("child dir")?);
        return child_main(scale, &dir);
    }
    // `cargo bench` passes `--bench`; a test run (`cargo test --benches`) does not, and must
    // not start a run of several minutes.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("scale: a benchmark; run it with `cargo bench --bench scale`");
        return Ok(());
    }
    dssctl::install_crypto_provider();
    let o = Options::from_env()?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(bench(o))
}
