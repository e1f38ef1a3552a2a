//! The site's own files and the page for every other path. Files are served by exact name from
//! the build's `pkg/` folder and the `public` files (precompressed copies preferred), never by
//! rendering the app; a path no route knows gets the app's "not found" page, and only to
//! someone who may see pages (the guard runs first, but the renderer checks again rather than
//! trust every way a path can reach it).

use std::path::Path;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use tower_http::services::{ServeDir, ServeFile};

use crate::app::shell;
use crate::domain::api_key::ApiKey;
use crate::server::access::SignedIn;
use crate::server::boot::state::AppState;

/// Files of the `public` folder, served at the site's root.
const PUBLIC_FILES: &[&str] = &["favicon.svg"];

pub fn routes(options: &LeptosOptions) -> Router<AppState> {
    let root = Path::new(&*options.site_root);
    let pkg = ServeDir::new(root.join(&*options.site_pkg_dir))
        .precompressed_br()
        .precompressed_gzip()
        // A folder is not a file: no index page, no redirect to a trailing slash.
        .append_index_html_on_directories(false);
    let mut router = Router::new().nest_service(&format!("/{}", options.site_pkg_dir), pkg);
    for file in PUBLIC_FILES {
        router = router.route_service(&format!("/{file}"), ServeFile::new(root.join(file)));
    }
    router
}

/// Every path no route serves: the app's "not found" page (404), rendered only when a login
/// is not required or the request carries a session or a key.
pub async fn not_found(State(state): State<AppState>, request: Request) -> Response {
    let allowed = !state.access.settings().login_required()
        || request.extensions().get::<SignedIn>().is_some()
        || request
            .extensions()
            .get::<std::sync::Arc<ApiKey>>()
            .is_some();
    if !allowed {
        return Redirect::to("/login").into_response();
    }
    let options = state.leptos_options.clone();
    let render = leptos_axum::render_app_to_stream_with_context(
        {
            let state = state.clone();
            move || provide_context(state.clone())
        },
        move || shell(options.clone()),
    );
    let mut response = render(request).await;
    if response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::NOT_FOUND;
    }
    response
}
