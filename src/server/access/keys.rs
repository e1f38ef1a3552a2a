//! API keys: made (shown once), listed, revoked; checked on every request that carries one.
//! Verified keys are kept in memory (by the key's SHA-256) until a key is made or revoked, so
//! a gateway call does not read the database to learn who is calling; a key's last use is
//! written at most once a minute.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use axum::http::Method;

use crate::domain::api_key::{ApiKey, Scope};
use crate::server::gateway::is_gateway_path;

/// How often a key's last use is written.
const LAST_USED_EVERY_MS: i64 = 60_000;
/// Keys kept in memory at most (a bound: unknown keys are never kept).
const MAX_KEPT: usize = 1024;

/// What a program needs for this request.
pub fn scope_for(method: &Method, path: &str) -> Scope {
    const READ: &[&str] = &[
        "/api/models/list",
        "/api/models/get",
        "/api/models/detail",
        "/api/models/get_by_name",
        "/api/models/logs",
        "/api/models/launch",
        "/api/models/config/load",
        "/api/models/config/history",
        "/api/runs",
        "/api/metrics/history",
        "/api/activity/list",
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

#[derive(Default)]
struct Kept {
    generation: u64,
    keys: HashMap<[u8; 32], (ApiKey, i64)>,
}

/// Verified keys by digest, each with when its last use was written.
#[derive(Default)]
pub struct KeyCache {
    kept: Mutex<Kept>,
}

impl KeyCache {
    fn kept(&self) -> MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The kept key (`Ok`), or the generation to hand back to `keep` after a database read.
    /// `write_use` says whether its last use should be written now.
    pub fn get(&self, digest: &[u8; 32], now: i64) -> Result<(ApiKey, bool), u64> {
        let mut kept = self.kept();
        let generation = kept.generation;
        match kept.keys.get_mut(digest) {
            Some((key, written)) if key.expires_at.is_none_or(|at| at > now) => {
                let write_use = now - *written >= LAST_USED_EVERY_MS;
                if write_use {
                    *written = now;
                }
                Ok((key.clone(), write_use))
            }
            _ => Err(generation),
        }
    }

    pub fn keep(&self, digest: [u8; 32], generation: u64, key: &ApiKey, now: i64) {
        let mut kept = self.kept();
        if kept.generation == generation {
            if kept.keys.len() >= MAX_KEPT {
                kept.keys.clear();
            }
            kept.keys.insert(digest, (key.clone(), now));
        }
    }

    /// A key was made or revoked.
    pub fn forget(&self) {
        let mut kept = self.kept();
        kept.generation += 1;
        kept.keys.clear();
    }
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
