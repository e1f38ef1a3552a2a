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
    /// Memory each process holds on it, by pid, from NVML's per-process accounting: the
    /// server's own record for attributing use to models, never sent to a browser.
    #[serde(skip)]
    pub processes: Vec<(u32, u64)>,
}

impl SystemSample {
    /// Each GPU with the memory free on it (a GPU whose memory the driver would not give
    /// counts as none free).
    pub fn gpus_free(&self) -> Vec<crate::domain::device_memory::GpuFree> {
        self.gpus
            .iter()
            .map(|gpu| crate::domain::device_memory::GpuFree {
                index: gpu.index,
                free: gpu
                    .memory_total_bytes
                    .unwrap_or(0)
                    .saturating_sub(gpu.memory_used_bytes.unwrap_or(0)),
            })
            .collect()
    }

    /// What the process `pid` holds on each GPU of this sample (none where NVML does not
    /// list it).
    pub fn gpu_use_of(&self, pid: u32) -> Vec<crate::domain::device_memory::GpuBytes> {
        self.gpus
            .iter()
            .filter_map(|gpu| {
                let bytes = gpu
                    .processes
                    .iter()
                    .filter(|(p, _)| *p == pid)
                    .map(|(_, b)| *b)
                    .max()?;
                Some((gpu.index, bytes))
            })
            .collect()
    }
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
    /// Time to first token.
    Milliseconds,
}

choice_enum! {
    /// What a series measures; its wire word is the end of the stored series name.
    pub enum Reading {
        CpuPercent => "cpu_percent",
        MemoryUsedBytes => "memory_used_bytes",
        DiskUsedBytes => "disk_used_bytes",
        RssBytes => "rss_bytes",
        GpuMemoryBytes => "gpu_memory_bytes",
        UtilizationPercent => "utilization_percent",
        TemperatureC => "temperature_c",
        PowerWatts => "power_watts",
        PromptTokensPerS => "prompt_tokens_per_s",
        GenerationTokensPerS => "generation_tokens_per_s",
        RequestsProcessing => "requests_processing",
        RequestsDeferred => "requests_deferred",
        SlotsBusy => "slots_busy",
    }
}

impl Reading {
    pub fn unit(self) -> Unit {
        match self {
            Reading::CpuPercent | Reading::UtilizationPercent => Unit::Percent,
            Reading::MemoryUsedBytes
            | Reading::DiskUsedBytes
            | Reading::RssBytes
            | Reading::GpuMemoryBytes => Unit::Bytes,
            Reading::TemperatureC => Unit::Celsius,
            Reading::PowerWatts => Unit::Watts,
            Reading::PromptTokensPerS | Reading::GenerationTokensPerS => Unit::PerSecond,
            Reading::RequestsProcessing | Reading::RequestsDeferred | Reading::SlotsBusy => {
                Unit::Count
            }
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Reading::CpuPercent => "CPU",
            Reading::MemoryUsedBytes => "memory used",
            Reading::DiskUsedBytes => "disk used",
            Reading::RssBytes => "memory (RSS)",
            Reading::GpuMemoryBytes => "GPU memory",
            Reading::UtilizationPercent => "utilisation",
            Reading::TemperatureC => "temperature",
            Reading::PowerWatts => "power",
            Reading::PromptTokensPerS => "prompt tokens/s",
            Reading::GenerationTokensPerS => "generation tokens/s",
            Reading::RequestsProcessing => "requests processing",
            Reading::RequestsDeferred => "requests waiting",
            Reading::SlotsBusy => "slots busy",
        }
    }
}

/// Whose reading a series is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SeriesSource {
    /// The machine.
    Host,
    /// The Corral process.
    Corral,
    Gpu(u32),
    Model(i64),
}

/// A series: whose and what. Stored and sent as its name (`cpu_percent`, `corral_rss_bytes`,
/// `gpu0_temperature_c`, `model7_slots_busy`); the unit and the chart title come from the key,
/// never from parsing words out of a title.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub source: SeriesSource,
    pub reading: Reading,
}

