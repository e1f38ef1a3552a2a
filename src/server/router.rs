//! The whole HTTP surface on one Axum router: pages, server functions, static files, guards.

use axum::Router;
use axum::middleware::from_fn;
use axum::routing::get;
use leptos_axum::{LeptosRoutes, generate_route_list};

use crate::app::{App, shell};
use crate::server::http::{error_status, limits, origin};
use crate::server::live;
use crate::server::state::AppState;

pub fn build(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    Router::new()
        .route(
            "/api/health",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/api/ws/status", get(live::route::status))
        .route("/ws", get(live::route::websocket))
        .leptos_routes(&state, routes, move || shell(options.clone()))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        // Outermost first on the way in: origin, then the body limit, then status mapping.
        .layer(from_fn(error_status::status_from_error))
        .layer(from_fn(limits::limit_body))
        .layer(from_fn(origin::reject_foreign_origin))
        .with_state(state)
}
