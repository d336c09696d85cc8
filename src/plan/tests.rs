//! Planner tests: ownership rules, every field rule with the normalisation that would otherwise
//! show a phantom diff, and the property that a desired state planned against the state it
//! produces is empty.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::fixtures::{declared, resolver, sample};
use super::*;
use crate::kinds::dataset::ObservedDataset;
use crate::kinds::project::ObservedProject;
use crate::kinds::simulate::simulate_apply;
use crate::manifest::Declared;

/// The plan of `desired` from `observed`; checked to be the plan made in two passes, the first
/// from the state without the projects' documents, as observation hands it over while they are
/// read (`plan_early`, then `plan_after`).
fn run(desired: &[Declared], observed: &Observed) -> Plan {
    let input = |observed| PlanInput {
        desired,
        observed,
        stack: "default",
        target: "http://127.0.0.1:11200",
        resolve_secret: &resolver,
    };
    let made = plan(&input(observed));
    let partial = crate::kinds::project::without_documents(observed);
    let declared = declarations(desired);
    let early = plan_early(&input(&partial), &declared);
    assert_eq!(
        plan_after(&input(observed), declared, early),
        made,
        "planned in two passes"
    );
    made
}

fn converged() -> (Vec<Declared>, Observed) {
    let desired = sample();
    let observed = simulate_apply(&desired, &resolver);
    (desired, observed)
}

fn paths(plan: &Plan) -> Vec<String> {
    plan.operations
        .iter()
        .flat_map(|o| {
            o.changes
                .iter()
                .map(move |c| format!("{} {}: {}", o.kind, o.name, c.path))
        })
        .collect()
}

fn dataset_mut<'a>(o: &'a mut Observed, p: &str, d: &str) -> &'a mut ObservedDataset {
    crate::kinds::project::live_mut(o)
        .unwrap()
        .get_mut(p)
        .unwrap()
        .datasets
        .as_mut()
        .unwrap()
        .get_mut(d)
        .unwrap()
}

fn project_mut<'a>(o: &'a mut Observed, p: &str) -> &'a mut ObservedProject {
    crate::kinds::project::live_mut(o).unwrap().get_mut(p).unwrap()
}

#[test]
fn an_empty_instance_gets_everything_created_in_dependency_order() {
    let desired = sample();
    let mut observed = Observed {
        global_variables: Some(Default::default()),
        ..Default::default()
    };
    observed
        .kinds
        .insert(crate::kinds::project::ID, crate::kinds::project::Live::new());
    observed.kinds.insert(
        crate::kinds::connection::ID,
        crate::kinds::connection::Live::new(),
    );
    observed
        .kinds
        .insert(crate::kinds::user::ID, crate::kinds::user::Live::new());
    observed
        .kinds
        .insert(crate::kinds::group::ID, crate::kinds::group::Live::new());
    let plan = run(&desired, &observed);
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    let ops: Vec<(Kind, Action)> = plan.operations.iter().map(|o| (o.kind, o.action)).collect();
    assert_eq!(
        ops,
        vec![
            (crate::kinds::group::ID, Action::Create),
            (crate::kinds::group::ID, Action::Create),
            (crate::kinds::user::ID, Action::Create),
            (crate::kinds::connection::ID, Action::Create),
            (crate::kinds::project::ID, Action::Create),
            (crate::kinds::dataset::ID, Action::Create),
            (crate::kinds::variables::ID, Action::Adopt),
        ]
    );
    let ds = &plan.operations[5];
    assert_eq!(ds.name, "CHURN.customers");
    assert_eq!(
        ds.subdocuments,
        vec![SubDoc::SETTINGS, SubDoc::SCHEMA, SubDoc::METADATA]
    );
    assert!(ds.writes.iter().all(|w| w.fingerprint.is_none()));
    let conn = &plan.operations[3];
    assert!(conn.writes[0].secrets.iter().all(|s| s.changed));
    assert_eq!(plan.summary.create, 6);
}

