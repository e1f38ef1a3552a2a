//! Reads a model server's answer as it passes through, for its cost: when the first token came
//! (a streamed answer's first non-empty content or reasoning piece) and the token counts and
//! speeds llama-server reports (`timings`, else `usage`). It never holds the answer: a stream is
//! read line by line (a line longer than `MAX_LINE` is skipped), a whole JSON answer keeps only
//! its first and last `KEPT_EDGE` bytes, where the counts are.

use serde::Deserialize;
use serde_json::Value;

use crate::domain::answer::{
    Cost, error_message, read_counts, read_timings, read_usage, token_piece,
};

/// Longest SSE line looked at; a longer one (never a token piece) is passed on unread.
const MAX_LINE: usize = 256 * 1024;
/// Bytes kept of each end of a JSON answer: `usage` and `timings` sit at one end or the other.
const KEPT_EDGE: usize = 64 * 1024;

pub enum AnswerReader {
    Stream(StreamReader),
    Whole(WholeReader),
    /// An answer that carries no counts (a page, an image, an error in plain text).
    Other,
}

impl AnswerReader {
    pub fn for_content_type(content_type: Option<&str>) -> AnswerReader {
        let kind = content_type
            .and_then(|c| c.split(';').next())
            .map(|c| c.trim().to_ascii_lowercase());
        match kind.as_deref() {
            Some("text/event-stream") => AnswerReader::Stream(StreamReader::default()),
            Some("application/json") => AnswerReader::Whole(WholeReader::default()),
            _ => AnswerReader::Other,
        }
    }

    /// Reads the next piece; true when it held the first token.
    pub fn read(&mut self, bytes: &[u8]) -> bool {
        match self {
            AnswerReader::Stream(stream) => stream.read(bytes),
            AnswerReader::Whole(whole) => {
                whole.read(bytes);
                false
            }
            AnswerReader::Other => false,
        }
    }

    /// The message of an error the answer carried (the body of an answer whose status says it
    /// `failed`, or a stream's error event), as llama-server or the OpenAI and Anthropic APIs
    /// word it. A successful whole answer is not read again for one.
    pub fn error_message(&self, failed: bool) -> Option<String> {
        match self {
            AnswerReader::Stream(stream) => stream.error.clone(),
            AnswerReader::Whole(whole) if failed && !whole.gap && whole.tail.is_empty() => {
                let value = serde_json::from_slice::<Value>(&whole.head).ok()?;
                error_message(&value)
            }
            _ => None,
        }
    }

    /// The counts, once the answer has ended.
    pub fn cost(&self) -> Cost {
        match self {
            AnswerReader::Stream(stream) => stream.cost.clone(),
            AnswerReader::Whole(whole) => whole.cost(),
            AnswerReader::Other => Cost::default(),
        }
    }
}

#[derive(Default)]
pub struct StreamReader {
    line: Vec<u8>,
    /// The current line is too long: skip to its end.
    skipping: bool,
    first_token_seen: bool,
    cost: Cost,
    /// An error event's message (llama-server's way to fail after the answer began).
    error: Option<String>,
}

impl StreamReader {
    fn read(&mut self, bytes: &[u8]) -> bool {
        let mut first = false;
        for piece in bytes.split_inclusive(|b| *b == b'\n') {
            let ends = piece.last() == Some(&b'\n');
            if !self.skipping {
                if self.line.len() + piece.len() > MAX_LINE {
                    self.skipping = true;
                    self.line.clear();
                } else {
                    self.line.extend_from_slice(piece);
                }
            }
            if ends {
                if !self.skipping {
                    let line = std::mem::take(&mut self.line);
                    first |= self.event_line(&line);
                }
                self.skipping = false;
            }
        }
        first
    }

    /// One `data: {...}` line of the stream.
    fn event_line(&mut self, line: &[u8]) -> bool {
        let Some(data) = line.strip_prefix(b"data:") else {
            return false;
        };
        if self.error.is_none()
            && memchr::memmem::find(data, b"\"error\"").is_some()
            && let Ok(event) = serde_json::from_slice::<Value>(data.trim_ascii())
        {
            self.error = error_message(&event);
        }
        // After the first token only the counts matter, and an event without their keys has
        // none: parsing every token's event took most of Corral's CPU per streamed token.
        if self.first_token_seen {
            if holds_counts(data) {
                read_counts_in(data.trim_ascii(), &mut self.cost);
            }
            return false;
        }
        let Ok(event) = serde_json::from_slice::<Value>(data.trim_ascii()) else {
            return false;
        };
        read_counts(&event, &mut self.cost);
        if token_piece(&event).is_some() {
            self.first_token_seen = true;
            return true;
        }
        false
    }
}

/// Whether an event may carry counts: `read_counts` reads only `timings` and `usage` objects
/// (`usage` also under `message` and `response`), whose keys appear in the text as written,
/// since a key's quotes cannot appear unescaped inside a JSON string.
fn holds_counts(data: &[u8]) -> bool {
    memchr::memmem::find(data, b"\"usage\"").is_some()
        || memchr::memmem::find(data, b"\"timings\"").is_some()
}

