//! The emulator's instance plane over raw HTTP: code envs, plugins, general settings and
//! project folders survive a restart, and their errors carry DSS's statuses and error types.

use std::time::Duration;

use dssctl::emulator::{EmulatorConfig, RunningEmulator};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::start_emulator;

const ADMIN: &str = "instance-admin-key";
const NOT_FOUND: &str = "com.dataiku.dip.server.controllers.NotFoundException";
const ILLEGAL: &str = "java.lang.IllegalArgumentException";

struct Emu {
    running: RunningEmulator,
    http: reqwest::Client,
}

async fn start(data_dir: Option<&std::path::Path>) -> Emu {
    let config = EmulatorConfig {
        data_dir: data_dir.map(std::path::Path::to_path_buf),
        job_duration: Duration::from_millis(100),
        ..Default::default()
    };
    Emu {
        running: start_emulator(ADMIN, config).await,
        http: reqwest::Client::new(),
    }
}

impl Emu {
    /// A call with the admin key; the body is sent without a Content-Type, like the Python
    /// client does. Answers the status and the body as JSON (a JSON string when not JSON).
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let url = format!("{}/public/api{path}", self.running.url);
        let mut req = self.http.request(method, url).basic_auth(ADMIN, Some(""));
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let raw = resp.bytes().await.expect("body read");
        let body = serde_json::from_slice(&raw)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&raw).into_owned()));
        (status, body)
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.call(method.clone(), path, body).await;
        assert_eq!(status, StatusCode::OK, "{method} {path}: {answer}");
        answer
    }
}

fn plugin_zip(id: &str, version: &str) -> Vec<u8> {
    use std::io::Write as _;
    let mut cursor = std::io::Cursor::new(Vec::new());
    let mut zw = zip::ZipWriter::new(&mut cursor);
    let opts = zip::write::SimpleFileOptions::default();
    zw.start_file("plugin.json", opts).unwrap();
    zw.write_all(json!({"id": id, "version": version}).to_string().as_bytes())
        .unwrap();
    zw.start_file("python-connectors/src/connector.json", opts)
        .unwrap();
    zw.write_all(b"{}").unwrap();
    zw.finish().unwrap();
    cursor.into_inner()
}

