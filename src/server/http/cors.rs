//! CORS for programs: a browser-based client on another site (a hosted chat UI pointed at
//! Corral) may call the gateway with an API key when its origin is listed (`--cors-origin`).
//! Such calls carry the key in a header, which a page can only send after a preflight this
//! layer answers, and which a browser never adds by itself: they cannot be forged cross-site,
//! so the Origin rule lets them through. Cookies are never allowed cross-site.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::server::route_class::is_gateway_path;

/// The origins allowed to call the gateway from a browser: exact `scheme://host[:port]`, or
/// `*` for any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsOrigins(Arc<[String]>);

impl CorsOrigins {
    /// Checks each origin's shape; the message names the bad one.
    pub fn parse(origins: &[String]) -> Result<CorsOrigins, String> {
        let mut checked = Vec::new();
        for origin in origins {
            let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
            let shaped = origin == "*"
                || ["http://", "https://"].iter().any(|scheme| {
                    origin.strip_prefix(scheme).is_some_and(|rest| {
                        !rest.is_empty() && !rest.contains(['/', '?', '#', '@', ' '])
                    })
                });
            if !shaped {
                return Err(format!(
                    "--cors-origin {origin}: an origin is scheme://host[:port] (or *)"
                ));
            }
            checked.push(origin);
        }
        Ok(CorsOrigins(checked.into()))
    }

    /// `*` is listed: any site.
    pub fn allows_any(&self) -> bool {
        self.0.iter().any(|allowed| allowed == "*")
    }

    pub fn allows(&self, origin: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        self.0
            .iter()
            .any(|allowed| allowed == "*" || *allowed == origin)
    }
}

/// True when the request carries an API key in a header a browser never sends by itself.
pub fn carries_key_header(headers: &HeaderMap) -> bool {
    headers.contains_key("x-api-key")
        || headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer "))
}

pub async fn answer_cors(
    State(cors): State<CorsOrigins>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if !is_gateway_path(path) {
        return next.run(request).await;
    }
    let allowed = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|origin| cors.allows(origin))
        .and_then(|origin| HeaderValue::from_str(origin).ok());
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let Some(origin) = allowed else {
            return StatusCode::FORBIDDEN.into_response();
        };
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type, x-api-key"),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        return response;
    }
    let mut response = next.run(request).await;
    if let Some(origin) = allowed {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("retry-after"),
        );
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked_for_shape_and_matched_without_regard_to_case() {
        let origins = CorsOrigins::parse(&["https://Chat.example.com/".into()]).unwrap();
        assert!(origins.allows("https://chat.example.com"));
        assert!(!origins.allows("https://evil.example"));
        assert!(
            CorsOrigins::parse(&["*".into()])
                .unwrap()
                .allows("http://any")
        );
        for bad in ["chat.example.com", "https://", "https://a/b", "ftp://x"] {
            assert!(CorsOrigins::parse(&[bad.into()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_a_bearer_or_x_api_key_header_counts_as_a_key() {
        let mut headers = HeaderMap::new();
        assert!(!carries_key_header(&headers));
        headers.insert(header::AUTHORIZATION, "Basic YTpi".parse().unwrap());
        assert!(
            !carries_key_header(&headers),
            "browsers send Basic by themselves"
        );
        headers.insert(header::AUTHORIZATION, "Bearer crl_x".parse().unwrap());
        assert!(carries_key_header(&headers));
    }
}
