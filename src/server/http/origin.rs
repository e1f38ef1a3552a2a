//! State-changing requests must come from Corral's own pages (or from a script, which sends no
//! Origin): a page on another site cannot make a visitor's browser change their models. "Our
//! pages" means an origin on the Host allow-list, never whatever the request's own Host says.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::domain::AppError;
use crate::server::http::cors::carries_key_header;
use crate::server::http::error_response;
use crate::server::http::host::AllowedHosts;
use crate::server::route_class::is_gateway_path;

pub async fn reject_foreign_origin(
    State(hosts): State<Arc<AllowedHosts>>,
    request: Request,
    next: Next,
) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    // A gateway call with a key in a header cannot be forged by another site (CORS decides
    // which sites may send one).
    let keyed = is_gateway_path(request.uri().path()) && carries_key_header(request.headers());
    if !safe && !keyed && !trusted_origin(request.headers(), &hosts) {
        return error_response(&AppError::Forbidden {
            message: "cross-origin requests may not change Corral's state".into(),
        });
    }
    next.run(request).await
}

/// True when the request's `Origin` is one of Corral's allowed hosts, or absent and not marked
/// cross-site by the browser (curl and scripts send no Origin).
pub fn trusted_origin(headers: &HeaderMap, hosts: &AllowedHosts) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &header::HeaderValue| v.to_str().ok())
    };
    match headers.get(header::ORIGIN) {
        None => text(header::HeaderName::from_static("sec-fetch-site")) != Some("cross-site"),
        Some(origin) => origin.to_str().is_ok_and(|o| hosts.allows_origin(o)),
    }
}

/// True when the request comes from one of Corral's own pages, or from no page at all (a
/// script, the address bar): for a GET that changes something (a backup, a model started). A
/// browser marks what a page sends (`Sec-Fetch-Site`, on localhost too): anything but
/// `same-origin` (or `none`, typed by the user) is another page's, another port's included.
pub fn same_origin_request(headers: &HeaderMap, hosts: &AllowedHosts) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let origin_ok = headers
        .get(header::ORIGIN)
        .is_none_or(|origin| origin.to_str().is_ok_and(|o| hosts.allows_origin(o)));
    origin_ok && matches!(fetch_site, None | Some("same-origin") | Some("none"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> AllowedHosts {
        AllowedHosts::new("127.0.0.1:3000".parse().unwrap(), &[])
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (header::HeaderName::from_static(k), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn a_request_without_origin_is_allowed() {
        assert!(trusted_origin(
            &headers(&[("host", "127.0.0.1:3000")]),
            &hosts()
        ));
    }

    #[test]
    fn the_servers_own_origin_is_allowed() {
        assert!(trusted_origin(
            &headers(&[
                ("host", "127.0.0.1:3000"),
                ("origin", "http://127.0.0.1:3000")
            ]),
            &hosts()
        ));
    }

    #[test]
    fn a_foreign_origin_is_rejected_even_when_it_matches_the_host_header() {
        for (host, origin) in [
            ("127.0.0.1:3000", "http://evil.example"),
            ("127.0.0.1:3000", "null"),
            ("evil.example:3000", "http://evil.example:3000"),
        ] {
            assert!(
                !trusted_origin(&headers(&[("host", host), ("origin", origin)]), &hosts()),
                "{origin}"
            );
        }
    }

    #[test]
    fn only_corrals_own_pages_and_no_page_at_all_are_same_origin() {
        for (pairs, same) in [
            (vec![], true),
            (vec![("sec-fetch-site", "none")], true),
            (vec![("sec-fetch-site", "same-origin")], true),
            (vec![("sec-fetch-site", "same-site")], false),
            (vec![("sec-fetch-site", "cross-site")], false),
            (vec![("origin", "http://evil.example")], false),
            (vec![("origin", "http://127.0.0.1:3000")], true),
        ] {
            assert_eq!(
                same_origin_request(&headers(&pairs), &hosts()),
                same,
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn a_cross_site_fetch_without_origin_is_rejected() {
        assert!(!trusted_origin(
            &headers(&[("host", "127.0.0.1:3000"), ("sec-fetch-site", "cross-site")]),
            &hosts()
        ));
    }
}
