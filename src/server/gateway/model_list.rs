//! The model lists clients read (`GET /v1/models`, and the llama.cpp router API at the root
//! that Open WebUI's llama.cpp connection calls: `GET /models`, `POST /models/load`,
//! `POST /models/unload`, `GET /models/sse`). Every entry carries the router's `status`, since
//! Open WebUI takes a model without one for loaded.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::Extension;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::domain::api_key::{ApiKey, Scope};
use crate::domain::command_diff::flag_value;
use crate::domain::config::{ConfigGroup, ServingConfig};
use crate::domain::live::ServerEvent;
use crate::domain::page::Page;
use crate::domain::run::LiveRun;
use crate::domain::virtual_model::VirtualView;
use crate::domain::{AppError, Model, ModelStatus};
use crate::server::access::keys;
use crate::server::boot::state::AppState;
use crate::server::gateway::envelope::GatewayError;
use crate::server::gateway::{request, virtual_route};
use crate::server::models::model_file;
use crate::server::models::name_cache::Served;
use crate::server::support::per_owner_cap::Place;
use tokio::sync::SemaphorePermit;

/// Model event streams (`GET /models/sse`) open at once, all clients together, and per key.
const MAX_SSE_STREAMS: usize = 64;
const SSE_STREAMS_PER_KEY: usize = 8;
static SSE_STREAMS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_SSE_STREAMS);

/// Whether the request's key (none: no key, any model) may see the model.
fn may_see(key: Option<&ApiKey>, id: i64) -> bool {
    key.is_none_or(|key| keys::allows_model(key, id))
}

/// The router's word for a status.
pub fn status_value(status: ModelStatus) -> &'static str {
    match status {
        ModelStatus::Loading => "loading",
        ModelStatus::Running => "loaded",
        ModelStatus::Stopped | ModelStatus::Stopping | ModelStatus::Error => "unloaded",
    }
}

