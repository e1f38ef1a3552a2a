//! Reading a model server's output a line at a time without trusting it: a line longer than the
//! cap keeps its first part and a mark, the rest is skipped as it streams by, so one endless
//! line cannot grow Corral's memory.

use std::io::{self, BufRead};

/// The longest line kept, in bytes.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// What is appended to a line that was cut.
pub const CUT_MARK: &str = " … [line cut]";

/// Reads the next line into `line` (without growing it past `max` bytes). `None` at the end of
/// the stream; `Some(true)` when the line was longer and was cut.
pub fn next_line<R: BufRead>(
    reader: &mut R,
    line: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<bool>> {
    line.clear();
    let mut cut = false;
    let mut read_any = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if available.is_empty() {
            return Ok(read_any.then_some(cut));
        }
        read_any = true;
        let end = available.iter().position(|b| *b == b'\n');
        let chunk = &available[..end.map_or(available.len(), |i| i + 1)];
        let room = max.saturating_sub(line.len());
        if chunk.len() > room {
            line.extend_from_slice(&chunk[..room]);
            cut = true;
        } else {
            line.extend_from_slice(chunk);
        }
        let used = chunk.len();
        reader.consume(used);
        if end.is_some() {
            return Ok(Some(cut));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<(String, bool)> {
        let mut reader = io::BufReader::with_capacity(7, input);
        let mut line = Vec::new();
        let mut out = Vec::new();
        while let Some(cut) = next_line(&mut reader, &mut line, max).unwrap() {
            out.push((String::from_utf8_lossy(&line).into_owned(), cut));
        }
        out
    }

    #[test]
    fn short_lines_come_whole_and_the_last_one_needs_no_newline() {
        assert_eq!(
            lines(b"one\ntwo\nthree", 100),
            [
                ("one\n".to_string(), false),
                ("two\n".to_string(), false),
                ("three".to_string(), false)
            ]
        );
    }

    #[test]
    fn a_long_line_is_cut_and_the_next_one_is_whole() {
        let mut input = vec![b'x'; 1000];
        input.extend_from_slice(b"\nnext\n");
        let got = lines(&input, 10);
        assert_eq!(got[0], ("x".repeat(10), true));
        assert_eq!(got[1], ("next\n".to_string(), false));
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn nothing_at_all_is_no_line() {
        assert!(lines(b"", 10).is_empty());
    }
}
