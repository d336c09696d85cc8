//! Tests of the loader: locations, every mistake reported once, the walk of directories.

use super::*;

fn load(text: &str) -> Result<LoadedManifests, Diagnostics> {
    load_str(Path::new("m.yaml"), text)
}

fn errors(text: &str) -> Vec<String> {
    load(text)
        .expect_err("should fail")
        .0
        .iter()
        .filter(|d| d.is_error())
        .map(ToString::to_string)
        .collect()
}

const GOOD: &str = "apiVersion: dssctl/v1\nkind: Group\nmetadata: {name: analysts}\nspec: {description: A, mayWriteSafeCode: true}\n---\napiVersion: dssctl/v1\nkind: Connection\nmetadata: {name: wh}\nspec:\n  type: PostgreSQL\n  allowedGroups: [analysts]\n  params: {host: db, password: {fromEnv: WH_PASSWORD}}\n---\napiVersion: dssctl/v1\nkind: Dataset\nmetadata: {name: customers, project: P}\nspec:\n  type: PostgreSQL\n  params: {connection: wh, mode: table, table: customers}\n";

#[test]
fn loads_typed_resources_with_origins_and_references() {
    let loaded = load(GOOD).unwrap();
    assert_eq!(loaded.resources.len(), 3);
    let ds = &loaded.resources[2];
    assert_eq!(ds.origin.line, 14);
    assert_eq!(ds.resource.display_name(), "dataset P.customers");
    let conn_ref = ds
        .references
        .iter()
        .find(|r| r.kind == crate::kinds::connection::ID)
        .unwrap();
    assert_eq!(
        (
            conn_ref.name.as_str(),
            conn_ref.origin.line,
            conn_ref.origin.column
        ),
        ("wh", 19, 24)
    );
    // Project P is not declared: a warning, not an error.
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(
        loaded.warnings[0]
            .to_string()
            .contains("project \"P\" is not declared")
    );
    match loaded.resources[0]
        .resource
        .spec::<crate::kinds::group::GroupSpec>()
    {
        Some(spec) => assert_eq!(spec.abilities.get("mayWriteSafeCode"), Some(&true)),
        None => panic!("{:?}", loaded.resources[0].resource),
    }
}

#[test]
fn literal_secrets_are_errors_that_never_show_the_value() {
    let text = GOOD.replace("{fromEnv: WH_PASSWORD}", "s3cr3t-value")
        + "---\napiVersion: dssctl/v1\nkind: User\nmetadata: {name: bob}\nspec: {password: hunter2-value}\n";
    let errs = errors(&text);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    for e in &errs {
        assert!(!e.contains("s3cr3t") && !e.contains("hunter2"), "{e}");
        assert!(e.contains("fromEnv"), "{e}");
    }
    assert!(
        errs[0].starts_with("m.yaml:12:32: error: connection wh: spec.params.password"),
        "{errs:#?}"
    );
}

#[test]
fn duplicates_name_both_places() {
    let text = format!("{GOOD}---\napiVersion: dssctl/v1\nkind: Group\nmetadata: {{name: analysts}}\n");
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0]
            .starts_with("m.yaml:21:1: error: group analysts: declared twice: also declared at m.yaml:1:1"),
        "{errs:#?}"
    );
}

#[test]
fn kind_and_api_version_mistakes() {
    let errs = errors("apiVersion: v1\nkind: Datset\nmetadata: {name: x}\n");
    assert!(
        errs[0].starts_with("m.yaml:1:13: error: apiVersion: unsupported version"),
        "{errs:#?}"
    );
    assert!(
        errs[1].contains("unknown kind \"Datset\", did you mean \"Dataset\"?"),
        "{errs:#?}"
    );
}

#[test]
fn empty_and_non_mapping_documents() {
    assert!(errors("")[0].contains("no manifest in this file"));
    assert!(errors("- a\n- b\n")[0].contains("a manifest must be a mapping"));
}

#[test]
fn invalid_utf8_is_located() {
    assert_eq!(super::yaml::position_after(b"ab\ncd"), Pos { line: 2, column: 3 });
}

#[test]
fn directories_are_walked_skipping_hidden_ones_and_files_are_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let group = |name: &str| format!("apiVersion: dssctl/v1\nkind: Group\nmetadata: {{name: {name}}}\n");
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    std::fs::create_dir_all(root.join(".dssctl/local")).unwrap();
    std::fs::create_dir_all(root.join(".github")).unwrap();
    std::fs::write(root.join("a/one.yaml"), group("one")).unwrap();
    std::fs::write(root.join("a/b/two.yml"), group("two")).unwrap();
    std::fs::write(root.join("a/notes.txt"), "not: a manifest").unwrap();
    std::fs::write(root.join(".dssctl/local/state.yaml"), "{broken").unwrap();
    std::fs::write(root.join(".github/ci.yaml"), "{broken").unwrap();
    std::fs::write(root.join("three.manifest"), group("three")).unwrap();
    let paths = [
        root.to_path_buf(),
        root.join("a/one.yaml"),
        root.join("three.manifest"),
    ];
    let loaded = load_paths(&paths).unwrap();
    let names: Vec<&str> = loaded
        .resources
        .iter()
        .map(|d| d.resource.meta().name.as_str())
        .collect();
    // Path order: `a/b/two.yml` sorts before `a/one.yaml`.
    assert_eq!(names, ["two", "one", "three"]);
    assert_eq!(loaded.files, 3);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

