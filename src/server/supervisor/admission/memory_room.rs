//! Room in memory for a start, after its place under `--max-running` is held, on every device
//! its need touches: the machine's RAM and each GPU it will use. On each, the start's need
//! (measured, else estimated) beside what the running models hold and what other starts were
//! promised must fit the device's budget (`--memory-budget-mib`, `--gpu-budget-mib DEV=MIB`;
//! none set: what is free, less a reserve on a GPU). The fewest least recently used models
//! that hold memory on the devices that are short are stopped (when the setting is
//! `stop-least-recent`), and only those; when even all of them would not do, none is stopped,
//! and a budget refuses while free memory refuses or warns (`--fit-check`), with the numbers
//! per device.

use std::collections::HashMap;

use crate::domain::device_memory::{Budget, Device, DeviceUse, RunMemory, device_uses};
use crate::domain::run_group::GroupRules;
use crate::domain::settings::{FitCheck, WhenFull};
use crate::domain::time::format_bytes;
use crate::domain::{AppError, Model};
use crate::server::supervisor::admission::eviction::Victim;
use crate::server::supervisor::admission::places::Promise;
use crate::server::supervisor::admission::{Admission, Stopper};
use crate::server::supervisor::prepare::memory_need::Need;
use crate::server::supervisor::settings::SupervisorSettings;

/// One device a start does not fit on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortfall {
    pub device: Device,
    /// The start's need on it.
    pub need: u64,
    /// What the running models hold there, with what other starts were promised and have
    /// not taken yet.
    pub held: u64,
    /// What the budget lets the models hold together.
    pub room: u64,
    pub budget: Budget,
}

impl Shortfall {
    /// Bytes that stopping runs must free there for the start to fit.
    pub fn bytes(&self) -> u64 {
        self.held
            .saturating_add(self.need)
            .saturating_sub(self.room)
    }
}

/// Memory promised to starts not loaded yet, per model.
pub type Promised = HashMap<i64, Vec<(Device, u64)>>;

/// Every device where `need` (bytes per device) of a start of `starting` does not fit beside
/// what `uses` shows and what the other `promised` starts have not taken yet. A device with
/// no reading is no reason to refuse.
pub fn shortfalls(
    uses: &[DeviceUse],
    need: &[(Device, u64)],
    starting: i64,
    promised: &Promised,
) -> Vec<Shortfall> {
    need.iter()
        .filter(|(_, bytes)| *bytes > 0)
        .filter_map(|&(device, bytes)| {
            let use_ = uses.iter().find(|u| u.device == device)?;
            let holds = |model: i64| {
                use_.by_model
                    .iter()
                    .filter(|(m, _)| *m == model)
                    .map(|(_, b)| *b)
                    .fold(0, u64::saturating_add)
            };
            let running: u64 = use_
                .by_model
                .iter()
                .filter(|(m, _)| *m != starting)
                .map(|(_, b)| *b)
                .fold(0, u64::saturating_add);
            let coming: u64 = promised
                .iter()
                .filter(|(m, _)| **m != starting)
                .flat_map(|(m, needs)| {
                    needs
                        .iter()
                        .filter(|(d, _)| *d == device)
                        .map(move |(_, b)| b.saturating_sub(holds(*m)))
                })
                .fold(0, u64::saturating_add);
            let shortfall = Shortfall {
                device,
                need: bytes,
                held: running.saturating_add(coming),
                room: use_.budget.room_for_models(use_),
                budget: use_.budget,
            };
            (shortfall.bytes() > 0).then_some(shortfall)
        })
        .collect()
}

impl Admission {
    /// Every device now: RAM from the kernel, GPUs from the machine's latest NVML reading,
    /// each live run's share by its process.
    pub fn devices_now(&self, settings: &SupervisorSettings) -> Vec<DeviceUse> {
        let ram = sysinfo::System::new().ok().map_or((0, 0), |mut system| {
            system.refresh_memory();
            let total = system.total_memory();
            (total, total.saturating_sub(system.available_memory()))
        });
        let (gpus, runs) = self.hub.read(|s| {
            let last = s.metrics.last();
            let runs: Vec<RunMemory> = s
                .runs
                .iter()
                .map(|run| RunMemory {
                    model_id: run.model_id,
                    ram: rss_bytes(run.pid).unwrap_or(0),
                    gpus: last.map(|m| m.gpu_use_of(run.pid)).unwrap_or_default(),
                })
                .collect();
            (last.map(|m| m.gpus.clone()).unwrap_or_default(), runs)
        });
        device_uses(ram, &gpus, &runs, &settings.memory_budgets())
    }

