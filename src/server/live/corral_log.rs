//! Corral's own log, as a live log like a model's (`logs:corral`): a tracing layer that copies
//! every event that passes the filter into the hub. The hub exists only after start-up, so the
//! layer is installed first and attached later; events before that go to stderr only.

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
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
        let metadata = event.metadata();
        let mut line = Line::default();
        event.record(&mut line);
        let text = format!(
            "{} {}: {}{}",
            metadata.level(),
            metadata.target(),
            line.message,
            line.fields
        );
        hub.log(LogSource::Corral, 0, LogStream::Stderr, &text);
    }
}

/// An event's message and its other fields as ` key=value`.
#[derive(Default)]
struct Line {
    message: String,
    fields: String,
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn events_after_attaching_reach_the_corral_log_with_their_fields() {
        let hub = Hub::new(Vec::new(), 0, Default::default());
        let (layer, handle) = layer();
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("before attaching");
            handle.attach(hub.clone());
            tracing::warn!(model_id = 3, "stopping a leftover");
        });
        let lines: Vec<String> = hub
            .log_history(LogSource::Corral, 10)
            .into_iter()
            .map(|l| l.text)
            .collect();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].starts_with("WARN "), "{lines:?}");
        assert!(
            lines[0].ends_with("stopping a leftover model_id=3"),
            "{lines:?}"
        );
    }
}
