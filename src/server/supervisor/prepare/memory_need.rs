//! How much memory a start of a model will take: what an earlier run of the same command was
//! measured to use at its peak, else the estimate from the file's header (weights, KV cache,
//! compute buffers, projector). The start checks it against the free memory and the budget.

use std::time::Duration;

use crate::domain::Model;
use crate::domain::config::ConfigGroup;
use crate::domain::memory_estimate::{KvSettings, memory};
use crate::domain::time::format_bytes;
use crate::server::gguf::reader::read_model;
use crate::server::supervisor::prepare::args::ModelConfig;

/// A header read longer than this counts as no estimate (a start never waits on a slow disk).
const READ_WITHIN: Duration = Duration::from_secs(5);
/// Earlier measured runs looked at for one of the same command.
pub const RUNS_LOOKED_AT: i64 = 20;

/// What a start will take, and where the figure comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// Bytes of this machine's RAM.
    pub bytes: u64,
    /// True when an earlier run of the same command was measured; false for an estimate.
    pub measured: bool,
}

impl Need {
    pub fn describe(&self) -> String {
        if self.measured {
            format!("{} (measured on its last run)", format_bytes(self.bytes))
        } else {
            format!(
                "about {} (estimated from its file)",
                format_bytes(self.bytes)
            )
        }
    }
}

/// The command without its port (each run gets its own), to compare runs by.
pub fn without_port(command: &[String]) -> Vec<&str> {
    let mut kept = Vec::with_capacity(command.len());
    let mut skip = false;
    for arg in command {
        if skip {
            skip = false;
        } else if arg == "--port" {
            skip = true;
        } else {
            kept.push(arg.as_str());
        }
    }
    kept
}

/// The need of a start of `model` with `config` that will run `command` (port not chosen yet);
/// `None` when neither a measurement nor the header can say. `gpus` is how many GPUs this
/// machine has: offloaded weights do not take RAM.
pub async fn need(
    model: &Model,
    config: &ModelConfig,
    command: &[String],
    measured_peaks: &[(Vec<String>, u64)],
    gpus: usize,
) -> Option<Need> {
    let wanted = without_port(command);
    let measured = measured_peaks
        .iter()
        .find(|(command, _)| without_port(command) == wanted)
        .map(|(_, peak)| *peak);
    if let Some(bytes) = measured {
        return Some(Need {
            bytes,
            measured: true,
        });
    }
    let path = std::path::PathBuf::from(&model.spec.path);
    let read = tokio::time::timeout(
        READ_WITHIN,
        tokio::task::spawn_blocking(move || read_model(&path)),
    )
    .await;
    let Ok(Ok(Ok(meta))) = read else {
        return None;
    };
    let kv = KvSettings::of(&model.spec, &config.memory, &config.advanced);
    let Ok(estimate) = memory(&meta, &kv) else {
        return None;
    };
    let bytes = estimate.placed(gpus > 0, &config.gpu, meta.layers).ram;
    let mut projector = 0;
    for (setting, path) in ConfigGroup::Multimodal(config.multimodal.clone()).named_files() {
        if setting.ends_with("mmproj")
            && let Ok(file) = tokio::fs::metadata(path).await
        {
            projector += file.len();
        }
    }
    Some(Need {
        bytes: bytes.saturating_add(projector),
        measured: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_compared_without_their_ports() {
        let a: Vec<String> = ["llama-server", "--port", "8100", "-c", "512"]
            .map(String::from)
            .to_vec();
        let b: Vec<String> = ["llama-server", "--port", "8101", "-c", "512"]
            .map(String::from)
            .to_vec();
        let c: Vec<String> = ["llama-server", "-c", "1024"].map(String::from).to_vec();
        assert_eq!(without_port(&a), without_port(&b));
        assert_ne!(without_port(&a), without_port(&c));
    }
}