#[tokio::test]
async fn the_instance_plane_persists_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(Some(dir.path())).await;
    emu.ok(
        Method::POST,
        "/admin/code-envs/PYTHON/ml",
        Some(json!({"deploymentMode": "DESIGN_MANAGED", "specPackageList": "pandas==2.2.2"})),
    )
    .await;
    emu.ok(
        Method::POST,
        "/admin/code-envs/PYTHON/broken",
        Some(json!({"deploymentMode": "DESIGN_MANAGED", "specPackageList": "not valid!"})),
    )
    .await;
    let url = format!("{}/public/api/plugins/actions/installFromZip", emu.running.url);
    let resp = emu
        .http
        .post(url)
        .basic_auth(ADMIN, Some(""))
        .body(plugin_zip("zipped", "3.1.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut settings = emu.ok(Method::GET, "/admin/general-settings", None).await;
    settings["maxRunningActivities"] = json!(3);
    settings["ldapSettings"]["bindPassword"] = json!("ldap-hunter2");
    emu.ok(Method::PUT, "/admin/general-settings", Some(settings))
        .await;
    // Like a connection's, the LDAP bind password is encrypted at rest.
    let at_rest = std::fs::read_to_string(dir.path().join("admin/general-settings.json")).unwrap();
    assert!(
        !at_rest.contains("ldap-hunter2") && at_rest.contains("e:dssctl1:"),
        "{at_rest}"
    );
    let folder = emu
        .ok(Method::POST, "/project-folders/ROOT/children?name=Sales", None)
        .await;
    let folder_id = folder["id"].as_str().unwrap().to_string();
    emu.ok(
        Method::POST,
        &format!("/projects/?projectFolderId={folder_id}"),
        Some(json!({"projectKey": "PLACED", "name": "Placed", "owner": "admin"})),
    )
    .await;
    emu.running.shutdown().await;

    let emu = start(Some(dir.path())).await;
    let env = emu.ok(Method::GET, "/admin/code-envs/PYTHON/ml", None).await;
    assert_eq!(env["actualPackageList"], "pandas==2.2.2");
    let logs = emu.ok(Method::GET, "/admin/code-envs/PYTHON/ml/logs", None).await;
    assert_eq!(logs.as_array().unwrap().len(), 1);
    // The failed install is remembered too: still 500 after the restart.
    let (status, _) = emu
        .call(Method::GET, "/admin/code-envs/PYTHON/broken", None)
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let plugins = emu.ok(Method::GET, "/plugins/", None).await;
    assert_eq!(plugins[0]["id"], "zipped");
    assert_eq!(plugins[0]["version"], "3.1.0");
    assert_eq!(
        plugins[0]["components"],
        json!([{"type": "python-connectors", "id": "src"}])
    );
    let settings = emu.ok(Method::GET, "/admin/general-settings", None).await;
    assert_eq!(settings["maxRunningActivities"], 3);
    // Read back through the key: still set, answered redacted.
    let bind = settings["ldapSettings"]["bindPassword"].as_str().unwrap();
    assert!(bind.starts_with("e:AES:"), "{bind}");
    let located = emu
        .ok(Method::GET, "/project-folders/locate-project/PLACED", None)
        .await;
    assert_eq!(located["id"], folder_id.as_str());
    assert_eq!(located["name"], "Sales");
    let root = emu.ok(Method::GET, "/project-folders/ROOT", None).await;
    assert_eq!(root["childrenIds"], json!([folder_id]));
    emu.running.shutdown().await;
}

#[tokio::test]
async fn instance_plane_errors_have_dss_statuses() {
    let emu = start(None).await;
    let cases: Vec<(Method, &str, Option<Value>, StatusCode, &str)> = vec![
        (
            Method::GET,
            "/admin/code-envs/PYTHON/none",
            None,
            StatusCode::NOT_FOUND,
            NOT_FOUND,
        ),
        (
            Method::GET,
            "/admin/code-envs/COBOL/x",
            None,
            StatusCode::BAD_REQUEST,
            ILLEGAL,
        ),
        (
            Method::POST,
            "/admin/code-envs/PYTHON/x",
            Some(json!({"deploymentMode": "AUTOMATION_VERSIONED"})),
            StatusCode::BAD_REQUEST,
            ILLEGAL,
        ),
        (
            Method::GET,
            "/plugins/none/settings",
            None,
            StatusCode::NOT_FOUND,
            NOT_FOUND,
        ),
        (
            Method::POST,
            "/plugins/actions/installFromStore",
            Some(json!({})),
            StatusCode::BAD_REQUEST,
            ILLEGAL,
        ),
        (
            Method::GET,
            "/project-folders/nope",
            None,
            StatusCode::NOT_FOUND,
            NOT_FOUND,
        ),
        (
            Method::DELETE,
            "/project-folders/ROOT",
            None,
            StatusCode::BAD_REQUEST,
            ILLEGAL,
        ),
        (
            Method::POST,
            "/project-folders/ROOT/children?name=a%2Fb",
            None,
            StatusCode::BAD_REQUEST,
            ILLEGAL,
        ),
        (
            Method::GET,
            "/project-folders/locate-project/NOPE",
            None,
            StatusCode::NOT_FOUND,
            NOT_FOUND,
        ),
    ];
    for (method, path, body, status, error_type) in cases {
        let (got, answer) = emu.call(method.clone(), path, body).await;
        assert_eq!(got, status, "{method} {path}: {answer}");
        assert_eq!(answer["errorType"], error_type, "{method} {path}: {answer}");
    }

    // Conflicts: an existing code env, an installed plugin, a sibling folder's name.
    let create = json!({"deploymentMode": "DESIGN_MANAGED"});
    emu.ok(Method::POST, "/admin/code-envs/R/renv", Some(create.clone()))
        .await;
    let (status, _) = emu
        .call(Method::POST, "/admin/code-envs/r/renv", Some(create))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let store = json!({"pluginId": "sheets", "version": "1.2.0"});
    let future = emu
        .ok(
            Method::POST,
            "/plugins/actions/installFromStore",
            Some(store.clone()),
        )
        .await;
    let done = emu
        .ok(
            Method::GET,
            &format!("/futures/{}", future["jobId"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(done["result"]["pluginVersion"], "1.2.0");
    let (status, _) = emu
        .call(Method::POST, "/plugins/actions/installFromStore", Some(store))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    emu.ok(Method::POST, "/project-folders/ROOT/children?name=A", None)
        .await;
    let (status, _) = emu
        .call(Method::POST, "/project-folders/ROOT/children?name=A", None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // A non-empty folder cannot be deleted.
    let parent = emu
        .ok(Method::POST, "/project-folders/ROOT/children?name=P", None)
        .await;
    let pid = parent["id"].as_str().unwrap();
    emu.ok(
        Method::POST,
        &format!("/project-folders/{pid}/children?name=C"),
        None,
    )
    .await;
    let (status, answer) = emu
        .call(Method::DELETE, &format!("/project-folders/{pid}"), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["message"].as_str().unwrap().contains("not empty"),
        "{answer}"
    );

    // A failed package install: 200 with messages.error, then the env answers 500.
    emu.ok(
        Method::POST,
        "/admin/code-envs/PYTHON/bad",
        Some(json!({"deploymentMode": "DESIGN_MANAGED"})),
    )
    .await;
    emu.ok(
        Method::PUT,
        "/admin/code-envs/PYTHON/bad",
        Some(json!({"specPackageList": "numpy>>1", "desc": {}})),
    )
    .await;
    let result = emu
        .ok(Method::POST, "/admin/code-envs/PYTHON/bad/packages", None)
        .await;
    assert_eq!(result["messages"]["error"], true, "{result}");
    let (status, answer) = emu.call(Method::GET, "/admin/code-envs/PYTHON/bad", None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        answer["message"].as_str().unwrap().contains("desc.json"),
        "{answer}"
    );

    // Unknown general-settings fields: dropped, still 200.
    let mut settings = emu.ok(Method::GET, "/admin/general-settings", None).await;
    settings["notADssSetting"] = json!(true);
    emu.ok(Method::PUT, "/admin/general-settings", Some(settings))
        .await;
    let settings = emu.ok(Method::GET, "/admin/general-settings", None).await;
    assert!(settings.get("notADssSetting").is_none());
    emu.running.shutdown().await;
}
