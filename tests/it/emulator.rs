//! The emulator over raw HTTP: both prefixes, every auth form, 401/403/404 bodies, every
//! resource's CRUD, DSS normalisations (tags sorted, secrets redacted, versionTag bumps, unknown
//! fields kept), jobs, SQL, export, stats, faults, persistence (including after kill -9), and
//! the `dssctl emulator` command itself.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dssctl::emulator::{self, ApiKeySpec, EmulatorConfig, RunningEmulator};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{client, dssctl_command, start_emulator};

const ADMIN: &str = "admin-secret-key";

/// An emulator under test: in-process, or a `dssctl emulator` child (no handle).
struct Emu {
    base: String,
    running: Option<RunningEmulator>,
    http: reqwest::Client,
}

fn config() -> EmulatorConfig {
    EmulatorConfig {
        admin_key: ADMIN.into(),
        job_duration: Duration::from_millis(200),
        ..Default::default()
    }
}

async fn start(config: EmulatorConfig) -> Emu {
    let running = start_emulator(ADMIN, config).await;
    Emu {
        base: running.url.clone(),
        running: Some(running),
        http: reqwest::Client::new(),
    }
}

/// An answer: status, headers, body as JSON (or as a JSON string when it is not JSON).
struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
    raw: Vec<u8>,
}

impl Emu {
    async fn stop(self) {
        if let Some(r) = self.running {
            r.shutdown().await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/public/api{path}", self.base)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let raw = resp.bytes().await.unwrap().to_vec();
        let body = serde_json::from_slice(&raw)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&raw).into_owned()));
        Answer {
            status,
            headers,
            body,
            raw,
        }
    }

    /// A call with the admin key, the body sent as the Python client does: no Content-Type.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.call_as(ADMIN, method, path, body).await
    }

    async fn call_as(&self, key: &str, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut req = self
            .http
            .request(method, self.url(path))
            .basic_auth(key, Some(""));
        if let Some(b) = body {
            req = req.body(serde_json::to_vec(&b).unwrap());
        }
        self.send(req).await
    }

    async fn get(&self, path: &str) -> Value {
        let a = self.call(Method::GET, path, None).await;
        assert_eq!(a.status, 200, "GET {path}: {}", a.body);
        a.body
    }

    async fn ok(&self, method: Method, path: &str, body: Value) -> Value {
        let a = self.call(method.clone(), path, Some(body)).await;
        assert_eq!(a.status, 200, "{method} {path}: {}", a.body);
        a.body
    }
}

async fn with_project(emu: &Emu, key: &str) {
    emu.ok(
        Method::POST,
        "/projects/",
        json!({"projectKey": key, "name": format!("Project {key}"), "owner": "admin",
            "settings": null, "description": null, "permissions": [], "tags": ["zeta", "alpha"]}),
    )
    .await;
}

async fn with_dataset(emu: &Emu, key: &str, name: &str, params: Value) {
    emu.ok(
        Method::POST,
        &format!("/projects/{key}/datasets/"),
        json!({"name": name, "projectKey": key, "type": "Filesystem", "params": params,
            "formatType": null, "formatParams": {}}),
    )
    .await;
}

#[tokio::test]
async fn both_prefixes_headers_and_trailing_slashes() {
    let emu = start(config()).await;
    with_project(&emu, "P1").await;
    for prefix in ["/public/api", "/dip/publicapi"] {
        for path in [
            "/projects/",
            "/projects",
            "/projects/P1/metadata",
            "/projects/P1/metadata/",
        ] {
            let req = emu
                .http
                .get(format!("{}{prefix}{path}", emu.base))
                .basic_auth(ADMIN, Some(""));
            let a = emu.send(req).await;
            assert_eq!(a.status, 200, "{prefix}{path}");
            assert_eq!(a.headers["DSS-Version"], dssctl::wire::DSS_VERSION);
            assert_eq!(a.headers["DSS-API-Version"], dssctl::wire::DSS_API_VERSION);
        }
    }
    let a = emu.send(emu.http.get(format!("{}/nowhere", emu.base))).await;
    assert_eq!(a.status, 404);
    assert!(a.headers.contains_key("DSS-Version"));
    let info = emu.get("/instance-info").await;
    assert_eq!(info["dssVersion"], dssctl::wire::DSS_VERSION);
    emu.stop().await;
}

#[tokio::test]
async fn every_auth_form_and_401() {
    let emu = start(config()).await;
    let url = emu.url("/auth/info");
    let forms = [
        emu.http.get(&url).basic_auth(ADMIN, Some("")),
        emu.http.get(&url).basic_auth("", Some(ADMIN)),
        emu.http.get(&url).bearer_auth(ADMIN),
        emu.http.get(&url).header("X-DKU-APITicket", ADMIN),
    ];
    for req in forms {
        let a = emu.send(req).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.body["authIdentifier"], "admin");
    }
    let proxied = emu
        .send(
            emu.http
                .get(&url)
                .bearer_auth(ADMIN)
                .header("X-DKU-ProxyUser", "alice"),
        )
        .await;
    assert_eq!(proxied.body["authIdentifier"], "alice");
    assert_eq!(proxied.body["associatedDSSUser"], "alice");
    for req in [emu.http.get(&url), emu.http.get(&url).bearer_auth("wrong")] {
        let a = emu.send(req).await;
        assert_eq!(a.status, 401);
        assert_eq!(a.body["errorType"], dssctl::wire::ERROR_NOT_AUTHENTICATED);
        assert!(a.body["message"].as_str().unwrap().len() > 5);
        assert!(a.headers.contains_key("DSS-Version"));
    }
    emu.stop().await;
}