/// The members of an answer or event where `read_counts` looks; every other member (the
/// answer's text, its choices) is skipped unbuilt. Building the whole answer as a JSON tree was
/// most of what metering a one-token answer cost (`perf`: 5.7 % of Corral's CPU per request).
#[derive(Deserialize)]
struct CountHolders {
    timings: Option<Value>,
    usage: Option<Value>,
    message: Option<Value>,
    response: Option<Value>,
}

/// Reads the counts of a JSON text into `cost`; false when it is not JSON.
fn read_counts_in(json: &[u8], cost: &mut Cost) -> bool {
    // Only an object: serde would also fill the struct from an array, by position.
    let narrow = match json.first() {
        Some(b'{') => serde_json::from_slice::<CountHolders>(json).ok(),
        _ => None,
    };
    let value = match narrow {
        Some(holders) => {
            let members = [
                ("timings", holders.timings),
                ("usage", holders.usage),
                ("message", holders.message),
                ("response", holders.response),
            ];
            Value::Object(
                members
                    .into_iter()
                    .filter_map(|(key, value)| Some((key.to_string(), value?)))
                    .collect(),
            )
        }
        // Text the narrow read refuses (a key given twice, say) is read as a whole tree, as
        // before, so no answer loses its counts to the shortcut.
        None => match serde_json::from_slice::<Value>(json) {
            Ok(value) => value,
            Err(_) => return false,
        },
    };
    read_counts(&value, cost);
    true
}

/// A JSON answer, read at its ends.
#[derive(Default)]
pub struct WholeReader {
    head: Vec<u8>,
    tail: Vec<u8>,
    /// Bytes that went by between head and tail: the two are not one text.
    gap: bool,
}

impl WholeReader {
    fn read(&mut self, bytes: &[u8]) {
        let room = KEPT_EDGE.saturating_sub(self.head.len());
        let (head, rest) = bytes.split_at(room.min(bytes.len()));
        self.head.extend_from_slice(head);
        if rest.is_empty() {
            return;
        }
        self.tail.extend_from_slice(rest);
        if self.tail.len() > KEPT_EDGE {
            let cut = self.tail.len() - KEPT_EDGE;
            self.tail.drain(..cut);
            self.gap = true;
        }
    }

    fn cost(&self) -> Cost {
        let mut cost = Cost::default();
        if !self.gap {
            let joined;
            let whole = if self.tail.is_empty() {
                &self.head
            } else {
                joined = [&self.head[..], &self.tail[..]].concat();
                &joined
            };
            if read_counts_in(whole, &mut cost) {
                return cost;
            }
        }
        // Too long to keep: find the count objects by their keys. A key's quotes cannot appear
        // unescaped inside a JSON string, so a match is always a real key.
        for edge in [&self.head, &self.tail] {
            for (key, read) in [
                (&b"\"timings\":"[..], read_timings as fn(&Value, &mut Cost)),
                (&b"\"usage\":"[..], read_usage),
            ] {
                if let Some(value) = object_after(edge, key) {
                    read(&value, &mut cost);
                }
            }
        }
        cost
    }
}

