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
    app.update_model(id, json!({"ctx_size": 512})).await;
    let reply = app.post("/api/models/start", json!({"id": id})).await;
    assert!(
        reply.body.contains("estimated from its file"),
        "{}",
        reply.body
    );
}

/// The measured peak of the model's last run.
async fn last_peak(app: &TestApp, id: i64) -> u64 {
    let runs = app.runs(id, Page::default()).await.unwrap();
    runs.first().and_then(|run| run.peak_rss_bytes).unwrap()
}

#[tokio::test]
async fn within_a_budget_two_models_that_fit_stay_and_a_third_stops_the_least_recent_one_never_a_pinned_or_busy_one()
 {
    let app = TestApp::with_options(Options {
        settings: corral::server::supervisor::settings::SupervisorSettings {
            max_running: 3,
            ..supervisor_settings()
        },
        ..Options::default()
    })
    .await;
    let ids = [
        app.create_tiny("pinned").await,
        app.create_tiny("older").await,
        app.create_tiny("newcomer").await,
    ];
    let [pinned, older, newcomer] = ids;
    // One run each, measured, so every need is a measurement rather than an estimate.
    for id in ids {
        app.supervisor.start_model(id).await.unwrap();
        app.wait_status(id, ModelStatus::Running, LOAD).await;
        measured(&app, id).await;
    }
    for id in ids {
        app.supervisor.stop_model(id).await.unwrap();
    }
    let peaks = [
        last_peak(&app, pinned).await,
        last_peak(&app, older).await,
        last_peak(&app, newcomer).await,
    ];
    // Room for the first two and half the third.
    let budget_mib = (peaks[0] + peaks[1] + peaks[2] / 2) >> 20;
    let settings = json!({"settings": {"memory_budget_mib": budget_mib}});
    assert_eq!(
        app.post("/api/settings/save", settings).await.status,
        StatusCode::OK
    );
    let pin = json!({"id": pinned, "group": "serving", "config": {"pinned": true}});
    let reply = app.post("/api/models/config/save", pin).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    // The pinned one first, so it is the least recently used of the two.
    for id in [pinned, older] {
        app.supervisor.start_model(id).await.unwrap();
        app.wait_status(id, ModelStatus::Running, LOAD).await;
    }
    for id in [pinned, older] {
        assert_eq!(
            app.registry.get_model(id).await.unwrap().status,
            ModelStatus::Running,
            "two that fit together both stay"
        );
    }
    let preview = app.supervisor.preview(newcomer).await.unwrap();
    let short = preview
        .memory_short
        .expect("the model page says it would not fit now");
    assert!(short.contains("memory budget"), "{short}");
    assert!(
        short.contains("'pinned'") || short.contains("pinned "),
        "names who holds the memory: {short}"
    );
    assert!(
        preview
            .memory_need
            .unwrap()
            .contains("measured on its last run")
    );

    // While the unpinned one holds a gateway request (a ticket in its queue), nothing may be
    // stopped: refused with the numbers, and both stay.
    let ticket = app.supervisor.demand_book().queue(older, 8).unwrap();
    let reply = app.post("/api/models/start", json!({"id": newcomer})).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert!(reply.body.contains("memory budget"), "{}", reply.body);
    for id in [pinned, older] {
        assert_eq!(
            app.registry.get_model(id).await.unwrap().status,
            ModelStatus::Running,
            "a busy or pinned model is never stopped for room"
        );
    }
    drop(ticket);

    app.supervisor.start_model(newcomer).await.unwrap();
    app.wait_status(newcomer, ModelStatus::Running, LOAD).await;
    assert_eq!(
        app.registry.get_model(older).await.unwrap().status,
        ModelStatus::Stopped,
        "the least recently used unpinned model made room"
    );
    assert_eq!(
        app.registry.get_model(pinned).await.unwrap().status,
        ModelStatus::Running,
        "the pinned one was passed by, though used less recently"
    );
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn two_starts_at_once_that_fit_only_one_at_a_time_never_both_count_the_same_room() {
    let app = TestApp::with_options(app_options()).await;
    let (x, y) = (app.create_tiny("x").await, app.create_tiny("y").await);
    for id in [x, y] {
        app.supervisor.start_model(id).await.unwrap();
        app.wait_status(id, ModelStatus::Running, LOAD).await;
        measured(&app, id).await;
        app.supervisor.stop_model(id).await.unwrap();
    }
    let larger = last_peak(&app, x).await.max(last_peak(&app, y).await);
    // Room for one and a half: each fits alone, not both.
    let budget_mib = (larger + larger / 2) >> 20;
    let settings = json!({"settings": {"memory_budget_mib": budget_mib, "when_full": "refuse"}});
    assert_eq!(
        app.post("/api/settings/save", settings).await.status,
        StatusCode::OK
    );
    // Neither has loaded when the other is admitted: only the promise tells them apart.
    let (a, b) = tokio::join!(app.supervisor.start_model(x), app.supervisor.start_model(y));
    let refused: Vec<String> = [a, b]
        .into_iter()
        .filter_map(Result::err)
        .map(|e| e.to_string())
        .collect();
    assert_eq!(refused.len(), 1, "exactly one is let in: {refused:?}");
    assert!(refused[0].contains("memory budget"), "{refused:?}");
    app.supervisor.shutdown().await;
}
