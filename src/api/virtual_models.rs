//! `/api/virtual/*`: virtual models, one name served by whichever of several models a strategy
//! picks (admin only when a login is required; listing needs `models:read`).

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde_json::Value;

use crate::domain::AppError;
use crate::domain::virtual_model::{VirtualModel, VirtualView};

#[cfg(feature = "ssr")]
use crate::api::state;

/// `{}` → every virtual model with what it would use now and its targets that name no model.
#[server(prefix = "/api", endpoint = "virtual/list", input = Json)]
pub async fn list_virtual_models() -> Result<Vec<VirtualView>, AppError> {
    crate::server::gateway::virtual_route::views(&state()?, None).await
}

/// `{"name", "strategy"?: "warm"|"pin"|"spillover"|"fallback", "targets": [names],
/// "spillover"?: N}` → the new virtual model; 409 when a model answers to the name.
#[server(prefix = "/api", endpoint = "virtual/create", input = Json)]
pub async fn create_virtual_model(
    #[server(default)] name: Value,
    #[server(default)] strategy: Value,
    #[server(default)] targets: Value,
    #[server(default)] spillover: Value,
) -> Result<VirtualModel, AppError> {
    let input = fields(name, strategy, targets, spillover);
    state()?.virtuals.create(input).await
}

/// The same fields → the virtual model of that name, changed.
#[server(prefix = "/api", endpoint = "virtual/update", input = Json)]
pub async fn update_virtual_model(
    #[server(default)] name: Value,
    #[server(default)] strategy: Value,
    #[server(default)] targets: Value,
    #[server(default)] spillover: Value,
) -> Result<VirtualModel, AppError> {
    let input = fields(name, strategy, targets, spillover);
    state()?.virtuals.update(input).await
}

/// `{"name"}` → deleted.
#[server(prefix = "/api", endpoint = "virtual/delete", input = Json)]
pub async fn delete_virtual_model(name: String) -> Result<(), AppError> {
    state()?.virtuals.delete(name).await
}

/// The request's fields as one object, checked whole by `VirtualModel::parse` (so a wrong type
/// is a field error, not a failed decode).
#[cfg(feature = "ssr")]
fn fields(name: Value, strategy: Value, targets: Value, spillover: Value) -> Value {
    serde_json::json!({"name": name, "strategy": strategy, "targets": targets, "spillover": spillover})
}

#[cfg(feature = "ssr")]
crate::scoped!(ModelsRead: ListVirtualModels);
