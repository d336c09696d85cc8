//! Code envs (`/admin/code-envs/...`): list, create, definition get/put, package installation,
//! logs and delete. All of these need an admin key.
//!
//! DSS reports a failed package installation in the answer's payload (`messages.error: true`,
//! with a 200), not with an error status: every call that installs packages reads that payload
//! and turns a failure into [`ClientError::Task`] carrying DSS's message and the last lines of
//! the installation's log, which is where pip or CRAN say what went wrong.

use reqwest::Method;
use serde_json::Value;

use crate::client::{ApiPath, Call, ClientError, DssClient};

/// How many of the log's last lines a failed installation reports.
pub(crate) const LOG_TAIL_LINES: usize = 8;

/// `PYTHON` or `R`, the language segment of code env paths.
fn env(lang: &str, name: &str) -> Result<ApiPath, ClientError> {
    ApiPath::new()
        .lit("admin/code-envs")
        .name("code env language", lang)?
        .name("code env name", name)
}

/// The outcome of an installation DSS reported as done: its messages, joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallOutcome {
    /// The messages of the result (`Code env e: 2 requested package(s) recorded as installed`).
    pub summary: String,
}

/// The messages block of an operation result (`{messages: {messages: [...], error, ...}}`).
fn messages_of(result: &Value) -> Option<&Value> {
    result.get("messages").filter(|m| m.is_object())
}