#[test]
fn the_state_a_plan_produces_plans_to_nothing() {
    let (desired, observed) = converged();
    let plan = run(&desired, &observed);
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    assert!(!plan.has_changes(), "{:#?}", plan.operations);
    assert_eq!(plan.summary.unchanged, 7);
}

#[test]
fn live_resources_outside_the_ledger_are_adopted_without_field_changes() {
    let (desired, mut observed) = converged();
    observed.ledger = None;
    let plan = run(&desired, &observed);
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    assert_eq!(plan.operations.len(), 7);
    let alice = plan.operations.iter().find(|o| o.name == "alice").unwrap();
    assert_eq!(alice.secrets.len(), 1, "the adopted password is recorded");
    assert!(!alice.secrets[0].changed, "and trusted, not re-sent");
    for op in &plan.operations {
        assert_eq!(op.action, Action::Adopt, "{}", op.name);
        assert!(op.changes.is_empty(), "{} {:?}", op.name, op.changes);
        assert!(op.writes.is_empty());
    }
    assert_eq!(plan.summary.adopt, 7);
}

#[test]
fn one_live_tag_change_is_one_field_of_one_operation() {
    let (desired, mut observed) = converged();
    dataset_mut(&mut observed, "CHURN", "customers").definition.tags = vec!["pii".into(), "x".into()];
    let plan = run(&desired, &observed);
    assert_eq!(paths(&plan), vec!["dataset CHURN.customers: tags"]);
    let op = &plan.operations[0];
    assert_eq!(op.action, Action::Update);
    assert_eq!(op.subdocuments, vec![SubDoc::METADATA]);
    assert_eq!(op.changes[0].before, json!(["pii", "x"]));
    assert_eq!(op.changes[0].after, json!(["pii"]));
    assert!(op.writes[0].fingerprint.is_some());
}

#[test]
fn tags_returned_in_another_order_are_no_change() {
    let (desired, mut observed) = converged();
    project_mut(&mut observed, "CHURN")
        .metadata
        .as_mut()
        .unwrap()
        .tags = vec!["ml".into(), "churn".into()];
    assert!(!run(&desired, &observed).has_changes());
}

#[test]
fn defaults_dss_fills_in_are_no_change() {
    let (desired, mut observed) = converged();
    let ds = dataset_mut(&mut observed, "CHURN", "customers");
    ds.definition
        .format_params
        .insert("separator".into(), json!("\t"));
    ds.definition.params.insert("catalog".into(), json!(""));
    let conn = crate::kinds::connection::live_mut(&mut observed)
        .unwrap()
        .get_mut("warehouse")
        .unwrap();
    conn.extra.insert("maxActivities".into(), json!(5));
    assert!(!run(&desired, &observed).has_changes());
}

#[test]
fn encrypted_secrets_are_never_compared_by_value() {
    let (desired, mut observed) = converged();
    let conn = crate::kinds::connection::live_mut(&mut observed)
        .unwrap()
        .get_mut("warehouse")
        .unwrap();
    conn.params
        .insert("password".into(), json!("e:AES:completely-different"));
    assert!(!run(&desired, &observed).has_changes());
}

#[test]
fn a_secret_changed_in_git_is_seen_through_its_fingerprint_only() {
    let (mut desired, observed) = converged();
    if let Some(spec) = desired[3]
        .resource
        .spec_mut::<crate::kinds::connection::ConnectionSpec>()
    {
        spec.params
            .as_mut()
            .unwrap()
            .insert("password".into(), json!({"fromEnv": "ROTATED"}));
    }
    let plan = run(&desired, &observed);
    assert_eq!(paths(&plan), vec!["connection warehouse: params.password"]);
    let change = &plan.operations[0].changes[0];
    assert!(change.sensitive && change.before.is_null() && change.after.is_null());
    let secret = &plan.operations[0].writes[0].secrets[0];
    assert!(secret.changed);
    let doc = serde_json::to_string(&plan).unwrap();
    assert!(!doc.contains("rotated-value") && !doc.contains("s3cr3t"));
    assert!(doc.contains("ROTATED"), "the reference is kept");
}

