//! A model's own environment (`gpu.env`, llama-swap's per-model `env`) against the pinned
//! llama-server: the process gets the variables, the run's command names them before the
//! program, a change while it runs is a "Restart to apply", and a variable outside the
//! allow-list (`LLAMA_ARG_*` above all) is refused and changes nothing.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::TestApp;
use corral::domain::ModelStatus;
use serde_json::{Value, json};

const LOAD: Duration = Duration::from_secs(30);

async fn save_gpu(app: &TestApp, id: i64, config: Value) -> common::Reply {
    app.post(
        "/api/models/config/save",
        json!({"id": id, "group": "gpu", "config": config}),
    )
    .await
}

#[tokio::test]
async fn a_models_variables_reach_its_process_and_a_change_while_it_runs_waits_for_a_restart() {
    let app = TestApp::with_llama_server().await;
    let id = app.create_tiny("tiny").await;
    let env = json!({"env": {"CUDA_VISIBLE_DEVICES": "7", "GGML_CORRAL_PROBE": "on"}});
    let saved = save_gpu(&app, id, env).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    app.supervisor.start_model(id).await.unwrap();
    app.wait_status(id, ModelStatus::Running, LOAD).await;

    let run = app.last_run(id).await;
    assert_eq!(
        run.command[..2],
        ["CUDA_VISIBLE_DEVICES=7", "GGML_CORRAL_PROBE=on"],
        "{:?}",
        run.command
    );
    let environ = std::fs::read(format!("/proc/{}/environ", run.pid.unwrap())).unwrap();
    let environ: Vec<String> = environ
        .split(|b| *b == 0)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    for wanted in ["CUDA_VISIBLE_DEVICES=7", "GGML_CORRAL_PROBE=on"] {
        assert!(environ.iter().any(|v| v == wanted), "{wanted}: {environ:?}");
    }

    // A change does not reach the running process: the tabs hear what a restart would change.
    let changed = save_gpu(&app, id, json!({"env": {"CUDA_VISIBLE_DEVICES": "1"}})).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let pending = app.hub.read(|s| s.pending_restarts.clone());
        let described: Vec<String> = pending
            .iter()
            .flat_map(|p| p.changes.iter().map(|c| c.describe()))
            .collect();
        if described.contains(&"CUDA_VISIBLE_DEVICES 7 → 1".to_string()) {
            assert!(
                described.contains(&"− GGML_CORRAL_PROBE on".to_string()),
                "{described:?}"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{described:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn a_variable_outside_the_allow_list_is_refused_by_name_and_nothing_is_saved() {
    let app = TestApp::new().await;
    let id = app.create("m", "/models/m.gguf").await["id"]
        .as_i64()
        .unwrap();
    let before = app.snapshot().await;
    let refused = save_gpu(
        &app,
        id,
        json!({"env": {"LLAMA_ARG_CTX_SIZE": "99", "LD_PRELOAD": "/tmp/x.so", "CUDA_VISIBLE_DEVICES": 0}}),
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    let fields: Vec<String> = refused.field_rules().into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        [
            "env.CUDA_VISIBLE_DEVICES",
            "env.LD_PRELOAD",
            "env.LLAMA_ARG_CTX_SIZE"
        ]
    );
    assert!(refused.body.contains("LLAMA_ARG_"), "{}", refused.body);
    assert_eq!(app.snapshot().await, before);
}
