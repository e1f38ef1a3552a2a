//! Which flags the installed llama-server accepts, read from its `--help` once per binary (keyed
//! by path, size and modification time, so an upgrade in place is noticed). Flags churn between
//! llama.cpp builds; a setting the installed build cannot express is reported by name before start.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::domain::config::extra_args::Takes;
use crate::server::supervisor::prepare::child_env;
use crate::server::support::file_cache::{self, FileCache};

/// The flags one llama-server build accepts, and whether each reads a value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Capabilities {
    flags: BTreeMap<String, Takes>,
}

impl Capabilities {
    /// Reads `--help` output: each option line starts with its spellings (`-c, --ctx-size N`);
    /// a placeholder one space after the last spelling means the flag reads a value, while the
    /// description starts after a wider gap.
    pub fn parse(help: &str) -> Capabilities {
        let mut flags = BTreeMap::new();
        for line in help.lines().filter(|l| l.starts_with('-')) {
            let mut spellings = Vec::new();
            let mut rest = line;
            let takes = loop {
                let trimmed = rest.trim_start();
                let end = trimmed.find(char::is_whitespace).unwrap_or(trimmed.len());
                let token = &trimmed[..end];
                let spelling = token.trim_end_matches(',');
                if !is_flag(spelling) {
                    break Takes::Nothing; // the description
                }
                spellings.push(spelling);
                rest = &trimmed[end..];
                if !token.ends_with(',') {
                    let mut after = rest.chars();
                    break match (after.next(), after.next()) {
                        (Some(' '), Some(c)) if !c.is_whitespace() => Takes::Value,
                        _ => Takes::Nothing,
                    };
                }
            };
            for spelling in spellings {
                flags.insert(spelling.to_string(), takes);
            }
        }
        Capabilities { flags }
    }

    /// Whether the flag reads a value, or `None` when this build has no such flag.
    pub fn takes(&self, flag: &str) -> Option<Takes> {
        self.flags.get(flag).copied()
    }

    pub fn has(&self, flag: &str) -> bool {
        self.flags.contains_key(flag)
    }
}

/// `-x`, `--some-flag`: a dash or two, then a letter or digit.
fn is_flag(token: &str) -> bool {
    token.len() > 1
        && token.starts_with('-')
        && token[1..]
            .trim_start_matches('-')
            .starts_with(|c: char| c.is_ascii_alphanumeric())
}

/// `--help` of each build seen.
static SEEN: FileCache<Arc<Capabilities>> = FileCache::new(64);

/// The capabilities of `binary`, running `--help` only the first time this build is seen.
pub async fn of(binary: &Path) -> Result<Arc<Capabilities>, String> {
    let metadata = tokio::fs::metadata(binary)
        .await
        .map_err(|e| format!("cannot read {}: {e}", binary.display()))?;
    let key = file_cache::key(binary, &metadata);
    if let Some(known) = SEEN.get(&key) {
        return Ok(known);
    }
    let mut command = tokio::process::Command::new(binary);
    command
        .arg("--help")
        .env_clear()
        .envs(child_env::runtime_only(std::env::vars_os()))
        .kill_on_drop(true)
        .stdin(std::process::Stdio::null());
    let output = tokio::time::timeout(Duration::from_secs(20), command.output())
        .await
        .map_err(|_| format!("{} --help did not finish in 20 s", binary.display()))?
        .map_err(|e| format!("cannot run {} --help: {e}", binary.display()))?;
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let capabilities = Capabilities::parse(&text);
    if !capabilities.has("--model") || !capabilities.has("--port") {
        return Err(format!(
            "{} does not look like llama-server: its --help lists no --model and --port",
            binary.display()
        ));
    }
    let capabilities = Arc::new(capabilities);
    SEEN.put(key, capabilities.clone());
    Ok(capabilities)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELP: &str = "\
----- common params -----

-h,    --help, --usage                  print usage and exit
-c,    --ctx-size N                     size of the prompt context (default: 0, 0 = loaded from model)
                                        (env: LLAMA_ARG_CTX_SIZE)
-n,    --predict, --n-predict N         number of tokens to predict (default: -1, -1 = infinity)
--mmap, --no-mmap                       whether to memory-map the model
-fa,   --flash-attn [on|off|auto]       set Flash Attention use
--load-mode {auto,none,mmap}            how to load -- note the -1 here
";

    #[test]
    fn every_spelling_on_an_option_line_is_a_flag_and_descriptions_are_not() {
        let caps = Capabilities::parse(HELP);
        for flag in [
            "-h",
            "--help",
            "--usage",
            "-c",
            "--ctx-size",
            "-n",
            "--predict",
            "--n-predict",
            "--mmap",
            "--no-mmap",
            "-fa",
            "--flash-attn",
            "--load-mode",
        ] {
            assert!(caps.has(flag), "{flag}");
        }
        for not_a_flag in ["-1", "--", "-----", "N", "--note"] {
            assert!(!caps.has(not_a_flag), "{not_a_flag}");
        }
    }

    #[test]
    fn a_placeholder_after_the_spellings_means_the_flag_reads_a_value() {
        let caps = Capabilities::parse(HELP);
        for flag in [
            "-c",
            "--ctx-size",
            "-n",
            "--n-predict",
            "-fa",
            "--load-mode",
        ] {
            assert_eq!(caps.takes(flag), Some(Takes::Value), "{flag}");
        }
        for flag in ["-h", "--usage", "--mmap", "--no-mmap"] {
            assert_eq!(caps.takes(flag), Some(Takes::Nothing), "{flag}");
        }
        assert_eq!(caps.takes("--nope"), None);
    }
}
