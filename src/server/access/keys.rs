//! API keys: which scope a route needs and whether a key may use a model. Verified keys are kept
//! in memory (`GenerationCache`, by the key's SHA-256) until a key is made or revoked.

use axum::http::Method;

use crate::domain::api_key::{ApiKey, Scope};
use crate::server::gateway::is_gateway_path;

/// What a program needs for this request.
pub fn scope_for(method: &Method, path: &str) -> Scope {
    const READ: &[&str] = &[
        "/api/models/list",
        "/api/models/get",
        "/api/models/detail",
        "/api/models/file",
        "/api/models/summaries",
        "/api/models/get_by_name",
        "/api/models/logs",
        "/api/models/launch",
        "/api/models/config/load",
        "/api/models/config/history",
        "/api/runs",
        "/api/metrics/history",
        "/api/activity/list",
        "/api/discovery/list",
        "/api/models/bulk_start_plan",
        "/api/activity/series",
        "/api/ws/status",
        "/metrics",
        "/ws",
    ];
    const MANAGE: &[&str] = &[
        "/api/models/start",
        "/api/models/stop",
        "/api/models/force_stop",
        "/api/models/restart",
        "/api/models/bulk_start",
        "/api/models/bulk_stop",
        "/api/models/bulk_restart",
        "/models/load",
        "/models/unload",
    ];
    if MANAGE.contains(&path) {
        Scope::ModelsManage
    } else if READ.contains(&path) {
        Scope::ModelsRead
    } else if is_gateway_path(path) && *method != Method::DELETE {
        Scope::Inference
    } else {
        Scope::Admin
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_need_the_scope_that_matches_them() {
        assert_eq!(
            scope_for(&Method::POST, "/v1/chat/completions"),
            Scope::Inference
        );
        assert_eq!(scope_for(&Method::GET, "/v1/models"), Scope::Inference);
        assert_eq!(scope_for(&Method::GET, "/models"), Scope::Inference);
        assert_eq!(
            scope_for(&Method::POST, "/models/load"),
            Scope::ModelsManage
        );
        assert_eq!(
            scope_for(&Method::POST, "/api/models/start"),
            Scope::ModelsManage
        );
        assert_eq!(
            scope_for(&Method::POST, "/api/models/list"),
            Scope::ModelsRead
        );
        assert_eq!(scope_for(&Method::GET, "/metrics"), Scope::ModelsRead);
        assert_eq!(scope_for(&Method::POST, "/api/models/create"), Scope::Admin);
        assert_eq!(scope_for(&Method::POST, "/api/keys/create"), Scope::Admin);
        assert_eq!(scope_for(&Method::GET, "/"), Scope::Admin);
    }
}
