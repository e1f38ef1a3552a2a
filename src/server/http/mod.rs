//! HTTP guards around everything: Host allow-list, Origin rule, deadlines and caps, security
//! headers, error statuses; and the accept loop that serves them.

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
pub fn error_response(error: &AppError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body =
        serde_json::to_string(error).unwrap_or_else(|_| r#"{"code":"internal"}"#.to_string());
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    let headers = response.headers_mut();
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
    response
}
