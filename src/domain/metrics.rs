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

/// How a series' values read to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Percent,
    Bytes,
    Celsius,
    Watts,
    /// Tokens per second.
    PerSecond,
    /// Requests, slots: plain counts.
    Count,
}

impl SystemSample {
    /// The sample as named series: the names the history stores and the charts draw.
    pub fn series(&self) -> Vec<(String, f64)> {
        let mut series = vec![
            ("cpu_percent".to_string(), self.cpu_percent),
            (
                "memory_used_bytes".to_string(),
                self.memory_used_bytes as f64,
            ),
            ("disk_used_bytes".to_string(), self.disk_used_bytes as f64),
            ("corral_rss_bytes".to_string(), self.corral_rss_bytes as f64),
        ];
        for gpu in &self.gpus {
            let i = gpu.index;
            let readings = [
                ("utilization_percent", gpu.utilization_percent),
                ("memory_used_bytes", gpu.memory_used_bytes.map(|b| b as f64)),
                ("temperature_c", gpu.temperature_c),
                ("power_watts", gpu.power_watts),
            ];
            series.extend(
                readings
                    .into_iter()
                    .filter_map(|(name, value)| Some((format!("gpu{i}_{name}"), value?))),
            );
        }
        series
    }
}

/// The unit of a series, from its name.
pub fn unit_of(series: &str) -> Unit {
    if series.ends_with("_percent") {
        Unit::Percent
    } else if series.ends_with("_c") {
        Unit::Celsius
    } else if series.ends_with("_watts") {
        Unit::Watts
    } else if series.ends_with("_per_s") {
        Unit::PerSecond
    } else if series.ends_with("_processing")
        || series.ends_with("_deferred")
        || series.ends_with("_busy")
    {
        Unit::Count
    } else {
        Unit::Bytes
    }
}

/// Shows a value with its unit: `42.0 %`, `3.2 GiB`, `61 °C`, `180 W`.
pub fn format_value(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Percent => format!("{value:.1} %"),
        Unit::Bytes => crate::domain::time::format_bytes(value.max(0.0) as u64),
        Unit::Celsius => format!("{value:.0} °C"),
        Unit::Watts => format!("{value:.0} W"),
        Unit::PerSecond => format!("{value:.1} tok/s"),
        Unit::Count => format!("{value:.0}"),
    }
}

/// `POST /api/metrics/history`: a time range and how many points per series at most.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryQuery {
    /// Unix milliseconds.
    pub from: i64,
    pub to: i64,
    pub points: u32,
}

pub const MAX_HISTORY_POINTS: u32 = 2000;

impl HistoryQuery {
    pub fn validate(&self) -> Result<(), crate::domain::AppError> {
        use crate::domain::{FieldError, Rule};
        let mut errors = Vec::new();
        if self.from < 0 {
            errors.push(FieldError::new(
                "from",
                Rule::Range,
                "must be a Unix time in milliseconds",
            ));
        }
        if self.to <= self.from {
            errors.push(FieldError::new("to", Rule::Range, "must be after from"));
        }
        if self.points == 0 || self.points > MAX_HISTORY_POINTS {
            errors.push(FieldError::new(
                "points",
                Rule::Range,
                format!("must be between 1 and {MAX_HISTORY_POINTS}"),
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(crate::domain::AppError::Invalid { errors })
        }
    }
}

/// One aggregated point: the bucket's start and its mean, minimum and maximum.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub at: i64,
    pub avg: f64,
    pub min: f64,
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub name: String,
    pub unit: Unit,
    pub points: Vec<Point>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SystemSample {
        SystemSample {
            at: 1,
            cpu_percent: 12.5,
            memory_used_bytes: 100,
            memory_total_bytes: 200,
            disk_used_bytes: 300,
            disk_total_bytes: 400,
            corral_rss_bytes: 50,
            gpus: vec![],
        }
    }

    #[test]
    fn a_machine_without_gpu_has_no_gpu_series() {
        let names: Vec<String> = sample().series().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "cpu_percent",
                "memory_used_bytes",
                "disk_used_bytes",
                "corral_rss_bytes"
            ]
        );
    }

    #[test]
    fn a_gpu_reading_the_driver_refused_is_left_out_not_zeroed() {
        let mut s = sample();
        s.gpus.push(GpuSample {
            index: 0,
            name: "RTX".into(),
            utilization_percent: Some(40.0),
            memory_used_bytes: None,
            memory_total_bytes: None,
            temperature_c: Some(61.0),
            power_watts: None,
        });
        let names: Vec<String> = s.series().into_iter().map(|(n, _)| n).skip(4).collect();
        assert_eq!(names, ["gpu0_utilization_percent", "gpu0_temperature_c"]);
    }

    #[test]
    fn units_come_from_series_names() {
        assert_eq!(unit_of("cpu_percent"), Unit::Percent);
        assert_eq!(unit_of("gpu1_temperature_c"), Unit::Celsius);
        assert_eq!(unit_of("gpu0_power_watts"), Unit::Watts);
        assert_eq!(unit_of("corral_rss_bytes"), Unit::Bytes);
        assert_eq!(format_value(1536.0, Unit::Bytes), "1.5 KiB");
    }

    #[test]
    fn a_history_query_must_be_a_forward_range_with_a_sane_point_count() {
        assert!(
            HistoryQuery {
                from: 0,
                to: 10,
                points: 5
            }
            .validate()
            .is_ok()
        );
        let Err(crate::domain::AppError::Invalid { errors }) = (HistoryQuery {
            from: 10,
            to: 10,
            points: 0,
        })
        .validate() else {
            panic!()
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["to", "points"]);
    }
}
