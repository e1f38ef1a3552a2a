//! The `corral` binary and its llama-server children: however Corral ends, no model process is
//! left behind, and the next Corral reconciles the runs table.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use std::time::{Duration, Instant};

use common::corral_binary::{Corral, post, running_model, start_corral};
use common::tiny_model;
use corral::server::supervisor::run::spawn::process_alive;
use serde_json::{Value, json};

/// Creates and starts two tiny models; returns their ids and server pids.
async fn two_running_models(corral: &Corral, model_path: &str) -> Vec<(i64, u32)> {
    let mut started = Vec::new();
    for name in ["one", "two"] {
        let (id, pid, _) = running_model(corral, name, model_path).await;
        started.push((id, pid));
    }
    started
}

#[tokio::test]
async fn killing_corral_with_sigkill_takes_its_models_down_and_the_next_corral_reconciles() {
    let dir = tempfile::tempdir().unwrap();
    let model_path = tiny_model(dir.path());
    let data = dir.path().join("data");
    let mut corral = start_corral(&data);
    let models = two_running_models(&corral, &model_path).await;
    assert!(models.iter().all(|(_, pid)| process_alive(*pid)));

    corral.child.kill().unwrap(); // SIGKILL: Corral gets no chance to clean up
    corral.child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while models.iter().any(|(_, pid)| process_alive(*pid)) {
        assert!(
            Instant::now() < deadline,
            "llama-server outlived Corral: {models:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let restarted = Instant::now();
    let mut next = start_corral(&data);
    for (id, _) in &models {
        let (_, model) = post(next.port, "models/get", json!({"id": id})).await;
        assert_eq!(model["status"], "stopped", "{model}");
        let (_, runs) = post(next.port, "runs", json!({"id": id})).await;
        assert!(runs[0]["ended_at"].is_i64(), "the run was closed: {runs}");
        assert!(
            runs[0]["log_tail"]
                .as_array()
                .is_some_and(|tail| !tail.is_empty()),
            "the log tail saved while it ran survives: {runs}"
        );
    }
    assert!(
        restarted.elapsed() < Duration::from_secs(2),
        "statuses were correct {:?} after the restart",
        restarted.elapsed()
    );
    next.child.kill().unwrap();
    next.child.wait().unwrap();
}

#[tokio::test]
async fn stopping_corral_with_sigterm_stops_its_models_cleanly_first() {
    let dir = tempfile::tempdir().unwrap();
    let model_path = tiny_model(dir.path());
    let data = dir.path().join("data");
    let mut corral = start_corral(&data);
    let models = two_running_models(&corral, &model_path).await;

    // SAFETY: signals the Corral this test started.
    unsafe { libc::kill(corral.child.id() as i32, libc::SIGTERM) };
    let status = corral.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(models.iter().all(|(_, pid)| !process_alive(*pid)));

    let mut next = start_corral(&data);
    for (id, _) in &models {
        let (_, runs) = post(next.port, "runs", json!({"id": id})).await;
        assert_eq!(runs[0]["exit_code"], 0, "stopped by SIGTERM: {runs}");
        assert_eq!(runs[0]["failure"], Value::Null, "{runs}");
    }
    next.child.kill().unwrap();
    next.child.wait().unwrap();
}
