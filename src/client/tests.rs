//! Transport behaviour tested against a scripted HTTP server on 127.0.0.1:0: retries and their
//! bounds, `Retry-After`, POSTs never repeated blindly, the in-flight bound, auth, error typing
//! and secrets kept out of errors. The DSS behaviour itself is tested against the emulator in
//! `tests/it/client.rs`.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::wire::{CreateProjectRequest, ErrorBody, User};

/// One scripted answer.
#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn reply(status: u16, body: serde_json::Value) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: body.to_string(),
    }
}

fn dss_error(status: u16, error_type: &str, message: &str) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: serde_json::to_string(&ErrorBody::new(error_type, message)).unwrap(),
    }
}

/// What the server saw of one request.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    query: String,
    authorization: String,
    body: String,
}

#[derive(Default)]
struct ServerState {
    /// Answers per `"METHOD /path"`, consumed in order; when none is left, 200 `{}`.
    script: Mutex<HashMap<String, VecDeque<Reply>>>,
    seen: Mutex<Vec<Seen>>,
    delay: Mutex<Duration>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

struct FakeDss {
    state: Arc<ServerState>,
    url: String,
}

impl FakeDss {
    async fn start() -> FakeDss {
        let state = Arc::new(ServerState::default());
        let handler_state = state.clone();
        let app =
            axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = handler_state.clone();
                async move { answer(state, method, uri, headers, body).await }
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeDss {
            state,
            url: format!("http://{addr}"),
        }
    }

    fn script(&self, route: &str, replies: Vec<Reply>) {
        self.state
            .script
            .lock()
            .unwrap()
            .entry(route.to_string())
            .or_default()
            .extend(replies);
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    fn count(&self, route: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| format!("{} {}", s.method, s.path) == route)
            .count()
    }

