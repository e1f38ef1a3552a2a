//! HTTP guards around everything: Host allow-list, Origin rule, deadlines and caps, security
//! headers, error statuses; and the accept loop that serves them.

pub mod api_answers_json;
pub mod backup_download;
pub mod cors;
pub mod error_status;
pub mod host;
pub mod limits;
pub mod origin;
pub mod prometheus;
pub mod public_url;
pub mod request_path;
pub mod security_headers;
pub mod serve;
pub mod site_files;
pub mod tls;
pub mod write_deadline;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::domain::AppError;

/// An `AppError` as an HTTP response: its status and its JSON.
/// What an error's answer says besides its body: how to authenticate (401), when to come back
/// (429). Server functions' errors get the same (`error_status`).
pub fn error_headers(headers: &mut axum::http::HeaderMap, error: &AppError) {
    match error {
        AppError::Unauthorized { .. } => {
            headers.insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"corral\""),
            );
        }
        AppError::TooManyRequests {
            retry_after_seconds,
            ..
        } => {
            headers.insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(*retry_after_seconds),
            );
        }
        _ => {}
    }
}

pub fn error_response(error: &AppError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body =
        serde_json::to_string(error).unwrap_or_else(|_| r#"{"code":"internal"}"#.to_string());
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    error_headers(response.headers_mut(), error);
    response
}