#[test]
fn an_unresolvable_secret_on_an_existing_object_is_unchecked_not_written() {
    let (mut desired, observed) = converged();
    if let Some(spec) = desired[2].resource.spec_mut::<crate::kinds::user::UserSpec>() {
        spec.password = Some(crate::manifest::SecretRef::FromEnv {
            from_env: "NOPE".into(),
        });
    }
    let plan = run(&desired, &observed);
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    assert!(!plan.has_changes(), "nothing to compare, so nothing written");
    assert_eq!(plan.unchecked.len(), 1);
    let u = &plan.unchecked[0];
    assert_eq!(
        (u.name.as_str(), u.path.as_str(), u.sent),
        ("alice", "password", false)
    );
    assert!(u.reason.contains("NOPE"), "{}", u.reason);

    // With another change, the operation shows the field as not checked, but does not write it.
    if let Some(spec) = desired[2].resource.spec_mut::<crate::kinds::user::UserSpec>() {
        spec.display_name = Some("Alice Renamed".into());
    }
    let plan = run(&desired, &observed);
    let op = &plan.operations[0];
    let unchecked: Vec<&Change> = op.changes.iter().filter(|c| c.unchecked.is_some()).collect();
    assert_eq!(unchecked.len(), 1);
    assert!(unchecked[0].sensitive && unchecked[0].path == "password");
    assert!(op.writes.iter().all(|w| w.changes.iter().all(|c| !c.sensitive)));
    assert!(op.secrets.iter().all(|s| !s.changed && s.unchecked.is_some()));
}

#[test]
fn an_unresolvable_secret_on_a_created_object_must_be_sent() {
    let (mut desired, mut observed) = converged();
    if let Some(spec) = desired[2].resource.spec_mut::<crate::kinds::user::UserSpec>() {
        spec.password = Some(crate::manifest::SecretRef::FromEnv {
            from_env: "NOPE".into(),
        });
    }
    crate::kinds::user::live_mut(&mut observed)
        .unwrap()
        .remove("alice");
    let plan = run(&desired, &observed);
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    let op = &plan.operations[0];
    assert_eq!(op.action, Action::Create);
    assert!(op.secrets.iter().any(|s| s.changed && s.unchecked.is_some()));
    assert!(op.changes.iter().any(|c| c.sensitive && c.unchecked.is_some()));
    assert!(plan.unchecked[0].sent);
    // The saved plan keeps the record.
    let doc = serde_json::to_string(&plan).unwrap();
    assert!(doc.contains("\"unchecked\""), "{doc}");
    let back: crate::plan::Plan = serde_json::from_str(&doc).unwrap();
    assert_eq!(back.unchecked, plan.unchecked);
}

#[test]
fn permission_flag_order_form_and_implied_flags_are_no_change() {
    let (desired, mut observed) = converged();
    let perms = project_mut(&mut observed, "CHURN").permissions.as_mut().unwrap();
    // Same rights, written in the legacy form and in another order.
    perms.permissions.reverse();
    let g = &mut perms.permissions[0];
    g.flags.clear();
    g.flags.insert("type".into(), json!("ANALYST_READONLY"));
    assert_eq!(g.group.as_deref(), Some("analysts"));
    assert!(!run(&desired, &observed).has_changes());
}

