//! `/api/export` and `/api/import`: every model and its settings as one versioned JSON
//! document, and back.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::domain::AppError;
use crate::domain::export::ExportDocument;
use crate::domain::import::{ImportFormat, ImportReport, OnConflict};

#[cfg(feature = "ssr")]
use crate::api::registry;

/// `{}` → `{"format": "corral", "version": 1, "exported_at", "models": [{name, path, kind, ...,
/// "groups": [{"group", "config"}, ...]}]}`.
#[server(prefix = "/api", endpoint = "export", input = Json)]
pub async fn export() -> Result<ExportDocument, AppError> {
    crate::server::import::apply::export(&registry()?).await
}

/// `{"format": "corral", "text": "...", "dry_run": bool, "on_conflict": "skip"|"rename"|"replace",
/// "env"?: {"NAME": "value"}}` → what was (or, with `dry_run`, would be) created, changed,
/// skipped and not mapped. All or nothing. `env` gives a llama-swap config's `${env.NAME}`.
#[server(prefix = "/api", endpoint = "import", input = Json)]
pub async fn import(
    format: ImportFormat,
    text: String,
    #[server(default)] dry_run: bool,
    #[server(default)] on_conflict: Option<OnConflict>,
    #[server(default)] env: std::collections::BTreeMap<String, String>,
) -> Result<ImportReport, AppError> {
    let state = crate::api::state()?;
    let into = crate::server::import::Owners {
        registry: &state.registry,
        virtuals: &state.virtuals,
        run_groups: &state.run_groups,
    };
    crate::server::import::import(into, format, &text, dry_run, on_conflict, env).await
}