#[tokio::test]
async fn restricted_keys_get_403_where_a_privilege_is_missing() {
    let mut cfg = config();
    cfg.keys = vec![
        ApiKeySpec {
            key: "reader-key".into(),
            label: Some("reader".into()),
            projects: vec!["P1".into()],
            privileges: vec!["READ_CONF".into()],
            ..Default::default()
        },
        ApiKeySpec {
            key: "builder-key".into(),
            projects: vec!["*".into()],
            privileges: vec!["READ_CONF".into(), "RUN_JOBS".into(), "READ_METADATA".into()],
            ..Default::default()
        },
    ];
    let emu = start(cfg).await;
    with_project(&emu, "P1").await;
    with_project(&emu, "P2").await;
    with_dataset(&emu, "P1", "d", json!({})).await;

    let list = emu.call_as("reader-key", Method::GET, "/projects/", None).await;
    assert_eq!(list.status, 200);
    let keys: Vec<&str> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["projectKey"].as_str().unwrap())
        .collect();
    assert_eq!(keys, vec!["P1"]);
    let allowed = emu
        .call_as("reader-key", Method::GET, "/projects/P1/datasets/d", None)
        .await;
    assert_eq!(allowed.status, 200);

    let forbidden = [
        (Method::GET, "/projects/P2/datasets/"),
        (Method::GET, "/projects/P1/datasets/d/metadata"),
        (Method::GET, "/projects/P1/datasets/d/schema"),
        (Method::PUT, "/projects/P1/datasets/d"),
        (Method::GET, "/projects/P1/metadata"),
        (Method::POST, "/projects/P1/jobs/"),
        (Method::POST, "/projects/"),
        (Method::GET, "/admin/connections/"),
        (Method::GET, "/admin/users/"),
        (Method::GET, "/admin/groups/"),
        (Method::GET, "/admin/variables/"),
        (Method::GET, "/admin/logs/"),
    ];
    for (method, path) in forbidden {
        let a = emu
            .call_as("reader-key", method.clone(), path, Some(json!({})))
            .await;
        assert_eq!(a.status, 403, "{method} {path}: {}", a.body);
        assert_eq!(a.body["errorType"], dssctl::wire::ERROR_FORBIDDEN);
    }
    let stats = emu
        .send(
            emu.http
                .get(format!("{}/__emulator/stats", emu.base))
                .bearer_auth("reader-key"),
        )
        .await;
    assert_eq!(stats.status, 403);

    let meta = emu
        .call_as(
            "builder-key",
            Method::GET,
            "/projects/P1/datasets/d/metadata",
            None,
        )
        .await;
    assert_eq!(meta.status, 200);
    let job = emu
        .call_as(
            "builder-key",
            Method::POST,
            "/projects/P2/jobs/",
            Some(json!({"outputs": [{"id": "x"}]})),
        )
        .await;
    assert_eq!(job.status, 200, "{}", job.body);
    let id = job.body["id"].as_str().unwrap();
    let status = emu
        .call_as(
            "builder-key",
            Method::GET,
            &format!("/projects/P2/jobs/{id}/"),
            None,
        )
        .await;
    assert_eq!(status.status, 200);
    emu.stop().await;
}

#[tokio::test]
async fn projects_crud_and_normalisation() {
    let emu = start(config()).await;
    with_project(&emu, "P1").await;
    with_project(&emu, "OTHER").await;
    let dup = emu
        .call(Method::POST, "/projects/", Some(json!({"projectKey": "P1"})))
        .await;
    assert_eq!(dup.status, 409);
    assert_eq!(dup.body["errorType"], dssctl::wire::ERROR_ALREADY_EXISTS);
    let bad = emu
        .call(Method::POST, "/projects/", Some(json!({"projectKey": "../etc"})))
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["errorType"], dssctl::wire::ERROR_ILLEGAL_ARGUMENT);

    let summary = emu.get("/projects/P1").await;
    assert_eq!(summary["name"], "Project P1");
    assert_eq!(summary["tags"], json!(["alpha", "zeta"]));
    assert_eq!(summary["ownerLogin"], "admin");
    assert_eq!(summary["creationTag"]["versionNumber"], 0);
    let v1 = summary["versionTag"]["versionNumber"].as_u64().unwrap();

    let mut meta = emu.get("/projects/P1/metadata").await;
    assert_eq!(meta["label"], "Project P1");
    meta["label"] = json!("Renamed");
    meta["tags"] = json!(["m", "b", "m"]);
    meta["custom"]["kv"]["team"] = json!("data");
    meta["somethingNew"] = json!({"kept": true});
    emu.ok(Method::PUT, "/projects/P1/metadata", meta).await;
    let meta = emu.get("/projects/P1/metadata").await;
    assert_eq!(meta["tags"], json!(["b", "m"]));
    assert_eq!(meta["somethingNew"]["kept"], true);
    assert_eq!(meta["custom"]["kv"]["team"], "data");
    let summary = emu.get("/projects/P1").await;
    assert_eq!(summary["name"], "Renamed");
    assert!(summary["versionTag"]["versionNumber"].as_u64().unwrap() > v1);

    // Tags filter: repeated or comma-separated.
    for q in ["?tags=b", "?tags=nothing,b", "?tags=nothing&tags=m"] {
        let list = emu.get(&format!("/projects/{q}")).await;
        let keys: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["projectKey"].as_str().unwrap())
            .collect();
        assert_eq!(keys, vec!["P1"], "{q}");
    }
    assert_eq!(emu.get("/projects/").await.as_array().unwrap().len(), 2);

    let mut perms = emu.get("/projects/P1/permissions").await;
    perms["owner"] = json!("alice");
    perms["permissions"] = json!([{"group": "readers", "readProjectContent": true, "futureFlag": 1}]);
    emu.ok(Method::PUT, "/projects/P1/permissions", perms).await;
    let perms = emu.get("/projects/P1/permissions").await;
    assert_eq!(perms["permissions"][0]["futureFlag"], 1);
    assert_eq!(emu.get("/projects/P1").await["ownerLogin"], "alice");

    emu.ok(
        Method::PUT,
        "/projects/P1/variables/",
        json!({"standard": {"a": 1}, "local": {"b": [2]}}),
    )
    .await;
    assert_eq!(emu.get("/projects/P1/variables/").await["local"]["b"], json!([2]));
    emu.ok(Method::PUT, "/admin/variables/", json!({"g": "x", "a": 0}))
        .await;
    let resolved = emu.get("/projects/P1/variables-resolved?typed=true").await;
    assert_eq!(resolved, json!({"g": "x", "a": 1, "b": [2]}));

    let deleted = emu
        .call(
            Method::DELETE,
            "/projects/OTHER?clearManagedDatasets=False&wait=True",
            None,
        )
        .await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body["hasResult"], true);
    let gone = emu.call(Method::GET, "/projects/OTHER", None).await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.body["errorType"], dssctl::wire::ERROR_NOT_FOUND);
    with_project(&emu, "LATER").await;
    let no_wait = emu.call(Method::DELETE, "/projects/LATER?wait=false", None).await;
    assert_eq!(no_wait.body["hasResult"], false);
    let future = emu
        .get(&format!(
            "/futures/{}?peek=False",
            no_wait.body["jobId"].as_str().unwrap()
        ))
        .await;
    assert_eq!(future["hasResult"], true);
    emu.stop().await;
}

