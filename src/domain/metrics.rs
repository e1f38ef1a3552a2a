//! Measured host numbers. A GPU's fields exist only when a GPU was read: never zeros or guesses.

use serde::{Deserialize, Serialize};

/// One reading of the machine, taken every second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemSample {
    /// Unix milliseconds.
    pub at: i64,
    pub cpu_percent: f64,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    /// The disk holding Corral's data directory.
    pub disk_used_bytes: u64,
    pub disk_total_bytes: u64,
    /// Resident memory of the Corral process itself.
    pub corral_rss_bytes: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<GpuSample>,
}

/// One GPU's reading (NVIDIA, through NVML). A field the driver would not give is `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuSample {
    pub index: u32,
    pub name: String,
    pub utilization_percent: Option<f64>,
    pub memory_used_bytes: Option<u64>,
    pub memory_total_bytes: Option<u64>,
    pub temperature_c: Option<f64>,
    pub power_watts: Option<f64>,
}
