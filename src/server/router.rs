//! The whole HTTP surface on one Axum router: pages, server functions, static files, guards.

use axum::Router;
use axum::middleware::from_fn;
use axum::routing::get;
use std::sync::OnceLock;

use leptos_axum::{AxumRouteListing, LeptosRoutes, generate_route_list};

use crate::app::{App, shell};
use crate::server::http::{error_status, limits, origin, prometheus};
use crate::server::live;
use crate::server::state::AppState;

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
    Router::new()
        .route(
            "/api/health",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/api/ws/status", get(live::route::status))
        .route("/metrics", get(prometheus::metrics))
        .route("/ws", get(live::route::websocket))
        .leptos_routes(&state, routes, move || shell(options.clone()))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        // Outermost first on the way in: origin, then the body limit, then status mapping.
        .layer(from_fn(error_status::status_from_error))
        .layer(from_fn(limits::limit_body))
        .layer(from_fn(origin::reject_foreign_origin))
        .with_state(state)
}
