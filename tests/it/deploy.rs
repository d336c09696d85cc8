//! The packaging files, checked as far as this machine allows (no container registry, no
//! cluster): every YAML under deploy/ parses and the Deployment has the documented shape (one
//! replica, Recreate, git-sync beside dssctl on one emptyDir, probes on the daemon's port, the
//! key from a Secret); its dssctl arguments and variables are the real binary's; kustomize
//! builds the directory when kubectl is installed; the Dockerfile copies only paths that exist
//! and that .dockerignore keeps; and the daemon, started with the Deployment's arguments on a
//! directory laid out as git-sync lays it out, applies each new commit when git-sync switches
//! the `current` link.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use dssctl::emulator::EmulatorConfig;
use serde_json::Value;

use crate::support::{client, dssctl_command, start_emulator};

const KEY: &str = "deploy-test-admin-key";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every YAML document under `dir`, with the file it came from.
fn yaml_documents(dir: &Path) -> Vec<(PathBuf, Value)> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            out.extend(yaml_documents(&path));
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let docs: Vec<Value> =
                serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!docs.is_empty(), "{}: no document", path.display());
            out.extend(docs.into_iter().map(|d| (path.clone(), d)));
        }
    }
    out
}

fn kubernetes() -> Vec<(PathBuf, Value)> {
    yaml_documents(&repo().join("deploy/kubernetes"))
}

fn of_kind(docs: &[(PathBuf, Value)], kind: &str) -> Value {
    let found: Vec<&Value> = docs
        .iter()
        .map(|(_, d)| d)
        .filter(|d| d["kind"] == kind)
        .collect();
    assert_eq!(found.len(), 1, "one {kind} under deploy/kubernetes");
    found[0].clone()
}

fn container<'a>(deployment: &'a Value, name: &str) -> &'a Value {
    deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// The dssctl container's arguments, and the `KEY=VALUE` literals of a kustomize generator.
fn dssctl_args() -> Vec<String> {
    strings(&container(&of_kind(&kubernetes(), "Deployment"), "dssctl")["args"])
}

fn generator_literals(name: &str) -> Vec<(String, String)> {
    let k = of_kind(&kubernetes(), "Kustomization");
    let generator = k["configMapGenerator"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == name)
        .unwrap_or_else(|| panic!("no generator {name}"));
    strings(&generator["literals"])
        .iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn the_kubernetes_manifests_parse_and_have_the_documented_shape() {
    let docs = kubernetes();
    let kustomization = of_kind(&docs, "Kustomization");
    for resource in strings(&kustomization["resources"]) {
        assert!(
            repo().join("deploy/kubernetes").join(&resource).is_file(),
            "{resource}"
        );
    }
    let d = of_kind(&docs, "Deployment");
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(d["spec"]["strategy"]["type"], "Recreate");
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let checkout = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "checkout")
        .expect("a checkout volume");
    assert!(checkout["emptyDir"].is_object());
    let sync = container(&d, "git-sync");
    assert!(sync["image"].as_str().unwrap().contains("git-sync"));
    let init = &pod["initContainers"][0];
    assert!(strings(&init["args"]).contains(&"--one-time".to_string()));
    let dssctl = container(&d, "dssctl");
    for c in [sync, init, dssctl] {
        let mounts = c["volumeMounts"].as_array().unwrap();
        assert!(
            mounts
                .iter()
                .any(|m| m["name"] == "checkout" && m["mountPath"] == "/git")
        );
    }
    let args = dssctl_args();
    assert_eq!(&args[..2], ["watch", "/git"]);
    let listen = args
        .iter()
        .find_map(|a| a.strip_prefix("--listen="))
        .expect("--listen");
    let port: u64 = listen.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(dssctl["ports"][0]["containerPort"], port);
    assert_eq!(dssctl["ports"][0]["name"], "http");
    assert_eq!(dssctl["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(dssctl["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(dssctl["readinessProbe"]["httpGet"]["port"], "http");
    let key = dssctl["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "DSS_API_KEY")
        .expect("DSS_API_KEY");
    assert!(key["valueFrom"]["secretKeyRef"]["name"].is_string());
    assert_eq!(dssctl["securityContext"]["runAsUser"], 65532);
    let service = of_kind(&docs, "Service");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http");
    assert_eq!(service["spec"]["ports"][0]["port"], port);
    assert_eq!(
        service["spec"]["selector"], d["spec"]["selector"]["matchLabels"],
        "the Service selects the Deployment's pods"
    );

    // kustomize itself, where it is installed (kubectl embeds it).
    let kubectl = std::process::Command::new("kubectl")
        .args(["kustomize"])
        .arg(repo().join("deploy/kubernetes"))
        .output();
    match kubectl {
        Ok(out) => {
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let built = String::from_utf8(out.stdout).unwrap();
            assert!(
                built.contains("name: dssctl-watch-"),
                "generated ConfigMap referenced:\n{built}"
            );
        }
        Err(e) => eprintln!("kubectl not found ({e}): kustomize build not checked"),
    }
}

#[test]
fn the_deployments_flags_and_variables_are_the_binarys() {
    let help = dssctl_command(&[]).args(["watch", "--help"]).output().unwrap();
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    for arg in dssctl_args().iter().filter(|a| a.starts_with("--")) {
        let flag = arg.split('=').next().unwrap();
        assert!(
            help.contains(&format!("{flag} ")),
            "{flag} not in `dssctl watch --help`"
        );
    }
    let mut variables: Vec<String> = generator_literals("dssctl-watch")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    variables.push("DSS_API_KEY".into());
    for var in variables {
        assert!(
            help.contains(&format!("[env: {var}")),
            "{var} not read by `dssctl watch`"
        );
    }
}

#[test]
fn the_dockerfile_copies_only_what_exists_and_is_not_ignored() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).unwrap();
    let ignored: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_end_matches('/'))
        .collect();
    let lines: Vec<&str> = dockerfile.lines().map(str::trim).collect();
    let stages = lines.iter().filter(|l| l.starts_with("FROM ")).count();
    assert_eq!(stages, 2, "a builder stage and a runtime stage");
    assert!(dockerfile.contains("cargo build --release --locked"));
    let mut copied = 0;
    for line in lines
        .iter()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from="))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        for source in &words[1..words.len() - 1] {
            assert!(repo().join(source).exists(), "COPY {source}: no such path");
            assert!(
                !ignored.contains(source),
                "COPY {source}: excluded by .dockerignore"
            );
            copied += 1;
        }
    }
    assert!(copied >= 4, "Cargo.toml, Cargo.lock, benches, src");
    let user = lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER");
    assert!(!user.starts_with('0') && !user.starts_with("root"), "USER {user}");
    assert!(dockerfile.contains("ENTRYPOINT [\"/usr/local/bin/dssctl\"]"));
    assert!(dockerfile.contains("org.opencontainers.image.title"));
}

