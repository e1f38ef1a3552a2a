//! API keys: whether a key may do what a route needs (`route_class::scope_for`) and use a
//! model. Verified keys are kept in memory (`GenerationCache`, by the key's SHA-256) until a key
//! is made or revoked.

use std::sync::Arc;

use crate::domain::api_key::{ApiKey, Scope};

/// True when the key may do what `needed` names.
pub fn allows(key: &ApiKey, needed: Scope) -> bool {
    key.scopes.contains(&Scope::Admin) || key.scopes.contains(&needed)
}

/// True when the key may use the model.
pub fn allows_model(key: &ApiKey, model_id: i64) -> bool {
    key.models
        .as_ref()
        .is_none_or(|ids| ids.contains(&model_id))
}

/// Whether the caller may manage models: a session, a key with `models:manage`, or anyone where
/// no login is required. Others use a model's server only to infer and read.
pub fn may_manage(extensions: &axum::http::Extensions) -> bool {
    extensions
        .get::<Arc<ApiKey>>()
        .is_none_or(|key| allows(key, Scope::ModelsManage))
}
