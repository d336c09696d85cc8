//! Client configuration: the DSS URL, the API key (kept in a [`Secret`]), TLS options and the
//! retry and concurrency limits; and building the underlying HTTP client from it.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};

use super::error::ClientError;

/// A secret string (an API key, a password). Its `Debug` and `Display` never show the value;
/// read it with [`Secret::expose`] at the one place it must be sent.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub(crate) fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value. Call it only where the value leaves the process (an HTTP header).
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(sensitive)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(sensitive)")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_string())
    }
}

/// How to reach one DSS instance.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL of DSS, e.g. `https://dss.example.com:11200` (a path prefix is kept).
    pub url: String,
    /// The API key, sent as the user of HTTP Basic auth.
    pub api_key: Secret,
    /// Accept any TLS certificate (self-signed test instances only).
    pub insecure: bool,
    /// A PEM file of extra CA certificates to trust, on top of the system roots.
    pub ca_cert: Option<PathBuf>,
    /// At most this many requests in flight at once, across all clones of the client.
    pub max_in_flight: usize,
    /// How many times a failed idempotent call is repeated (so up to `max_retries + 1` attempts).
    pub max_retries: u32,
    /// Delay before the first retry; doubles on each further retry (with jitter).
    pub base_backoff: Duration,
}

/// Default bound on requests in flight.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 8;
/// Default number of retries of an idempotent call.
pub const DEFAULT_MAX_RETRIES: u32 = 5;
/// Default delay before the first retry.
pub const DEFAULT_BASE_BACKOFF: Duration = Duration::from_millis(200);

/// Time allowed to open a TCP/TLS connection.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for a whole request, body included (exports can be large).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

impl ClientConfig {
    /// A configuration with the default limits.
    pub fn new(url: impl Into<String>, api_key: impl Into<Secret>) -> Self {
        ClientConfig {
            url: url.into(),
            api_key: api_key.into(),
            insecure: false,
            ca_cert: None,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_retries: DEFAULT_MAX_RETRIES,
            base_backoff: DEFAULT_BASE_BACKOFF,
        }
    }

