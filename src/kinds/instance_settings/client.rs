//! The instance's general settings (`GET/PUT /admin/general-settings`): one document, read and
//! written whole, admin only.
//!
//! DSS answers 200 to a PUT even when it dropped top-level fields it does not know, so a caller
//! that needs to know what was kept reads the document back. The secrets DSS encrypts in this
//! document (the LDAP bind password, SSO and Azure AD client secrets) come back as `e:AES:...`
//! placeholders; a PUT that sends a placeholder back keeps the stored secret.

use reqwest::Method;
use serde_json::{Map, Value};

use crate::client::{ApiPath, Call, ClientError, DssClient};

/// The paths of the secret fields DSS encrypts in the general settings, from the root.
pub(crate) const SECRET_PATHS: &[&str] = &[
    "ldapSettings.bindPassword",
    "ssoSettings.samlSPParams.keystorePassword",
    "ssoSettings.openIDParams.clientSecret",
    "azureADSettings.credentialsClientSecret",
    "azureADSettings.credentialsCertificatePassword",
];

fn path() -> ApiPath {
    ApiPath::new().lit("admin/general-settings")
}

impl DssClient {
    /// `GET /admin/general-settings`: the whole document.
    pub(crate) async fn get_general_settings(&self) -> Result<Map<String, Value>, ClientError> {
        self.get(path()).await
    }

    /// `PUT /admin/general-settings`: replaces the whole document. The values of the secret
    /// fields are kept out of any error text.
    pub(crate) async fn set_general_settings(
        &self,
        settings: &Map<String, Value>,
    ) -> Result<(), ClientError> {
        let doc = Value::Object(settings.clone());
        let secrets: Vec<&str> = SECRET_PATHS
            .iter()
            .filter_map(|p| p.split('.').try_fold(&doc, |cur, part| cur.get(part)))
            .filter_map(Value::as_str)
            .filter(|s| !s.is_empty())
            .collect();
        let mut call = Call::new(Method::PUT, path()).json(settings)?;
        for s in secrets {
            call = call.secret(s);
        }
        self.send(call).await.map(drop)
    }
}
