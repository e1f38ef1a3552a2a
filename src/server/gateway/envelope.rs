//! Every gateway error in OpenAI's envelope, `{"error": {"message", "type", "code"}}`, so SDKs
//! raise the exception they know (`NotFoundError`, `RateLimitError`...).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::domain::AppError;
use crate::domain::text;
use crate::server::gateway::on_demand::Refusal;

#[derive(Debug, Clone, PartialEq)]
pub struct GatewayError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub code: &'static str,
    pub message: String,
    /// Seconds a client should wait before trying again.
    pub retry_after: Option<u32>,
}

impl GatewayError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        let kind = match status.as_u16() {
            400 | 404 | 413 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            429 => "rate_limit_error",
            501 => "not_supported_error",
            _ => "server_error",
        };
        GatewayError {
            status,
            kind,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        GatewayError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }

    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn unknown_model(name: &str) -> Self {
        GatewayError::new(
            StatusCode::NOT_FOUND,
            "model_not_found",
            format!(
                "no model is called '{}'; GET /v1/models lists them",
                text::kept(name)
            ),
        )
    }
}

impl From<Refusal> for GatewayError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Busy { limit } => GatewayError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                format!(
                    "the model already has {limit} requests in flight or waiting (its \
                     serving.max_requests); try again shortly"
                ),
            )
            .retry_after(1),
            Refusal::Stopping => GatewayError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "model_stopping",
                "the model is stopping (its requests in flight finish first); a request after it \
                 has stopped starts it again",
            )
            .retry_after(5),
            Refusal::Timeout => GatewayError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "queue_timeout",
                "the model was not ready within the queue timeout (serving.queue_timeout_seconds)",
            )
            .retry_after(10),
            Refusal::StartFailed(reason) => GatewayError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "model_start_failed",
                format!("the model could not be started: {reason}"),
            ),
            Refusal::NotRunning => GatewayError::new(
                StatusCode::CONFLICT,
                "model_not_running",
                "the model is not running, and a GET starts it only with an API key or a \
                 session and not from another site's page; start it (POST /models/load) or \
                 send the request with a key",
            ),
            Refusal::Other(error) => GatewayError::from(error),
        }
    }
}

impl From<AppError> for GatewayError {
    fn from(error: AppError) -> Self {
        let status = match error.status() {
            404 => StatusCode::NOT_FOUND,
            400 => StatusCode::BAD_REQUEST,
            409 | 503 => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        GatewayError::new(status, "corral_error", error.to_string())
    }
}

impl GatewayError {
    /// The envelope, as a body or as the last event of a stream already under way.
    pub fn envelope(&self) -> serde_json::Value {
        json!({"error": {"message": self.message, "type": self.kind, "code": self.code}})
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let body = self.envelope();
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
