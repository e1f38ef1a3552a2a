//! Names people type: a model made from a file is named after the file
//! (`Qwen2.5-7B-Instruct-Q4_K_M.gguf` → `qwen2.5-7b-instruct-q4_k_m`), and a name already taken
//! gets `-2`, `-3`… (no spaces or brackets to quote in a shell or a client's model field).

use crate::domain::model::MAX_NAME_LEN;

/// Room kept for a `-NNN` suffix when a long name is cut.
const SUFFIX_ROOM: usize = 4;

/// The file name of `path`, lowercased, without `.gguf` and without a split model's
/// `-00001-of-00003` part; `model` when nothing is left.
pub fn name_from_file(path: &str) -> String {
    let file = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let lower = file.trim().to_lowercase();
    let stem = lower.strip_suffix(".gguf").unwrap_or(&lower);
    let stem = without_split_part(stem).trim_matches(['-', '_', '.', ' ']);
    if stem.is_empty() {
        return "model".to_string();
    }
    stem.chars().take(MAX_NAME_LEN - SUFFIX_ROOM).collect()
}

/// `stem` without a trailing `-NNNNN-of-NNNNN` (the part numbering llama.cpp's split writes).
fn without_split_part(stem: &str) -> &str {
    let Some((before, count)) = stem.rsplit_once("-of-") else {
        return stem;
    };
    let Some((name, part)) = before.rsplit_once('-') else {
        return stem;
    };
    let digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
    if digits(part) && digits(count) {
        name
    } else {
        stem
    }
}

/// `base`, or `base-2`, `base-3`… whichever `taken` says is free (the caller decides what
/// "taken" means: names compare ignoring case). The result fits the name's length limit.
pub fn free_name(base: &str, mut taken: impl FnMut(&str) -> bool) -> String {
    let base: String = base.chars().take(MAX_NAME_LEN).collect();
    if !taken(&base) {
        return base;
    }
    let short: String = base.chars().take(MAX_NAME_LEN - SUFFIX_ROOM).collect();
    let mut n = 2u32;
    loop {
        let candidate = format!("{short}-{n}");
        if !taken(&candidate) {
            return candidate;
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_becomes_a_lowercased_stem() {
        assert_eq!(
            name_from_file("/m/Qwen2.5-7B-Instruct-Q4_K_M.gguf"),
            "qwen2.5-7b-instruct-q4_k_m"
        );
        assert_eq!(name_from_file("/m/tiny.GGUF"), "tiny");
    }

    #[test]
    fn a_split_model_is_named_without_its_part_numbers() {
        assert_eq!(
            name_from_file("/m/GLM-4.5-Air-Q4_K_M-00001-of-00003.gguf"),
            "glm-4.5-air-q4_k_m"
        );
        // Only the real pattern is removed.
        assert_eq!(name_from_file("/m/model-1-of-2.gguf"), "model-1-of-2");
    }

    #[test]
    fn an_empty_stem_is_named_model_and_a_long_one_is_cut() {
        assert_eq!(name_from_file("/m/.gguf"), "model");
        let long = format!("/m/{}.gguf", "a".repeat(300));
        assert_eq!(name_from_file(&long).len(), MAX_NAME_LEN - SUFFIX_ROOM);
    }

    #[test]
    fn a_taken_name_gets_the_next_free_number() {
        let taken = ["tiny", "tiny-2"];
        assert_eq!(free_name("tiny", |n| taken.contains(&n)), "tiny-3");
        assert_eq!(free_name("other", |n| taken.contains(&n)), "other");
        let long = "b".repeat(MAX_NAME_LEN);
        let named = free_name(&long, |n| n == long);
        assert!(named.ends_with("-2") && named.chars().count() <= MAX_NAME_LEN);
    }
}
