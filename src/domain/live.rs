//! The live channel's messages, one enum each way, shared by the server and the browser.
//! Server → browser: `{"type": ..., "seq": N, "data": ...}`, `seq` rising by one per connection.
//! Browser → server: `{"type": "subscribe" | "unsubscribe", "channels": [..]}` or `{"type": "ping"}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::Model;
use crate::domain::activity::{Activity, ModelDemand};
use crate::domain::command_diff::PendingRestart;
use crate::domain::metrics::SystemSample;
use crate::domain::run::{LiveRun, LogLine, LogSource};
use crate::domain::run_group::RunGroup;
use crate::domain::virtual_model::VirtualModel;

/// What the server knows about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerStatus {
    pub version: String,
    /// Unix milliseconds when this Corral started.
    pub started_at: i64,
    pub clients: usize,
    /// The llama-server binary models run with, or `None` when Corral found none.
    pub llama_server: Option<String>,
}

/// `GET /api/ws/status`: who is connected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveStatus {
    pub clients: usize,
    pub max_clients: usize,
    pub uptime_seconds: u64,
}

/// How many recent samples the live state keeps: five minutes at one per second.
pub const RECENT_SAMPLES: usize = 300;

/// How many recent gateway requests the live state keeps (older ones are paged from the store).
pub const RECENT_ACTIVITY: usize = 100;

/// Everything a tab needs to draw itself; sent first on every connection and after a lag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub models: Vec<Model>,
    pub server: ServerStatus,
    /// The last few minutes of system samples, oldest first (for live charts).
    pub metrics: Vec<SystemSample>,
    /// Processes alive now, one per model at most.
    pub runs: Vec<LiveRun>,
    /// The latest gateway requests, oldest first.
    #[serde(default)]
    pub activity: Vec<Activity>,
    /// Requests queued and in flight, per model that holds any.
    #[serde(default)]
    pub demand: Vec<ModelDemand>,
    /// Moves on whenever the files in the model folders change (`discovery/list` says how).
    #[serde(default)]
    pub files_generation: u64,
    /// Running models whose saved settings would start a different command: "Restart to apply".
    #[serde(default)]
    pub pending_restarts: Vec<PendingRestart>,
    /// Names served by one of several models (what each would use now follows from `models`,
    /// `runs` and `demand`, by `VirtualModel::pick`).
    #[serde(default)]
    pub virtual_models: Vec<VirtualModel>,
    /// Run-together groups, each with its members by name.
    #[serde(default)]
    pub run_groups: Vec<RunGroup>,
}

impl Snapshot {
    /// Applies one event. Idempotent: an event already reflected in the snapshot (it raced the
    /// snapshot on connect) changes nothing, so tab and server always converge.
    pub fn apply(&mut self, event: &ServerEvent) {
        match event {
            ServerEvent::Snapshot(snapshot) => *self = snapshot.clone(),
            ServerEvent::ModelCreated(model) | ServerEvent::ModelUpdated(model) => {
                match self.models.iter_mut().find(|m| m.id == model.id) {
                    Some(existing) => *existing = model.clone(),
                    None => self.models.push(model.clone()),
                }
            }
            ServerEvent::ModelDeleted { id } => self.models.retain(|m| m.id != *id),
            ServerEvent::Metrics(sample) => {
                if self.metrics.last().is_none_or(|last| last.at < sample.at) {
                    self.metrics.push(sample.clone());
                    let overflow = self.metrics.len().saturating_sub(RECENT_SAMPLES);
                    self.metrics.drain(..overflow);
                }
            }
            ServerEvent::ServerStatus(status) => self.server = status.clone(),
            ServerEvent::RunUpdated(run) => {
                match self.runs.iter_mut().find(|r| r.model_id == run.model_id) {
                    Some(existing) => *existing = run.clone(),
                    None => self.runs.push(run.clone()),
                }
            }
            ServerEvent::RunEnded { model_id, run_id } => {
                self.runs
                    .retain(|r| !(r.model_id == *model_id && r.run_id == *run_id));
                // A new run starts from the saved settings: nothing waits any more.
                self.pending_restarts
                    .retain(|p| !(p.model_id == *model_id && p.run_id == *run_id));
            }
            ServerEvent::PendingRestart(pending) => {
                self.pending_restarts
                    .retain(|p| p.model_id != pending.model_id);
                let live = self
                    .runs
                    .iter()
                    .any(|r| r.model_id == pending.model_id && r.run_id == pending.run_id);
                if live && !pending.changes.is_empty() {
                    self.pending_restarts.push(pending.clone());
                }
            }
            ServerEvent::Activity(records) => {
                for record in records {
                    if self.activity.last().is_none_or(|last| last.id < record.id) {
                        self.activity.push(record.clone());
                    }
                }
                let overflow = self.activity.len().saturating_sub(RECENT_ACTIVITY);
                self.activity.drain(..overflow);
            }
            ServerEvent::Demand(demand) => self.demand = demand.clone(),
            ServerEvent::FilesChanged { generation } => {
                self.files_generation = self.files_generation.max(*generation);
            }
            ServerEvent::VirtualModels(all) => self.virtual_models = all.clone(),
            ServerEvent::RunGroups(all) => self.run_groups = all.clone(),
            // Log lines go only to the tabs that asked, and are not part of the state.
            ServerEvent::Log(_) | ServerEvent::Pong | ServerEvent::Error(_) => {}
        }
    }
}