    /// Stops the least recently used model that may be stopped for `model_id` and holds
    /// memory on a device of `need` (its GPUs, else RAM): the room a load that ran out of
    /// memory gets before its one retry. Answers the model stopped, if any.
    pub async fn stop_one_more(
        &self,
        model_id: i64,
        need: Option<&Need>,
        rules: &GroupRules,
        stopper: &impl Stopper,
        settings: &SupervisorSettings,
    ) -> Option<i64> {
        // Its GPUs first, then RAM: a host out of memory, or GPU use NVML would not attribute,
        // still gets its one retry.
        let mut devices: Vec<(Device, u64)> = need
            .map(|need| {
                need.gpus
                    .iter()
                    .map(|&(i, _)| (Device::Gpu(i), 1))
                    .collect()
            })
            .unwrap_or_default();
        devices.push((Device::Ram, 1));
        let uses = self.devices_now(settings);
        let busy = self.demand.busy();
        // Any one of the devices will do: the first run in stop order on one of them.
        let victims = devices.iter().find_map(|short| {
            self.places.claim_memory(
                (model_id, rules),
                std::slice::from_ref(short),
                &self.handles,
                &busy,
                &|model| held_by(&uses, model),
            )
        })?;
        // Only the first is stopped; the rest were claimed with it.
        for (other, _) in victims.iter().skip(1) {
            self.places.evicted(*other);
        }
        let victim = *victims.first()?;
        self.stop(stopper, victim).await;
        Some(victim.0)
    }

    /// Makes room in memory for `model` on every device its need touches, stopping the fewest
    /// least recently used models there that free enough, as allowed; refuses (or warns) when
    /// it cannot, without stopping anything for nothing. A start let in holds a promise of
    /// its need until its server has loaded.
    pub(super) async fn memory_room(
        &self,
        (model, rules): (&Model, &GroupRules),
        need: &Need,
        settings: &SupervisorSettings,
        stopper: &impl Stopper,
    ) -> Result<Promise, AppError> {
        let mut stops_left = self.handles.len();
        let per_device = need.per_device();
        loop {
            let uses = self.devices_now(settings);
            let fits = |promised: &Promised| {
                let short = shortfalls(&uses, &per_device, model.id, promised);
                if short.is_empty() { Ok(()) } else { Err(short) }
            };
            let short = match self.places.promise_if(model.id, per_device.clone(), fits) {
                Ok(promise) => return Ok(promise),
                Err(short) => short,
            };
            // A budget makes room; free memory does only when a start that does not fit is
            // refused (set to warn, it goes ahead instead).
            let wanted: Vec<(Device, u64)> = short
                .iter()
                .filter(|s| {
                    settings.fit_check == FitCheck::Refuse || matches!(s.budget, Budget::Set { .. })
                })
                .map(|s| (s.device, s.bytes()))
                .collect();
            let may_stop = settings.when_full == WhenFull::StopLeastRecent && !wanted.is_empty();
            let victims = (may_stop && stops_left > 0)
                .then(|| {
                    let busy = self.demand.busy();
                    self.places.claim_memory(
                        (model.id, rules),
                        &wanted,
                        &self.handles,
                        &busy,
                        &|model| held_by(&uses, model),
                    )
                })
                .flatten();
            if let Some(victims) = victims.filter(|v| !v.is_empty()) {
                stops_left = stops_left.saturating_sub(victims.len());
                tracing::info!(
                    stopping = ?victims,
                    starting = model.id,
                    short = ?wanted,
                    "making room in memory: stopping the least recently used"
                );
                self.stop_for_memory(&victims, &wanted, stopper).await;
                continue;
            }
            let message = refusal(&model.spec.name, need, &short, &uses, &|id| {
                self.name_of(id)
            });
            let only_free = short
                .iter()
                .all(|s| matches!(s.budget, Budget::Free { .. }));
            if only_free && settings.fit_check == FitCheck::Warn {
                tracing::warn!(
                    model_id = model.id,
                    "{message}; starting anyway (fit check: warn)"
                );
                let promise = self
                    .places
                    .promise_if(model.id, per_device, |_| Ok::<(), ()>(()));
                if let Ok(promise) = promise {
                    return Ok(promise);
                }
            }
            let hint = if only_free {
                "stop a model, lower its context or offload fewer layers (or set 'When a model \
                 will not fit' to warn in Settings)"
            } else {
                "stop a model, lower its context or raise the budget (Settings)"
            };
            return Err(AppError::Conflict {
                field: "memory".into(),
                message: format!("{message}; {hint}"),
            });
        }
    }

