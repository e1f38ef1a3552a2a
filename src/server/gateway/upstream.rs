//! Passing a request to a model's llama-server and its answer back as it arrives: no buffering,
//! so a stream's chunks reach the client the moment the server writes them. The request's
//! ticket and meter ride with the answer's body and end when the body ends or the client goes
//! away; dropping the body closes the upstream connection, so llama-server stops generating.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Request, Response, Uri, header};
use axum::response::IntoResponse;
use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::Full;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::server::access::keys;
use crate::server::gateway::envelope::GatewayError;
use crate::server::gateway::on_demand::Lease;
use crate::server::metering::meter::Meter;
use crate::server::supervisor::admission::demand::Ticket;

/// Connections to the model servers, kept open between requests.
#[derive(Clone)]
pub struct UpstreamClient {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Default for UpstreamClient {
    fn default() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        UpstreamClient {
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(std::time::Duration::from_secs(30))
                .build(connector),
        }
    }
}

/// Headers that describe one hop, or carry the client's credentials, or that Corral sets.
const NOT_FORWARDED: &[&str] = &[
    // Set again from the body sent, which filters and variants may have changed.
    "content-length",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "authorization",
    "x-api-key",
    "cookie",
    "origin",
    "referer",
    "content-length",
];

/// Headers of the server's answer that are its own business (hop and cross-origin rules).
fn kept_in_answer(name: &str) -> bool {
    !matches!(
        name,
        "connection" | "keep-alive" | "transfer-encoding" | "upgrade"
    ) && !name.starts_with("access-control-")
}

impl UpstreamClient {
    /// Sends the request to the run; answers with the server's answer as it begins. A request
    /// for a stream goes on a connection of its own: llama-server (b11434) closes its
    /// connection after every streamed answer without saying so, and a connection kept for
    /// the next request met that close (measured: every second of back-to-back streams a 502).
    pub async fn send(
        &self,
        upstream: &Lease,
        client_request: &Parts,
        path_and_query: &str,
        body: Bytes,
        stream: bool,
    ) -> Result<Response<Incoming>, GatewayError> {
        let uri: Uri = format!("http://127.0.0.1:{}{path_and_query}", upstream.port)
            .parse()
            .map_err(|_| GatewayError::bad_request("the request path cannot be passed on"))?;
        let mut request = Request::builder()
            .method(client_request.method.clone())
            .uri(uri);
        // A conversation id keeps a generation going after its client left and lets it be
        // replayed by that id: for callers who may manage the model only.
        let conversations = keys::may_manage(&client_request.extensions);
        for (name, value) in &client_request.headers {
            if !NOT_FORWARDED.contains(&name.as_str())
                && (conversations || name.as_str() != "x-conversation-id")
            {
                request = request.header(name, value);
            }
        }
        if stream {
            request = request.header(header::CONNECTION, "close");
        }
        if let Some(key) = &upstream.api_key
            && let Ok(value) = HeaderValue::from_str(&format!("Bearer {key}"))
        {
            request = request.header(header::AUTHORIZATION, value);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| GatewayError::bad_request(e.to_string()))?;
        self.client.request(request).await.map_err(|error| {
            GatewayError::new(
                axum::http::StatusCode::BAD_GATEWAY,
                "upstream_unreachable",
                format!("the model's server did not answer: {error}"),
            )
        })
    }
}

/// The server's answer, passed to the client as it arrives, with the request's ticket and
/// meter riding in its body.
pub fn relay(answer: Response<Incoming>, ticket: Ticket, mut meter: Meter) -> Response<Body> {
    let (parts, incoming) = answer.into_parts();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    meter.answer(parts.status, content_type);
    let body = MeteredBody {
        incoming,
        meter: Some(meter),
        _ticket: ticket,
    };
    let mut response = Response::new(Body::new(body));
    *response.status_mut() = parts.status;
    for (name, value) in &parts.headers {
        if kept_in_answer(name.as_str()) {
            response.headers_mut().append(name, value.clone());
        }
    }
    // Tells a reverse proxy in front of Corral not to hold chunks back.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// llama-server's `/props` answer with `model_path` (the file, which a caller that may only use
/// the model does not see) replaced by the model's name. Read whole: it is a few KiB.
pub async fn props_without_path(
    (answer, lease): (Response<Incoming>, Lease),
    mut meter: Meter,
    name: &str,
) -> Response<Body> {
    let ticket = lease.into_ticket();
    let status = answer.status();
    meter.answer(status, Some("application/json"));
    let read = http_body_util::Limited::new(answer.into_body(), 1 << 20)
        .collect()
        .await;
    drop(ticket);
    let parsed = read.map_err(|e| e.to_string()).and_then(|body| {
        serde_json::from_slice::<serde_json::Value>(&body.to_bytes()).map_err(|e| e.to_string())
    });
    match parsed {
        Ok(mut props) => {
            if let Some(fields) = props.as_object_mut() {
                fields.insert("model_path".into(), serde_json::Value::String(name.into()));
            }
            meter.ended(None);
            let mut response = axum::Json(props).into_response();
            *response.status_mut() = status;
            response
        }
        Err(error) => {
            let error = GatewayError::new(
                axum::http::StatusCode::BAD_GATEWAY,
                "upstream_unreadable",
                format!("the model's server answered /props with what Corral cannot read: {error}"),
            );
            meter.ended(Some(error.message.clone()));
            error.into_response()
        }
    }
}

/// The answer's body: each piece goes on at once and past the meter. The ticket lives exactly
/// as long as the body; the meter records when the body ends, fails, or is dropped early (the
/// client left: dropping `incoming` closes the upstream connection, so generation stops).
struct MeteredBody {
    incoming: Incoming,
    meter: Option<Meter>,
    _ticket: Ticket,
}

impl MeteredBody {
    fn end(&mut self, error: Option<String>) {
        if let Some(meter) = self.meter.take() {
            meter.ended(error);
        }
    }
}

impl HttpBody for MeteredBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.incoming).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(meter)) = (frame.data_ref(), self.meter.as_mut()) {
                    meter.read(data);
                }
                if self.incoming.is_end_stream() {
                    self.end(None);
                }
            }
            Poll::Ready(Some(Err(error))) => {
                let message = format!("the model's server broke off its answer: {error}");
                self.end(Some(message));
            }
            Poll::Ready(None) => self.end(None),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}
