//! Restart on crash (`serving.restart`) against the pinned llama-server and the tiny model: a
//! server killed with SIGKILL (as the kernel's out-of-memory killer or a person with `kill -9`
//! would) is started again after 1, 2, 4 and 8 s, and the fifth failure within ten minutes is
//! left in error with the reason; a person's Stop never restarts, not even one made while a
//! restart waits; `never` (the default) leaves a crash in error. The setting is read when the
//! crash happens, so turning it on for a running model applies.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::TestApp;
use corral::domain::{Model, ModelStatus};
use serde_json::json;

const LOAD: Duration = Duration::from_secs(30);

impl TestApp {
    async fn restart_on_failure(&self, id: i64) {
        let reply = self
            .post(
                "/api/models/config/save",
                json!({"id": id, "group": "serving", "config": {"restart": "on-failure"}}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }

    /// Kills the model's running server as the out-of-memory killer would, and waits for the
    /// model to be in error.
    async fn kill_running(&self, id: i64) -> (u32, Model) {
        let pid = self.last_run(id).await.pid.unwrap();
        // SAFETY: signals one process this test started.
        assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
        let model = self.wait_status(id, ModelStatus::Error, LOAD).await;
        (pid, model)
    }

    /// The model keeps `status` for `span`.
    async fn stays(&self, id: i64, status: ModelStatus, span: Duration) {
        let until = Instant::now() + span;
        while Instant::now() < until {
            let model = self.registry.get_model(id).await.unwrap();
            assert_eq!(model.status, status, "{:?}", model.status_reason);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl TestApp {
    /// The model's reason begins with `how`, and it stays in error for two seconds without a
    /// restart being planned.
    async fn stays_failed(&self, id: i64, how: &str) {
        let model = self.registry.get_model(id).await.unwrap();
        assert!(reason(&model).starts_with(how), "{}", reason(&model));
        self.stays(id, ModelStatus::Error, Duration::from_secs(2))
            .await;
        let model = self.registry.get_model(id).await.unwrap();
        assert!(!reason(&model).contains("Restarting"), "{}", reason(&model));
    }
}

fn reason(model: &Model) -> &str {
    model.status_reason.as_deref().unwrap_or_default()
}

#[tokio::test]
async fn a_killed_server_restarts_after_one_two_four_and_eight_seconds_and_the_fifth_failure_gives_up()
 {
    let app = TestApp::with_llama_server().await;
    let id = app.create_tiny("tiny").await;
    app.start_running(id).await;
    // Turned on while the model runs: read when it crashes, not when it started.
    app.restart_on_failure(id).await;

    for (n, seconds) in [1u64, 2, 4, 8].into_iter().enumerate() {
        let killed = Instant::now();
        let (pid, model) = app.kill_running(id).await;
        let said = reason(&model).to_string();
        assert!(said.starts_with("Crashed: "), "{said}");
        assert!(said.contains("SIGKILL"), "{said}");
        // The plan is added a moment after the failure is recorded.
        let planned = format!("Restarting in {seconds} second");
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let model = app.registry.get_model(id).await.unwrap();
            let said = reason(&model).to_string();
            if said.contains(&planned) {
                assert!(
                    said.contains(&format!("failure {} in a row", n + 1)),
                    "{said}"
                );
                break;
            }
            assert!(
                Instant::now() < deadline && model.status == ModelStatus::Error,
                "failure {}: {} ({said})",
                n + 1,
                model.status
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        app.wait_status(
            id,
            ModelStatus::Running,
            Duration::from_secs(seconds) + LOAD,
        )
        .await;
        assert!(
            killed.elapsed() >= Duration::from_secs(seconds),
            "restart {} came after {:?}, before its {seconds} s",
            n + 1,
            killed.elapsed()
        );
        let run = app.last_run(id).await;
        assert_ne!(run.pid, Some(pid), "a new process");
    }

    let (_, model) = app.kill_running(id).await;
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut said = reason(&model).to_string();
    while !said.contains("Not restarted again") {
        assert!(Instant::now() < deadline, "no give-up said: {said}");
        tokio::time::sleep(Duration::from_millis(20)).await;
        said = reason(&app.registry.get_model(id).await.unwrap()).to_string();
    }
    assert!(said.contains("5 failures within 10 minutes"), "{said}");
    app.stays(id, ModelStatus::Error, Duration::from_secs(3))
        .await;

    // A person's start begins afresh: the failures before it no longer count once a person
    // stopped the model.
    app.post("/api/models/stop", json!({"id": id})).await;
    app.start_running(id).await;
    let (_, model) = app.kill_running(id).await;
    assert!(
        reason(&model).starts_with("Crashed: "),
        "{}",
        reason(&model)
    );
    app.wait_status(id, ModelStatus::Running, Duration::from_secs(1) + LOAD)
        .await;
    app.supervisor.stop_model(id).await.unwrap();
}

#[tokio::test]
async fn a_stop_by_a_person_never_restarts_not_even_while_a_restart_waits() {
    let app = TestApp::with_llama_server().await;
    let id = app.create_tiny("tiny").await;
    app.restart_on_failure(id).await;
    app.start_running(id).await;

    let stopped = app.post("/api/models/stop", json!({"id": id})).await;
    assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.body);
    app.wait_status(id, ModelStatus::Stopped, LOAD).await;
    app.stays(id, ModelStatus::Stopped, Duration::from_secs(2))
        .await;

    // A crash plans a restart in 1 s; the person's Stop meanwhile calls it off.
    app.start_running(id).await;
    app.kill_running(id).await;
    let reply = app.post("/api/models/stop", json!({"id": id})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let model = app.registry.get_model(id).await.unwrap();
    assert_eq!(
        model.status,
        ModelStatus::Stopped,
        "{:?}",
        model.status_reason
    );
    app.stays(id, ModelStatus::Stopped, Duration::from_secs(3))
        .await;
}

#[tokio::test]
async fn without_the_setting_a_crash_stays_an_error_that_says_it_crashed() {
    let app = TestApp::with_llama_server().await;
    let id = app.create_tiny("tiny").await;
    app.start_running(id).await;
    app.kill_running(id).await;
    app.stays_failed(id, "Crashed: ").await;
}

#[tokio::test]
async fn a_server_that_fails_to_start_is_not_restarted_and_says_so() {
    let app = TestApp::with_llama_server().await;
    let path = app.dir.path().join("gone.gguf");
    std::fs::copy(common::tiny_model(app.dir.path()), &path).unwrap();
    let id = app.create("gone", &path.to_string_lossy()).await["id"]
        .as_i64()
        .unwrap();
    app.restart_on_failure(id).await;
    // Not a GGUF by the time it starts: llama-server exits while loading.
    std::fs::write(&path, b"hello, not a model").unwrap();
    let reply = app.post("/api/models/start", json!({"id": id})).await;
    assert!(reply.status.is_success(), "{}", reply.body);
    app.wait_status(id, ModelStatus::Error, LOAD).await;
    app.stays_failed(id, "Failed to start: ").await;
}
