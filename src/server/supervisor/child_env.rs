//! What a model server is given besides its arguments: a small environment, and a key of its
//! own. llama-server reads a setting from any `LLAMA_ARG_*` variable and Corral's own
//! `CORRAL_*` variables are none of its business, so only what a GPU runtime needs is passed.
//! The key makes every endpoint but `/health` answer only Corral: without it any web page could
//! run completions on the model's port or read other people's prompts from `/slots`.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use crate::domain::AppError;

/// The variable llama-server reads its API key from (kept out of the command line, which every
/// local user can read in /proc).
pub const API_KEY_VAR: &str = "LLAMA_API_KEY";

/// Passed on unchanged.
const PASSED: &[&str] = &["PATH", "HOME", "LANG", "TMPDIR", "LD_LIBRARY_PATH"];
/// Passed on by prefix: CUDA, ROCm/HIP (HSA_OVERRIDE_GFX_VERSION is a common ROCm need), ggml.
const PASSED_PREFIXES: &[&str] = &["CUDA_", "HIP_", "ROCR_", "HSA_", "GGML_"];

/// The environment of a model server: the passed variables of `parent`, and its key.
pub fn for_run(
    parent: impl IntoIterator<Item = (OsString, OsString)>,
    key: &str,
) -> Vec<(OsString, OsString)> {
    let mut env = runtime_only(parent);
    env.push((API_KEY_VAR.into(), key.into()));
    env
}

/// The passed variables of `parent` alone (for running `llama-server --help`).
pub fn runtime_only(
    parent: impl IntoIterator<Item = (OsString, OsString)>,
) -> Vec<(OsString, OsString)> {
    parent
        .into_iter()
        .filter(|(name, _)| passed(name))
        .collect()
}

fn passed(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    PASSED.contains(&name) || PASSED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// A new random key: 32 bytes from the operating system, as hex.
pub fn new_key() -> Result<String, AppError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| AppError::internal(format!("no randomness for a run key: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The key a running server was started with, read from its environment (a server adopted from
/// an earlier Corral). Only the same user can read it.
pub fn key_of(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{API_KEY_VAR}=");
    raw.split(|b| *b == 0)
        .find_map(|entry| entry.strip_prefix(prefix.as_bytes()))
        .map(|key| OsStr::from_bytes(key).to_string_lossy().into_owned())
        .filter(|key| !key.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    #[test]
    fn only_runtime_variables_and_the_key_are_passed() {
        let env = for_run(
            vars(&[
                ("PATH", "/usr/bin"),
                ("HOME", "/home/a"),
                ("CORRAL_DATA_DIR", "/secret"),
                ("LLAMA_ARG_MCP_SERVERS_JSON", "{}"),
                ("LLAMA_API_KEY", "inherited"),
                ("CUDA_VISIBLE_DEVICES", "0"),
                ("HIP_VISIBLE_DEVICES", "1"),
                ("GGML_CUDA_NO_PINNED", "1"),
                ("AWS_SECRET_ACCESS_KEY", "x"),
                ("LD_PRELOAD", "/tmp/evil.so"),
            ]),
            "k3y",
        );
        let names: Vec<&str> = env.iter().map(|(k, _)| k.to_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "PATH",
                "HOME",
                "CUDA_VISIBLE_DEVICES",
                "HIP_VISIBLE_DEVICES",
                "GGML_CUDA_NO_PINNED",
                "LLAMA_API_KEY"
            ]
        );
        assert_eq!(
            env.last().unwrap().1,
            "k3y",
            "Corral's key, not an inherited one"
        );
    }

    #[test]
    fn keys_are_long_random_and_different() {
        let a = new_key().unwrap();
        let b = new_key().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn a_process_without_a_key_has_none() {
        assert_eq!(key_of(std::process::id()), None);
    }
}
