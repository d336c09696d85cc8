//! Manifests through the real binary: the broken-manifest catalogue (every case exits 1 and its
//! full output is snapshotted), the examples, warnings, JSON diagnostics, schema freshness, and
//! property tests showing that no input makes the loader panic.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use crate::support::dssctl_command;

/// The repository root: the binary runs there so that paths in the output are stable.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `dssctl ARGS` at the repository root; returns (exit code, stdout, stderr).
fn dssctl(args: &[&str]) -> (i32, String, String) {
    let output = dssctl_command(&[])
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .expect("dssctl runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Secret literals in the catalogue contain this marker; it must never be printed.
const SECRET_MARKER: &str = "NOT-FOR-OUTPUT";

#[test]
fn broken_manifest_catalogue() {
    insta::glob!("../fixtures/broken", "*", |path| {
        if path.ends_with("fixtures/broken") {
            return; // the walk starts with the directory itself
        }
        let relative = path.strip_prefix(root()).expect("fixture under the repository");
        let shown = relative.to_string_lossy().replace('\\', "/");
        let (code, stdout, stderr) = dssctl(&["validate", &shown]);
        assert_eq!(code, 1, "{shown} must be rejected\n{stdout}{stderr}");
        assert!(
            !stdout.contains(SECRET_MARKER) && !stderr.contains(SECRET_MARKER),
            "{shown} leaks a secret:\n{stdout}"
        );
        // Every error names the file it is in, with a line and a column (a directory with
        // nothing to read is named alone).
        let errors: Vec<&str> = stdout.lines().filter(|l| l.contains(": error: ")).collect();
        assert!(!errors.is_empty(), "{shown}: no error printed\n{stdout}");
        for line in errors {
            assert!(
                line.starts_with(&shown),
                "{shown}: error does not name its file: {line}"
            );
            if path.is_file() {
                let location = line[shown.len()..].split(": error: ").next().unwrap_or_default();
                let parts: Vec<&str> = location.trim_start_matches(':').split(':').collect();
                assert!(
                    parts.len() == 2 && parts.iter().all(|p| p.parse::<usize>().is_ok_and(|n| n > 0)),
                    "{shown}: error without line:column: {line}"
                );
            }
        }
        insta::assert_snapshot!(format!(
            "exit code: {code}\n--- stdout\n{stdout}--- stderr\n{stderr}"
        ));
    });
}

#[test]
fn the_catalogue_covers_at_least_forty_cases() {
    let count = std::fs::read_dir(root().join("tests/fixtures/broken"))
        .unwrap()
        .count();
    assert!(count >= 40, "only {count} broken manifests");
}

#[test]
fn the_quickstart_validates() {
    let (code, stdout, stderr) = dssctl(&["validate", "examples/quickstart"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        !stdout.contains("warning"),
        "the quickstart should be self-contained:\n{stdout}"
    );
    assert!(stdout.contains("Valid: 16 resources in 6 files."), "{stdout}");
}

#[test]
fn the_multi_env_example_validates_for_each_environment() {
    for env in ["dev", "prod"] {
        let dir = format!("examples/multi-env/envs/{env}");
        let (code, stdout, stderr) = dssctl(&["validate", "examples/multi-env/base", &dir]);
        assert_eq!(code, 0, "{env}: {stdout}{stderr}");
        assert!(!stdout.contains("warning"), "{env}: {stdout}");
    }
}

#[test]
fn every_example_manifest_points_editors_at_the_schema() {
    let mut stack = vec![root().join("examples")];
    let mut checked = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                let text = std::fs::read_to_string(&path).unwrap();
                let first = text.lines().next().unwrap_or_default();
                let target = first
                    .strip_prefix("# yaml-language-server: $schema=")
                    .unwrap_or_else(|| panic!("{} lacks the schema line", path.display()));
                let schema = path.parent().unwrap().join(target);
                assert!(
                    schema.is_file(),
                    "{}: {} does not exist",
                    path.display(),
                    schema.display()
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 8, "only {checked} example manifests");
}

#[test]
fn undeclared_references_are_warnings_at_the_line_that_names_them() {
    let (code, stdout, stderr) = dssctl(&["validate", "tests/fixtures/warnings"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    insta::assert_snapshot!(stdout);
}

#[test]
fn json_diagnostics_for_ci_annotations() {
    let (code, stdout, _) = dssctl(&[
        "validate",
        "--format",
        "json",
        "tests/fixtures/broken/unknown-field-typo.yaml",
    ]);
    assert_eq!(code, 1);
    let diags: serde_json::Value = serde_json::from_str(&stdout).expect("a JSON document");
    assert_eq!(
        diags,
        serde_json::json!([{
            "file": "tests/fixtures/broken/unknown-field-typo.yaml",
            "line": 7,
            "column": 3,
            "resource": "dataset CHURN.customers",
            "severity": "error",
            "message": "spec: unknown field \"formatTyp\", did you mean \"formatType\"?",
            "hint": null
        }])
    );
    let (code, stdout, _) = dssctl(&["validate", "--format", "json", "examples/quickstart"]);
    assert_eq!(code, 0);
    assert_eq!(stdout.trim(), "[]");
}

#[test]
fn a_missing_path_is_an_error() {
    let (code, stdout, _) = dssctl(&["validate", "tests/fixtures/does-not-exist"]);
    assert_eq!(code, 1);
    assert!(
        stdout.starts_with("tests/fixtures/does-not-exist: error: cannot read: no such file or directory"),
        "{stdout}"
    );
}

#[test]
fn schemas_in_the_repository_are_current() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_string_lossy().into_owned();
    let (code, _, stderr) = dssctl(&["schema", "--out", &out]);
    assert_eq!(code, 0, "{stderr}");
    let names = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let committed = root().join("schemas");
    let stale = "schemas/ is not current: run `cargo run -- schema --out schemas` and commit the result";
    assert_eq!(names(dir.path()), names(&committed), "{stale}");
    for name in names(dir.path()) {
        let fresh = std::fs::read_to_string(dir.path().join(&name)).unwrap();
        let kept = std::fs::read_to_string(committed.join(&name)).unwrap();
        assert!(fresh == kept, "{name}: {stale}");
    }
}

#[test]
fn schema_without_out_prints_the_all_kinds_schema() {
    let (code, stdout, _) = dssctl(&["schema"]);
    assert_eq!(code, 0);
    let kept = std::fs::read_to_string(root().join("schemas/dssctl.schema.json")).unwrap();
    assert_eq!(stdout, kept);
}

#[test]
fn load_paths_gives_typed_resources_with_origins() {
    let loaded = dssctl::manifest::load_paths(&[PathBuf::from(root()).join("examples/quickstart")]).unwrap();
    let dataset = loaded
        .resources
        .iter()
        .find(|d| d.resource.display_name() == "dataset SALES.warehouse_customers")
        .expect("declared");
    assert!(dataset.origin.file.ends_with("projects/sales.yaml"));
    assert!(
        dataset
            .origin
            .base_dir()
            .ends_with("examples/quickstart/projects")
    );
    let connection = dataset
        .references
        .iter()
        .find(|r| r.kind == dssctl::kinds::connection::ID)
        .expect("a connection reference");
    assert_eq!(connection.name, "warehouse");
    let text = std::fs::read_to_string(&dataset.origin.file).unwrap();
    let line = text.lines().nth(connection.origin.line - 1).unwrap();
    assert_eq!(&line[connection.origin.column - 1..], "warehouse");
}

#[test]
fn quickstart_secrets_resolve_relative_to_their_manifest() {
    let loaded = dssctl::manifest::load_paths(&[root().join("examples/quickstart")]).unwrap();
    let user = loaded
        .resources
        .iter()
        .find(|d| d.resource.display_name() == "user alice")
        .unwrap();
    let spec = user
        .resource
        .spec::<dssctl::kinds::user::UserSpec>()
        .expect("a User's spec");
    let secret = spec.password.as_ref().expect("alice has a password reference");
    let value = dssctl::manifest::resolve_secret(secret, user.origin.base_dir()).unwrap();
    assert_eq!(value, "quickstart-alice");
    // Debug output shows the reference, never the value.
    assert_eq!(format!("{secret:?}"), "fromFile(secrets/alice-password)");
}

#[test]
fn json_output_never_shows_secret_literals() {
    for file in [
        "secret-literal-connection.yaml",
        "secret-literal-user-password.yaml",
    ] {
        let path = format!("tests/fixtures/broken/{file}");
        let (code, stdout, stderr) = dssctl(&["validate", "--format", "json", &path]);
        assert_eq!(code, 1);
        assert!(
            !stdout.contains(SECRET_MARKER) && !stderr.contains(SECRET_MARKER),
            "{stdout}"
        );
        assert!(stdout.contains("fromEnv"), "{stdout}");
    }
}

/// Ways a secret literal can be written, correctly or not, around the secret `{S}`.
const SECRET_TEMPLATES: &[&str] = &[
    "apiVersion: dssctl/v1\nkind: Connection\nmetadata: {name: c}\nspec:\n  type: PostgreSQL\n  params:\n    password: {S}\n",
    "apiVersion: dssctl/v1\nkind: Connection\nmetadata: {name: c}\nspec:\n  type: PostgreSQL\n  params:\n    apiKey: \"{S}\"\n    secretKey: [{S}]\n    token: {value: {S}}\n",
    "apiVersion: dssctl/v1\nkind: User\nmetadata: {name: u}\nspec:\n  password: {S}\n",
    "apiVersion: dssctl/v1\nkind: User\nmetadata: {name: u}\nspec:\n  password: [{S}]\n",
    "apiVersion: dssctl/v1\nkind: User\nmetadata: {name: u}\nspec:\n  password: {secret: {S}}\n",
    "apiVersion: dssctl/v1\nkind: User\nmetadata: {name: u}\nspec:\n  password: \"{S}\n",
    "apiVersion: dssctl/v1\nkind: User\nmetadata: {name: u}\nspec:\n  password: {S}: {S}\n",
    "apiVersion: dssctl/v1\nkind: User\nmetadata: {name: u}\nspec:\n\tpassword: {S}\n",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn secret_literals_never_appear_in_diagnostics(secret in "[A-Za-z0-9]{6,24}", template in proptest::sample::select(SECRET_TEMPLATES)) {
        let secret = format!("Zq{secret}");
        let text = template.replace("{S}", &secret);
        let outcome = dssctl::manifest::load_str(Path::new("m.yaml"), &text);
        let diags = outcome.expect_err("a literal secret is an error").0;
        for d in &diags {
            let shown = format!("{d} {d:?} {}", serde_json::to_string(d).unwrap());
            prop_assert!(!shown.contains(&secret), "{}", shown);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_loader(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = dssctl::manifest::load_bytes(Path::new("fuzz.yaml"), &bytes);
    }

    #[test]
    fn yaml_ish_text_never_panics_the_loader(text in "(apiVersion|kind|metadata|spec|name|project|type|params|columns|password|fromEnv|&a|\\*a|<<|---|- |: |\\{|\\}|\\[|\\]|,|\"|'|\t|\n|  |yes|no|1\\.0|null|~|#|Dataset|Group|Connection|User|Build|dssctl/v1|x|é)*") {
        let _ = dssctl::manifest::load_str(Path::new("fuzz.yaml"), &text);
    }

    #[test]
    fn mutated_manifests_never_panic_and_errors_are_located(cut in 0usize..600, insert in "[ -~\t\n]{0,8}") {
        let base = std::fs::read_to_string(root().join("examples/quickstart/projects/churn.yaml")).unwrap();
        let mut cut = cut.min(base.len());
        while !base.is_char_boundary(cut) { cut -= 1; }
        let text = format!("{}{}{}", &base[..cut], insert, &base[cut..]);
        if let Err(diags) = dssctl::manifest::load_str(Path::new("m.yaml"), &text) {
            let lines = text.lines().count().max(1);
            for d in diags.0 {
                prop_assert!(d.line >= 1 && d.line <= lines + 1, "{d} (text has {lines} lines)");
            }
        }
    }
}
