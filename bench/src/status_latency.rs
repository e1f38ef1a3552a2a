//! Status latency with the real llama-server: the Start call until a tab hears `running`,
//! against the floor of the same command started by hand and polled on `/health` every 5 ms.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::corral::terminate;
use crate::http::{Call, HttpClient, send};
use crate::socket::{Socket, connect};

/// A tab that reads frames until one matches.
pub struct Tab {
    socket: Socket,
}

impl Tab {
    pub async fn connect(base: &str) -> Tab {
        let socket = connect(base).await.expect("the tab connects");
        Tab { socket }
    }

    /// Waits (at most `limit`) for a `model_updated` saying the model has `status`.
    pub async fn model_status(
        &mut self,
        id: i64,
        status: &str,
        limit: Duration,
    ) -> Option<Instant> {
        let wanted = |frame: &Value| {
            frame["type"] == "model_updated"
                && frame["data"]["id"] == id
                && frame["data"]["status"] == status
        };
        tokio::time::timeout(limit, async {
            while let Some(Ok(message)) = self.socket.next().await {
                if let Message::Text(text) = message
                    && serde_json::from_str::<Value>(&text).is_ok_and(|f| wanted(&f))
                {
                    return Some(Instant::now());
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
    }
}

/// Corral starts the model: call → `running` at the tab. Stops it again before returning.
pub async fn through_corral(client: &HttpClient, base: &str, tab: &mut Tab, id: i64) -> Duration {
    let started = Instant::now();
    let answered = send(
        client,
        base,
        &Call::post("/api/models/start", json!({"id": id})),
    )
    .await;
    assert!(
        matches!(answered, Ok((200, _))),
        "start is accepted: {answered:?}"
    );
    let running = tab
        .model_status(id, "running", Duration::from_secs(60))
        .await
        .expect("the model reaches running within a minute");
    let stopped = send(
        client,
        base,
        &Call::post("/api/models/stop", json!({"id": id})),
    )
    .await;
    assert!(matches!(stopped, Ok((200, _))), "stop is accepted");
    running - started
}

/// The same command by hand: spawn → first `/health` 200, polled every 5 ms.
pub async fn by_hand(program: &Path, args: &[String], port: u16) -> Duration {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.replace("<port>", &port.to_string()))
        .collect();
    let client = crate::http::client();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let mut child = tokio::process::Command::new(program)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("llama-server starts");
    let ready = loop {
        if let Ok((200, _)) = send(&client, &base, &Call::get("/health")).await {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "llama-server answered /health within a minute"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    terminate(&mut child).await;
    ready
}
