//! How much memory a start of a model will take: what an earlier run of the same command was
//! measured to use at its peak, else the estimate from the file's header (weights, KV cache,
//! compute buffers, projector). The start checks it against the free memory and the budget.

use std::time::Duration;

use crate::domain::Model;
use crate::domain::config::ConfigGroup;
use crate::domain::device_memory::{Device, GpuBytes, GpuFree, split_gpu, usable_gpus};
use crate::domain::memory_estimate::{KvSettings, memory};
use crate::domain::time::format_bytes;
use crate::server::db::runs_repo::MeasuredPeak;
use crate::server::gguf::reader::read_model;
use crate::server::live::Hub;
use crate::server::supervisor::prepare::args::ModelConfig;

/// A header read longer than this counts as no estimate (a start never waits on a slow disk).
const READ_WITHIN: Duration = Duration::from_secs(5);
/// Earlier measured runs looked at for one of the same command.
pub const RUNS_LOOKED_AT: i64 = 20;

/// What a start will take, and where the figures come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// Bytes of this machine's RAM.
    pub bytes: u64,
    /// Bytes on each GPU it will use.
    pub gpus: Vec<GpuBytes>,
    /// True when an earlier run of the same command was measured; false for an estimate.
    pub measured: bool,
    /// The same for the GPU part.
    pub gpus_measured: bool,
}

impl Need {
    /// A RAM-only need (no GPU in play).
    pub fn ram(bytes: u64, measured: bool) -> Need {
        Need {
            bytes,
            gpus: Vec::new(),
            measured,
            gpus_measured: measured,
        }
    }

    /// Bytes per device, RAM first.
    pub fn per_device(&self) -> Vec<(Device, u64)> {
        std::iter::once((Device::Ram, self.bytes))
            .chain(self.gpus.iter().map(|&(i, b)| (Device::Gpu(i), b)))
            .collect()
    }

    /// On `device`.
    pub fn on(&self, device: Device) -> u64 {
        match device {
            Device::Ram => self.bytes,
            Device::Gpu(index) => self
                .gpus
                .iter()
                .find(|(i, _)| *i == index)
                .map_or(0, |(_, b)| *b),
        }
    }

    /// A quarter more on every device: what a load that ran out of memory asks next time.
    pub fn raised(&self) -> Need {
        let up = |b: u64| b.saturating_add(b / 4);
        Need {
            bytes: up(self.bytes),
            gpus: self.gpus.iter().map(|&(i, b)| (i, up(b))).collect(),
            ..self.clone()
        }
    }

    /// `1.2 GiB of RAM and 30.0 GiB on GPU 0 (measured on its last run)`.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("{} of RAM", format_bytes(self.bytes))];
        parts.extend(
            self.gpus
                .iter()
                .map(|&(i, b)| format!("{} on GPU {i}", format_bytes(b))),
        );
        let amounts = match parts.len() {
            1 => format_bytes(self.bytes),
            _ => parts.join(" and "),
        };
        let source = match (self.measured, self.gpus_measured || self.gpus.is_empty()) {
            (true, true) => "measured on its last run",
            (true, false) => "RAM measured on its last run, GPU estimated from its file",
            (false, _) => "estimated from its file",
        };
        if self.measured || !self.gpus.is_empty() {
            format!("{amounts} ({source})")
        } else {
            format!("about {amounts} ({source})")
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

/// This machine's GPUs with their free memory, from its latest reading (none without NVML).
pub fn gpus_free(hub: &Hub) -> Vec<GpuFree> {
    hub.read(|s| s.metrics.last().map(|m| m.gpus_free()).unwrap_or_default())
}

/// The need of a start of `model` with `config` that will run `command` (port not chosen yet);
/// `None` when neither a measurement nor the header can say. `gpus` are this machine's GPUs
/// with their free memory: offloaded weights and KV cache take GPU memory, split over them as
/// llama-server would, instead of RAM.
pub async fn need(
    model: &Model,
    config: &ModelConfig,
    command: &[String],
    measured_peaks: &[MeasuredPeak],
    gpus: &[GpuFree],
) -> Option<Need> {
    let wanted = without_port(command);
    let measured = measured_peaks
        .iter()
        .find(|peak| without_port(&peak.command) == wanted);
    if let Some(peak) = measured
        && (gpus.is_empty() || peak.gpus.is_some())
    {
        let measured_gpus = peak.gpus.clone().unwrap_or_default();
        return Some(Need {
            bytes: peak.ram,
            gpus: measured_gpus,
            measured: true,
            gpus_measured: true,
        });
    }
    let estimated = estimate(model, config, gpus).await;
    match (measured, estimated) {
        // RAM measured without NVML at the time: the GPU part from the header.
        (Some(peak), Some(estimate)) => Some(Need {
            bytes: peak.ram,
            measured: true,
            ..estimate
        }),
        (Some(peak), None) => Some(Need::ram(peak.ram, true)),
        (None, estimate) => estimate,
    }
}

/// The header's estimate, split between RAM and the GPUs.
async fn estimate(model: &Model, config: &ModelConfig, gpus: &[GpuFree]) -> Option<Need> {
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
    // GPUs its environment and device list leave it; none: it all runs on the CPU.
    let usable = !usable_gpus(&config.gpu, gpus).is_empty();
    let placed = estimate.placed(usable, &config.gpu, meta.layers);
    let mut projector = 0;
    for (setting, path) in ConfigGroup::Multimodal(config.multimodal.clone()).named_files() {
        if setting.ends_with("mmproj")
            && let Ok(file) = tokio::fs::metadata(path).await
        {
            projector += file.len();
        }
    }
    Some(Need {
        bytes: placed.ram.saturating_add(projector),
        gpus: split_gpu(placed.gpu, &config.gpu, gpus),
        measured: false,
        gpus_measured: false,
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
