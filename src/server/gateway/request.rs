//! Reading a gateway request: the whole body, under the gateway's size cap and the body
//! deadline, and the model it names.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::server::models::name_cache::Served;

use crate::server::boot::state::AppState;
use crate::server::gateway::envelope::GatewayError;

/// Reads a gateway request's whole body within Corral's limits (`--gateway-max-body`, the
/// body deadline).
pub async fn read_gateway_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, GatewayError> {
    read_body(
        state.gateway.settings.max_body_bytes,
        state.http_limits.body_read,
        headers,
        body,
    )
    .await
}

/// Reads the whole body: at most `limit` bytes, within `deadline`.
pub async fn read_body(
    limit: u64,
    deadline: std::time::Duration,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, GatewayError> {
    let too_large = || {
        GatewayError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
            format!("the request body is larger than {limit} bytes (--gateway-max-body)"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let limited = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
    match tokio::time::timeout(deadline, limited.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(error)) => Err(GatewayError::bad_request(format!(
            "the request body could not be read: {error}"
        ))),
        Err(_) => Err(GatewayError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request body did not arrive within {} s",
                deadline.as_secs_f64()
            ),
        )),
    }
}

/// What the gateway reads of a model-routed body.
pub struct Routed {
    /// The `model` field (`None`: absent, null or empty, for the default model to serve).
    pub model: Option<String>,
    /// `"stream": true`: the answer is a stream of events.
    pub stream: bool,
}

/// The `model` field of a JSON body.
pub fn model_name(body: &[u8]) -> Result<String, GatewayError> {
    routed(body)?.model.ok_or_else(model_missing)
}

/// Refused: the body names no model (and no default model is set).
pub fn model_missing() -> GatewayError {
    GatewayError::bad_request("the body has no `model` field; name a model from GET /v1/models")
        .with_code("model_missing")
}

/// The fields the gateway reads of a body. Only these are kept; the rest (messages, images) is
/// checked as JSON and skipped, not built into a tree: the gateway reads this on every request.
#[derive(serde::Deserialize)]
struct Fields {
    #[serde(default)]
    model: Option<Value>,
    #[serde(default)]
    stream: Option<Value>,
}

impl Fields {
    fn streams(&self) -> bool {
        matches!(self.stream, Some(Value::Bool(true)))
    }
}

/// The `model` and `stream` fields of a JSON body.
pub fn routed(body: &[u8]) -> Result<Routed, GatewayError> {
    let json: Fields = serde_json::from_slice(body)
        .map_err(|e| GatewayError::bad_request(format!("the body is not a JSON object: {e}")))?;
    let stream = json.streams();
    match json.model {
        Some(Value::String(name)) if !name.is_empty() => Ok(Routed {
            model: Some(name),
            stream,
        }),
        Some(Value::String(_)) | None | Some(Value::Null) => Ok(Routed {
            model: None,
            stream,
        }),
        Some(_) => {
            Err(GatewayError::bad_request("`model` must be a string")
                .with_code("model_not_a_string"))
        }
    }
}

/// The body as `model`'s server is to see it: its variant's parameters and its filters
/// applied (`ServingConfig::shape`); as it came, unparsed, when there is nothing to change.
/// Only the top-level keys the shape names are built into values: the rest (messages,
/// images) is copied through as the client wrote it, so a 30 MB body costs about twice its
/// size in memory, not a tree many times larger.
pub fn shaped(model: &Served, body: &Bytes) -> Result<Bytes, GatewayError> {
    let shape = model.serving.shape(model.variant.as_deref());
    if shape.is_none() {
        return Ok(body.clone());
    }
    let not_an_object = |e: serde_json::Error| {
        GatewayError::bad_request(format!("the body is not a JSON object: {e}"))
    };
    let mut raw: BTreeMap<String, &RawValue> =
        serde_json::from_slice(body).map_err(not_an_object)?;
    let keys = shape.keys();
    let mut touched = Map::new();
    for key in &keys {
        if let Some(value) = raw.get(*key) {
            touched.insert(
                key.to_string(),
                serde_json::from_str(value.get()).map_err(not_an_object)?,
            );
        }
    }
    shape.apply(&mut touched);
    let written: Vec<(String, Box<RawValue>)> = touched
        .into_iter()
        .map(|(key, value)| Ok((key, serde_json::value::to_raw_value(&value)?)))
        .collect::<Result<_, serde_json::Error>>()
        .map_err(|e| GatewayError::bad_request(e.to_string()))?;
    for key in &keys {
        raw.remove(*key);
    }
    for (key, value) in &written {
        raw.insert(key.clone(), value);
    }
    // Sized for the body as it came: growing by doubling would hold up to twice that.
    let extra: usize = written
        .iter()
        .map(|(k, v)| k.len() + v.get().len() + 4)
        .sum();
    let mut out = Vec::with_capacity(body.len() + extra);
    serde_json::to_writer(&mut out, &raw).map_err(|e| GatewayError::bad_request(e.to_string()))?;
    Ok(Bytes::from(out))
}