#[tokio::test]
async fn datasets_crud_metadata_and_schema() {
    let emu = start(config()).await;
    with_project(&emu, "P").await;
    with_dataset(&emu, "P", "raw_data", json!({"connection": "fs", "path": "/x"})).await;
    let def = emu.get("/projects/P/datasets/raw_data").await;
    assert_eq!(def["managed"], false);
    assert_eq!(def["formatParams"], json!({}));
    assert_eq!(def["schema"], json!({"columns": [], "userModified": false}));
    assert_eq!(def["customMeta"], json!({"kv": {}}));
    assert_eq!(def["creationTag"]["versionNumber"], 0);
    let dup = emu
        .call(
            Method::POST,
            "/projects/P/datasets/",
            Some(json!({"name": "raw_data", "type": "Filesystem"})),
        )
        .await;
    assert_eq!(dup.status, 409);
    let bad = emu
        .call(
            Method::POST,
            "/projects/P/datasets/",
            Some(json!({"name": "a/b", "type": "Filesystem"})),
        )
        .await;
    assert_eq!(bad.status, 400);
    let no_type = emu
        .call(Method::POST, "/projects/P/datasets/", Some(json!({"name": "t"})))
        .await;
    assert_eq!(no_type.status, 400);
    assert!(no_type.body["message"].as_str().unwrap().contains("type"));

    let mut def = def;
    def["unknownSetting"] = json!({"x": [1, 2]});
    def["tags"] = json!(["b", "a"]);
    def["versionTag"] = json!({"versionNumber": 999});
    emu.ok(Method::PUT, "/projects/P/datasets/raw_data", def.clone())
        .await;
    let saved = emu.get("/projects/P/datasets/raw_data").await;
    assert_eq!(saved["unknownSetting"], json!({"x": [1, 2]}));
    assert_eq!(saved["tags"], json!(["a", "b"]));
    assert_eq!(saved["versionTag"]["versionNumber"], 2);

    let mut meta = emu.get("/projects/P/datasets/raw_data/metadata").await;
    assert_eq!(meta["tags"], json!(["a", "b"]));
    meta["description"] = json!("long text");
    meta["shortDesc"] = json!("short");
    meta["custom"] = json!({"kv": {"owner": "team"}});
    meta["tags"] = json!(["z"]);
    let answer = emu
        .ok(Method::PUT, "/projects/P/datasets/raw_data/metadata", meta)
        .await;
    assert!(answer.is_object());
    let list = emu.get("/projects/P/datasets/").await;
    let item = &list[0];
    assert_eq!(item["description"], "long text");
    assert_eq!(item["shortDesc"], "short");
    assert_eq!(item["customMeta"]["kv"]["owner"], "team");
    assert_eq!(item["tags"], json!(["z"]));
    assert_eq!(item["unknownSetting"]["x"], json!([1, 2]));

    let schema =
        json!({"columns": [{"name": "id", "type": "bigint", "comment": "key"}], "userModified": true});
    emu.ok(
        Method::PUT,
        "/projects/P/datasets/raw_data/schema",
        schema.clone(),
    )
    .await;
    assert_eq!(emu.get("/projects/P/datasets/raw_data/schema").await, schema);
    assert_eq!(emu.get("/projects/P/datasets/raw_data").await["schema"], schema);
    let bad_schema = emu
        .call(
            Method::PUT,
            "/projects/P/datasets/raw_data/schema",
            Some(json!({"columns": [{"name": "x"}]})),
        )
        .await;
    assert_eq!(bad_schema.status, 400);

    assert_eq!(
        emu.get("/projects/P/datasets/?tags=z&foreign=False")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        emu.get("/projects/P/datasets/?tags=nope")
            .await
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        emu.get("/projects/P/datasets/raw_data/partitions").await,
        json!(["NP"])
    );

    emu.ok(
        Method::POST,
        "/projects/P/actions/renameDataset",
        json!({"oldName": "raw_data", "newName": "clean"}),
    )
    .await;
    emu.get("/projects/P/datasets/clean").await;
    let a = emu
        .call(Method::DELETE, "/projects/P/datasets/clean?dropData=False", None)
        .await;
    assert_eq!(a.status, 200);
    assert!(a.body.is_object());
    let gone = emu
        .call(Method::GET, "/projects/P/datasets/clean/metadata", None)
        .await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.body["errorType"], dssctl::wire::ERROR_NOT_FOUND);
    assert!(
        gone.body["detailedMessage"]
            .as_str()
            .unwrap()
            .contains("dataset does not exist")
    );
    let no_project = emu.call(Method::GET, "/projects/NOPE/datasets/", None).await;
    assert_eq!(no_project.status, 404);
    emu.stop().await;
}

#[tokio::test]
async fn names_cannot_escape_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cfg = config();
    cfg.data_dir = Some(data.clone());
    let emu = start(cfg).await;
    for (path, body) in [
        ("/admin/users/", json!({"login": "../../escaped"})),
        ("/admin/users/", json!({"login": "a/b"})),
        ("/admin/groups/", json!({"name": ".."})),
        ("/admin/groups/", json!({"name": "a\\b"})),
        (
            "/admin/connections/",
            json!({"name": "x\u{0}y", "type": "Filesystem"}),
        ),
        ("/projects/", json!({"projectKey": "../P"})),
    ] {
        let a = emu.call(Method::POST, path, Some(body.clone())).await;
        assert_eq!(a.status, 400, "{body}: {}", a.body);
        assert_eq!(a.body["errorType"], dssctl::wire::ERROR_ILLEGAL_ARGUMENT);
    }
    // Encoded traversal in a path only ever names a missing object.
    let a = emu
        .call(Method::PUT, "/admin/users/..%2F..%2Fescaped", Some(json!({})))
        .await;
    assert_eq!(a.status, 404);
    assert!(!dir.path().join("escaped.json").exists());
    let mut outside = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        outside.push(entry.unwrap().file_name());
    }
    assert_eq!(outside, vec![std::ffi::OsString::from("data")]);
    emu.stop().await;
}

#[tokio::test]
async fn connections_secrets_and_missing_connection() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.data_dir = Some(dir.path().to_path_buf());
    let emu = start(cfg).await;
    emu.ok(
        Method::POST,
        "/admin/connections/",
        json!({"name": "pg.main", "type": "PostgreSQL", "description": null,
            "params": {"host": "db", "user": "u", "password": "hunter2"}, "usableBy": "ALL", "allowedGroups": []}),
    )
    .await;
    let list = emu.get("/admin/connections/").await;
    let item = &list["pg.main"];
    assert_eq!(item["name"], "pg.main");
    assert_eq!(item["type"], "PostgreSQL");
    assert_eq!(item["id"], "pg.main");
    assert_eq!(item["label"], "PostgreSQL");
    let first = emu.get("/admin/connections/pg.main").await;
    let second = emu.get("/admin/connections/pg.main").await;
    let pw = first["params"]["password"].as_str().unwrap();
    assert!(pw.starts_with("e:AES:"));
    assert_ne!(first["params"]["password"], second["params"]["password"]);
    assert!(!serde_json::to_string(&list).unwrap().contains("hunter2"));

    let mut edited = first.clone();
    edited["params"]["host"] = json!("db2");
    edited["maxActivities"] = json!(5);
    emu.ok(Method::PUT, "/admin/connections/pg.main", edited).await;
    let stored = std::fs::read_to_string(dir.path().join("admin/connections/pg.main.json")).unwrap();
    let stored: Value = serde_json::from_str(&stored).unwrap();
    let at_rest = stored["params"]["password"].as_str().unwrap();
    assert!(
        at_rest.starts_with("e:dssctl1:") && !at_rest.contains("hunter2"),
        "the secret is encrypted at rest and survives a write-back of its placeholder: {at_rest}"
    );
    assert!(dir.path().join("secret.key").is_file());
    assert_eq!(stored["params"]["host"], "db2");
    assert_eq!(emu.get("/admin/connections/pg.main").await["maxActivities"], 5);

    let missing = emu.call(Method::GET, "/admin/connections/nope", None).await;
    assert_eq!(missing.status, 500);
    assert_eq!(missing.body["errorType"], dssctl::wire::ERROR_ILLEGAL_ARGUMENT);
    assert_eq!(missing.body["message"], "Connection 'nope' does not exist");
    let bad = emu
        .call(
            Method::POST,
            "/admin/connections/",
            Some(json!({"name": "..", "type": "Filesystem"})),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        emu.get("/connections/get-names?type=PostgreSQL").await,
        json!(["pg.main"])
    );
    emu.ok(Method::DELETE, "/admin/connections/pg.main", Value::Null)
        .await;
    let left = emu.get("/admin/connections/").await;
    let names: Vec<&String> = left.as_object().unwrap().keys().collect();
    assert_eq!(
        names,
        ["filesystem_folders", "filesystem_managed"],
        "the built-ins remain"
    );
    emu.stop().await;
}

