//! `/api/keys/*`: API keys for programs (admin only when a login is required).

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::domain::AppError;
use crate::domain::api_key::{ApiKey, CreatedKey, KeyUsage, Scope};

#[cfg(feature = "ssr")]
use crate::api::state;

/// `{"name", "scopes": [..], "models"?: [names], "expires"?: Unix ms}` → the key (shown this
/// once) and how it is listed.
#[server(prefix = "/api", endpoint = "keys/create", input = Json)]
pub async fn create_key(
    name: String,
    scopes: Vec<Scope>,
    #[server(default)] models: Option<Vec<String>>,
    #[server(default)] expires: Option<i64>,
) -> Result<CreatedKey, AppError> {
    let state = state()?;
    state
        .access
        .create_key(&state.registry, name, scopes, models, expires)
        .await
}

/// `{}` → every key, newest first, by name and prefix (never the key).
#[server(prefix = "/api", endpoint = "keys/list", input = Json)]
pub async fn list_keys() -> Result<Vec<ApiKey>, AppError> {
    state()?.access.list_keys().await
}

/// `{"id": N}` → revoked at once.
#[server(prefix = "/api", endpoint = "keys/revoke", input = Json)]
pub async fn revoke_key(id: i64) -> Result<(), AppError> {
    state()?.access.revoke_key(id).await
}

/// `{}` → per caller (a key's prefix, or `session` for the signed-in browser), requests and
/// tokens (prompt + generated) over the last 24 hours and 30 days, from the activity records.
#[server(prefix = "/api", endpoint = "keys/usage", input = Json)]
pub async fn list_key_usage() -> Result<Vec<KeyUsage>, AppError> {
    crate::api::metering()?.usage_by_caller().await
}