#[test]
fn a_permission_change_is_matched_by_group() {
    let (desired, mut observed) = converged();
    let perms = project_mut(&mut observed, "CHURN").permissions.as_mut().unwrap();
    let g = perms
        .permissions
        .iter_mut()
        .find(|g| g.group.as_deref() == Some("data_scientists"))
        .unwrap();
    g.flags.clear();
    g.flags.insert("readDashboards".into(), json!(true));
    let plan = run(&desired, &observed);
    assert_eq!(
        paths(&plan),
        vec!["project CHURN: permissions[group=data_scientists]"]
            .into_iter()
            .map(|s| format!("{s}.type"))
            .collect::<Vec<_>>()
    );
    assert!(plan.operations[0].has_permission_change());
}

#[test]
fn user_group_order_is_no_change_but_membership_is() {
    let (desired, mut observed) = converged();
    let alice = crate::kinds::user::live_mut(&mut observed)
        .unwrap()
        .get_mut("alice")
        .unwrap();
    alice.groups = vec!["data_scientists".into(), "analysts".into()];
    assert!(!run(&desired, &observed).has_changes());
    let alice = crate::kinds::user::live_mut(&mut observed)
        .unwrap()
        .get_mut("alice")
        .unwrap();
    alice.groups = vec!["analysts".into()];
    assert_eq!(paths(&run(&desired, &observed)), vec!["user alice: groups"]);
}

#[test]
fn server_managed_fields_are_never_compared() {
    let (desired, mut observed) = converged();
    let ds = dataset_mut(&mut observed, "CHURN", "customers");
    ds.definition.version_tag.as_mut().unwrap().version_number = 99;
    ds.definition
        .extra
        .insert("smartName".into(), json!("CHURN.customers"));
    let p = project_mut(&mut observed, "CHURN");
    p.summary.owner_login = Some("someone-else".into());
    assert!(!run(&desired, &observed).has_changes());
}

#[test]
fn a_null_key_already_absent_is_no_change_and_a_present_one_is_removed() {
    let (desired, mut observed) = converged();
    assert!(!observed.global_variables.as_ref().unwrap().contains_key("legacy"));
    observed
        .global_variables
        .as_mut()
        .unwrap()
        .insert("legacy".into(), json!(1));
    let plan = run(&desired, &observed);
    assert_eq!(paths(&plan), vec!["variables global: legacy"]);
    assert_eq!(plan.operations[0].changes[0].after, Value::Null);
}

#[test]
fn variables_never_see_the_ledger_even_with_prune() {
    let (mut desired, mut observed) = converged();
    if let Some(spec) = desired[6]
        .resource
        .spec_mut::<crate::kinds::variables::VariablesSpec>()
    {
        spec.prune = Some(true);
    }
    let vars = observed.global_variables.as_mut().unwrap();
    vars.insert("dssctl.ledger.other".into(), json!({"x": 1}));
    vars.insert("stray".into(), json!("x"));
    let plan = run(&desired, &observed);
    assert_eq!(paths(&plan), vec!["variables global: stray"]);
    let overlay = &plan.operations[0].writes[0].overlay;
    assert!(overlay["values"].get("dssctl.ledger.other").is_none());

    if let Some(spec) = desired[6]
        .resource
        .spec_mut::<crate::kinds::variables::VariablesSpec>()
    {
        spec.values.insert("dssctl.mine".into(), json!(1));
    }
    let plan = run(&desired, &observed);
    assert!(plan.errors[0].message.contains("reserved"));
}

#[test]
fn schema_columns_are_ordered_and_types_case_insensitive() {
    let (desired, mut observed) = converged();
    let ds = dataset_mut(&mut observed, "CHURN", "customers");
    let cols = &mut ds.definition.schema.as_mut().unwrap().columns;
    cols[0].column_type = "BigInt".into();
    assert!(!run(&desired, &observed).has_changes());
    let ds = dataset_mut(&mut observed, "CHURN", "customers");
    ds.definition.schema.as_mut().unwrap().columns.reverse();
    assert_eq!(
        paths(&run(&desired, &observed)),
        vec!["dataset CHURN.customers: schema.columns(order)"]
    );
}

