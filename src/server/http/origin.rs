//! State-changing requests must come from Corral's own pages (or from a script, which sends no
//! Origin): a page on another site cannot make a visitor's browser change their models.

use axum::extract::Request;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::domain::AppError;
use crate::server::http::error_response;

pub async fn reject_foreign_origin(request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !safe && !same_origin(request.headers()) {
        return error_response(&AppError::Forbidden {
            message: "cross-origin requests may not change Corral's state".into(),
        });
    }
    next.run(request).await
}

/// True when the request's `Origin` is this server, or absent (curl, scripts).
pub fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &header::HeaderValue| v.to_str().ok())
    };
    match text(header::ORIGIN) {
        None => text(header::HeaderName::from_static("sec-fetch-site")) != Some("cross-site"),
        Some(origin) => {
            let host = text(header::HOST).unwrap_or_default();
            !host.is_empty()
                && (origin == format!("http://{host}") || origin == format!("https://{host}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (header::HeaderName::from_static(k), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn a_request_without_origin_is_allowed() {
        assert!(same_origin(&headers(&[("host", "127.0.0.1:3000")])));
    }

    #[test]
    fn the_servers_own_origin_is_allowed() {
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "http://127.0.0.1:3000")
        ])));
    }

    #[test]
    fn a_foreign_origin_is_rejected() {
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "http://evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "null")
        ])));
    }

    #[test]
    fn a_cross_site_fetch_without_origin_is_rejected() {
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:3000"),
            ("sec-fetch-site", "cross-site")
        ])));
    }
}
