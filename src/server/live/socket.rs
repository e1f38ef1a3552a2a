//! One tab's connection: snapshot first, then every event with a rising `seq`; client messages
//! answered; heartbeats; limits. Written against any `Sink`/`Stream` of frames so tests can drive
//! it without a network; `route.rs` adapts Axum's WebSocket to it.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use crate::domain::live::{ClientMessage, Envelope, ErrorCode, ErrorFrame, ServerEvent};
use crate::domain::run::{LogLine, LogSource};
use crate::server::live::Hub;
use crate::server::live::published::Published;

/// A WebSocket frame, as far as the connection loop cares.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Text(String),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close { code: u16, reason: String },
}

/// Close codes used (RFC 6455).
pub const CLOSE_GOING_AWAY: u16 = 1001;
pub const CLOSE_POLICY_VIOLATION: u16 = 1008;
pub const CLOSE_TRY_AGAIN_LATER: u16 = 1013;

#[derive(Debug, Clone, Copy)]
pub struct SocketLimits {
    /// How often the server pings.
    pub heartbeat: Duration,
    /// A peer silent for this long (not even a pong) is taken for dead.
    pub idle_timeout: Duration,
    /// The largest client message read.
    pub max_message_bytes: usize,
    /// Sustained client messages per second, and the burst allowed above it.
    pub messages_per_second: f64,
    pub burst: f64,
    /// A frame the peer has not taken in this long (it stopped reading) ends the connection:
    /// a stalled tab must not keep its place, nor hold events for itself.
    pub send_timeout: Duration,
}

impl Default for SocketLimits {
    fn default() -> Self {
        SocketLimits {
            heartbeat: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(45),
            max_message_bytes: 64 * 1024,
            messages_per_second: 20.0,
            burst: 40.0,
            send_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves one connection until the peer leaves, goes silent or the hub closes.
pub async fn serve<Tx, Rx>(hub: &Hub, tx: Tx, mut rx: Rx, limits: SocketLimits)
where
    Tx: Sink<Frame> + Unpin,
    Rx: Stream<Item = Frame> + Unpin,
{
    let mut events = hub.subscribe();
    let mut log_lines = hub.subscribe_logs();
    let mut out = Outbox {
        tx,
        seq: 0,
        send_timeout: limits.send_timeout,
    };
    if out
        .event(ServerEvent::Snapshot(hub.snapshot()))
        .await
        .is_err()
    {
        return;
    }
    let mut logs = LogSubscriptions::default();
    let mut bucket = TokenBucket::new(limits.burst, limits.messages_per_second);
    let mut heartbeat =
        tokio::time::interval_at(Instant::now() + limits.heartbeat, limits.heartbeat);
    let mut last_heard = Instant::now();
    loop {
        let sent = tokio::select! {
            event = events.recv() => match event {
                Ok(event) => match &**event {
                    ServerEvent::Log(line) if !logs.wants(line) => Ok(()),
                    _ => out.published(&event).await,
                },
                // Too far behind to catch up event by event: start over from the state.
                Err(RecvError::Lagged(_)) => out.event(ServerEvent::Snapshot(hub.snapshot())).await,
                Err(RecvError::Closed) => break,
            },
            line = log_lines.recv() => match line {
                Ok(line) => match &**line {
                    ServerEvent::Log(line) if !logs.wants(line) => Ok(()),
                    _ => out.published(&line).await,
                },
                // Lines missed are in the log's history, which a new subscription replays.
                Err(RecvError::Lagged(_)) => Ok(()),
                Err(RecvError::Closed) => break,
            },
            frame = rx.next() => {
                let Some(frame) = frame else { break };
                last_heard = Instant::now();
                match frame {
                    Frame::Text(text) => {
                        let mut result = Ok(());
                        for reply in answer(hub, &text, &mut logs, &mut bucket, &limits) {
                            result = out.event(reply).await;
                            if result.is_err() {
                                break;
                            }
                        }
                        result
                    }
                    Frame::Close { .. } => break,
                    Frame::Ping(_) | Frame::Pong(_) => Ok(()),
                }
            }
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > limits.idle_timeout {
                    let _ = out.close(CLOSE_GOING_AWAY, "no heartbeat from the client").await;
                    break;
                }
                out.frame(Frame::Ping(Vec::new())).await
            }
        };
        match sent {
            Ok(()) => {}
            Err(SendFailure::Gone) => break,
            Err(SendFailure::TooSlow) => {
                tracing::info!("closing a live connection that stopped reading");
                let reason = format!(
                    "the client read nothing for {} s",
                    limits.send_timeout.as_secs()
                );
                let _ = out.close(CLOSE_POLICY_VIOLATION, &reason).await;
                break;
            }
        }
    }
}

/// Why a frame could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendFailure {
    /// The connection is closed.
    Gone,
    /// The peer did not take the frame within the send timeout.
    TooSlow,
}

/// The models whose log this tab follows, and the last line it was sent of each: a line replayed
/// on subscribe may also be waiting in the event queue, and must not arrive twice.
#[derive(Default)]
struct LogSubscriptions {
    last_sent: BTreeMap<LogSource, u64>,
}

impl LogSubscriptions {
    fn wants(&mut self, line: &LogLine) -> bool {
        match self.last_sent.get_mut(&line.source) {
            Some(last) if line.seq > *last => {
                *last = line.seq;
                true
            }
            _ => false,
        }
    }
}

/// Lines replayed to a tab when it subscribes to a model's log.
const REPLAYED_LINES: usize = 500;

/// What to say back to one client message: nothing, one reply, or a log replay.
fn answer(
    hub: &Hub,
    text: &str,
    logs: &mut LogSubscriptions,
    bucket: &mut TokenBucket,
    limits: &SocketLimits,
) -> Vec<ServerEvent> {
    let error = |code, message: String| vec![ServerEvent::Error(ErrorFrame { code, message })];
    if !bucket.take() {
        // One notice per refill, not one per dropped message: a flood must not be echoed.
        return if bucket.should_notify() {
            error(
                ErrorCode::RateLimited,
                format!(
                    "more than {} messages per second; messages are dropped",
                    limits.messages_per_second
                ),
            )
        } else {
            Vec::new()
        };
    }
    if text.len() > limits.max_message_bytes {
        return error(
            ErrorCode::InvalidFormat,
            format!(
                "a message may be at most {} bytes",
                limits.max_message_bytes
            ),
        );
    }
    match ClientMessage::decode(text) {
        Ok(ClientMessage::Ping {}) => vec![ServerEvent::Pong],
        Ok(ClientMessage::Subscribe { channels }) => {
            let mut replay = Vec::new();
            for source in channels.iter().filter_map(|c| LogSource::from_channel(c)) {
                if logs.last_sent.contains_key(&source) {
                    continue;
                }
                let history = hub.log_history(source, REPLAYED_LINES);
                logs.last_sent
                    .insert(source, history.last().map_or(0, |l| l.seq));
                replay.extend(history.into_iter().map(ServerEvent::Log));
            }
            replay
        }
        Ok(ClientMessage::Unsubscribe { channels }) => {
            for source in channels.iter().filter_map(|c| LogSource::from_channel(c)) {
                logs.last_sent.remove(&source);
            }
            Vec::new()
        }
        Err(frame) => vec![ServerEvent::Error(frame)],
    }
}

/// How long a closing frame may take to go out before the connection is simply dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Numbers and sends events, each within the send timeout.
struct Outbox<Tx> {
    tx: Tx,
    seq: u64,
    send_timeout: Duration,
}

impl<Tx: Sink<Frame> + Unpin> Outbox<Tx> {
    async fn event(&mut self, event: ServerEvent) -> Result<(), SendFailure> {
        self.seq += 1;
        let text = serde_json::to_string(&Envelope {
            seq: self.seq,
            event,
        })
        .map_err(|_| SendFailure::Gone)?;
        self.frame(Frame::Text(text)).await
    }

