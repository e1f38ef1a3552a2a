//! `/api/auth/*`: setup, sign-in, sign-out. Plain JSON routes (not server functions): they
//! set and clear the session cookie.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::domain::AppError;
use crate::server::access::SignedIn;
use crate::server::boot::state::AppState;
use crate::server::http::error_response;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/auth/setup", post(setup))
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/logout_everywhere", post(logout_everywhere))
        .route("/api/auth/me", get(me))
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, AppError> {
    serde_json::from_slice(body).map_err(|e| AppError::BadRequest {
        message: e.to_string(),
    })
}

fn answer(result: Result<Response, AppError>) -> Response {
    result.unwrap_or_else(|error| error_response(&error))
}

/// A JSON answer that sets (or clears) the session cookie.
fn with_cookie(cookie: &str, body: serde_json::Value) -> Result<Response, AppError> {
    let mut response = Json(body).into_response();
    let value = HeaderValue::from_str(cookie).map_err(AppError::internal)?;
    response.headers_mut().insert(header::SET_COOKIE, value);
    Ok(response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    username: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Setup {
    token: String,
    username: String,
    password: String,
}

/// `{"token", "username", "password"}`: the setup link's token creates the admin.
async fn setup(State(state): State<AppState>, body: Bytes) -> Response {
    answer(
        async {
            let setup: Setup = parse(&body)?;
            let username = setup.username.clone();
            let token = state
                .access
                .setup(&setup.token, setup.username, setup.password)
                .await?;
            tracing::info!(%username, "the admin account was created");
            with_cookie(
                &state.access.cookie(Some(&token)),
                json!({"username": username}),
            )
        }
        .await,
    )
}

/// `{"username", "password"}` → a new session cookie (a new id on every sign-in).
async fn login(
    State(state): State<AppState>,
    connect: Option<Extension<ConnectInfo<std::net::SocketAddr>>>,
    body: Bytes,
) -> Response {
    answer(
        async {
            let credentials: Credentials = parse(&body)?;
            let username = credentials.username.clone();
            let client = connect.map(|Extension(ConnectInfo(address))| address.ip());
            let token = state
                .access
                .login(client, credentials.username, credentials.password)
                .await?;
            with_cookie(
                &state.access.cookie(Some(&token)),
                json!({"username": username}),
            )
        }
        .await,
    )
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    answer(
        async {
            if let Some(token) = state.access.session_token(&headers) {
                state.access.logout(token).await?;
            }
            with_cookie(&state.access.cookie(None), json!({"signed_out": true}))
        }
        .await,
    )
}

/// Ends every session of the signed-in admin, on every browser.
async fn logout_everywhere(
    State(state): State<AppState>,
    signed_in: Option<Extension<SignedIn>>,
) -> Response {
    answer(
        async {
            let Some(Extension(signed_in)) = signed_in else {
                return Err(AppError::Unauthorized {
                    message: "sign in first".into(),
                });
            };
            let ended = state.access.logout_everywhere(signed_in.admin_id).await?;
            with_cookie(&state.access.cookie(None), json!({"sessions_ended": ended}))
        }
        .await,
    )
}

/// Whether a login is needed here, whether an admin exists, and whether this browser is
/// signed in: what the login and setup pages ask first.
async fn me(State(state): State<AppState>, headers: HeaderMap) -> Response {
    answer(
        async {
            let signed_in = match state.access.session_token(&headers) {
                Some(token) => state.access.session(token).await?.is_some(),
                None => false,
            };
            Ok(Json(json!({
                "login_required": state.access.settings().login_required(),
                "admin_exists": state.access.admin_exists().await?,
                "signed_in": signed_in,
            }))
            .into_response())
        }
        .await,
    )
}