#[test]
fn project_key_variables_in_params_are_no_change() {
    let (desired, mut observed) = converged();
    let ds = dataset_mut(&mut observed, "CHURN", "customers");
    ds.definition
        .params
        .insert("table".into(), json!("CHURN_customers"));
    assert!(!run(&desired, &observed).has_changes());
}

#[test]
fn a_multi_line_description_change_is_one_field() {
    let (desired, mut observed) = converged();
    project_mut(&mut observed, "CHURN")
        .metadata
        .as_mut()
        .unwrap()
        .description = Some("Predicts churn.\nUpdated weekly.\n".into());
    let plan = run(&desired, &observed);
    assert_eq!(paths(&plan), vec!["project CHURN: description"]);
    assert_eq!(plan.operations[0].subdocuments, vec![SubDoc::METADATA]);
}

#[test]
fn identity_changes_are_errors_with_what_to_do() {
    let (mut desired, observed) = converged();
    if let Some(spec) = desired[5]
        .resource
        .spec_mut::<crate::kinds::dataset::DatasetSpec>()
    {
        spec.dataset_type = "Snowflake".into();
    }
    if let Some(spec) = desired[3]
        .resource
        .spec_mut::<crate::kinds::connection::ConnectionSpec>()
    {
        spec.connection_type = "MySQL".into();
    }
    let plan = run(&desired, &observed);
    assert!(plan.operations.is_empty(), "{:?}", plan.operations);
    assert_eq!(plan.errors.len(), 2);
    for e in &plan.errors {
        assert!(e.message.contains("cannot change in place"), "{e}");
        assert!(e.hint.as_deref().unwrap().contains("another name"));
        assert!(e.origin.is_some());
    }
}

#[test]
fn unresolved_references_are_looked_up_live() {
    let (mut desired, mut observed) = converged();
    // The group is not declared any more, but exists live: fine.
    desired.retain(|d| {
        !(d.resource.kind_def().id() == crate::kinds::group::ID && d.resource.meta().name == "analysts")
    });
    let plan = run(&desired, &observed);
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    // Gone live too: an error at each manifest that names it.
    crate::kinds::group::live_mut(&mut observed)
        .unwrap()
        .remove("analysts");
    let plan = run(&desired, &observed);
    let errs: Vec<String> = plan.errors.iter().map(ToString::to_string).collect();
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs[0].starts_with("stack/app.yaml:9:1: user alice: groups refers to group \"analysts\""),
        "{}",
        errs[0]
    );
    assert!(
        errs[1].starts_with("stack/app.yaml:26:1: project CHURN: permissions"),
        "{}",
        errs[1]
    );
}

#[test]
fn undeclared_ledger_resources_are_deleted_unless_protected_or_gone() {
    let (mut desired, mut observed) = converged();
    // Drop the dataset and the (protected) project from the manifests.
    desired.retain(|d| {
        ![
            crate::kinds::dataset::ID,
            crate::kinds::project::ID,
            crate::kinds::build::ID,
        ]
        .contains(&d.resource.kind_def().id())
    });
    // A group in the ledger that was deleted out of band.
    let ledger = observed.ledger.as_mut().unwrap();
    ledger.insert(crate::kinds::simulate::entry_for(
        crate::kinds::group::ID,
        "vanished",
    ));
    ledger
        .resources
        .get_mut("dataset:CHURN.customers")
        .unwrap()
        .drop_data_on_delete = true;
    let plan = run(&desired, &observed);
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    let ops: Vec<(Action, &str)> = plan
        .operations
        .iter()
        .map(|o| (o.action, o.name.as_str()))
        .collect();
    assert_eq!(ops, vec![(Action::Delete, "CHURN.customers")]);
    assert!(plan.operations[0].drop_data);
    assert!(plan.operations[0].fingerprint.is_some());
    assert_eq!(
        plan.protected,
        vec![ProtectedSkip {
            kind: crate::kinds::project::ID,
            name: "CHURN".into()
        }]
    );
    assert_eq!(
        plan.forget,
        vec![ResourceId::new(crate::kinds::group::ID, "vanished")]
    );
    assert_eq!(plan.summary.delete, 1);
}