    /// A hub event: its shared encoding with this tab's `seq` spliced in.
    async fn published(&mut self, event: &Published) -> Result<(), SendFailure> {
        self.seq += 1;
        let text = event.envelope(self.seq).ok_or(SendFailure::Gone)?;
        self.frame(Frame::Text(text)).await
    }

    async fn frame(&mut self, frame: Frame) -> Result<(), SendFailure> {
        match tokio::time::timeout(self.send_timeout, self.tx.send(frame)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(SendFailure::Gone),
            Err(_) => Err(SendFailure::TooSlow),
        }
    }

    async fn close(&mut self, code: u16, reason: &str) -> Result<(), SendFailure> {
        let frame = Frame::Close {
            code,
            reason: reason.to_string(),
        };
        match tokio::time::timeout(CLOSE_TIMEOUT, self.tx.send(frame)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(SendFailure::Gone),
            Err(_) => Err(SendFailure::TooSlow),
        }
    }
}

/// Allows `rate` messages per second with bursts up to `capacity`.
struct TokenBucket {
    tokens: f64,
    capacity: f64,
    rate: f64,
    refilled: Instant,
    notified: Option<Instant>,
}

impl TokenBucket {
    fn new(capacity: f64, rate: f64) -> Self {
        TokenBucket {
            tokens: capacity,
            capacity,
            rate,
            refilled: Instant::now(),
            notified: None,
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.refilled).as_secs_f64() * self.rate)
            .min(self.capacity);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn should_notify(&mut self) -> bool {
        let now = Instant::now();
        let due = self
            .notified
            .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1));
        if due {
            self.notified = Some(now);
        }
        due
    }
}
