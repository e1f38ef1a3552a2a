//! `/api/discovery/*`: the GGUF files in the model folders.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::domain::discovery::{Discovered, DiscoveryPage, PathCheck};
use crate::domain::{AppError, Model};

/// `{}` → the model folders, caches present to offer, and the GGUF files found in the folders
/// with their metadata and the model that names each, if any: 200 at a time in path order
/// (`{"page": {"limit": N, "after": "<next_after>"}}` for more), without per-layer arrays.
#[server(prefix = "/api", endpoint = "discovery/list", input = Json)]
pub async fn list_discovered(page: Option<DiscoveryPage>) -> Result<Discovered, AppError> {
    let state = super::state()?;
    state
        .discovery
        .list(&state.registry, page.unwrap_or_default())
        .await
}

/// `{"paths": [...]}` (files from `discovery/list`) → the models made for them: named from
/// the file, the family from its architecture, a projector in the same folder set as theirs.
/// Every path is checked first (found, not registered, not a projector).
#[server(prefix = "/api", endpoint = "discovery/add", input = Json)]
pub async fn add_discovered(paths: Vec<String>) -> Result<Vec<Model>, AppError> {
    let state = super::state()?;
    state.discovery.add(&state.registry, paths).await
}

/// `{"path": "/models/x.gguf"}` → whether a model can be made from it as typed (absolute,
/// `.gguf`, inside the model roots, a readable header), why not in words, its GGUF name and
/// the name Add would give it. For the Add dialog, checking as a person types.
#[server(prefix = "/api", endpoint = "discovery/check_path", input = Json)]
pub async fn check_model_path(path: String) -> Result<PathCheck, AppError> {
    crate::server::models::model_file::check_path(&super::state()?.registry, path).await
}

// The scope an API key needs for each (an untagged function needs `admin`).
#[cfg(feature = "ssr")]
crate::scoped!(ModelsRead: ListDiscovered);