    /// Parse and check the base URL: http or https, with a host.
    pub(crate) fn base_url(&self) -> Result<url::Url, ClientError> {
        let url = url::Url::parse(self.url.trim())
            .map_err(|e| ClientError::Config(format!("DSS URL {:?} is not a valid URL: {e}", self.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ClientError::Config(format!(
                "DSS URL {:?} must start with http:// or https://",
                self.url
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ClientError::Config(format!("DSS URL {:?} has no host", self.url)));
        }
        if !url.username().is_empty() || url.password().is_some() {
            // Credentials in the URL would end up in error messages and logs.
            return Err(ClientError::Config(
                "the DSS URL must not contain credentials; give the API key separately".to_string(),
            ));
        }
        Ok(url)
    }

    /// Build the HTTP client: Basic auth with the key as user (what the official client sends),
    /// TLS options, timeouts.
    pub(crate) fn http_client(&self) -> Result<reqwest::Client, ClientError> {
        if self.api_key.is_empty() {
            return Err(ClientError::Config("the API key is empty".to_string()));
        }
        let mut headers = HeaderMap::new();
        let token = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{}:", self.api_key.expose()),
        );
        let mut auth = HeaderValue::from_str(&format!("Basic {token}")).map_err(|_| {
            ClientError::Config("the API key contains characters not allowed in a header".into())
        })?;
        // Keeps the header out of hyper's and reqwest's Debug output.
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        headers.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );

        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("dssctl/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .tls_danger_accept_invalid_certs(self.insecure);
        if let Some(path) = &self.ca_cert {
            let pem = std::fs::read(path).map_err(|e| {
                ClientError::Config(format!("cannot read CA certificate file {}: {e}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                ClientError::Config(format!(
                    "CA certificate file {} is not valid PEM: {e}",
                    path.display()
                ))
            })?;
            if certs.is_empty() {
                return Err(ClientError::Config(format!(
                    "CA certificate file {} holds no certificate",
                    path.display()
                )));
            }
            builder = builder.tls_certs_merge(certs);
        }
        if self.ca_cert.is_none() && self.base_url()?.scheme() == "http" {
            // Plain HTTP needs no trust store, so the system's is not loaded: that takes tens
            // of milliseconds at every start, and fails on a machine that has none. A redirect
            // to HTTPS is refused instead of followed, naming the URL to give.
            builder = builder
                .tls_certs_only(Vec::new())
                .redirect(reqwest::redirect::Policy::custom(plain_http_redirects));
        }
        builder
            .build()
            .map_err(|e| ClientError::Config(format!("cannot build the HTTP client: {e}")))
    }
}

/// How many redirects a call follows, as reqwest does by default.
const MAX_REDIRECTS: usize = 10;

/// The redirect policy of a client for a plain-HTTP URL: redirects within HTTP are followed,
/// one to HTTPS is an error that says which URL to use.
fn plain_http_redirects(attempt: reqwest::redirect::Attempt<'_>) -> reqwest::redirect::Action {
    if attempt.url().scheme() == "https" {
        let mut to = attempt.url().clone();
        to.set_path("");
        to.set_query(None);
        let message = format!("DSS redirects to HTTPS: give the URL {to} instead");
        attempt.error(message)
    } else if attempt.previous().len() > MAX_REDIRECTS {
        attempt.error("too many redirects")
    } else {
        attempt.follow()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_key() {
        let config = ClientConfig::new("http://127.0.0.1:1", "s3cr3t-key");
        let shown = format!("{config:?} {}", config.api_key);
        assert!(!shown.contains("s3cr3t-key"), "{shown}");
        assert!(shown.contains("(sensitive)"));
    }

    #[test]
    fn urls_are_checked() {
        for bad in ["", "dss.example.com", "ftp://dss", "http://", "http://key:@dss:1"] {
            let err = ClientConfig::new(bad, "k").base_url().unwrap_err();
            assert!(matches!(err, ClientError::Config(_)), "{bad}: {err:?}");
        }
        assert!(
            ClientConfig::new("https://dss.example.com/prefix/", "k")
                .base_url()
                .is_ok()
        );
    }

    #[test]
    fn a_missing_ca_file_is_a_clear_error() {
        crate::install_crypto_provider();
        let mut config = ClientConfig::new("https://dss.example.com", "k");
        config.ca_cert = Some(PathBuf::from("/nonexistent/ca.pem"));
        let err = config.http_client().unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn an_invalid_ca_file_is_a_clear_error() {
        crate::install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        let mut config = ClientConfig::new("https://dss.example.com", "k");
        config.ca_cert = Some(path);
        let err = config.http_client().unwrap_err();
        assert!(err.to_string().contains("ca.pem"), "{err}");
    }

    /// A self-signed test CA certificate (public part only).
    const TEST_CA: &str = "-----BEGIN CERTIFICATE-----\nMIIBiTCCAS+gAwIBAgIUBSf0rQeFzQQbi114Xazb4HQwqQ4wCgYIKoZIzj0EAwIw\nGTEXMBUGA1UEAwwOZHNzY3RsIHRlc3QgQ0EwIBcNMjYxMTI4MDAyNjMyWhgPMjEy\nNjExMDQwMDI2MzJaMBkxFzAVBgNVBAMMDmRzc2N0bCB0ZXN0IENBMFkwEwYHKoZI\nzj0CAQYIKoZIzj0DAQcDQgAEo0OEO2oWcWanvh9SjS0SO7FTQ/YpuIA6ygcNlQqT\nVSB/6jPiUOiM1l8K5IQwjlM2/P7X47cTF1OMyn0M1Zhn/qNTMFEwHQYDVR0OBBYE\nFNdXBH+sl8MUhRQE6Y/DCWNKFRQrMB8GA1UdIwQYMBaAFNdXBH+sl8MUhRQE6Y/D\nCWNKFRQrMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgSf9fmZoj\nRTt+E9HA3IOtdA+7zkXa2r9lpmTgR8a/L/UCIQCwdmPqwOa4Sk4kSe5wkfLEfu7k\nAanoFAy7DvnE4lEFmA==\n-----END CERTIFICATE-----";

    #[test]
    fn a_valid_ca_file_and_insecure_mode_build_a_client() {
        crate::install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, TEST_CA).unwrap();
        let mut config = ClientConfig::new("https://dss.example.com", "k");
        config.ca_cert = Some(path);
        config.http_client().unwrap();
        let mut insecure = ClientConfig::new("https://dss.example.com", "k");
        insecure.insecure = true;
        insecure.http_client().unwrap();
    }

    #[test]
    fn an_empty_key_is_refused() {
        crate::install_crypto_provider();
        let err = ClientConfig::new("http://127.0.0.1:1", "")
            .http_client()
            .unwrap_err();
        assert!(err.to_string().contains("API key"));
    }
}