#[tokio::test]
async fn users_groups_and_global_variables() {
    // Empty: the lists below hold exactly what the test creates.
    let emu = start(EmulatorConfig {
        empty: true,
        ..config()
    })
    .await;
    emu.ok(
        Method::POST,
        "/admin/groups/",
        json!({"name": "data-team", "description": null, "sourceType": "LOCAL"}),
    )
    .await;
    let mut group = emu.get("/admin/groups/data-team").await;
    group["mayCreateProjects"] = json!(true);
    group["mayDoSomethingNew"] = json!(false);
    emu.ok(Method::PUT, "/admin/groups/data-team", group).await;
    let group = emu.get("/admin/groups/data-team").await;
    assert_eq!(group["mayCreateProjects"], true);
    assert_eq!(group["mayDoSomethingNew"], false);

    emu.ok(
        Method::POST,
        "/admin/users/",
        json!({"login": "john.doe", "password": "s3cret", "displayName": "", "sourceType": "LOCAL",
            "groups": ["zeta", "data-team"], "userProfile": "DATA_SCIENTIST", "email": null}),
    )
    .await;
    let user = emu.get("/admin/users/john.doe").await;
    assert!(user.get("password").is_none());
    assert_eq!(user["groups"], json!(["data-team", "zeta"]));
    let mut edited = user.clone();
    edited["email"] = json!("j@x.org");
    edited["secrets"] = json!([{"name": "token", "value": "abc", "secret": true}]);
    edited["userProperties"] = json!({"k": "v"});
    emu.ok(Method::PUT, "/admin/users/john.doe", edited).await;
    let user = emu.get("/admin/users/john.doe").await;
    assert_eq!(user["email"], "j@x.org");
    assert!(
        user["secrets"][0]["value"]
            .as_str()
            .unwrap()
            .starts_with("e:AES:")
    );
    let users = emu.get("/admin/users/").await;
    assert!(!serde_json::to_string(&users).unwrap().contains("s3cret"));
    assert!(!serde_json::to_string(&users).unwrap().contains("\"abc\""));

    let infos = emu.get("/users").await;
    assert_eq!(infos[0]["login"], "john.doe");
    assert!(infos[0].get("secrets").is_none() && infos[0].get("userProperties").is_none());
    assert_eq!(emu.get("/users/john.doe").await["email"], "j@x.org");
    assert_eq!(
        emu.get("/groups").await,
        json!([{"name": "data-team", "description": ""}])
    );
    for path in ["/admin/users/ghost", "/admin/groups/ghost"] {
        let a = emu.call(Method::GET, path, None).await;
        assert_eq!(a.status, 404);
        assert_eq!(a.body["errorType"], dssctl::wire::ERROR_NOT_FOUND);
    }
    emu.ok(Method::DELETE, "/admin/users/john.doe", Value::Null).await;
    emu.ok(Method::DELETE, "/admin/groups/data-team", Value::Null)
        .await;
    assert_eq!(emu.get("/admin/users/").await, json!([]));

    emu.ok(
        Method::PUT,
        "/admin/variables/",
        json!({"a": 1, "b": {"c": true}}),
    )
    .await;
    emu.ok(Method::PUT, "/admin/variables/", json!({"b": 2})).await;
    assert_eq!(emu.get("/admin/variables/").await, json!({"b": 2}));
    emu.stop().await;
}

