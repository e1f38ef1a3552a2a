//! `/api/models/config/*`: the seven config groups and their audit trail.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde_json::Value;

use crate::domain::AppError;
use crate::domain::audit::ConfigChange;
use crate::domain::config::{ConfigGroup, ConfigGroupKind};

#[cfg(feature = "ssr")]
use crate::api::registry;
#[cfg(feature = "ssr")]
use crate::domain::page::Page;

/// `{"id": N, "group": G}` → `{"group": G, "config": {...}}`.
#[server(prefix = "/api", endpoint = "models/config/load", input = Json)]
pub async fn load_config(id: i64, group: ConfigGroupKind) -> Result<ConfigGroup, AppError> {
    registry()?.load_config(id, group).await
}

/// `{"id": N, "group": G, "config": {...}}` replaces the group's settings; empty fields default.
#[server(prefix = "/api", endpoint = "models/config/save", input = Json)]
pub async fn save_config(
    id: i64,
    group: ConfigGroupKind,
    config: Value,
) -> Result<ConfigGroup, AppError> {
    registry()?.save_config(id, group, config).await
}

/// `{"id": N}` → the model's last 20 settings changes, newest first; `"limit"` and `"before"`
/// page through older ones, as for runs.
#[server(prefix = "/api", endpoint = "models/config/history", input = Json)]
pub async fn config_history(
    id: i64,
    #[server(default)] limit: Option<u32>,
    #[server(default)] before: Option<i64>,
) -> Result<Vec<ConfigChange>, AppError> {
    registry()?.config_history(id, Page { limit, before }).await
}

// The scope an API key needs for each (an untagged function needs `admin`).
#[cfg(feature = "ssr")]
crate::scoped!(ModelsRead: LoadConfig, ConfigHistory);