    fn client(&self, configure: impl FnOnce(&mut ClientConfig)) -> DssClient {
        crate::install_crypto_provider();
        let mut config = ClientConfig::new(self.url.clone(), "the-api-key");
        config.base_backoff = Duration::from_millis(1);
        configure(&mut config);
        DssClient::new(config).unwrap()
    }
}

async fn answer(
    state: Arc<ServerState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let path = uri
        .path()
        .strip_prefix("/public/api")
        .unwrap_or(uri.path())
        .to_string();
    state.seen.lock().unwrap().push(Seen {
        method: method.to_string(),
        path: path.clone(),
        query: uri.query().unwrap_or_default().to_string(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let delay = *state.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let scripted = state
        .script
        .lock()
        .unwrap()
        .get_mut(&format!("{method} {path}"))
        .and_then(VecDeque::pop_front);
    let reply = scripted.unwrap_or_else(|| reply(200, serde_json::json!({})));
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

fn project_json(key: &str) -> serde_json::Value {
    serde_json::json!({"projectKey": key, "name": key, "tags": []})
}

#[tokio::test]
async fn gets_are_retried_on_503_and_succeed() {
    let dss = FakeDss::start().await;
    dss.script(
        "GET /projects/P",
        vec![
            reply(503, serde_json::json!({})),
            reply(502, serde_json::json!({})),
            reply(200, project_json("P")),
        ],
    );
    let project = dss.client(|_| {}).get_project("P").await.unwrap();
    assert_eq!(project.project_key, "P");
    assert_eq!(dss.count("GET /projects/P"), 3);
}

#[tokio::test]
async fn retries_are_bounded() {
    let dss = FakeDss::start().await;
    dss.script("GET /projects/", vec![reply(503, serde_json::json!({})); 10]);
    let err = dss
        .client(|c| c.max_retries = 2)
        .list_projects()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert!(err.is_retryable());
    assert_eq!(dss.count("GET /projects/"), 3, "one attempt and two retries");
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let dss = FakeDss::start().await;
    let mut limited = reply(429, serde_json::json!({}));
    limited.headers.push(("retry-after", "0.4".to_string()));
    dss.script("PUT /projects/P/metadata", vec![limited]);
    let started = Instant::now();
    dss.client(|_| {})
        .set_project_metadata("P", &Default::default())
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(dss.count("PUT /projects/P/metadata"), 2);
}

#[tokio::test]
async fn a_post_is_not_repeated_after_an_ambiguous_failure() {
    let dss = FakeDss::start().await;
    dss.script("POST /projects/", vec![reply(503, serde_json::json!({}))]);
    let req = CreateProjectRequest {
        project_key: "P".into(),
        ..Default::default()
    };
    let err = dss.client(|_| {}).create_project(&req).await.unwrap_err();
    assert!(err.is_ambiguous(), "{err:?}");
    assert_eq!(dss.count("POST /projects/"), 1);
}

#[tokio::test]
async fn a_post_is_repeated_after_a_429() {
    let dss = FakeDss::start().await;
    dss.script("POST /projects/", vec![reply(429, serde_json::json!({}))]);
    let req = CreateProjectRequest {
        project_key: "P".into(),
        ..Default::default()
    };
    dss.client(|_| {}).create_project(&req).await.unwrap();
    assert_eq!(dss.count("POST /projects/"), 2);
    let body: serde_json::Value = serde_json::from_str(&dss.seen()[1].body).unwrap();
    assert_eq!(body["projectKey"], "P");
}

#[tokio::test]
async fn a_delete_that_finds_nothing_after_an_ambiguous_attempt_succeeded() {
    let dss = FakeDss::start().await;
    dss.script(
        "DELETE /admin/groups/g",
        vec![
            reply(504, serde_json::json!({})),
            dss_error(404, crate::wire::ERROR_NOT_FOUND, "Group g does not exist"),
        ],
    );
    dss.client(|_| {}).delete_group("g").await.unwrap();
    // Without an earlier attempt, a missing object is still an error.
    dss.script(
        "DELETE /admin/groups/h",
        vec![dss_error(404, crate::wire::ERROR_NOT_FOUND, "no")],
    );
    let err = dss.client(|_| {}).delete_group("h").await.unwrap_err();
    assert!(err.is_not_found());
}

#[tokio::test]
async fn client_errors_are_not_retried_and_are_typed() {
    let dss = FakeDss::start().await;
    dss.script(
        "GET /admin/connections/pg",
        vec![dss_error(
            500,
            crate::wire::ERROR_ILLEGAL_ARGUMENT,
            "Connection 'pg' does not exist",
        )],
    );
    dss.script(
        "GET /projects/",
        vec![dss_error(401, crate::wire::ERROR_UNAUTHORIZED, "No API key")],
    );
    let client = dss.client(|_| {});
    assert!(client.get_connection("pg").await.unwrap_err().is_not_found());
    assert!(matches!(
        client.list_projects().await.unwrap_err(),
        ClientError::Unauthorized { .. }
    ));
    assert_eq!(dss.count("GET /admin/connections/pg"), 1);
    assert_eq!(dss.count("GET /projects/"), 1);
}

#[tokio::test]
async fn requests_in_flight_are_bounded() {
    let dss = FakeDss::start().await;
    *dss.state.delay.lock().unwrap() = Duration::from_millis(50);
    let client = dss.client(|c| c.max_in_flight = 3);
    let calls = (0..12).map(|i| {
        let client = client.clone();
        async move { client.get_project_metadata(&format!("P{i}")).await }
    });
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
    assert_eq!(dss.seen().len(), 12);
    assert_eq!(dss.state.max_in_flight.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn auth_is_basic_with_the_key_as_user() {
    let dss = FakeDss::start().await;
    dss.client(|_| {}).get_global_variables().await.unwrap();
    let expected = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "the-api-key:")
    );
    assert_eq!(dss.seen()[0].authorization, expected);
}

#[tokio::test]
async fn query_parameters_and_paths() {
    let dss = FakeDss::start().await;
    dss.script("GET /projects/P/jobs/", vec![reply(200, serde_json::json!([]))]);
    let client = dss.client(|_| {});
    client.delete_dataset("P", "d.v2", true).await.unwrap();
    client.list_jobs("P", Some(5)).await.unwrap();
    let seen = dss.seen();
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("DELETE", "/projects/P/datasets/d.v2")
    );
    assert_eq!(seen[0].query, "dropData=true");
    assert_eq!(seen[1].query, "limit=5");
    let err = client.get_dataset("P", "..").await.unwrap_err();
    assert!(matches!(err, ClientError::InvalidName { .. }));
    assert_eq!(dss.seen().len(), 2, "an invalid name is refused before sending");
}

#[tokio::test]
async fn project_deletion_follows_the_future() {
    let dss = FakeDss::start().await;
    dss.script(
        "DELETE /projects/P",
        vec![reply(
            200,
            serde_json::json!({"jobId": "f1", "hasResult": false, "alive": true}),
        )],
    );
    dss.script(
        "GET /futures/f1",
        vec![
            reply(
                200,
                serde_json::json!({"jobId": "f1", "hasResult": false, "alive": true}),
            ),
            reply(
                200,
                serde_json::json!({"jobId": "f1", "hasResult": true, "alive": false, "result": {}}),
            ),
        ],
    );
    dss.client(|_| {}).delete_project("P").await.unwrap();
    assert_eq!(dss.count("GET /futures/f1"), 2);
    assert!(dss.seen()[0].query.contains("wait=true"));
}

#[tokio::test]
async fn secrets_never_reach_errors_or_debug_output() {
    let dss = FakeDss::start().await;
    // A server that echoes what it got: the error must still not show the password or the key.
    dss.script(
        "POST /admin/users/",
        vec![dss_error(
            400,
            "java.lang.IllegalArgumentException",
            "bad user {password: hunter2} key the-api-key",
        )],
    );
    let client = dss.client(|_| {});
    let user = User {
        login: "alice".into(),
        password: Some("hunter2".into()),
        ..Default::default()
    };
    let err = client.create_user(&user).await.unwrap_err();
    let shown = format!("{err} {err:?} {client:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("the-api-key"), "{shown}");
    assert!(
        shown.contains("alice") || shown.contains("/admin/users/"),
        "{shown}"
    );
}

#[tokio::test]
async fn connection_resets_are_retried_for_reads() {
    // A raw server that drops the first connection without answering, then answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let mut buf = vec![0u8; 4096];
            let _ = socket.read(&mut buf).await;
            if n == 0 {
                drop(socket);
                continue;
            }
            let body = r#"{"dssVersion":"14.3.3","nodeId":"n","nodeName":"n","nodeType":"design"}"#;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(body.as_bytes()).await;
        }
    });
    crate::install_crypto_provider();
    let mut config = ClientConfig::new(format!("http://{addr}"), "k");
    config.base_backoff = Duration::from_millis(1);
    let info = DssClient::new(config).unwrap().instance_info().await.unwrap();
    assert_eq!(info.dss_version, "14.3.3");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_error_sent_nowhere() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    crate::install_crypto_provider();
    let mut config = ClientConfig::new(format!("http://{addr}"), "k");
    config.base_backoff = Duration::from_millis(1);
    config.max_retries = 1;
    let client = DssClient::new(config).unwrap();
    let err = client
        .create_group(&crate::wire::Group {
            name: "g".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Transport {
                before_sending: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        !err.is_ambiguous(),
        "nothing was sent, so nothing can have been created"
    );
    assert!(err.to_string().contains("cannot connect"), "{err}");
}

/// A `tracing` writer into a shared buffer, to check what the client logs.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn debug_logs_name_each_attempt_and_never_a_secret() {
    // A process-wide subscriber: a thread-scoped one races with the other tests, which register
    // the client's callsites concurrently and can leave them cached as "never interested".
    static LOGS: std::sync::OnceLock<LogBuffer> = std::sync::OnceLock::new();
    let logs = LOGS
        .get_or_init(|| {
            let logs = LogBuffer::default();
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::DEBUG)
                .with_ansi(false)
                .with_writer(logs.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
            logs
        })
        .clone();

    let dss = FakeDss::start().await;
    dss.script("PUT /admin/users/alice", vec![reply(503, serde_json::json!({}))]);
    dss.script(
        "POST /admin/users/",
        vec![dss_error(
            400,
            "java.lang.IllegalArgumentException",
            "hunter2 rejected",
        )],
    );
    let client = dss.client(|_| {});
    let user = User {
        login: "alice".into(),
        password: Some("hunter2".into()),
        ..Default::default()
    };
    client.update_user("alice", &user).await.unwrap();
    client.create_user(&user).await.unwrap_err();

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("PUT") && text.contains("/admin/users/alice"),
        "{text}"
    );
    assert!(
        text.contains("status=503") && text.contains("attempt=2"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!text.contains("the-api-key"), "{text}");
    assert!(
        !text.contains("dGhlLWFwaS1rZXk6"),
        "no base64 of the key either: {text}"
    );
}

#[tokio::test]
async fn a_post_is_repeated_when_the_connection_could_not_be_opened() {
    // Reserve a port, close it, and open it again shortly after the first attempt was refused.
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = reserved.local_addr().unwrap();
    drop(reserved);
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buf = vec![0u8; 8192];
            let _ = socket.read(&mut buf).await;
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
                .await;
        }
    });
    crate::install_crypto_provider();
    let mut config = ClientConfig::new(format!("http://{addr}"), "k");
    config.base_backoff = Duration::from_millis(300);
    let client = DssClient::new(config).unwrap();
    client
        .create_group(&crate::wire::Group {
            name: "g".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        requests.load(Ordering::SeqCst),
        1,
        "the refused attempt never reached the server"
    );
}
