//! The login guard, in front of everything when a login is required: a signed-in session
//! passes; pages without one are sent to `/login`, everything else gets 401 (the gateway's in
//! OpenAI's envelope). Until an admin exists only the setup answers.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use hyper::body::{Frame, SizeHint};

use crate::domain::AppError;
use crate::server::access::{CalledWithKey, keys};
use crate::server::boot::state::AppState;
use crate::server::gateway::envelope::GatewayError;
use crate::server::http::error_response;
use crate::server::http::origin::trusted_origin;
use crate::server::http::request_path::RequestPath;
use crate::server::route_class::{is_gateway_path, scope_for};
use crate::server::support::per_owner_cap::Place;

/// Paths that answer without a session: liveness, signing in and out (a browser whose session
/// ended elsewhere still clears its cookie), the setup, and the files the login and setup pages
/// load. Exact paths only, and only when written plainly (see `RequestPath`): `/pkg/../models/1`
/// is the model page, not a file.
fn always_open(path: &RequestPath) -> bool {
    path.plain
        && (matches!(
            path.normal.as_str(),
            "/api/health"
                | "/api/auth/login"
                | "/api/auth/logout"
                | "/api/auth/setup"
                | "/api/auth/me"
                | "/login"
                | "/setup"
                | "/favicon.svg"
        ) || path.normal.strip_prefix("/pkg/").is_some_and(is_site_file))
}

/// A file of the site's `pkg/` folder, as the build names them: segments of letters, digits,
/// `-`, `_` and `.`, none starting with a dot.
fn is_site_file(rest: &str) -> bool {
    rest.split('/').all(|segment| {
        !segment.is_empty()
            && !segment.starts_with('.')
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    })
}

/// The API key a request carries: `Authorization: Bearer`, `x-api-key`, or the password of
/// HTTP Basic (browsers, `curl -u`).
pub fn presented_key(headers: &HeaderMap) -> Option<String> {
    use base64::Engine;
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(authorization) = text("authorization") {
        let (kind, value) = authorization.split_once(' ')?;
        return match kind.to_ascii_lowercase().as_str() {
            "bearer" => Some(value.trim().to_string()),
            "basic" => {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(value.trim())
                    .ok()?;
                let pair = String::from_utf8(decoded).ok()?;
                pair.split_once(':')
                    .map(|(_, password)| password.to_string())
            }
            _ => None,
        };
    }
    text("x-api-key").map(|key| key.trim().to_string())
}

/// The value of the cookie `name` the request carries, if any (`Access::session_token`).
pub fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(found, _)| *found == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

pub async fn require_login(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let access = &state.access;
    if request.uri().path().len() > MAX_PATH_BYTES {
        return path_too_long(request.uri().path());
    }
    let named = RequestPath::of(request.uri().path());
    let path = named.normal.clone();
    if !access.settings().login_required() {
        if !named.plain {
            return not_plain(&path);
        }
        // Another site's page reached the gateway only because CORS lists it: what lets it in
        // is a key, so the key must be a real one with the scope, as with a login.
        if is_gateway_path(&path) && !trusted_origin(request.headers(), &state.hosts) {
            return match presented_key(request.headers()) {
                Some(secret) => with_key(&state, request, next, &named, &secret).await,
                None => refuse(
                    &path,
                    &request,
                    AppError::Unauthorized {
                        message: "a call from another site's page needs an API key".into(),
                    },
                ),
            };
        }
        return attributed(&state, request, next, &path).await;
    }
    if always_open(&named) {
        return next.run(request).await;
    }
    match access.admin_exists().await {
        Ok(true) => {}
        Ok(false) => {
            return refuse(
                &path,
                &request,
                AppError::Unavailable {
                    message: "Corral has no admin yet: open the setup link it printed to its log"
                        .into(),
                },
            );
        }
        Err(error) => return error_response(&error),
    }
    if let Some(secret) = presented_key(request.headers()) {
        return with_key(&state, request, next, &named, &secret).await;
    }
    with_session(&state, request, next, &named).await
}

/// Where no login is required a key is not asked for; one that is sent and live still names
/// who asked (the activity record and the key's usage), without limiting what it may do.
async fn attributed(state: &AppState, mut request: Request, next: Next, path: &str) -> Response {
    if is_gateway_path(path)
        && let Some(secret) = presented_key(request.headers())
        && let Ok(Some(key)) = state.access.key(&secret).await
    {
        request
            .extensions_mut()
            .insert(CalledWithKey(key.prefix.clone()));
    }
    next.run(request).await
}

/// A request carrying an API key: the key must be live and have the scope the path needs; a
/// gateway request holds one of the key's places until its answer's last byte.
async fn with_key(
    state: &AppState,
    mut request: Request,
    next: Next,
    named: &RequestPath,
    secret: &str,
) -> Response {
    let path = &named.normal;
    match state.access.key(secret).await {
        Ok(Some(key)) => {
            let needed = scope_for(request.method(), path);
            if !keys::allows(&key, needed) {
                refuse(
                    path,
                    &request,
                    AppError::Forbidden {
                        message: format!("this API key lacks the {needed} scope"),
                    },
                )
            } else if !named.plain {
                not_plain(path)
            } else if is_gateway_path(path) {
                let Some(place) = state.access.request_place(key.id) else {
                    return too_many_in_flight(state, &request, &key.prefix);
                };
                request.extensions_mut().insert(key);
                // The place is held until the answer's last byte (a stream included).
                let (parts, body) = next.run(request).await.into_parts();
                Response::from_parts(
                    parts,
                    Body::new(Holding {
                        body,
                        _place: place,
                    }),
                )
            } else {
                request.extensions_mut().insert(key);
                next.run(request).await
            }
        }
        Ok(None) => refuse(
            path,
            &request,
            AppError::Unauthorized {
                message: "the API key is unknown, revoked or expired".into(),
            },
        ),
        Err(error) => error_response(&error),
    }
}

