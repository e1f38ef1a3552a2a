//! What one client may hold: a request body is read whole, under a size cap and within a
//! deadline, before any handler sees it (a body that never completes cannot pin a handler or
//! shutdown); and every request but the live socket is answered within a deadline.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::domain::AppError;
use crate::domain::error::MAX_BODY_BYTES;
use crate::server::http::error_response;
use crate::server::route_class::is_gateway_path;

/// The deadlines and caps of the HTTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// From a connection's first byte (or its last answer) to the end of a request's headers;
    /// an idle keep-alive connection is closed after this long too.
    pub header_read: Duration,
    /// To receive a whole request body.
    pub body_read: Duration,
    /// To answer a request (not the live socket, which lives as long as its tab).
    pub request: Duration,
    /// Open connections at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// Open connections from one client address; one more is answered 429 and closed, so one
    /// client cannot take every place.
    pub max_connections_per_client: usize,
    /// After SIGTERM, how long open requests may finish before Corral stops its models and exits.
    pub shutdown_grace: Duration,
    /// How long a write may wait for a client that takes no bytes before the connection is
    /// closed (`--stream-write-timeout`): an unread stream then releases its model.
    pub write_stall: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_read: Duration::from_secs(10),
            body_read: Duration::from_secs(10),
            request: Duration::from_secs(60),
            max_connections: 1024,
            max_connections_per_client: 128,
            shutdown_grace: Duration::from_secs(5),
            write_stall: Duration::from_secs(60),
        }
    }
}

pub async fn read_body_in_time(
    State(limits): State<HttpLimits>,
    request: Request,
    next: Next,
) -> Response {
    // The gateway reads its own bodies, under its own (larger) cap.
    if matches!(*request.method(), Method::GET | Method::HEAD)
        || is_gateway_path(request.uri().path())
    {
        return next.run(request).await;
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = AppError::PayloadTooLarge {
        limit_bytes: MAX_BODY_BYTES,
    };
    if declared.is_some_and(|len| len > MAX_BODY_BYTES) {
        return closing(error_response(&too_large));
    }
    let (parts, body) = request.into_parts();
    let limit = limits.body_read;
    let read =
        tokio::time::timeout(limit, Limited::new(body, MAX_BODY_BYTES as usize).collect()).await;
    let bytes = match read {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => {
            return closing(error_response(&too_large));
        }
        Ok(Err(error)) => {
            return closing(error_response(&AppError::BadRequest {
                message: format!("the request body could not be read: {error}"),
            }));
        }
        Err(_) => {
            return closing(error_response(&AppError::Timeout {
                message: format!(
                    "the request body did not arrive within {} s",
                    limit.as_secs_f64()
                ),
            }));
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The rest of the body is not read, so the connection cannot carry another request: say so,
/// and the server closes it after the answer instead of waiting for the body's end.
fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Answers 503 when a request takes longer than the deadline. Work that must not stop halfway
/// (starting or stopping a model) runs in tasks of its own, so dropping the request is safe.
pub async fn answer_in_time(
    State(limits): State<HttpLimits>,
    request: Request,
    next: Next,
) -> Response {
    // The live socket lives as long as its tab; a gateway stream as long as generation takes
    // (its wait for a model has a deadline of its own).
    if request.uri().path() == "/ws" || is_gateway_path(request.uri().path()) {
        return next.run(request).await;
    }
    let limit = limits.request;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => error_response(&AppError::Unavailable {
            message: format!("no answer within {} s", limit.as_secs()),
        }),
    }
}
