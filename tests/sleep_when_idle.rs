//! Sleep as an idle action (`serving.idle_action: sleep`) against the pinned llama-server: the
//! server is started with `--sleep-idle-seconds`, is shown asleep once it sleeps (the model
//! still running, the same process), is not woken by Corral's own reading of its numbers,
//! and a request through the gateway wakes it and is answered, with the wake's length shown
//! and the wake counted as the request's load.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::TestApp;
use corral::domain::ModelStatus;
use corral::domain::run::LiveRun;
use serde_json::json;

/// Waits until the model's live run says `asleep` (5 s at most).
async fn until_asleep_is(app: &TestApp, id: i64, asleep: bool) -> LiveRun {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let run = app.live_run(id);
        if run.asleep == asleep {
            return run;
        }
        assert!(Instant::now() < deadline, "asleep is not {asleep}: {run:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_idle_model_sleeps_in_its_process_and_a_request_wakes_it() {
    let app = TestApp::with_llama_server().await;
    let id = app.create_tiny("sleepy").await;
    let saved = app
        .post(
            "/api/models/config/save",
            json!({"id": id, "group": "serving",
                   "config": {"idle_ttl_seconds": 1, "idle_action": "sleep"}}),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    app.start_running(id).await;
    let run = app.last_run(id).await;
    let command = run.command.join(" ");
    assert!(command.contains("--sleep-idle-seconds 1"), "{command}");

    let asleep = until_asleep_is(&app, id, true).await;
    // Corral reads the numbers every 300 ms here: none of that wakes it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let still = app.live_run(id);
    assert!(still.asleep, "woken by Corral itself: {still:?}");
    assert_eq!(still.pid, asleep.pid, "the same process");
    let model = app.registry.get_model(id).await.unwrap();
    assert_eq!(
        model.status,
        ModelStatus::Running,
        "asleep is still running"
    );

    let answer = app
        .post(
            "/v1/chat/completions",
            json!({"model": "sleepy", "max_tokens": 2,
                   "messages": [{"role": "user", "content": "hello"}]}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let deadline = Instant::now() + Duration::from_secs(5);
    let woken = loop {
        let run = app.live_run(id);
        if run.wake_ms.is_some() {
            break run;
        }
        assert!(Instant::now() < deadline, "no wake measured: {run:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(woken.pid, asleep.pid, "woken, not started again");
    assert!(woken.wake_ms.is_some_and(|ms| ms >= 0), "{woken:?}");
    // The gateway counted the wake as this request's load, not as a start.
    let deadline = Instant::now() + Duration::from_secs(5);
    let record = loop {
        let found = app
            .hub
            .snapshot()
            .activity
            .into_iter()
            .find(|a| a.model_id == Some(id));
        if let Some(record) = found {
            break record;
        }
        assert!(Instant::now() < deadline, "no activity record");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(record.load_ms.is_some(), "the wake is a load: {record:?}");
    assert!(!record.started_model, "{record:?}");
    assert_eq!(record.run_id, Some(run.id));
    // And asleep again once idle for its second.
    until_asleep_is(&app, id, true).await;
    assert_eq!(app.last_run(id).await.id, run.id, "one run all along");
    app.supervisor.stop_model(id).await.unwrap();
}

#[tokio::test]
async fn sleep_without_an_idle_time_is_refused_naming_the_setting() {
    let app = TestApp::new().await;
    let id = app.create_tiny("sleepy").await;
    let saved = app
        .post(
            "/api/models/config/save",
            json!({"id": id, "group": "serving", "config": {"idle_action": "sleep"}}),
        )
        .await;
    assert_eq!(saved.status, StatusCode::BAD_REQUEST, "{}", saved.body);
    assert!(saved.body.contains("idle_action"), "{}", saved.body);
}
