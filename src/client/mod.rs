//! The DSS REST client: auth, TLS options, a bound on requests in flight, retries with
//! backoff, and errors typed from DSS error bodies.
//!
//! Layout: [`config`] (URL, key, TLS, limits), [`transport`] (one call with retries and the
//! in-flight bound), [`error`] (typed errors), then the calls that are not one kind's:
//! `projects` (projects are read and created by several stages), `admin` (connections, users,
//! groups, global variables: the ledger and the stack lock use them too), `jobs` and
//! `scenarios` (the runs `dssctl build` makes), and `instance` (instance and auth info,
//! futures). The calls that create, read, update and delete one kind's objects live with that
//! kind (`kinds::<kind>::client`, an `impl DssClient` block over the primitives below). Every
//! call uses the documented `/public/api` prefix and the wire types of [`crate::wire`], shared
//! with the emulator.

mod admin;
mod config;
mod error;
mod instance;
mod jobs;
mod prefetch;
mod projects;
mod scenarios;
mod transport;

use std::sync::Arc;

use serde::de::DeserializeOwned;

pub use config::{ClientConfig, DEFAULT_BASE_BACKOFF, DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_RETRIES, Secret};
pub use error::ClientError;
pub use jobs::JobWait;

pub(crate) use admin::{connection_list_path, global_variables_path, group_list_path, user_list_path};
pub(crate) use projects::{project_list_path, project_permissions_path, project_variables_path};
use transport::Transport;
pub(crate) use transport::{Answer, ApiPath, Call, Repeat};

/// A client of one DSS instance. Cheap to clone: clones share the connection pool and the
/// bound on requests in flight.
#[derive(Clone)]
pub struct DssClient {
    transport: Arc<Transport>,
}

impl std::fmt::Debug for DssClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DssClient")
            .field("transport", &self.transport)
            .finish()
    }
}

impl DssClient {
    /// Build a client. Fails on a bad URL, an empty key or an unreadable CA file; nothing is
    /// sent until the first call. The rustls crypto provider must be installed
    /// ([`crate::install_crypto_provider`]).
    pub fn new(config: ClientConfig) -> Result<Self, ClientError> {
        Ok(DssClient {
            transport: Arc::new(Transport::new(&config)?),
        })
    }

    /// The base URL this client talks to.
    pub(crate) fn url(&self) -> &str {
        self.transport.base_url().as_str()
    }

    /// Name the stack-lock holder on every later write of this client and its clones
    /// (`None`: stop), so that DSS's access log (and the emulator's statistics) can tell whose
    /// writes they are.
    pub(crate) fn set_lock_holder(&self, holder: Option<&str>) {
        self.transport.set_lock_holder(holder);
    }

    /// Hold this while reading, changing and writing back the global variables: DSS stores them
    /// as one document that a PUT replaces whole, so two read-modify-writes of one process
    /// (the ledger's, the stack lock's) must not interleave.
    pub(crate) async fn lock_variables(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.transport.variables.lock().await
    }

    pub(crate) async fn send(&self, call: Call<'_>) -> Result<Answer, ClientError> {
        if call.method == reqwest::Method::GET
            && call.query.is_empty()
            && call.body.is_none()
            && let Some(pending) = self.transport.prefetched.take(&call.path.display())
        {
            return pending.await;
        }
        self.transport.execute(call).await
    }

    /// Start a new round of prefetching (see [`prefetch`]): the round to pass to
    /// [`DssClient::prefetch`]. A client prefetches in round 0 from its creation.
    pub(crate) fn open_prefetch(&self) -> u64 {
        self.transport.prefetched.open()
    }

    /// The current round of prefetching; `None` while closed.
    pub(crate) fn prefetch_round(&self) -> Option<u64> {
        self.transport.prefetched.round()
    }

    /// Start the GET of `path` now, for a later GET of it to take its answer (see
    /// [`prefetch`]); `None` when `round` is closed or over, or when it is already started.
    pub(crate) fn prefetch(&self, round: u64, path: ApiPath) -> Option<prefetch::Pending> {
        let transport = self.transport.clone();
        let shown = path.display();
        self.transport.prefetched.start(round, shown, async move {
            transport.execute(Call::new(reqwest::Method::GET, path)).await
        })
    }

    /// Stop prefetching: the answers nobody took are dropped, and every later GET goes to DSS.
    pub(crate) fn close_prefetch(&self) {
        self.transport.prefetched.close();
    }

    pub(crate) async fn send_json<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, ClientError> {
        let method = call.method.to_string();
        let path = call.path.clone();
        let answer = self.send(call).await?;
        transport::decode(&method, &path, &answer)
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, path: ApiPath) -> Result<T, ClientError> {
        self.send_json(Call::new(reqwest::Method::GET, path)).await
    }

    /// PUT a whole document; DSS's answer body is not relied upon (it varies by version).
    pub(crate) async fn put<B: serde::Serialize + ?Sized>(
        &self,
        path: ApiPath,
        body: &B,
    ) -> Result<(), ClientError> {
        self.send(Call::new(reqwest::Method::PUT, path).json(body)?)
            .await
            .map(drop)
    }

    /// POST a create call; the answer body is not relied upon (a bare string on some versions).
    pub(crate) async fn post<B: serde::Serialize + ?Sized>(
        &self,
        path: ApiPath,
        body: &B,
    ) -> Result<(), ClientError> {
        self.send(Call::new(reqwest::Method::POST, path).json(body)?)
            .await
            .map(drop)
    }

    pub(crate) async fn delete(&self, path: ApiPath) -> Result<(), ClientError> {
        self.send(Call::new(reqwest::Method::DELETE, path))
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests;
