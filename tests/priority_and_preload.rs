//! `serving.priority` and `serving.preload` against the pinned llama-server and the tiny model:
//! starts waiting for a place under `--max-running` get it highest priority first, and the
//! preloaded models are started when Corral starts, in priority order, never beyond the limit.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::{Options, TestApp, supervisor_settings};
use corral::domain::ModelStatus;
use corral::domain::page::Page;
use corral::server::supervisor::settings::SupervisorSettings;
use serde_json::{Value, json};

const LOAD: Duration = Duration::from_secs(30);

fn one_at_a_time() -> SupervisorSettings {
    SupervisorSettings {
        max_running: 1,
        ..supervisor_settings()
    }
}

impl TestApp {
    async fn serving_of(&self, id: i64, config: Value) {
        let reply = self
            .post(
                "/api/models/config/save",
                json!({"id": id, "group": "serving", "config": config}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }

    async fn first_started_at(&self, id: i64) -> i64 {
        let runs = self.runs(id, Page::default()).await.unwrap();
        runs.last()
            .unwrap_or_else(|| panic!("model {id} never ran"))
            .started_at
    }
}

#[tokio::test]
async fn starts_waiting_for_the_one_place_get_it_highest_priority_first() {
    let app = TestApp::with_settings(one_at_a_time()).await;
    let busy = app.create_tiny("busy").await;
    let low = app.create_tiny("low").await;
    let high = app.create_tiny("high").await;
    let middle = app.create_tiny("middle").await;
    for (id, priority) in [(low, 1), (high, 9), (middle, 5)] {
        app.serving_of(id, json!({"priority": priority})).await;
    }
    app.supervisor.start_model(busy).await.unwrap();
    app.wait_status(busy, ModelStatus::Running, LOAD).await;
    // A request in flight: the running model may not be stopped, so the starts wait in line.
    let held = app.on_demand.queue(busy, 8).unwrap();
    let mut starts = Vec::new();
    for id in [low, high, middle] {
        let supervisor = app.supervisor.clone();
        starts.push(tokio::spawn(
            async move { supervisor.start_model(id).await },
        ));
        // In the order asked: low first, so FIFO alone would start it first.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    for id in [low, high, middle] {
        assert!(app.runs(id, Page::default()).await.unwrap().is_empty());
    }
    drop(held);
    for start in starts {
        start.await.unwrap().unwrap();
    }
    let (h, m, l) = (
        app.first_started_at(high).await,
        app.first_started_at(middle).await,
        app.first_started_at(low).await,
    );
    assert!(h <= m && m <= l, "high {h}, middle {m}, low {l}");
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn preloaded_models_start_with_corral_in_priority_order_within_the_limit() {
    let options = || Options {
        settings: SupervisorSettings {
            max_running: 2,
            ..supervisor_settings()
        },
        ..Options::default()
    };
    let app = TestApp::with_options(options()).await;
    let plain = app.create_tiny("plain").await;
    let first = app.create_tiny("first").await;
    let second = app.create_tiny("second").await;
    let third = app.create_tiny("third").await;
    app.serving_of(first, json!({"preload": true, "priority": 10}))
        .await;
    app.serving_of(second, json!({"preload": true, "priority": 5}))
        .await;
    app.serving_of(third, json!({"preload": true})).await;
    app.supervisor.shutdown().await;

    let common::TestApp { dir, .. } = app;
    let again = TestApp::with_options_in(options(), dir).await;
    again.wait_status(first, ModelStatus::Running, LOAD).await;
    again.wait_status(second, ModelStatus::Running, LOAD).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for id in [plain, third] {
        assert_eq!(
            again.registry.get_model(id).await.unwrap().status,
            ModelStatus::Stopped,
            "beyond the limit, or not preloaded"
        );
    }
    assert!(again.first_started_at(first).await <= again.first_started_at(second).await);
    again.supervisor.shutdown().await;
}

#[tokio::test]
async fn a_preload_whose_group_would_stop_a_running_model_is_left_out() {
    let options = || Options {
        settings: SupervisorSettings {
            max_running: 4,
            ..supervisor_settings()
        },
        ..Options::default()
    };
    let app = TestApp::with_options(options()).await;
    let high = app.create_tiny("high").await;
    let low = app.create_tiny("low").await;
    let loose = app.create_tiny("loose").await;
    app.serving_of(high, json!({"preload": true, "priority": 10}))
        .await;
    app.serving_of(low, json!({"preload": true})).await;
    app.serving_of(loose, json!({"preload": true, "priority": 5}))
        .await;
    // One at a time, alone: the second member would stop the first, and the first stops
    // nothing only because it goes first.
    let group =
        json!({"name": "one", "swap": true, "exclusive": false, "members": ["high", "low"]});
    let made = app.post("/api/groups/create", group).await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    app.supervisor.shutdown().await;

    let common::TestApp { dir, .. } = app;
    let again = TestApp::with_options_in(options(), dir).await;
    again.wait_status(high, ModelStatus::Running, LOAD).await;
    again.wait_status(loose, ModelStatus::Running, LOAD).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        again.registry.get_model(low).await.unwrap().status,
        ModelStatus::Stopped,
        "its group would have stopped 'high'"
    );
    assert_eq!(
        again.registry.get_model(high).await.unwrap().status,
        ModelStatus::Running
    );
    again.supervisor.shutdown().await;
}
