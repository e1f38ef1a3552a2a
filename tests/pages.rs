//! Server-rendered pages: the first HTML already holds the data.
#![cfg(feature = "ssr")]

mod common;

use axum::http::StatusCode;
use common::TestApp;
use serde_json::json;

#[tokio::test]
async fn the_models_page_lists_every_model_in_its_first_html() {
    let app = TestApp::new().await;
    app.create("Mistral Nemo", "/m/Mistral-Nemo-12B.gguf").await;
    app.create("Gemma tiny", "/m/gemma-3-1b.gguf").await;
    let page = app.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    for text in [
        "<tbody",
        "Mistral Nemo",
        "Gemma tiny",
        "/m/gemma-3-1b.gguf",
        "Stopped",
        "Actions for Mistral Nemo",
    ] {
        assert!(
            page.body.contains(text),
            "missing {text:?} in:\n{}",
            page.body
        );
    }
}

#[tokio::test]
async fn an_empty_registry_says_how_to_add_a_first_model() {
    let app = TestApp::new().await;
    let page = app.get("/models").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("No models yet"), "{}", page.body);
}

#[tokio::test]
async fn names_are_escaped_in_the_html() {
    let app = TestApp::new().await;
    app.create("<script>alert(1)</script>", "/m/x.gguf").await;
    let page = app.get("/").await;
    assert!(!page.body.contains("<script>alert(1)</script>"));
    assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}

#[tokio::test]
async fn the_model_page_shows_the_settings_groups_and_values() {
    let app = TestApp::new().await;
    let id = app.create("detail", "/m/detail.gguf").await["id"].clone();
    app.post(
        "/api/models/config/save",
        json!({"id": id, "group": "sampling", "config": {"top_k": 33}}),
    )
    .await;
    let page = app.get(&format!("/models/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    for text in [
        "detail",
        "Sampling",
        "Memory",
        "GPU",
        "Advanced",
        "Multimodal",
        "Temperature",
        "value=\"33\"",
        "History",
    ] {
        assert!(page.body.contains(text), "missing {text:?}");
    }
}

#[tokio::test]
async fn an_unknown_model_page_is_not_found() {
    let app = TestApp::new().await;
    let page = app.get("/models/12345").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND, "{}", page.body);
    assert!(page.body.contains("does not exist"));
}

#[tokio::test]
async fn the_health_endpoint_answers() {
    let app = TestApp::new().await;
    let reply = app.get("/api/health").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), json!({"status": "ok"}));
}
