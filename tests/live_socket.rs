//! The live channel over a real TCP WebSocket against the running router.
#![cfg(feature = "ssr")]

mod common;

use std::time::Duration;

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
