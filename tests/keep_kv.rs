//! A KV cache kept across a stop (`serving.keep_kv`) against the pinned llama-server: the
//! server gets a `--slot-save-path` inside Corral's data folder; before an eviction its slots are
//! saved; the next start restores them before the first request, and the same long prompt is
//! answered with cached tokens (a fresh process without the restore has none). A save made
//! with another command is not restored and is removed; `--kv-disk-mib 0` keeps nothing.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::{TestApp, supervisor_settings};
use corral::domain::ModelStatus;
use corral::domain::kept_kv::RestoreVerdict;
use corral::server::supervisor::settings::{SupervisorSettings, WhenFull};
use serde_json::{Value, json};

/// A prompt of a couple of hundred tokens: long enough that reusing it shows.
fn long_prompt() -> String {
    "the quick brown fox jumps over the lazy dog ".repeat(3)
}

impl TestApp {
    async fn keep_kv(&self, id: i64) {
        let saved = self
            .post(
                "/api/models/config/save",
                json!({"id": id, "group": "serving", "config": {"keep_kv": true}}),
            )
            .await;
        assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    }

    /// Asks `model` the long prompt; returns (prompt tokens, cached tokens) from the answer.
    async fn ask(&self, model: &str) -> (i64, i64) {
        let reply = self
            .post(
                "/v1/chat/completions",
                json!({"model": model, "max_tokens": 2, "temperature": 0,
                       "messages": [{"role": "user", "content": long_prompt()}]}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let answer: Value = reply.json();
        let prompt = answer["usage"]["prompt_tokens"].as_i64().unwrap();
        let cached = answer["timings"]["cache_n"].as_i64().unwrap_or(0);
        (prompt, cached)
    }
}

#[tokio::test]
async fn an_evicted_models_kv_cache_is_restored_by_its_next_start_and_the_prompt_reuses_it() {
    let app = TestApp::with_settings(SupervisorSettings {
        max_running: 1,
        when_full: WhenFull::StopLeastRecent,
        ..supervisor_settings()
    })
    .await;
    let keeper = app.create_tiny("keeper").await;
    let other = app.create_tiny("other").await;
    app.keep_kv(keeper).await;

    let (prompt, cached) = app.ask("keeper").await;
    assert!(prompt > 150, "the prompt is long: {prompt} tokens");
    assert_eq!(cached, 0, "a fresh server has nothing cached");
    let command = app.last_run(keeper).await.command.join(" ");
    let folder = app.dir.path().join("kv").join(keeper.to_string());
    assert!(
        command.contains(&format!("--slot-save-path {}/", folder.display())),
        "{command}"
    );

    // Another model takes the only place: the keeper is evicted, its cache saved first.
    app.ask("other").await;
    app.wait_status(keeper, ModelStatus::Stopped, Duration::from_secs(10))
        .await;
    app.wait_log(keeper, "KV cache kept", Duration::from_secs(5))
        .await;
    let kept = app.supervisor.preview(keeper).await.unwrap().kept_kv;
    let kept = kept.expect("the preview shows the kept cache");
    assert!(kept.restorable, "{kept:?}");
    assert!(kept.tokens >= prompt - 1 && kept.bytes > 0, "{kept:?}");
    assert_eq!(kept.budget_bytes, 4096 << 20);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&folder).unwrap().permissions());
    assert_eq!(mode & 0o077, 0, "the folder is Corral's alone: {mode:o}");

    // The keeper again: restored before the first request, which reuses it.
    let (again, cached) = app.ask("keeper").await;
    assert_eq!(again, prompt);
    assert!(
        cached > 0,
        "the same prompt after the restore reuses the cache: {cached} of {again} cached"
    );
    let restore = app.live_run(keeper).kv_restore.unwrap();
    assert!(restore.tokens >= prompt - 1, "{restore:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let verdict = app.live_run(keeper).kv_restore.unwrap().verdict;
        if let RestoreVerdict::Helped { cached: judged } = verdict {
            assert_eq!(judged, cached);
            break;
        }
        assert!(Instant::now() < deadline, "never judged: {verdict:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.supervisor.stop_model(other).await.unwrap();
    app.supervisor.stop_model(keeper).await.unwrap();
}

#[tokio::test]
async fn a_cache_saved_with_another_command_is_not_restored_and_is_removed() {
    let app = TestApp::with_llama_server().await;
    let id = app.create_tiny("keeper").await;
    app.keep_kv(id).await;
    app.ask("keeper").await;
    // A person's stop keeps the cache too.
    app.supervisor.stop_model(id).await.unwrap();
    let kept = app.supervisor.preview(id).await.unwrap().kept_kv.unwrap();
    assert!(kept.restorable, "{kept:?}");

    app.update_model(id, json!({"ctx_size": 512})).await;
    let kept = app.supervisor.preview(id).await.unwrap().kept_kv.unwrap();
    assert!(!kept.restorable, "another context size: {kept:?}");

    let (_, cached) = app.ask("keeper").await;
    assert_eq!(cached, 0, "nothing restored into another context size");
    assert!(app.live_run(id).kv_restore.is_none());
    assert!(
        app.supervisor.preview(id).await.unwrap().kept_kv.is_none(),
        "the stale save is gone"
    );
    app.supervisor.stop_model(id).await.unwrap();
}

#[tokio::test]
async fn with_no_disk_allowed_nothing_is_kept() {
    let app = TestApp::with_settings(SupervisorSettings {
        kv_disk_mib: 0,
        ..supervisor_settings()
    })
    .await;
    let id = app.create_tiny("keeper").await;
    app.keep_kv(id).await;
    app.ask("keeper").await;
    app.supervisor.stop_model(id).await.unwrap();
    app.wait_log(id, "--kv-disk-mib is 0", Duration::from_secs(5))
        .await;
    assert!(app.supervisor.preview(id).await.unwrap().kept_kv.is_none());
    let folder = app.dir.path().join("kv").join(id.to_string());
    let left: Vec<_> = std::fs::read_dir(&folder).unwrap().collect();
    assert!(left.is_empty(), "removed: over --kv-disk-mib 0: {left:?}");
}
