//! A model's KV cache kept across a stop (`serving.keep_kv`): what is saved on disk, what a run
//! restored when it loaded, and whether that restore helped the first prompt after it.
//!
//! llama.cpp can restore a slot that its next prompt then does not reuse (llama.cpp issue
//! #26676): the restore is judged by the first answer's cached-token count, not by the restore
//! call's own reply.

use serde::{Deserialize, Serialize};

use crate::domain::time::format_bytes;

/// What is kept on disk for one model, as a start now would find it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptKv {
    /// Tokens in the saved slots, together.
    pub tokens: i64,
    pub bytes: u64,
    pub slots: u32,
    /// When it was saved (ms since the epoch).
    pub saved_at: i64,
    /// Saved with the same file, llama-server and KV settings a start would use now: the next
    /// start restores it. Otherwise the next start removes it.
    pub restorable: bool,
    /// Every model's kept KV caches together, and the most they may take (`--kv-disk-mib`).
    pub all_bytes: u64,
    pub budget_bytes: u64,
}

impl KeptKv {
    /// One line for the model page.
    pub fn describe(&self) -> String {
        let what = format!(
            "{} tokens in {} slot{} ({})",
            self.tokens,
            self.slots,
            if self.slots == 1 { "" } else { "s" },
            format_bytes(self.bytes)
        );
        let next = if self.restorable {
            "the next start restores it before the first request"
        } else {
            "saved with another file, llama-server or KV settings: the next start removes it"
        };
        format!(
            "{what}; {next}. Kept KV caches use {} of {} (--kv-disk-mib).",
            format_bytes(self.all_bytes),
            format_bytes(self.budget_bytes)
        )
    }
}

/// Whether a restore helped, judged by the first answer after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestoreVerdict {
    /// No answer with a prompt yet.
    Unproven,
    /// The first prompt reused this many cached tokens.
    Helped { cached: i64 },
    /// The first prompt of `prompt` tokens reused none.
    DidNotHelp { prompt: i64 },
}

impl RestoreVerdict {
    /// The verdict once an answer of `prompt` tokens, `cached` of them from the cache, is seen;
    /// an answer that says neither changes nothing.
    pub fn after_answer(self, prompt: Option<i64>, cached: Option<i64>) -> RestoreVerdict {
        match (self, prompt, cached) {
            (RestoreVerdict::Unproven, Some(prompt), Some(cached)) if prompt > 0 => {
                if cached > 0 {
                    RestoreVerdict::Helped { cached }
                } else {
                    RestoreVerdict::DidNotHelp { prompt }
                }
            }
            (verdict, _, _) => verdict,
        }
    }
}

/// What a run restored when it loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvRestore {
    pub tokens: i64,
    /// How long the restore took, before the first request was let through.
    pub ms: i64,
    pub verdict: RestoreVerdict,
}

impl KvRestore {
    /// A few words for the run facts beside the model's name.
    pub fn short(&self) -> String {
        match self.verdict {
            RestoreVerdict::DidNotHelp { .. } => {
                "KV cache restored but not reused (llama.cpp #26676)".to_string()
            }
            _ => format!("KV cache restored ({} tokens)", self.tokens),
        }
    }

    /// The model's log's words.
    pub fn describe(&self) -> String {
        let restored = format!(
            "KV cache restored: {} tokens in {}",
            self.tokens,
            crate::domain::time::format_millis(self.ms)
        );
        match self.verdict {
            RestoreVerdict::Unproven => restored,
            RestoreVerdict::Helped { cached } => {
                format!("{restored}; the first prompt reused {cached} of them")
            }
            RestoreVerdict::DidNotHelp { prompt } => format!(
                "{restored}, but the first prompt ({prompt} tokens) reused none (llama.cpp issue \
                 #26676)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restore_is_judged_by_the_first_answer_with_a_prompt_and_only_by_it() {
        let unproven = RestoreVerdict::Unproven;
        assert_eq!(unproven.after_answer(None, None), unproven);
        assert_eq!(unproven.after_answer(Some(0), Some(0)), unproven);
        let helped = unproven.after_answer(Some(300), Some(280));
        assert_eq!(helped, RestoreVerdict::Helped { cached: 280 });
        assert_eq!(helped.after_answer(Some(10), Some(0)), helped);
        assert_eq!(
            unproven.after_answer(Some(300), Some(0)),
            RestoreVerdict::DidNotHelp { prompt: 300 }
        );
    }

    #[test]
    fn a_restore_that_did_not_help_names_the_llama_cpp_issue() {
        let restore = KvRestore {
            tokens: 282,
            ms: 2,
            verdict: RestoreVerdict::DidNotHelp { prompt: 300 },
        };
        assert!(
            restore.describe().contains("#26676"),
            "{}",
            restore.describe()
        );
    }
}
