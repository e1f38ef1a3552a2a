//! The OpenAI-compatible gateway on Corral's own port: a request names a model in its `model`
//! field (its name or an alias), the supervisor brings that model up (starting it, or joining
//! a load under way) and counts the request, and the answer streams back as the server writes
//! it. Every error is in OpenAI's envelope.

pub mod envelope;
pub mod loading_state;
pub mod model_list;
pub mod on_demand;
pub mod own_state;
pub mod request;
pub mod upstream;
pub mod virtual_route;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use bytes::Bytes;
use hyper::body::Incoming;

use crate::domain::api_key::ApiKey;
use crate::domain::config::serving::Role;
use crate::domain::model::MAX_NAME_LEN;
use crate::server::access::{CalledWithKey, SignedIn, keys};
use crate::server::boot::state::AppState;
use crate::server::gateway::envelope::GatewayError;
use crate::server::gateway::on_demand::Lease;
use crate::server::http::cors::carries_key_header;
use crate::server::http::origin::same_origin_request;
use crate::server::http::request_path::percent_decode;
use crate::server::http::write_deadline::WriteStall;
use crate::server::metering::meter::Meter;
use crate::server::models::name_cache::Served;
use crate::server::route_class::MODEL_ROUTES;

pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for (path, _) in MODEL_ROUTES {
        router = router.route(path, post(model_routed));
    }
    router
        .route("/v1/models", get(model_list::v1_models))
        .route("/models", get(model_list::router_models))
        .route("/models/load", post(model_list::load))
        .route("/models/unload", post(model_list::unload))
        .route("/models/sse", get(model_list::events))
        .route("/upstream/{*rest}", any(pass_through))
        .route("/v1", any(unknown_path))
        .route("/v1/{*rest}", any(unknown_path))
}

async fn unknown_path(request: Request) -> GatewayError {
    GatewayError::new(
        axum::http::StatusCode::NOT_FOUND,
        "unknown_url",
        format!(
            "{} {} is not a gateway endpoint",
            request.method(),
            request.uri().path()
        ),
    )
}

/// A model-routed POST: the model named in the JSON body serves it.
async fn model_routed(State(state): State<AppState>, request: Request) -> Response {
    let mut meter = Meter::begin(&state.metering, request.uri().path());
    meter.caller(caller_of(request.extensions()));
    meter.connection(request.extensions().get::<WriteStall>().cloned());
    match model_routed_inner(&state, request, &mut meter).await {
        // A streamed chat that would wait for a load hears how the load goes meanwhile.
        Ok(routed) if loading_state::wanted(&state, &routed) => {
            loading_state::answer(state, routed, meter).await
        }
        Ok(routed) => {
            let sent = routed.send(&state, &mut meter).await;
            answer(sent, meter)
        }
        Err(error) => answer(Err(error), meter),
    }
}

/// A model-routed request, read and resolved: ready to be sent to the first of its candidates
/// that takes it.
pub struct Routed {
    parts: Parts,
    /// What `model` named: one model, or a virtual model's pick (more than one only for
    /// `fallback`, which moves on to the next when one is refused or fails to load).
    candidates: Vec<Served>,
    /// The role the route needs (`/v1/embeddings`: embeddings).
    needs: Option<Role>,
    target: String,
    body: Bytes,
    stream: bool,
}

impl Routed {
    /// Waits for a candidate (queued, started if it may be) and sends the request to it.
    pub async fn send(&self, state: &AppState, meter: &mut Meter) -> Result<Sent, GatewayError> {
        let mut refused = None;
        for model in &self.candidates {
            meter.model(model.id, &model.name);
            let sent = async {
                key_may_use(&self.parts, model)?;
                role_fits(model, self.needs, self.parts.uri.path())?;
                let body = request::shaped(model, &self.body)?;
                let parts = &self.parts;
                forward(state, model, parts, &self.target, body, self.stream, meter).await
            };
            match sent.await {
                Ok(sent) => return Ok(sent),
                Err(error) => refused = Some(error),
            }
        }
        Err(refused.unwrap_or_else(|| GatewayError::unknown_model("")))
    }
}

async fn model_routed_inner(
    state: &AppState,
    request: Request,
    meter: &mut Meter,
) -> Result<Routed, GatewayError> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    let needs = MODEL_ROUTES
        .iter()
        .find(|(route, _)| *route == path)
        .and_then(|(_, role)| *role);
    let bytes = request::read_gateway_body(state, &parts.headers, body).await?;
    let request::Routed {
        model: name,
        stream,
    } = request::routed(&bytes)?;
    // A request that names no model goes to the default one, when Settings names one.
    let name = name
        .or_else(|| state.supervisor.settings().default_model.clone())
        .filter(|name| !name.is_empty())
        .ok_or_else(request::model_missing)?;
    meter.asked_for(&name);
    let candidates = candidates(state, &parts, &name, meter).await?;
    let target = path_and_query(&parts.uri);
    Ok(Routed {
        parts,
        candidates,
        needs,
        target,
        body: bytes,
        stream,
    })
}

