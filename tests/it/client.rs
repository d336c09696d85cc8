//! The DSS client against the real emulator on 127.0.0.1:0: every endpoint of the client, auth
//! failures (401, 403), typed not-found errors, a run under injected faults that still
//! converges, and state that survives a restart.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use dssctl::client::{ClientConfig, ClientError, DssClient, JobWait};
use dssctl::emulator::{ApiKeySpec, EmulatorConfig, RunningEmulator};
use dssctl::wire::{
    Connection, CreateProjectRequest, Dataset, DatasetSchema, EmulatorStats, Group, JobDefinition, JobOutput,
    PermissionGrant, SchemaColumn, User,
};
use serde_json::{Map, json};

use crate::support::start_emulator;

const ADMIN_KEY: &str = "it-admin-key";
const READER_KEY: &str = "it-reader-key";

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn base_config() -> EmulatorConfig {
    EmulatorConfig {
        admin_key: ADMIN_KEY.to_string(),
        job_duration: Duration::from_millis(500),
        ..EmulatorConfig::default()
    }
}

fn client(emu: &RunningEmulator, key: &str) -> DssClient {
    dssctl::install_crypto_provider();
    let mut config = ClientConfig::new(emu.url.clone(), key);
    config.base_backoff = Duration::from_millis(5);
    DssClient::new(config).unwrap()
}

fn project_request(key: &str) -> CreateProjectRequest {
    CreateProjectRequest {
        project_key: key.to_string(),
        name: Some(format!("Project {key}")),
        owner: Some("admin".to_string()),
        description: Some("integration test".to_string()),
        tags: Some(vec!["it".to_string()]),
        ..Default::default()
    }
}

fn fs_connection(name: &str) -> Connection {
    let mut params = Map::new();
    params.insert("root".into(), json!("/data"));
    params.insert("password".into(), json!("conn-secret-value"));
    Connection {
        name: name.to_string(),
        connection_type: "Filesystem".to_string(),
        description: Some("files".to_string()),
        params,
        usable_by: Some("ALL".to_string()),
        ..Default::default()
    }
}

fn dataset(project: &str, name: &str, connection: &str) -> Dataset {
    let mut params = Map::new();
    params.insert("connection".into(), json!(connection));
    params.insert("path".into(), json!(format!("/{name}")));
    Dataset {
        project_key: project.to_string(),
        name: name.to_string(),
        dataset_type: "Filesystem".to_string(),
        params,
        format_type: Some("csv".to_string()),
        ..Default::default()
    }
}