async fn wait_for_job(emu: &Emu, key: &str, id: &str) -> Value {
    for _ in 0..100 {
        let status = emu.get(&format!("/projects/{key}/jobs/{id}/")).await;
        let state = status["baseStatus"]["state"].as_str().unwrap().to_string();
        if dssctl::wire::JOB_TERMINAL_STATES.contains(&state.as_str()) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("job {id} never finished");
}

#[tokio::test]
async fn jobs_done_failed_and_aborted_with_logs() {
    let emu = start(config()).await;
    with_project(&emu, "P").await;
    emu.ok(
        Method::POST,
        "/admin/connections/",
        json!({"name": "fs", "type": "Filesystem"}),
    )
    .await;
    with_dataset(&emu, "P", "good", json!({"connection": "fs"})).await;
    with_dataset(&emu, "P", "orphan", json!({"connection": "gone"})).await;

    let def = |id: &str| {
        json!({"type": "NON_RECURSIVE_FORCED_BUILD", "refreshHiveMetastore": false,
            "outputs": [{"type": null, "id": id, "projectKey": null, "partition": null}]})
    };
    let started = emu.ok(Method::POST, "/projects/P/jobs/", def("good")).await;
    let id = started["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("Build_good_"), "{id}");
    let first = emu.get(&format!("/projects/P/jobs/{id}/")).await;
    assert!(["NOT_STARTED", "RUNNING"].contains(&first["baseStatus"]["state"].as_str().unwrap()));
    let done = wait_for_job(&emu, "P", &id).await;
    assert_eq!(done["baseStatus"]["state"], "DONE");
    let log = emu
        .call(
            Method::GET,
            &format!("/projects/P/jobs/{id}/log?activity=x"),
            None,
        )
        .await;
    assert_eq!(log.status, 200);
    assert!(String::from_utf8_lossy(&log.raw).contains("DONE"));

    for (output, reason) in [
        ("missing", "does not exist"),
        ("orphan", "Connection 'gone' does not exist"),
    ] {
        let started = emu.ok(Method::POST, "/projects/P/jobs/", def(output)).await;
        let id = started["id"].as_str().unwrap();
        let status = wait_for_job(&emu, "P", id).await;
        assert_eq!(status["baseStatus"]["state"], "FAILED");
        let log = emu
            .call(Method::GET, &format!("/projects/P/jobs/{id}/log"), None)
            .await;
        assert!(String::from_utf8_lossy(&log.raw).contains(reason), "{output}");
    }

    let slow = {
        let mut cfg = config();
        cfg.job_duration = Duration::from_secs(60);
        start(cfg).await
    };
    with_project(&slow, "P").await;
    with_dataset(&slow, "P", "d", json!({})).await;
    let started = slow.ok(Method::POST, "/projects/P/jobs/", def("d")).await;
    let id = started["id"].as_str().unwrap();
    let aborted = slow
        .ok(Method::POST, &format!("/projects/P/jobs/{id}/abort"), Value::Null)
        .await;
    assert!(aborted.is_object());
    assert_eq!(
        wait_for_job(&slow, "P", id).await["baseStatus"]["state"],
        "ABORTED"
    );
    let log = slow
        .call(Method::GET, &format!("/projects/P/jobs/{id}/log"), None)
        .await;
    assert!(String::from_utf8_lossy(&log.raw).contains("aborted"));

    let jobs = emu.get("/projects/P/jobs/?limit=2").await;
    assert_eq!(jobs.as_array().unwrap().len(), 2);
    assert!(jobs[0]["def"]["id"].is_string());
    assert_eq!(emu.get("/projects/P/jobs/").await.as_array().unwrap().len(), 3);
    emu.stop().await;
    slow.stop().await;
}

#[tokio::test]
async fn sql_queries_run_stream_and_finish() {
    let emu = start(config()).await;
    emu.ok(
        Method::POST,
        "/admin/connections/",
        json!({"name": "wh", "type": "PostgreSQL", "params": {}}),
    )
    .await;
    let run = |q: &str| {
        json!({"query": q, "connection": "wh", "preQueries": null, "postQueries": null,
        "database": null, "datasetFullName": null, "projectKey": null, "type": "sql"})
    };
    let ddl = emu
        .ok(
            Method::POST,
            "/sql/queries/",
            run("CREATE TABLE t (id INTEGER, label TEXT)"),
        )
        .await;
    assert_eq!(ddl["hasResults"], false);
    emu.ok(
        Method::POST,
        "/sql/queries/",
        run("INSERT INTO t VALUES (1, 'a\tb'), (2, 'say \"hi\"'), (3, NULL)"),
    )
    .await;
    let started = emu
        .ok(
            Method::POST,
            "/sql/queries/",
            run("SELECT id, label FROM t ORDER BY id"),
        )
        .await;
    assert_eq!(started["hasResults"], true);
    assert_eq!(
        started["schema"],
        json!([{"name": "id", "type": "bigint"}, {"name": "label", "type": "string"}])
    );
    let qid = started["queryId"].as_str().unwrap();
    let tsv = emu
        .call(
            Method::GET,
            &format!("/sql/queries/{qid}/stream?format=tsv-excel-noheader"),
            None,
        )
        .await;
    assert_eq!(
        String::from_utf8_lossy(&tsv.raw),
        "1\t\"a\tb\"\n2\t\"say \"\"hi\"\"\"\n3\t\n"
    );
    let with_header = emu
        .call(
            Method::GET,
            &format!("/sql/queries/{qid}/stream?format=tsv-excel-header"),
            None,
        )
        .await;
    assert!(String::from_utf8_lossy(&with_header.raw).starts_with("id\tlabel\n1\t"));
    let as_json = emu.get(&format!("/sql/queries/{qid}/stream?format=json")).await;
    assert_eq!(as_json, json!([[1, "a\tb"], [2, "say \"hi\""], [3, null]]));
    let fin = emu
        .call(Method::GET, &format!("/sql/queries/{qid}/finish-streaming"), None)
        .await;
    assert_eq!(fin.status, 200);
    assert!(fin.raw.is_empty());
    let again = emu
        .call(Method::GET, &format!("/sql/queries/{qid}/stream"), None)
        .await;
    assert_eq!(again.status, 404);
    let broken = emu
        .call(Method::POST, "/sql/queries/", Some(run("SELEC nothing")))
        .await;
    assert_eq!(broken.status, 500);
    assert!(broken.body["errorType"].as_str().unwrap().contains("SQL"));

    // A dataset on that connection reads the table.
    with_project(&emu, "P").await;
    emu.ok(
        Method::POST,
        "/projects/P/datasets/",
        json!({"name": "t", "type": "PostgreSQL", "params": {"connection": "wh", "mode": "table", "table": "t"}}),
    )
    .await;
    let data = emu
        .call(
            Method::GET,
            "/projects/P/datasets/t/data/?format=tsv-excel-noheader",
            None,
        )
        .await;
    assert_eq!(String::from_utf8_lossy(&data.raw).lines().count(), 3);
    let fin = emu
        .call(Method::GET, "/projects/P/datasets/t/finish-streaming/", None)
        .await;
    assert_eq!(fin.status, 200);
    emu.ok(Method::DELETE, "/projects/P/datasets/t/data", Value::Null)
        .await;
    let data = emu.call(Method::GET, "/projects/P/datasets/t/data/", None).await;
    assert!(data.raw.is_empty());
    emu.stop().await;
}

#[tokio::test]
async fn export_is_a_readable_zip() {
    let emu = start(config()).await;
    with_project(&emu, "P").await;
    with_dataset(&emu, "P", "d", json!({})).await;
    let a = emu
        .call(Method::POST, "/projects/P/export", Some(json!({})))
        .await;
    assert_eq!(a.status, 200);
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(a.raw)).unwrap();
    let mut text = String::new();
    zip.by_name("datasets/d.json")
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["name"], "d");
    text.clear();
    zip.by_name("project.json")
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert!(text.contains("\"projectKey\": \"P\""));
    emu.stop().await;
}

#[tokio::test]
async fn admin_logs_are_served() {
    let emu = start(config()).await;
    emu.get("/projects/").await;
    let logs = emu.get("/admin/logs/").await;
    assert_eq!(logs["logs"][0]["name"], "backend.log");
    let text = emu.get("/admin/logs/backend.log").await;
    assert!(text.as_str().unwrap().contains("GET /public/api/projects/"));
    assert_eq!(
        emu.call(Method::GET, "/admin/logs/nope.log", None).await.status,
        404
    );
    emu.stop().await;
}

async fn stats(emu: &Emu) -> dssctl::wire::EmulatorStats {
    let a = emu
        .send(
            emu.http
                .get(format!("{}/__emulator/stats", emu.base))
                .basic_auth(ADMIN, Some("")),
        )
        .await;
    assert_eq!(a.status, 200);
    serde_json::from_value(a.body).unwrap()
}