#[test]
fn live_resources_unknown_to_stack_and_manifests_are_ignored() {
    let (desired, mut observed) = converged();
    crate::kinds::group::live_mut(&mut observed).unwrap().insert(
        "someone_elses".into(),
        serde_json::from_value(json!({"name": "someone_elses"})).unwrap(),
    );
    assert!(!run(&desired, &observed).has_changes());
}

#[test]
fn a_ledger_flag_change_is_an_update_without_writes() {
    let (desired, mut observed) = converged();
    observed
        .ledger
        .as_mut()
        .unwrap()
        .resources
        .get_mut("project:CHURN")
        .unwrap()
        .protect = false;
    let plan = run(&desired, &observed);
    assert_eq!(paths(&plan), vec!["project CHURN: protect"]);
    assert!(plan.operations[0].writes.is_empty());
    assert_eq!(plan.operations[0].action, Action::Update);
}

#[test]
fn a_dataset_of_an_unknown_project_is_an_error() {
    let desired = vec![declared(
        "Dataset",
        json!({"name": "d", "project": "NOPE"}),
        json!({"type": "Filesystem"}),
        3,
    )];
    let mut observed = Observed::default();
    observed
        .kinds
        .insert(crate::kinds::project::ID, crate::kinds::project::Live::new());
    let plan = run(&desired, &observed);
    assert!(
        plan.errors[0]
            .to_string()
            .contains("project \"NOPE\" is neither declared")
    );
}

#[test]
fn a_fingerprint_is_what_apply_recomputes_from_a_fresh_get() {
    let (desired, mut observed) = converged();
    dataset_mut(&mut observed, "CHURN", "customers").definition.tags = vec![];
    let plan = run(&desired, &observed);
    let w = &plan.operations[0].writes[0];
    let live = crate::kinds::dataset::dataset_metadata_view(
        crate::kinds::dataset::live(&observed, "CHURN", "customers").unwrap(),
    );
    assert_eq!(Some(w.live_fingerprint(&live)), w.fingerprint);
    assert!(w.is_current(&live));
    // The metadata as the dataset's own GET returns it (a different document shape, the same
    // managed values) is current too; a concurrent tag change is not.
    let mut fresh = live.clone();
    fresh["checklists"] = json!({"checklists": []});
    assert!(w.is_current(&fresh));
    fresh["tags"] = json!(["someone-else"]);
    assert!(!w.is_current(&fresh));
    // The settings write carries the definition's versionTag: any later save makes it stale.
    dataset_mut(&mut observed, "CHURN", "customers")
        .definition
        .params
        .insert("mode".into(), json!("query"));
    let plan = run(&desired, &observed);
    let settings = plan.operations[0]
        .writes
        .iter()
        .find(|w| w.subdocument == SubDoc::SETTINGS)
        .unwrap();
    let mut def = serde_json::to_value(
        &crate::kinds::dataset::live(&observed, "CHURN", "customers")
            .unwrap()
            .definition,
    )
    .unwrap();
    assert!(settings.is_current(&def));
    def["versionTag"]["versionNumber"] = json!(2);
    assert!(!settings.is_current(&def));
}

// ---- property: plan(desired, simulate_apply(desired)) is empty --------------------------------

fn word() -> impl Strategy<Value = String> {
    "[a-z]{1,6}"
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        word().prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        (0u32..1000).prop_map(|n| json!(f64::from(n) / 8.0)),
    ]
}

fn keyed_map() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        word(),
        prop_oneof![
            3 => scalar(),
            1 => Just(Value::Null),
            1 => prop::collection::btree_map(word(), scalar(), 1..3).prop_map(|m| json!(m)),
        ],
        0..4,
    )
    .prop_map(|m| json!(m))
}

