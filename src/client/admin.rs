//! Instance administration: connections, users, groups and global variables
//! (all under `/admin/`). All of these need an admin key.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Map, Value};

use super::transport::{ApiPath, Call};
use super::{ClientError, DssClient};
use crate::wire::{Connection, Group, User};

/// `/admin/connections/`: the connection list.
pub(crate) fn connection_list_path() -> ApiPath {
    ApiPath::new().lit("admin/connections").slash()
}

/// `/admin/users/`: the user list.
pub(crate) fn user_list_path() -> ApiPath {
    ApiPath::new().lit("admin/users").slash()
}

/// `/admin/groups/`: the group list.
pub(crate) fn group_list_path() -> ApiPath {
    ApiPath::new().lit("admin/groups").slash()
}

/// `/admin/variables/`: the global variables (which hold the ledgers and the stack locks).
pub(crate) fn global_variables_path() -> ApiPath {
    ApiPath::new().lit("admin/variables").slash()
}

fn connection(name: &str) -> Result<ApiPath, ClientError> {
    ApiPath::new()
        .lit("admin/connections")
        .name("connection name", name)
}

fn user(login: &str) -> Result<ApiPath, ClientError> {
    ApiPath::new().lit("admin/users").name("user login", login)
}

fn group(name: &str) -> Result<ApiPath, ClientError> {
    ApiPath::new().lit("admin/groups").name("group name", name)
}

impl DssClient {
    /// `GET /admin/connections/`: every connection, keyed by name.
    pub async fn list_connections(&self) -> Result<BTreeMap<String, Connection>, ClientError> {
        let path = connection_list_path();
        let raw: BTreeMap<String, Value> = self.get(path.clone()).await?;
        raw.into_iter()
            .map(|(name, mut value)| {
                // The list is keyed by name; an item may not repeat it.
                if let Value::Object(fields) = &mut value {
                    fields
                        .entry("name")
                        .or_insert_with(|| Value::String(name.clone()));
                }
                let parsed = serde_json::from_value(value).map_err(|e| ClientError::Decode {
                    method: "GET".into(),
                    path: path.display(),
                    message: format!("connection {name:?}: {e}"),
                })?;
                Ok((name, parsed))
            })
            .collect()
    }

    /// `GET /admin/connections/{name}`. Secrets come back redacted or encrypted.
    pub async fn get_connection(&self, name: &str) -> Result<Connection, ClientError> {
        self.get(connection(name)?).await
    }

    /// `POST /admin/connections/`. Never repeated after an ambiguous failure.
    pub async fn create_connection(&self, definition: &Connection) -> Result<(), ClientError> {
        connection(&definition.name)?;
        let secrets = secret_params(&definition.params);
        let mut call =
            Call::new(Method::POST, ApiPath::new().lit("admin/connections").slash()).json(definition)?;
        for secret in &secrets {
            call = call.secret(secret);
        }
        self.send(call).await.map(drop)
    }

    /// `PUT /admin/connections/{name}` (the whole definition).
    pub async fn update_connection(&self, name: &str, definition: &Connection) -> Result<(), ClientError> {
        let secrets = secret_params(&definition.params);
        let mut call = Call::new(Method::PUT, connection(name)?).json(definition)?;
        for secret in &secrets {
            call = call.secret(secret);
        }
        self.send(call).await.map(drop)
    }

    /// `DELETE /admin/connections/{name}`.
    pub async fn delete_connection(&self, name: &str) -> Result<(), ClientError> {
        self.delete(connection(name)?).await
    }

    /// `GET /admin/users/`.
    pub async fn list_users(&self) -> Result<Vec<User>, ClientError> {
        self.get(user_list_path()).await
    }

    /// `GET /admin/users/{login}`.
    pub async fn get_user(&self, login: &str) -> Result<User, ClientError> {
        self.get(user(login)?).await
    }

    /// `POST /admin/users/` with the user's password. Never repeated after an ambiguous failure.
    pub async fn create_user(&self, definition: &User) -> Result<(), ClientError> {
        user(&definition.login)?;
        let mut call = Call::new(Method::POST, ApiPath::new().lit("admin/users").slash()).json(definition)?;
        if let Some(password) = &definition.password {
            call = call.secret(password);
        }
        self.send(call).await.map(drop)
    }

    /// `PUT /admin/users/{login}` (the whole settings; a `password` sets a new one).
    pub async fn update_user(&self, login: &str, definition: &User) -> Result<(), ClientError> {
        let mut call = Call::new(Method::PUT, user(login)?).json(definition)?;
        if let Some(password) = &definition.password {
            call = call.secret(password);
        }
        self.send(call).await.map(drop)
    }

    /// `DELETE /admin/users/{login}`.
    pub async fn delete_user(&self, login: &str) -> Result<(), ClientError> {
        self.delete(user(login)?).await
    }

    /// `GET /admin/groups/`.
    pub async fn list_groups(&self) -> Result<Vec<Group>, ClientError> {
        self.get(group_list_path()).await
    }

    /// `GET /admin/groups/{name}`.
    pub async fn get_group(&self, name: &str) -> Result<Group, ClientError> {
        self.get(group(name)?).await
    }

    /// `POST /admin/groups/`. Never repeated after an ambiguous failure.
    pub async fn create_group(&self, definition: &Group) -> Result<(), ClientError> {
        group(&definition.name)?;
        self.post(ApiPath::new().lit("admin/groups").slash(), definition)
            .await
    }

    /// `PUT /admin/groups/{name}` (the whole definition).
    pub async fn update_group(&self, name: &str, definition: &Group) -> Result<(), ClientError> {
        self.put(group(name)?, definition).await
    }

    /// `DELETE /admin/groups/{name}`.
    pub async fn delete_group(&self, name: &str) -> Result<(), ClientError> {
        self.delete(group(name)?).await
    }

    /// `GET /admin/variables/`: the instance variables, a flat object.
    pub async fn get_global_variables(&self) -> Result<Map<String, Value>, ClientError> {
        self.get(global_variables_path()).await
    }

    /// `PUT /admin/variables/`: replaces all instance variables at once (DSS has no partial
    /// update).
    pub async fn set_global_variables(&self, variables: &Map<String, Value>) -> Result<(), ClientError> {
        self.put(global_variables_path(), variables).await
    }
}

/// The string values of secret connection parameters, to keep them out of error text.
fn secret_params(params: &Map<String, Value>) -> Vec<String> {
    params
        .iter()
        .filter(|(name, _)| crate::wire::is_secret_param(name))
        .filter_map(|(_, value)| value.as_str())
        .filter(|value| !value.is_empty())
        .map(str::to_string)
        .collect()
}
