//! Bad input: a clear 4xx with a JSON body every time, no panic, the database unchanged.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::TestApp;
use serde_json::json;

async fn rejected_create(app: &TestApp, model: serde_json::Value) -> Vec<(String, String)> {
    let before = app.snapshot().await;
    let reply = app
        .post("/api/models/create", json!({ "model": model }))
        .await;
    assert_eq!(
        reply.status,
        StatusCode::BAD_REQUEST,
        "{model}: {}",
        reply.body
    );
    assert_eq!(app.snapshot().await, before, "{model} wrote something");
    reply.field_rules()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(f, r)| (f.to_string(), r.to_string()))
        .collect()
}

#[tokio::test]
async fn a_model_that_is_not_an_object_is_refused_naming_the_model_field() {
    let app = TestApp::new().await;
    for model in [json!(7), json!("m.gguf"), json!([1])] {
        assert_eq!(
            rejected_create(&app, model).await,
            pairs(&[("model", "type")])
        );
    }
}

#[tokio::test]
async fn an_empty_name_is_required() {
    let app = TestApp::new().await;
    assert_eq!(
        rejected_create(&app, json!({"name": "", "path": "/m/a.gguf"})).await,
        pairs(&[("name", "required")])
    );
    assert_eq!(
        rejected_create(&app, json!({"name": "   ", "path": "/m/a.gguf"})).await,
        pairs(&[("name", "required")])
    );
    assert_eq!(
        rejected_create(&app, json!({"path": "/m/a.gguf"})).await,
        pairs(&[("name", "required")])
    );
}

#[tokio::test]
async fn an_overlong_name_is_rejected() {
    let app = TestApp::new().await;
    let name = "n".repeat(81);
    assert_eq!(
        rejected_create(&app, json!({"name": name, "path": "/m/a.gguf"})).await,
        pairs(&[("name", "max_length")])
    );
}

#[tokio::test]
async fn a_name_with_control_characters_is_rejected() {
    let app = TestApp::new().await;
    let rules = rejected_create(&app, json!({"name": "bad\u{7}name", "path": "/m/a.gguf"})).await;
    assert_eq!(rules, pairs(&[("name", "no_control_chars")]));
}

#[tokio::test]
async fn a_relative_or_non_gguf_path_is_rejected() {
    let app = TestApp::new().await;
    assert_eq!(
        rejected_create(&app, json!({"name": "a", "path": "models/a.gguf"})).await,
        pairs(&[("path", "absolute_path")])
    );
    assert_eq!(
        rejected_create(&app, json!({"name": "a", "path": "/models/a.safetensors"})).await,
        pairs(&[("path", "gguf_file")])
    );
}

#[tokio::test]
async fn numbers_out_of_range_are_rejected_with_their_range() {
    let app = TestApp::new().await;
    let rules = rejected_create(
        &app,
        json!({"name": "a", "path": "/m/a.gguf", "ctx_size": -1, "parallel": 100000, "threads": 0}),
    )
    .await;
    assert_eq!(
        rules,
        pairs(&[
            ("ctx_size", "range"),
            ("parallel", "range"),
            ("threads", "range")
        ])
    );
}

#[tokio::test]
async fn an_unknown_kind_is_rejected() {
    let app = TestApp::new().await;
    let rules = rejected_create(
        &app,
        json!({"name": "a", "path": "/m/a.gguf", "kind": "mistrall"}),
    )
    .await;
    assert_eq!(rules, pairs(&[("kind", "one_of")]));
}

#[tokio::test]
async fn an_unknown_field_is_rejected() {
    let app = TestApp::new().await;
    let rules = rejected_create(
        &app,
        json!({"name": "a", "path": "/m/a.gguf", "gpu_layers": 99}),
    )
    .await;
    assert_eq!(rules, pairs(&[("gpu_layers", "unknown_field")]));
}

#[tokio::test]
async fn a_model_that_is_not_an_object_is_rejected() {
    let app = TestApp::new().await;
    let reply = app
        .post("/api/models/create", json!({"model": "llama"}))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_invalid_update_writes_nothing() {
    let app = TestApp::new().await;
    let id = app.create("a", "/m/a.gguf").await["id"].clone();
    let before = app.snapshot().await;
    let reply = app
        .post(
            "/api/models/update",
            json!({"id": id, "changes": {"path": "relative.gguf", "batch_size": 0}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.field_rules(),
        pairs(&[("path", "absolute_path"), ("batch_size", "range")])
    );
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn malformed_json_is_a_bad_request() {
    let app = TestApp::new().await;
    let before = app.snapshot().await;
    for body in [
        "{",
        "not json",
        "[1,2]",
        "{\"model\": {\"name\": \"a\",}}",
        "",
    ] {
        let reply = app.post_raw("/api/models/create", body).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body:?}: {}",
            reply.body
        );
        assert_eq!(reply.json()["code"], "bad_request", "{body:?}");
    }
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn a_missing_argument_is_a_bad_request() {
    let app = TestApp::new().await;
    let reply = app.post("/api/models/get", json!({})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reply = app.post("/api/models/get", json!({"id": "seven"})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_body_declared_over_one_mebibyte_is_refused() {
    let app = TestApp::new().await;
    let before = app.snapshot().await;
    let name = "x".repeat(1024 * 1024 + 10);
    let reply = app
        .post(
            "/api/models/create",
            json!({"model": {"name": name, "path": "/m/a.gguf"}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.json()["code"], "payload_too_large");
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn a_streamed_body_over_one_mebibyte_is_refused() {
    let app = TestApp::new().await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..20).map(|_| Ok(vec![b' '; 64 * 1024])).collect();
    let request = Request::post("/api/models/create")
        .header(header::HOST, app.host())
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(futures::stream::iter(chunks)))
        .unwrap();
    let reply = app.send(request).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn a_foreign_origin_cannot_change_anything() {
    let app = TestApp::new().await;
    let before = app.snapshot().await;
    let request = Request::post("/api/models/create")
        .header(header::HOST, app.host())
        .header(header::ORIGIN, "http://attacker.example")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"model": {"name": "a", "path": "/m/a.gguf"}}).to_string(),
        ))
        .unwrap();
    let reply = app.send(request).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.json()["code"], "forbidden");
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn the_pages_own_origin_is_accepted() {
    let app = TestApp::new().await;
    let request = Request::post("/api/models/create")
        .header(header::HOST, app.host())
        .header(header::ORIGIN, app.origin())
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"model": {"name": "a", "path": "/m/a.gguf"}}).to_string(),
        ))
        .unwrap();
    assert_eq!(app.send(request).await.status, StatusCode::OK);
}
