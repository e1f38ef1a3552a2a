//! Memory per device: the machine's RAM and each GPU. A start's need is split over them, each
//! has a budget, and the models page shows what each holds, by whom. Shared with the browser,
//! so the page and a refusal say the same numbers the same way.

use serde::{Deserialize, Serialize};

use crate::domain::config::gpu::{GpuConfig, SplitMode};
use crate::domain::metrics::GpuSample;
use crate::domain::time::format_bytes;

/// Where memory lives: the machine's RAM or one GPU (by NVML's index, which is CUDA's when
/// `CUDA_DEVICE_ORDER=PCI_BUS_ID`, as llama.cpp's `--list-devices` numbers them on one kind
/// of card).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    Ram,
    Gpu(u32),
}

impl Device {
    /// `RAM`, `GPU 0`.
    pub fn label(self) -> String {
        match self {
            Device::Ram => "RAM".to_string(),
            Device::Gpu(index) => format!("GPU {index}"),
        }
    }
}

/// Bytes on one GPU.
pub type GpuBytes = (u32, u64);

/// Raises `peaks` to `now` on each GPU (never lowers one); true when some GPU rose by more
/// than `by` bytes (or is new above it).
pub fn raise_peaks(peaks: &mut Vec<GpuBytes>, now: &[GpuBytes], by: u64) -> bool {
    let mut rose = false;
    for &(index, bytes) in now {
        match peaks.iter_mut().find(|(i, _)| *i == index) {
            Some(peak) => {
                rose |= bytes > peak.1.saturating_add(by);
                peak.1 = peak.1.max(bytes);
            }
            None => {
                rose |= bytes > by;
                peaks.push((index, bytes));
            }
        }
    }
    peaks.sort_unstable();
    rose
}

/// A GPU's budget from `--gpu-budget-mib DEV=MIB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuBudget {
    pub index: u32,
    pub mib: u64,
}

/// Most MiB a budget may say (16 TiB).
pub const MAX_BUDGET_MIB: u64 = 16 << 20;
/// What the default budget of a GPU (its free memory) leaves unused: llama.cpp's own `--fit`
/// margin, so a start admitted by Corral is not one llama.cpp's fitting then shrinks.
pub const GPU_RESERVE_BYTES: u64 = 1 << 30;

impl GpuBudget {
    pub fn bytes(self) -> u64 {
        self.mib.saturating_mul(1 << 20)
    }
}

/// Reads `0=20000`, `gpu0=20000` or `CUDA0=20000` (a GPU, then its budget in MiB).
pub fn parse_gpu_budget(text: &str) -> Result<GpuBudget, String> {
    let shape = || format!("'{}' is not DEVICE=MIB, such as 0=20000", short(text));
    let (device, mib) = text.split_once('=').ok_or_else(shape)?;
    let device = device.trim().to_ascii_lowercase();
    let digits = ["cuda", "gpu"]
        .iter()
        .find_map(|prefix| device.strip_prefix(prefix))
        .unwrap_or(&device);
    let index: u32 = digits.parse().map_err(|_| shape())?;
    if index > 63 {
        return Err(format!("GPU {index} is past the 64 NVML can number"));
    }
    let mib: u64 = mib.trim().parse().map_err(|_| shape())?;
    if mib > MAX_BUDGET_MIB {
        return Err(format!("{mib} MiB is more than {MAX_BUDGET_MIB} MiB"));
    }
    Ok(GpuBudget { index, mib })
}

fn short(text: &str) -> String {
    text.chars().take(40).collect()
}

/// Every budget of a list, the last of one GPU winning; the first entry that does not read.
pub fn parse_gpu_budgets(items: &[String]) -> Result<Vec<GpuBudget>, String> {
    let mut budgets: Vec<GpuBudget> = Vec::new();
    for item in items {
        let budget = parse_gpu_budget(item)?;
        budgets.retain(|b| b.index != budget.index);
        budgets.push(budget);
    }
    budgets.sort_by_key(|b| b.index);
    Ok(budgets)
}

/// A GPU a start may use, with the memory free on it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuFree {
    pub index: u32,
    pub free: u64,
}

