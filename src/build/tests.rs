//! Tests of the build core: the pure parsing, and [`run_build`] against the emulator started
//! in-process on a loopback port.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::*;
use crate::client::ClientConfig;
use crate::emulator::{self, EmulatorConfig, RunningEmulator};
use crate::manifest::specs::BuildOutputSpec;
use crate::wire::{CreateProjectRequest, Dataset};

#[test]
fn modes_parse_in_dss_and_cli_spellings() {
    for mode in BuildMode::ALL {
        assert_eq!(mode.as_str().parse::<BuildMode>().unwrap(), mode);
        let cli = mode.as_str().to_ascii_lowercase().replace('_', "-");
        assert_eq!(cli.parse::<BuildMode>().unwrap(), mode);
    }
    assert_eq!(BuildMode::default(), BuildMode::RecursiveBuild);
    let err = "RECURSIVE_BUILDS".parse::<BuildMode>().unwrap_err();
    assert!(err.contains("did you mean RECURSIVE_BUILD?"), "{err}");
    let err = "fast".parse::<BuildMode>().unwrap_err();
    assert!(
        err.contains("\"fast\"") && err.contains("NON_RECURSIVE_FORCED_BUILD"),
        "{err}"
    );
    assert!(!err.contains("did you mean"), "{err}");
}

#[test]
fn durations_need_a_unit_and_must_not_be_zero() {
    assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
    assert_eq!(parse_duration(" 1h30m ").unwrap(), Duration::from_secs(5400));
    assert_eq!(parse_duration("1ms").unwrap(), Duration::from_millis(1));
    assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
    assert!(parse_duration("30").unwrap_err().contains("no unit"));
    assert!(parse_duration("0s").unwrap_err().contains("greater than zero"));
    assert!(parse_duration("").unwrap_err().contains("empty"));
    assert!(parse_duration("soon").unwrap_err().contains("\"soon\""));
}

#[test]
fn outputs_are_datasets_of_the_project_or_of_another_one() {
    let local = parse_output("customers").unwrap();
    assert_eq!(local.id, "customers");
    assert_eq!(local.project_key, None);
    assert_eq!(local.output_type.as_deref(), Some("DATASET"));
    let other = parse_output("SALES.orders").unwrap();
    assert_eq!(
        (other.project_key.as_deref(), other.id.as_str()),
        (Some("SALES"), "orders")
    );
    for bad in ["", ".x", "P.", "a.b.c"] {
        assert!(parse_output(bad).unwrap_err().contains("invalid output"), "{bad}");
    }
    let req = BuildRequest::new(
        "CHURN",
        &["customers".into(), "SALES.orders".into()],
        BuildMode::RecursiveForcedBuild,
    )
    .unwrap();
    assert_eq!(req.output_names(), ["customers", "SALES.orders"]);
    let def = serde_json::to_value(req.definition()).unwrap();
    assert_eq!(def["type"], "RECURSIVE_FORCED_BUILD");
    assert_eq!(def["outputs"][0]["id"], "customers");
    assert_eq!(def["outputs"][1]["projectKey"], "SALES");
    assert!(BuildRequest::new("CHURN", &[], BuildMode::default()).is_err());
    assert!(BuildRequest::new(" ", &["x".into()], BuildMode::default()).is_err());
}

#[test]
fn a_build_manifest_becomes_a_request() {
    let spec = BuildSpec {
        outputs: vec![BuildOutputSpec {
            id: "customers".into(),
            output_type: None,
            partition: Some("2024-01-01".into()),
        }],
        scenario: None,
        mode: None,
        trigger: None,
        timeout: Some(Duration::from_secs(1800)),
    };
    let req = BuildRequest::from_manifest("CHURN", &spec).unwrap();
    assert_eq!(req.mode, BuildMode::RecursiveBuild);
    assert_eq!(req.timeout, Some(Duration::from_secs(1800)));
    assert_eq!(req.outputs[0].partition, Some(serde_json::json!("2024-01-01")));
    let none = BuildSpec {
        outputs: Vec::new(),
        ..spec
    };
    assert!(BuildRequest::from_manifest("CHURN", &none).is_err());
}

const KEY: &str = "build-unit-admin-key";

async fn emulator_with(job_duration: Duration) -> (RunningEmulator, DssClient) {
    crate::install_crypto_provider();
    let config = EmulatorConfig {
        admin_key: KEY.into(),
        job_duration,
        ..Default::default()
    };
    let emu = emulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("emulator starts");
    let client = DssClient::new(ClientConfig::new(emu.url.clone(), KEY)).expect("client");
    client
        .create_project(&CreateProjectRequest {
            project_key: "CHURN".into(),
            name: Some("Churn".into()),
            owner: Some("admin".into()),
            ..Default::default()
        })
        .await
        .expect("project");
    let dataset: Dataset = serde_json::from_value(serde_json::json!({
        "projectKey": "CHURN", "name": "customers", "type": "Inline",
        "params": {}, "formatType": "csv", "formatParams": {}
    }))
    .unwrap();
    client.create_dataset("CHURN", &dataset).await.expect("dataset");
    (emu, client)
}

