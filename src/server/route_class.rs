//! What kind of route a path is, answered in one place for every layer that asks: the guard,
//! CORS, the Origin rule, the limits, the key scopes and the meter. A leaf: it imports nothing
//! of the server, so none of them has to import the gateway (or each other) to know.
//!
//! Which scope an API key needs for a server function is tagged beside the function itself
//! (`scoped!` in `api/`), collected here at start; an untagged one needs `admin` (fail closed).

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::http::Method;

use crate::domain::api_key::Scope;
use crate::domain::config::serving::Role;

/// The POSTs that name their model in the body (those the pinned llama-server serves), with
/// the role a model must have to answer them (`None`: any role).
pub const MODEL_ROUTES: &[(&str, Option<Role>)] = &[
    ("/v1/chat/completions", Some(Role::Chat)),
    ("/v1/completions", Some(Role::Chat)),
    ("/v1/responses", Some(Role::Chat)),
    ("/v1/messages", Some(Role::Chat)),
    ("/v1/messages/count_tokens", Some(Role::Chat)),
    ("/infill", Some(Role::Chat)),
    ("/completion", Some(Role::Chat)),
    ("/v1/embeddings", Some(Role::Embeddings)),
    ("/v1/rerank", Some(Role::Rerank)),
    ("/rerank", Some(Role::Rerank)),
    ("/tokenize", None),
    ("/detokenize", None),
];

/// Paths the llama.cpp router API serves at the root, for Open WebUI's llama.cpp connection.
pub const ROUTER_PATHS: &[&str] = &["/models", "/models/load", "/models/unload", "/models/sse"];

/// True for every path the gateway answers: they read their own bodies (larger ones, with
/// errors in OpenAI's envelope) and stream answers for as long as generation takes.
pub fn is_gateway_path(path: &str) -> bool {
    path == "/v1"
        || path.starts_with("/v1/")
        || path.starts_with("/upstream/")
        || ROUTER_PATHS.contains(&path)
        || MODEL_ROUTES.iter().any(|(route, _)| *route == path)
}

/// The scope a server function needs from an API key, tagged beside it.
pub struct EndpointScope {
    /// The function's path (`<Fn as ServerFn>::PATH`).
    pub path: &'static str,
    pub scope: Scope,
}

inventory::collect!(EndpointScope);

/// Tags server functions with the scope an API key needs to call them:
/// `scoped!(ModelsRead: ListModels, GetModel)`.
#[macro_export]
macro_rules! scoped {
    ($scope:ident: $($function:ty),+ $(,)?) => {
        $(::inventory::submit! {
            $crate::server::route_class::EndpointScope {
                path: <$function as ::leptos::server_fn::ServerFn>::PATH,
                scope: $crate::domain::api_key::Scope::$scope,
            }
        })+
    };
}

/// Routes that are not server functions and need less than `admin`.
const OTHER_ROUTES: &[(&str, Scope)] = &[
    ("/api/ws/status", Scope::ModelsRead),
    ("/metrics", Scope::ModelsRead),
    ("/ws", Scope::ModelsRead),
    ("/models/load", Scope::ModelsManage),
    ("/models/unload", Scope::ModelsManage),
];

fn tagged() -> &'static HashMap<&'static str, Scope> {
    static TAGGED: LazyLock<HashMap<&'static str, Scope>> = LazyLock::new(|| {
        let functions = inventory::iter::<EndpointScope>
            .into_iter()
            .map(|e| (e.path, e.scope));
        OTHER_ROUTES.iter().copied().chain(functions).collect()
    });
    &TAGGED
}

/// What a program needs for this request.
pub fn scope_for(method: &Method, path: &str) -> Scope {
    if let Some(scope) = tagged().get(path) {
        *scope
    } else if is_gateway_path(path) && *method != Method::DELETE {
        Scope::Inference
    } else {
        Scope::Admin
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
        assert_eq!(scope_for(&Method::POST, "/api/runs"), Scope::ModelsRead);
        assert_eq!(scope_for(&Method::GET, "/metrics"), Scope::ModelsRead);
        assert_eq!(scope_for(&Method::POST, "/api/models/create"), Scope::Admin);
        assert_eq!(scope_for(&Method::POST, "/api/keys/create"), Scope::Admin);
        assert_eq!(scope_for(&Method::GET, "/"), Scope::Admin);
    }

    #[test]
    fn every_tagged_path_is_a_server_function_corral_serves() {
        let served: Vec<String> = leptos::server_fn::axum::server_fn_paths()
            .map(|(path, _)| path.to_string())
            .collect();
        let functions = inventory::iter::<EndpointScope>.into_iter().count();
        assert!(functions >= 23, "only {functions} server functions tagged");
        for tagged in inventory::iter::<EndpointScope> {
            assert!(
                served.iter().any(|p| p == tagged.path),
                "{} is tagged but not served",
                tagged.path
            );
        }
    }
}