/// How a start's `bytes` of GPU memory spread over this machine's `gpus`, as llama-server
/// places them: the devices its environment (`CUDA_VISIBLE_DEVICES`) and `--device` leave it;
/// all on `--main-gpu` with `--split-mode none`; by `--tensor-split`'s proportions when set;
/// else in proportion to each device's free memory (llama.cpp's default). Empty with no GPU.
pub fn split_gpu(bytes: u64, gpu: &GpuConfig, gpus: &[GpuFree]) -> Vec<GpuBytes> {
    let usable = usable_gpus(gpu, gpus);
    if usable.is_empty() || bytes == 0 {
        return Vec::new();
    }
    if gpu.split_mode == Some(SplitMode::None) {
        let main = usize::try_from(gpu.main_gpu.unwrap_or(0)).unwrap_or(0);
        let device = usable.get(main).unwrap_or(&usable[0]);
        return vec![(device.index, bytes)];
    }
    let weights: Vec<f64> = match tensor_split(gpu.tensor_split.as_deref(), usable.len()) {
        Some(weights) => weights,
        None => usable.iter().map(|g| g.free as f64).collect(),
    };
    let total: f64 = weights.iter().sum();
    if !total.is_finite() || total <= 0.0 {
        // Nothing known about any: evenly.
        let each = bytes / usable.len() as u64;
        return usable.iter().map(|g| (g.index, each)).collect();
    }
    let mut placed: Vec<GpuBytes> = usable
        .iter()
        .zip(&weights)
        .map(|(g, w)| {
            (
                g.index,
                (bytes as f64 * (w / total)).min(bytes as f64) as u64,
            )
        })
        .collect();
    // Rounding's leftover bytes go to the first device, so the parts sum to the whole.
    let spread: u64 = placed.iter().map(|(_, b)| *b).fold(0, u64::saturating_add);
    if let Some(first) = placed.iter_mut().find(|(_, b)| *b > 0) {
        first.1 = first.1.saturating_add(bytes.saturating_sub(spread));
    }
    placed.retain(|(_, b)| *b > 0);
    placed
}

/// The GPUs a start sees, in the order llama-server numbers them.
pub fn usable_gpus(gpu: &GpuConfig, gpus: &[GpuFree]) -> Vec<GpuFree> {
    let mut visible: Vec<GpuFree> =
        match gpu.env.get("CUDA_VISIBLE_DEVICES").and_then(|v| v.as_str()) {
            Some(list) => list
                .split(',')
                .filter_map(|i| i.trim().parse::<u32>().ok())
                .filter_map(|i| gpus.iter().find(|g| g.index == i).copied())
                .collect(),
            None => gpus.to_vec(),
        };
    if !gpu.devices.is_empty() {
        let named: Vec<usize> = gpu
            .devices
            .iter()
            .flat_map(|d| d.split(','))
            .filter_map(|d| {
                let d = d.trim().to_ascii_lowercase();
                ["cuda", "rocm", "vulkan", "gpu"]
                    .iter()
                    .find_map(|p| d.strip_prefix(p))?
                    .parse()
                    .ok()
            })
            .collect();
        visible = named
            .iter()
            .filter_map(|i| visible.get(*i).copied())
            .collect();
    }
    visible
}

/// `--tensor-split 3,1`'s weights, when they name at most `devices` parts and some is above 0.
fn tensor_split(text: Option<&str>, devices: usize) -> Option<Vec<f64>> {
    let parts: Vec<f64> = text?
        .split([',', '/'])
        .map(|p| {
            p.trim()
                .parse::<f64>()
                .ok()
                .filter(|w| w.is_finite() && *w >= 0.0)
        })
        .collect::<Option<_>>()?;
    if parts.is_empty() || parts.len() > devices || parts.iter().sum::<f64>() <= 0.0 {
        return None;
    }
    let mut weights = parts;
    weights.resize(devices, 0.0);
    Some(weights)
}

/// One device as the models page and a refusal show it: what it holds, by whom, and what
/// Corral lets its models take.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DeviceUse {
    pub device: Device,
    /// `NVIDIA H200`; empty for RAM.
    pub name: String,
    pub total: u64,
    /// Used by every process on it (Corral's models among them).
    pub used: u64,
    /// Each running model's share: (model id, bytes).
    pub by_model: Vec<(i64, u64)>,
    pub budget: Budget,
}

impl DeviceUse {
    /// What Corral's models use together.
    pub fn models_use(&self) -> u64 {
        self.by_model
            .iter()
            .map(|(_, b)| *b)
            .fold(0, u64::saturating_add)
    }

    /// Used by processes other than Corral's models.
    pub fn others_use(&self) -> u64 {
        self.used.saturating_sub(self.models_use())
    }

