//! Request bodies are capped: a declared length over the cap is refused at once, and a body
//! that streams past it fails while being read (the API then answers 413 too).

use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::Limited;

use crate::domain::AppError;
use crate::domain::error::MAX_BODY_BYTES;
use crate::server::http::error_response;

pub async fn limit_body(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES) {
        return error_response(&AppError::PayloadTooLarge {
            limit_bytes: MAX_BODY_BYTES,
        });
    }
    next.run(request.map(|body| Body::new(Limited::new(body, MAX_BODY_BYTES as usize))))
        .await
}
