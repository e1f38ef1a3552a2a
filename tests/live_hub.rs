//! The per-socket loop against in-memory channels: snapshot first, seq order, lag → snapshot,
//! malformed → error frame and still connected, rate limit, heartbeat, cap.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use std::time::Duration;

use common::TestApp;
use corral::domain::live::{Envelope, ErrorCode, ServerEvent};
use corral::server::live::Hub;
use corral::server::live::hub::HubConfig;
use corral::server::live::socket::{self, Frame, SocketLimits};
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use serde_json::json;

struct Peer {
    to_server: mpsc::UnboundedSender<Frame>,
    from_server: mpsc::Receiver<Frame>,
    task: tokio::task::JoinHandle<()>,
}

/// Connects a peer whose inbox holds `inbox` frames before the server has to wait for it.
fn connect(hub: &Hub, limits: SocketLimits, inbox: usize) -> Peer {
    let (to_server, server_rx) = mpsc::unbounded();
    let (server_tx, from_server) = mpsc::channel(inbox);
    let hub = hub.clone();
    let task = tokio::spawn(async move { socket::serve(&hub, server_tx, server_rx, limits).await });
    Peer {
        to_server,
        from_server,
        task,
    }
}

impl Peer {
    /// The next frame, skipping heartbeat pings.
    async fn frame(&mut self) -> Frame {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(5), self.from_server.next())
                .await
                .expect("a frame within 5 s")
                .expect("the connection is open");
            if !matches!(frame, Frame::Ping(_)) {
                return frame;
            }
        }
    }

    async fn envelope(&mut self) -> Envelope {
        match self.frame().await {
            Frame::Text(text) => Envelope::from_json(&text).unwrap(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    async fn say(&mut self, text: &str) {
        self.to_server
            .send(Frame::Text(text.to_string()))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn the_first_frame_is_a_snapshot_of_every_model() {
    let app = TestApp::new().await;
    app.create("first", "/m/first.gguf").await;
    let mut peer = connect(&app.hub, SocketLimits::default(), 16);
    let envelope = peer.envelope().await;
    assert_eq!(envelope.seq, 1);
    let ServerEvent::Snapshot(snapshot) = envelope.event else {
        panic!("not a snapshot: {envelope:?}")
    };
    assert_eq!(snapshot.models.len(), 1);
    assert_eq!(snapshot.models[0].spec.name, "first");
    assert_eq!(
        snapshot.server.clients, 0,
        "the generic loop holds no connection slot"
    );
}

#[tokio::test]
async fn api_changes_arrive_as_events_in_order_with_rising_seq() {
    let app = TestApp::new().await;
    let mut peer = connect(&app.hub, SocketLimits::default(), 16);
    peer.envelope().await;
    let created = app.create("a", "/m/a.gguf").await;
    app.post(
        "/api/models/update",
        json!({"id": created["id"], "changes": {"ctx_size": 1024}}),
    )
    .await;
    app.post("/api/models/delete", json!({"id": created["id"]}))
        .await;
    let events: Vec<Envelope> = vec![
        peer.envelope().await,
        peer.envelope().await,
        peer.envelope().await,
    ];
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3, 4]);
    assert!(matches!(&events[0].event, ServerEvent::ModelCreated(m) if m.spec.name == "a"));
    assert!(
        matches!(&events[1].event, ServerEvent::ModelUpdated(m) if m.spec.ctx_size == Some(1024))
    );
    assert_eq!(
        events[2].event,
        ServerEvent::ModelDeleted {
            id: created["id"].as_i64().unwrap()
        }
    );
}

#[tokio::test]
async fn a_failed_call_publishes_nothing() {
    let app = TestApp::new().await;
    app.create("taken", "/m/a.gguf").await;
    let mut peer = connect(&app.hub, SocketLimits::default(), 16);
    peer.envelope().await;
    app.post(
        "/api/models/create",
        json!({"model": {"name": "taken", "path": "/m/b.gguf"}}),
    )
    .await;
    app.post(
        "/api/models/create",
        json!({"model": {"name": "", "path": "/m/b.gguf"}}),
    )
    .await;
    peer.say(r#"{"type":"ping"}"#).await;
    assert_eq!(
        peer.envelope().await.event,
        ServerEvent::Pong,
        "no event came before the pong"
    );
}

#[tokio::test]
async fn a_client_that_falls_behind_gets_a_fresh_snapshot() {
    let app = TestApp::with_limits(
        HubConfig {
            backlog: 4,
            ..HubConfig::default()
        },
        SocketLimits::default(),
    )
    .await;
    // An inbox of one frame: the server stalls on the second until the peer reads.
    let mut peer = connect(&app.hub, SocketLimits::default(), 0);
    for i in 0..20 {
        app.create(&format!("m{i}"), "/m/x.gguf").await;
    }
    let mut envelopes = Vec::new();
    while let Ok(Some(Frame::Text(text))) =
        tokio::time::timeout(Duration::from_millis(500), peer.from_server.next()).await
    {
        envelopes.push(Envelope::from_json(&text).unwrap());
    }
    let seqs: Vec<u64> = envelopes.iter().map(|e| e.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "seq rises by one: {seqs:?}"
    );
    assert!(
        envelopes
            .iter()
            .skip(1)
            .any(|e| matches!(e.event, ServerEvent::Snapshot(_))),
        "a fresh snapshot replaced the events that were missed: {seqs:?}"
    );
    // What the tab ends up with: every model, exactly once.
    let ServerEvent::Snapshot(mut state) = envelopes[0].event.clone() else {
        panic!("snapshot first")
    };
    for envelope in &envelopes[1..] {
        state.apply(&envelope.event);
    }
    assert_eq!(state.models.len(), 20);
}

#[tokio::test]
async fn a_malformed_message_gets_an_error_frame_and_the_connection_stays() {
    let app = TestApp::new().await;
    let mut peer = connect(&app.hub, SocketLimits::default(), 16);
    peer.envelope().await;
    for (text, code) in [
        ("not json", ErrorCode::InvalidFormat),
        (r#"{"type":"reboot"}"#, ErrorCode::UnknownType),
        (
            r#"{"type":"subscribe","channels":"x"}"#,
            ErrorCode::InvalidPayload,
        ),
        (
            r#"{"type":"subscribe","channels":["gossip"]}"#,
            ErrorCode::UnknownChannel,
        ),
    ] {
        peer.say(text).await;
        let ServerEvent::Error(frame) = peer.envelope().await.event else {
            panic!("no error frame for {text}")
        };
        assert_eq!(frame.code, code, "{text}");
    }
    peer.say(r#"{"type":"ping"}"#).await;
    assert_eq!(peer.envelope().await.event, ServerEvent::Pong);
    assert!(!peer.task.is_finished());
}

#[tokio::test]
async fn a_flood_is_rate_limited_with_one_notice() {
    let app = TestApp::new().await;
    let limits = SocketLimits {
        burst: 3.0,
        messages_per_second: 0.5,
        ..SocketLimits::default()
    };
    let mut peer = connect(&app.hub, limits, 64);
    peer.envelope().await;
    for _ in 0..10 {
        peer.say(r#"{"type":"ping"}"#).await;
    }
    let mut pongs = 0;
    let mut limited = 0;
    while let Ok(Some(Frame::Text(text))) =
        tokio::time::timeout(Duration::from_millis(300), peer.from_server.next()).await
    {
        match Envelope::from_json(&text).unwrap().event {
            ServerEvent::Pong => pongs += 1,
            ServerEvent::Error(frame) if frame.code == ErrorCode::RateLimited => limited += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((pongs, limited), (3, 1));
    assert!(
        !peer.task.is_finished(),
        "a flooding client is slowed, not dropped"
    );
}

#[tokio::test]
async fn a_silent_peer_is_disconnected() {
    let app = TestApp::new().await;
    let limits = SocketLimits {
        heartbeat: Duration::from_millis(50),
        idle_timeout: Duration::from_millis(120),
        ..SocketLimits::default()
    };
    let mut peer = connect(&app.hub, limits, 64);
    peer.envelope().await;
    let close = peer.frame().await;
    assert!(
        matches!(close, Frame::Close { code: 1001, .. }),
        "{close:?}"
    );
    tokio::time::timeout(Duration::from_secs(2), peer.task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn an_answering_peer_stays_connected() {
    let app = TestApp::new().await;
    let limits = SocketLimits {
        heartbeat: Duration::from_millis(30),
        idle_timeout: Duration::from_millis(100),
        ..SocketLimits::default()
    };
    let mut peer = connect(&app.hub, limits, 64);
    peer.envelope().await;
    for _ in 0..10 {
        match tokio::time::timeout(Duration::from_secs(1), peer.from_server.next())
            .await
            .unwrap()
            .unwrap()
        {
            Frame::Ping(data) => peer.to_server.send(Frame::Pong(data)).await.unwrap(),
            other => panic!("expected a ping, got {other:?}"),
        }
    }
    assert!(!peer.task.is_finished());
}

#[tokio::test]
async fn a_change_in_connected_clients_is_announced_as_server_status() {
    let hub = Hub::new(vec![], 0, HubConfig::default());
    let mut events = hub.subscribe();
    corral::server::live::hub::spawn_status_updates(hub.clone(), Duration::from_millis(20));
    let status = |event: &ServerEvent| match event {
        ServerEvent::ServerStatus(status) => Some(status.clients),
        _ => None,
    };
    let first = events.recv().await.unwrap();
    assert_eq!(status(&first), Some(0));
    let _slot = hub.try_connect().unwrap();
    let next = tokio::time::timeout(Duration::from_secs(2), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status(&next), Some(1));
}

#[tokio::test]
async fn the_hub_refuses_connections_beyond_its_cap() {
    let hub = Hub::new(
        vec![],
        0,
        HubConfig {
            max_clients: 2,
            ..HubConfig::default()
        },
    );
    let first = hub.try_connect().expect("first");
    let _second = hub.try_connect().expect("second");
    assert!(hub.try_connect().is_none());
    assert_eq!(hub.clients(), 2);
    drop(first);
    assert!(
        hub.try_connect().is_some(),
        "a freed place can be taken again"
    );
}

#[tokio::test]
async fn a_peer_that_stops_reading_is_closed_within_the_send_timeout() {
    let app = TestApp::new().await;
    let hub = app.hub.clone();
    let limits = SocketLimits {
        send_timeout: Duration::from_millis(300),
        ..SocketLimits::default()
    };
    // Room for the snapshot and one event, then the peer reads nothing more.
    let mut stalled = connect(&hub, limits, 1);
    assert!(matches!(
        stalled.envelope().await.event,
        ServerEvent::Snapshot(_)
    ));
    let mut reader = connect(&hub, limits, 64);
    reader.envelope().await;
    for k in 0..5 {
        app.create(&format!("m{k}"), "/m/x.gguf").await;
    }
    let started = std::time::Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(3), &mut stalled.task).await;
    assert!(ended.is_ok(), "the stalled peer's connection ended");
    // The send timeout, plus at most the second that a closing frame may take.
    assert!(
        started.elapsed() < Duration::from_millis(1600),
        "{:?}",
        started.elapsed()
    );
    for _ in 0..5 {
        assert!(matches!(
            reader.envelope().await.event,
            ServerEvent::ModelCreated(_)
        ));
    }
    assert!(
        !reader.task.is_finished(),
        "the reading peer is still served"
    );
}