/// The messages' texts joined with `; `.
fn message_texts(block: &Value) -> String {
    block
        .get("messages")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|m| m.get("message").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

/// Whether an operation result says it failed.
fn failed(block: &Value) -> bool {
    ["error", "fatal"]
        .iter()
        .any(|k| block.get(*k).and_then(Value::as_bool) == Some(true))
}

/// The last `n` non-empty lines of `text`.
pub(crate) fn tail(text: &str, n: usize) -> Vec<String> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

impl DssClient {
    /// `GET /admin/code-envs/`: one summary per env (`envName`, `envLang`, `deploymentMode`,
    /// `owner`, ...).
    pub async fn list_code_envs(&self) -> Result<Vec<Value>, ClientError> {
        self.get(ApiPath::new().lit("admin/code-envs").slash()).await
    }

    /// `GET /admin/code-envs/{lang}/{name}`: the definition.
    pub async fn get_code_env(&self, lang: &str, name: &str) -> Result<Value, ClientError> {
        self.get(env(lang, name)?).await
    }

    /// `PUT /admin/code-envs/{lang}/{name}` (the whole definition).
    pub async fn put_code_env(&self, lang: &str, name: &str, definition: &Value) -> Result<(), ClientError> {
        self.put(env(lang, name)?, definition).await
    }

    /// `POST /admin/code-envs/{lang}/{name}`: create the env (`body` holds `deploymentMode` and
    /// the options, as the official client's `create_code_env` sends them) and install what
    /// it requests. A failed installation is an error with the log's last lines; the env then
    /// exists.
    pub async fn create_code_env(
        &self,
        lang: &str,
        name: &str,
        body: &Value,
    ) -> Result<InstallOutcome, ClientError> {
        let call = Call::new(Method::POST, env(lang, name)?).json(body)?;
        let answer = self.send(call).await?;
        let result: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        self.install_outcome(lang, name, "create", &result).await
    }

    /// `POST /admin/code-envs/{lang}/{name}/packages`: install the definition's requested
    /// packages (from scratch when `rebuild`), waiting for the end. A failure is an error with
    /// the log's last lines.
    pub(crate) async fn update_code_env_packages(
        &self,
        lang: &str,
        name: &str,
        rebuild: bool,
    ) -> Result<InstallOutcome, ClientError> {
        let call = Call::new(Method::POST, env(lang, name)?.lit("packages"))
            .query("forceRebuildEnv", rebuild)
            .query("wait", true);
        let answer = self.send(call).await?;
        let result: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        let result = self.follow(result).await?;
        self.install_outcome(lang, name, "update-packages", &result).await
    }

    /// `DELETE /admin/code-envs/{lang}/{name}`; a refusal in the payload is an error.
    pub(crate) async fn delete_code_env(&self, lang: &str, name: &str) -> Result<(), ClientError> {
        let call = Call::new(Method::DELETE, env(lang, name)?);
        let answer = self.send(call).await?;
        let result: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        let result = self.follow(result).await?;
        match messages_of(&result) {
            Some(block) if failed(block) => Err(ClientError::Task(format!(
                "DSS did not delete code env {lang}/{name}: {}",
                message_texts(block)
            ))),
            _ => Ok(()),
        }
    }

    /// `GET /admin/code-envs/{lang}/{name}/logs`: the names of the env's logs.
    pub(crate) async fn list_code_env_logs(
        &self,
        lang: &str,
        name: &str,
    ) -> Result<Vec<String>, ClientError> {
        let items: Vec<Value> = self.get(env(lang, name)?.lit("logs")).await?;
        Ok(items
            .iter()
            .filter_map(|i| i.get("name").and_then(Value::as_str).map(str::to_string))
            .collect())
    }

    /// `GET /admin/code-envs/{lang}/{name}/logs/{log}`: one log's text.
    pub(crate) async fn get_code_env_log(
        &self,
        lang: &str,
        name: &str,
        log: &str,
    ) -> Result<String, ClientError> {
        let path = env(lang, name)?.lit("logs").name("log name", log)?;
        let answer = self.send(Call::new(Method::GET, path)).await?;
        Ok(String::from_utf8_lossy(&answer.body).into_owned())
    }

    /// What an installation's result says: done (its messages), or failed with the last lines
    /// of the newest log of `action` (`create`, `update-packages`).
    async fn install_outcome(
        &self,
        lang: &str,
        name: &str,
        action: &str,
        result: &Value,
    ) -> Result<InstallOutcome, ClientError> {
        let Some(block) = messages_of(result) else {
            return Ok(InstallOutcome {
                summary: "done (DSS reported no messages)".to_string(),
            });
        };
        let summary = message_texts(block);
        if !failed(block) {
            return Ok(InstallOutcome { summary });
        }
        let log = match self.newest_log(lang, name, action).await {
            Ok(Some(lines)) => format!("; last lines of the log:\n{}", lines.join("\n")),
            Ok(None) => String::new(),
            Err(e) => format!("; its log could not be read: {e}"),
        };
        Err(ClientError::Task(format!(
            "the package installation of code env {lang}/{name} failed: {summary}{log}"
        )))
    }

    /// The last lines of the newest log whose name starts with `action` (else the newest log).
    async fn newest_log(
        &self,
        lang: &str,
        name: &str,
        action: &str,
    ) -> Result<Option<Vec<String>>, ClientError> {
        let mut logs = self.list_code_env_logs(lang, name).await?;
        logs.sort();
        let pick = logs
            .iter()
            .rev()
            .find(|l| l.starts_with(action))
            .or_else(|| logs.last())
            .cloned();
        let Some(log) = pick else { return Ok(None) };
        let text = self.get_code_env_log(lang, name, &log).await?;
        Ok(Some(tail(&text, LOG_TAIL_LINES)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn results_are_read_for_failure() {
        let ok = json!({"messages": {"messages": [{"severity": "SUCCESS", "message": "2 installed"}], "error": false}});
        assert!(!failed(messages_of(&ok).unwrap()));
        assert_eq!(message_texts(messages_of(&ok).unwrap()), "2 installed");
        let bad = json!({"messages": {"messages": [{"message": "a"}, {"message": "b"}], "error": true}});
        assert!(failed(messages_of(&bad).unwrap()));
        assert_eq!(message_texts(messages_of(&bad).unwrap()), "a; b");
    }

    #[test]
    fn the_tail_keeps_the_last_non_empty_lines() {
        assert_eq!(tail("a\n\nb\nc\n", 2), vec!["b", "c"]);
        assert_eq!(tail("a\n", 5), vec!["a"]);
        assert!(tail("", 3).is_empty());
    }
}
