//! `/api/auth/setup|login|logout|logout_everywhere|me`: the admin's account and sessions. Each
//! is one line into `crate::server::access::sign_in`; where the session changes, the cookie is
//! set on the response here.

use leptos::prelude::*;
use leptos::server_fn::codec::{GetUrl, Json, PostUrl};

use crate::domain::AppError;
use crate::domain::sign_in::{AccessState, SessionsEnded, SignedInAs, SignedOut};

#[cfg(feature = "ssr")]
use crate::server::access::sign_in;

/// `{"token", "username", "password"}`: the one-time setup link creates the admin account and
/// signs this browser in.
#[server(prefix = "/api", endpoint = "auth/setup", input = Json)]
pub async fn set_up_admin(
    token: String,
    username: String,
    password: String,
) -> Result<SignedInAs, AppError> {
    sign_in::setup(&access()?, token, username, password)
        .await
        .map(with_cookie)
}

/// `{"username", "password"}` → this browser signed in (a new session cookie).
#[server(prefix = "/api", endpoint = "auth/login", input = Json)]
pub async fn sign_in(username: String, password: String) -> Result<SignedInAs, AppError> {
    sign_in::login(&access()?, client().await, username, password)
        .await
        .map(with_cookie)
}

/// `POST` (any body, or none) → this browser's session ended.
#[server(prefix = "/api", endpoint = "auth/logout", input = PostUrl)]
pub async fn sign_out() -> Result<SignedOut, AppError> {
    sign_in::logout(&access()?, &headers().await?)
        .await
        .map(with_cookie)
}

/// `POST` (any body, or none) → every session of the signed-in admin ended, on every browser.
#[server(prefix = "/api", endpoint = "auth/logout_everywhere", input = PostUrl)]
pub async fn sign_out_everywhere() -> Result<SessionsEnded, AppError> {
    sign_in::logout_everywhere(&access()?, signed_in().await)
        .await
        .map(with_cookie)
}

/// `GET` → whether a login is needed, whether an admin exists, whether this browser is signed in.
#[server(prefix = "/api", endpoint = "auth/me", input = GetUrl)]
pub async fn who_is_here() -> Result<AccessState, AppError> {
    sign_in::state(&access()?, &headers().await?).await
}

#[cfg(feature = "ssr")]
fn access() -> Result<crate::server::access::Access, AppError> {
    super::state().map(|state| state.access.clone())
}

/// The request's headers (the session cookie is among them).
#[cfg(feature = "ssr")]
async fn headers() -> Result<axum::http::HeaderMap, AppError> {
    leptos_axum::extract::<axum::http::HeaderMap>()
        .await
        .map_err(|e| AppError::internal(e.to_string()))
}

/// The address asking: failed sign-ins back off per address.
#[cfg(feature = "ssr")]
async fn client() -> Option<std::net::IpAddr> {
    use axum::extract::ConnectInfo;
    let ConnectInfo(address) = leptos_axum::extract::<ConnectInfo<std::net::SocketAddr>>()
        .await
        .ok()?;
    Some(address.ip())
}

/// The admin this request's session belongs to, if the guard found one.
#[cfg(feature = "ssr")]
async fn signed_in() -> Option<crate::server::access::SignedIn> {
    let axum::Extension(signed_in) =
        leptos_axum::extract::<axum::Extension<crate::server::access::SignedIn>>()
            .await
            .ok()?;
    Some(signed_in)
}

/// Sets the session cookie on this server function's response and answers the value.
#[cfg(feature = "ssr")]
fn with_cookie<T>((value, cookie): sign_in::WithCookie<T>) -> T {
    use axum::http::{HeaderValue, header};
    match (
        use_context::<leptos_axum::ResponseOptions>(),
        HeaderValue::from_str(&cookie),
    ) {
        (Some(response), Ok(cookie)) => response.insert_header(header::SET_COOKIE, cookie),
        _ => tracing::error!("the session cookie could not be set"),
    }
    value
}