fn tags() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(word(), 0..4)
}

fn grant(groups: Vec<String>) -> impl Strategy<Value = Value> {
    (
        prop::sample::select(groups),
        prop_oneof![
            prop::sample::select(normalize::PERMISSION_TYPES.to_vec()).prop_map(|t| json!({"type": t})),
            (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(w, r, m)| json!({
                "writeProjectContent": w, "readDashboards": r, "moderateDashboards": m})),
        ],
    )
        .prop_map(|(g, mut v)| {
            v["group"] = json!(g);
            v
        })
}

prop_compose! {
    fn stack()(
        project_tags in tags(),
        custom in keyed_map(),
        variables in keyed_map(),
        label in prop::option::of(word()),
        description in prop::option::of("[a-z \n]{0,30}"),
        grants in prop::collection::vec(grant(vec!["g0".into(), "g1".into(), "g2".into()]), 0..3),
        params in keyed_map(),
        format_params in keyed_map(),
        dataset_tags in tags(),
        columns in prop::collection::btree_map(word(), prop::sample::select(vec!["string", "BIGINT", "Date", "double"]), 0..4),
        user_groups in prop::collection::vec(prop::sample::select(vec!["g0", "g1", "g2"]), 0..4),
        abilities in prop::collection::btree_map("may[A-Z][a-z]{2,5}", any::<bool>(), 0..3),
        conn_groups in prop::collection::vec(prop::sample::select(vec!["g0", "g1", "g2"]), 0..3),
        conn_params in keyed_map(),
        global in keyed_map(),
        prune in any::<bool>(),
    ) -> Vec<Declared> {
        let mut grants_seen = std::collections::BTreeSet::new();
        let grants: Vec<Value> = grants.into_iter().filter(|g| grants_seen.insert(g["group"].to_string())).collect();
        let mut conn_params = conn_params;
        conn_params["password"] = json!({"fromEnv": "DWH_PASSWORD"});
        let mut params = params;
        params["connection"] = json!("c");
        params["path"] = json!("${projectKey}/data");
        let cols: Vec<Value> = columns.into_iter().map(|(n, t)| json!({"name": n, "type": t})).collect();
        let mut out = vec![
            declared("Group", json!({"name": "g0"}), json!(abilities), 1),
            declared("Group", json!({"name": "g1"}), json!({"admin": true}), 2),
            declared("Group", json!({"name": "g2"}), json!({"description": ""}), 3),
            declared("User", json!({"name": "u"}), json!({"groups": user_groups, "enabled": true,
                "password": {"fromEnv": "ALICE_PASSWORD"}}), 4),
            declared("Connection", json!({"name": "c"}), json!({"type": "Filesystem",
                "allowedGroups": conn_groups, "params": conn_params, "usableBy": "ALL"}), 5),
            declared("Project", json!({"name": "P"}), json!({"label": label,
                "description": description, "tags": project_tags, "custom": custom,
                "permissions": grants, "variables": {"standard": variables}}), 6),
            declared("Dataset", json!({"name": "d", "project": "P"}), json!({"type": "Filesystem",
                "params": params, "formatParams": format_params, "formatType": "csv",
                "schema": {"columns": cols}, "tags": dataset_tags}), 7),
        ];
        let global: serde_json::Map<String, Value> = global.as_object().cloned().unwrap_or_default();
        out.push(declared("Variables", json!({"name": "global"}), json!({"values": global, "prune": prune}), 8));
        out
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn a_desired_state_against_the_state_it_produces_plans_nothing(desired in stack()) {
        let observed = simulate_apply(&desired, &resolver);
        let plan = run(&desired, &observed);
        prop_assert!(plan.errors.is_empty(), "{:?}", plan.errors);
        prop_assert!(!plan.has_changes(), "{:#?}", plan.operations);
    }
}

/// `analysts` redeclared with `annotations`, at its place in the sample.
fn with_annotations(desired: &mut [Declared], annotations: Value) {
    let at = desired
        .iter()
        .position(|d| d.resource.meta().name == "analysts")
        .unwrap();
    desired[at] = declared(
        "Group",
        json!({"name": "analysts", "annotations": annotations}),
        json!({"description": "Analysts"}),
        5,
    );
}

#[test]
fn a_detect_only_difference_is_shown_and_never_written() {
    let (mut desired, mut observed) = converged();
    with_annotations(
        &mut desired,
        json!({"dssctl.io/sync": "detect-only", "team": "data"}),
    );
    crate::kinds::group::live_mut(&mut observed)
        .unwrap()
        .get_mut("analysts")
        .unwrap()
        .description = Some("Changed by hand".into());
    let plan = run(&desired, &observed);
    assert_eq!(plan.operations.len(), 1, "{:#?}", plan.operations);
    let op = &plan.operations[0];
    assert!(op.policy.detect_only);
    assert!(op.writes.is_empty(), "nothing to write");
    assert_eq!(paths(&plan), vec!["group analysts: description"]);
    assert!(!plan.has_changes(), "apply writes nothing");
    assert_eq!((plan.summary.update, plan.summary.detect_only), (0, 1));
    assert_eq!(plan.writable().count(), 0);
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["operations"][0]["detect_only"], true);
    assert_eq!(json["summary"]["detect_only"], 1);
    // Read back from a saved plan, the field is kept.
    let back: Plan = serde_json::from_value(json).unwrap();
    assert!(back.operations[0].policy.detect_only);

    // Without the annotation, the same difference is an update.
    let (plain, _) = converged();
    let plan = run(&plain, &observed);
    assert!(plan.has_changes() && !plan.operations[0].policy.detect_only);
}

