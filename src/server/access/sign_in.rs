//! Setting up, signing in and signing out, as plain functions the `/api/auth/*` server functions
//! call: each answers what the page shows and, where the session changes, the `Set-Cookie`
//! value the server function sets on its response.

use std::net::IpAddr;

use axum::http::HeaderMap;

use crate::domain::AppError;
use crate::domain::sign_in::{AccessState, SessionsEnded, SignedInAs, SignedOut};
use crate::server::access::{Access, SignedIn};

/// An answer and the session cookie to set with it.
pub type WithCookie<T> = (T, String);

/// `{"token", "username", "password"}`: the setup link's token creates the admin and signs them
/// in.
pub async fn setup(
    access: &Access,
    token: String,
    username: String,
    password: String,
) -> Result<WithCookie<SignedInAs>, AppError> {
    let session = access.setup(&token, username.clone(), password).await?;
    tracing::info!(%username, "the admin account was created");
    Ok((SignedInAs { username }, access.cookie(Some(&session))))
}

/// `{"username", "password"}` → a new session (a new id on every sign-in). Failures from one
/// `client` address back off.
pub async fn login(
    access: &Access,
    client: Option<IpAddr>,
    username: String,
    password: String,
) -> Result<WithCookie<SignedInAs>, AppError> {
    let session = access.login(client, username.clone(), password).await?;
    Ok((SignedInAs { username }, access.cookie(Some(&session))))
}

/// Ends this browser's session (if it has one) and clears its cookie.
pub async fn logout(
    access: &Access,
    headers: &HeaderMap,
) -> Result<WithCookie<SignedOut>, AppError> {
    if let Some(token) = access.session_token(headers) {
        access.logout(token).await?;
    }
    Ok((SignedOut { signed_out: true }, access.cookie(None)))
}

/// Ends every session of the signed-in admin, on every browser.
pub async fn logout_everywhere(
    access: &Access,
    signed_in: Option<SignedIn>,
) -> Result<WithCookie<SessionsEnded>, AppError> {
    let Some(signed_in) = signed_in else {
        return Err(AppError::Unauthorized {
            message: "sign in first".into(),
        });
    };
    let sessions_ended = access.logout_everywhere(signed_in.admin_id).await?;
    Ok((SessionsEnded { sessions_ended }, access.cookie(None)))
}

/// Whether a login is needed here, whether an admin exists, and whether this browser is signed
/// in.
pub async fn state(access: &Access, headers: &HeaderMap) -> Result<AccessState, AppError> {
    let signed_in = match access.session_token(headers) {
        Some(token) => access.session(token).await?.is_some(),
        None => false,
    };
    Ok(AccessState {
        login_required: access.settings().login_required(),
        admin_exists: access.admin_exists().await?,
        signed_in,
    })
}
