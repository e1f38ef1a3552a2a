//! `fetch` from the browser, for the few calls that are not server functions (signing in, a
//! streamed chat): a JSON request, its answer, and a readable message for any failure.

use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, Headers, RequestInit, Response};

/// A JavaScript failure as words (its `message`, when it has one).
pub fn js_error(error: JsValue) -> String {
    error
        .as_string()
        .or_else(|| {
            Reflect::get(&error, &JsValue::from_str("message"))
                .ok()
                .and_then(|m| m.as_string())
        })
        .unwrap_or_else(|| "Corral could not be reached".into())
}

/// Sends a request with an optional JSON body; answers once the answer's headers arrived.
pub async fn send(
    method: &str,
    path: &str,
    json: Option<&str>,
    signal: Option<&AbortSignal>,
) -> Result<Response, String> {
    let headers = Headers::new().map_err(js_error)?;
    headers
        .set("content-type", "application/json")
        .map_err(js_error)?;
    let init = RequestInit::new();
    init.set_method(method);
    init.set_headers(&headers);
    if let Some(json) = json {
        init.set_body(&JsValue::from_str(json));
    }
    init.set_signal(signal);
    let window = web_sys::window().ok_or("no window")?;
    JsFuture::from(window.fetch_with_str_and_init(path, &init))
        .await
        .map_err(js_error)?
        .dyn_into()
        .map_err(js_error)
}

/// The whole answer as text.
pub async fn text(response: &Response) -> Result<String, String> {
    Ok(JsFuture::from(response.text().map_err(js_error)?)
        .await
        .map_err(js_error)?
        .as_string()
        .unwrap_or_default())
}

/// A picked file's bytes, read the way an answer's body is (a `Response` over the file): the
/// release bundle's split-off pages cannot carry their own callback closures or new generic
/// imports, and this path already works there.
pub async fn file_bytes(file: &web_sys::File) -> Result<Vec<u8>, String> {
    let response = Response::new_with_opt_blob(Some(file)).map_err(js_error)?;
    let buffer = JsFuture::from(response.array_buffer().map_err(js_error)?)
        .await
        .map_err(js_error)?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// A picked file's text (see `file_bytes`).
pub async fn file_text(file: &web_sys::File) -> Result<String, String> {
    let response = Response::new_with_opt_blob(Some(file)).map_err(js_error)?;
    text(&response).await
}
