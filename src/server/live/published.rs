//! One event as the hub sends it to every subscriber: the event, and its JSON encoded once, by
//! whichever tab needs it first. Each tab's envelope is its own `seq` spliced in front of those
//! bytes (`{"seq":N,` + the event's fields), so a thousand tabs cost one encoding, not a
//! thousand clones and encodings.

use std::ops::Deref;
use std::sync::OnceLock;

use crate::domain::live::ServerEvent;

pub struct Published {
    event: ServerEvent,
    json: OnceLock<Option<String>>,
}

impl Published {
    pub fn new(event: ServerEvent) -> Published {
        Published {
            event,
            json: OnceLock::new(),
        }
    }

    /// The event as JSON (`{"type":…,"data":…}`), encoded on first use; `None` if it cannot be.
    pub fn json(&self) -> Option<&str> {
        self.json
            .get_or_init(|| serde_json::to_string(&self.event).ok())
            .as_deref()
    }

    /// The envelope one tab receives: `{"seq":N,"type":…,"data":…}`, byte for byte what
    /// encoding `Envelope { seq, event }` gives.
    pub fn envelope(&self, seq: u64) -> Option<String> {
        envelope(seq, self.json()?)
    }
}

/// `{"seq":N,` spliced into an event's JSON object.
pub fn envelope(seq: u64, event_json: &str) -> Option<String> {
    let fields = event_json.strip_prefix('{')?;
    let mut text = String::with_capacity(event_json.len() + 24);
    text.push_str("{\"seq\":");
    text.push_str(&seq.to_string());
    if fields != "}" {
        text.push(',');
    }
    text.push_str(fields);
    Some(text)
}

impl Deref for Published {
    type Target = ServerEvent;

    fn deref(&self) -> &ServerEvent {
        &self.event
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::live::Envelope;
    use crate::domain::run::{LogLine, LogSource, LogStream};

    #[test]
    fn the_spliced_envelope_is_exactly_what_encoding_the_envelope_gives() {
        let events = [
            ServerEvent::Pong,
            ServerEvent::ModelDeleted { id: 7 },
            ServerEvent::FilesChanged { generation: 3 },
            ServerEvent::Log(LogLine {
                source: LogSource::Model(2),
                run_id: 9,
                seq: 41,
                at: 1_700_000_000_000,
                stream: LogStream::Stderr,
                text: "a \"quoted\" line ✓".into(),
            }),
        ];
        for event in events {
            for seq in [1, 42, u64::MAX] {
                let expected = serde_json::to_string(&Envelope {
                    seq,
                    event: event.clone(),
                })
                .unwrap_or_default();
                let published = Published::new(event.clone());
                assert_eq!(published.envelope(seq).as_deref(), Some(expected.as_str()));
            }
        }
    }
}