impl SeriesKey {
    pub const fn new(source: SeriesSource, reading: Reading) -> SeriesKey {
        SeriesKey { source, reading }
    }

    pub fn unit(self) -> Unit {
        self.reading.unit()
    }

    /// The stored name.
    pub fn name(self) -> String {
        let reading = self.reading.as_str();
        match self.source {
            SeriesSource::Host => reading.to_string(),
            SeriesSource::Corral => format!("corral_{reading}"),
            SeriesSource::Gpu(i) => format!("gpu{i}_{reading}"),
            SeriesSource::Model(id) => format!("model{id}_{reading}"),
        }
    }

    /// The key a stored name stands for; `None` for a name no Corral writes.
    pub fn parse(name: &str) -> Option<SeriesKey> {
        let numbered = |prefix: &str| {
            let (number, reading) = name.strip_prefix(prefix)?.split_once('_')?;
            Some((number.parse().ok()?, Reading::parse(reading)?))
        };
        let (source, reading) = if let Some(reading) = name.strip_prefix("corral_") {
            (SeriesSource::Corral, Reading::parse(reading)?)
        } else if let Some((i, reading)) = numbered("gpu") {
            (SeriesSource::Gpu(u32::try_from(i).ok()?), reading)
        } else if let Some((id, reading)) = numbered("model") {
            (SeriesSource::Model(id), reading)
        } else {
            (SeriesSource::Host, Reading::parse(name)?)
        };
        Some(SeriesKey { source, reading })
    }

    /// What a chart of it is called.
    pub fn title(self) -> String {
        match (self.source, self.reading) {
            (SeriesSource::Host, Reading::MemoryUsedBytes) => "Memory used".into(),
            (SeriesSource::Host, Reading::DiskUsedBytes) => "Disk used (data directory)".into(),
            (SeriesSource::Host, reading) => capitalised(reading.label()),
            (SeriesSource::Corral, reading) => format!("Corral {}", reading.label()),
            (SeriesSource::Gpu(i), reading) => format!("GPU {i}: {}", reading.label()),
            (SeriesSource::Model(id), reading) => format!("Model {id}: {}", reading.label()),
        }
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

impl Serialize for SeriesKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for SeriesKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        SeriesKey::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown series '{name}'")))
    }
}

impl SystemSample {
    /// The sample as series: what the history stores and the charts draw. A GPU reading the
    /// driver would not give is left out.
    pub fn series(&self) -> Vec<(SeriesKey, f64)> {
        let host = |reading| SeriesKey::new(SeriesSource::Host, reading);
        let mut series = vec![
            (host(Reading::CpuPercent), self.cpu_percent),
            (
                host(Reading::MemoryUsedBytes),
                self.memory_used_bytes as f64,
            ),
            (host(Reading::DiskUsedBytes), self.disk_used_bytes as f64),
            (
                SeriesKey::new(SeriesSource::Corral, Reading::RssBytes),
                self.corral_rss_bytes as f64,
            ),
        ];
        for gpu in &self.gpus {
            let readings = [
                (Reading::UtilizationPercent, gpu.utilization_percent),
                (
                    Reading::MemoryUsedBytes,
                    gpu.memory_used_bytes.map(|b| b as f64),
                ),
                (Reading::TemperatureC, gpu.temperature_c),
                (Reading::PowerWatts, gpu.power_watts),
            ];
            series.extend(readings.into_iter().filter_map(|(reading, value)| {
                Some((
                    SeriesKey::new(SeriesSource::Gpu(gpu.index), reading),
                    value?,
                ))
            }));
        }
        series
    }

