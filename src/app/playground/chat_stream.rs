//! A streamed chat completion from the browser: `fetch` to the gateway, the body read as it
//! arrives, each `data:` event handed on. An `AbortSignal` ends it (the Stop button); the
//! gateway then closes the model server's request too.

use js_sys::{Reflect, Uint8Array};
use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, ReadableStreamDefaultReader};

use crate::app::browser_fetch::{js_error, send, text};

/// Posts `body` to `/v1/chat/completions` and calls `on_event` with each event's JSON; an
/// error event in the stream (llama-server's way to fail after the answer began) ends it.
pub async fn stream_chat(
    body: String,
    signal: &AbortSignal,
    mut on_event: impl FnMut(&Value),
) -> Result<(), String> {
    let response = send("POST", "/v1/chat/completions", Some(&body), Some(signal)).await?;
    if !response.ok() {
        let body = text(&response).await?;
        let message = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v.pointer("/error/message")?.as_str().map(str::to_string))
            .unwrap_or(body);
        return Err(format!("{}: {message}", response.status()));
    }
    let reader: ReadableStreamDefaultReader = response
        .body()
        .ok_or("the answer has no body")?
        .get_reader()
        .dyn_into()
        .map_err(|_| "the answer's body cannot be read as a stream".to_string())?;
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(js_error)?;
        if Reflect::get(&chunk, &JsValue::from_str("done"))
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true)
        {
            return Ok(());
        }
        let Ok(value) = Reflect::get(&chunk, &JsValue::from_str("value")) else {
            continue;
        };
        pending.extend(Uint8Array::new(&value).to_vec());
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            if let Some(data) = line.strip_prefix(b"data:")
                && let Ok(event) = serde_json::from_slice::<Value>(data.trim_ascii())
            {
                if let Some(error) = event.get("error") {
                    let message = error.get("message").and_then(Value::as_str);
                    return Err(message.map_or_else(|| error.to_string(), str::to_string));
                }
                on_event(&event);
            }
        }
    }
}
