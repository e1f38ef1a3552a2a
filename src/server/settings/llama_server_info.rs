//! What a llama-server binary says about itself (`--version`, `--list-devices`), and whether a
//! path typed on the Settings page may be run at all. Corral runs this binary for every model,
//! so a page that can name it could otherwise make Corral run any program: the path must name a
//! file called `llama-server` that only its owner (this user or root) can change, and it must
//! answer `--version` as llama.cpp does.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::domain::ModelSpec;
use crate::domain::config::ConfigGroupKind;
use crate::domain::fields::FieldSet;
use crate::domain::settings::LlamaServerInfo;
use crate::server::supervisor::prepare::capabilities::{self, Capabilities};
use crate::server::supervisor::prepare::child_env;
use crate::server::supervisor::prepare::locate;
use crate::server::support::file_cache::{self, FileCache};

/// Each of `--version` and `--list-devices` may take this long (a GPU build probes devices).
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// What each build seen said.
static SEEN: FileCache<LlamaServerInfo> = FileCache::new(64);

/// Runs the binary with one flag and answers its output (both streams), or why not.
async fn answer(binary: &Path, flag: &str) -> Result<String, String> {
    let mut command = tokio::process::Command::new(binary);
    command
        .arg(flag)
        .env_clear()
        .envs(child_env::runtime_only(std::env::vars_os()))
        .kill_on_drop(true)
        .stdin(std::process::Stdio::null());
    let output = tokio::time::timeout(ANSWER_WITHIN, command.output())
        .await
        .map_err(|_| format!("{flag} did not finish within {} s", ANSWER_WITHIN.as_secs()))?
        .map_err(|e| format!("cannot run it: {e}"))?;
    Ok(format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

/// The binary's version, build and devices, read once per binary (path, size, time).
pub async fn read(binary: &Path) -> LlamaServerInfo {
    let mut info = LlamaServerInfo {
        path: Some(binary.display().to_string()),
        ..LlamaServerInfo::default()
    };
    let metadata = match tokio::fs::metadata(binary).await {
        Ok(metadata) => metadata,
        Err(error) => {
            info.problem = Some(format!("cannot read it: {error}"));
            return info;
        }
    };
    let key = file_cache::key(binary, &metadata);
    if let Some(known) = SEEN.get(&key) {
        return known;
    }
    match answer(binary, "--version").await {
        Ok(text) => {
            info.version = line_after(&text, "version:");
            info.build = text
                .lines()
                .map(str::trim)
                .find(|line| line.starts_with("built with"))
                .map(str::to_string);
            if info.version.is_none() {
                info.problem = Some("it does not answer --version as llama.cpp does".into());
            }
        }
        Err(why) => info.problem = Some(format!("--version: {why}")),
    }
    if info.problem.is_none() {
        match answer(binary, "--list-devices").await {
            Ok(text) => info.devices = devices(&text),
            Err(why) => info.problem = Some(format!("--list-devices: {why}")),
        }
        match capabilities::of(binary).await {
            Ok(caps) => info.missing_flags = missing_flags(&caps),
            Err(problem) => info.problem = Some(problem),
        }
        SEEN.put(key, info.clone());
    }
    info
}

/// Every setting whose flag this build lacks, as `scope.key (--flag)`.
fn missing_flags(caps: &Capabilities) -> Vec<String> {
    let scoped = ModelSpec::FIELDS
        .iter()
        .map(|f| (ModelSpec::WHOLE, f))
        .chain(
            ConfigGroupKind::ALL
                .iter()
                .flat_map(|k| k.fields().iter().map(move |f| (k.as_str(), f))),
        );
    let mut missing = Vec::new();
    for (scope, field) in scoped {
        for flag in field.flag.spellings() {
            if !caps.has(flag) {
                missing.push(format!("{scope}.{} ({flag})", field.key));
            }
        }
    }
    missing
}

fn line_after(text: &str, prefix: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find_map(|line| line.strip_prefix(prefix))
        .map(|rest| rest.trim().to_string())
}

/// The lines after `Available devices:`, without llama.cpp's `(none)`.
fn devices(text: &str) -> Vec<String> {
    text.lines()
        .skip_while(|line| !line.trim_start().starts_with("Available devices"))
        .skip(1)
        .map(str::trim)
        .filter(|line| !line.is_empty() && *line != "(none)")
        .map(str::to_string)
        .collect()
}

/// Checks a binary named on the Settings page before anything runs it (`locate::vet`), then
/// that it answers `--version` as llama.cpp does. Answers the resolved path, which is what is
/// stored.
pub async fn check(path: &str) -> Result<PathBuf, String> {
    let given = PathBuf::from(path);
    let resolved = tokio::task::spawn_blocking(move || locate::vet(&given))
        .await
        .map_err(|e| format!("cannot check it: {e}"))??;
    let info = read(&resolved).await;
    match info.problem {
        Some(problem) => Err(problem),
        None => Ok(resolved),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_the_lines_after_the_heading() {
        assert_eq!(
            devices("Available devices:\n  (none)\n"),
            Vec::<String>::new()
        );
        assert_eq!(
            devices(
                "ggml_cuda_init: found 1\nAvailable devices:\n  CUDA0: NVIDIA H100 (81000 MiB, 80000 MiB free)\n"
            ),
            ["CUDA0: NVIDIA H100 (81000 MiB, 80000 MiB free)"]
        );
    }
}