    /// The most a series of this sample can reach, where there is one (for the chart's scale).
    pub fn ceiling(&self, key: SeriesKey) -> Option<f64> {
        match (key.source, key.reading) {
            (_, reading) if reading.unit() == Unit::Percent => Some(100.0),
            (SeriesSource::Host, Reading::MemoryUsedBytes) => Some(self.memory_total_bytes as f64),
            (SeriesSource::Host, Reading::DiskUsedBytes) => Some(self.disk_total_bytes as f64),
            (SeriesSource::Gpu(i), Reading::MemoryUsedBytes) => self
                .gpus
                .iter()
                .find(|g| g.index == i)
                .and_then(|g| g.memory_total_bytes.map(|b| b as f64)),
            _ => None,
        }
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
        Unit::Milliseconds => format!("{value:.0} ms"),
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

/// On the wire `{"name", "unit", "points"}`, as the history API has always answered; the unit
/// is the key's, so it is written out rather than kept twice.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Series {
    #[serde(rename = "name")]
    pub key: SeriesKey,
    pub points: Vec<Point>,
}

impl Serialize for Series {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut series = serializer.serialize_struct("Series", 3)?;
        series.serialize_field("name", &self.key)?;
        series.serialize_field("unit", &self.key.unit())?;
        series.serialize_field("points", &self.points)?;
        series.end()
    }
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
        let names: Vec<String> = sample()
            .series()
            .into_iter()
            .map(|(k, _)| k.name())
            .collect();
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
            processes: Vec::new(),
        });
        let names: Vec<String> = s
            .series()
            .into_iter()
            .map(|(k, _)| k.name())
            .skip(4)
            .collect();
        assert_eq!(names, ["gpu0_utilization_percent", "gpu0_temperature_c"]);
    }

    #[test]
    fn every_stored_name_reads_back_as_its_key_with_its_unit() {
        let unit = |name: &str| SeriesKey::parse(name).map(SeriesKey::unit);
        assert_eq!(unit("cpu_percent"), Some(Unit::Percent));
        assert_eq!(unit("gpu1_temperature_c"), Some(Unit::Celsius));
        assert_eq!(unit("gpu0_power_watts"), Some(Unit::Watts));
        assert_eq!(unit("corral_rss_bytes"), Some(Unit::Bytes));
        assert_eq!(
            unit("model12_generation_tokens_per_s"),
            Some(Unit::PerSecond)
        );
        assert_eq!(format_value(1536.0, Unit::Bytes), "1.5 KiB");
        let sources = [
            SeriesSource::Host,
            SeriesSource::Corral,
            SeriesSource::Gpu(3),
            SeriesSource::Model(41),
        ];
        for source in sources {
            for reading in Reading::ALL {
                let key = SeriesKey::new(source, *reading);
                assert_eq!(SeriesKey::parse(&key.name()), Some(key), "{}", key.name());
            }
        }
    }

    #[test]
    fn a_series_travels_with_its_name_unit_and_points() {
        let series = Series {
            key: SeriesKey::new(SeriesSource::Gpu(1), Reading::TemperatureC),
            points: vec![],
        };
        let json = serde_json::to_value(&series).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"name": "gpu1_temperature_c", "unit": "celsius", "points": []})
        );
        assert_eq!(serde_json::from_value::<Series>(json).unwrap(), series);
    }

    #[test]
    fn names_no_corral_writes_are_not_keys() {
        for name in [
            "",
            "cpu",
            "gpu_x_power_watts",
            "gpux_power_watts",
            "model_rss_bytes",
            "corral_",
            "model7_",
        ] {
            assert_eq!(SeriesKey::parse(name), None, "{name}");
        }
    }

    #[test]
    fn chart_titles_come_from_the_key() {
        let title = |name: &str| SeriesKey::parse(name).map(SeriesKey::title);
        assert_eq!(title("cpu_percent").as_deref(), Some("CPU"));
        assert_eq!(
            title("corral_rss_bytes").as_deref(),
            Some("Corral memory (RSS)")
        );
        assert_eq!(
            title("gpu0_temperature_c").as_deref(),
            Some("GPU 0: temperature")
        );
        assert_eq!(
            title("model7_generation_tokens_per_s").as_deref(),
            Some("Model 7: generation tokens/s")
        );
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
