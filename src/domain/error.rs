//! The one error type. The server returns it, the browser decodes it, the page shows it; its HTTP
//! status is derived from the variant in one place (`AppError::status`).

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

choice_enum! {
    /// The rule a field broke: stable words that scripts can match on.
    pub enum Rule {
        Required => "required",
        Type => "type",
        Range => "range",
        MaxLength => "max_length",
        MaxItems => "max_items",
        OneOf => "one_of",
        Pattern => "pattern",
        AbsolutePath => "absolute_path",
        GgufFile => "gguf_file",
        NoControlChars => "no_control_chars",
        UnknownField => "unknown_field",
        Unique => "unique",
        Conflict => "conflict",
        Unsupported => "unsupported",
        /// A llama-server flag Corral does not pass on (it could run commands, touch files,
        /// open the server to others, or override what Corral sets itself).
        NotAllowed => "not_allowed",
        /// A file outside the model folders (`--model-roots`), after following symlinks.
        ModelRoots => "model_roots",
    }
}

/// One broken rule on one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub rule: Rule,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, rule: Rule, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            rule,
            message: message.into(),
        }
    }
}

/// Everything that can go wrong, as the API reports it (`{"code": ..., ...}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum AppError {
    /// Input that parsed but broke rules: every bad field, with its rule.
    #[error("{}", summarise(errors))]
    Invalid { errors: Vec<FieldError> },
    /// Input that could not be read at all (malformed JSON, a missing argument).
    #[error("malformed request: {message}")]
    BadRequest { message: String },
    #[error("{what} {key} does not exist")]
    NotFound { what: String, key: String },
    /// The request clashes with what is stored (a taken name, a running model).
    #[error("{message}")]
    Conflict { field: String, message: String },
    #[error("the request body is larger than {limit_bytes} bytes")]
    PayloadTooLarge { limit_bytes: u64 },
    /// No credentials, or wrong ones.
    #[error("{message}")]
    Unauthorized { message: String },
    #[error("{message}")]
    Forbidden { message: String },
    /// Too many attempts: the next one is heard after the wait.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_seconds: u64,
    },
    /// Something Corral needs is not there (no llama-server installed).
    #[error("{message}")]
    Unavailable { message: String },
    /// The client took too long to send its request.
    #[error("{message}")]
    Timeout { message: String },
    #[error("internal error: {message}")]
    Internal { message: String },
    /// Only made in the browser: the server could not be reached or answered nonsense.
    #[error("could not reach Corral: {message}")]
    Network { message: String },
}

fn summarise(errors: &[FieldError]) -> String {
    match errors {
        [] => "invalid input".to_string(),
        [one] => format!("{}: {}", one.field, one.message),
        [first, rest @ ..] => format!(
            "{}: {} (and {} more)",
            first.field,
            first.message,
            rest.len()
        ),
    }
}

impl AppError {
    pub fn invalid(field: impl Into<String>, rule: Rule, message: impl Into<String>) -> Self {
        AppError::Invalid {
            errors: vec![FieldError::new(field, rule, message)],
        }
    }

    /// The request collides with the state of `field` (a model already running, say).
    pub fn conflict(field: &str, message: impl Into<String>) -> Self {
        AppError::Conflict {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn not_found(what: &str, key: impl std::fmt::Display) -> Self {
        AppError::NotFound {
            what: what.to_string(),
            key: key.to_string(),
        }
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        AppError::Internal {
            message: message.to_string(),
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            AppError::Invalid { .. } | AppError::BadRequest { .. } => 400,
            AppError::Unauthorized { .. } => 401,
            AppError::Forbidden { .. } => 403,
            AppError::TooManyRequests { .. } => 429,
            AppError::Timeout { .. } => 408,
            AppError::NotFound { .. } => 404,
            AppError::Conflict { .. } => 409,
            AppError::PayloadTooLarge { .. } => 413,
            AppError::Internal { .. } => 500,
            AppError::Unavailable { .. } => 503,
            AppError::Network { .. } => 502,
        }
    }

    /// The field errors this error carries, so a form can show them inline.
    pub fn field_errors(&self) -> Vec<FieldError> {
        match self {
            AppError::Invalid { errors } => errors.clone(),
            AppError::Conflict { field, message } if !field.is_empty() => {
                vec![FieldError::new(
                    field.clone(),
                    Rule::Conflict,
                    message.clone(),
                )]
            }
            _ => Vec::new(),
        }
    }
}

/// The largest request body the API reads.
pub const MAX_BODY_BYTES: u64 = 1024 * 1024;

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // The body is read whole under a size cap; overrunning it is the only read failure.
            ServerFnErrorErr::Request(message) | ServerFnErrorErr::Deserialization(message)
                if message.contains("length limit exceeded") =>
            {
                AppError::PayloadTooLarge {
                    limit_bytes: MAX_BODY_BYTES,
                }
            }
            ServerFnErrorErr::Args(message) | ServerFnErrorErr::MissingArg(message) => {
                AppError::BadRequest { message }
            }
            // On the server, failing to decode means the caller sent bad JSON; in the browser,
            // it means the answer could not be read.
            ServerFnErrorErr::Deserialization(message) if cfg!(feature = "ssr") => {
                AppError::BadRequest { message }
            }
            ServerFnErrorErr::Request(message) | ServerFnErrorErr::Deserialization(message) => {
                AppError::Network { message }
            }
            other => AppError::Internal {
                message: other.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_error_names_each_field_and_rule_on_the_wire() {
        let error = AppError::invalid("name", Rule::Required, "is required");
        let json = serde_json::to_value(&error).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"code": "invalid", "errors": [
                {"field": "name", "rule": "required", "message": "is required"}
            ]})
        );
        assert_eq!(error.status(), 400);
    }

    #[test]
    fn each_error_kind_has_its_http_status() {
        assert_eq!(AppError::not_found("model", 3).status(), 404);
        let conflict = AppError::Conflict {
            field: "name".into(),
            message: "taken".into(),
        };
        assert_eq!(conflict.status(), 409);
        assert_eq!(AppError::PayloadTooLarge { limit_bytes: 1 }.status(), 413);
        assert_eq!(
            AppError::Forbidden {
                message: "no".into()
            }
            .status(),
            403
        );
    }

    #[test]
    fn argument_errors_from_the_framework_become_bad_requests() {
        let error = AppError::from_server_fn_error(ServerFnErrorErr::Args("expected `,`".into()));
        assert_eq!(error.status(), 400);
    }

    #[test]
    fn a_body_over_the_limit_becomes_payload_too_large() {
        let error = AppError::from_server_fn_error(ServerFnErrorErr::Request(
            "error reading body: length limit exceeded".into(),
        ));
        assert_eq!(error.status(), 413);
    }
}
