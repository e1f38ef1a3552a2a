//! `/api/groups/*`: run-together groups, models loaded and stopped by their group's rules
//! (admin only when a login is required; listing needs `models:read`).

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde_json::Value;

use crate::domain::AppError;
use crate::domain::run_group::RunGroup;

#[cfg(feature = "ssr")]
use crate::api::state;

/// `{}` → every group with its members by name.
#[server(prefix = "/api", endpoint = "groups/list", input = Json)]
pub async fn list_run_groups() -> Result<Vec<RunGroup>, AppError> {
    state()?.run_groups.list().await
}

/// `{"name", "swap"?: true, "exclusive"?: true, "persistent"?: false, "members": [names]}` →
/// the new group; 409 when a group has the name or a member is in another group.
#[server(prefix = "/api", endpoint = "groups/create", input = Json)]
pub async fn create_run_group(
    #[server(default)] name: Value,
    #[server(default)] swap: Value,
    #[server(default)] exclusive: Value,
    #[server(default)] persistent: Value,
    #[server(default)] members: Value,
) -> Result<RunGroup, AppError> {
    let input = fields(name, swap, exclusive, persistent, members);
    state()?.run_groups.create(input).await
}

/// The same fields → the group of that name, changed (flags and members whole).
#[server(prefix = "/api", endpoint = "groups/update", input = Json)]
pub async fn update_run_group(
    #[server(default)] name: Value,
    #[server(default)] swap: Value,
    #[server(default)] exclusive: Value,
    #[server(default)] persistent: Value,
    #[server(default)] members: Value,
) -> Result<RunGroup, AppError> {
    let input = fields(name, swap, exclusive, persistent, members);
    state()?.run_groups.update(input).await
}

/// `{"name"}` → deleted; its members stay, in no group.
#[server(prefix = "/api", endpoint = "groups/delete", input = Json)]
pub async fn delete_run_group(name: String) -> Result<(), AppError> {
    state()?.run_groups.delete(name).await
}

/// The request's fields as one object, checked whole by `RunGroup::parse` (so a wrong type is
/// a field error, not a failed decode).
#[cfg(feature = "ssr")]
fn fields(name: Value, swap: Value, exclusive: Value, persistent: Value, members: Value) -> Value {
    serde_json::json!({
        "name": name, "swap": swap, "exclusive": exclusive, "persistent": persistent,
        "members": members,
    })
}

#[cfg(feature = "ssr")]
crate::scoped!(ModelsRead: ListRunGroups);