    /// `GPU 0 · NVIDIA H200`, `RAM`.
    pub fn title(&self) -> String {
        if self.name.is_empty() {
            self.device.label()
        } else {
            format!("{} · {}", self.device.label(), self.name)
        }
    }
}

/// What a running model holds, as admission and the models page read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunMemory {
    pub model_id: i64,
    /// Resident memory (0 when not read).
    pub ram: u64,
    pub gpus: Vec<GpuBytes>,
}

/// Every device with what it holds and by whom: RAM from `ram` (total, used; total 0 when it
/// could not be read, then left out), each GPU from its reading (one whose memory the driver
/// withholds is left out), the runs' shares from `runs`.
pub fn device_uses(
    ram: (u64, u64),
    gpus: &[GpuSample],
    runs: &[RunMemory],
    budgets: &MemoryBudgets,
) -> Vec<DeviceUse> {
    let mut uses = Vec::new();
    // Unreadable RAM is no reason to refuse, but a budget set still binds.
    if ram.0 > 0 || matches!(budgets.of(Device::Ram), Budget::Set { .. }) {
        uses.push(DeviceUse {
            device: Device::Ram,
            name: String::new(),
            total: ram.0,
            used: ram.1,
            by_model: runs
                .iter()
                .filter(|r| r.ram > 0)
                .map(|r| (r.model_id, r.ram))
                .collect(),
            budget: budgets.of(Device::Ram),
        });
    }
    for gpu in gpus {
        let (Some(total), Some(used)) = (gpu.memory_total_bytes, gpu.memory_used_bytes) else {
            continue;
        };
        let device = Device::Gpu(gpu.index);
        uses.push(DeviceUse {
            device,
            name: gpu.name.clone(),
            total,
            used,
            by_model: runs
                .iter()
                .filter_map(|r| {
                    let (_, bytes) = r.gpus.iter().find(|(i, _)| *i == gpu.index)?;
                    (*bytes > 0).then_some((r.model_id, *bytes))
                })
                .collect(),
            budget: budgets.of(device),
        });
    }
    uses
}

/// What a device lets Corral's models take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Budget {
    /// Set (`--memory-budget-mib`, `--gpu-budget-mib`): the models together stay within it.
    Set { bytes: u64 },
    /// None set: what is free, less `reserve`.
    Free { reserve: u64 },
}

impl Budget {
    /// Bytes the models may hold together on `device_use`'s device.
    pub fn room_for_models(&self, device_use: &DeviceUse) -> u64 {
        match *self {
            Budget::Set { bytes } => bytes,
            // What is free, and what the models hold (theirs to give back): a model's mapped
            // file counts in its resident size but is free to the kernel, so this never reads
            // less room than is free.
            Budget::Free { reserve } => device_use
                .total
                .saturating_sub(device_use.used)
                .saturating_add(device_use.models_use())
                .saturating_sub(reserve),
        }
    }

    pub fn describe(&self) -> String {
        match *self {
            Budget::Set { bytes } => format!("budget {}", format_bytes(bytes)),
            Budget::Free { reserve: 0 } => "no budget: what is free".to_string(),
            Budget::Free { reserve } => {
                format!("no budget: what is free less {}", format_bytes(reserve))
            }
        }
    }
}

/// The budgets in force, for the models page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryBudgets {
    /// `--memory-budget-mib` in bytes; 0: none.
    pub ram: u64,
    pub gpus: Vec<GpuBudget>,
}

