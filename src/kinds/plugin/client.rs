//! Plugins (`/plugins/...`): list, install and update from the store, a Git repository or a
//! zip, settings, the plugin's code env, and delete. All of these need an admin key.
//!
//! Installs, updates, the code env creation and the deletion answer a DSS future (the zip
//! upload may answer its result at once): each call here follows it to its end and returns the
//! result, and a result whose messages say it failed is an error.

use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{ApiPath, Call, ClientError, DssClient};

fn plugin(id: &str) -> Result<ApiPath, ClientError> {
    ApiPath::new().lit("plugins").name("plugin id", id)
}

/// Where a plugin is installed from, as the install and update calls take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSource {
    /// The plugin store, at `version` (the latest when `None`).
    Store { version: Option<String> },
    /// A Git repository at `checkout`, the plugin under `subpath`.
    Git {
        repository: String,
        checkout: String,
        subpath: String,
    },
    /// A zip archive's bytes.
    Zip { archive: Vec<u8> },
}

/// A multipart body with one part, `file`, holding `bytes` (what the official client uploads).
fn multipart(bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("dssctl-{:016x}", rand::random::<u64>());
    let mut body = Vec::with_capacity(bytes.len() + 256);
    body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    body.extend_from_slice(b"Content-Disposition: form-data; name=\"file\"; filename=\"plugin.zip\"\r\n");
    body.extend_from_slice(b"Content-Type: application/zip\r\n\r\n");
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A result whose messages say it failed, as an error.
fn check(what: &str, result: Value) -> Result<Value, ClientError> {
    let block = result.get("messages");
    let failed = block.is_some_and(|b| {
        ["error", "fatal"]
            .iter()
            .any(|k| b.get(*k).and_then(Value::as_bool) == Some(true))
    }) || result.get("success").and_then(Value::as_bool) == Some(false);
    if !failed {
        return Ok(result);
    }
    let texts: Vec<&str> = block
        .and_then(|b| b.get("messages"))
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|m| m.get("message").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    Err(ClientError::Task(format!("{what} failed: {}", texts.join("; "))))
}

impl DssClient {
    /// `GET /plugins/`: one item per installed plugin (`id`, `version`, `installedFrom`,
    /// `codeEnvSpec`, `gitReference`, ...).
    pub async fn list_plugins(&self) -> Result<Vec<Value>, ClientError> {
        self.get(ApiPath::new().lit("plugins").slash()).await
    }

    /// `GET /plugins/{id}/settings`: the instance-level settings.
    pub async fn get_plugin_settings(&self, id: &str) -> Result<Value, ClientError> {
        self.get(plugin(id)?.lit("settings")).await
    }

    /// `POST /plugins/{id}/settings`: save the whole instance-level settings document.
    pub async fn set_plugin_settings(&self, id: &str, settings: &Value) -> Result<(), ClientError> {
        self.post(plugin(id)?.lit("settings"), settings).await
    }

    /// Install plugin `id` from `source`, following DSS's future; the result (`pluginId`,
    /// `pluginVersion`, `pluginDesc`).
    pub async fn install_plugin(&self, id: &str, source: &PluginSource) -> Result<Value, ClientError> {
        let call = match source {
            PluginSource::Store { version } => {
                let mut body = json!({ "pluginId": id });
                if let Some(v) = version {
                    body["version"] = json!(v);
                }
                Call::new(
                    Method::POST,
                    ApiPath::new().lit("plugins/actions/installFromStore"),
                )
                .json(&body)?
            }
            PluginSource::Git {
                repository,
                checkout,
                subpath,
            } => Call::new(Method::POST, ApiPath::new().lit("plugins/actions/installFromGit")).json(
                &json!({"gitRepositoryUrl": repository, "gitCheckout": checkout, "gitSubpath": subpath}),
            )?,
            PluginSource::Zip { archive } => {
                let (content_type, body) = multipart(archive);
                Call::new(Method::POST, ApiPath::new().lit("plugins/actions/installFromZip"))
                    .bytes(content_type, body)
            }
        };
        self.run_plugin_call(&format!("the installation of plugin {id}"), call)
            .await
    }

    /// Update the installed plugin `id` from `source` (a reinstall at the new version or
    /// checkout; its settings are kept), following DSS's future.
    pub(crate) async fn update_plugin(&self, id: &str, source: &PluginSource) -> Result<Value, ClientError> {
        let base = plugin(id)?;
        let call = match source {
            PluginSource::Store { version } => {
                let body = match version {
                    Some(v) => json!({ "version": v }),
                    None => json!({}),
                };
                Call::new(Method::POST, base.lit("actions/updateFromStore")).json(&body)?
            }
            PluginSource::Git {
                repository,
                checkout,
                subpath,
            } => Call::new(Method::POST, base.lit("actions/updateFromGit")).json(
                &json!({"gitRepositoryUrl": repository, "gitCheckout": checkout, "gitSubpath": subpath}),
            )?,
            PluginSource::Zip { archive } => {
                let (content_type, body) = multipart(archive);
                Call::new(Method::POST, base.lit("actions/updateFromZip")).bytes(content_type, body)
            }
        };
        self.run_plugin_call(&format!("the update of plugin {id}"), call)
            .await
    }

    /// `POST /plugins/{id}/code-env/actions/create`: create the code env the plugin declares
    /// (managed by DSS), following DSS's future; the env's name.
    pub(crate) async fn create_plugin_code_env(&self, id: &str) -> Result<String, ClientError> {
        let call = Call::new(Method::POST, plugin(id)?.lit("code-env/actions/create"))
            .json(&json!({"deploymentMode": "PLUGIN_MANAGED"}))?;
        let result = self
            .run_plugin_call(&format!("the code env creation of plugin {id}"), call)
            .await?;
        result
            .get("envName")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| ClientError::Task(format!("DSS named no code env for plugin {id}")))
    }

    /// `POST /plugins/{id}/actions/delete`, following DSS's future.
    pub(crate) async fn delete_plugin(&self, id: &str, force: bool) -> Result<(), ClientError> {
        let call =
            Call::new(Method::POST, plugin(id)?.lit("actions/delete")).json(&json!({ "force": force }))?;
        self.run_plugin_call(&format!("the deletion of plugin {id}"), call)
            .await
            .map(drop)
    }

    async fn run_plugin_call(&self, what: &str, call: Call<'_>) -> Result<Value, ClientError> {
        let answer = self.send(call).await?;
        let result: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        let result = self.follow(result).await?;
        check(what, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multipart_body_has_one_file_part() {
        let (ct, body) = multipart(b"PK\x03\x04zip");
        let boundary = ct.strip_prefix("multipart/form-data; boundary=").unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with(&format!("--{boundary}\r\n")), "{text}");
        assert!(text.contains("name=\"file\""), "{text}");
        assert!(text.ends_with(&format!("\r\n--{boundary}--\r\n")), "{text}");
    }

    #[test]
    fn failed_results_are_errors() {
        assert!(check("x", json!({"success": true})).is_ok());
        let err = check(
            "the update",
            json!({"messages": {"error": true, "messages": [{"message": "boom"}]}}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("the update failed: boom"), "{err}");
    }
}
