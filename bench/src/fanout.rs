//! WebSocket fan-out: tabs connected over loopback, each reading every frame the way a browser
//! would (whole frames, no shortcuts on the server's side). A model rename is the update: its
//! new name carries the round and the moment it was sent, so each tab can tell which update it
//! holds and how late it is without a clock of its own.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::http::Call;

/// Models the renames rotate over (the benchmark creates them first).
pub const MODELS: usize = 10;

/// What every tab reports into.
pub struct Shared {
    epoch: Instant,
    /// The round whose arrival is being timed, and how many tabs have it.
    round: AtomicU64,
    arrived: AtomicUsize,
    expected: AtomicUsize,
    last_arrival: Mutex<Option<Instant>>,
    all_arrived: Notify,
    /// Renames delivered, over all tabs.
    pub delivered: AtomicU64,
    /// Fresh snapshots after the first: a tab fell more than the server's backlog behind.
    pub resnapshots: AtomicUsize,
    /// The latest a rename arrived after it was sent, in microseconds.
    pub max_delay_us: AtomicU64,
    /// Tabs whose connection ended.
    pub closed: AtomicUsize,
}

pub struct Tabs {
    pub shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl Tabs {
    pub fn new() -> Tabs {
        Tabs {
            shared: Arc::new(Shared {
                epoch: Instant::now(),
                round: AtomicU64::new(0),
                arrived: AtomicUsize::new(0),
                expected: AtomicUsize::new(0),
                last_arrival: Mutex::new(None),
                all_arrived: Notify::new(),
                delivered: AtomicU64::new(0),
                resnapshots: AtomicUsize::new(0),
                max_delay_us: AtomicU64::new(0),
                closed: AtomicUsize::new(0),
            }),
            tasks: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Connects tabs to the Corral at `base` until there are `count`, 50 handshakes at a time;
    /// each has its snapshot before this returns.
    pub async fn grow_to(&mut self, base: &str, count: usize) {
        while self.tasks.len() < count {
            let batch = (count - self.tasks.len()).min(50);
            let mut ready = Vec::new();
            for _ in 0..batch {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let shared = self.shared.clone();
                let base = base.to_string();
                self.tasks.push(tokio::spawn(tab(base, shared, tx)));
                ready.push(rx);
            }
            for rx in ready {
                rx.await.expect("a tab connects and gets its snapshot");
            }
        }
    }

    /// The rename that announces `round`: the new name carries the send time for the delay
    /// measurement.
    pub fn rename(&self, round: u64) -> Call {
        let name = format!("fan {round} {}", self.shared.epoch.elapsed().as_micros());
        Call::post(
            "/api/models/update",
            json!({"id": round % MODELS as u64 + 1, "changes": {"name": name}}),
        )
    }

    /// Arms the timer for `round`: the tabs count its arrivals from now on.
    pub fn expect_round(&self, round: u64) {
        let shared = &self.shared;
        *shared.last_arrival.lock().expect("not poisoned") = None;
        shared.arrived.store(0, Ordering::SeqCst);
        shared.expected.store(self.tasks.len(), Ordering::SeqCst);
        shared.round.store(round, Ordering::SeqCst);
    }

    /// Waits until every tab has the armed round; `None` after `limit`.
    pub async fn all_arrived(&self, limit: Duration) -> Option<Instant> {
        let shared = &self.shared;
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = shared.all_arrived.notified();
            if let Some(at) = *shared.last_arrival.lock().expect("not poisoned") {
                return Some(at);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    pub fn close(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}

async fn tab(base: String, shared: Arc<Shared>, ready: tokio::sync::oneshot::Sender<()>) {
    let Ok(socket) = crate::socket::connect(&base).await else {
        shared.closed.fetch_add(1, Ordering::SeqCst);
        return;
    };
    // Pings are answered by the library while reading; nothing is ever sent otherwise.
    let (_tx, mut rx) = socket.split();
    let mut ready = Some(ready);
    while let Some(Ok(message)) = rx.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        if text.contains("\"type\":\"snapshot\"") {
            match ready.take() {
                Some(ready) => {
                    let _ = ready.send(());
                }
                None => {
                    shared.resnapshots.fetch_add(1, Ordering::SeqCst);
                }
            }
            continue;
        }
        if let Some((round, sent_us)) = rename(&text) {
            let now = Instant::now();
            shared.delivered.fetch_add(1, Ordering::Relaxed);
            let delay = (now - shared.epoch).as_micros() as u64;
            shared
                .max_delay_us
                .fetch_max(delay.saturating_sub(sent_us), Ordering::Relaxed);
            if round == shared.round.load(Ordering::SeqCst) {
                let arrived = shared.arrived.fetch_add(1, Ordering::SeqCst) + 1;
                if arrived == shared.expected.load(Ordering::SeqCst) {
                    *shared.last_arrival.lock().expect("not poisoned") = Some(now);
                    shared.all_arrived.notify_waiters();
                }
            }
        }
    }
    shared.closed.fetch_add(1, Ordering::SeqCst);
}

/// `"name":"fan <round> <sent µs>"` in a `model_updated` frame.
fn rename(text: &str) -> Option<(u64, u64)> {
    if !text.contains("\"type\":\"model_updated\"") {
        return None;
    }
    let (_, rest) = text.split_once("\"name\":\"fan ")?;
    let (name, _) = rest.split_once('"')?;
    let (round, sent) = name.split_once(' ')?;
    Some((round.parse().ok()?, sent.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::rename;

    #[test]
    fn a_rename_frame_yields_its_round_and_send_time() {
        let frame = r#"{"seq":7,"type":"model_updated","data":{"id":1,"name":"fan 12 3456","path":"/m.gguf"}}"#;
        assert_eq!(rename(frame), Some((12, 3456)));
    }

    #[test]
    fn other_frames_are_not_renames() {
        assert_eq!(rename(r#"{"seq":1,"type":"metrics","data":{}}"#), None);
        let other = r#"{"seq":2,"type":"model_updated","data":{"name":"model 3"}}"#;
        assert_eq!(rename(other), None);
    }
}