impl MemoryBudgets {
    pub fn of(&self, device: Device) -> Budget {
        match device {
            Device::Ram if self.ram > 0 => Budget::Set { bytes: self.ram },
            Device::Ram => Budget::Free { reserve: 0 },
            Device::Gpu(index) => match self.gpus.iter().find(|b| b.index == index) {
                Some(budget) => Budget::Set {
                    bytes: budget.bytes(),
                },
                None => Budget::Free {
                    reserve: GPU_RESERVE_BYTES,
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const GIB: u64 = 1 << 30;

    fn two_gpus() -> Vec<GpuFree> {
        vec![
            GpuFree {
                index: 0,
                free: 30 * GIB,
            },
            GpuFree {
                index: 1,
                free: 10 * GIB,
            },
        ]
    }

    #[test]
    fn a_budget_reads_as_a_gpu_and_mebibytes_in_each_spelling() {
        for text in ["0=20000", "gpu0=20000", "CUDA0 = 20000"] {
            assert_eq!(
                parse_gpu_budget(text),
                Ok(GpuBudget {
                    index: 0,
                    mib: 20000
                })
            );
        }
        for bad in [
            "",
            "0",
            "=5",
            "x=5",
            "0=-1",
            "0=lots",
            "99=5",
            "0=99999999999",
        ] {
            assert!(parse_gpu_budget(bad).is_err(), "{bad}");
        }
        let listed = parse_gpu_budgets(&["1=5".into(), "0=7".into(), "1=9".into()]).unwrap();
        assert_eq!(
            listed,
            [
                GpuBudget { index: 0, mib: 7 },
                GpuBudget { index: 1, mib: 9 }
            ]
        );
    }

    #[test]
    fn peaks_only_rise_and_say_so_past_the_margin() {
        let mut peaks = vec![(1, 10 * GIB)];
        assert!(!raise_peaks(&mut peaks, &[(1, 10 * GIB + 5)], 1 << 20));
        assert_eq!(peaks, [(1, 10 * GIB + 5)]);
        assert!(!raise_peaks(&mut peaks, &[(1, GIB)], 1 << 20));
        assert!(raise_peaks(&mut peaks, &[(0, 2 * GIB)], 1 << 20));
        assert_eq!(peaks, [(0, 2 * GIB), (1, 10 * GIB + 5)]);
    }

    #[test]
    fn by_default_a_need_spreads_by_free_memory_and_sums_to_the_whole() {
        let split = split_gpu(8 * GIB + 3, &GpuConfig::default(), &two_gpus());
        assert_eq!(split, [(0, 6 * GIB + 3), (1, 2 * GIB)]);
        // Weights past f64's range neither overflow nor lose the whole.
        let gpu = GpuConfig {
            tensor_split: Some("1e300,1e300".into()),
            ..GpuConfig::default()
        };
        let split = split_gpu(GIB, &gpu, &two_gpus());
        assert_eq!(split.iter().map(|(_, b)| *b).sum::<u64>(), GIB);
    }

    #[test]
    fn split_mode_none_puts_it_all_on_the_main_gpu() {
        let gpu = GpuConfig {
            split_mode: Some(SplitMode::None),
            main_gpu: Some(1),
            ..GpuConfig::default()
        };
        assert_eq!(split_gpu(GIB, &gpu, &two_gpus()), [(1, GIB)]);
    }

    #[test]
    fn a_tensor_split_sets_the_proportions() {
        let gpu = GpuConfig {
            tensor_split: Some("1,3".into()),
            ..GpuConfig::default()
        };
        assert_eq!(
            split_gpu(4 * GIB, &gpu, &two_gpus()),
            [(0, GIB), (1, 3 * GIB)]
        );
        // One part names only the first device.
        let gpu = GpuConfig {
            tensor_split: Some("1".into()),
            ..GpuConfig::default()
        };
        assert_eq!(split_gpu(4 * GIB, &gpu, &two_gpus()), [(0, 4 * GIB)]);
    }

    #[test]
    fn the_visible_devices_and_device_list_narrow_and_renumber_the_gpus() {
        let mut env = serde_json::Map::new();
        env.insert("CUDA_VISIBLE_DEVICES".into(), "1".into());
        let gpu = GpuConfig {
            env,
            ..GpuConfig::default()
        };
        assert_eq!(split_gpu(GIB, &gpu, &two_gpus()), [(1, GIB)]);
        let gpu = GpuConfig {
            devices: vec!["CUDA1".into()],
            ..GpuConfig::default()
        };
        assert_eq!(split_gpu(GIB, &gpu, &two_gpus()), [(1, GIB)]);
        assert!(split_gpu(GIB, &GpuConfig::default(), &[]).is_empty());
    }

    #[test]
    fn the_default_budget_is_what_others_leave_less_the_reserve() {
        let device_use = DeviceUse {
            device: Device::Gpu(0),
            name: "NVIDIA H200".into(),
            total: 140 * GIB,
            used: 50 * GIB,
            by_model: vec![(7, 30 * GIB), (8, 10 * GIB)],
            budget: Budget::Free {
                reserve: GPU_RESERVE_BYTES,
            },
        };
        assert_eq!(device_use.others_use(), 10 * GIB);
        // Free: 90 GiB, and the models' 40 GiB theirs to give back, less the reserve.
        assert_eq!(device_use.budget.room_for_models(&device_use), 129 * GIB);
        assert_eq!(device_use.title(), "GPU 0 · NVIDIA H200");
    }
}