fn group(name: &str) -> String {
    format!("apiVersion: dssctl/v1\nkind: Group\nmetadata:\n  name: {name}\nspec:\n  description: from git\n")
}

/// A commit checked out the way git-sync does: `ROOT/.worktrees/<rev>`, holding one group per
/// name, then `ROOT/current` switched to it with an atomic rename of a new link, and the
/// previous worktree removed.
fn checkout(root: &Path, rev: &str, groups: &[&str]) {
    let tree = root.join(".worktrees").join(rev).join("manifests");
    std::fs::create_dir_all(&tree).unwrap();
    let docs: Vec<String> = groups.iter().map(|g| group(g)).collect();
    std::fs::write(tree.join("groups.yaml"), docs.join("---\n")).unwrap();
    let link = root.join("current.tmp");
    std::os::unix::fs::symlink(Path::new(".worktrees").join(rev), &link).unwrap();
    std::fs::rename(&link, root.join("current")).unwrap();
    // git-sync then removes the worktrees no longer linked.
    for old in std::fs::read_dir(root.join(".worktrees")).unwrap() {
        let old = old.unwrap();
        if old.file_name() != rev {
            std::fs::remove_dir_all(old.path()).unwrap();
        }
    }
}

/// The daemon under test, killed when the test ends (or fails).
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deployments_daemon_applies_each_commit_git_sync_switches_to() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let c = client(&emu, KEY);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("git");
    std::fs::create_dir_all(root.join(".git")).unwrap();
    checkout(&root, "aaa", &["from_commit_a"]);
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();

    // The Deployment's arguments, with the pod's paths and port replaced; the drift interval
    // made long so that only the link switch can trigger the second and third reconciles.
    let args: Vec<String> = dssctl_args()
        .into_iter()
        .map(|a| match a.as_str() {
            "/git" => root.display().to_string(),
            a if a.starts_with("--listen=") => "--listen=127.0.0.1:0".into(),
            a if a.starts_with("--interval=") => "--interval=1h".into(),
            a => a.to_string(),
        })
        .collect();
    let log = work.join("watch.log");
    let mut cmd = dssctl_command(&["RUST_LOG"]);
    cmd.args(&args)
        .env("DSS_URL", &emu.url)
        .env("DSS_API_KEY", KEY)
        .env("DSSCTL_STACK", "analytics-prod")
        .current_dir(&work)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut child = cmd.spawn().unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let _daemon = Daemon(child);

    let wait_for = |name: &'static str| {
        let c = c.clone();
        let log = log.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if c.get_group(name).await.is_ok() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!(
                "{name} never applied; log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
    };
    wait_for("from_commit_a").await;
    for (rev, name) in [("bbb", "from_commit_b"), ("ccc", "from_commit_c")] {
        checkout(&root, rev, &["from_commit_a", name]);
        wait_for(name).await;
    }
}
