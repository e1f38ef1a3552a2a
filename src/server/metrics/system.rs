//! Reads the machine: CPU, memory, the data directory's disk, Corral's own memory, and NVIDIA
//! GPUs through NVML when a driver is present (no driver: no GPU fields at all).

use std::path::{Path, PathBuf};

use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
use nvml_wrapper::enums::device::UsedGpuMemory;
use sysinfo::{Disks, Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use crate::domain::metrics::{GpuSample, SystemSample};
use crate::server::now_ms;

pub struct SystemProbe {
    system: System,
    disks: Disks,
    data_dir: PathBuf,
    pid: Option<Pid>,
    nvml: Option<Nvml>,
    primed: bool,
}

impl SystemProbe {
    /// `None` where the platform cannot be read at all.
    pub fn new(data_dir: &Path) -> Option<SystemProbe> {
        let system = match System::new() {
            Ok(system) => system,
            Err(error) => {
                tracing::warn!(%error, "system metrics are not available on this platform");
                return None;
            }
        };
        let disks = Disks::new_with_refreshed_list().ok()?;
        let nvml = match Nvml::init() {
            Ok(nvml) => Some(nvml),
            Err(error) => {
                tracing::info!(%error, "no NVIDIA GPU metrics (NVML not available)");
                None
            }
        };
        Some(SystemProbe {
            system,
            disks,
            data_dir: data_dir
                .canonicalize()
                .unwrap_or_else(|_| data_dir.to_path_buf()),
            pid: sysinfo::get_current_pid().ok(),
            nvml,
            primed: false,
        })
    }

    /// One reading. The first call only primes CPU counters (usage needs two readings) and
    /// returns `None`, so no invented 0 % is ever reported.
    pub fn sample(&mut self) -> Option<SystemSample> {
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        if let Some(pid) = self.pid {
            self.system.refresh_processes_specifics(
                ProcessesToUpdate::Some(&[pid]),
                false,
                ProcessRefreshKind::nothing().with_memory(),
            );
        }
        self.disks.refresh(false);
        if !self.primed {
            self.primed = true;
            return None;
        }
        let disk = self
            .disks
            .iter()
            .filter(|d| self.data_dir.starts_with(d.mount_point()))
            .max_by_key(|d| d.mount_point().as_os_str().len());
        let (disk_total, disk_free) =
            disk.map_or((0, 0), |d| (d.total_space(), d.available_space()));
        Some(SystemSample {
            at: now_ms(),
            cpu_percent: f64::from(self.system.global_cpu_usage()),
            memory_used_bytes: self.system.used_memory(),
            memory_total_bytes: self.system.total_memory(),
            disk_used_bytes: disk_total.saturating_sub(disk_free),
            disk_total_bytes: disk_total,
            corral_rss_bytes: self
                .pid
                .and_then(|pid| self.system.process(pid))
                .map_or(0, |p| p.memory()),
            gpus: self.nvml.as_ref().map(read_gpus).unwrap_or_default(),
        })
    }
}

/// Most processes read per GPU (a bound on what one reading keeps).
const MAX_PROCESSES: usize = 256;

/// Memory each process holds on `device` (compute and graphics contexts, a process with both
/// counted once, at its larger figure); a process whose figure the driver withholds is left
/// out, never guessed.
fn processes_on(device: &nvml_wrapper::Device<'_>) -> Vec<(u32, u64)> {
    let listed = [
        device.running_compute_processes(),
        device.running_graphics_processes(),
    ];
    let mut processes: Vec<(u32, u64)> = Vec::new();
    for info in listed.into_iter().flatten().flatten() {
        let UsedGpuMemory::Used(bytes) = info.used_gpu_memory else {
            continue;
        };
        if let Some(seen) = processes.iter_mut().find(|(pid, _)| *pid == info.pid) {
            seen.1 = seen.1.max(bytes);
        } else if processes.len() < MAX_PROCESSES {
            processes.push((info.pid, bytes));
        }
    }
    processes
}

/// Every GPU NVML lists; a reading the driver refuses is `None`, never a guess.
fn read_gpus(nvml: &Nvml) -> Vec<GpuSample> {
    let count = nvml.device_count().unwrap_or(0);
    (0..count)
        .filter_map(|index| {
            let device = nvml.device_by_index(index).ok()?;
            let memory = device.memory_info().ok();
            Some(GpuSample {
                index,
                name: device.name().unwrap_or_else(|_| format!("GPU {index}")),
                utilization_percent: device.utilization_rates().ok().map(|u| f64::from(u.gpu)),
                memory_used_bytes: memory.as_ref().map(|m| m.used),
                memory_total_bytes: memory.as_ref().map(|m| m.total),
                temperature_c: device
                    .temperature(TemperatureSensor::Gpu)
                    .ok()
                    .map(f64::from),
                power_watts: device.power_usage().ok().map(|mw| f64::from(mw) / 1000.0),
                processes: processes_on(&device),
            })
        })
        .collect()
}
