//! The recent log lines of every model, one ring buffer each: what a tab that subscribes to
//! `logs:<id>` is replayed first, and what `/api/models/logs` answers.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::domain::run::{LogLine, LogStream};

/// Lines kept per model; older ones fall off (the runs table keeps each run's tail).
pub const LINES_PER_MODEL: usize = 2000;
/// Longest line kept; llama-server can print very long JSON on one line.
pub const MAX_LINE_CHARS: usize = 4000;

#[derive(Default)]
pub struct LogBook {
    rings: Mutex<HashMap<i64, Ring>>,
}

#[derive(Default)]
struct Ring {
    next_seq: u64,
    lines: VecDeque<LogLine>,
}

impl LogBook {
    /// Adds a line and returns it numbered.
    pub fn append(
        &self,
        model_id: i64,
        run_id: i64,
        stream: LogStream,
        text: &str,
        at: i64,
    ) -> LogLine {
        let text = match text.char_indices().nth(MAX_LINE_CHARS) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text.to_string(),
        };
        let mut rings = self.rings.lock().unwrap_or_else(|p| p.into_inner());
        let ring = rings.entry(model_id).or_default();
        ring.next_seq += 1;
        let line = LogLine {
            model_id,
            run_id,
            seq: ring.next_seq,
            at,
            stream,
            text,
        };
        if ring.lines.len() == LINES_PER_MODEL {
            ring.lines.pop_front();
        }
        ring.lines.push_back(line.clone());
        line
    }

    /// The last `limit` lines of a model, oldest first.
    pub fn history(&self, model_id: i64, limit: usize) -> Vec<LogLine> {
        let rings = self.rings.lock().unwrap_or_else(|p| p.into_inner());
        rings.get(&model_id).map_or_else(Vec::new, |ring| {
            let skip = ring.lines.len().saturating_sub(limit);
            ring.lines.iter().skip(skip).cloned().collect()
        })
    }

    /// Drops a deleted model's lines.
    pub fn forget(&self, model_id: i64) {
        let mut rings = self.rings.lock().unwrap_or_else(|p| p.into_inner());
        rings.remove(&model_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_ring_keeps_the_newest_lines_numbered_in_order() {
        let book = LogBook::default();
        for i in 0..LINES_PER_MODEL + 5 {
            book.append(1, 1, LogStream::Stderr, &format!("line {i}"), 0);
        }
        book.append(2, 9, LogStream::Stdout, "other model", 0);
        let lines = book.history(1, usize::MAX);
        assert_eq!(lines.len(), LINES_PER_MODEL);
        assert_eq!(lines[0].text, "line 5");
        assert_eq!(lines.last().unwrap().seq, (LINES_PER_MODEL + 5) as u64);
        assert_eq!(book.history(1, 2).len(), 2);
        assert_eq!(
            book.history(2, 10)[0].seq,
            1,
            "each model counts its own lines"
        );
        assert!(book.history(3, 10).is_empty());
    }

    #[test]
    fn an_overlong_line_is_cut_on_a_character_boundary() {
        let book = LogBook::default();
        let long = "é".repeat(MAX_LINE_CHARS + 10);
        let line = book.append(1, 1, LogStream::Stderr, &long, 0);
        assert_eq!(line.text.chars().count(), MAX_LINE_CHARS + 1);
    }
}
