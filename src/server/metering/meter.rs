//! One request's meter: started when the request arrives, told what happened along the way, and
//! turned into an activity record exactly once: when the answer ends, when the request is
//! refused, or when it is dropped because the client went away (whatever the stage).

use std::time::Instant;

use axum::http::StatusCode;

use crate::domain::activity::Activity;
use crate::domain::text;
use crate::server::gateway::on_demand::Lease;
use crate::server::http::write_deadline::WriteStall;
use crate::server::metering::Metering;
use crate::server::metering::answer_reader::AnswerReader;
use crate::server::now_ms;

/// The status a request gets when its client leaves before an answer began (nginx's).
pub const CLIENT_CLOSED: u16 = 499;

pub struct Meter {
    metering: Metering,
    received: Instant,
    record: Activity,
    reader: AnswerReader,
    answering: bool,
    done: bool,
    /// The connection's write clock: when it ran out, the client stopped taking bytes.
    stall: Option<WriteStall>,
}

impl Meter {
    /// A meter for a request that just arrived at `endpoint`.
    pub fn begin(metering: &Metering, endpoint: impl Into<String>) -> Meter {
        let (metering, endpoint) = (metering.clone(), endpoint.into());
        Meter {
            metering,
            received: Instant::now(),
            record: Activity {
                received_at: now_ms(),
                endpoint,
                ..Activity::default()
            },
            reader: AnswerReader::Other,
            answering: false,
            done: false,
            stall: None,
        }
    }

    /// The connection the answer goes out on, to tell a client that stopped reading from one
    /// that left.
    pub fn connection(&mut self, stall: Option<WriteStall>) {
        self.stall = stall;
    }

    /// The name the request asked for, before it is known to match a model.
    pub fn asked_for(&mut self, name: &str) {
        self.record.model = text::kept(name);
    }

    /// Who asked (a key's prefix, `session`), when a login is required.
    pub fn caller(&mut self, caller: Option<String>) {
        self.record.caller = caller;
    }

    /// The route, once it is known more exactly than at arrival.
    pub fn endpoint(&mut self, endpoint: String) {
        self.record.endpoint = text::kept(&endpoint);
    }

    /// The virtual model the client named, which picked the model that serves.
    pub fn via(&mut self, name: &str) {
        self.record.via = Some(name.to_string());
    }

    pub fn model(&mut self, id: i64, name: &str) {
        self.record.model_id = Some(id);
        self.record.model = name.to_string();
    }

    /// The request goes to the model's server now.
    pub fn sent(&mut self, upstream: &Lease) {
        let waited = self.elapsed_ms();
        let load = upstream.load_ms.map(|ms| ms.min(waited));
        self.record.run_id = Some(upstream.run_id);
        self.record.started_model = upstream.started;
        self.record.load_ms = load;
        self.record.queue_ms = Some(waited - load.unwrap_or(0));
    }

    /// The server's answer began: its status and the kind of body that follows.
    pub fn answer(&mut self, status: StatusCode, content_type: Option<&str>) {
        self.record.status = status.as_u16();
        self.reader = AnswerReader::for_content_type(content_type);
        self.answering = true;
    }

    /// A piece of the answer went by.
    pub fn read(&mut self, bytes: &[u8]) {
        if self.reader.read(bytes) && self.record.ttft_ms.is_none() {
            self.record.ttft_ms = Some(self.elapsed_ms());
        }
    }

    /// The request was refused (or the answer failed) with this status and message.
    pub fn refused(mut self, status: StatusCode, message: &str) {
        self.record.status = status.as_u16();
        self.record.error = Some(text::kept(message));
        self.finish();
    }

    /// The answer ended, whole (`None`) or broken.
    pub fn ended(mut self, error: Option<String>) {
        self.record.error = error;
        self.finish();
    }

    fn elapsed_ms(&self) -> i64 {
        i64::try_from(self.received.elapsed().as_millis()).unwrap_or(i64::MAX)
    }

    fn finish(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        // A failed answer says why in its body (llama-server's "exceeds the available context
        // size"), or a stream in an error event: the record keeps the words.
        if self.record.error.is_none()
            && let Some(message) = self.reader.error_message(self.record.status >= 400)
        {
            self.record.error = Some(text::kept(&message));
        }
        let cost = self.reader.cost();
        self.record.prompt_tokens = cost.prompt_tokens;
        self.record.cached_tokens = cost.cached_tokens;
        self.record.generated_tokens = cost.generated_tokens;
        self.record.prompt_tokens_per_s = cost.prompt_tokens_per_s;
        self.record.generation_tokens_per_s = cost.generation_tokens_per_s;
        self.record.duration_ms = self.elapsed_ms();
        let record = std::mem::take(&mut self.record);
        self.metering.record(record);
    }
}

impl Drop for Meter {
    /// The client went away: before an answer began (499), or in the middle of it.
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let Some(stall) = self.stall.as_ref().filter(|s| s.timed_out()) {
            self.record.error = Some(format!(
                "the client took no bytes for {} s (--stream-write-timeout): the connection was \
                 closed and the model released",
                stall.limit.as_secs()
            ));
        } else if self.answering {
            self.record.error =
                Some("the client closed the connection before the answer ended".into());
        } else {
            self.record.status = CLIENT_CLOSED;
            self.record.error =
                Some("the client closed the connection before an answer began".into());
        }
        self.finish();
    }
}