#[tokio::test]
async fn stats_count_and_reset() {
    let emu = start(config()).await;
    with_project(&emu, "P").await;
    emu.get("/projects/P/metadata").await;
    emu.get("/projects/P/metadata/").await;
    emu.call(Method::GET, "/projects/NOPE/metadata", None).await;
    let s = stats(&emu).await;
    assert_eq!(s.total, 4);
    assert_eq!(s.reads, 3);
    assert_eq!(s.writes, 1);
    assert_eq!(s.by_method["GET"], 3);
    assert_eq!(s.by_route["GET /projects/{projectKey}/metadata"], 3);
    assert_eq!(s.by_route["POST /projects"], 1);
    let reset = emu
        .send(
            emu.http
                .post(format!("{}/__emulator/stats/reset", emu.base))
                .bearer_auth(ADMIN),
        )
        .await;
    assert_eq!(reset.status, 200);
    assert_eq!(stats(&emu).await.total, 0);
    let anonymous = emu
        .send(emu.http.get(format!("{}/__emulator/stats", emu.base)))
        .await;
    assert_eq!(anonymous.status, 401);
    emu.stop().await;
}

#[tokio::test]
async fn error_rate_and_rate_limit_are_observed() {
    let mut cfg = config();
    cfg.error_rate = 0.5;
    let emu = start(cfg).await;
    let mut failures = 0;
    for _ in 0..60 {
        let a = emu.call(Method::GET, "/projects/", None).await;
        match a.status.as_u16() {
            200 => {}
            503 => {
                failures += 1;
                assert!(a.body["errorType"].is_string());
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!((5..=55).contains(&failures), "{failures} failures out of 60");
    // Stats are never faulty.
    for _ in 0..10 {
        assert_eq!(stats(&emu).await.total, 60);
    }
    emu.stop().await;

    let mut cfg = config();
    cfg.latency = Duration::from_millis(300);
    let emu = start(cfg).await;
    let began = std::time::Instant::now();
    emu.get("/projects/").await;
    assert!(began.elapsed() >= Duration::from_millis(300), "latency applied");
    let began = std::time::Instant::now();
    stats(&emu).await;
    assert!(
        began.elapsed() < Duration::from_millis(300),
        "not to the statistics"
    );
    emu.stop().await;

    let mut cfg = config();
    cfg.rate_limit = Some(3);
    let emu = start(cfg).await;
    let mut limited = None;
    for _ in 0..20 {
        let a = emu.call(Method::GET, "/projects/", None).await;
        if a.status == 429 {
            limited = Some(a);
            break;
        }
    }
    let limited = limited.expect("a request beyond the limit is refused");
    assert!(
        limited.headers["Retry-After"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(emu.call(Method::GET, "/projects/", None).await.status, 200);
    emu.stop().await;
}

#[tokio::test]
async fn state_persists_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.data_dir = Some(dir.path().to_path_buf());
    let emu = start(cfg.clone()).await;
    with_project(&emu, "P").await;
    with_dataset(&emu, "P", "d", json!({"connection": "c"})).await;
    emu.ok(
        Method::POST,
        "/admin/connections/",
        json!({"name": "c", "type": "SQLite", "params": {"password": "pw"}}),
    )
    .await;
    emu.ok(
        Method::POST,
        "/admin/users/",
        json!({"login": "a@b.c", "password": "x"}),
    )
    .await;
    emu.ok(Method::POST, "/admin/groups/", json!({"name": "g"})).await;
    emu.ok(Method::PUT, "/admin/variables/", json!({"v": 1})).await;
    let sql = json!({"query": "CREATE TABLE kept (x INTEGER)", "connection": "c"});
    emu.ok(Method::POST, "/sql/queries/", sql).await;
    let job = emu
        .ok(
            Method::POST,
            "/projects/P/jobs/",
            json!({"outputs": [{"id": "d"}]}),
        )
        .await;
    let before = emu.get("/projects/P/datasets/d").await;
    emu.stop().await;

    let emu = start(cfg).await;
    assert_eq!(emu.get("/projects/P/datasets/d").await, before);
    assert_eq!(emu.get("/projects/P").await["name"], "Project P");
    assert_eq!(emu.get("/admin/connections/c").await["type"], "SQLite");
    assert_eq!(emu.get("/admin/users/a@b.c").await["login"], "a@b.c");
    emu.get("/admin/groups/g").await;
    assert_eq!(emu.get("/admin/variables/").await, json!({"v": 1}));
    let id = job["id"].as_str().unwrap();
    assert!(emu.get(&format!("/projects/P/jobs/{id}/")).await["baseStatus"]["state"].is_string());
    let q = emu
        .ok(
            Method::POST,
            "/sql/queries/",
            json!({"query": "SELECT count(*) AS n FROM kept", "connection": "c"}),
        )
        .await;
    assert_eq!(q["hasResults"], true);
    emu.stop().await;
}

#[tokio::test]
async fn a_corrupt_document_is_reported_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("admin/users");
    std::fs::create_dir_all(&users).unwrap();
    std::fs::write(users.join("broken.json"), b"{\"login\": ").unwrap();
    let mut cfg = config();
    cfg.data_dir = Some(dir.path().to_path_buf());
    let err = emulator::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .err()
        .expect("refused");
    let text = format!("{err:#}");
    assert!(
        text.contains("broken.json") && text.contains("not valid JSON"),
        "{text}"
    );
}

/// A `dssctl emulator` child and the URL it printed.
fn spawn_binary(args: &[&str]) -> (Child, String, BufReader<std::process::ChildStdout>) {
    let mut child = dssctl_command(&["DSS_EMULATOR_ADMIN_KEY"])
        .arg("emulator")
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dssctl runs");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("dssctl emulator listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (child, url, out)
}

fn attach(url: &str) -> Emu {
    Emu {
        base: url.to_string(),
        running: None,
        http: reqwest::Client::new(),
    }
}

#[tokio::test]
async fn the_command_prints_its_address_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, url, mut out) =
        spawn_binary(&["--data-dir", data.to_str().unwrap(), "--job-duration", "50ms"]);
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(!url.ends_with(":0"));
    let mut key_line = String::new();
    out.read_line(&mut key_line).unwrap();
    let key = key_line
        .trim()
        .strip_prefix("admin key: ")
        .expect("generated key printed")
        .to_string();
    let emu = attach(&url);
    let a = emu.call_as(&key, Method::GET, "/projects/", None).await;
    assert_eq!(a.status, 200);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(0));
}

