//! Bounds on text that comes from outside and is kept, counted or sent on: an error message, a
//! model name a client asked for, an endpoint. One cut, so every such text has the same limit.

/// The most bytes of outside text kept in a record, a label or a live message.
pub const MAX_KEPT_BYTES: usize = 512;

/// `text` cut to at most `max` bytes at a character boundary, with `…` when something was cut
/// (the mark is within the bound).
pub fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    const MARK: &str = "…";
    let mut end = max.saturating_sub(MARK.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{MARK}", &text[..end])
}

/// `bounded` with Corral's kept-text limit.
pub fn kept(text: &str) -> String {
    bounded(text, MAX_KEPT_BYTES)
}

/// `text` with every word that names a file (holds a `/` or `\\`) replaced by `…`: a log line
/// shown to whoever may use a model, not see where its files are.
pub fn without_paths(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            if word.contains('/') || word.contains('\\') {
                "…"
            } else {
                word
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_line_loses_its_file_paths_and_keeps_its_words() {
        assert_eq!(
            without_paths("llama_model_loader: loaded meta data from /home/a/m.gguf (version 3)"),
            "llama_model_loader: loaded meta data from … (version 3)"
        );
        assert_eq!(
            without_paths("load_tensors: CPU model buffer"),
            "load_tensors: CPU model buffer"
        );
    }

    #[test]
    fn short_text_is_kept_whole_and_long_text_is_cut_within_the_bound() {
        assert_eq!(bounded("tiny", 10), "tiny");
        let long = "é".repeat(1000);
        let cut = bounded(&long, 11);
        assert!(cut.len() <= 11, "{cut}");
        assert!(cut.ends_with('…'));
        assert_eq!(cut, "éééé…");
        assert_eq!(kept(&"a".repeat(4 << 20)).len(), MAX_KEPT_BYTES);
    }
}
