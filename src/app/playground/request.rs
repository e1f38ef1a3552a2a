//! The chat request the Playground sends: the system prompt, the conversation so far (a
//! person's images as `image_url` parts), only the sampling values the person changed (the
//! model's saved ones apply otherwise: they are its server's flags), and `include_usage` so
//! the last event carries the counts.

use serde_json::{Value, json};

use crate::domain::conversation::ChatMessage;

/// Values typed in the Playground's sampling panel; `None` leaves the model's own.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SamplingOverrides {
    pub temperature: Option<f64>,
    pub top_k: Option<i64>,
    pub top_p: Option<f64>,
    pub min_p: Option<f64>,
    pub repeat_penalty: Option<f64>,
    pub max_tokens: Option<i64>,
}

pub fn request_body(
    model: &str,
    system: &str,
    messages: &[ChatMessage],
    sampling: &SamplingOverrides,
) -> String {
    let mut sent = Vec::with_capacity(messages.len() + 1);
    if !system.trim().is_empty() {
        sent.push(json!({"role": "system", "content": system}));
    }
    for message in messages {
        let content = if message.images.is_empty() {
            Value::String(message.text.clone())
        } else {
            let mut parts = vec![json!({"type": "text", "text": message.text})];
            parts.extend(
                message
                    .images
                    .iter()
                    .map(|url| json!({"type": "image_url", "image_url": {"url": url}})),
            );
            Value::Array(parts)
        };
        sent.push(json!({"role": message.role.as_str(), "content": content}));
    }
    let mut body = json!({
        "model": model,
        "messages": sent,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    let fields = [
        ("temperature", sampling.temperature.map(Value::from)),
        ("top_k", sampling.top_k.map(Value::from)),
        ("top_p", sampling.top_p.map(Value::from)),
        ("min_p", sampling.min_p.map(Value::from)),
        ("repeat_penalty", sampling.repeat_penalty.map(Value::from)),
        ("max_tokens", sampling.max_tokens.map(Value::from)),
    ];
    for (key, value) in fields {
        if let Some(value) = value {
            body[key] = value;
        }
    }
    body.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_values_a_person_changed_are_sent() {
        let body: Value = serde_json::from_str(&request_body(
            "m",
            "",
            &[ChatMessage::user("hi".into(), vec![])],
            &SamplingOverrides {
                temperature: Some(0.2),
                ..SamplingOverrides::default()
            },
        ))
        .unwrap_or_default();
        assert_eq!(body["temperature"], 0.2);
        for key in ["top_k", "top_p", "min_p", "repeat_penalty", "max_tokens"] {
            assert!(body.get(key).is_none(), "{key} left to the model");
        }
        assert_eq!(body["messages"], json!([{"role": "user", "content": "hi"}]));
    }

    #[test]
    fn images_are_sent_as_image_url_parts_after_the_text() {
        let message = ChatMessage::user(
            "what is it?".into(),
            vec!["data:image/png;base64,AA".into()],
        );
        let body: Value = serde_json::from_str(&request_body(
            "m",
            "Be brief.",
            &[message],
            &SamplingOverrides::default(),
        ))
        .unwrap_or_default();
        assert_eq!(
            body["messages"][0],
            json!({"role": "system", "content": "Be brief."})
        );
        assert_eq!(
            body["messages"][1]["content"],
            json!([
                {"type": "text", "text": "what is it?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}
            ])
        );
    }
}