#[tokio::test]
async fn kill_9_during_writes_leaves_a_loadable_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, url, _out) = spawn_binary(&["--data-dir", data.to_str().unwrap(), "--admin-key", ADMIN]);
    let emu = attach(&url);
    with_project(&emu, "P").await;
    // Parallel writers: each records the datasets the emulator acknowledged.
    let mut writers = Vec::new();
    for w in 0..4 {
        let http = emu.http.clone();
        let base = emu.url("/projects/P/datasets/");
        writers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for i in 0.. {
                let name = format!("w{w}_{i}");
                let body = json!({"name": name, "type": "Filesystem", "params": {"path": "x".repeat(2000)}});
                let sent = http
                    .post(&base)
                    .basic_auth(ADMIN, Some(""))
                    .body(body.to_string())
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 200 => acknowledged.push(name),
                    _ => break,
                }
            }
            acknowledged
        }));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let mut acknowledged = Vec::new();
    for w in writers {
        acknowledged.extend(w.await.unwrap());
    }
    assert!(!acknowledged.is_empty(), "some writes happened before the kill");

    let mut cfg = config();
    cfg.data_dir = Some(data.clone());
    let emu = start(cfg).await;
    let list = emu.get("/projects/P/datasets/").await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    for name in &acknowledged {
        assert!(names.contains(&name.as_str()), "acknowledged dataset {name} lost");
    }
    for name in names {
        emu.get(&format!("/projects/P/datasets/{name}")).await;
    }
    assert_no_leftovers(&data);
    emu.stop().await;
}

fn assert_no_leftovers(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(
            !name.contains(".tmp-"),
            "temporary file left: {}",
            entry.path().display()
        );
        if entry.file_type().unwrap().is_dir() {
            assert_no_leftovers(&entry.path());
        }
    }
}

#[tokio::test]
async fn a_fresh_emulator_holds_what_a_fresh_dss_holds_and_empty_holds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.data_dir = Some(dir.path().to_path_buf());
    let emu = start(cfg.clone()).await;
    let admin = emu.get("/admin/users/admin").await;
    assert_eq!(admin["displayName"], "Administrator");
    assert_eq!(admin["groups"], json!(["administrators"]));
    let auth = emu.get("/auth/info").await;
    assert_eq!(auth["authIdentifier"], "admin");
    assert_eq!(auth["groups"], admin["groups"]);
    let groups = emu.get("/admin/groups/").await;
    let names: Vec<&str> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["administrators", "data_team", "readers"]);
    assert_eq!(groups[0]["admin"], true);
    assert_eq!(groups[0]["mayCreateProjects"], false, "full group documents");
    let fs = emu.get("/admin/connections/filesystem_managed").await;
    assert_eq!(
        (fs["type"].as_str(), fs["usableBy"].as_str()),
        (Some("Filesystem"), Some("ALL"))
    );
    // Ordinary objects: a deleted built-in stays deleted after a restart.
    emu.ok(Method::DELETE, "/admin/groups/data_team", Value::Null)
        .await;
    emu.stop().await;
    let emu = start(cfg).await;
    assert_eq!(
        emu.call(Method::GET, "/admin/groups/data_team", None)
            .await
            .status,
        404
    );
    assert_eq!(emu.get("/admin/groups/readers").await["name"], "readers");
    emu.stop().await;

    let empty = start(EmulatorConfig {
        empty: true,
        ..config()
    })
    .await;
    assert_eq!(empty.get("/admin/users/").await, json!([]));
    assert_eq!(empty.get("/admin/connections/").await, json!({}));
    assert_eq!(empty.get("/auth/info").await["groups"], json!(["administrators"]));
    empty.stop().await;
}

#[tokio::test]
async fn creating_a_taken_name_answers_409_or_500_as_configured_and_the_client_sees_it_exists() {
    use dssctl::client::ClientError;
    use dssctl::emulator::ConflictStatus;
    for (conflict, status, error_type) in [
        (ConflictStatus::Conflict, 409, dssctl::wire::ERROR_ALREADY_EXISTS),
        (
            ConflictStatus::ServerError,
            500,
            dssctl::wire::ERROR_ILLEGAL_ARGUMENT,
        ),
    ] {
        let emu = start(EmulatorConfig {
            conflict_status: conflict,
            ..config()
        })
        .await;
        let again = emu
            .call(Method::POST, "/admin/groups/", Some(json!({"name": "readers"})))
            .await;
        assert_eq!(again.status, status);
        assert_eq!(again.body["errorType"], error_type);
        assert!(again.body["message"].as_str().unwrap().contains("already exists"));
        assert!(again.body["detailedMessageHTML"].is_string());
        let client = client(emu.running.as_ref().unwrap(), ADMIN);
        let group = dssctl::wire::Group {
            name: "readers".into(),
            ..Default::default()
        };
        let err = client.create_group(&group).await.unwrap_err();
        assert!(matches!(err, ClientError::AlreadyExists { .. }), "{err:?}");
        assert!(!err.is_ambiguous(), "{err:?}: a retry would never succeed");
        emu.stop().await;
    }
}

#[tokio::test]
async fn a_flag_left_out_of_a_grant_keeps_its_value_and_grants_come_back_whole() {
    let emu = start(config()).await;
    emu.ok(
        Method::POST,
        "/projects/",
        json!({"projectKey": "P", "name": "P", "owner": "admin"}),
    )
    .await;
    let grants = json!({"owner": "admin", "permissions": [
        {"group": "readers", "readProjectContent": true, "writeProjectContent": true}]});
    emu.ok(Method::PUT, "/projects/P/permissions", grants).await;
    let only_write_off = json!({"owner": "admin", "permissions": [
        {"group": "readers", "writeProjectContent": false}]});
    emu.ok(Method::PUT, "/projects/P/permissions", only_write_off)
        .await;
    let p = emu.get("/projects/P/permissions").await;
    assert_eq!(p["permissionsVersion"], "V2");
    let g = &p["permissions"][0];
    assert_eq!(g["readProjectContent"], true, "left out: kept");
    assert_eq!(g["writeProjectContent"], false, "sent false: revoked");
    assert_eq!(g["runScenarios"], false, "every flag answered");
    emu.ok(Method::PUT, "/projects/P/permissions", json!({"permissions": []}))
        .await;
    assert_eq!(emu.get("/projects/P/permissions").await["permissions"], json!([]));
    emu.stop().await;
}

/// Run the dssctl binary against `emu` and answer its exit code and output.
async fn run_dssctl(args: Vec<String>, cwd: &Path) -> std::process::Output {
    let mut cmd = dssctl_command(&[]);
    cmd.args(args).current_dir(cwd);
    crate::support::output(cmd).await
}

