//! What a model server's answer says about itself, read the same way by the gateway's meter and
//! the Playground: the generated text of a streamed event, and the token counts and speeds
//! llama-server reports (`timings`) or the OpenAI / Anthropic `usage` carries.

use serde_json::Value;

/// What the answer said it cost.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Cost {
    pub prompt_tokens: Option<i64>,
    pub cached_tokens: Option<i64>,
    pub generated_tokens: Option<i64>,
    pub prompt_tokens_per_s: Option<f64>,
    pub generation_tokens_per_s: Option<f64>,
}

/// The message of an error answer or event: `{"error": {"message"}}` (OpenAI, llama-server,
/// Anthropic), `{"error": "..."}`, or a top-level `message`; at most 2,000 characters.
pub fn error_message(value: &Value) -> Option<String> {
    let message = match value.get("error") {
        Some(Value::String(text)) => Some(text.as_str()),
        Some(error) => error.get("message").and_then(Value::as_str),
        None => value.get("message").and_then(Value::as_str),
    }?;
    let message = message.trim();
    (!message.is_empty()).then(|| message.chars().take(2000).collect())
}

/// The generated text a streamed event holds, if any: OpenAI chat (`delta.content`,
/// `delta.reasoning_content`) and completions (`text`), llama.cpp's `/completion` (`content`),
/// Anthropic messages (`delta.text`, `delta.thinking`), OpenAI responses (`*.delta`).
pub fn token_piece(event: &Value) -> Option<&str> {
    fn filled(v: Option<&Value>) -> Option<&str> {
        v.and_then(Value::as_str).filter(|s| !s.is_empty())
    }
    if let Some(choice) = event.pointer("/choices/0") {
        let delta = choice.get("delta");
        return filled(delta.and_then(|d| d.get("content")))
            .or_else(|| filled(delta.and_then(|d| d.get("reasoning_content"))))
            .or_else(|| filled(choice.get("text")));
    }
    if let Some(kind) = event.get("type").and_then(Value::as_str) {
        return match kind {
            "content_block_delta" => filled(event.pointer("/delta/text"))
                .or_else(|| filled(event.pointer("/delta/thinking"))),
            _ if kind.ends_with(".delta") => filled(event.get("delta")),
            _ => None,
        };
    }
    filled(event.get("content"))
}

/// Takes the counts an event or answer carries: llama-server's `timings` (counts and speeds)
/// and the OpenAI or Anthropic `usage` (counts, which win: they are what the client was told).
pub fn read_counts(value: &Value, cost: &mut Cost) {
    if let Some(timings) = value.get("timings") {
        read_timings(timings, cost);
    }
    let usage = value
        .get("usage")
        .or_else(|| value.pointer("/message/usage"))
        .or_else(|| value.pointer("/response/usage"));
    if let Some(usage) = usage {
        read_usage(usage, cost);
    }
}

pub fn read_timings(timings: &Value, cost: &mut Cost) {
    let int = |key: &str| timings.get(key).and_then(Value::as_i64);
    let speed = |key: &str| {
        timings
            .get(key)
            .and_then(Value::as_f64)
            .filter(|s| s.is_finite() && *s >= 0.0)
    };
    if let Some(prompt) = int("prompt_n") {
        let cached = int("cache_n").unwrap_or(0);
        cost.prompt_tokens = Some(prompt + cached);
        cost.cached_tokens = Some(cached);
    }
    if let Some(generated) = int("predicted_n") {
        cost.generated_tokens = Some(generated);
    }
    cost.prompt_tokens_per_s = speed("prompt_per_second").or(cost.prompt_tokens_per_s);
    cost.generation_tokens_per_s = speed("predicted_per_second").or(cost.generation_tokens_per_s);
}

pub fn read_usage(usage: &Value, cost: &mut Cost) {
    let int = |keys: &[&str]| {
        keys.iter()
            .find_map(|key| usage.pointer(key).and_then(Value::as_i64))
    };
    if let Some(prompt) = int(&["/prompt_tokens", "/input_tokens"]) {
        cost.prompt_tokens = Some(prompt);
    }
    if let Some(cached) = int(&[
        "/prompt_tokens_details/cached_tokens",
        "/input_tokens_details/cached_tokens",
        "/cache_read_input_tokens",
    ]) {
        cost.cached_tokens = Some(cached);
    }
    if let Some(generated) = int(&["/completion_tokens", "/output_tokens"]) {
        cost.generated_tokens = Some(generated);
    }
}
