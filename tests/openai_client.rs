//! The official `openai` Python package (pinned, installed by `scripts/setup --browser` into a
//! venv under ~/.cache/corral) against Corral on a real port, with the pinned llama-server: the
//! client's own parsing and exceptions are the judge. The checks are in
//! tests/python/openai_client.py.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use std::path::PathBuf;

use axum::http::StatusCode;
use common::TestApp;
use serde_json::json;

/// The venv's Python, where `scripts/setup --browser` put it.
fn python() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .expect("HOME is set");
    let python = cache.join("corral/python-openai/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup --browser (the test setup installs the openai package)",
        python.display()
    );
    python
}

#[tokio::test]
async fn the_openai_python_package_lists_chats_streams_embeds_and_gets_its_errors() {
    // Every load takes a second more than the tiny model's own, so the loading progress of
    // `tiny-loading` has time to be heard.
    let bin = tempfile::tempdir().unwrap();
    let app = TestApp::with_settings(corral::server::supervisor::settings::SupervisorSettings {
        llama_server: Some(common::slow_llama_server(bin.path(), 1.0)),
        ..common::supervisor_settings()
    })
    .await;
    let tiny = app.create_tiny("tiny").await;
    let streamed = app.create_tiny("tiny-stream").await;
    let embedder = app.create_tiny("embedder").await;
    for (group, config) in [
        ("serving", json!({"role": "embeddings"})),
        // The random-weight model names no pooling of its own.
        ("advanced", json!({"pooling": "mean"})),
    ] {
        let reply = app
            .post(
                "/api/models/config/save",
                json!({"id": embedder, "group": group, "config": config}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let loading = app.create_tiny("tiny-loading").await;
    let ghost = app.create("ghost-loading", "/nowhere/ghost.gguf").await["id"]
        .as_i64()
        .unwrap();
    for id in [loading, ghost] {
        let reply = app
            .post(
                "/api/models/config/save",
                json!({"id": id, "group": "serving", "config": {"loading_state": "reasoning"}}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    common::serve(&app).await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/openai_client.py");
    let base = format!("http://{}", app.address);
    let output = tokio::process::Command::new(python())
        .arg(&script)
        .arg(&base)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "the openai client's checks failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("every check passed"));
    for id in [tiny, streamed, embedder] {
        assert!(app.last_run(id).await.id > 0, "model {id} was started");
    }
    app.supervisor.shutdown().await;
}