/// The models that may serve a request for `name`: the model of that name or alias, or what a
/// virtual model of that name picks now (refused when it picks none).
async fn candidates(
    state: &AppState,
    parts: &Parts,
    name: &str,
    meter: &mut Meter,
) -> Result<Vec<Served>, GatewayError> {
    let Some(chosen) = state.virtuals.named(name) else {
        let model = state.registry.resolve(name.to_string()).await?;
        return Ok(vec![
            model.ok_or_else(|| GatewayError::unknown_model(name))?,
        ]);
    };
    meter.via(&chosen.name);
    let key = parts.extensions.get::<Arc<ApiKey>>().map(AsRef::as_ref);
    let picked = virtual_route::candidates(state, &chosen, key).await?;
    if picked.is_empty() {
        return Err(GatewayError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "no_target",
            format!(
                "virtual model '{}' has no target that names a model{}",
                chosen.name,
                if key.is_some() {
                    " this API key may use"
                } else {
                    ""
                }
            ),
        ));
    }
    Ok(picked)
}

/// A model serves only the endpoints of its role (`serving.role`).
fn role_fits(model: &Served, needs: Option<Role>, path: &str) -> Result<(), GatewayError> {
    let role = model.serving.role();
    match needs {
        Some(needed) if needed != role => Err(GatewayError::bad_request(format!(
            "model '{}' serves {} (its serving.role setting); {path} needs a model whose role is \
             {}",
            model.name,
            role.label(),
            needed.as_str()
        ))
        .with_code("model_role")),
        _ => Ok(()),
    }
}

/// `/upstream/<model name>/<path>`: anything else the model's server has (`/slots`, `/props`,
/// its web UI), passed through as it is but for the model's filters and variant on its
/// inference endpoints. The longest leading part that names a model wins.
async fn pass_through(State(state): State<AppState>, request: Request) -> Response {
    let mut meter = Meter::begin(&state.metering, "/upstream");
    meter.caller(caller_of(request.extensions()));
    meter.connection(request.extensions().get::<WriteStall>().cloned());
    match pass_through_inner(&state, request, &mut meter).await {
        Ok((sent, Some(name))) => upstream::props_without_path(sent, meter, &name).await,
        Ok((sent, None)) => answer(Ok(sent), meter),
        Err(error) => answer(Err(error), meter),
    }
}

/// The pass-through, and for a `/props` a caller may not manage the model by, the model's name
/// to show instead of its file path.
async fn pass_through_inner(
    state: &AppState,
    request: Request,
    meter: &mut Meter,
) -> Result<(Sent, Option<String>), GatewayError> {
    let (parts, body) = request.into_parts();
    let rest = parts
        .uri
        .path()
        .strip_prefix("/upstream/")
        .unwrap_or_default()
        .to_string();
    let segments: Vec<&str> = rest.split('/').collect();
    let mut found = None;
    for (name, taken) in name_candidates(&segments).into_iter().rev() {
        if let Some(hit) = state.registry.resolve(name).await? {
            found = Some((hit, taken));
            break;
        }
    }
    let Some((model, taken)) = found else {
        meter.asked_for(&rest);
        return Err(GatewayError::unknown_model(&rest));
    };
    meter.model(model.id, &model.name);
    key_may_use(&parts, &model)?;
    let path = format!("/{}", segments[taken..].join("/"));
    // The endpoint is checked (which a key may reach, which get the model's filters) as it is
    // written, and llama-server would decode `%63ompletion` to `/completion`: no endpoint of
    // its needs an escape, so none is let through.
    if path.contains('%') {
        return Err(GatewayError::bad_request(format!(
            "write the model server's endpoint plainly, without %-escapes: {}",
            crate::domain::text::kept(&path)
        )));
    }
    if !keys::may_manage(&parts.extensions)
        && !inference_endpoint(&parts.method, &path, parts.uri.query())
    {
        return Err(GatewayError::new(
            axum::http::StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "an inference key reaches only the model's inference and read endpoints through \
                 /upstream; {} {} needs the models:manage scope",
                parts.method,
                crate::domain::text::kept(&path)
            ),
        ));
    }
    let mut bytes = request::read_gateway_body(state, &parts.headers, body).await?;
    if parts.method == axum::http::Method::POST && inference_endpoint(&parts.method, &path, None) {
        // The model's filters and variant hold here too: a key cannot step around a filter
        // (a `max_tokens` cap, say) by asking the model's server directly.
        bytes = request::shaped(&model, &bytes)?;
    }
    let hide_path =
        (!keys::may_manage(&parts.extensions) && path == "/props").then(|| model.name.clone());
    meter.endpoint(format!("/upstream{path}"));
    let mut target = path;
    if let Some(query) = parts.uri.query() {
        target.push('?');
        target.push_str(query);
    }
    let stream = request::asks_for_stream(&bytes);
    let sent = forward(state, &model, &parts, &target, bytes, stream, meter).await?;
    Ok((sent, hide_path))
}