/// One thing that happened, as every tab hears it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum ServerEvent {
    Snapshot(Snapshot),
    ModelCreated(Model),
    ModelUpdated(Model),
    ModelDeleted {
        id: i64,
    },
    Metrics(SystemSample),
    ServerStatus(ServerStatus),
    /// A process started, became ready, or has new numbers.
    RunUpdated(LiveRun),
    /// A process ended; the model's status says how.
    RunEnded {
        model_id: i64,
        run_id: i64,
    },
    /// Gateway requests just recorded, oldest first.
    Activity(Vec<Activity>),
    /// Requests queued and in flight per model, whole, when it changed.
    Demand(Vec<ModelDemand>),
    /// The files in the model folders changed.
    FilesChanged {
        generation: u64,
    },
    /// What a restart of a running model would change now (no changes: nothing waits).
    PendingRestart(PendingRestart),
    /// Every virtual model, whole, after any change.
    VirtualModels(Vec<VirtualModel>),
    /// Every run-together group, whole, after any change (a member renamed or deleted too).
    RunGroups(Vec<RunGroup>),
    /// A line a model's process logged (only to tabs subscribed to `logs:<id>`).
    Log(LogLine),
    Pong,
    Error(ErrorFrame),
}

/// A server message on the wire: the event and its place in this connection's sequence,
/// `{"seq":…,"type":…,"data":…}`. Read with [`Envelope::from_json`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Envelope {
    pub seq: u64,
    #[serde(flatten)]
    pub event: ServerEvent,
}

impl Envelope {
    /// Reads one message. Not a derived `Deserialize`: a flattened field makes serde buffer
    /// the whole message as generic values first, and a snapshot of 1,000 models (340 KB)
    /// then took most of the browser's time between hydration and live. Here the text is
    /// read twice instead: once for `seq`, skipping the rest without keeping it, once for the
    /// event, whose tagged form ignores `seq`.
    pub fn from_json(text: &str) -> serde_json::Result<Envelope> {
        #[derive(Deserialize)]
        struct Seq {
            seq: u64,
        }
        let Seq { seq } = serde_json::from_str(text)?;
        let event = serde_json::from_str(text)?;
        Ok(Envelope { seq, event })
    }
}

