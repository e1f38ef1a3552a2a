//! Every `/api/` call answers JSON. Server functions otherwise answer a request that accepts
//! `text/html` with a redirect to its Referer (server_fn's redirects for `<form>` posts, which
//! Corral never makes): `/api/auth/me` opened in a browser got a 302, and a sign-in sent with a
//! foreign Referer was redirected there.

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

pub async fn api_answers_json(mut request: Request, next: Next) -> Response {
    if request.uri().path().starts_with("/api/") {
        request
            .headers_mut()
            .insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    }
    next.run(request).await
}
