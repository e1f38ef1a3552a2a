//! Runs of a model: one `llama-server` process from spawn to exit, what it is doing while it
//! lives, why it ended, and the lines it logged.

use crate::domain::metrics::{Reading, SeriesKey, SeriesSource};
use serde::{Deserialize, Serialize};

choice_enum! {
    /// Why a run failed, as a person can act on it.
    pub enum FailureReason {
        FileMissing => "file_missing",
        NotGguf => "not_gguf",
        PortInUse => "port_in_use",
        InvalidArgument => "invalid_argument",
        OutOfMemory => "out_of_memory",
        LoadTimeout => "load_timeout",
        Other => "other",
    }
}

impl FailureReason {
    /// A sentence that says what happened and what to do.
    pub fn advice(self) -> &'static str {
        match self {
            FailureReason::FileMissing => {
                "A file the model needs does not exist; check the model path (and any LoRA or projector paths)."
            }
            FailureReason::NotGguf => "The file is not a GGUF model; pick a .gguf file.",
            FailureReason::PortInUse => {
                "The port was taken by another program; free it or change Corral's port range."
            }
            FailureReason::InvalidArgument => {
                "llama-server refused an argument; check the settings and extra arguments."
            }
            FailureReason::OutOfMemory => {
                "Not enough memory; lower the context size or GPU layers, or stop another model."
            }
            FailureReason::LoadTimeout => {
                "The model did not finish loading in time; see the log for where it stalled."
            }
            FailureReason::Other => "llama-server stopped unexpectedly; see the last log lines.",
        }
    }
}

/// One run as recorded in the `runs` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: i64,
    pub model_id: i64,
    pub pid: Option<u32>,
    pub pgid: Option<u32>,
    pub port: u16,
    /// The exact argument list, program first.
    pub command: Vec<String>,
    /// Unix milliseconds.
    pub started_at: i64,
    pub ready_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub failure: Option<FailureReason>,
    /// What happened, in words (for failures: the reason and the telling log line).
    pub message: Option<String>,
    /// The last lines the process logged, kept so a failed start can be read after a restart.
    pub log_tail: Vec<String>,
    /// The most resident memory the process was seen to use.
    #[serde(default)]
    pub peak_rss_bytes: Option<u64>,
}

/// Numbers scraped from a running server and its process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelSample {
    /// Unix milliseconds.
    pub at: i64,
    pub prompt_tokens_per_s: Option<f64>,
    pub generation_tokens_per_s: Option<f64>,
    pub requests_processing: Option<f64>,
    pub requests_deferred: Option<f64>,
    pub slots_busy: Option<u32>,
    pub slots_total: Option<u32>,
    pub rss_bytes: Option<u64>,
    /// What the process holds on each GPU (NVML's per-process accounting); empty without
    /// NVML or off the GPUs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpu_memory: Vec<crate::domain::device_memory::GpuBytes>,
}

impl ModelSample {
    /// Its GPU memory over every GPU, when NVML listed it on any.
    pub fn gpu_memory_bytes(&self) -> Option<u64> {
        (!self.gpu_memory.is_empty()).then(|| {
            self.gpu_memory
                .iter()
                .map(|(_, b)| *b)
                .fold(0, u64::saturating_add)
        })
    }

    /// The sample as series for the metrics history; readings not taken are left out.
    pub fn series(&self, model_id: i64) -> Vec<(SeriesKey, f64)> {
        let readings = [
            (Reading::PromptTokensPerS, self.prompt_tokens_per_s),
            (Reading::GenerationTokensPerS, self.generation_tokens_per_s),
            (Reading::RequestsProcessing, self.requests_processing),
            (Reading::RequestsDeferred, self.requests_deferred),
            (Reading::SlotsBusy, self.slots_busy.map(f64::from)),
            (Reading::RssBytes, self.rss_bytes.map(|b| b as f64)),
            (
                Reading::GpuMemoryBytes,
                self.gpu_memory_bytes().map(|b| b as f64),
            ),
        ];
        readings
            .into_iter()
            .filter_map(|(reading, value)| {
                Some((
                    SeriesKey::new(SeriesSource::Model(model_id), reading),
                    value?,
                ))
            })
            .collect()
    }
}

/// A run that is alive now, as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveRun {
    pub model_id: i64,
    pub run_id: i64,
    pub pid: u32,
    pub port: u16,
    pub started_at: i64,
    pub ready_at: Option<i64>,
    /// While loading: the latest thing the log said (llama-server prints no percentage).
    pub stage: Option<String>,
    pub sample: Option<ModelSample>,
    /// How long this model's recent loads took (the median of its last few that became
    /// ready), so a loading bar can show progress against its own history; `None` without any.
    #[serde(default)]
    pub typical_load_ms: Option<i64>,
    /// Asleep (`serving.idle_action: sleep`): the weights freed, the process waiting for a
    /// request to wake it. Read from the server's log.
    #[serde(default)]
    pub asleep: bool,
    /// How long its last wake took (milliseconds, by the server's own log clock).
    #[serde(default)]
    pub wake_ms: Option<i64>,
    /// The KV cache it restored when it loaded (`serving.keep_kv`), and whether that helped.
    #[serde(default)]
    pub kv_restore: Option<crate::domain::kept_kv::KvRestore>,
}

