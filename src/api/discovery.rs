//! `/api/discovery/*`: the GGUF files in the model folders.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::domain::AppError;
use crate::domain::discovery::Discovered;

/// `{}` → the model folders, caches present to offer, and every GGUF file found in the
/// folders with its metadata and the model that names it, if any.
#[server(prefix = "/api", endpoint = "discovery/list", input = Json)]
pub async fn list_discovered() -> Result<Discovered, AppError> {
    let state = super::state()?;
    state.discovery.list(&state.registry).await
}
