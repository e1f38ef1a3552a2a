//! The live channel over a real TCP WebSocket against the running router.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use std::time::Duration;

use axum::http::StatusCode;

use common::{TestApp, next_envelope, serve};
use corral::domain::live::{LiveStatus, ServerEvent};
use corral::server::live::hub::HubConfig;
use corral::server::live::socket::SocketLimits;
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::test]
async fn a_real_socket_gets_the_snapshot_then_api_changes() {
    let app = TestApp::new().await;
    let url = serve(&app).await;
    let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let first = next_envelope(&mut socket).await;
    assert!(matches!(first.event, ServerEvent::Snapshot(_)));
    app.create("over the wire", "/m/wire.gguf").await;
    let event = next_envelope(&mut socket).await;
    assert_eq!(event.seq, 2);
    assert!(matches!(event.event, ServerEvent::ModelCreated(m) if m.spec.name == "over the wire"));
    socket.send(Message::Text("{broken".into())).await.unwrap();
    assert!(matches!(
        next_envelope(&mut socket).await.event,
        ServerEvent::Error(_)
    ));
    socket
        .send(Message::Text(r#"{"type":"ping"}"#.into()))
        .await
        .unwrap();
    assert_eq!(next_envelope(&mut socket).await.event, ServerEvent::Pong);
    let status: LiveStatus =
        serde_json::from_value(app.get("/api/ws/status").await.json()).unwrap();
    assert_eq!(status.clients, 1);
}

#[tokio::test]
async fn a_connection_beyond_the_cap_is_closed_with_a_reason() {
    let app = TestApp::with_limits(
        HubConfig {
            max_clients: 1,
            ..HubConfig::default()
        },
        SocketLimits::default(),
    )
    .await;
    let url = serve(&app).await;
    let (mut first, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    next_envelope(&mut first).await;
    let (mut second, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let message = tokio::time::timeout(Duration::from_secs(5), second.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Message::Close(Some(frame)) = message else {
        panic!("expected a close frame, got {message:?}")
    };
    assert_eq!(u16::from(frame.code), 1013);
    assert!(
        frame.reason.contains("connection limit"),
        "{}",
        frame.reason
    );
}

#[tokio::test]
async fn a_frame_over_the_size_limit_closes_only_that_connection() {
    let app = TestApp::new().await;
    let url = serve(&app).await;
    let (mut abuser, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let (mut bystander, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    next_envelope(&mut abuser).await;
    next_envelope(&mut bystander).await;
    let oversized = "x".repeat(SocketLimits::default().max_message_bytes + 1);
    let _ = abuser.send(Message::Text(oversized.into())).await;
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match abuser.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the oversized frame ends that connection");
    app.create("still flowing", "/m/x.gguf").await;
    assert!(matches!(
        next_envelope(&mut bystander).await.event,
        ServerEvent::ModelCreated(_)
    ));
}

#[tokio::test]
async fn a_foreign_origin_cannot_open_the_socket() {
    let app = TestApp::new().await;
    let url = serve(&app).await;
    let mut request = url.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("origin", "http://attacker.example".parse().unwrap());
    let error = tokio_tungstenite::connect_async(request).await.unwrap_err();
    assert!(error.to_string().contains("403"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_bad_frames_and_oversized_bodies_does_not_hold_up_other_tabs() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let url = serve(&app).await;
    let mut tabs = Vec::new();
    for _ in 0..5 {
        let (mut tab, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap();
        assert!(matches!(
            next_envelope(&mut tab).await.event,
            ServerEvent::Snapshot(_)
        ));
        tabs.push(tab);
    }
    let (abuser, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let (mut abuse_tx, mut abuse_rx) = abuser.split();
    let frames = tokio::spawn(async move {
        // Reading keeps the abuser's socket flowing; what it is told does not matter here.
        tokio::spawn(async move { while abuse_rx.next().await.is_some() {} });
        for k in 0..3000 {
            let junk = match k % 3 {
                0 => "{broken".to_string(),
                1 => r#"{"type":"shout"}"#.to_string(),
                _ => r#"{"type":"subscribe","channels":["nope"]}"#.to_string(),
            };
            if abuse_tx.send(Message::Text(junk.into())).await.is_err() {
                break;
            }
        }
    });
    let bodies = {
        let app = app.clone();
        tokio::spawn(async move {
            for _ in 0..30 {
                let reply = app
                    .post_raw("/api/models/create", "x".repeat(2 * 1024 * 1024))
                    .await;
                assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
            }
        })
    };

    // The stated bound: every other tab hears a change within one second, mid-flood.
    let sent = std::time::Instant::now();
    app.create("during the flood", "/m/flood.gguf").await;
    for tab in &mut tabs {
        loop {
            if let ServerEvent::ModelCreated(model) = next_envelope(tab).await.event {
                assert_eq!(model.spec.name, "during the flood");
                break;
            }
        }
    }
    let heard = sent.elapsed();
    assert!(heard < Duration::from_secs(1), "{heard:?}");
    frames.await.unwrap();
    bodies.await.unwrap();
    for tab in &mut tabs {
        tab.send(Message::Text(r#"{"type":"ping"}"#.into()))
            .await
            .unwrap();
        loop {
            if next_envelope(tab).await.event == ServerEvent::Pong {
                break;
            }
        }
    }
    let status: LiveStatus =
        serde_json::from_value(app.get("/api/ws/status").await.json()).unwrap();
    assert_eq!(status.clients, 6, "nobody was disconnected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_that_never_reads_is_closed_and_its_place_freed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::with_limits(
        HubConfig {
            max_clients: 2,
            ..HubConfig::default()
        },
        SocketLimits {
            send_timeout: Duration::from_millis(500),
            ..SocketLimits::default()
        },
    )
    .await;
    let url = serve(&app).await;
    // A peer that completes the handshake, then never reads a byte.
    let mut stalled = tokio::net::TcpStream::connect(app.address).await.unwrap();
    let handshake = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        app.host()
    );
    stalled.write_all(handshake.as_bytes()).await.unwrap();
    let mut head = [0u8; 12];
    stalled.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 101");
    let (mut reader, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    next_envelope(&mut reader).await;
    // Large events until the stalled peer's buffers are full and its sends time out.
    let hub = app.hub.clone();
    let stage = "x".repeat(64 * 1024);
    let publisher = tokio::spawn(async move {
        for run_id in 0..400 {
            hub.publish(ServerEvent::RunUpdated(corral::domain::run::LiveRun {
                model_id: 1,
                run_id,
                pid: 1,
                port: 1,
                started_at: 0,
                ready_at: None,
                stage: Some(stage.clone()),
                sample: None,
                typical_load_ms: None,
                asleep: false,
                wake_ms: None,
                kv_restore: None,
            }));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    // The reading tab keeps up all along.
    let mut heard = 0;
    while heard < 400 {
        match next_envelope(&mut reader).await.event {
            ServerEvent::RunUpdated(_) => heard += 1,
            ServerEvent::Snapshot(_) => break, // fell behind the backlog: also served
            _ => {}
        }
    }
    publisher.await.unwrap();
    // The stalled one's place is freed: a new tab can connect (the cap is 2).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let status: LiveStatus =
            serde_json::from_value(app.get("/api/ws/status").await.json()).unwrap();
        if status.clients == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the stalled tab still holds its place: {} clients",
            status.clients
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (mut third, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    assert!(matches!(
        next_envelope(&mut third).await.event,
        ServerEvent::Snapshot(_)
    ));
    drop(stalled);
}
