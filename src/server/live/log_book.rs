//! The recent log lines of every model, one ring buffer each: what a tab that subscribes to
//! `logs:<id>` is replayed first, and what `/api/models/logs` answers.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::domain::run::{LogLine, LogSource, LogStream};

/// Lines kept per model; older ones fall off (the runs table keeps each run's tail).
pub const LINES_PER_MODEL: usize = 2000;
/// Longest line kept; llama-server can print very long JSON on one line.
pub const MAX_LINE_CHARS: usize = 4000;

#[derive(Default)]
pub struct LogBook {
    rings: Mutex<HashMap<LogSource, Ring>>,
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
        source: LogSource,
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
        let ring = rings.entry(source).or_default();
        ring.next_seq += 1;
        let line = LogLine {
            source,
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

    /// The last `limit` lines of a log, oldest first.
    pub fn history(&self, source: LogSource, limit: usize) -> Vec<LogLine> {
        let rings = self.rings.lock().unwrap_or_else(|p| p.into_inner());
        rings.get(&source).map_or_else(Vec::new, |ring| {
            let skip = ring.lines.len().saturating_sub(limit);
            ring.lines.iter().skip(skip).cloned().collect()
        })
    }

    /// Drops a deleted model's lines.
    pub fn forget(&self, source: LogSource) {
        let mut rings = self.rings.lock().unwrap_or_else(|p| p.into_inner());
        rings.remove(&source);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: LogSource = LogSource::Model(1);
    const TWO: LogSource = LogSource::Model(2);

    #[test]
    fn a_full_ring_keeps_the_newest_lines_numbered_in_order() {
        let book = LogBook::default();
        for i in 0..LINES_PER_MODEL + 5 {
            book.append(ONE, 1, LogStream::Stderr, &format!("line {i}"), 0);
        }
        book.append(TWO, 9, LogStream::Stdout, "other model", 0);
        let lines = book.history(ONE, usize::MAX);
        assert_eq!(lines.len(), LINES_PER_MODEL);
        assert_eq!(lines[0].text, "line 5");
        assert_eq!(lines.last().unwrap().seq, (LINES_PER_MODEL + 5) as u64);
        assert_eq!(book.history(ONE, 2).len(), 2);
        assert_eq!(
            book.history(TWO, 10)[0].seq,
            1,
            "each model counts its own lines"
        );
        assert!(book.history(LogSource::Corral, 10).is_empty());
    }

    #[test]
    fn an_overlong_line_is_cut_on_a_character_boundary() {
        let book = LogBook::default();
        let long = "é".repeat(MAX_LINE_CHARS + 10);
        let line = book.append(ONE, 1, LogStream::Stderr, &long, 0);
        assert_eq!(line.text.chars().count(), MAX_LINE_CHARS + 1);
    }
}