/// The JSON value that follows the last `key` in `text`, if it is whole there.
fn object_after(text: &[u8], key: &[u8]) -> Option<Value> {
    let at = text.windows(key.len()).rposition(|w| w == key)? + key.len();
    serde_json::Deserializer::from_slice(&text[at..])
        .into_iter::<Value>()
        .next()?
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(chunks: &[&str]) -> (AnswerReader, Vec<bool>) {
        let mut reader = AnswerReader::for_content_type(Some("text/event-stream"));
        let firsts = chunks.iter().map(|c| reader.read(c.as_bytes())).collect();
        (reader, firsts)
    }

    #[test]
    fn the_first_token_is_the_first_non_empty_content_or_reasoning_delta() {
        let (_, firsts) = stream(&[
            "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":null}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"Hm\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n",
        ]);
        assert_eq!(firsts, [false, false, true, false]);
    }

    #[test]
    fn an_event_split_across_chunks_is_read_whole() {
        let (reader, firsts) = stream(&[
            "data: {\"choices\":[{\"delta\":{\"con",
            "tent\":\"Hi\"}}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,",
            "\"completion_tokens\":3},\"timings\":{\"prompt_n\":5,\"cache_n\":2,\"predicted_n\":3,\
             \"prompt_per_second\":900.5,\"predicted_per_second\":120.25}}\n\ndata: [DONE]\n\n",
        ]);
        assert_eq!(firsts, [false, true, false]);
        assert_eq!(
            reader.cost(),
            Cost {
                prompt_tokens: Some(7),
                cached_tokens: Some(2),
                generated_tokens: Some(3),
                prompt_tokens_per_s: Some(900.5),
                generation_tokens_per_s: Some(120.25),
            }
        );
    }

    #[test]
    fn anthropic_and_responses_streams_have_first_tokens_too() {
        let (_, firsts) = stream(&[
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
        ]);
        assert_eq!(firsts, [true]);
        let (_, firsts) = stream(&[
            "data: {\"type\":\"response.output_text.delta\",\"delta\":\"\"}\n\n",
            "data: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n",
        ]);
        assert_eq!(firsts, [false, true]);
    }

    #[test]
    fn counts_after_the_first_token_are_read_wherever_they_come() {
        let (reader, firsts) = stream(&[
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\" \\\"usage\\\": 9\"}}]}\n\n",
            "data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":2}}\n\n",
            "data: {\"choices\":[],\"timings\":{\"prompt_n\":3,\"predicted_n\":2}}\n\n",
        ]);
        assert_eq!(firsts, [true, false, false, false]);
        let cost = reader.cost();
        assert_eq!(cost.generated_tokens, Some(2));
        assert_eq!(cost.prompt_tokens, Some(3));
    }

    #[test]
    fn an_overlong_line_is_skipped_and_the_next_one_read() {
        let long = format!("data: {}\n", "x".repeat(MAX_LINE + 10));
        let (_, firsts) = stream(&[&long, "data: {\"content\":\"a\"}\n"]);
        assert_eq!(firsts, [false, true]);
    }

    #[test]
    fn an_error_body_or_error_event_gives_its_message() {
        let mut whole = AnswerReader::for_content_type(Some("application/json"));
        whole.read(br#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error"}}"#);
        assert_eq!(
            whole.error_message(true).as_deref(),
            Some("the request exceeds the available context size, try increasing it")
        );
        let (stream, _) = stream(&[
            "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n",
            "data: {\"error\":{\"message\":\"boom\"}}\n",
        ]);
        assert_eq!(stream.error_message(false).as_deref(), Some("boom"));
        let mut fine = AnswerReader::for_content_type(Some("application/json"));
        fine.read(br#"{"choices":[]}"#);
        assert_eq!(fine.error_message(false), None);
        // A successful answer is not read for one, whatever it holds.
        assert_eq!(whole.error_message(false), None);
    }

    #[test]
    fn a_whole_answer_gives_its_counts() {
        let mut reader = AnswerReader::for_content_type(Some("application/json; charset=utf-8"));
        let answer = r#"{"choices":[{"message":{"content":"say \"usage\": 5"}}],
            "usage":{"prompt_tokens":4,"completion_tokens":2},"timings":{"predicted_per_second":50.0}}"#;
        for chunk in answer.as_bytes().chunks(7) {
            reader.read(chunk);
        }
        let cost = reader.cost();
        assert_eq!(cost.prompt_tokens, Some(4));
        assert_eq!(cost.generated_tokens, Some(2));
        assert_eq!(cost.generation_tokens_per_s, Some(50.0));
    }

    fn whole(answer: &str) -> Cost {
        let mut reader = AnswerReader::for_content_type(Some("application/json"));
        reader.read(answer.as_bytes());
        reader.cost()
    }

    #[test]
    fn counts_nested_in_a_message_or_a_response_are_read_from_a_whole_answer() {
        let anthropic = whole(r#"{"message":{"usage":{"input_tokens":6,"output_tokens":2}}}"#);
        assert_eq!(anthropic.prompt_tokens, Some(6));
        assert_eq!(anthropic.generated_tokens, Some(2));
        let responses = whole(r#"{"response":{"usage":{"input_tokens":3,"output_tokens":1}}}"#);
        assert_eq!(responses.prompt_tokens, Some(3));
    }

    #[test]
    fn an_answer_the_narrow_read_refuses_is_still_read_whole() {
        // A key given twice: the typed read fails, the tree keeps the last, as before.
        let twice = whole(r#"{"usage":{"prompt_tokens":1},"usage":{"prompt_tokens":8}}"#);
        assert_eq!(twice.prompt_tokens, Some(8));
        // An array is not read by position as if it were the counts' members.
        let array = whole(r#"[{"prompt_n":5,"predicted_n":2},{"prompt_tokens":4}]"#);
        assert_eq!(array, Cost::default());
        // Counts of the wrong type are ignored, not taken as an unreadable answer.
        let odd = whole(r#"{"usage":"none","timings":{"predicted_n":2}}"#);
        assert_eq!(odd.generated_tokens, Some(2));
    }

    #[test]
    fn a_long_answer_is_read_at_its_ends_only() {
        let mut reader = AnswerReader::for_content_type(Some("application/json"));
        let data = "[0.5,".repeat(100_000);
        let answer = format!(
            r#"{{"model":"m","usage":{{"prompt_tokens":12,"total_tokens":12}},"data":{data}1]}}"#
        );
        for chunk in answer.as_bytes().chunks(4096) {
            reader.read(chunk);
        }
        assert_eq!(reader.cost().prompt_tokens, Some(12));
        let AnswerReader::Whole(whole) = &reader else {
            panic!("a JSON answer is read whole")
        };
        assert!(whole.head.len() + whole.tail.len() <= 2 * KEPT_EDGE);
    }
}
