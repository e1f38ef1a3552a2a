//! The browser's copy of the live state, fed only by the WebSocket. Each snapshot replaces it
//! whole; events are applied with the same reducer the server uses. The socket opens in the
//! browser only, as the app starts (before hydration finishes, so its handshake travels
//! meanwhile: `open_early`), and reconnects forever with capped, jittered backoff.

use leptos::prelude::*;

use std::collections::{BTreeMap, BTreeSet};

use crate::domain::Model;
use crate::domain::activity::ModelDemand;
use crate::domain::command_diff::CommandChange;
use crate::domain::live::Snapshot;
use crate::domain::run::{LiveRun, LogLine, LogSource};

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
    /// Logs some view on the page follows, with how many views follow each (`logs:…`
    /// channels); the socket subscribes as this changes.
    pub log_subscriptions: RwSignal<BTreeMap<LogSource, usize>>,
    /// Lines heard per followed log, oldest first; cleared on every new connection, which
    /// replays them.
    pub logs: RwSignal<BTreeMap<LogSource, Vec<LogLine>>>,
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
        #[cfg(feature = "hydrate")]
        {
            // Every change of the followed logs reaches the socket session as it happens.
            let (notify, changes) = futures::channel::mpsc::unbounded();
            Effect::new(move |_| {
                let _ = notify.unbounded_send(store.followed());
            });
            let changes = StoredValue::new_local(Some(changes));
            // Effects run only in the browser, and may run while hydration is still going on.
            Effect::new(move |_| {
                if let Some(changes) = changes.try_update_value(Option::take).flatten() {
                    leptos::task::spawn_local(client::run(store, changes));
                }
            });
        }
        store
    }

    /// Tracked: true once a connection has failed (no snapshot is coming for now), so what
    /// waits for the snapshot fetches over HTTP instead.
    pub fn has_failed(self) -> bool {
        self.connection.get() == Connection::Reconnecting
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
    /// What a restart of the running model would change (tracked); `None` when nothing waits.
    pub fn pending_restart(self, model_id: i64) -> Option<Vec<CommandChange>> {
        self.state.with(|s| {
            s.as_ref()?
                .pending_restarts
                .iter()
                .find(|p| p.model_id == model_id)
                .map(|p| p.changes.clone())
        })
    }

    /// The running models a restart would change (tracked).
    pub fn pending_restart_ids(self) -> Vec<i64> {
        self.state.with(|s| {
            s.as_ref()
                .map(|s| s.pending_restarts.iter().map(|p| p.model_id).collect())
                .unwrap_or_default()
        })
    }

    pub fn run(self, model_id: i64) -> Option<LiveRun> {
        self.state.with(|s| {
            s.as_ref()?
                .runs
                .iter()
                .find(|r| r.model_id == model_id)
                .cloned()
        })
    }

    /// Gateway requests the model holds now (queued, in flight), when it holds any.
    pub fn demand(self, model_id: i64) -> Option<ModelDemand> {
        self.state.with(|s| {
            s.as_ref()?
                .demand
                .iter()
                .find(|d| d.model_id == model_id)
                .copied()
        })
    }

    /// True once the server has said it found no llama-server.
    pub fn llama_server_missing(self) -> bool {
        self.state
            .with(|s| s.as_ref().is_some_and(|s| s.server.llama_server.is_none()))
    }

    /// Follows a log while the calling view lives.
    pub fn follow_log(self, source: LogSource) {
        self.log_subscriptions
            .update(|subs| *subs.entry(source).or_default() += 1);
        on_cleanup(move || {
            let _ = self.log_subscriptions.try_update(|subs| {
                if let Some(count) = subs.get_mut(&source) {
                    *count -= 1;
                    if *count == 0 {
                        subs.remove(&source);
                    }
                }
            });
        });
    }

    /// Keeps a line heard on the socket, once.
    pub fn add_log_line(self, line: LogLine) {
        self.logs.update(|logs| {
            let lines = logs.entry(line.source).or_default();
            if lines.last().is_none_or(|last| line.seq > last.seq) {
                lines.push(line);
                let overflow = lines.len().saturating_sub(KEPT_LOG_LINES);
                lines.drain(..overflow);
            }
        });
    }

    /// The followed logs; tracked when called in a reactive context.
    pub fn followed(self) -> BTreeSet<LogSource> {
        self.log_subscriptions
            .with(|subs| subs.keys().copied().collect())
    }

    pub fn followed_untracked(self) -> BTreeSet<LogSource> {
        self.log_subscriptions
            .with_untracked(|subs| subs.keys().copied().collect())
    }
}

pub fn use_live() -> LiveStore {
    expect_context::<LiveStore>()
}

#[cfg(feature = "hydrate")]
pub use client::open_early;

#[cfg(feature = "hydrate")]
mod client {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use futures_util::future::{Either, select};
    use futures_util::{SinkExt, StreamExt};
    use gloo_net::websocket::Message;
    use gloo_net::websocket::futures::WebSocket;
    use gloo_timers::future::sleep;
    use leptos::prelude::*;

    use super::{Connection, LiveStore};
    use crate::domain::live::{ClientMessage, Envelope, ServerEvent};
    use crate::domain::run::LogSource;

