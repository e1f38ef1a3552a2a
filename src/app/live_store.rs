//! The browser's copy of the live state, fed only by the WebSocket. Each snapshot replaces it
//! whole; events are applied with the same reducer the server uses. The socket starts after
//! hydration (never on the server), and reconnects forever with capped, jittered backoff.

use leptos::prelude::*;

use crate::domain::Model;
use crate::domain::live::Snapshot;

/// How the tab's connection is doing, for the header indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Live,
    Reconnecting,
}

impl Connection {
    pub fn label(self) -> &'static str {
        match self {
            Connection::Connecting => "Connecting…",
            Connection::Live => "Live",
            Connection::Reconnecting => "Reconnecting…",
        }
    }
}

/// Provided once by the app.
#[derive(Clone, Copy)]
pub struct LiveStore {
    /// `None` until the first snapshot: pages show their server-rendered data until then, so
    /// the first render is the same on both sides and nothing flickers.
    pub state: RwSignal<Option<Snapshot>>,
    pub connection: RwSignal<Connection>,
}

impl LiveStore {
    pub fn provide() -> LiveStore {
        let store = LiveStore {
            state: RwSignal::new(None),
            connection: RwSignal::new(Connection::Connecting),
        };
        provide_context(store);
        // Effects run only in the browser, after hydration.
        Effect::new(move |started: Option<()>| {
            if started.is_none() {
                #[cfg(feature = "hydrate")]
                leptos::task::spawn_local(client::run(store));
            }
        });
        store
    }

    pub fn is_live(self) -> bool {
        self.connection.get_untracked() == Connection::Live
    }

    /// The live list of models, once a snapshot has arrived.
    pub fn models(self) -> Option<Vec<Model>> {
        self.state.with(|s| s.as_ref().map(|s| s.models.clone()))
    }
}

pub fn use_live() -> LiveStore {
    expect_context::<LiveStore>()
}

#[cfg(feature = "hydrate")]
mod client {
    use std::time::Duration;

    use futures_util::future::{Either, select};
    use futures_util::{SinkExt, StreamExt};
    use gloo_net::websocket::Message;
    use gloo_net::websocket::futures::WebSocket;
    use gloo_timers::future::sleep;
    use leptos::prelude::*;

    use super::{Connection, LiveStore};
    use crate::domain::live::{Envelope, ServerEvent};

    const FIRST_RETRY: Duration = Duration::from_millis(500);
    const MAX_RETRY: Duration = Duration::from_secs(10);
    /// The tab pings this often; a server silent for `DEAD_AFTER` is taken for gone.
    const PING_EVERY: Duration = Duration::from_secs(20);
    const DEAD_AFTER: Duration = Duration::from_secs(45);

    pub async fn run(store: LiveStore) {
        let mut failures: u32 = 0;
        loop {
            if session(store).await {
                failures = 0;
            }
            store.connection.set(Connection::Reconnecting);
            failures = failures.saturating_add(1);
            sleep(backoff(failures)).await;
        }
    }

    /// One connection, until it breaks. True if it got as far as a snapshot.
    async fn session(store: LiveStore) -> bool {
        let Some(url) = socket_url() else {
            return false;
        };
        let Ok(socket) = WebSocket::open(&url) else {
            return false;
        };
        let (mut tx, mut rx) = socket.split();
        let mut got_snapshot = false;
        let mut quiet = Duration::ZERO;
        loop {
            match select(rx.next(), sleep(PING_EVERY)).await {
                Either::Left((Some(Ok(Message::Text(text))), _)) => {
                    quiet = Duration::ZERO;
                    let Ok(envelope) = serde_json::from_str::<Envelope>(&text) else {
                        leptos::logging::warn!("live: unreadable message ignored");
                        continue;
                    };
                    match envelope.event {
                        ServerEvent::Snapshot(snapshot) => {
                            got_snapshot = true;
                            store.state.set(Some(snapshot));
                            store.connection.set(Connection::Live);
                        }
                        event => store.state.update(|state| {
                            if let Some(state) = state {
                                state.apply(&event);
                            }
                        }),
                    }
                }
                Either::Left((Some(Ok(Message::Bytes(_))), _)) => quiet = Duration::ZERO,
                Either::Left((Some(Err(_)) | None, _)) => return got_snapshot,
                Either::Right(((), _)) => {
                    quiet += PING_EVERY;
                    if quiet >= DEAD_AFTER {
                        return got_snapshot;
                    }
                    if tx
                        .send(Message::Text(r#"{"type":"ping"}"#.into()))
                        .await
                        .is_err()
                    {
                        return got_snapshot;
                    }
                }
            }
        }
    }

    /// 0.5 s, 1 s, 2 s … capped at 10 s, with ±20 % jitter so tabs do not reconnect in step.
    fn backoff(failures: u32) -> Duration {
        let base = FIRST_RETRY
            .saturating_mul(1 << failures.min(5).saturating_sub(1))
            .min(MAX_RETRY);
        let jitter = 0.8 + 0.4 * js_sys::Math::random();
        base.mul_f64(jitter)
    }

    fn socket_url() -> Option<String> {
        let location = web_sys::window()?.location();
        let scheme = if location.protocol().ok()? == "https:" {
            "wss"
        } else {
            "ws"
        };
        Some(format!("{scheme}://{}/ws", location.host().ok()?))
    }
}