mod round_trip {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::super::*;
    use crate::kinds::dataset::{ColumnSpec, DatasetSpec, SchemaSpec};
    use crate::kinds::project::{PermissionSpec, ProjectSpec, ProjectVariablesSpec};
    use crate::manifest::kinds::{API_VERSION, KeyedMap};

    fn text() -> impl Strategy<Value = String> {
        // Printable text, including what YAML would read as something else unquoted.
        prop_oneof![
            "\\PC{0,24}",
            Just("yes".to_string()),
            Just("null".to_string()),
            Just("1.10".to_string()),
            Just("- a: b".to_string()),
            Just(" padded ".to_string()),
        ]
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            text().prop_map(Value::String),
            any::<i32>().prop_map(|i| json!(i)),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
        ]
    }

    fn keyed_map() -> impl Strategy<Value = KeyedMap> {
        proptest::collection::btree_map("[a-zA-Z][a-zA-Z0-9_]{0,10}", scalar(), 0..4)
    }

    prop_compose! {
        fn dataset()(
            dataset_type in "[A-Z][A-Za-z]{1,12}",
            params in proptest::option::of(keyed_map()),
            format_type in proptest::option::of(text()),
            managed in proptest::option::of(any::<bool>()),
            columns in proptest::option::of(proptest::collection::vec(("[a-z_]{1,8}", prop_oneof![Just("string"), Just("bigint"), Just("double")], proptest::option::of(0i64..10_000)), 0..4)),
            label in proptest::option::of(text()),
            tags in proptest::option::of(proptest::collection::vec(text(), 0..3)),
            custom in proptest::option::of(keyed_map()),
        ) -> DatasetSpec {
            // Column names are unique in a schema.
            let columns = columns.map(|cols| {
                let mut seen = std::collections::BTreeSet::new();
                cols.into_iter()
                    .filter(|(n, _, _)| seen.insert(n.clone()))
                    .map(|(name, t, max_length)| ColumnSpec { name, column_type: t.to_string(), max_length, comment: None, meaning: None })
                    .collect()
            });
            DatasetSpec {
                dataset_type, params, format_type, managed,
                schema: columns.map(|columns| SchemaSpec { columns }),
                label, tags, custom, ..DatasetSpec::default()
            }
        }
    }

    prop_compose! {
        fn project()(
            label in proptest::option::of(text()),
            description in proptest::option::of(text()),
            groups in proptest::collection::btree_set("[a-z_]{1,10}", 0..4),
            read in any::<bool>(),
            standard in proptest::option::of(keyed_map()),
            protect in proptest::option::of(any::<bool>()),
        ) -> ProjectSpec {
            let permissions = groups.into_iter().enumerate().map(|(i, group)| {
                if i % 2 == 0 {
                    PermissionSpec { group: Some(group), permission_type: Some("READER".into()), ..PermissionSpec::default() }
                } else {
                    PermissionSpec { group: Some(group), read_project_content: Some(read), ..PermissionSpec::default() }
                }
            }).collect();
            ProjectSpec {
                label, description, permissions: Some(permissions),
                variables: standard.map(|standard| ProjectVariablesSpec { standard: Some(standard), local: None }),
                protect, ..ProjectSpec::default()
            }
        }
    }

    fn document(kind: &str, meta: Value, spec: Value) -> String {
        let doc = json!({"apiVersion": API_VERSION, "kind": kind, "metadata": meta, "spec": spec});
        serde_saphyr::to_string(&doc).expect("serializes")
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        /// What the types can hold, written as YAML, loads back equal: the schema the
        /// loader validates with and the types agree.
        #[test]
        fn datasets_round_trip(spec in dataset()) {
            let yaml = document("Dataset", json!({"name": "d", "project": "P"}), serde_json::to_value(&spec).unwrap());
            let loaded = load_str(std::path::Path::new("m.yaml"), &yaml).map_err(|d| TestCaseError::fail(format!("{d}\n{yaml}")))?;
            match loaded.resources[0].resource.spec::<crate::kinds::dataset::DatasetSpec>() {
                Some(back) => prop_assert_eq!(back, &spec, "{}", yaml),
                None => prop_assert!(false, "{:?}", loaded.resources[0].resource),
            }
        }

        #[test]
        fn projects_round_trip(spec in project()) {
            let yaml = document("Project", json!({"name": "P"}), serde_json::to_value(&spec).unwrap());
            let loaded = load_str(std::path::Path::new("m.yaml"), &yaml).map_err(|d| TestCaseError::fail(format!("{d}\n{yaml}")))?;
            match loaded.resources[0].resource.spec::<crate::kinds::project::ProjectSpec>() {
                Some(back) => prop_assert_eq!(back, &spec, "{}", yaml),
                None => prop_assert!(false, "{:?}", loaded.resources[0].resource),
            }
        }
    }
}