choice_enum! {
    /// Why a client message was refused; the connection stays open.
    pub enum ErrorCode {
        InvalidFormat => "INVALID_FORMAT",
        UnknownType => "UNKNOWN_TYPE",
        InvalidPayload => "INVALID_PAYLOAD",
        UnknownChannel => "UNKNOWN_CHANNEL",
        RateLimited => "RATE_LIMITED",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorFrame {
    pub code: ErrorCode,
    pub message: String,
}

/// What a tab may ask for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    Subscribe { channels: Vec<String> },
    Unsubscribe { channels: Vec<String> },
    Ping {},
}

/// Model, server and metrics events go to every tab; channels are the optional streams.
const MAX_CHANNELS_PER_MESSAGE: usize = 64;

impl ClientMessage {
    /// Reads one text frame. Every failure says which kind of wrong it was.
    pub fn decode(text: &str) -> Result<ClientMessage, ErrorFrame> {
        let fail = |code, message: String| ErrorFrame { code, message };
        let value: Value = serde_json::from_str(text)
            .map_err(|e| fail(ErrorCode::InvalidFormat, format!("not JSON: {e}")))?;
        let Some(kind) = value
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            return Err(fail(
                ErrorCode::InvalidFormat,
                "a message is a JSON object with a string \"type\"".into(),
            ));
        };
        if !matches!(kind.as_str(), "subscribe" | "unsubscribe" | "ping") {
            return Err(fail(
                ErrorCode::UnknownType,
                format!("unknown message type '{kind}'; known: subscribe, unsubscribe, ping"),
            ));
        }
        let message: ClientMessage = serde_json::from_value(value).map_err(|e| {
            fail(
                ErrorCode::InvalidPayload,
                format!("bad '{kind}' message: {e}"),
            )
        })?;
        if let ClientMessage::Subscribe { channels } | ClientMessage::Unsubscribe { channels } =
            &message
        {
            if channels.len() > MAX_CHANNELS_PER_MESSAGE {
                return Err(fail(
                    ErrorCode::InvalidPayload,
                    format!("at most {MAX_CHANNELS_PER_MESSAGE} channels per message"),
                ));
            }
            if let Some(unknown) = channels.iter().find(|c| !is_channel(c)) {
                return Err(fail(
                    ErrorCode::UnknownChannel,
                    format!("unknown channel '{unknown}'"),
                ));
            }
        }
        Ok(message)
    }
}

