//! The browser's copy of the live state, fed only by the WebSocket. Each snapshot replaces it
//! whole; events are applied with the same reducer the server uses. The socket starts after
//! hydration (never on the server), and reconnects forever with capped, jittered backoff.

use leptos::prelude::*;

use std::collections::{BTreeMap, BTreeSet};

use crate::domain::Model;
use crate::domain::live::Snapshot;
use crate::domain::run::{LiveRun, LogLine};

/// Log lines a tab keeps per model.
pub const KEPT_LOG_LINES: usize = 2000;

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
    /// Models whose log some view on the page follows (`logs:<id>` channels).
    pub log_subscriptions: RwSignal<BTreeMap<i64, usize>>,
    /// Lines heard per followed model, oldest first; cleared on every new connection, which
    /// replays them.
    pub logs: RwSignal<BTreeMap<i64, Vec<LogLine>>>,
}

impl LiveStore {
    pub fn provide() -> LiveStore {
        let store = LiveStore {
            state: RwSignal::new(None),
            connection: RwSignal::new(Connection::Connecting),
            log_subscriptions: RwSignal::new(BTreeMap::new()),
            logs: RwSignal::new(BTreeMap::new()),
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

    /// Tracked: true while the socket is up.
    pub fn is_connected(self) -> bool {
        self.connection.get() == Connection::Live
    }

    /// The live list of models, once a snapshot has arrived.
    pub fn models(self) -> Option<Vec<Model>> {
        self.state.with(|s| s.as_ref().map(|s| s.models.clone()))
    }

    /// The model's live process, if one runs.
    pub fn run(self, model_id: i64) -> Option<LiveRun> {
        self.state.with(|s| {
            s.as_ref()?
                .runs
                .iter()
                .find(|r| r.model_id == model_id)
                .cloned()
        })
    }

    /// True once the server has said it found no llama-server.
    pub fn llama_server_missing(self) -> bool {
        self.state
            .with(|s| s.as_ref().is_some_and(|s| s.server.llama_server.is_none()))
    }

    /// Follows a model's log while the calling view lives.
    pub fn follow_log(self, model_id: i64) {
        self.log_subscriptions
            .update(|subs| *subs.entry(model_id).or_default() += 1);
        on_cleanup(move || {
            let _ = self.log_subscriptions.try_update(|subs| {
                if let Some(count) = subs.get_mut(&model_id) {
                    *count -= 1;
                    if *count == 0 {
                        subs.remove(&model_id);
                    }
                }
            });
        });
    }

    /// Keeps a line heard on the socket, once.
    pub fn add_log_line(self, line: LogLine) {
        self.logs.update(|logs| {
            let lines = logs.entry(line.model_id).or_default();
            if lines.last().is_none_or(|last| line.seq > last.seq) {
                lines.push(line);
                let overflow = lines.len().saturating_sub(KEPT_LOG_LINES);
                lines.drain(..overflow);
            }
        });
    }

    pub fn followed(self) -> BTreeSet<i64> {
        self.log_subscriptions
            .with_untracked(|subs| subs.keys().copied().collect())
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

    use std::collections::BTreeSet;

    use super::{Connection, LiveStore};
    use crate::domain::live::{Envelope, ServerEvent};
    use crate::domain::run::log_channel;

    const FIRST_RETRY: Duration = Duration::from_millis(500);
    const MAX_RETRY: Duration = Duration::from_secs(10);
    /// The tab pings this often; a server silent for `DEAD_AFTER` is taken for gone.
    const PING_EVERY: Duration = Duration::from_secs(20);
    const DEAD_AFTER: Duration = Duration::from_secs(45);
    /// How often the session looks for log channels to (un)subscribe.
    const TICK: Duration = Duration::from_millis(200);

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
        let mut since_ping = Duration::ZERO;
        // Channels this connection subscribed to; a new connection starts with none.
        let mut subscribed: BTreeSet<i64> = BTreeSet::new();
        loop {
            let wanted = store.followed();
            if wanted != subscribed {
                let channel = |id: &i64| log_channel(*id);
                let add: Vec<String> = wanted.difference(&subscribed).map(channel).collect();
                let drop: Vec<String> = subscribed.difference(&wanted).map(channel).collect();
                for (kind, channels) in [("subscribe", add), ("unsubscribe", drop)] {
                    if channels.is_empty() {
                        continue;
                    }
                    let message = serde_json::json!({"type": kind, "channels": channels});
                    if tx.send(Message::Text(message.to_string())).await.is_err() {
                        return got_snapshot;
                    }
                }
                subscribed = wanted;
            }
            match select(rx.next(), sleep(TICK)).await {
                Either::Left((Some(Ok(Message::Text(text))), _)) => {
                    quiet = Duration::ZERO;
                    since_ping = Duration::ZERO;
                    let Ok(envelope) = serde_json::from_str::<Envelope>(&text) else {
                        leptos::logging::warn!("live: unreadable message ignored");
                        continue;
                    };
                    match envelope.event {
                        ServerEvent::Snapshot(snapshot) => {
                            if !got_snapshot {
                                // A new connection replays the followed logs from the start.
                                store.logs.set(Default::default());
                            }
                            got_snapshot = true;
                            store.state.set(Some(snapshot));
                            store.connection.set(Connection::Live);
                        }
                        ServerEvent::Log(line) => store.add_log_line(line),
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
                    quiet += TICK;
                    since_ping += TICK;
                    if quiet >= DEAD_AFTER {
                        return got_snapshot;
                    }
                    if since_ping < PING_EVERY {
                        continue;
                    }
                    since_ping = Duration::ZERO;
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
