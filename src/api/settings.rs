//! `/api/settings/get` and `/api/settings/save`: Corral's own settings, as the Settings page
//! shows and saves them.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::domain::AppError;
use crate::domain::settings::SettingsView;

#[cfg(feature = "ssr")]
use crate::api::state;

/// `{}` → `{"stored", "revision", "effective", "set_by_flag": [{"key", "source"}], "llama_server":
/// {"path", "version", "build", "devices", "problem"}}`.
#[server(prefix = "/api", endpoint = "settings/get", input = Json)]
pub async fn get_settings() -> Result<SettingsView, AppError> {
    state()?.settings.view().await
}

/// `{"settings": {...}, "revision"?: n}` (the whole document; a missing or null field goes
/// back to its default) → the same view as `get`, applied at once. With the `revision` of the
/// view it was edited from, it is refused (409) when another save went first.
#[server(prefix = "/api", endpoint = "settings/save", input = Json)]
pub async fn save_settings(
    settings: serde_json::Value,
    #[server(default)] revision: Option<i64>,
) -> Result<SettingsView, AppError> {
    state()?.settings.save(&settings, revision).await
}