#[test]
fn a_detect_only_resource_that_does_not_exist_is_created() {
    let (mut desired, mut observed) = converged();
    with_annotations(&mut desired, json!({"dssctl.io/sync": "detect-only"}));
    crate::kinds::group::live_mut(&mut observed)
        .unwrap()
        .remove("analysts");
    let plan = run(&desired, &observed);
    let op = plan.operations.iter().find(|o| o.name == "analysts").unwrap();
    assert_eq!(op.action, Action::Create);
    assert!(!op.policy.detect_only && !op.writes.is_empty());
    assert!(plan.has_changes());
}

#[test]
fn prune_false_is_recorded_then_releases_instead_of_deleting() {
    let (mut desired, observed) = converged();
    with_annotations(&mut desired, json!({"dssctl.io/prune": "false"}));
    // Recorded in the ledger: an update of the ledger only, shown as the annotation.
    let plan = run(&desired, &observed);
    assert_eq!(
        paths(&plan),
        vec!["group analysts: metadata.annotations.dssctl.io/prune"]
    );
    let op = &plan.operations[0];
    assert!(op.policy.keep_on_removal && op.writes.is_empty());
    assert_eq!(
        (op.changes[0].before.clone(), op.changes[0].after.clone()),
        (json!("true"), json!("false"))
    );

    // Once recorded and removed from the manifests: released, not deleted.
    let mut observed = observed;
    let ledger = observed.ledger.as_mut().unwrap();
    ledger
        .resources
        .get_mut("group:analysts")
        .unwrap()
        .keep_on_removal = true;
    let (mut remaining, _) = converged();
    // The user who is a member of analysts goes too, so nothing refers to it.
    remaining.retain(|d| !matches!(d.resource.meta().name.as_str(), "analysts" | "alice"));
    let plan = run(&remaining, &observed);
    let analysts = ResourceId::new(crate::kinds::group::ID, "analysts");
    assert_eq!(plan.released, vec![analysts.clone()]);
    assert!(
        plan.operations.iter().all(|o| o.id() != analysts),
        "{:#?}",
        plan.operations
    );
    assert!(plan.has_changes(), "the ledger entry is dropped");
}
