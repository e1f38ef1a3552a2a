//! Loading progress sent to clients (`serving.loading_state: reasoning`): a streamed chat whose
//! model is not ready is answered at once with an event stream that says how the load goes, as
//! `reasoning_content` deltas ("Loading qwen… 12 s of about 20 s"), until the model's own
//! answer streams on in the same response. A chat UI shows "thinking" instead of hanging. A
//! start that fails ends the stream with the error in OpenAI's envelope, as SDKs expect
//! mid-stream.

use std::convert::Infallible;
use std::pin::Pin;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::domain::config::serving::LoadingState;
use crate::domain::text::without_paths;
use crate::server::boot::state::AppState;
use crate::server::gateway::upstream;
use crate::server::gateway::{GatewayError, Routed, Sent};
use crate::server::metering::meter::Meter;
use crate::server::now_ms;

/// How often a waiting client hears the load's progress.
const EVERY: Duration = Duration::from_secs(1);

/// A streamed chat whose first model says (or lets the Settings page say) `reasoning`, and is
/// not ready now.
pub fn wanted(state: &AppState, routed: &Routed) -> bool {
    let Some(model) = routed.candidates.first() else {
        return false;
    };
    if !routed.stream || routed.parts.uri.path() != "/v1/chat/completions" {
        return false;
    }
    let chosen = model
        .serving
        .loading_state
        .or(state.supervisor.settings().loading_state)
        .unwrap_or(LoadingState::Off);
    let ready = state
        .supervisor
        .run_handle(model.id)
        .is_some_and(|h| *h.ready.borrow() && *h.awake.borrow() && !*h.ended.borrow());
    chosen == LoadingState::Reasoning && !ready
}

/// How long a request waits before it is answered with the progress stream: a refusal (key,
/// role, limits) or a model that was nearly ready keeps its own status and headers.
const GRACE: Duration = Duration::from_millis(300);

/// The request's wait and send, owning what they need so they can go on in a task of their own.
type Work = Pin<Box<dyn Future<Output = (Result<Sent, GatewayError>, Meter)> + Send>>;

/// Sends the request; when it still waits after `GRACE`, answers with an event stream:
/// progress while it waits, then the model's answer. A client that leaves drops the wait (and
/// its place) with the stream.
pub async fn answer(state: AppState, routed: Routed, meter: Meter) -> Response {
    let (name, id) = routed
        .candidates
        .first()
        .map(|m| (m.name.clone(), m.id))
        .unwrap_or_default();
    let arrived = Instant::now();
    let mut work: Work = Box::pin({
        let state = state.clone();
        async move {
            let mut meter = meter;
            let sent = routed.send(&state, &mut meter).await;
            (sent, meter)
        }
    });
    tokio::select! {
        biased;
        (sent, meter) = &mut work => return super::answer(sent, meter),
        () = tokio::time::sleep(GRACE) => {}
    }
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(16);
    let progress = Progress { name, id, arrived };
    tokio::spawn(async move { relay_after_progress(state, work, progress, tx).await });
    let events = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|event| (event, rx))
    });
    let body = Body::from_stream(events);
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// What the progress lines name: the model waited for, and since when.
struct Progress {
    name: String,
    id: i64,
    arrived: Instant,
}

async fn relay_after_progress(
    state: AppState,
    mut work: Work,
    progress: Progress,
    tx: mpsc::Sender<Result<Bytes, Infallible>>,
) {
    let mut tick = tokio::time::interval(EVERY);
    let mut first = true;
    let (sent, meter) = loop {
        tokio::select! {
            biased;
            done = &mut work => break done,
            _ = tick.tick() => {
                let line = progress_line(&state, &progress);
                if tx.send(Ok(chunk(&progress.name, &line, first))).await.is_err() {
                    return; // The client left: the wait and its place go with `work`.
                }
                first = false;
            }
        }
    };
    let answer = match sent {
        Ok((answer, lease)) => upstream::relay(answer, lease.into_ticket(), meter),
        Err(error) => {
            meter.refused(error.status, &error.message);
            let _ = tx.send(Ok(error_event(&error))).await;
            return;
        }
    };
    if !answer.status().is_success() {
        // Already answered 200: the server's error becomes the stream's last event.
        let status = answer.status();
        let text = answer.into_body().collect().await.map(|b| b.to_bytes());
        let message = text
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let error = GatewayError::new(
            status,
            "upstream_error",
            crate::domain::text::kept(&message),
        );
        let _ = tx.send(Ok(error_event(&error))).await;
        return;
    }
    let mut body = answer.into_body();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return };
        if let Ok(data) = frame.into_data()
            && tx.send(Ok(data)).await.is_err()
        {
            return;
        }
    }
}

/// "Loading tiny… 3 s of about 20 s (load_tensors: …)": what the live run says of its load,
/// without file paths (a key that may only use the model does not see where its file is).
fn progress_line(state: &AppState, progress: &Progress) -> String {
    let (typical, stage, waking) = state.hub.read(|s| {
        s.runs
            .iter()
            .find(|r| r.model_id == progress.id)
            .map(|r| {
                // A sleeping server's wake is its load, measured by its own last wake.
                let waking = r.ready_at.is_some();
                let typical = if waking { r.wake_ms } else { r.typical_load_ms };
                (typical, r.stage.clone(), waking)
            })
            .unwrap_or_default()
    });
    let waited = progress.arrived.elapsed().as_secs();
    let doing = if waking { "Waking" } else { "Loading" };
    let mut line = format!("{doing} {}… {waited} s", progress.name);
    if let Some(ms) = typical {
        line.push_str(&format!(" of about {} s", (ms + 999) / 1000));
    }
    if let Some(stage) = stage {
        let stage: String = without_paths(&stage).chars().take(120).collect();
        line.push_str(&format!(" ({stage})"));
    }
    line.push('\n');
    line
}

/// One `chat.completion.chunk` event carrying `text` as reasoning.
fn chunk(model: &str, text: &str, first: bool) -> Bytes {
    let mut delta = json!({"reasoning_content": text});
    if first {
        delta["role"] = json!("assistant");
    }
    let event = json!({
        "id": "corral-loading",
        "object": "chat.completion.chunk",
        "created": now_ms() / 1000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": null}],
    });
    Bytes::from(format!("data: {event}\n\n"))
}

fn error_event(error: &GatewayError) -> Bytes {
    Bytes::from(format!("data: {}\n\ndata: [DONE]\n\n", error.envelope()))
}
