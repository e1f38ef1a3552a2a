//! Running models as every tab sees them: status changes and log lines over real WebSockets.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use std::time::Duration;

use common::{TestApp, next_envelope, serve};
use corral::domain::ModelStatus;
use corral::domain::live::ServerEvent;
use corral::domain::run::LogSource;
use corral::server::gguf::test_model::TestModel;
use futures::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> Socket {
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert!(matches!(
        next_envelope(&mut socket).await.event,
        ServerEvent::Snapshot(_)
    ));
    socket
}

/// The statuses of `id` this socket hears until it reaches `last`.
async fn statuses_until(socket: &mut Socket, id: i64, last: ModelStatus) -> Vec<ModelStatus> {
    let mut seen = Vec::new();
    while seen.last() != Some(&last) {
        if let ServerEvent::ModelUpdated(model) = next_envelope(socket).await.event
            && model.id == id
        {
            seen.push(model.status);
        }
    }
    seen
}

#[tokio::test]
async fn two_tabs_see_a_large_model_go_loading_then_running_then_stopping_then_stopped() {
    let app = TestApp::with_llama_server().await;
    let path = app.dir.path().join("large.gguf");
    let size = TestModel::LARGE.write(&path).unwrap();
    assert!(size > 100_000_000, "{size}");
    let reply = app
        .post(
            "/api/models/create",
            json!({"model": {"name": "large", "path": path, "threads": 1, "ctx_size": 256}}),
        )
        .await;
    let id = reply.json()["id"].as_i64().unwrap();
    let url = serve(&app).await;
    let (mut a, mut b) = (connect(&url).await, connect(&url).await);

    app.post("/api/models/start", json!({"id": id})).await;
    for tab in [&mut a, &mut b] {
        assert_eq!(
            statuses_until(tab, id, ModelStatus::Running).await,
            [ModelStatus::Loading, ModelStatus::Running]
        );
    }
    app.post("/api/models/stop", json!({"id": id})).await;
    for tab in [&mut a, &mut b] {
        assert_eq!(
            statuses_until(tab, id, ModelStatus::Stopped).await,
            [ModelStatus::Stopping, ModelStatus::Stopped]
        );
    }
}

#[tokio::test]
async fn a_log_subscription_replays_history_then_streams_new_lines_once_each() {
    let app = TestApp::with_llama_server().await;
    let id = app.create_tiny("tiny").await;
    app.supervisor.start_model(id).await.unwrap();
    app.wait_status(id, ModelStatus::Running, Duration::from_secs(30))
        .await;
    let url = serve(&app).await;
    let mut tab = connect(&url).await;
    let mut other = connect(&url).await;

    let subscribe = json!({"type": "subscribe", "channels": [format!("logs:{id}")]});
    tab.send(Message::Text(subscribe.to_string().into()))
        .await
        .unwrap();
    let history = app.hub.log_history(LogSource::Model(id), 500);
    assert!(!history.is_empty());
    let mut seqs = Vec::new();
    while seqs.len() < history.len() {
        if let ServerEvent::Log(line) = next_envelope(&mut tab).await.event {
            assert_eq!(line.source, LogSource::Model(id));
            seqs.push(line.seq);
        }
    }
    let replayed: Vec<u64> = history.iter().map(|l| l.seq).collect();
    assert_eq!(seqs, replayed, "history first, in order");

    // A stop makes the server log more; the subscriber gets each new line exactly once.
    app.supervisor.stop_model(id).await.unwrap();
    let total = app.hub.log_history(LogSource::Model(id), 500).len();
    assert!(total > history.len());
    while seqs.len() < total {
        if let ServerEvent::Log(line) = next_envelope(&mut tab).await.event {
            assert_eq!(Some(&(line.seq - 1)), seqs.last(), "no gaps, no repeats");
            seqs.push(line.seq);
        }
    }

    // The tab that did not subscribe heard statuses but no log lines.
    other
        .send(Message::Text(r#"{"type":"ping"}"#.into()))
        .await
        .unwrap();
    loop {
        match next_envelope(&mut other).await.event {
            ServerEvent::Pong => break,
            ServerEvent::Log(line) => panic!("unsubscribed tab got {line:?}"),
            _ => {}
        }
    }
}
