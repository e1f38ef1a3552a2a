//! `/api/export`: every model and its settings as one versioned JSON document.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::domain::AppError;
use crate::domain::export::ExportDocument;

#[cfg(feature = "ssr")]
use crate::api::registry;

/// `{}` → `{"format": "corral", "version": 1, "exported_at", "models": [{name, path, kind, ...,
/// "groups": [{"group", "config"}, ...]}]}`.
#[server(prefix = "/api", endpoint = "export", input = Json)]
pub async fn export() -> Result<ExportDocument, AppError> {
    registry()?.export().await
}
