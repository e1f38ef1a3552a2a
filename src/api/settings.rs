//! `/api/settings/get` and `/api/settings/save`: Corral's own settings, as the Settings page
//! shows and saves them.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::domain::AppError;
use crate::domain::settings::SettingsView;

#[cfg(feature = "ssr")]
use crate::api::state;

/// `{}` → `{"stored", "effective", "set_by_flag": [{"key", "source"}], "llama_server":
/// {"path", "version", "build", "devices", "problem"}}`.
#[server(prefix = "/api", endpoint = "settings/get", input = Json)]
pub async fn get_settings() -> Result<SettingsView, AppError> {
    state()?.settings.view().await
}

/// `{"settings": {...}}` (the whole document; a missing or null field goes back to its
/// default) → the same view as `get`, applied at once.
#[server(prefix = "/api", endpoint = "settings/save", input = Json)]
pub async fn save_settings(settings: serde_json::Value) -> Result<SettingsView, AppError> {
    state()?.settings.save(&settings).await
}