/// A request with no key: a live session cookie, or sign in first.
async fn with_session(
    state: &AppState,
    mut request: Request,
    next: Next,
    named: &RequestPath,
) -> Response {
    let path = &named.normal;
    let signed_in = match state.access.session_token(request.headers()) {
        Some(token) => state.access.session(token).await,
        None => Ok(None),
    };
    match signed_in {
        Ok(Some(_)) if !named.plain => not_plain(path),
        Ok(Some(signed_in)) => {
            request.extensions_mut().insert(signed_in);
            next.run(request).await
        }
        Ok(None) => {
            // An API client cannot sign in: it is told what to send, and where keys are made.
            let message = if is_gateway_path(path) {
                "this API needs a key: send Authorization: Bearer <key> (make one on Corral's \
                 Keys page, /keys)"
            } else {
                "sign in first (POST /api/auth/login)"
            };
            refuse(
                path,
                &request,
                AppError::Unauthorized {
                    message: message.into(),
                },
            )
        }
        Err(error) => error_response(&error),
    }
}

/// Longest path any route needs (a pass-through names a model and one of its endpoints).
pub const MAX_PATH_BYTES: usize = 4096;

fn path_too_long(raw: &str) -> Response {
    let message = format!("a path may be at most {MAX_PATH_BYTES} bytes");
    if is_gateway_path(raw) {
        return GatewayError::new(StatusCode::URI_TOO_LONG, "path_too_long", message)
            .into_response();
    }
    (StatusCode::URI_TOO_LONG, message).into_response()
}

/// A path written in a roundabout way gets 400 (after the credentials, so that without them
/// it tells nothing): its normal form is what it would have named.
fn not_plain(normal: &str) -> Response {
    let message = format!(
        "write the path plainly, as {} (no '.' or '..' segments, '//', trailing '/', \\, \
         ';', encoded separators or control characters)",
        crate::domain::text::kept(normal)
    );
    if is_gateway_path(normal) {
        return GatewayError::bad_request(message).into_response();
    }
    error_response(&AppError::BadRequest { message })
}

/// An answer's body holding a place until the body is dropped. Its size is passed on, so a
/// whole answer keeps its `Content-Length` (a wrapper that hid it would make every answer
/// chunked).
struct Holding {
    body: Body,
    _place: Place<i64>,
}

impl HttpBody for Holding {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A key's gateway requests in flight are at the cap: wait for one to end. A request the
/// gateway would meter is recorded as refused (its body, and so its model, is not read).
fn too_many_in_flight(state: &AppState, request: &Request, key_prefix: &str) -> Response {
    let cap = state.access.settings().max_requests_per_key;
    let error = GatewayError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
        format!(
            "this API key has {cap} requests in flight, the most one key may \
             (--max-requests-per-key); try again when one has ended"
        ),
    )
    .retry_after(1);
    let path = request.uri().path();
    let endpoint = if path.starts_with("/upstream/") {
        Some("/upstream")
    } else {
        (request.method() == Method::POST).then_some(path)
    };
    if let Some(endpoint) = endpoint {
        let mut meter = crate::server::metering::meter::Meter::begin(&state.metering, endpoint);
        meter.caller(Some(key_prefix.to_string()));
        meter.refused(error.status, &error.message);
    }
    error.into_response()
}

/// A page is sent to the login (or setup) page; the rest gets the error as its kind of client
/// reads it.
fn refuse(path: &str, request: &Request, error: AppError) -> Response {
    let page = request.method() == Method::GET
        && !matches!(error, AppError::Forbidden { .. })
        && !path.starts_with("/api/")
        && path != "/ws"
        && path != "/metrics"
        && !is_gateway_path(path);
    if page {
        let target = match error {
            AppError::Unavailable { .. } => "/setup".to_string(),
            _ => format!("/login?next={}", encode(path)),
        };
        return Redirect::to(&target).into_response();
    }
    if is_gateway_path(path) {
        let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::UNAUTHORIZED);
        let code = if status == StatusCode::FORBIDDEN {
            "forbidden"
        } else {
            "unauthorized"
        };
        let mut response = GatewayError::new(status, code, error.to_string()).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"corral\""),
            );
        }
        return response;
    }
    error_response(&error)
}

/// A path as a query value: everything but unreserved characters and `/` percent-encoded.
fn encode(path: &str) -> String {
    path.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "theme=dark; corral_session=abc123; other=1"
                .parse()
                .unwrap(),
        );
        assert_eq!(cookie_value(&headers, "corral_session"), Some("abc123"));
        assert_eq!(cookie_value(&headers, "corral_session_3000"), None);
        headers.insert(header::COOKIE, "corral_session=".parse().unwrap());
        assert_eq!(cookie_value(&headers, "corral_session"), None);
    }

    #[test]
    fn a_next_path_is_encoded() {
        assert_eq!(encode("/models/3"), "/models/3");
        assert_eq!(encode("/a b?c"), "/a%20b%3Fc");
    }
}