/// The median of recent load times (milliseconds), or `None` without any.
pub fn typical_load_ms(mut loads: Vec<i64>) -> Option<i64> {
    loads.retain(|ms| *ms >= 0);
    loads.sort_unstable();
    loads.get(loads.len() / 2).copied()
}

choice_enum! {
    /// Which pipe a log line came from.
    pub enum LogStream {
        Stdout => "stdout",
        Stderr => "stderr",
    }
}

/// Whose log a line belongs to: a model's server, or Corral itself. On the wire it stays the
/// `model_id` number clients already read (0 for Corral: model ids start at 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(from = "i64", into = "i64")]
pub enum LogSource {
    Corral,
    Model(i64),
}

impl From<i64> for LogSource {
    fn from(id: i64) -> Self {
        if id > 0 {
            LogSource::Model(id)
        } else {
            LogSource::Corral
        }
    }
}

impl From<LogSource> for i64 {
    fn from(source: LogSource) -> Self {
        match source {
            LogSource::Corral => 0,
            LogSource::Model(id) => id,
        }
    }
}

impl LogSource {
    /// The live-channel name a tab subscribes to: `logs:<model id>` or `logs:corral`.
    pub fn channel(self) -> String {
        match self {
            LogSource::Corral => "logs:corral".to_string(),
            LogSource::Model(id) => format!("logs:{id}"),
        }
    }

    /// The log a channel name names, if it is one (model ids start at 1).
    pub fn from_channel(channel: &str) -> Option<LogSource> {
        match channel.strip_prefix("logs:")? {
            "corral" => Some(LogSource::Corral),
            id => id.parse().ok().filter(|id| *id > 0).map(LogSource::Model),
        }
    }
}

/// One line a model's process (or Corral) logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    #[serde(rename = "model_id")]
    pub source: LogSource,
    /// The run that printed it; Corral's own lines carry 0.
    pub run_id: i64,
    /// Rises by one per line of a model, across its runs: a tab uses it to drop repeats.
    pub seq: u64,
    /// Unix milliseconds.
    pub at: i64,
    pub stream: LogStream,
    pub text: String,
}

/// A setting the installed llama-server has no flag for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnsupportedSetting {
    /// `group.field`, as the settings forms name it.
    pub setting: String,
    pub flag: String,
}

/// What starting the model would run, shown on the model page before it is started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchPreview {
    /// The llama-server Corral found, if any.
    pub program: Option<String>,
    /// The arguments after the program; the port is chosen at start and shown as `<port>`.
    pub args: Vec<String>,
    pub unsupported: Vec<UnsupportedSetting>,
    /// Why the model cannot start as configured, in words.
    pub problem: Option<String>,
    /// The KV cache kept from its last stop (`serving.keep_kv`), if any.
    #[serde(default)]
    pub kept_kv: Option<crate::domain::kept_kv::KeptKv>,
    /// What a start would need, per device, in words (`1.0 GiB of RAM and 30.0 GiB on GPU 0
    /// (estimated from its file)`); `None` when neither a measurement nor the header says.
    #[serde(default)]
    pub memory_need: Option<String>,
    /// Where it would not fit now, with the numbers per device; `None` when it fits.
    #[serde(default)]
    pub memory_short: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::metrics::Unit;

    #[test]
    fn a_model_sample_becomes_series_with_the_right_units() {
        let sample = ModelSample {
            generation_tokens_per_s: Some(12.5),
            slots_busy: Some(1),
            rss_bytes: Some(2048),
            ..ModelSample::default()
        };
        let series = sample.series(7);
        let names: Vec<String> = series.iter().map(|(k, _)| k.name()).collect();
        assert_eq!(
            names,
            [
                "model7_generation_tokens_per_s",
                "model7_slots_busy",
                "model7_rss_bytes"
            ],
            "readings that were not taken are left out"
        );
        let units: Vec<Unit> = series.iter().map(|(k, _)| k.unit()).collect();
        assert_eq!(units, [Unit::PerSecond, Unit::Count, Unit::Bytes]);
    }

    #[test]
    fn a_log_line_keeps_its_model_id_on_the_wire() {
        let line = LogLine {
            source: LogSource::Model(7),
            run_id: 3,
            seq: 1,
            at: 0,
            stream: LogStream::Stderr,
            text: "x".into(),
        };
        let json = serde_json::to_value(&line).unwrap();
        assert_eq!(json["model_id"], 7);
        assert_eq!(serde_json::from_value::<LogLine>(json).unwrap(), line);
        let corral = LogLine {
            source: LogSource::Corral,
            ..line
        };
        assert_eq!(serde_json::to_value(&corral).unwrap()["model_id"], 0);
    }

    #[test]
    fn log_channels_name_a_positive_model_id_or_corral() {
        let parse = LogSource::from_channel;
        assert_eq!(
            parse(&LogSource::Model(7).channel()),
            Some(LogSource::Model(7))
        );
        assert_eq!(parse(&LogSource::Corral.channel()), Some(LogSource::Corral));
        assert_eq!(parse("logs:0"), None);
        assert_eq!(parse("logs:-3"), None);
        assert_eq!(parse("logs:x"), None);
        assert_eq!(parse("metrics"), None);
    }
}