    const FIRST_RETRY: Duration = Duration::from_millis(500);
    const MAX_RETRY: Duration = Duration::from_secs(10);
    /// The tab pings after this long without a frame; a server silent for `DEAD_AFTER` more is
    /// taken for gone.
    const PING_AFTER: Duration = Duration::from_secs(20);
    const DEAD_AFTER: Duration = Duration::from_secs(25);

    /// Changes of the followed logs: the session reacts to them rather than looking for
    /// changes on a timer.
    pub type Followed = futures::channel::mpsc::UnboundedReceiver<BTreeSet<LogSource>>;

    thread_local! {
        static EARLY: std::cell::RefCell<Option<WebSocket>> = const { std::cell::RefCell::new(None) };
    }

    /// Opens the live socket as the app starts, before hydration, so that its handshake and
    /// snapshot travel while the page hydrates (opened after it, the handshake took 9–24 ms more
    /// in Chromium). The first session takes it; `App` always runs one.
    pub fn open_early() {
        if on_access_page() {
            return;
        }
        if let Some(socket) = socket_url().and_then(|url| WebSocket::open(&url).ok()) {
            EARLY.set(Some(socket));
        }
    }

    /// The sign-in and setup pages show nothing live, and without a session the socket would
    /// only be refused (a console error on each try).
    fn on_access_page() -> bool {
        web_sys::window()
            .and_then(|window| window.location().pathname().ok())
            .is_some_and(|path| crate::app::access::is_access_page(&path))
    }

    pub async fn run(store: LiveStore, mut changes: Followed) {
        let mut failures: u32 = 0;
        loop {
            // Signing in leaves these pages by a full navigation; this only waits out a move
            // within the app.
            while on_access_page() {
                sleep(FIRST_RETRY).await;
            }
            if session(store, &mut changes).await {
                failures = 0;
            }
            store.connection.set(Connection::Reconnecting);
            failures = failures.saturating_add(1);
            sleep(backoff(failures)).await;
        }
    }

    /// What the session waits for.
    enum Wake {
        Frame(Option<Result<Message, gloo_net::websocket::WebSocketError>>),
        Followed(Option<BTreeSet<LogSource>>),
        Quiet,
    }

    /// One connection, until it breaks. True if it got as far as a snapshot.
    async fn session(store: LiveStore, changes: &mut Followed) -> bool {
        let opened = EARLY
            .take()
            .or_else(|| WebSocket::open(&socket_url()?).ok());
        let Some(socket) = opened else {
            return false;
        };
        let (mut tx, mut rx) = socket.split();
        // What the socket says is read only once hydration has finished, since the snapshot
        // changes what pages show (`app::hydration`); until then its frames wait in its queue.
        crate::app::hydration::done().await;
        let mut got_snapshot = false;
        // Logs this connection subscribed to; a new connection starts with none.
        let mut subscribed: BTreeSet<LogSource> = BTreeSet::new();
        let mut wanted = store.followed_untracked();
        let mut pinged = false;
        loop {
            if wanted != subscribed {
                let channels = |set: BTreeSet<&LogSource>| -> Vec<String> {
                    set.into_iter().map(|s| s.channel()).collect()
                };
                let add = channels(wanted.difference(&subscribed).collect());
                let drop = channels(subscribed.difference(&wanted).collect());
                let messages = [
                    (!add.is_empty()).then_some(ClientMessage::Subscribe { channels: add }),
                    (!drop.is_empty()).then_some(ClientMessage::Unsubscribe { channels: drop }),
                ];
                for message in messages.into_iter().flatten() {
                    if !send(&mut tx, &message).await {
                        return got_snapshot;
                    }
                }
                subscribed = wanted.clone();
            }
            let quiet = sleep(if pinged { DEAD_AFTER } else { PING_AFTER });
            let wake = match select(select(rx.next(), changes.next()), quiet).await {
                Either::Left((Either::Left((frame, _)), _)) => Wake::Frame(frame),
                Either::Left((Either::Right((followed, _)), _)) => Wake::Followed(followed),
                Either::Right(((), _)) => Wake::Quiet,
            };
            match wake {
                Wake::Followed(Some(now)) => wanted = now,
                // The app is going away.
                Wake::Followed(None) => return got_snapshot,
                Wake::Quiet if pinged => return got_snapshot,
                Wake::Quiet => {
                    pinged = true;
                    if !send(&mut tx, &ClientMessage::Ping {}).await {
                        return got_snapshot;
                    }
                }
                Wake::Frame(Some(Ok(Message::Text(text)))) => {
                    pinged = false;
                    let Ok(envelope) = Envelope::from_json(&text) else {
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
                Wake::Frame(Some(Ok(Message::Bytes(_)))) => pinged = false,
                Wake::Frame(Some(Err(_)) | None) => return got_snapshot,
            }
        }
    }

    /// Sends one message in the shared format the server decodes; false when the socket broke.
    async fn send<S>(tx: &mut S, message: &ClientMessage) -> bool
    where
        S: futures_util::Sink<Message> + Unpin,
    {
        match serde_json::to_string(message) {
            Ok(text) => tx.send(Message::Text(text)).await.is_ok(),
            Err(error) => {
                leptos::logging::warn!("live: cannot encode a message: {error}");
                true
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
