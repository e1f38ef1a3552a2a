//! A model's request filters and variants (serving settings), against the pinned llama-server
//! and the tiny model: what the server received is read back from the answer (`usage`) and from
//! the server's own `/slots` (the parameters of its last task).
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use axum::http::StatusCode;
use common::TestApp;
use corral::domain::page::Page;
use serde_json::{Value, json};

impl TestApp {
    async fn serve_with(&self, id: i64, config: Value) -> common::Reply {
        self.post(
            "/api/models/config/save",
            json!({"id": id, "group": "serving", "config": config}),
        )
        .await
    }

    async fn chat(&self, body: Value) -> Value {
        let reply = self.post("/v1/chat/completions", body).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.json()
    }

    /// The parameters of the server's last task, as its `/slots` reports them.
    async fn last_params(&self, name: &str) -> Value {
        self.last_params_slot(name).await["params"].clone()
    }

    /// The slot that ran the server's last task.
    async fn last_params_slot(&self, name: &str) -> Value {
        let reply = self.get(&format!("/upstream/{name}/slots")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let slots = reply.json();
        slots
            .as_array()
            .unwrap()
            .iter()
            .filter(|slot| slot["params"].is_object())
            .max_by_key(|slot| slot["id_task"].as_i64())
            .cloned()
            .unwrap_or_else(|| panic!("no slot has run a task: {slots}"))
    }
}

fn asking(model: &str, extra: Value) -> Value {
    let mut body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}],
                          "max_tokens": 6, "temperature": 1.5});
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    body
}

#[tokio::test]
async fn filters_strip_keys_and_set_others_before_the_server_sees_the_request() {
    let app = TestApp::with_llama_server().await;
    let id = app.create_tiny("tiny").await;
    let saved = app
        .serve_with(
            id,
            json!({"filters": {"strip": ["temperature"], "set": {"max_tokens": 1}}}),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let answer = app.chat(asking("tiny", json!({"ignore_eos": true}))).await;
    assert_eq!(answer["usage"]["completion_tokens"], 1, "{answer}");
    let params = app.last_params("tiny").await;
    assert_eq!(params["n_predict"], 1, "{params}");
    assert_ne!(params["temperature"], 1.5, "stripped: {params}");
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn a_variant_is_the_same_run_with_its_parameters_set_and_can_be_listed() {
    let app = TestApp::with_llama_server().await;
    let id = app.create_tiny("tiny").await;
    let saved = app
        .serve_with(
            id,
            json!({"variants": {"short": {"max_tokens": 1, "top_k": 7,
                                           "chat_template_kwargs": {"reasoning_effort": "high"}}},
                   "list_variants": true}),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let plain = app.chat(asking("tiny", json!({"ignore_eos": true}))).await;
    assert_eq!(plain["usage"]["completion_tokens"], 6, "{plain}");
    let short = app
        .chat(asking("TINY:Short", json!({"ignore_eos": true})))
        .await;
    assert_eq!(short["usage"]["completion_tokens"], 1, "{short}");
    assert_eq!(app.last_params("tiny").await["top_k"], 7);
    assert_eq!(
        app.runs(id, Page::default()).await.unwrap().len(),
        1,
        "served by the run already there"
    );
    // The kwargs reach the chat template: one that prints `effort` makes a longer prompt.
    let template =
        "{%- for m in messages -%}{{ m.content }}{%- endfor -%}{{ effort | default('') }}";
    let saved = app
        .post(
            "/api/models/config/save",
            json!({"id": id, "group": "advanced",
                   "config": {"extra_args": ["--chat-template", template]}}),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let saved = app
        .serve_with(
            id,
            json!({"variants": {"short": {"max_tokens": 1},
                                "wordy": {"chat_template_kwargs":
                       {"effort": " and think about it very carefully please, at length"}}},
                   "list_variants": true}),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let restarted = app.post("/api/models/restart", json!({"id": id})).await;
    assert_eq!(restarted.status, StatusCode::OK, "{}", restarted.body);
    app.wait_status(
        id,
        corral::domain::ModelStatus::Running,
        std::time::Duration::from_secs(30),
    )
    .await;
    app.chat(asking("tiny", json!({}))).await;
    let plain = app.last_params_slot("tiny").await["n_prompt_tokens"].clone();
    app.chat(asking("tiny:wordy", json!({}))).await;
    let wordy = app.last_params_slot("tiny").await["n_prompt_tokens"].clone();
    assert!(
        wordy.as_i64().unwrap() > plain.as_i64().unwrap() + 5,
        "the template saw the variant's kwargs: {plain} vs {wordy} prompt tokens"
    );

    let unknown = app
        .post("/v1/chat/completions", asking("tiny:long", json!({})))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);

    let listed = app.get("/v1/models").await.json();
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["tiny", "tiny:short", "tiny:wordy"]);
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn filters_and_variants_that_would_touch_model_or_stream_or_run_wild_are_refused() {
    let app = TestApp::new().await;
    let id = app.create("m", "/models/m.gguf").await["id"]
        .as_i64()
        .unwrap();
    let deep = (0..20).fold(json!(1), |inner, _| json!([inner]));
    let cases = [
        (
            json!({"filters": {"set": {"model": "other"}}}),
            "filters.set.model",
        ),
        (
            json!({"filters": {"strip": ["stream"]}}),
            "filters.strip[0]",
        ),
        (json!({"filters": {"set": {"x": deep}}}), "filters.set.x"),
        (json!({"filters": "strip temperature"}), "filters"),
        (json!({"variants": {"no think": {}}}), "variants.no think"),
        (json!({"variants": {"high": 3}}), "variants.high"),
        (
            json!({"variants": {"big": {"x": "y".repeat(100_000)}}}),
            "variants",
        ),
    ];
    for (config, field) in cases {
        let reply = app.serve_with(id, config.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{config}: {}",
            reply.body
        );
        let fields: Vec<String> = reply.field_rules().into_iter().map(|(f, _)| f).collect();
        assert!(
            fields.contains(&field.to_string()),
            "{field} not in {fields:?}"
        );
    }
}