/// The names a pass-through's leading segments can spell (a name may hold `/`), shortest
/// first, with how many segments each takes: only as many as fit a name's length, so a path
/// of 30,000 segments costs a handful of lookups, not 30,000 joins.
fn name_candidates(segments: &[&str]) -> Vec<(String, usize)> {
    let mut candidates = Vec::new();
    let mut name = String::new();
    for (i, segment) in segments.iter().enumerate() {
        let Some(decoded) = percent_decode(segment) else {
            break;
        };
        if i > 0 {
            name.push('/');
        }
        name.push_str(&decoded);
        if name.chars().count() > MAX_NAME_LEN {
            break;
        }
        candidates.push((name.clone(), i + 1));
    }
    candidates
}

/// llama-server's endpoints an inference key may reach through `/upstream`: generation,
/// embeddings, reranking, tokens, templates, and reads. Not `POST /lora-adapters` (it changes
/// the adapters of every client), `/slots` actions, or `/v1/stream` (it replays another
/// client's stream by a conversation id the client picks).
fn inference_endpoint(method: &axum::http::Method, path: &str, query: Option<&str>) -> bool {
    const POSTS: &[&str] = &[
        "/completion",
        "/completions",
        "/v1/completions",
        "/chat/completions",
        "/v1/chat/completions",
        "/v1/responses",
        "/v1/messages",
        "/v1/messages/count_tokens",
        "/infill",
        "/embedding",
        "/embeddings",
        "/v1/embeddings",
        "/rerank",
        "/reranking",
        "/v1/rerank",
        "/v1/reranking",
        "/tokenize",
        "/detokenize",
        "/apply-template",
    ];
    // Not llama-server's own model lists: they name the file (Corral's `/v1/models` is the
    // list for keys); `/props` is answered without its `model_path`.
    const GETS: &[&str] = &[
        "/",
        "/index.html",
        "/health",
        "/v1/health",
        "/props",
        "/metrics",
        "/lora-adapters",
    ];
    match *method {
        axum::http::Method::POST => POSTS.contains(&path),
        axum::http::Method::GET | axum::http::Method::HEAD => {
            GETS.contains(&path)
                || (path == "/slots" && query.is_none_or(|q| !q.contains("action")))
        }
        _ => false,
    }
}

/// Whether a request may start its model when it is not running. A GET or HEAD (which any
/// page can make a browser send) does so only with a key or session and from no other page.
fn may_start(state: &AppState, parts: &Parts) -> bool {
    let safe = matches!(
        parts.method,
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    if !safe {
        return true;
    }
    let keyed = parts.extensions.get::<Arc<ApiKey>>().is_some()
        || parts.extensions.get::<SignedIn>().is_some()
        || (!state.access.settings().login_required() && carries_key_header(&parts.headers));
    keyed && same_origin_request(&parts.headers, &state.hosts)
}

/// Who is asking, for the activity record: the key's prefix (checked, or only sent where keys
/// are not asked for), or `session`.
fn caller_of(extensions: &axum::http::Extensions) -> Option<String> {
    if let Some(key) = extensions.get::<Arc<ApiKey>>() {
        return Some(key.prefix.clone());
    }
    if let Some(CalledWithKey(prefix)) = extensions.get::<CalledWithKey>() {
        return Some(prefix.clone());
    }
    extensions.get::<SignedIn>().map(|_| "session".to_string())
}

/// An API key limited to some models may use only those.
fn key_may_use(parts: &Parts, model: &Served) -> Result<(), GatewayError> {
    match parts.extensions.get::<Arc<ApiKey>>() {
        Some(key) if !keys::allows_model(key, model.id) => Err(GatewayError::new(
            axum::http::StatusCode::FORBIDDEN,
            "model_not_allowed",
            format!("this API key may not use model '{}'", model.name),
        )),
        _ => Ok(()),
    }
}

fn path_and_query(uri: &axum::http::Uri) -> String {
    uri.path_and_query()
        .map_or_else(|| uri.path().to_string(), |pq| pq.as_str().to_string())
}

/// A request the model's server has begun to answer, with the request's hold on the model.
pub type Sent = (axum::http::Response<Incoming>, Lease);

/// Waits for the model (queued, bounded by its queue timeout; started if it may be), then sends
/// the request to it.
async fn forward(
    state: &AppState,
    model: &Served,
    parts: &Parts,
    target: &str,
    body: Bytes,
    stream: bool,
    meter: &mut Meter,
) -> Result<Sent, GatewayError> {
    let on_demand = &state.gateway.on_demand;
    let deadline = on_demand.deadline(model);
    let lease = on_demand
        .acquire(model, deadline, may_start(state, parts))
        .await?;
    meter.sent(&lease);
    let answer = state
        .gateway
        .client
        .send(&lease, parts, target, body, stream)
        .await?;
    Ok((answer, lease))
}

/// The server's answer streamed back with its meter, or the error in OpenAI's envelope.
pub fn answer(sent: Result<Sent, GatewayError>, meter: Meter) -> Response {
    match sent {
        Ok((answer, lease)) => upstream::relay(answer, lease.into_ticket(), meter),
        Err(error) => {
            meter.refused(error.status, &error.message);
            error.into_response()
        }
    }
}
