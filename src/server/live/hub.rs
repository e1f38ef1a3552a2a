//! The hub: the authoritative live state in a `watch`, every change as an event in a
//! `broadcast`. Whatever changes state (a server function, an API call from curl, the metrics
//! collector) publishes here once; every socket fans it out to its tab.

use std::sync::atomic::{AtomicUsize, Ordering};

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::domain::Model;
use crate::domain::live::{ServerEvent, ServerStatus, Snapshot};
use crate::domain::run::{LogLine, LogSource, LogStream};
use crate::server::live::log_book::LogBook;
use crate::server::live::published::Published;
use crate::server::now_ms;

/// Limits of the live channel.
#[derive(Debug, Clone, Copy)]
pub struct HubConfig {
    pub max_clients: usize,
    /// Events a slow socket may fall behind before it gets a fresh snapshot instead.
    pub backlog: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            max_clients: 256,
            backlog: 1024,
        }
    }
}

#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    state: watch::Sender<Snapshot>,
    /// Each event encoded once for every tab (`Published`).
    events: broadcast::Sender<Arc<Published>>,
    /// Log lines, apart: a model server logs a dozen lines per request, and nothing but the
    /// tabs that asked for a log wants them (the other listeners woke for each one).
    log_lines: broadcast::Sender<Arc<Published>>,
    clients: AtomicUsize,
    config: HubConfig,
    logs: LogBook,
    /// Held from a commit to its publish (`Hub::committed`).
    commit_order: Mutex<()>,
}

/// Holds one of the hub's connection places; gives it back when dropped.
pub struct ClientSlot {
    hub: Hub,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.hub.inner.clients.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Hub {
    pub fn new(models: Vec<Model>, started_at: i64, config: HubConfig) -> Hub {
        let server = ServerStatus {
            version: env!("CARGO_PKG_VERSION").to_string(),
            started_at,
            clients: 0,
            llama_server: None,
        };
        let (state, _) = watch::channel(Snapshot {
            models,
            server,
            metrics: Vec::new(),
            runs: Vec::new(),
            activity: Vec::new(),
            demand: Vec::new(),
            files_generation: 0,
            pending_restarts: Vec::new(),
            virtual_models: Vec::new(),
            run_groups: Vec::new(),
        });
        let (events, _) = broadcast::channel(config.backlog.max(1));
        let (log_lines, _) = broadcast::channel(config.backlog.max(1));
        Hub {
            inner: Arc::new(Inner {
                state,
                events,
                log_lines,
                clients: AtomicUsize::new(0),
                config,
                logs: LogBook::default(),
                commit_order: Mutex::new(()),
            }),
        }
    }

    /// Applies the event to the state, then tells every socket. State first, so a socket that
    /// connects in between sees it in its snapshot (applying it twice changes nothing).
    pub fn publish(&self, event: ServerEvent) {
        self.inner.state.send_modify(|state| state.apply(&event));
        // No receivers is fine: no tab is open.
        let _ = self.inner.events.send(Arc::new(Published::new(event)));
    }

    /// Runs `write` (a database transaction, on a blocking thread) and publishes the events it
    /// returns before any other `committed` write can publish: two writes of one model reach
    /// the hub, and every tab, in the order they were committed. Without it a status change
    /// and a rename committed in one order could be heard in the other, and a tab would show
    /// the older one last.
    pub fn committed<T, E>(
        &self,
        write: impl FnOnce() -> Result<(T, Vec<ServerEvent>), E>,
    ) -> Result<T, E> {
        // Nothing panics while holding it; a poisoned lock still orders.
        let _order = self
            .inner
            .commit_order
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (value, events) = write()?;
        for event in events {
            self.publish(event);
        }
        Ok(value)
    }

    /// Keeps a line a model's process (or Corral) logged and sends it to the tabs that
    /// subscribed.
    pub fn log(&self, source: LogSource, run_id: i64, stream: LogStream, text: &str) -> LogLine {
        let line = self
            .inner
            .logs
            .append(source, run_id, stream, text, now_ms());
        let _ = self
            .inner
            .log_lines
            .send(Arc::new(Published::new(ServerEvent::Log(line.clone()))));
        line
    }

    /// A log's last `limit` lines, oldest first.
    pub fn log_history(&self, source: LogSource, limit: usize) -> Vec<LogLine> {
        self.inner.logs.history(source, limit)
    }

    /// Forgets a deleted model's log.
    pub fn forget_log(&self, model_id: i64) {
        self.inner.logs.forget(LogSource::Model(model_id));
    }

    /// The state now, with the current client count.
    /// Reads a part of the live state without copying the rest (a snapshot copies every model).
    pub fn read<T>(&self, read: impl FnOnce(&Snapshot) -> T) -> T {
        read(&self.inner.state.borrow())
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut snapshot = self.inner.state.borrow().clone();
        snapshot.server.clients = self.clients();
        snapshot
    }

    /// Events from now on. Subscribe before taking the snapshot so nothing falls in between.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.inner.events.subscribe()
    }

    /// Log lines from now on (`log`), for the tabs that subscribe to a log.
    pub fn subscribe_logs(&self) -> broadcast::Receiver<Arc<Published>> {
        self.inner.log_lines.subscribe()
    }

    /// A place for one more connection, or `None` at the cap.
    pub fn try_connect(&self) -> Option<ClientSlot> {
        let taken = self
            .inner
            .clients
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.inner.config.max_clients).then_some(n + 1)
            });
        taken.ok().map(|_| ClientSlot { hub: self.clone() })
    }

    pub fn clients(&self) -> usize {
        self.inner.clients.load(Ordering::SeqCst)
    }

    pub fn max_clients(&self) -> usize {
        self.inner.config.max_clients
    }

    pub fn started_at(&self) -> i64 {
        self.inner.state.borrow().server.started_at
    }
}

/// Tells every tab about the server (its client count) when that changed, at most once per
/// `every`: publishing on each connect would send n² messages when many tabs connect at once.
pub fn spawn_status_updates(hub: Hub, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut published = usize::MAX;
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let clients = hub.clients();
            if clients != published {
                published = clients;
                let mut status = hub.snapshot().server;
                status.clients = clients;
                hub.publish(ServerEvent::ServerStatus(status));
            }
        }
    })
}
