//! `GET /ws` (the live channel) and `GET /api/ws/status`.

use std::future::ready;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures::{SinkExt, StreamExt};

use crate::domain::AppError;
use crate::domain::live::LiveStatus;
use crate::server::boot::state::AppState;
use crate::server::http::error_response;
use crate::server::http::origin::trusted_origin;
use crate::server::http::serve::ConnectionSlot;
use crate::server::live::Hub;
use crate::server::live::socket::{self, CLOSE_TRY_AGAIN_LATER, Frame};
use crate::server::now_ms;

/// See `websocket`: small, because tabs rarely speak.
const READ_BUFFER_BYTES: usize = 4 * 1024;

pub async fn websocket(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    connection: Option<Extension<ConnectionSlot>>,
    headers: HeaderMap,
) -> Response {
    // Browsers always send Origin on WebSockets: another site's page may not listen in.
    if !trusted_origin(&headers, &state.hosts) {
        return error_response(&AppError::Forbidden {
            message: "cross-origin WebSocket connections are refused".into(),
        });
    }
    let limits = state.socket_limits;
    let hub = state.hub.clone();
    ws.max_message_size(limits.max_message_bytes)
        .max_frame_size(limits.max_message_bytes)
        // The library zero-fills its whole read buffer on every read attempt, and a socket is
        // polled for reading each time an event wakes it: at the default 128 KiB that was most
        // of the CPU time and RSS with 1,000 tabs. Client messages are small; the buffer grows
        // for a large one.
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| async move {
            // The socket keeps its connection's place under the connection cap while it lives.
            let _connection = connection;
            let (tx, rx) = adapt(socket);
            let mut tx = Box::pin(tx);
            match hub.try_connect() {
                Some(_slot) => socket::serve(&hub, tx, Box::pin(rx), limits).await,
                None => {
                    let reason = format!(
                        "connection limit reached ({} clients); try again later",
                        hub.max_clients()
                    );
                    let _ = tx
                        .send(Frame::Close {
                            code: CLOSE_TRY_AGAIN_LATER,
                            reason,
                        })
                        .await;
                }
            }
        })
}

pub async fn status(State(hub): State<Hub>) -> impl IntoResponse {
    Json(LiveStatus {
        clients: hub.clients(),
        max_clients: hub.max_clients(),
        uptime_seconds: (now_ms() - hub.started_at()).max(0) as u64 / 1000,
    })
}

/// Axum's socket as a sink and a stream of `Frame`s; a transport error ends the stream.
fn adapt(
    socket: WebSocket,
) -> (
    impl futures::Sink<Frame, Error = axum::Error>,
    impl futures::Stream<Item = Frame>,
) {
    let (sink, stream) = socket.split();
    let tx = sink.with(|frame: Frame| ready(Ok::<_, axum::Error>(to_message(frame))));
    let rx = stream
        .take_while(|message| ready(message.is_ok()))
        .filter_map(|message| ready(message.ok().and_then(from_message)));
    (tx, rx)
}

fn to_message(frame: Frame) -> Message {
    match frame {
        Frame::Text(text) => Message::Text(text.into()),
        Frame::Ping(data) => Message::Ping(data.into()),
        Frame::Pong(data) => Message::Pong(data.into()),
        Frame::Close { code, reason } => Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })),
    }
}

fn from_message(message: Message) -> Option<Frame> {
    Some(match message {
        Message::Text(text) => Frame::Text(text.to_string()),
        // Binary frames are not part of the protocol: answered like malformed text.
        Message::Binary(_) => Frame::Text(String::new()),
        Message::Ping(data) => Frame::Ping(data.to_vec()),
        Message::Pong(data) => Frame::Pong(data.to_vec()),
        Message::Close(frame) => Frame::Close {
            code: frame.as_ref().map_or(1005, |f| f.code),
            reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
        },
    })
}
