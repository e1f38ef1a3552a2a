//! The whole HTTP surface on one Axum router: pages, server functions, static files, guards.

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::get;
use std::sync::OnceLock;

use leptos_axum::{AxumRouteListing, LeptosRoutes, generate_route_list};

use crate::app::{App, shell};
use crate::server::boot::state::AppState;
use crate::server::http::site_files;
use crate::server::http::{
    api_answers_json, backup_download, cors, error_status, host, limits, origin, prometheus,
    security_headers,
};
use crate::server::{access, gateway, live};

/// The app's routes, found once per process. Generating them renders the app with resource
/// loading switched off process-wide, which would stall any render running meanwhile (a known
/// leptos 0.8 issue); once, before anything is served, is safe.
fn routes() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

pub fn build(state: AppState) -> Router {
    let routes = routes();
    let options = state.leptos_options.clone();
    // The pages, the API and the files. The gateway reads its own bodies within its own
    // deadline, answers errors in OpenAI's envelope and streams for as long as generation takes,
    // so the four layers that do those for everything else are not in its way: every gateway
    // request skipped each of them anyway, after paying for it (`scripts/bench`).
    let app = Router::new()
        .route(
            "/api/health",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/api/ws/status", get(live::route::status))
        .route("/api/backup", get(backup_download::download))
        .route("/metrics", get(prometheus::metrics))
        .route("/ws", get(live::route::websocket))
        .leptos_routes(&state, routes, move || shell(options.clone()))
        .merge(site_files::routes(&state.leptos_options))
        .fallback(site_files::not_found)
        // Added innermost first: the answer deadline, the body read whole within its deadline
        // and cap, then status mapping, and JSON answers for `/api/`.
        .layer(from_fn(api_answers_json::api_answers_json))
        .layer(from_fn(error_status::status_from_error))
        .layer(from_fn_with_state(state.clone(), limits::read_body_in_time))
        .layer(from_fn_with_state(state.clone(), limits::answer_in_time));
    Router::new()
        .merge(gateway::routes())
        .merge(app)
        // On the way in every request meets these bottom to top: security headers (on every
        // answer), the Host allow-list, CORS for the gateway, the Origin rule, the login (when
        // one is required).
        .layer(from_fn_with_state(
            state.clone(),
            access::guard::require_login,
        ))
        .layer(from_fn_with_state(
            state.clone(),
            origin::reject_foreign_origin,
        ))
        .layer(from_fn_with_state(state.clone(), cors::answer_cors))
        .layer(from_fn_with_state(state.clone(), host::reject_unknown_host))
        .layer(from_fn_with_state(
            state.clone(),
            security_headers::add_security_headers,
        ))
        .with_state(state)
}