fn build(output: &str) -> JobDefinition {
    JobDefinition {
        job_type: Some("NON_RECURSIVE_FORCED_BUILD".to_string()),
        outputs: vec![JobOutput {
            id: output.to_string(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[tokio::test]
async fn every_endpoint_of_the_client_works() {
    let emu = start_emulator(ADMIN_KEY, base_config()).await;
    let dss = client(&emu, ADMIN_KEY);

    let info = dss.instance_info().await.unwrap();
    assert!(!info.dss_version.is_empty());
    let auth = dss.auth_info().await.unwrap();
    assert!(!auth.auth_identifier.is_empty());

    // Groups.
    let group = Group {
        name: "analysts".into(),
        description: Some("people".into()),
        ..Default::default()
    };
    dss.create_group(&group).await.unwrap();
    let mut read = dss.get_group("analysts").await.unwrap();
    assert_eq!(read.description.as_deref(), Some("people"));
    read.extra.insert("mayCreateProjects".into(), json!(true));
    dss.update_group("analysts", &read).await.unwrap();
    assert_eq!(
        dss.get_group("analysts").await.unwrap().extra["mayCreateProjects"],
        json!(true)
    );
    assert!(
        dss.list_groups()
            .await
            .unwrap()
            .iter()
            .any(|g| g.name == "analysts")
    );

    // Users, with a dotted login and a password that must never come back.
    let user = User {
        login: "jane.doe".into(),
        display_name: Some("Jane".into()),
        groups: vec!["analysts".into()],
        password: Some("user-secret-value".into()),
        ..Default::default()
    };
    dss.create_user(&user).await.unwrap();
    let mut read = dss.get_user("jane.doe").await.unwrap();
    assert_eq!(read.password, None);
    assert_eq!(read.groups, vec!["analysts".to_string()]);
    read.display_name = Some("Jane Doe".into());
    dss.update_user("jane.doe", &read).await.unwrap();
    assert_eq!(
        dss.get_user("jane.doe").await.unwrap().display_name.as_deref(),
        Some("Jane Doe")
    );
    assert!(
        dss.list_users()
            .await
            .unwrap()
            .iter()
            .any(|u| u.login == "jane.doe")
    );

    // Connections: the secret is not returned in clear.
    dss.create_connection(&fs_connection("files")).await.unwrap();
    let mut read = dss.get_connection("files").await.unwrap();
    assert_ne!(read.params.get("password"), Some(&json!("conn-secret-value")));
    read.description = Some("shared files".into());
    dss.update_connection("files", &read).await.unwrap();
    assert_eq!(
        dss.get_connection("files").await.unwrap().description.as_deref(),
        Some("shared files")
    );
    let all = dss.list_connections().await.unwrap();
    assert_eq!(all["files"].connection_type, "Filesystem");

    // Projects.
    dss.create_project(&project_request("SALES")).await.unwrap();
    dss.create_project(&project_request("OTHER")).await.unwrap();
    assert_eq!(dss.get_project("SALES").await.unwrap().project_key, "SALES");
    let keys: Vec<String> = dss
        .list_projects()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.project_key)
        .collect();
    assert!(keys.contains(&"SALES".to_string()) && keys.contains(&"OTHER".to_string()));

    let mut metadata = dss.get_project_metadata("SALES").await.unwrap();
    metadata.label = Some("Sales".into());
    metadata.tags = vec!["zz".into(), "aa".into()];
    dss.set_project_metadata("SALES", &metadata).await.unwrap();
    let read = dss.get_project_metadata("SALES").await.unwrap();
    assert_eq!(read.label.as_deref(), Some("Sales"));
    assert_eq!(read.tags, vec!["aa".to_string(), "zz".to_string()]);
    let tagged = dss.list_projects_tagged(&["zz"]).await.unwrap();
    assert_eq!(
        tagged.iter().map(|p| p.project_key.as_str()).collect::<Vec<_>>(),
        vec!["SALES"]
    );

    let mut permissions = dss.get_project_permissions("SALES").await.unwrap();
    let mut flags = Map::new();
    flags.insert("readProjectContent".into(), json!(true));
    flags.insert("writeProjectContent".into(), json!(false));
    permissions.permissions.push(PermissionGrant {
        group: Some("analysts".into()),
        user: None,
        flags,
    });
    dss.set_project_permissions("SALES", &permissions).await.unwrap();
    let read = dss.get_project_permissions("SALES").await.unwrap();
    let grant = read
        .permissions
        .iter()
        .find(|g| g.group.as_deref() == Some("analysts"))
        .unwrap();
    assert_eq!(grant.flags["readProjectContent"], json!(true));

    let mut variables = dss.get_project_variables("SALES").await.unwrap();
    variables.standard.insert("env".into(), json!("test"));
    variables.local.insert("n".into(), json!(3));
    dss.set_project_variables("SALES", &variables).await.unwrap();
    let read = dss.get_project_variables("SALES").await.unwrap();
    assert_eq!(read.standard["env"], json!("test"));
    assert_eq!(read.local["n"], json!(3));

    // Datasets.
    dss.create_dataset("SALES", &dataset("SALES", "orders", "files"))
        .await
        .unwrap();
    dss.create_dataset("SALES", &dataset("SALES", "customers", "files"))
        .await
        .unwrap();
    let names: Vec<String> = dss
        .list_datasets("SALES")
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert!(names.contains(&"orders".to_string()) && names.contains(&"customers".to_string()));
    let mut orders = dss.get_dataset("SALES", "orders").await.unwrap();
    let version = orders.version_tag.as_ref().map(|v| v.version_number).unwrap_or(0);
    orders.extra.insert("description".into(), json!("all orders"));
    dss.update_dataset("SALES", "orders", &orders).await.unwrap();
    let read = dss.get_dataset("SALES", "orders").await.unwrap();
    assert_eq!(read.extra["description"], json!("all orders"));
    assert!(read.version_tag.unwrap().version_number > version);

    let schema = DatasetSchema {
        columns: vec![
            SchemaColumn {
                name: "id".into(),
                column_type: "bigint".into(),
                ..Default::default()
            },
            SchemaColumn {
                name: "amount".into(),
                column_type: "double".into(),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    dss.set_dataset_schema("SALES", "orders", &schema).await.unwrap();
    let read = dss.get_dataset_schema("SALES", "orders").await.unwrap();
    assert_eq!(
        read.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        vec!["id", "amount"]
    );

    let mut ds_meta = dss.get_dataset_metadata("SALES", "orders").await.unwrap();
    ds_meta.tags = vec!["gold".into()];
    dss.set_dataset_metadata("SALES", "orders", &ds_meta)
        .await
        .unwrap();
    assert_eq!(
        dss.get_dataset_metadata("SALES", "orders").await.unwrap().tags,
        vec!["gold".to_string()]
    );

    // Global variables.
    let mut globals = dss.get_global_variables().await.unwrap();
    globals.insert("region".into(), json!("eu"));
    dss.set_global_variables(&globals).await.unwrap();
    assert_eq!(dss.get_global_variables().await.unwrap()["region"], json!("eu"));

    // Jobs: one runs to DONE, one is aborted, one fails on a missing output.
    let started = dss.start_job("SALES", &build("orders")).await.unwrap();
    let first = dss.get_job("SALES", &started.id).await.unwrap();
    assert!(!first.base_status.state.is_empty());
    let wait = JobWait {
        poll_interval: Duration::from_millis(20),
        timeout: Duration::from_secs(30),
    };
    let done = dss.wait_job("SALES", &started.id, wait).await.unwrap();
    assert_eq!(done.base_status.state, "DONE");
    assert!(!dss.get_job_log("SALES", &started.id).await.unwrap().is_empty());
    let aborted = dss.start_job("SALES", &build("customers")).await.unwrap();
    dss.abort_job("SALES", &aborted.id).await.unwrap();
    assert_eq!(
        dss.wait_job("SALES", &aborted.id, wait)
            .await
            .unwrap()
            .base_status
            .state,
        "ABORTED"
    );
    let failed = dss.start_job("SALES", &build("missing")).await.unwrap();
    assert_eq!(
        dss.wait_job("SALES", &failed.id, wait)
            .await
            .unwrap()
            .base_status
            .state,
        "FAILED"
    );
    assert_eq!(dss.list_jobs("SALES", None).await.unwrap().len(), 3);
    assert_eq!(dss.list_jobs("SALES", Some(2)).await.unwrap().len(), 2);

    // Export: a zip archive.
    let zip = dss.export_project("SALES").await.unwrap();
    assert!(zip.starts_with(b"PK"), "an export is a zip archive");

    // Deletes.
    dss.delete_dataset("SALES", "customers", true).await.unwrap();
    assert!(
        dss.get_dataset("SALES", "customers")
            .await
            .unwrap_err()
            .is_not_found()
    );
    dss.delete_project("OTHER").await.unwrap();
    assert!(dss.get_project("OTHER").await.unwrap_err().is_not_found());
    dss.delete_user("jane.doe").await.unwrap();
    dss.delete_group("analysts").await.unwrap();
    dss.delete_connection("files").await.unwrap();
    assert!(
        dss.list_connections().await.unwrap().is_empty()
            || !dss.list_connections().await.unwrap().contains_key("files")
    );

    emu.shutdown().await;
}

#[tokio::test]
async fn an_unknown_key_is_unauthorized() {
    let emu = start_emulator(ADMIN_KEY, base_config()).await;
    let err = client(&emu, "wrong-key").list_projects().await.unwrap_err();
    assert!(matches!(err, ClientError::Unauthorized { .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert!(!format!("{err} {err:?}").contains("wrong-key"));
    emu.shutdown().await;
}

#[tokio::test]
async fn a_restricted_key_is_forbidden_where_it_lacks_a_privilege() {
    let mut config = base_config();
    config.keys = vec![ApiKeySpec {
        key: READER_KEY.to_string(),
        label: Some("reader".to_string()),
        projects: vec!["SALES".to_string()],
        privileges: vec!["READ_CONF".to_string()],
        ..Default::default()
    }];
    let emu = start_emulator(ADMIN_KEY, config).await;
    let admin = client(&emu, ADMIN_KEY);
    admin.create_project(&project_request("SALES")).await.unwrap();
    admin.create_project(&project_request("OTHER")).await.unwrap();
    admin.create_connection(&fs_connection("files")).await.unwrap();
    admin
        .create_dataset("SALES", &dataset("SALES", "orders", "files"))
        .await
        .unwrap();
    admin
        .create_dataset("OTHER", &dataset("OTHER", "orders", "files"))
        .await
        .unwrap();
    let reader = client(&emu, READER_KEY);
    // READ_CONF on SALES: the dataset definitions can be read.
    assert_eq!(reader.list_datasets("SALES").await.unwrap().len(), 1);
    let orders = reader.get_dataset("SALES", "orders").await.unwrap();
    // Updating a dataset needs WRITE_CONF; project metadata needs ADMIN on the project.
    let err = reader
        .update_dataset("SALES", "orders", &orders)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Forbidden { .. }), "{err:?}");
    assert!(!err.is_retryable() && !err.is_ambiguous());
    let err = reader.get_project_metadata("SALES").await.unwrap_err();
    assert!(matches!(err, ClientError::Forbidden { .. }), "{err:?}");
    // Nothing on the other project.
    let err = reader.get_dataset("OTHER", "orders").await.unwrap_err();
    assert!(
        matches!(err, ClientError::Forbidden { .. } | ClientError::NotFound { .. }),
        "{err:?}"
    );
    // Instance administration needs an admin key.
    let err = reader.list_users().await.unwrap_err();
    assert!(matches!(err, ClientError::Forbidden { .. }), "{err:?}");
    let err = reader
        .create_group(&Group {
            name: "g".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Forbidden { .. }), "{err:?}");
    emu.shutdown().await;
}

#[tokio::test]
async fn missing_objects_are_typed_not_found() {
    let emu = start_emulator(ADMIN_KEY, base_config()).await;
    let dss = client(&emu, ADMIN_KEY);
    dss.create_project(&project_request("P")).await.unwrap();
    let errors = [
        dss.get_project("NOPE").await.unwrap_err(),
        dss.get_project_metadata("NOPE").await.unwrap_err(),
        dss.get_dataset("P", "nope").await.unwrap_err(),
        dss.get_dataset_schema("P", "nope").await.unwrap_err(),
        dss.get_user("nobody").await.unwrap_err(),
        dss.get_group("nogroup").await.unwrap_err(),
        dss.get_connection("noconn").await.unwrap_err(),
        dss.get_job("P", "Build_nope_2026-01-01T00-00-00.000")
            .await
            .unwrap_err(),
    ];
    for err in errors {
        assert!(err.is_not_found(), "{err:?}");
        assert!(!err.is_retryable());
    }
    let err = dss.get_connection("noconn").await.unwrap_err();
    assert!(
        err.to_string().contains("Connection 'noconn' does not exist"),
        "{err}"
    );
    let err = dss.create_project(&project_request("P")).await.unwrap_err();
    assert!(!err.is_ambiguous(), "DSS refused the duplicate: {err:?}");
    emu.shutdown().await;
}

/// Create an object the way apply does under faults: a POST is never repeated blindly; after an
/// ambiguous failure, read whether the object exists, and only create again if it does not.
async fn create_checked<C, CF, E, EF>(what: &str, create: C, exists: E)
where
    C: Fn() -> CF,
    CF: Future<Output = Result<(), ClientError>>,
    E: Fn() -> EF,
    EF: Future<Output = Result<bool, ClientError>>,
{
    let mut earlier_attempt_unknown = false;
    for _ in 0..20 {
        match create().await {
            Ok(()) => return,
            Err(ClientError::AlreadyExists { .. }) if earlier_attempt_unknown => return,
            Err(err) if err.is_ambiguous() || err.is_retryable() => {
                earlier_attempt_unknown = true;
                if exists()
                    .await
                    .unwrap_or_else(|e| panic!("{what}: existence check failed: {e}"))
                {
                    return;
                }
            }
            Err(err) => panic!("{what}: {err}"),
        }
    }
    panic!("{what}: not created after 20 attempts");
}

fn found<T>(result: Result<T, ClientError>) -> Result<bool, ClientError> {
    match result {
        Ok(_) => Ok(true),
        Err(err) if err.is_not_found() => Ok(false),
        Err(err) => Err(err),
    }
}

#[tokio::test]
async fn many_operations_succeed_under_a_30_percent_error_rate() {
    let mut config = base_config();
    config.error_rate = 0.3;
    let emu = start_emulator(ADMIN_KEY, config).await;
    dssctl::install_crypto_provider();
    let mut client_config = ClientConfig::new(emu.url.clone(), ADMIN_KEY);
    client_config.base_backoff = Duration::from_millis(2);
    client_config.max_retries = 12;
    let dss = DssClient::new(client_config).unwrap();

    let group = Group {
        name: "ops".into(),
        ..Default::default()
    };
    create_checked(
        "group",
        || dss.create_group(&group),
        || async { found(dss.get_group("ops").await) },
    )
    .await;
    let connection = fs_connection("files");
    create_checked(
        "connection",
        || dss.create_connection(&connection),
        || async { found(dss.get_connection("files").await) },
    )
    .await;
    for i in 0..5 {
        let key = format!("FAULT{i}");
        let request = project_request(&key);
        create_checked(
            "project",
            || dss.create_project(&request),
            || async { found(dss.get_project(&key).await) },
        )
        .await;
        for name in ["a", "b", "c"] {
            let definition = dataset(&key, name, "files");
            create_checked(
                "dataset",
                || dss.create_dataset(&key, &definition),
                || async { found(dss.get_dataset(&key, name).await) },
            )
            .await;
            let mut meta = dss.get_dataset_metadata(&key, name).await.unwrap();
            meta.tags = vec![format!("t{i}")];
            dss.set_dataset_metadata(&key, name, &meta).await.unwrap();
        }
        let mut variables = dss.get_project_variables(&key).await.unwrap();
        variables.standard.insert("i".into(), json!(i));
        dss.set_project_variables(&key, &variables).await.unwrap();
        dss.delete_dataset(&key, "c", false).await.unwrap();
    }
    for i in 0..5 {
        let key = format!("FAULT{i}");
        assert_eq!(
            dss.get_project_variables(&key).await.unwrap().standard["i"],
            json!(i)
        );
        let mut names: Vec<String> = dss
            .list_datasets(&key)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.name)
            .collect();
        names.sort();
        assert_eq!(names, vec!["a", "b"]);
        assert_eq!(
            dss.get_dataset_metadata(&key, "a").await.unwrap().tags,
            vec![format!("t{i}")]
        );
    }
    dss.delete_project("FAULT0").await.unwrap();
    assert!(dss.get_project("FAULT0").await.unwrap_err().is_not_found());
    dss.delete_group("ops").await.unwrap();
    assert!(dss.get_group("ops").await.unwrap_err().is_not_found());

    // The faults really happened: 50 reads that all succeeded took more than 50 requests (the
    // chance that none of them met a 503 at a 30% error rate is 0.7^50, about 2e-8).
    let http = reqwest::Client::new();
    let stats_url = format!("{}/__emulator/stats", emu.url);
    http.post(format!("{stats_url}/reset"))
        .basic_auth(ADMIN_KEY, Some(""))
        .send()
        .await
        .unwrap();
    for _ in 0..50 {
        dss.get_project("FAULT1").await.unwrap();
    }
    let stats: EmulatorStats = http
        .get(&stats_url)
        .basic_auth(ADMIN_KEY, Some(""))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let reads = stats
        .by_route
        .get("GET /projects/{projectKey}")
        .copied()
        .unwrap_or(0);
    assert!(reads > 50, "{stats:?}");
    emu.shutdown().await;
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = base_config();
    config.data_dir = Some(dir.path().to_path_buf());
    let emu = start_emulator(ADMIN_KEY, config.clone()).await;
    let dss = client(&emu, ADMIN_KEY);
    dss.create_group(&Group {
        name: "kept".into(),
        description: Some("d".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    dss.create_connection(&fs_connection("files")).await.unwrap();
    dss.create_project(&project_request("KEPT")).await.unwrap();
    dss.create_dataset("KEPT", &dataset("KEPT", "orders", "files"))
        .await
        .unwrap();
    let mut variables = dss.get_project_variables("KEPT").await.unwrap();
    variables.standard.insert("v".into(), json!("persisted"));
    dss.set_project_variables("KEPT", &variables).await.unwrap();
    let before = dss.get_dataset("KEPT", "orders").await.unwrap();
    emu.shutdown().await;

    let emu = start_emulator(ADMIN_KEY, config).await;
    let dss = client(&emu, ADMIN_KEY);
    assert_eq!(
        dss.get_group("kept").await.unwrap().description.as_deref(),
        Some("d")
    );
    assert!(dss.list_connections().await.unwrap().contains_key("files"));
    assert_eq!(dss.get_project("KEPT").await.unwrap().project_key, "KEPT");
    assert_eq!(
        dss.get_project_variables("KEPT").await.unwrap().standard["v"],
        json!("persisted")
    );
    let after = dss.get_dataset("KEPT", "orders").await.unwrap();
    assert_eq!(after.params, before.params);
    assert_eq!(after.version_tag, before.version_tag);
    emu.shutdown().await;
}

#[tokio::test]
async fn rate_limited_calls_wait_for_retry_after_and_succeed() {
    let mut config = base_config();
    config.rate_limit = Some(15);
    let emu = start_emulator(ADMIN_KEY, config).await;
    let dss = client(&emu, ADMIN_KEY);
    // 30 creates (POSTs, repeated only after a 429) then 30 reads, all at once: twice the
    // per-second budget each, so some calls must wait for Retry-After.
    let started = std::time::Instant::now();
    let creates = (0..30).map(|i| {
        let dss = dss.clone();
        async move {
            let group = Group {
                name: format!("rl{i}"),
                ..Default::default()
            };
            dss.create_group(&group).await
        }
    });
    for result in futures::future::join_all(creates).await {
        result.unwrap();
    }
    let reads = (0..30).map(|i| {
        let dss = dss.clone();
        async move { dss.get_group(&format!("rl{i}")).await }
    });
    for result in futures::future::join_all(reads).await {
        assert!(result.unwrap().name.starts_with("rl"));
    }
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let stats: EmulatorStats = reqwest::Client::new()
        .get(format!("{}/__emulator/stats", emu.url))
        .basic_auth(ADMIN_KEY, Some(""))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let posts = stats.by_route.get("POST /admin/groups").copied().unwrap_or(0);
    assert!(
        posts > 30,
        "some creates were refused with 429 and repeated: {stats:?}"
    );
    assert_eq!(
        dss.list_groups()
            .await
            .unwrap()
            .iter()
            .filter(|g| g.name.starts_with("rl"))
            .count(),
        30
    );
    emu.shutdown().await;
}

/// A one-route HTTPS server (`GET /public/api/instance-info`) with a certificate for 127.0.0.1
/// issued by the test CA in `fixtures/tls/`.
async fn tls_server() -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

    dssctl::install_crypto_provider();
    let certs = CertificateDer::pem_slice_iter(include_bytes!("fixtures/tls/server.pem"))
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(include_bytes!("fixtures/tls/server.key")).unwrap();
    let server_config = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(server_config));
    let listener = tokio::net::TcpListener::bind(local()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // Handshake failures are what some tests expect; they end the connection.
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let mut buf = vec![0u8; 8192];
                let _ = tls.read(&mut buf).await;
                let body = r#"{"dssVersion":"14.3.3","nodeId":"tls","nodeName":"tls","nodeType":"DESIGN"}"#;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = tls.write_all(head.as_bytes()).await;
                let _ = tls.write_all(body.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

fn tls_client(addr: SocketAddr, configure: impl FnOnce(&mut ClientConfig)) -> DssClient {
    let mut config = ClientConfig::new(format!("https://{addr}"), "k");
    config.max_retries = 0;
    configure(&mut config);
    DssClient::new(config).unwrap()
}

#[tokio::test]
async fn tls_with_a_ca_file_or_insecure() {
    let addr = tls_server().await;
    let ca = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures/tls/ca.pem");

    let trusted = tls_client(addr, |c| c.ca_cert = Some(ca.clone()));
    assert_eq!(trusted.instance_info().await.unwrap().node_id, "tls");

    let untrusted = tls_client(addr, |_| {});
    let err = untrusted.instance_info().await.unwrap_err();
    assert!(matches!(err, ClientError::Transport { .. }), "{err:?}");
    assert!(err.to_string().to_lowercase().contains("certificate"), "{err}");

    let insecure = tls_client(addr, |c| c.insecure = true);
    assert_eq!(insecure.instance_info().await.unwrap().node_id, "tls");
}

/// A plain-HTTP server that answers every request with a redirect to `to`.
async fn redirecting_server(to: String) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind(local()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let to = to.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let _ = socket.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 301 Moved Permanently\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_plain_http_url_that_redirects_to_https_names_the_url_to_give() {
    // Plain HTTP loads no trust store; a redirect to HTTPS is refused with the URL to use.
    let tls = tls_server().await;
    let http = redirecting_server(format!("https://{tls}/public/api/instance-info")).await;
    let mut config = ClientConfig::new(format!("http://{http}"), "k");
    config.max_retries = 0;
    let err = DssClient::new(config).unwrap().instance_info().await.unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(&format!(
            "DSS redirects to HTTPS: give the URL https://{tls}/ instead"
        )),
        "{message}"
    );
}
