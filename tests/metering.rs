//! Metering and draining against the pinned llama-server and the tiny model: every gateway
//! request becomes an activity record (stored, heard live, counted on /metrics), and a Stop
//! lets requests in flight finish while a Force stop does not.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::{TestApp, supervisor_settings};
use corral::domain::ModelStatus;
use corral::domain::activity::{Activity, ModelDemand};
use corral::domain::live::ServerEvent;
use corral::domain::page::Page;
use corral::server::db::{activity_repo, migrate};
use corral::server::supervisor::settings::{SupervisorSettings, WhenFull};
use http_body_util::BodyExt;
use serde_json::{Value, json};

const LOAD: Duration = Duration::from_secs(30);

impl TestApp {
    /// The newest activity records once there are at least `count`, newest first.
    async fn activity(&self, count: usize) -> Vec<Activity> {
        let started = tokio::time::Instant::now();
        loop {
            let reply = self
                .post("/api/activity/list", json!({"query": {"limit": 200}}))
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            let records: Vec<Activity> = serde_json::from_str(&reply.body).unwrap();
            if records.len() >= count {
                return records;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{} records, not {count}",
                records.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A streamed chat that generates exactly `max_tokens`. The random-weight model may write
/// tokens that decode to nothing (a first token needs a visible piece), so the tests that
/// measure one ask for a few dozen.
fn streamed_chat(model: &str, max_tokens: u32) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}],
           "max_tokens": max_tokens, "stream": true, "ignore_eos": true})
}

