//! The OpenAI-compatible gateway against the pinned llama-server and the tiny model: on-demand
//! starts, names and aliases, roles, bounds, streaming and the router API.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{Reply, TestApp, supervisor_settings};
use corral::domain::ModelStatus;
use corral::domain::page::Page;
use corral::server::supervisor::settings::{SupervisorSettings, WhenFull};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

const LOAD: Duration = Duration::from_secs(30);

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4})
}

/// The `error` object of an OpenAI envelope, checked for its three fields.
fn envelope(reply: &Reply) -> Value {
    let body = reply.json();
    let error = body["error"].clone();
    for field in ["message", "type", "code"] {
        assert!(error[field].is_string(), "no {field} in {body}");
    }
    error
}

impl TestApp {
    async fn serving(&self, id: i64, config: Value) {
        let reply = self
            .post(
                "/api/models/config/save",
                json!({"id": id, "group": "serving", "config": config}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }

    async fn runs_of(&self, id: i64) -> usize {
        self.runs(id, Page::default()).await.unwrap().len()
    }
}

#[tokio::test]
async fn a_chat_for_a_stopped_model_starts_it_and_answers_under_its_name() {
    let app = TestApp::with_llama_server().await;
    let id = app.create_tiny("tiny").await;
    let reply = app.post("/v1/chat/completions", chat("tiny")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["model"], "tiny", "the name, not the file path");
    assert!(body["choices"][0]["message"].is_object(), "{body}");
    assert_eq!(
        app.registry.get_model(id).await.unwrap().status,
        ModelStatus::Running
    );
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn a_streamed_chat_arrives_as_events_ending_in_done_without_buffering() {
    let app = TestApp::with_llama_server().await;
    app.create_tiny("tiny").await;
    let mut body = chat("tiny");
    body["stream"] = json!(true);
    let response = app.respond("/v1/chat/completions", &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-accel-buffering"], "no");
    assert!(
        response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.starts_with("data: "), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn streams_asked_for_back_to_back_are_all_answered() {
    let app = TestApp::with_llama_server().await;
    app.create_tiny("tiny").await;
    let body = json!({"model": "tiny", "messages": [{"role": "user", "content": "hi"}],
                      "max_tokens": 256, "ignore_eos": true, "stream": true});
    // llama-server closes its connection after each streamed answer without saying so: a
    // connection kept for the next request meets that close (about every second one did).
    let workers = (0..4).map(|_| async {
        for _ in 0..8 {
            let reply = app.post("/v1/chat/completions", body.clone()).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        }
    });
    futures::future::join_all(workers).await;
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn twenty_requests_at_once_for_a_stopped_model_start_it_once_and_are_all_answered() {
    let app = TestApp::with_llama_server().await;
    let id = app.create_tiny("tiny").await;
    let replies = futures::future::join_all((0..20).map(|_| {
        app.post(
            "/v1/completions",
            json!({"model": "tiny", "prompt": "a", "max_tokens": 2}),
        )
    }))
    .await;
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    assert_eq!(app.runs_of(id).await, 1, "exactly one start");
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn an_alias_reaches_its_model_in_any_case() {
    let app = TestApp::with_llama_server().await;
    let id = app.create_tiny("tiny").await;
    app.serving(id, json!({"aliases": ["Fast-One"]})).await;
    let reply = app.post("/v1/chat/completions", chat("FAST-one")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let reply = app.post("/v1/chat/completions", chat("TINY")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn names_and_aliases_are_one_namespace_without_regard_to_case() {
    let app = TestApp::new().await;
    let a = app.create("alpha", "/m/a.gguf").await["id"]
        .as_i64()
        .unwrap();
    let b = app.create("beta", "/m/b.gguf").await["id"]
        .as_i64()
        .unwrap();
    let taken = app
        .post(
            "/api/models/config/save",
            json!({"id": a, "group": "serving", "config": {"aliases": ["BETA"]}}),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.body);
    assert_eq!(taken.json()["field"], "aliases[0]");
    app.serving(a, json!({"aliases": ["gpt"]})).await;
    let clash = app
        .post(
            "/api/models/create",
            json!({"model": {"name": "GPT", "path": "/m/c.gguf"}}),
        )
        .await;
    assert_eq!(clash.status, StatusCode::CONFLICT, "{}", clash.body);
    assert!(
        clash.body.contains("alias of model 'alpha'"),
        "{}",
        clash.body
    );
    let rename = app
        .post(
            "/api/models/update",
            json!({"id": b, "changes": {"name": "gpt"}}),
        )
        .await;
    assert_eq!(rename.status, StatusCode::CONFLICT, "{}", rename.body);
    // A copy answers to its own name only.
    let copy = app
        .post(
            "/api/models/duplicate",
            json!({"id": a, "name": "alpha copy"}),
        )
        .await;
    assert_eq!(copy.status, StatusCode::OK, "{}", copy.body);
    let copy_id = copy.json()["id"].as_i64().unwrap();
    let serving = app
        .registry
        .load_config(copy_id, corral::domain::config::ConfigGroupKind::Serving)
        .await
        .unwrap();
    assert_eq!(
        serving.to_object()["aliases"],
        json!([]),
        "the copy has no aliases"
    );
}

#[tokio::test]
async fn an_unknown_model_is_a_404_in_openais_envelope_and_starts_nothing() {
    let app = TestApp::with_llama_server().await;
    let id = app.create_tiny("tiny").await;
    let reply = app.post("/v1/chat/completions", chat("nope")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(envelope(&reply)["code"], "model_not_found");
    let unknown_path = app.post("/v1/no/such/thing", chat("tiny")).await;
    assert_eq!(unknown_path.status, StatusCode::NOT_FOUND);
    envelope(&unknown_path);
    assert_eq!(app.runs_of(id).await, 0);
}

#[tokio::test]
async fn bad_bodies_are_refused_in_the_envelope_and_start_nothing() {
    let app = TestApp::with_llama_server().await;
    let id = app.create_tiny("tiny").await;
    for (body, code) in [
        ("not json", "invalid_request"),
        ("{}", "model_missing"),
        (r#"{"model": 7}"#, "model_not_a_string"),
        (r#"{"model": null}"#, "model_missing"),
    ] {
        let reply = app.post_raw("/v1/chat/completions", body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(envelope(&reply)["code"], code, "{body}");
    }
    let huge = Request::post("/v1/chat/completions")
        .header(header::HOST, app.host())
        .header(header::CONTENT_LENGTH, 40 << 20)
        .body(Body::from("{}"))
        .unwrap();
    let reply = app.send(huge).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    envelope(&reply);
    assert_eq!(app.runs_of(id).await, 0);
}

#[tokio::test]
async fn a_request_of_the_wrong_kind_names_the_role_setting_and_the_right_role_answers() {
    let app = TestApp::with_llama_server().await;
    let chat_id = app.create_tiny("chatty").await;
    let reply = app
        .post("/v1/embeddings", json!({"model": "chatty", "input": "x"}))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let error = envelope(&reply);
    assert!(
        error["message"].as_str().unwrap().contains("serving.role"),
        "{error}"
    );
    assert_eq!(app.runs_of(chat_id).await, 0);

    let id = app.create_tiny("embedder").await;
    app.serving(id, json!({"role": "embeddings"})).await;
    // The random-weight model names no pooling of its own.
    let pooling = app
        .post(
            "/api/models/config/save",
            json!({"id": id, "group": "advanced", "config": {"pooling": "mean"}}),
        )
        .await;
    assert_eq!(pooling.status, StatusCode::OK, "{}", pooling.body);
    let reply = app
        .post(
            "/v1/embeddings",
            json!({"model": "embedder", "input": "hello"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.json()["data"][0]["embedding"].is_array());
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn a_failed_start_is_a_503_naming_the_reason() {
    let app = TestApp::with_llama_server().await;
    app.create("ghost", "/nowhere/ghost.gguf").await;
    let replies =
        futures::future::join_all((0..3).map(|_| app.post("/v1/chat/completions", chat("ghost"))))
            .await;
    for reply in replies {
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        let error = envelope(&reply);
        assert_eq!(error["code"], "model_start_failed");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("/nowhere/ghost.gguf"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn the_request_limit_answers_429_with_retry_after() {
    let app = TestApp::with_llama_server().await;
    let id = app.create_tiny("tiny").await;
    app.serving(id, json!({"max_requests": 1})).await;
    let held = app.on_demand.queue(id, 1).unwrap();
    let response = app.respond("/v1/chat/completions", &chat("tiny")).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    drop(held);
    let reply = app.post("/v1/chat/completions", chat("tiny")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn a_model_with_a_request_in_flight_is_not_evicted_and_the_newcomer_times_out_with_503() {
    let app = TestApp::with_settings(SupervisorSettings {
        max_running: 1,
        when_full: WhenFull::StopLeastRecent,
        ..supervisor_settings()
    })
    .await;
    let a = app.create_tiny("a").await;
    let b = app.create_tiny("b").await;
    app.serving(b, json!({"queue_timeout_seconds": 1})).await;
    let ticket = app.on_demand.queue(a, 32).unwrap();
    let deadline = tokio::time::Instant::now() + LOAD;
    let in_flight = app.on_demand.wait(ticket, deadline, true).await.unwrap();
    let response = app.respond("/v1/chat/completions", &chat("b")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    assert_eq!(
        app.registry.get_model(a).await.unwrap().status,
        ModelStatus::Running,
        "a model with a request in flight keeps running"
    );
    // Once it drains, the newcomer gets the place.
    drop(in_flight);
    app.serving(b, json!({"queue_timeout_seconds": 60})).await;
    let reply = app.post("/v1/chat/completions", chat("b")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(app.supervisor.live_runs(), vec![b]);
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn an_idle_model_is_stopped_after_its_ttl() {
    let app = TestApp::with_llama_server().await;
    let id = app.create_tiny("tiny").await;
    app.serving(id, json!({"idle_ttl_seconds": 1})).await;
    let reply = app.post("/v1/chat/completions", chat("tiny")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    app.wait_status(id, ModelStatus::Stopped, Duration::from_secs(10))
        .await;
    let run = app.last_run(id).await;
    assert!(run.ended_at.unwrap() - run.ready_at.unwrap() >= 1000);
}

#[tokio::test]
async fn a_client_that_disconnects_mid_stream_frees_the_servers_slot() {
    let app = TestApp::with_llama_server().await;
    let id = app.create_tiny("tiny").await;
    app.post(
        "/api/models/update",
        json!({"id": id, "changes": {"ctx_size": 8192}}),
    )
    .await;
    common::serve(&app).await;
    let body = json!({"model": "tiny", "prompt": "a", "max_tokens": 8000, "stream": true,
                      "ignore_eos": true})
    .to_string();
    let mut stream = tokio::net::TcpStream::connect(app.address).await.unwrap();
    let request = format!(
        "POST /v1/completions HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        app.host(),
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut first = [0u8; 512];
    let read = tokio::time::timeout(LOAD, stream.read(&mut first))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&first[..read]).starts_with("HTTP/1.1 200"));
    let busy = app.get("/upstream/tiny/slots").await;
    assert!(
        busy.body.contains("\"is_processing\":true"),
        "{}",
        busy.body
    );
    drop(stream);
    let gone = tokio::time::Instant::now();
    loop {
        let slots = app.get("/upstream/tiny/slots").await;
        assert_eq!(slots.status, StatusCode::OK, "{}", slots.body);
        if !slots.body.contains("\"is_processing\":true") {
            break;
        }
        assert!(
            gone.elapsed() < Duration::from_secs(1),
            "the slot still works 1 s after the client left"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn the_model_lists_carry_router_status_through_a_load_and_an_unload() {
    let app = TestApp::with_llama_server().await;
    let id = app.create_tiny("tiny").await;
    app.serving(id, json!({"aliases": ["t"]})).await;
    let status = |reply: Reply| reply.json()["data"][0]["status"]["value"].clone();
    let list = app.get("/v1/models").await;
    assert_eq!(list.json()["object"], "list");
    assert_eq!(list.json()["data"][0]["id"], "tiny");
    assert_eq!(list.json()["data"][0]["aliases"], json!(["t"]));
    assert_eq!(status(list), "unloaded");

    let loaded = app.post("/models/load", json!({"model": "t"})).await;
    assert_eq!(loaded.json(), json!({"success": true}), "{}", loaded.body);
    app.wait_status(id, ModelStatus::Running, LOAD).await;
    assert_eq!(status(app.get("/models").await), "loaded");
    let unloaded = app.post("/models/unload", json!({"model": "tiny"})).await;
    assert_eq!(
        unloaded.json(),
        json!({"success": true}),
        "{}",
        unloaded.body
    );
    assert_eq!(status(app.get("/v1/models").await), "unloaded");
    let unknown = app.post("/models/load", json!({"model": "nope"})).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    envelope(&unknown);
}

#[tokio::test]
async fn models_sse_delivers_loading_with_its_progress_then_loaded() {
    let app = TestApp::with_llama_server().await;
    app.create_tiny("tiny").await;
    common::serve(&app).await;
    let mut stream = tokio::net::TcpStream::connect(app.address).await.unwrap();
    let request = format!(
        "GET /models/sse HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
        app.host()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut seen = String::new();
    let mut buffer = [0u8; 4096];
    let read = stream.read(&mut buffer).await.unwrap();
    seen.push_str(&String::from_utf8_lossy(&buffer[..read]));
    let loaded = app.post("/models/load", json!({"model": "tiny"})).await;
    assert_eq!(loaded.status, StatusCode::OK, "{}", loaded.body);
    let deadline = tokio::time::Instant::now() + LOAD;
    while !seen.contains("\"loaded\"") {
        let read = tokio::time::timeout_at(deadline, stream.read(&mut buffer))
            .await
            .expect("loaded within the load time")
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&buffer[..read]));
    }
    let loading = seen.find(r#""status":"loading""#).expect("a loading event");
    let loaded = seen.find(r#""status":"loaded""#).unwrap();
    assert!(loading < loaded, "{seen}");
    assert!(seen.contains(r#""event":"model_status""#), "{seen}");
    // While it loads, how far it has got (the stage and time the models page shows).
    let progress = seen
        .find(r#""event":"load_progress""#)
        .expect("a load_progress event");
    assert!(progress < loaded, "{seen}");
    assert!(seen.contains(r#""elapsed_ms":"#), "{seen}");
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn a_stream_read_for_longer_than_the_idle_ttl_is_not_cut() {
    let app = TestApp::with_llama_server().await;
    let id = app.create_tiny("tiny").await;
    app.serving(id, json!({"idle_ttl_seconds": 1})).await;
    let body = json!({"model": "tiny", "prompt": "a", "max_tokens": 200, "stream": true,
                      "ignore_eos": true});
    let response = app.respond("/v1/completions", &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let first = http_body_util::BodyExt::frame(&mut body)
        .await
        .unwrap()
        .unwrap();
    assert!(first.is_data());
    // A slow reader keeps the answer in flight for longer than the TTL.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        app.registry.get_model(id).await.unwrap().status,
        ModelStatus::Running,
        "a model is never unloaded while a request is in flight"
    );
    let rest = http_body_util::BodyExt::collect(body)
        .await
        .unwrap()
        .to_bytes();
    assert!(
        String::from_utf8_lossy(&rest)
            .trim_end()
            .ends_with("data: [DONE]"),
        "the stream was cut"
    );
    app.wait_status(id, ModelStatus::Stopped, Duration::from_secs(10))
        .await;
}

/// The pinned llama-server, except that a model named `slow…` never finishes loading (as a
/// huge model would; only a double does it on demand).
fn slow_loader(dir: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("slow-loader");
    let real = common::llama_server();
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\n\
             case \"$*\" in *--alias\\ slow*) echo 'stand-in: loading for ever' >&2; \
             while true; do sleep 0.05; done;; esac\n\
             exec '{}' \"$@\"\n",
            real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[tokio::test]
async fn a_load_whose_last_waiter_left_makes_way_for_a_model_waiting_for_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::with_settings(SupervisorSettings {
        llama_server: Some(slow_loader(dir.path())),
        max_running: 1,
        when_full: WhenFull::StopLeastRecent,
        ..supervisor_settings()
    })
    .await;
    let slow = app.create_tiny("slow").await;
    app.create_tiny("quick").await;
    let body = json!({"model": "slow", "prompt": "a", "max_tokens": 2});
    // The slow model's only client gives up while it loads; meanwhile "quick" waits for the
    // only place.
    let (left, reply) = tokio::join!(
        tokio::time::timeout(
            Duration::from_millis(800),
            app.respond("/v1/completions", &body)
        ),
        async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            app.post(
                "/v1/completions",
                json!({"model": "quick", "prompt": "a", "max_tokens": 2}),
            )
            .await
        }
    );
    assert!(left.is_err(), "the slow model cannot have answered");
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let run = app.last_run(slow).await;
    assert!(run.ended_at.is_some(), "the abandoned load was cancelled");
    assert_eq!(run.ready_at, None);
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn an_abandoned_load_goes_before_an_idle_model_that_was_used_longer_ago() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::with_settings(SupervisorSettings {
        llama_server: Some(slow_loader(dir.path())),
        max_running: 2,
        when_full: WhenFull::StopLeastRecent,
        ..supervisor_settings()
    })
    .await;
    let idle = app.create_tiny("idle").await;
    let slow = app.create_tiny("slow").await;
    app.create_tiny("quick").await;
    let reply = app.post("/v1/chat/completions", chat("idle")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let body = json!({"model": "slow", "prompt": "a", "max_tokens": 2});
    let left = tokio::time::timeout(
        Duration::from_millis(300),
        app.respond("/v1/completions", &body),
    )
    .await;
    assert!(left.is_err(), "the slow model cannot have answered");
    let reply = app.post("/v1/chat/completions", chat("quick")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(app.last_run(slow).await.ended_at.is_some());
    assert_eq!(
        app.registry.get_model(idle).await.unwrap().status,
        ModelStatus::Running,
        "the idle model kept its place"
    );
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn a_rename_or_an_alias_change_is_heard_by_the_very_next_request() {
    let app = TestApp::with_llama_server().await;
    let id = app.create_tiny("before").await;
    let reply = app.post("/v1/chat/completions", chat("before")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let renamed = app
        .post(
            "/api/models/update",
            json!({"id": id, "changes": {"name": "after"}}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    let old = app.post("/v1/chat/completions", chat("before")).await;
    assert_eq!(old.status, StatusCode::NOT_FOUND, "{}", old.body);
    let new = app.post("/v1/chat/completions", chat("after")).await;
    assert_eq!(new.status, StatusCode::OK, "{}", new.body);

    app.serving(id, json!({"aliases": ["nick"]})).await;
    let nick = app.post("/v1/chat/completions", chat("nick")).await;
    assert_eq!(nick.status, StatusCode::OK, "{}", nick.body);
    app.serving(id, json!({})).await;
    let gone = app.post("/v1/chat/completions", chat("nick")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND, "{}", gone.body);
    app.supervisor.shutdown().await;
}

impl TestApp {
    /// `GET path` with extra headers, as a browser or a script would send it.
    async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = Request::get(path).header(header::HOST, self.host());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }
}

#[tokio::test]
async fn a_get_starts_a_model_only_with_a_key_from_no_other_page_and_never_copies_the_database_for_one()
 {
    let app = TestApp::with_llama_server().await;
    let id = app.create_tiny("tiny").await;
    let stopped = || async { app.registry.get_model(id).await.unwrap().status };
    // Another page's GET (cross-site, or another port of the same host), or a script without
    // a key: the model stays stopped.
    for headers in [
        vec![("sec-fetch-site", "cross-site")],
        vec![
            ("origin", "http://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ],
        vec![("sec-fetch-site", "same-site")],
        vec![],
    ] {
        let reply = app.get_with("/upstream/tiny/health", &headers).await;
        assert!(
            [StatusCode::CONFLICT, StatusCode::UNAUTHORIZED].contains(&reply.status),
            "{headers:?}: {} {}",
            reply.status,
            reply.body
        );
        assert_eq!(stopped().await, ModelStatus::Stopped, "{headers:?}");
    }
    let refused = app
        .get_with("/upstream/tiny/health", &[("sec-fetch-site", "same-site")])
        .await;
    assert_eq!(refused.json()["error"]["code"], "model_not_running");
    // A script with a key starts it (no login here: the key header says a program asks).
    let keyed = app
        .get_with(
            "/upstream/tiny/health",
            &[("authorization", "Bearer local")],
        )
        .await;
    assert_eq!(keyed.status, StatusCode::OK, "{}", keyed.body);
    // Running, any GET joins it.
    let joined = app.get_with("/upstream/tiny/health", &[]).await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);

    // A backup from another page's GET is not even made; from a script or our page it is.
    for site in ["cross-site", "same-site"] {
        let copied = app
            .get_with("/api/backup", &[("sec-fetch-site", site)])
            .await;
        assert_eq!(copied.status, StatusCode::FORBIDDEN, "{site}");
    }
    let own = app
        .get_with("/api/backup", &[("sec-fetch-site", "same-origin")])
        .await;
    assert_eq!(own.status, StatusCode::OK);
    // A path of thousands of segments costs a few lookups; a longer one is refused at once.
    let started = std::time::Instant::now();
    let deep = app
        .get_with(&format!("/upstream/{}x", "a/".repeat(2000)), &[])
        .await;
    assert_eq!(deep.status, StatusCode::NOT_FOUND);
    assert!(deep.body.len() < 2048, "{} bytes", deep.body.len());
    let long = app
        .get_with(&format!("/upstream/{}x", "a/".repeat(30_000)), &[])
        .await;
    assert_eq!(long.status, StatusCode::URI_TOO_LONG);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn a_browser_opening_slash_models_is_sent_to_the_models_page_and_clients_get_the_list() {
    let app = TestApp::new().await;
    app.create("tiny", "/models/tiny.gguf").await;
    let ask = |accept: &'static str| {
        Request::get("/models")
            .header(header::HOST, app.host())
            .header(header::ACCEPT, accept)
            .body(Body::empty())
            .unwrap()
    };
    let browser = app
        .router
        .clone()
        .oneshot(ask(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        ))
        .await
        .unwrap();
    assert_eq!(browser.status(), StatusCode::SEE_OTHER);
    assert_eq!(browser.headers()[header::LOCATION], "/");
    for accept in ["application/json", "*/*", "text/html, application/json"] {
        let client = app.send(ask(accept)).await;
        assert_eq!(client.status, StatusCode::OK, "{accept}");
        assert_eq!(client.json()["data"][0]["id"], "tiny", "{accept}");
    }
}

#[tokio::test]
async fn a_stream_that_waits_for_a_load_hears_its_progress_as_reasoning_when_asked() {
    // A load of a second and more (the tiny model's alone is too quick to be told of).
    let bin = tempfile::tempdir().unwrap();
    let app = TestApp::with_settings(SupervisorSettings {
        llama_server: Some(common::slow_llama_server(bin.path(), 1.5)),
        ..supervisor_settings()
    })
    .await;
    app.create_tiny("tiny").await;
    let embedder = app.create_tiny("embedder").await;
    app.serving(embedder, json!({"role": "embeddings"})).await;
    app.create("ghost", "/nowhere/ghost.gguf").await;
    let mut body = chat("tiny");
    body["stream"] = json!(true);
    let read = |response: axum::response::Response| async move {
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    // Set on the Settings page for every model.
    let saved = app
        .post(
            "/api/settings/save",
            json!({"settings": {"loading_state": "reasoning"}}),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let response = app.respond("/v1/chat/completions", &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = read(response).await;
    let events: Vec<Value> = text
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter(|data| *data != "[DONE]")
        .map(|data| serde_json::from_str(data).unwrap())
        .collect();
    let first = &events[0]["choices"][0]["delta"];
    assert!(
        first["reasoning_content"]
            .as_str()
            .unwrap()
            .starts_with("Loading tiny"),
        "{text}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["choices"][0]["delta"]["content"].is_string()),
        "the answer follows: {text}"
    );
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");

    // Once it runs, nothing is added.
    let text = read(app.respond("/v1/chat/completions", &body).await).await;
    assert!(!text.contains("Loading tiny"), "{text}");

    // A refusal keeps its own status: nothing is streamed for it.
    let mut wrong_role = chat("embedder");
    wrong_role["stream"] = json!(true);
    let refused = app.respond("/v1/chat/completions", &wrong_role).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let mut ghost = chat("ghost");
    ghost["stream"] = json!(true);
    let failed = app.respond("/v1/chat/completions", &ghost).await;
    assert_eq!(failed.status(), StatusCode::SERVICE_UNAVAILABLE);
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn an_upstream_endpoint_written_with_escapes_is_refused_not_passed_around_the_filters() {
    let app = TestApp::with_llama_server().await;
    let id = app.create_tiny("tiny").await;
    let saved = app
        .post(
            "/api/models/config/save",
            json!({"id": id, "group": "serving", "config": {"filters": {"set": {"n_predict": 1}}}}),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    // llama-server would decode `%63ompletion` to `/completion`, which the filter covers.
    for path in ["/upstream/tiny/%63ompletion", "/upstream/tiny/c%6Fmpletion"] {
        let reply = app
            .post(path, json!({"prompt": "a", "n_predict": 50}))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            reply.body
        );
        assert!(reply.body.contains("without %-escapes"), "{}", reply.body);
    }
    let plain = app
        .post(
            "/upstream/tiny/completion",
            json!({"prompt": "a", "n_predict": 50}),
        )
        .await;
    assert_eq!(plain.status, StatusCode::OK, "{}", plain.body);
    assert_eq!(plain.json()["tokens_predicted"], 1, "{}", plain.body);
    app.supervisor.shutdown().await;
}