/// `logs:<model id>`: one model's log lines.
pub fn is_channel(name: &str) -> bool {
    LogSource::from_channel(name).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_event_travels_as_type_seq_and_data() {
        let wire = serde_json::to_value(Envelope {
            seq: 7,
            event: ServerEvent::ModelDeleted { id: 3 },
        })
        .unwrap();
        assert_eq!(
            wire,
            json!({"seq": 7, "type": "model_deleted", "data": {"id": 3}})
        );
        let back = Envelope::from_json(&wire.to_string()).unwrap();
        assert_eq!(back.event, ServerEvent::ModelDeleted { id: 3 });
        assert_eq!(back.seq, 7);
    }

    #[test]
    fn an_envelope_reads_the_same_whatever_the_order_of_its_keys() {
        let event = ServerEvent::FilesChanged { generation: 4 };
        for text in [
            r#"{"seq":9,"type":"files_changed","data":{"generation":4}}"#,
            r#"{"type":"files_changed","data":{"generation":4},"seq":9}"#,
            r#"{"data":{"generation":4},"seq":9,"type":"files_changed"}"#,
        ] {
            assert_eq!(
                Envelope::from_json(text).unwrap(),
                Envelope {
                    seq: 9,
                    event: event.clone()
                },
                "{text}"
            );
        }
        let pong = Envelope::from_json(r#"{"seq":2,"type":"pong"}"#).unwrap();
        assert_eq!(pong.event, ServerEvent::Pong);
    }

    #[test]
    fn an_envelope_without_its_seq_or_type_is_refused() {
        assert!(Envelope::from_json(r#"{"type":"pong"}"#).is_err());
        assert!(Envelope::from_json(r#"{"seq":1}"#).is_err());
        assert!(Envelope::from_json(r#"{"seq":1,"type":"nonsense"}"#).is_err());
        assert!(Envelope::from_json("[1]").is_err());
    }

    #[test]
    fn a_pong_has_no_data() {
        let wire = serde_json::to_value(Envelope {
            seq: 1,
            event: ServerEvent::Pong,
        })
        .unwrap();
        assert_eq!(wire, json!({"seq": 1, "type": "pong"}));
    }

    #[test]
    fn client_messages_decode() {
        assert_eq!(
            ClientMessage::decode(r#"{"type":"ping"}"#),
            Ok(ClientMessage::Ping {})
        );
        assert_eq!(
            ClientMessage::decode(r#"{"type":"subscribe","channels":["logs:4"]}"#),
            Ok(ClientMessage::Subscribe {
                channels: vec!["logs:4".into()]
            })
        );
    }

    fn code(text: &str) -> ErrorCode {
        ClientMessage::decode(text).unwrap_err().code
    }

    #[test]
    fn text_that_is_not_a_message_is_an_invalid_format() {
        assert_eq!(code("hello"), ErrorCode::InvalidFormat);
        assert_eq!(code("[1,2]"), ErrorCode::InvalidFormat);
        assert_eq!(code(r#"{"kind":"ping"}"#), ErrorCode::InvalidFormat);
    }

    #[test]
    fn an_unknown_type_is_named() {
        let error = ClientMessage::decode(r#"{"type":"reboot"}"#).unwrap_err();
        assert_eq!(error.code, ErrorCode::UnknownType);
        assert!(error.message.contains("reboot"));
    }

    #[test]
    fn a_known_type_with_bad_fields_is_an_invalid_payload() {
        assert_eq!(code(r#"{"type":"subscribe"}"#), ErrorCode::InvalidPayload);
        assert_eq!(
            code(r#"{"type":"subscribe","channels":"metrics"}"#),
            ErrorCode::InvalidPayload
        );
        assert_eq!(
            code(r#"{"type":"ping","extra":1}"#),
            ErrorCode::InvalidPayload
        );
    }

    fn model(id: i64, name: &str) -> Model {
        serde_json::from_value(json!({
            "id": id, "name": name, "kind": "other", "path": "/m/x.gguf", "size_bytes": null,
            "status": "stopped", "status_reason": null, "created_at": 0, "updated_at": 0
        }))
        .unwrap()
    }

    fn empty() -> Snapshot {
        Snapshot {
            models: vec![],
            server: ServerStatus {
                version: "test".into(),
                started_at: 0,
                clients: 0,
                llama_server: None,
            },
            metrics: vec![],
            runs: vec![],
            activity: vec![],
            demand: vec![],
            files_generation: 0,
            pending_restarts: Vec::new(),
            virtual_models: Vec::new(),
            run_groups: Vec::new(),
        }
    }

    #[test]
    fn applying_an_event_twice_equals_applying_it_once() {
        let events = [
            ServerEvent::ModelCreated(model(1, "a")),
            ServerEvent::ModelUpdated(model(1, "b")),
            ServerEvent::ModelCreated(model(2, "c")),
            ServerEvent::ModelDeleted { id: 1 },
        ];
        let mut once = empty();
        let mut twice = empty();
        for event in &events {
            once.apply(event);
            twice.apply(event);
            twice.apply(event);
        }
        assert_eq!(once, twice);
        assert_eq!(once.models, vec![model(2, "c")]);
    }

    #[test]
    fn a_pending_restart_lasts_as_long_as_its_run_and_no_changes_clear_it() {
        use crate::domain::command_diff::{CommandChange, PendingRestart};
        let run = |run_id| LiveRun {
            model_id: 1,
            run_id,
            pid: 7,
            port: 8100,
            started_at: 0,
            ready_at: Some(1),
            stage: None,
            sample: None,
            typical_load_ms: None,
            asleep: false,
            wake_ms: None,
            kv_restore: None,
        };
        let pending = |run_id, changes: Vec<CommandChange>| {
            ServerEvent::PendingRestart(PendingRestart {
                model_id: 1,
                run_id,
                changes,
            })
        };
        let change = vec![CommandChange {
            flag: "--ctx-size".into(),
            before: Some("256".into()),
            after: Some("512".into()),
        }];
        let mut state = empty();
        // Measured against a run that is not live: nothing waits.
        state.apply(&pending(5, change.clone()));
        assert!(state.pending_restarts.is_empty());
        state.apply(&ServerEvent::RunUpdated(run(5)));
        state.apply(&pending(5, change.clone()));
        state.apply(&pending(5, change.clone()));
        assert_eq!(state.pending_restarts.len(), 1);
        state.apply(&pending(5, vec![]));
        assert!(state.pending_restarts.is_empty());
        state.apply(&pending(5, change));
        state.apply(&ServerEvent::RunEnded {
            model_id: 1,
            run_id: 5,
        });
        assert!(state.pending_restarts.is_empty());
    }

    #[test]
    fn a_snapshot_event_replaces_everything() {
        let mut state = empty();
        state.apply(&ServerEvent::ModelCreated(model(1, "stale")));
        let mut fresh = empty();
        fresh.models.push(model(9, "fresh"));
        state.apply(&ServerEvent::Snapshot(fresh.clone()));
        assert_eq!(state, fresh);
    }

    #[test]
    fn an_unknown_channel_is_refused() {
        assert_eq!(
            code(r#"{"type":"subscribe","channels":["gossip"]}"#),
            ErrorCode::UnknownChannel
        );
        assert_eq!(
            code(r#"{"type":"subscribe","channels":["logs:0"]}"#),
            ErrorCode::UnknownChannel
        );
        assert_eq!(
            code(r#"{"type":"subscribe","channels":["logs:abc"]}"#),
            ErrorCode::UnknownChannel
        );
    }
}