#[tokio::test]
async fn a_permission_revoked_in_the_manifests_is_revoked_on_the_instance() {
    use crate::support::{cli_args, copy_quickstart, edit, show};
    let running = start_emulator(ADMIN, config()).await;
    let dir = tempfile::tempdir().unwrap();
    let manifests = copy_quickstart(dir.path());
    let apply = |m: &Path| cli_args("apply", m, &running, ADMIN, &["--auto-approve"]);
    let out = run_dssctl(apply(&manifests), dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let c = client(&running, ADMIN);
    let grant = |p: &dssctl::wire::ProjectPermissions| {
        p.permissions
            .iter()
            .find(|g| g.group.as_deref() == Some("analysts"))
            .cloned()
            .expect("the analysts grant")
    };
    let before = grant(&c.get_project_permissions("CHURN").await.unwrap());
    assert_eq!(before.flags["readProjectContent"], true);

    // Revoke one right in Git; the emulator keeps a flag a grant leaves out, so only an
    // explicit `false` from dssctl revokes it.
    edit(
        &manifests.join("projects/churn.yaml"),
        "      readProjectContent: true\n",
        "",
    );
    let out = run_dssctl(apply(&manifests), dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let after = grant(&c.get_project_permissions("CHURN").await.unwrap());
    assert_eq!(after.flags["readProjectContent"], false, "{after:?}");
    assert_eq!(after.flags["readDashboards"], true, "{after:?}");

    let plan = cli_args("plan", &manifests, &running, ADMIN, &["--detailed-exitcode"]);
    let out = run_dssctl(plan, dir.path()).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "plan after apply shows nothing: {}",
        show(&out)
    );
    running.shutdown().await;
}

#[tokio::test]
async fn plan_after_apply_shows_no_phantom_diff_for_every_kind_against_dss_defaults() {
    use crate::support::{cli_args, show};
    const HEAD: &str = "apiVersion: dssctl/v1\n";
    // One manifest set per kind (with what it needs), each written so that the emulator fills
    // DSS's defaults around it: ability flags, user fields, connection defaults, the project's
    // full settings and grants with every flag, csv format params and server-side fields.
    let kinds: [(&str, String); 6] = [
        (
            "Group",
            format!(
                "{HEAD}kind: Group\nmetadata: {{name: g1}}\nspec: {{description: G, mayWriteSafeCode: true}}\n"
            ),
        ),
        (
            "User",
            format!(
                "{HEAD}kind: User\nmetadata: {{name: u1}}\nspec: {{displayName: U, groups: [readers], email: u@x.org, userProfile: DATA_SCIENTIST}}\n"
            ),
        ),
        (
            "Connection",
            format!(
                "{HEAD}kind: Connection\nmetadata: {{name: c1}}\nspec: {{type: Filesystem, usableBy: ALL, params: {{root: /data}}}}\n"
            ),
        ),
        (
            "Project",
            format!(
                "{HEAD}kind: Project\nmetadata: {{name: K1}}\nspec:\n  label: K\n  owner: admin\n  permissions: [{{group: readers, readDashboards: true}}]\n  variables: {{standard: {{a: 1}}}}\n"
            ),
        ),
        (
            "Dataset",
            format!(
                "{HEAD}kind: Project\nmetadata: {{name: K2}}\nspec: {{label: K2}}\n---\n{HEAD}kind: Dataset\nmetadata: {{name: d1, project: K2}}\nspec:\n  type: Filesystem\n  params: {{connection: filesystem_managed, path: /K2/d1}}\n  formatType: csv\n  formatParams: {{separator: \",\"}}\n  managed: true\n  schema: {{columns: [{{name: id, type: bigint}}]}}\n"
            ),
        ),
        (
            "Variables",
            format!(
                "{HEAD}kind: Variables\nmetadata: {{name: global}}\nspec: {{values: {{v: 1}}, prune: false}}\n"
            ),
        ),
    ];
    let running = start_emulator(ADMIN, config()).await;
    for (kind, text) in kinds {
        let dir = tempfile::tempdir().unwrap();
        let manifests = dir.path().join("m");
        std::fs::create_dir_all(&manifests).unwrap();
        std::fs::write(manifests.join("m.yaml"), text).unwrap();
        let stack = format!("--stack=s{}", kind.to_ascii_lowercase());
        let apply = cli_args("apply", &manifests, &running, ADMIN, &["--auto-approve", &stack]);
        let out = run_dssctl(apply, dir.path()).await;
        assert_eq!(out.status.code(), Some(0), "{kind}: {}", show(&out));
        let plan = cli_args(
            "plan",
            &manifests,
            &running,
            ADMIN,
            &["--detailed-exitcode", &stack],
        );
        let out = run_dssctl(plan, dir.path()).await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{kind}: a phantom diff: {}",
            show(&out)
        );
    }
    running.shutdown().await;
}

/// A proxy to `target` that loses the answer of the first `POST` to `path_suffix`: the write
/// reaches the emulator, the client gets a 502 (an ambiguous failure, as behind a load balancer
/// that timed out).
async fn lossy_proxy(
    target: String,
    path_suffix: &'static str,
) -> (
    String,
    tokio::task::JoinHandle<()>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let lost = Arc::new(AtomicBool::new(false));
    let lost_seen = lost.clone();
    let http = reqwest::Client::new();
    let handler = move |request: axum::extract::Request| {
        let (target, lost, http) = (target.clone(), lost.clone(), http.clone());
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let url = format!("{target}{}", parts.uri);
            let mut forward = http.request(parts.method.clone(), url).body(body);
            for (name, value) in &parts.headers {
                if name != "host" {
                    forward = forward.header(name, value);
                }
            }
            let answer = forward.send().await.unwrap();
            let status = answer.status().as_u16();
            let bytes = answer.bytes().await.unwrap();
            let lose = parts.method == Method::POST
                && parts.uri.path().trim_end_matches('/').ends_with(path_suffix)
                && !lost.swap(true, Ordering::SeqCst);
            if lose {
                (axum::http::StatusCode::BAD_GATEWAY, bytes::Bytes::new())
            } else {
                (axum::http::StatusCode::from_u16(status).unwrap(), bytes)
            }
        }
    };
    let app = axum::Router::new().fallback(handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, task, lost_seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ambiguous_create_converges_whatever_the_conflict_status() {
    use crate::support::show;
    use dssctl::emulator::ConflictStatus;
    for conflict in [ConflictStatus::Conflict, ConflictStatus::ServerError] {
        let running = start_emulator(
            ADMIN,
            EmulatorConfig {
                conflict_status: conflict,
                ..config()
            },
        )
        .await;
        let (proxy, task, lost) = lossy_proxy(running.url.clone(), "/admin/groups").await;
        let dir = tempfile::tempdir().unwrap();
        let manifests = dir.path().join("m");
        std::fs::create_dir_all(&manifests).unwrap();
        std::fs::write(
            manifests.join("g.yaml"),
            "apiVersion: dssctl/v1\nkind: Group\nmetadata: {name: ambiguous}\nspec: {description: A}\n",
        )
        .unwrap();
        let args: Vec<String> = [
            "apply",
            manifests.to_str().unwrap(),
            "--url",
            &proxy,
            "--api-key",
            ADMIN,
            "--auto-approve",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let out = run_dssctl(args, dir.path()).await;
        assert_eq!(out.status.code(), Some(0), "{conflict:?}: {}", show(&out));
        assert!(
            lost.load(std::sync::atomic::Ordering::SeqCst),
            "the create's answer was lost"
        );
        let groups = client(&running, ADMIN).list_groups().await.unwrap();
        assert_eq!(
            groups.iter().filter(|g| g.name == "ambiguous").count(),
            1,
            "{conflict:?}"
        );
        task.abort();
        running.shutdown().await;
    }
}
