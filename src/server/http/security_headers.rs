//! Headers every answer carries: no framing (clickjacking of Start, Stop and Delete), no content
//! sniffing, no referrer. Pages set their own Content-Security-Policy with the per-request nonce
//! of their inline scripts (`page_policy`); every other answer gets one that allows nothing.
//! Over HTTPS with `--hsts`, browsers are told to use HTTPS only, for a year.

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::server::boot::state::AppState;

/// The policy of everything that is not a page (JSON, WASM, CSS, errors).
const NOTHING: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// `Strict-Transport-Security` with `--hsts`: a year, this host only (Corral does not speak
/// for its subdomains).
const HSTS: &str = "max-age=31536000";

pub async fn add_security_headers(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if state.access.settings().hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // For browsers that predate frame-ancestors.
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(NOTHING),
        );
    }
    response
}

/// The policy of a server-rendered page: its own scripts (the inline hydration script carries
/// `nonce`), WebAssembly, its own styles, images and sockets; nothing framed, no plugins.
/// `reload` is the port of `cargo leptos watch`'s reload socket, in development only.
pub fn page_policy(nonce: &str, reload: Option<u32>) -> String {
    let reload = reload.map_or(String::new(), |port| {
        format!(" ws://127.0.0.1:{port} ws://localhost:{port}")
    });
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'{reload}; font-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_policy_allows_its_nonce_and_wasm_and_no_framing() {
        let policy = page_policy("abc", None);
        assert!(policy.contains("'nonce-abc'"));
        assert!(policy.contains("'wasm-unsafe-eval'"));
        assert!(policy.contains("frame-ancestors 'none'"));
        assert!(!policy.contains("unsafe-inline"));
        assert!(!policy.contains("ws://"));
        assert!(page_policy("abc", Some(3001)).contains("ws://127.0.0.1:3001"));
    }
}
