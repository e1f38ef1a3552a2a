//! Runs of a model: one `llama-server` process from spawn to exit, what it is doing while it
//! lives, why it ended, and the lines it logged.

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
}

impl ModelSample {
    /// The sample as named series for the metrics history: `model<id>_<reading>`.
    pub fn series(&self, model_id: i64) -> Vec<(String, f64)> {
        let readings = [
            ("prompt_tokens_per_s", self.prompt_tokens_per_s),
            ("generation_tokens_per_s", self.generation_tokens_per_s),
            ("requests_processing", self.requests_processing),
            ("requests_deferred", self.requests_deferred),
            ("slots_busy", self.slots_busy.map(f64::from)),
            ("rss_bytes", self.rss_bytes.map(|b| b as f64)),
        ];
        readings
            .into_iter()
            .filter_map(|(name, value)| Some((format!("model{model_id}_{name}"), value?)))
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
}

choice_enum! {
    /// Which pipe a log line came from.
    pub enum LogStream {
        Stdout => "stdout",
        Stderr => "stderr",
    }
}

/// One line a model's process logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub model_id: i64,
    pub run_id: i64,
    /// Rises by one per line of a model, across its runs: a tab uses it to drop repeats.
    pub seq: u64,
    /// Unix milliseconds.
    pub at: i64,
    pub stream: LogStream,
    pub text: String,
}

/// Corral's own log travels like a model's, under this id (no model has it: ids start at 1).
pub const CORRAL_LOG: i64 = 0;

/// The live-channel name a tab subscribes to for a model's log (`logs:corral` for Corral's).
pub fn log_channel(model_id: i64) -> String {
    if model_id == CORRAL_LOG {
        "logs:corral".to_string()
    } else {
        format!("logs:{model_id}")
    }
}

/// The log a `logs:<id>` or `logs:corral` channel names, if it is one.
pub fn parse_log_channel(channel: &str) -> Option<i64> {
    match channel.strip_prefix("logs:")? {
        "corral" => Some(CORRAL_LOG),
        id => id.parse().ok().filter(|id| *id > 0),
    }
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::metrics::{Unit, unit_of};

    #[test]
    fn a_model_sample_becomes_series_with_the_right_units() {
        let sample = ModelSample {
            generation_tokens_per_s: Some(12.5),
            slots_busy: Some(1),
            rss_bytes: Some(2048),
            ..ModelSample::default()
        };
        let series = sample.series(7);
        let names: Vec<&str> = series.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "model7_generation_tokens_per_s",
                "model7_slots_busy",
                "model7_rss_bytes"
            ],
            "readings that were not taken are left out"
        );
        let units: Vec<Unit> = names.iter().map(|n| unit_of(n)).collect();
        assert_eq!(units, [Unit::PerSecond, Unit::Count, Unit::Bytes]);
    }

    #[test]
    fn log_channels_name_a_positive_model_id_or_corral() {
        assert_eq!(parse_log_channel(&log_channel(7)), Some(7));
        assert_eq!(
            parse_log_channel(&log_channel(CORRAL_LOG)),
            Some(CORRAL_LOG)
        );
        assert_eq!(parse_log_channel("logs:0"), None);
        assert_eq!(parse_log_channel("logs:-3"), None);
        assert_eq!(parse_log_channel("logs:x"), None);
        assert_eq!(parse_log_channel("metrics"), None);
    }
}