/// The serving group among a model's groups.
fn serving_in(groups: &[ConfigGroup]) -> ServingConfig {
    groups
        .iter()
        .find_map(|group| match group {
            ConfigGroup::Serving(serving) => Some(serving.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// Every model, or only those the request's API key may use.
async fn entries(
    state: &AppState,
    key: Option<&ApiKey>,
    with_path: bool,
) -> Result<Vec<Value>, GatewayError> {
    let listing = state.registry.listing().await?;
    let mut models = Vec::with_capacity(listing.len());
    let mut entries = Vec::with_capacity(listing.len());
    for (model, groups) in listing {
        let serving = serving_in(&groups);
        if serving.unlisted() || key.is_some_and(|key| !keys::allows_model(key, model.id)) {
            models.push((model, serving));
            continue;
        }
        let mut listed = entry(state, &model, &serving, with_path).await?;
        listed["capabilities"] =
            json!(model_file::capabilities(&state.registry, &model, &groups).await);
        if !serving.metadata.is_empty() {
            listed["metadata"] = Value::Object(serving.metadata.clone());
        }
        entries.push(listed.clone());
        if serving.list_variants() {
            for suffix in serving.variants.keys() {
                let mut variant = listed.clone();
                variant["id"] = json!(format!("{}:{suffix}", model.spec.name));
                variant["aliases"] = json!([]);
                variant["variant_of"] = json!(model.spec.name);
                entries.push(variant);
            }
        }
        models.push((model, serving));
    }
    for view in virtual_route::views(state, key).await? {
        // A key sees a virtual model when it may use one of its targets, and of its targets
        // only those it may use and that are listed.
        let visible = |target: &String| {
            models.iter().any(|(m, serving)| {
                (m.spec.name.eq_ignore_ascii_case(target)
                    || serving
                        .aliases
                        .iter()
                        .any(|a| a.eq_ignore_ascii_case(target)))
                    && !serving.unlisted()
                    && key.is_none_or(|key| keys::allows_model(key, m.id))
            })
        };
        if key.is_some() && view.would_use.is_none() {
            continue;
        }
        let used = view
            .would_use
            .as_ref()
            .and_then(|name| models.iter().find(|(m, _)| &m.spec.name == name));
        let mut listed = virtual_entry(&view, used);
        if key.is_some() {
            let targets: Vec<&String> = view.model.targets.iter().filter(|t| visible(t)).collect();
            listed["virtual"]["targets"] = json!(targets);
            if !used.is_some_and(|(m, _)| visible(&m.spec.name)) {
                listed["virtual"]["would_use"] = Value::Null;
            }
            if let Some(fields) = listed["virtual"].as_object_mut() {
                fields.remove("missing");
            }
        }
        entries.push(listed);
    }
    Ok(entries)
}

/// A virtual model as the lists show it: the status and role of the model it would use now.
fn virtual_entry(view: &VirtualView, used: Option<&(Model, ServingConfig)>) -> Value {
    let status = used.map_or(ModelStatus::Stopped, |(m, _)| m.status);
    let role = used.map(|(_, serving)| serving.role());
    json!({
        "id": view.model.name,
        "object": "model",
        "created": view.created_at / 1000,
        "owned_by": "corral",
        "aliases": [],
        "role": role,
        "status": {"value": status_value(status)},
        "virtual": {
            "strategy": view.model.strategy,
            "targets": view.model.targets,
            "spillover": view.model.spillover,
            "would_use": view.would_use,
            "missing": view.missing,
        },
    })
}

async fn entry(
    state: &AppState,
    model: &Model,
    serving: &ServingConfig,
    with_path: bool,
) -> Result<Value, GatewayError> {
    let mut status = json!({"value": status_value(model.status)});
    if model.status == ModelStatus::Error {
        let last = state
            .runs
            .page(model.id, Page::first(1))
            .await?
            .into_iter()
            .next();
        status["failed"] = json!(true);
        status["exit_code"] = json!(last.and_then(|run| run.exit_code));
    }
    let mut entry = json!({
        "id": model.spec.name,
        "object": "model",
        "created": model.created_at / 1000,
        "owned_by": "corral",
        "aliases": serving.aliases,
        "role": serving.role(),
        "status": status,
        "meta": meta(state, model),
    });
    if with_path {
        entry["path"] = json!(model.spec.path);
    }
    Ok(entry)
}

/// The model's size and context: a running model's context is the one it runs with, and the
/// saved one is added when a restart would change it.
fn meta(state: &AppState, model: &Model) -> Value {
    let saved = model.spec.ctx_size;
    let running = state
        .supervisor
        .running_command(model.id)
        .and_then(|command| flag_value(&command, &["--ctx-size", "-c"]))
        .and_then(|value| value.parse::<i64>().ok());
    let mut meta = json!({"size": model.size_bytes, "n_ctx": running.or(saved)});
    if running.is_some() && running != saved {
        meta["saved_n_ctx"] = json!(saved);
    }
    meta
}

pub async fn v1_models(
    State(state): State<AppState>,
    key: Option<Extension<Arc<ApiKey>>>,
) -> Response {
    match entries(&state, key.as_deref().map(AsRef::as_ref), false).await {
        Ok(data) => axum::Json(json!({"object": "list", "data": data})).into_response(),
        Err(error) => error.into_response(),
    }
}

pub async fn router_models(
    State(state): State<AppState>,
    key: Option<Extension<Arc<ApiKey>>>,
    headers: axum::http::HeaderMap,
) -> Response {
    // A person who types /models in the address bar wants the models page, not the router
    // API's JSON (clients ask for JSON, or for anything).
    if wants_a_page(&headers) {
        return axum::response::Redirect::to("/").into_response();
    }
    // File paths are for callers who may read the registry (a key of `inference` only: not).
    let key = key.as_deref().map(AsRef::as_ref);
    let with_path = key.is_none_or(|key| keys::allows(key, Scope::ModelsRead));
    match entries(&state, key, with_path).await {
        Ok(data) => axum::Json(json!({"object": "list", "data": data})).into_response(),
        Err(error) => error.into_response(),
    }
}

/// A browser navigating here: it asks for HTML first and does not name JSON.
fn wants_a_page(headers: &axum::http::HeaderMap) -> bool {
    let accept = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    accept.starts_with("text/html") && !accept.contains("application/json")
}

async fn named_model(state: &AppState, request: Request) -> Result<Served, GatewayError> {
    let (parts, body) = request.into_parts();
    let bytes = request::read_gateway_body(state, &parts.headers, body).await?;
    let name = request::model_name(&bytes)?;
    // A virtual model's name stands for what it would use now.
    let model = match state.virtuals.named(&name) {
        Some(chosen) => {
            let key = parts.extensions.get::<Arc<ApiKey>>().map(AsRef::as_ref);
            let picked = virtual_route::candidates(state, &chosen, key).await?;
            picked.into_iter().next()
        }
        None => state.registry.resolve(name.clone()).await?,
    }
    .ok_or_else(|| GatewayError::unknown_model(&name))?;
    super::key_may_use(&parts, &model)?;
    Ok(model)
}

/// A `load_progress` event for a run still loading, with the stage its log shows (as the
/// models page does), the time it has taken and the typical load time: at most one a second
/// per model, and at once when the stage changes.
fn load_progress(
    hub: &crate::server::live::Hub,
    run: &LiveRun,
    sent: &mut HashMap<i64, (Option<String>, i64)>,
) -> Option<Value> {
    if run.ready_at.is_some() {
        sent.remove(&run.model_id);
        return None;
    }
    let now = crate::server::now_ms();
    if let Some((stage, at)) = sent.get(&run.model_id)
        && *stage == run.stage
        && now - at < 1000
    {
        return None;
    }
    sent.insert(run.model_id, (run.stage.clone(), now));
    let name = hub.read(|s| {
        s.models
            .iter()
            .find(|m| m.id == run.model_id)
            .map(|m| m.spec.name.clone())
    })?;
    Some(json!({
        "model": name,
        "event": "load_progress",
        "data": {
            "stage": run.stage.as_deref().map(crate::domain::text::without_paths),
            "elapsed_ms": now - run.started_at,
            "typical_ms": run.typical_load_ms,
        },
    }))
}

fn success() -> Response {
    axum::Json(json!({"success": true})).into_response()
}

/// Starts the model (as a Start click does) and answers once it is loading; an active model
/// is a success too.
pub async fn load(State(state): State<AppState>, request: Request) -> Response {
    let model = match named_model(&state, request).await {
        Ok(model) => model,
        Err(error) => return error.into_response(),
    };
    match state.supervisor.start_model(model.id).await {
        Ok(model) if model.status == ModelStatus::Error => GatewayError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "model_start_failed",
            format!(
                "the model could not be started: {}",
                model.status_reason.unwrap_or_default()
            ),
        )
        .into_response(),
        Ok(_) => success(),
        Err(AppError::Conflict { .. })
            if state
                .registry
                .get_model(model.id)
                .await
                .is_ok_and(|m| m.status.is_active()) =>
        {
            success()
        }
        Err(error) => GatewayError::from(error).into_response(),
    }
}

/// Stops the model and answers once it is down.
pub async fn unload(State(state): State<AppState>, request: Request) -> Response {
    let model = match named_model(&state, request).await {
        Ok(model) => model,
        Err(error) => return error.into_response(),
    };
    match state.supervisor.stop_model(model.id).await {
        Ok(_) => success(),
        Err(error) => GatewayError::from(error).into_response(),
    }
}

/// A place among the open event streams (all clients, and this key's few), or why not.
fn stream_place(
    state: &AppState,
    key: Option<&ApiKey>,
) -> Result<(SemaphorePermit<'static>, Option<Place<i64>>), GatewayError> {
    let Ok(slot) = SSE_STREAMS.try_acquire() else {
        return Err(GatewayError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_clients",
            format!("{MAX_SSE_STREAMS} model event streams are open, the most Corral serves"),
        )
        .retry_after(5));
    };
    // One key holds a few streams at most, so it cannot take every place of the pool.
    let Some(key) = key else {
        return Ok((slot, None));
    };
    match state
        .gateway
        .event_streams
        .take(key.id, SSE_STREAMS_PER_KEY)
    {
        Some(place) => Ok((slot, Some(place))),
        None => Err(GatewayError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            format!(
                "this API key has {SSE_STREAMS_PER_KEY} model event streams open, the most one \
                 key may"
            ),
        )
        .retry_after(5)),
    }
}

/// `model_status` events as statuses change (`{"model", "event", "data": {"status"}}`) and
/// `load_progress` while a model loads, for the
/// models the request's key may use. The streams have a pool of their own (`SSE_STREAMS`), so
/// they never take the places of the dashboard's tabs.
pub async fn events(
    State(state): State<AppState>,
    key: Option<Extension<Arc<ApiKey>>>,
) -> Response {
    let key = key.map(|Extension(key)| key);
    let slot = match stream_place(&state, key.as_deref()) {
        Ok(slot) => slot,
        Err(refused) => return refused.into_response(),
    };
    let events = state.hub.subscribe();
    let seen: HashMap<i64, &'static str> = state
        .hub
        .snapshot()
        .models
        .iter()
        .filter(|m| may_see(key.as_deref(), m.id))
        .map(|m| (m.id, status_value(m.status)))
        .collect();
    let progress: HashMap<i64, (Option<String>, i64)> = HashMap::new();
    let hub = state.hub.clone();
    let stream = futures::stream::unfold(
        (events, seen, progress, hub, slot, key),
        |(mut events, mut seen, mut progress, hub, slot, key)| async move {
            loop {
                let event = match events.recv().await {
                    Ok(event) => event,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                };
                let data = match &**event {
                    ServerEvent::ModelUpdated(model) if may_see(key.as_deref(), model.id) => {
                        let value = status_value(model.status);
                        if seen.insert(model.id, value) == Some(value) {
                            continue;
                        }
                        json!({
                            "model": model.spec.name,
                            "event": "model_status",
                            "data": {"status": value},
                        })
                    }
                    ServerEvent::RunUpdated(run) if may_see(key.as_deref(), run.model_id) => {
                        match load_progress(&hub, run, &mut progress) {
                            Some(data) => data,
                            None => continue,
                        }
                    }
                    _ => continue,
                };
                let event = Event::default().data(data.to_string());
                return Some((
                    Ok::<_, Infallible>(event),
                    (events, seen, progress, hub, slot, key),
                ));
            }
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}
