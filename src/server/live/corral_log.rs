//! Corral's own log, as a live log like a model's (`logs:corral`): a tracing layer that copies
//! every event that passes the filter into the hub, written for a person: the message, then
//! its facts in words with models by name (`llama-server ended (model qwen, run 2, pid 123)`),
//! no module paths. The hub exists only after start-up, so the layer is installed first and
//! attached later; events before that go to stderr only (as they are, for operators).

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

use crate::domain::run::{LogSource, LogStream};
use crate::server::live::Hub;

/// The layer; `attach` on its handle starts the copying.
pub struct CorralLogLayer {
    hub: Arc<OnceLock<Hub>>,
}

#[derive(Clone)]
pub struct CorralLogHandle {
    hub: Arc<OnceLock<Hub>>,
}

pub fn layer() -> (CorralLogLayer, CorralLogHandle) {
    let hub = Arc::new(OnceLock::new());
    (CorralLogLayer { hub: hub.clone() }, CorralLogHandle { hub })
}

impl CorralLogHandle {
    pub fn attach(&self, hub: Hub) {
        let _ = self.hub.set(hub);
    }
}

impl<S: Subscriber> Layer<S> for CorralLogLayer {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let Some(hub) = self.hub.get() else { return };
        let mut line = Line::default();
        event.record(&mut line);
        let level = match *event.metadata().level() {
            Level::ERROR => "Error: ",
            Level::WARN => "Warning: ",
            _ => "",
        };
        let facts: Vec<String> = line
            .fields
            .iter()
            .map(|(key, value)| in_words(hub, key, value))
            .collect();
        let mut text = format!("{level}{}", line.message);
        if !facts.is_empty() {
            let _ = write!(text, " ({})", facts.join(", "));
        }
        hub.log(LogSource::Corral, 0, LogStream::Stderr, &text);
    }
}

/// One fact of an event in words: a model id becomes the model's name.
fn in_words(hub: &Hub, key: &str, value: &str) -> String {
    let model = |value: &str| {
        let name = value.parse::<i64>().ok().and_then(|id| {
            hub.read(|s| {
                s.models
                    .iter()
                    .find(|m| m.id == id)
                    .map(|m| m.spec.name.clone())
            })
        });
        name.unwrap_or_else(|| format!("#{value}"))
    };
    match key {
        "model_id" | "model" | "victim" => format!("model {}", model(value)),
        "stopping" => format!("stopping {}", model(value)),
        "starting" => format!("to start {}", model(value)),
        "error" | "kill_error" => value.to_string(),
        "run_id" => format!("run {value}"),
        other => format!("{} {value}", other.replace('_', " ")),
    }
}

/// An event's message and its other fields, each as text.
#[derive(Default)]
struct Line {
    message: String,
    fields: Vec<(&'static str, String)>,
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.fields.push((field.name(), value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            self.fields.push((field.name(), format!("{value:?}")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn events_after_attaching_reach_the_corral_log_in_words_with_model_names() {
        let model: crate::domain::Model = serde_json::from_value(serde_json::json!({
            "id": 3, "name": "qwen", "path": "/m/q.gguf", "kind": "qwen", "status": "stopped",
            "created_at": 0, "updated_at": 0
        }))
        .unwrap();
        let hub = Hub::new(vec![model], 0, Default::default());
        let (layer, handle) = layer();
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("before attaching");
            handle.attach(hub.clone());
            tracing::warn!(model_id = 3, pid = 77, "stopping a leftover");
            tracing::info!(stopping = 9, starting = 3, "making room");
        });
        let lines: Vec<String> = hub
            .log_history(LogSource::Corral, 10)
            .into_iter()
            .map(|l| l.text)
            .collect();
        assert_eq!(
            lines,
            [
                "Warning: stopping a leftover (model qwen, pid 77)",
                "making room (stopping #9, to start qwen)"
            ]
        );
    }
}