/// Whether a body passed through as it is asks for a streamed answer (`"stream": true`); any
/// other body, JSON or not, does not.
pub fn asks_for_stream(body: &[u8]) -> bool {
    // Only an object: serde would also read `[true]` as the fields in order.
    body.trim_ascii_start().starts_with(b"{")
        && serde_json::from_slice::<Fields>(body).is_ok_and(|json| json.streams())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shaping_rewrites_only_the_keys_it_names_and_copies_the_rest_as_written() {
        let serving = crate::domain::config::ServingConfig {
            filters: serde_json::from_value(serde_json::json!({
                "strip": ["temperature"],
                "set": {"max_tokens": 64, "chat_template_kwargs": {"effort": "high"}},
            }))
            .unwrap(),
            ..Default::default()
        };
        let model = Served {
            id: 1,
            name: "m".into(),
            size_bytes: None,
            serving,
            variant: None,
        };
        let body = Bytes::from_static(
            br#"{"model":"m","temperature":0.5,"messages":[ {"role":"user","content":"1.0e2 \u00e9"} ],"n":1.0e2,"chat_template_kwargs":{"keep":true}}"#,
        );
        let sent = shaped(&model, &body).unwrap();
        let text = std::str::from_utf8(&sent).unwrap();
        // Untouched values byte for byte (spacing, escapes, number spelling).
        assert!(
            text.contains(r#""messages":[ {"role":"user","content":"1.0e2 \u00e9"} ]"#),
            "{text}"
        );
        assert!(text.contains(r#""n":1.0e2"#), "{text}");
        let value: Value = serde_json::from_slice(&sent).unwrap();
        assert_eq!(value.get("temperature"), None);
        assert_eq!(value["max_tokens"], 64);
        assert_eq!(
            value["chat_template_kwargs"],
            serde_json::json!({"keep": true, "effort": "high"})
        );
        assert_eq!(value["model"], "m");
        assert_eq!(
            shaped(&model, &Bytes::from_static(b"[1]"))
                .unwrap_err()
                .code,
            "invalid_request"
        );
    }

    #[test]
    fn the_model_field_must_be_a_non_empty_string() {
        assert_eq!(model_name(br#"{"model":"m"}"#).unwrap(), "m");
        assert_eq!(
            model_name(br#"{"model":3}"#).unwrap_err().code,
            "model_not_a_string"
        );
        assert_eq!(model_name(br#"{}"#).unwrap_err().code, "model_missing");
        assert_eq!(model_name(b"not json").unwrap_err().code, "invalid_request");
    }

    #[test]
    fn only_a_stream_field_that_is_true_asks_for_a_stream() {
        assert!(routed(br#"{"model":"m","stream":true}"#).unwrap().stream);
        assert!(routed(br#"{"stream":true}"#).unwrap().stream);
        for body in [
            &br#"{"model":"m"}"#[..],
            br#"{"model":"m","stream":false}"#,
            br#"{"model":"m","stream":"true"}"#,
        ] {
            assert!(!routed(body).unwrap().stream);
        }
        assert!(asks_for_stream(br#"{"prompt":"a","stream":true}"#));
        assert!(!asks_for_stream(b"data=1"));
        assert!(!asks_for_stream(br#"[true]"#));
    }
}
