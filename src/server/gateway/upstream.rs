//! Passing a request to a model's llama-server and its answer back as it arrives: no buffering,
//! so a stream's chunks reach the client the moment the server writes them. The request's
//! ticket rides with the answer's body and is dropped when the body ends or the client goes
//! away; dropping the body closes the upstream connection, so llama-server stops generating.

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Request, Response, Uri, header};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::server::gateway::envelope::GatewayError;
use crate::server::supervisor::Upstream;
use crate::server::supervisor::demand::Ticket;

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
    /// Sends the request to the run and answers with its status, headers and streamed body.
    pub async fn forward(
        &self,
        upstream: &Upstream,
        client_request: &Parts,
        path_and_query: &str,
        body: Bytes,
        ticket: Ticket,
    ) -> Result<Response<Body>, GatewayError> {
        let uri: Uri = format!("http://127.0.0.1:{}{path_and_query}", upstream.port)
            .parse()
            .map_err(|_| GatewayError::bad_request("the request path cannot be passed on"))?;
        let mut request = Request::builder()
            .method(client_request.method.clone())
            .uri(uri);
        for (name, value) in &client_request.headers {
            if !NOT_FORWARDED.contains(&name.as_str()) {
                request = request.header(name, value);
            }
        }
        if let Some(key) = &upstream.api_key
            && let Ok(value) = HeaderValue::from_str(&format!("Bearer {key}"))
        {
            request = request.header(header::AUTHORIZATION, value);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| GatewayError::bad_request(e.to_string()))?;
        let answer = self.client.request(request).await.map_err(|error| {
            GatewayError::new(
                axum::http::StatusCode::BAD_GATEWAY,
                "upstream_unreachable",
                format!("the model's server did not answer: {error}"),
            )
        })?;
        let (parts, incoming) = answer.into_parts();
        // The ticket lives exactly as long as the answer's body.
        let body = incoming.map_frame(move |frame| {
            let _held = &ticket;
            frame
        });
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
        Ok(response)
    }
}
