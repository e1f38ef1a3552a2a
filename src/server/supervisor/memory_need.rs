//! How much memory a start of a model will take: what an earlier run of the same command was
//! measured to use at its peak, else the estimate from the file's header (weights, KV cache,
//! compute buffers, projector). The start checks it against the free memory and the budget.

use std::time::Duration;

use crate::domain::config::ConfigGroup;
use crate::domain::memory_estimate::{KvSettings, gpu_share, memory};
use crate::domain::page::Page;
use crate::domain::time::format_bytes;
use crate::domain::{AppError, Model};
use crate::server::db::runs_store::RunsStore;
use crate::server::gguf::reader::read_model;
use crate::server::supervisor::args::ModelConfig;

/// A header read longer than this counts as no estimate (a start never waits on a slow disk).
const READ_WITHIN: Duration = Duration::from_secs(5);
/// Earlier runs looked at for a measurement.
const RUNS_LOOKED_AT: u32 = 20;

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
fn without_port(command: &[String]) -> Vec<&str> {
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
    runs: &RunsStore,
    gpus: usize,
) -> Result<Option<Need>, AppError> {
    let wanted = without_port(command);
    let page = Page {
        limit: Some(RUNS_LOOKED_AT),
        ..Page::default()
    };
    let measured = runs
        .page(model.id, page)
        .await?
        .into_iter()
        .filter(|run| without_port(&run.command) == wanted)
        .find_map(|run| run.peak_rss_bytes);
    if let Some(bytes) = measured {
        return Ok(Some(Need {
            bytes,
            measured: true,
        }));
    }
    let path = std::path::PathBuf::from(&model.spec.path);
    let read = tokio::time::timeout(
        READ_WITHIN,
        tokio::task::spawn_blocking(move || read_model(&path)),
    )
    .await;
    let Ok(Ok(Ok(meta))) = read else {
        return Ok(None);
    };
    let kv = KvSettings::of(&model.spec, &config.memory, &config.advanced);
    let Ok(estimate) = memory(&meta, &kv) else {
        return Ok(None);
    };
    let mut bytes = estimate.total();
    if gpus > 0 {
        // Offloaded layers (and, unless kept on the host, the KV cache) live on the GPUs.
        let on_gpu = estimate.weights as f64 * gpu_share(config.gpu.gpu_layers, meta.layers);
        bytes = bytes.saturating_sub(on_gpu as u64);
        if config.gpu.kv_offload != Some(false) {
            bytes = bytes.saturating_sub(estimate.kv.bytes());
        }
    }
    let projector = ConfigGroup::Multimodal(config.multimodal.clone())
        .named_files()
        .into_iter()
        .filter(|(setting, _)| setting.ends_with("mmproj"))
        .filter_map(|(_, path)| std::fs::metadata(path).ok())
        .map(|m| m.len())
        .sum::<u64>();
    Ok(Some(Need {
        bytes: bytes.saturating_add(projector),
        measured: false,
    }))
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
