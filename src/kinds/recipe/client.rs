//! Recipes: list, create, get and save (definition and payload together), delete; and the
//! managed-folder list a recipe's `{folder: name}` items are resolved with (DSS refers to a
//! folder by its generated id).

use reqwest::Method;
use serde_json::Value;

use crate::client::{ApiPath, Call, ClientError, DssClient};

fn recipes(key: &str) -> Result<ApiPath, ClientError> {
    Ok(ApiPath::new()
        .lit("projects")
        .name("project key", key)?
        .lit("recipes"))
}

fn recipe(key: &str, name: &str) -> Result<ApiPath, ClientError> {
    recipes(key)?.name("recipe name", name)
}

impl DssClient {
    /// `GET /projects/{key}/recipes/`: the definitions of the project's recipes (no payload).
    pub async fn list_recipes(&self, key: &str) -> Result<Vec<Value>, ClientError> {
        self.get(recipes(key)?.slash()).await
    }

    /// `GET /projects/{key}/recipes/{name}`: `{"recipe": definition, "payload": text}`.
    pub async fn get_recipe(&self, key: &str, name: &str) -> Result<Value, ClientError> {
        self.get(recipe(key, name)?).await
    }

    /// `PUT /projects/{key}/recipes/{name}` with `{"recipe": definition, "payload": text}`.
    pub async fn save_recipe(&self, key: &str, name: &str, document: &Value) -> Result<(), ClientError> {
        self.put(recipe(key, name)?, document).await
    }

    /// `POST /projects/{key}/recipes/` with `{recipePrototype, creationSettings}`, as the
    /// official client's recipe creators send it: the prototype holds the name, type, inputs
    /// and outputs; the payload goes in `creationSettings.script` (code recipes) or
    /// `rawPayload` (visual recipes). Never repeated after an ambiguous failure.
    pub async fn create_recipe(&self, key: &str, body: &Value) -> Result<(), ClientError> {
        self.post(recipes(key)?.slash(), body).await
    }

    /// `DELETE /projects/{key}/recipes/{name}`.
    pub(crate) async fn delete_recipe(&self, key: &str, name: &str) -> Result<(), ClientError> {
        self.delete(recipe(key, name)?).await
    }

    /// `GET /projects/{key}/managedfolders/`: the project's managed folders (`id`, `name`, ...),
    /// to turn a recipe's folder names into the ids DSS writes in its inputs and outputs.
    pub(crate) async fn list_folders_for_recipes(&self, key: &str) -> Result<Vec<Value>, ClientError> {
        let path = ApiPath::new()
            .lit("projects")
            .name("project key", key)?
            .lit("managedfolders")
            .slash();
        self.send_json(Call::new(Method::GET, path)).await
    }
}
