//! Memory at start: a start the estimate says will not fit in the free RAM is refused with the
//! numbers (or, set to warn, goes ahead); a memory budget stops least recently used models until
//! a start fits, or refuses; what a run was measured to use is kept and used next time.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::{Options, TestApp, supervisor_settings};
use corral::domain::ModelStatus;
use corral::domain::page::Page;
use corral::server::gguf::writer::{TensorInfo, Value, write_header_only};
use serde_json::json;

const LOAD: Duration = Duration::from_secs(60);

fn app_options() -> Options {
    Options {
        settings: supervisor_settings(),
        ..Options::default()
    }
}

/// A header that says 80 layers of 8 KV heads of 128: 320 KiB of KV cache per token.
fn huge_header(dir: &std::path::Path) -> String {
    let path = dir.join("huge.gguf");
    let meta = [
        ("general.architecture", Value::Str("llama".into())),
        ("llama.block_count", Value::U32(80)),
        ("llama.embedding_length", Value::U32(8192)),
        ("llama.attention.head_count", Value::U32(64)),
        ("llama.attention.head_count_kv", Value::U32(8)),
        ("llama.context_length", Value::U32(131_072)),
    ];
    let meta: Vec<(String, Value)> = meta.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    write_header_only(
        &path,
        &meta,
        &[TensorInfo::new("token_embd.weight", &[8192, 16], 1)],
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

#[tokio::test]
async fn a_start_that_will_not_fit_in_free_memory_is_refused_with_the_numbers_or_warned() {
    let app = TestApp::with_options(app_options()).await;
    let path = huge_header(app.dir.path());
    // 131,072 tokens × 320 KiB = 40 GiB of KV cache alone.
    let made = app
        .post(
            "/api/models/create",
            json!({"model": {"name": "huge", "path": path, "ctx_size": 131072, "threads": 1}}),
        )
        .await
        .json();
    let id = made["id"].as_i64().unwrap();
    let reply = app.post("/api/models/start", json!({"id": id})).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    for words in [
        "'huge' needs about",
        "estimated from its file",
        "of RAM is free",
    ] {
        assert!(reply.body.contains(words), "{words}: {}", reply.body);
    }
    assert_eq!(
        app.registry.get_model(id).await.unwrap().status,
        ModelStatus::Stopped
    );
    let runs = app.runs(id, Page::default()).await.unwrap();
    assert!(runs.is_empty(), "nothing was started: {runs:?}");

    // Set to warn: the start goes ahead (and this file, a header alone, then fails to load).
    let saved = app
        .post(
            "/api/settings/save",
            json!({"settings": {"fit_check": "warn"}}),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let reply = app.post("/api/models/start", json!({"id": id})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let deadline = Instant::now() + LOAD;
    while app.runs(id, Page::default()).await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "a run was recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.supervisor.shutdown().await;
}

/// Waits until the live run of `id` has been measured, and answers its resident bytes.
async fn measured(app: &TestApp, id: i64) -> u64 {
    let deadline = Instant::now() + LOAD;
    loop {
        let rss = app
            .hub
            .snapshot()
            .runs
            .iter()
            .find(|r| r.model_id == id)
            .and_then(|r| r.sample.as_ref()?.rss_bytes);
        if let Some(rss) = rss {
            return rss;
        }
        assert!(Instant::now() < deadline, "a memory sample of {id}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_memory_budget_stops_the_least_recently_used_until_a_start_fits_or_refuses() {
    let app = TestApp::with_options(app_options()).await;
    let (a, b) = (app.create_tiny("a").await, app.create_tiny("b").await);
    app.supervisor.start_model(a).await.unwrap();
    app.wait_status(a, ModelStatus::Running, LOAD).await;
    let rss = measured(&app, a).await;
    // Room for a's measured use and two MiB: b's estimate (file, KV, compute buffers) is more.
    let budget_mib = (rss >> 20) + 2;
    let settings = json!({"settings": {"memory_budget_mib": budget_mib, "when_full": "refuse"}});
    assert_eq!(
        app.post("/api/settings/save", settings).await.status,
        StatusCode::OK
    );
    let reply = app.post("/api/models/start", json!({"id": b})).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert!(reply.body.contains("memory budget"), "{}", reply.body);
    assert_eq!(
        app.registry.get_model(a).await.unwrap().status,
        ModelStatus::Running
    );

    let settings = json!({"settings": {"memory_budget_mib": budget_mib}});
    assert_eq!(
        app.post("/api/settings/save", settings).await.status,
        StatusCode::OK
    );
    app.supervisor.start_model(b).await.unwrap();
    app.wait_status(b, ModelStatus::Running, LOAD).await;
    assert_eq!(
        app.registry.get_model(a).await.unwrap().status,
        ModelStatus::Stopped,
        "a was stopped to make room"
    );
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn what_a_run_was_measured_to_use_is_kept_and_used_for_the_next_start() {
    let app = TestApp::with_options(app_options()).await;
    let id = app.create_tiny("tiny").await;
    app.supervisor.start_model(id).await.unwrap();
    app.wait_status(id, ModelStatus::Running, LOAD).await;
    let rss = measured(&app, id).await;
    app.supervisor.stop_model(id).await.unwrap();
    let run = app.last_run(id).await;
    let peak = run.peak_rss_bytes.expect("the peak was recorded");
    assert!(peak + (1 << 20) >= rss && peak > 1 << 20, "{peak} vs {rss}");

    // A budget below the measurement: the refusal quotes the measured figure.
    let settings = json!({"settings": {"memory_budget_mib": 1}});
    assert_eq!(
        app.post("/api/settings/save", settings).await.status,
        StatusCode::OK
    );
    let reply = app.post("/api/models/start", json!({"id": id})).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert!(
        reply.body.contains("measured on its last run"),
        "{}",
        reply.body
    );

    // Other settings: a new command, so the estimate is used again.
    let changed = app
        .post(
            "/api/models/update",
            json!({"id": id, "changes": {"ctx_size": 512}}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let reply = app.post("/api/models/start", json!({"id": id})).await;
    assert!(
        reply.body.contains("estimated from its file"),
        "{}",
        reply.body
    );
}
