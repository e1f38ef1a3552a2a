//! `/api/models/*`: the model registry.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde_json::{Map, Value};

use crate::domain::audit::ModelDetail;
use crate::domain::gguf::FileReport;
use crate::domain::model::FirstRows;
use crate::domain::{AppError, Model, ModelFilter};

#[cfg(feature = "ssr")]
use crate::api::{registry, supervisor};

/// `{}` or `{"filter": {"status": .., "kind": .., "search": ..}}` → every matching model.
#[server(prefix = "/api", endpoint = "models/list", input = Json)]
pub async fn list_models(#[server(default)] filter: ModelFilter) -> Result<Vec<Model>, AppError> {
    registry()?.list_models(filter).await
}

/// `{}` → `{"models": [the first 100 by name], "total": N}`: what the models page is rendered
/// and hydrated with (every model then arrives over the live channel).
#[server(prefix = "/api", endpoint = "models/first_rows", input = Json)]
pub async fn list_first_rows() -> Result<FirstRows, AppError> {
    registry()?.first_rows().await
}

#[server(prefix = "/api", endpoint = "models/get", input = Json)]
pub async fn get_model(id: i64) -> Result<Model, AppError> {
    registry()?.get_model(id).await
}

/// `{"id": N}` → `{"model": .., "groups": [seven groups], "history": [..]}`.
#[server(prefix = "/api", endpoint = "models/detail", input = Json)]
pub async fn get_model_detail(id: i64) -> Result<ModelDetail, AppError> {
    registry()?.model_detail(id).await
}

/// `{"id": N}` → what the model's file says (`{"Read": {architecture, parameters, ...}}`), or
/// why it cannot be read (`{"Unreadable": "..."}`).
#[server(prefix = "/api", endpoint = "models/file", input = Json)]
pub async fn get_model_file(id: i64) -> Result<FileReport, AppError> {
    crate::server::models::model_file::describe(&registry()?, id).await
}

/// `{}` → for each registered model whose file can be read: `{"id", "parameters",
/// "quantization", "context_length"}` (what the models table shows).
#[server(prefix = "/api", endpoint = "models/summaries", input = Json)]
pub async fn model_summaries() -> Result<Vec<crate::domain::gguf::FileSummary>, AppError> {
    crate::server::models::model_file::summaries(&registry()?).await
}

#[server(prefix = "/api", endpoint = "models/get_by_name", input = Json)]
pub async fn get_model_by_name(name: String) -> Result<Model, AppError> {
    registry()?.get_model_by_name(name).await
}

/// `{"model": {"name": .., "path": .., "kind": .., ...}}` → the new model, stopped.
#[server(prefix = "/api", endpoint = "models/create", input = Json)]
pub async fn create_model(model: Value) -> Result<Model, AppError> {
    registry()?.create_model(model).await
}

/// `{"id": N, "changes": {...}}`: a merge patch of the model's settings.
#[server(prefix = "/api", endpoint = "models/update", input = Json)]
pub async fn update_model(id: i64, changes: Map<String, Value>) -> Result<Model, AppError> {
    registry()?.update_model(id, changes).await
}

/// Deletion is decided by the supervisor, under the same lock as starts and stops.
#[server(prefix = "/api", endpoint = "models/delete", input = Json)]
pub async fn delete_model(id: i64) -> Result<(), AppError> {
    supervisor()?.delete_models(vec![id]).await.map(drop)
}

/// Deletes every listed model, or none if any is missing or running; returns the deleted ids.
#[server(prefix = "/api", endpoint = "models/bulk_delete", input = Json)]
pub async fn bulk_delete_models(ids: Vec<i64>) -> Result<Vec<i64>, AppError> {
    supervisor()?.delete_models(ids).await
}

#[server(prefix = "/api", endpoint = "models/duplicate", input = Json)]
pub async fn duplicate_model(id: i64, name: String) -> Result<Model, AppError> {
    registry()?.duplicate_model(id, name).await
}

// The scope an API key needs for each (an untagged function needs `admin`).
#[cfg(feature = "ssr")]
crate::scoped!(ModelsRead: ListModels, GetModel, GetModelDetail, GetModelFile, ModelSummaries, GetModelByName);