    /// Stops `victims` for a start short of `wanted`, and waits for the GPUs to show them gone.
    async fn stop_for_memory(
        &self,
        victims: &[Victim],
        wanted: &[(Device, u64)],
        stopper: &impl Stopper,
    ) {
        let pids: Vec<u32> = victims
            .iter()
            .filter_map(|(id, _)| self.handles.get(*id).map(|h| h.pid))
            .collect();
        let stops = victims.iter().map(|victim| self.stop(stopper, *victim));
        futures::future::join_all(stops).await;
        if wanted.iter().any(|(d, _)| *d != Device::Ram) {
            self.gpus_let_go(&pids).await;
        }
    }

    /// Waits (a few seconds at most) for a GPU reading taken after `pids` ended that no longer
    /// lists them: the driver frees a process's memory late, and a reading from before would
    /// count it as another process's and stop one model too many.
    async fn gpus_let_go(&self, pids: &[u32]) {
        let since = crate::server::now_ms();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
        while tokio::time::Instant::now() < deadline {
            let fresh = self.hub.read(|s| {
                s.metrics.last().is_none_or(|m| {
                    m.at > since
                        && !m
                            .gpus
                            .iter()
                            .any(|g| g.processes.iter().any(|(p, _)| pids.contains(p)))
                })
            });
            if fresh {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Where a start of `model_id` with `need` would not fit now (before any model is
    /// stopped for it), in words; `None` when it fits everywhere.
    pub fn would_not_fit(
        &self,
        model_id: i64,
        need: &Need,
        settings: &SupervisorSettings,
    ) -> Option<String> {
        let uses = self.devices_now(settings);
        let short = shortfalls(&uses, &need.per_device(), model_id, &Promised::new());
        if short.is_empty() {
            return None;
        }
        let name = self.name_of(model_id);
        Some(refusal(&name, need, &short, &uses, &|id| self.name_of(id)))
    }

    /// A model's name, for messages (`model N` for one since deleted).
    pub(super) fn name_of(&self, model_id: i64) -> String {
        self.hub.read(|s| {
            s.models
                .iter()
                .find(|m| m.id == model_id)
                .map_or_else(|| format!("model {model_id}"), |m| m.spec.name.clone())
        })
    }
}

/// What `model`'s run holds on each device.
fn held_by(uses: &[DeviceUse], model: i64) -> Vec<(Device, u64)> {
    uses.iter()
        .filter_map(|u| {
            let bytes = u.by_model.iter().find(|(m, _)| *m == model)?.1;
            Some((u.device, bytes))
        })
        .collect()
}

/// Most models named in a refusal per device.
const NAMED: usize = 4;

/// Why a start does not fit, per device short: `'big' needs 1.0 GiB of RAM and 30.0 GiB on
/// GPU 0 (…) but the running models hold 20.0 GiB (a 12.0 GiB, b 8.0 GiB) of the 40.0 GiB
/// memory budget of GPU 0 · NVIDIA H200`.
pub fn refusal(
    name: &str,
    need: &Need,
    short: &[Shortfall],
    uses: &[DeviceUse],
    name_of: &dyn Fn(i64) -> String,
) -> String {
    let sentences: Vec<String> = short
        .iter()
        .map(|s| {
            let use_ = uses.iter().find(|u| u.device == s.device);
            let title = use_.map_or_else(|| s.device.label(), DeviceUse::title);
            let by_whom = use_.map(|u| by_whom(u, name_of)).unwrap_or_default();
            match s.budget {
                Budget::Set { bytes } => format!(
                    "the running models hold {}{by_whom} of the {} memory budget of {title}",
                    format_bytes(s.held),
                    format_bytes(bytes)
                ),
                Budget::Free { .. } if s.device == Device::Ram => format!(
                    "{} of RAM is free{by_whom}",
                    format_bytes(s.room.saturating_sub(s.held))
                ),
                Budget::Free { reserve } => format!(
                    "{} of {title} is free after a {} reserve{by_whom}",
                    format_bytes(s.room.saturating_sub(s.held)),
                    format_bytes(reserve)
                ),
            }
        })
        .collect();
    format!(
        "'{name}' needs {} but {}",
        need.describe(),
        sentences.join(", and ")
    )
}

/// ` (held by a 12.0 GiB, b 8.0 GiB, other processes 2.0 GiB)`, or nothing when nothing is.
fn by_whom(use_: &DeviceUse, name_of: &dyn Fn(i64) -> String) -> String {
    let mut held: Vec<(i64, u64)> = use_.by_model.clone();
    held.sort_by_key(|(_, b)| std::cmp::Reverse(*b));
    let mut parts: Vec<String> = held
        .iter()
        .take(NAMED)
        .map(|(m, b)| format!("{} {}", name_of(*m), format_bytes(*b)))
        .collect();
    if held.len() > NAMED {
        parts.push(format!("{} more", held.len() - NAMED));
    }
    let others = use_.others_use();
    if use_.device != Device::Ram && others > 0 {
        parts.push(format!("other processes {}", format_bytes(others)));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" (held by {})", parts.join(", "))
    }
}

/// Resident memory of a process, from `/proc/<pid>/status` (`VmRSS: 1234 kB`).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::device_memory::{GPU_RESERVE_BYTES, GpuBudget, MemoryBudgets};
    use crate::domain::metrics::GpuSample;

    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;

    /// `nvidia-smi`'s view of one H200 with two of Corral's models and a desktop session,
    /// as NVML reported it (bytes per process from nvmlDeviceGetComputeRunningProcesses).
    fn recorded_h200() -> Vec<GpuSample> {
        vec![GpuSample {
            index: 0,
            name: "NVIDIA H200".into(),
            utilization_percent: Some(3.0),
            memory_used_bytes: Some(97_113 * MIB),
            memory_total_bytes: Some(143_771 * MIB),
            temperature_c: Some(31.0),
            power_watts: Some(118.2),
            processes: vec![
                (4101, 61_450 * MIB),
                (4188, 33_812 * MIB),
                (977, 1_290 * MIB),
            ],
        }]
    }

    fn gpu0_budget(mib: u64) -> MemoryBudgets {
        MemoryBudgets {
            ram: 0,
            gpus: vec![GpuBudget { index: 0, mib }],
        }
    }

    fn uses(budgets: &MemoryBudgets) -> Vec<DeviceUse> {
        let runs = [(1, 4101), (2, 4188)].map(|(model_id, pid)| {
            let sample = crate::domain::metrics::SystemSample {
                at: 0,
                cpu_percent: 0.0,
                memory_used_bytes: 0,
                memory_total_bytes: 0,
                disk_used_bytes: 0,
                disk_total_bytes: 0,
                corral_rss_bytes: 0,
                gpus: recorded_h200(),
            };
            RunMemory {
                model_id,
                ram: 2 * GIB,
                gpus: sample.gpu_use_of(pid),
            }
        });
        device_uses((64 * GIB, 20 * GIB), &recorded_h200(), &runs, budgets)
    }

    #[test]
    fn recorded_nvml_figures_give_each_model_its_share_and_the_rest_to_others() {
        let uses = uses(&MemoryBudgets::default());
        let gpu = uses.iter().find(|u| u.device == Device::Gpu(0)).unwrap();
        assert_eq!(gpu.by_model, [(1, 61_450 * MIB), (2, 33_812 * MIB)]);
        // The driver's own use and the desktop's 1,290 MiB are nobody's model.
        assert_eq!(gpu.others_use(), (97_113 - 61_450 - 33_812) * MIB);
        assert_eq!(
            gpu.budget,
            Budget::Free {
                reserve: GPU_RESERVE_BYTES
            }
        );
    }

    #[test]
    fn a_start_that_fits_the_free_gpu_memory_is_short_nowhere() {
        let uses = uses(&MemoryBudgets::default());
        // 143,771 − 97,113 = 46,658 MiB free, less the 1 GiB reserve.
        let need = [(Device::Ram, GIB), (Device::Gpu(0), 45_000 * MIB)];
        assert!(shortfalls(&uses, &need, 9, &Promised::new()).is_empty());
        let need = [(Device::Ram, GIB), (Device::Gpu(0), 46_000 * MIB)];
        let short = shortfalls(&uses, &need, 9, &Promised::new());
        assert_eq!(short.len(), 1);
        assert_eq!(short[0].device, Device::Gpu(0));
        assert_eq!(short[0].bytes(), (46_000 + 1024 - 46_658) * MIB);
    }

    #[test]
    fn mapped_model_files_counted_in_resident_size_never_make_free_ram_look_short() {
        // 40 GiB resident (mostly mapped file pages), 8 GiB used in the kernel's count.
        let runs = [RunMemory {
            model_id: 1,
            ram: 40 * GIB,
            gpus: Vec::new(),
        }];
        let uses = device_uses((64 * GIB, 8 * GIB), &[], &runs, &MemoryBudgets::default());
        let need = [(Device::Ram, 30 * GIB)];
        assert!(shortfalls(&uses, &need, 9, &Promised::new()).is_empty());
        // More than is free is short by exactly what is missing.
        let need = [(Device::Ram, 60 * GIB)];
        assert_eq!(
            shortfalls(&uses, &need, 9, &Promised::new())[0].bytes(),
            4 * GIB
        );
    }

    #[test]
    fn a_gpu_budget_counts_only_the_models_and_a_promise_counts_what_is_not_taken_yet() {
        let uses = uses(&gpu0_budget(100_000));
        let need = [(Device::Gpu(0), 4_000 * MIB)];
        // The models hold 95,262 MiB of 100,000: 4,000 more fits.
        assert!(shortfalls(&uses, &need, 9, &Promised::new()).is_empty());
        // Another start was promised 10,000 MiB and has loaded none of it yet.
        let promised = Promised::from([(7, vec![(Device::Gpu(0), 10_000 * MIB)])]);
        let short = shortfalls(&uses, &need, 9, &promised);
        assert_eq!(short[0].bytes(), (95_262 + 10_000 + 4_000 - 100_000) * MIB);
        // A promise to model 1, which holds 61,450 MiB already, adds only what it lacks.
        let promised = Promised::from([(1, vec![(Device::Gpu(0), 66_000 * MIB)])]);
        let short = shortfalls(&uses, &need, 9, &promised);
        assert_eq!(short[0].bytes(), (95_262 + 4_550 + 4_000 - 100_000) * MIB);
    }

    #[test]
    fn a_refusal_says_the_numbers_and_who_holds_the_memory_on_each_short_device() {
        let uses = uses(&gpu0_budget(100_000));
        let need = Need {
            bytes: GIB,
            gpus: vec![(0, 30 * GIB)],
            measured: false,
            gpus_measured: false,
        };
        let short = shortfalls(&uses, &need.per_device(), 9, &Promised::new());
        let names = |id: i64| ["", "qwen", "llama"][id as usize].to_string();
        let text = refusal("big", &need, &short, &uses, &names);
        assert_eq!(
            text,
            "'big' needs 1.0 GiB of RAM and 30.0 GiB on GPU 0 (estimated from its file) but \
             the running models hold 93.0 GiB (held by qwen 60.0 GiB, llama 33.0 GiB, other \
             processes 1.8 GiB) of the 97.7 GiB memory budget of GPU 0 · NVIDIA H200"
        );
    }
}