async fn read_all(response: axum::response::Response) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[tokio::test]
async fn a_streamed_chat_is_recorded_with_its_start_first_token_tokens_and_speed() {
    let app = TestApp::with_llama_server().await;
    let id = app.create_tiny("tiny").await;
    let response = app
        .respond("/v1/chat/completions", &streamed_chat("tiny", 32))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(read_all(response).await.contains("[DONE]"));
    let record = app.activity(1).await.remove(0);
    assert_eq!(record.model_id, Some(id));
    assert_eq!(record.model, "tiny");
    assert_eq!(record.endpoint, "/v1/chat/completions");
    assert_eq!(record.status, 200);
    assert_eq!(record.error, None);
    assert!(record.started_model, "this request started the model");
    assert!(record.load_ms.unwrap() > 0, "{record:?}");
    assert_eq!(record.run_id, Some(app.last_run(id).await.id));
    let ttft = record.ttft_ms.expect("a streamed answer has a first token");
    assert!(ttft >= record.load_ms.unwrap() && ttft <= record.duration_ms);
    assert_eq!(record.generated_tokens, Some(32));
    assert!(record.prompt_tokens.unwrap() > 0);
    assert!(record.generation_tokens_per_s.unwrap() > 0.0);
    assert!(record.prompt_tokens_per_s.unwrap() > 0.0);

    // A second request finds the model running: no start, no load.
    let reply = app
        .post(
            "/v1/completions",
            json!({"model": "tiny", "prompt": "a", "max_tokens": 3, "ignore_eos": true}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let second = app.activity(2).await.remove(0);
    assert!(!second.started_model);
    assert_eq!(second.load_ms, None);
    assert_eq!(
        second.ttft_ms, None,
        "a whole answer has no first-token time"
    );
    assert_eq!(second.generated_tokens, Some(3));
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn eight_clients_alternating_two_models_in_one_place_all_succeed_and_no_run_ends_under_a_request()
 {
    let app = TestApp::with_settings(SupervisorSettings {
        max_running: 1,
        when_full: WhenFull::StopLeastRecent,
        ..supervisor_settings()
    })
    .await;
    let ids = [app.create_tiny("a").await, app.create_tiny("b").await];
    let clients = (0..8).map(|client| {
        let app = &app;
        async move {
            for turn in 0..4 {
                let model = ["a", "b"][(client + turn) % 2];
                let body = json!({"model": model, "prompt": "a", "max_tokens": 2});
                let reply = app.post("/v1/completions", body).await;
                assert_eq!(reply.status, StatusCode::OK, "{model}: {}", reply.body);
            }
        }
    });
    futures::future::join_all(clients).await;
    let records = app.activity(32).await;
    let mut runs = Vec::new();
    for id in ids {
        runs.extend(app.runs(id, Page::first(200)).await.unwrap());
    }
    assert!(runs.len() >= 2, "both models ran");
    for record in &records {
        assert_eq!(record.status, 200, "{record:?}");
        let run = runs
            .iter()
            .find(|r| Some(r.id) == record.run_id)
            .expect("every request names its run");
        let answered = record.received_at + record.duration_ms;
        // Wall-clock milliseconds from two clocks: allow their rounding.
        assert!(
            run.ended_at.is_none_or(|ended| ended + 2 >= answered),
            "run {} ended at {:?}, under a request answered at {answered}",
            run.id,
            run.ended_at
        );
    }
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn an_error_llama_server_answers_is_recorded_with_its_message() {
    let app = TestApp::with_llama_server().await;
    app.create_tiny("tiny").await;
    // Longer than the model's 256-token context: llama-server refuses it with a 400 and says
    // why in its body.
    let long = "word ".repeat(2000);
    for stream in [false, true] {
        let response = app
            .respond(
                "/v1/chat/completions",
                &json!({"model": "tiny", "messages": [{"role": "user", "content": long}],
                        "max_tokens": 4, "stream": stream}),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "stream: {stream}"
        );
        read_all(response).await;
    }
    for record in app.activity(2).await.into_iter().take(2) {
        assert_eq!(record.status, 400);
        let error = record.error.expect("the answer's message is kept");
        assert!(error.contains("context"), "{error}");
    }
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn refused_requests_are_recorded_with_their_status_and_reason() {
    let app = TestApp::new().await;
    let reply = app
        .post(
            "/v1/chat/completions",
            json!({"model": "nope", "messages": []}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let record = app.activity(1).await.remove(0);
    assert_eq!(record.status, 404);
    assert_eq!(record.model, "nope");
    assert_eq!(record.model_id, None);
    assert!(record.error.unwrap().contains("nope"));
    let failed = app
        .post(
            "/api/activity/list",
            json!({"query": {"outcome": "failed"}}),
        )
        .await;
    assert_eq!(failed.json().as_array().unwrap().len(), 1);
    let succeeded = app
        .post(
            "/api/activity/list",
            json!({"query": {"outcome": "succeeded"}}),
        )
        .await;
    assert_eq!(succeeded.json(), json!([]));
}

#[tokio::test]
async fn a_client_that_leaves_while_its_request_waits_is_recorded_as_499() {
    let app = TestApp::with_settings(SupervisorSettings {
        max_running: 1,
        when_full: WhenFull::StopLeastRecent,
        ..supervisor_settings()
    })
    .await;
    let busy = app.create_tiny("busy").await;
    let waiting = app.create_tiny("waiting").await;
    // A request in flight on the only place: the next model's request waits for it.
    let ticket = app.on_demand.queue(busy, 32).unwrap();
    let deadline = tokio::time::Instant::now() + LOAD;
    let held = app.on_demand.wait(ticket, deadline, true).await.unwrap();
    let body = json!({"model": "waiting", "prompt": "a", "max_tokens": 2});
    let left = tokio::time::timeout(
        Duration::from_millis(200),
        app.respond("/v1/completions", &body),
    )
    .await;
    assert!(left.is_err(), "the request should still be waiting");
    let record = app.activity(1).await.remove(0);
    assert_eq!(record.status, 499);
    assert_eq!(record.model_id, Some(waiting));
    assert!(record.error.unwrap().contains("before an answer began"));
    assert_eq!(
        app.supervisor.demand_book().all(),
        vec![ModelDemand {
            model_id: busy,
            queued: 0,
            in_flight: 1
        }],
        "the waiting request left the queue"
    );
    drop(held);
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn records_are_heard_live_and_counted_on_metrics() {
    let app = TestApp::with_llama_server().await;
    let id = app.create_tiny("tiny").await;
    let mut events = app.hub.subscribe();
    let response = app
        .respond("/v1/chat/completions", &streamed_chat("tiny", 32))
        .await;
    read_all(response).await;
    let heard = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let ServerEvent::Activity(records) = &**events.recv().await.unwrap() {
                return records.clone();
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(heard[0].model_id, Some(id));
    assert!(heard[0].id > 0, "the live record carries its stored id");

    let held = app.on_demand.queue(id, 32).unwrap();
    let metrics = app.get("/metrics").await;
    assert!(
        metrics.body.contains(
            "corral_requests_total{model=\"tiny\",endpoint=\"/v1/chat/completions\",code=\"200\",key=\"\"} 1"
        ),
        "{}",
        metrics.body
    );
    assert!(
        metrics
            .body
            .contains("corral_tokens_total{model=\"tiny\",kind=\"generated\"} 32"),
        "{}",
        metrics.body
    );
    assert!(
        metrics
            .body
            .contains("corral_requests_queued{model=\"tiny\"} 1")
    );
    assert!(
        metrics
            .body
            .contains("corral_requests_in_flight{model=\"tiny\"} 0")
    );
    for histogram in [
        "corral_time_to_first_token_seconds_count{model=\"tiny\"} 1",
        "corral_request_duration_seconds_count{model=\"tiny\"} 1",
        "corral_queue_wait_seconds_count{model=\"tiny\"} 1",
    ] {
        assert!(
            metrics.body.contains(histogram),
            "{histogram} in {}",
            metrics.body
        );
    }
    assert!(metrics.body.trim_end().ends_with("# EOF"));
    drop(held);
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn the_series_bucket_each_models_first_token_times() {
    let app = TestApp::with_llama_server().await;
    let id = app.create_tiny("tiny").await;
    for _ in 0..3 {
        let response = app
            .respond("/v1/chat/completions", &streamed_chat("tiny", 32))
            .await;
        read_all(response).await;
    }
    app.activity(3).await;
    let now = corral::server::now_ms();
    let reply = app
        .post(
            "/api/activity/series",
            json!({"query": {"from": now - 60_000, "to": now + 1000, "points": 1}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let series = reply.json();
    assert_eq!(series[0]["model_id"], id);
    let point = &series[0]["points"][0];
    assert_eq!(point["requests"], 3);
    assert!(point["ttft_p50_ms"].as_f64().unwrap() <= point["ttft_p99_ms"].as_f64().unwrap());
    assert!(point["generation_tokens_per_s"].as_f64().unwrap() > 0.0);
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn bad_activity_queries_are_refused_with_the_field_named() {
    let app = TestApp::new().await;
    for (path, body, field) in [
        (
            "/api/activity/list",
            json!({"query": {"limit": 0}}),
            "limit",
        ),
        (
            "/api/activity/series",
            json!({"query": {"from": 10, "to": 5, "points": 10}}),
            "to",
        ),
        (
            "/api/activity/series",
            json!({"query": {"from": 0, "to": 5, "points": 0}}),
            "points",
        ),
    ] {
        let reply = app.post(path, body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert_eq!(reply.field_rules()[0].0, field);
    }
}

#[test]
fn records_older_than_the_retention_are_pruned() {
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    migrate::migrate(&mut conn).unwrap();
    let mut records = [1_000, 5_000].map(|at| Activity {
        received_at: at,
        model: "gone".into(),
        endpoint: "/v1/completions".into(),
        status: 200,
        model_id: Some(99),
        ..Activity::default()
    });
    activity_repo::insert(&mut conn, &mut records).unwrap();
    assert_eq!(activity_repo::prune(&mut conn, 2_000).unwrap(), 1);
    let left = activity_repo::between(&conn, 0, 10_000, 10).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].received_at, 5_000);
    assert_eq!(
        left[0].model_id, None,
        "a model that is not there is not referenced"
    );
}

#[tokio::test]
async fn a_stop_lets_the_request_in_flight_finish_and_refuses_newcomers() {
    let app = TestApp::with_llama_server().await;
    let id = app.create_tiny("tiny").await;
    let response = app
        .respond("/v1/chat/completions", &streamed_chat("tiny", 300))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    assert!(body.frame().await.unwrap().unwrap().is_data());
    let stopping = tokio::spawn({
        let supervisor = app.supervisor.clone();
        async move { supervisor.stop_model(id).await }
    });
    // The stop waits for the request; a newcomer is told the model is stopping.
    let started = tokio::time::Instant::now();
    let refused = loop {
        let reply = app
            .post(
                "/v1/completions",
                json!({"model": "tiny", "prompt": "a", "max_tokens": 1}),
            )
            .await;
        if reply.status == StatusCode::SERVICE_UNAVAILABLE {
            break reply;
        }
        assert!(started.elapsed() < LOAD, "never refused: {}", reply.body);
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(refused.json()["error"]["code"], "model_stopping");
    let rest = body.collect().await.unwrap().to_bytes();
    assert!(
        String::from_utf8_lossy(&rest)
            .trim_end()
            .ends_with("data: [DONE]"),
        "the request in flight was cut"
    );
    let stopped = stopping.await.unwrap().unwrap();
    assert_eq!(stopped.status, ModelStatus::Stopped);
}

#[tokio::test]
async fn a_force_stop_ends_the_request_in_flight_at_once() {
    let app = TestApp::with_llama_server().await;
    let id = app.create_tiny("tiny").await;
    app.post(
        "/api/models/update",
        json!({"id": id, "changes": {"ctx_size": 8192}}),
    )
    .await;
    let response = app
        .respond("/v1/chat/completions", &streamed_chat("tiny", 8000))
        .await;
    let mut body = response.into_body();
    assert!(body.frame().await.unwrap().unwrap().is_data());
    let reply = app.post("/api/models/force_stop", json!({"id": id})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["status"], "stopped");
    let rest = body.collect().await.map(|c| c.to_bytes());
    if let Ok(rest) = rest {
        assert!(!String::from_utf8_lossy(&rest).contains("[DONE]"));
    }
    let record = app.activity(1).await.remove(0);
    assert!(record.error.is_some(), "{record:?}");
}

#[tokio::test]
async fn a_four_mib_model_name_is_cut_before_it_is_answered_stored_counted_or_sent_live() {
    let app = TestApp::new().await;
    let name = "A".repeat(4 << 20);
    let db_file = app.dir.path().join("corral.db");
    let size_before = std::fs::metadata(&db_file).unwrap().len();
    for _ in 0..25 {
        let reply = app
            .post(
                "/v1/chat/completions",
                json!({"model": name, "messages": []}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        assert!(
            reply.body.len() < 2048,
            "the answer echoed {} bytes",
            reply.body.len()
        );
    }
    let records = app.activity(25).await;
    for record in &records {
        for text in [&record.model, &record.endpoint] {
            assert!(text.len() <= 512, "{} bytes kept", text.len());
        }
        assert!(record.error.as_ref().is_some_and(|e| e.len() <= 512));
    }
    let snapshot = serde_json::to_string(&app.hub.snapshot()).unwrap();
    assert!(
        snapshot.len() < 64 * 1024,
        "snapshot of {} bytes",
        snapshot.len()
    );
    let metrics = app.get("/metrics").await;
    assert!(!metrics.body.contains("AAAAAAAA"), "a label held the name");
    let wal = app.dir.path().join("corral.db-wal");
    let grown = std::fs::metadata(&db_file).unwrap().len() - size_before
        + std::fs::metadata(&wal).map_or(0, |m| m.len());
    assert!(grown < 8 << 20, "the database grew by {grown} bytes");
}

#[tokio::test]
async fn usage_per_key_counts_requests_and_tokens_over_a_day_and_thirty_days() {
    let app = TestApp::new().await;
    let now = corral::server::now_ms();
    const DAY: i64 = 24 * 3_600_000;
    let record = |caller: Option<&str>, ago: i64, prompt: i64, generated: i64| Activity {
        received_at: now - ago,
        model: "m".into(),
        endpoint: "/v1/chat/completions".into(),
        status: 200,
        caller: caller.map(str::to_string),
        prompt_tokens: Some(prompt),
        generated_tokens: Some(generated),
        ..Activity::default()
    };
    let mut records = vec![
        record(Some("crl_aaaa"), 60_000, 10, 5),
        record(Some("crl_aaaa"), 2 * 3_600_000, 3, 4),
        record(Some("crl_aaaa"), 10 * DAY, 100, 0),
        record(Some("session"), 1_000, 1, 1),
        record(Some("crl_bbbb"), 40 * DAY, 7, 7),
        record(None, 1_000, 9, 9),
    ];
    app.db
        .call(move |conn| Ok(activity_repo::insert(conn, &mut records)?))
        .await
        .unwrap();
    let usage = app.post("/api/keys/usage", json!({})).await;
    assert_eq!(usage.status, StatusCode::OK, "{}", usage.body);
    assert_eq!(
        usage.json(),
        json!([
            {"caller": "crl_aaaa", "requests_24h": 2, "tokens_24h": 22, "requests_30d": 3, "tokens_30d": 122},
            {"caller": "session", "requests_24h": 1, "tokens_24h": 2, "requests_30d": 1, "tokens_30d": 2}
        ])
    );
}

#[tokio::test]
async fn a_key_sent_where_keys_are_not_asked_for_still_names_who_asked() {
    // The default test app is an open loopback: no key is needed, and one sent is not checked
    // for its scope, but a live one is still counted for its key.
    let app = TestApp::new().await;
    let made = app
        .post(
            "/api/keys/create",
            json!({"name": "script", "scopes": ["inference"]}),
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let made = made.json();
    let (secret, prefix) = (
        made["key"].as_str().unwrap(),
        made["listed"]["prefix"].clone(),
    );
    for auth in [
        format!("Bearer {secret}"),
        "Bearer crl_not_a_real_key".to_string(),
    ] {
        let request = axum::http::Request::post("/v1/chat/completions")
            .header(axum::http::header::HOST, app.host())
            .header(axum::http::header::CONTENT_TYPE, "application/json")
            .header(axum::http::header::AUTHORIZATION, auth)
            .body(axum::body::Body::from(
                json!({"model": "nothing-here", "messages": []}).to_string(),
            ))
            .unwrap();
        let reply = app.send(request).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    }
    let records = app.activity(2).await;
    let callers: Vec<Option<String>> = records.iter().map(|r| r.caller.clone()).collect();
    assert_eq!(
        callers,
        [None, prefix.as_str().map(str::to_string)],
        "newest first: the unknown key names nobody"
    );
    let usage = app.post("/api/keys/usage", json!({})).await.json();
    assert_eq!(usage[0]["caller"], prefix);
    assert_eq!(usage[0]["requests_24h"], 1);
}