fn request(outputs: &[&str], timeout: Option<Duration>) -> BuildRequest {
    let outputs: Vec<String> = outputs.iter().map(|s| s.to_string()).collect();
    BuildRequest {
        timeout,
        poll: Duration::from_millis(20),
        ..BuildRequest::new("CHURN", &outputs, BuildMode::RecursiveBuild).unwrap()
    }
}

#[tokio::test]
async fn a_job_that_ends_done_reports_its_states_in_order() {
    let (emu, client) = emulator_with(Duration::from_millis(300)).await;
    let mut events = Vec::new();
    let outcome = run_build(
        &client,
        &request(&["customers"], None),
        &CancellationToken::new(),
        |e| {
            events.push(match e {
                BuildEvent::Started { job_id } => format!("started {job_id}"),
                BuildEvent::State { state, .. } => state.to_string(),
                BuildEvent::Aborting { reason, .. } => format!("aborting {reason:?}"),
            })
        },
    )
    .await
    .unwrap();
    assert!(outcome.succeeded(), "{outcome:?}");
    assert_eq!(outcome.state, "DONE");
    assert!(outcome.job_id.starts_with("Build_customers_"));
    assert_eq!(outcome.log, None);
    assert!(outcome.duration >= Duration::from_millis(300));
    assert_eq!(events[0], format!("started {}", outcome.job_id));
    assert_eq!(events.last().unwrap(), "DONE");
    // Every state is reported once, in the order the emulator goes through them.
    let states: Vec<&str> = events[1..].iter().map(String::as_str).collect();
    let mut expected = vec!["NOT_STARTED", "RUNNING", "DONE"];
    expected.retain(|s| states.contains(s));
    assert_eq!(states, expected);
    let job = client.get_job("CHURN", &outcome.job_id).await.unwrap();
    assert_eq!(job.base_status.def["type"], "RECURSIVE_BUILD");
    emu.shutdown().await;
}

#[tokio::test]
async fn a_missing_output_fails_with_its_log() {
    let (emu, client) = emulator_with(Duration::from_millis(300)).await;
    let outcome = run_build(
        &client,
        &request(&["nowhere"], None),
        &CancellationToken::new(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(outcome.ending, Ending::Failed);
    assert_eq!(outcome.state, "FAILED");
    assert!(
        outcome
            .log
            .as_deref()
            .unwrap()
            .contains("CHURN.nowhere does not exist")
    );
    assert!(outcome.failure.as_deref().unwrap().contains("does not exist"));
    assert_eq!(outcome.abort_acknowledged, None);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_timeout_aborts_the_job_and_waits_for_the_abort() {
    let (emu, client) = emulator_with(Duration::from_secs(60)).await;
    let outcome = run_build(
        &client,
        &request(&["customers"], Some(Duration::from_millis(1))),
        &CancellationToken::new(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(outcome.ending, Ending::TimedOut);
    assert_eq!(outcome.state, "ABORTED");
    assert_eq!(outcome.abort_acknowledged, Some(true));
    assert!(outcome.log.as_deref().unwrap().contains("aborted"));
    let job = client.get_job("CHURN", &outcome.job_id).await.unwrap();
    assert_eq!(job.base_status.state, "ABORTED");
    emu.shutdown().await;
}

#[tokio::test]
async fn a_cancellation_while_running_aborts_the_job() {
    let (emu, client) = emulator_with(Duration::from_secs(60)).await;
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let mut events = Vec::new();
    let outcome = run_build(&client, &request(&["customers"], None), &cancel, |e| {
        // Cancel once the job has been seen, as a Ctrl-C during the build would.
        match e {
            BuildEvent::State { state, .. } => {
                events.push(state.to_string());
                trigger.cancel();
            }
            BuildEvent::Aborting { reason, .. } => events.push(format!("aborting {reason:?}")),
            BuildEvent::Started { .. } => {}
        }
    })
    .await
    .unwrap();
    assert_eq!(events, ["NOT_STARTED", "aborting Interrupted", "ABORTED"]);
    assert_eq!(outcome.ending, Ending::Interrupted);
    assert!(!outcome.succeeded());
    let job = client.get_job("CHURN", &outcome.job_id).await.unwrap();
    assert_eq!(job.base_status.state, "ABORTED");
    emu.shutdown().await;
}

#[tokio::test]
async fn a_cancellation_before_the_start_answer_still_aborts_the_started_job() {
    let (emu, client) = emulator_with(Duration::from_secs(60)).await;
    let cancel = CancellationToken::new();
    cancel.cancel();
    let outcome = run_build(&client, &request(&["customers"], None), &cancel, |_| {})
        .await
        .unwrap();
    assert_eq!(outcome.ending, Ending::Interrupted);
    assert_eq!(outcome.state, "ABORTED");
    emu.shutdown().await;
}

#[tokio::test]
async fn an_unknown_project_is_a_start_error_naming_it() {
    let (emu, client) = emulator_with(Duration::from_millis(300)).await;
    let req = BuildRequest {
        project: "NOPE".into(),
        ..request(&["customers"], None)
    };
    let err = run_build(&client, &req, &CancellationToken::new(), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, BuildError::Start { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("cannot start the job in project NOPE"), "{text}");
    assert!(text.contains("not found"), "{text}");
    emu.shutdown().await;
}
