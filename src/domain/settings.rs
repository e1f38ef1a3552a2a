//! Corral's own settings, kept in the database and edited on the Settings page. Each one is also
//! a command-line flag (and environment variable); a flag that was given wins and the page says
//! so. Empty means the flag's default.

use serde::{Deserialize, Serialize};

use crate::domain::error::{FieldError, Rule};
use crate::domain::fields::{FieldSet, FieldSpec};

choice_enum! {
    /// What starting one model too many does.
    pub enum WhenFull {
        /// Stop the model used least recently, then start the new one (as llama-swap swaps).
        StopLeastRecent => "stop-least-recent",
        /// Refuse the start with a message saying which models are running.
        Refuse => "refuse",
    }
}

choice_enum! {
    /// What a start does when the memory estimate says the model will not fit.
    pub enum FitCheck {
        /// Refuse the start, saying what the estimate found.
        Refuse => "refuse",
        /// Start anyway and note the estimate in the model's log.
        Warn => "warn",
    }
}

/// Most model folders.
pub const MAX_MODELS_DIRS: usize = 32;

/// The settings as stored; `None` (or an empty list) is the flag's default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CorralSettings {
    pub llama_server: Option<String>,
    pub models_dirs: Vec<String>,
    pub ports: Option<String>,
    pub max_running: Option<i64>,
    pub when_full: Option<WhenFull>,
    pub memory_budget_mib: Option<i64>,
    pub fit_check: Option<FitCheck>,
    pub idle_ttl: Option<i64>,
    pub stop_grace: Option<i64>,
    pub load_timeout: Option<i64>,
    pub load_per_gib: Option<i64>,
    pub keep_runs: Option<i64>,
    pub keep_activity_days: Option<i64>,
    pub keep_metrics_days: Option<i64>,
}

impl FieldSet for CorralSettings {
    const WHOLE: &'static str = "settings";
    // The keys are the flags' names with `_` for `-` (`max_running` is `--max-running`).
    const FIELDS: &'static [FieldSpec] = &[
        FieldSpec::path("llama_server", "llama-server binary")
            .help(
                "The llama-server to run, e.g. your GPU build. It must be a file named \
                 llama-server that only you can change; Corral checks it answers --version as \
                 llama.cpp does.",
            )
            .default("llama-server on PATH"),
        FieldSpec::list("models_dirs", "Model folders", MAX_MODELS_DIRS)
            .help("Folders watched for GGUF files, one per line (inside --model-roots when set).")
            .default("none"),
        FieldSpec::text("ports", "Port range", 11)
            .help("Ports handed to llama-server on 127.0.0.1, such as 8100-8199.")
            .default("8100-8199"),
        FieldSpec::int("max_running", "Models running at once", 1, 64)
            .help("Starting one more does what 'When full' says.")
            .default("2"),
        FieldSpec::choice("when_full", "When full", WhenFull::NAMES)
            .help("Stop the least recently used model to make room, or refuse the start.")
            .default("stop-least-recent"),
        FieldSpec::int("memory_budget_mib", "Memory budget (MiB)", 0, 16_777_216)
            .help(
                "Most memory the running models may take together, by their estimates (or what \
                 they were measured to use). Making room stops least recently used models until \
                 the new one fits; 0 leaves only the machine's free memory.",
            )
            .default("0 (none)"),
        FieldSpec::choice("fit_check", "When a model will not fit", FitCheck::NAMES)
            .help("Refuse a start whose estimate exceeds the free memory, or warn and start.")
            .default("refuse"),
        FieldSpec::int("idle_ttl", "Unload when idle (s)", 0, 31_536_000)
            .help("Stop a model after this long without a request; 0 never. A model's own setting wins.")
            .default("0 (never)"),
        FieldSpec::int("stop_grace", "Stop grace (s)", 0, 3600)
            .help("Time between SIGTERM and SIGKILL when stopping a model.")
            .default("10"),
        FieldSpec::int("load_timeout", "Load timeout (s)", 1, 86_400)
            .help("How long loading may take before a model's log must show progress…")
            .default("30"),
        FieldSpec::int("load_per_gib", "Load time per GiB (s)", 0, 86_400)
            .help("…plus this much for each GiB of model file.")
            .default("15"),
        FieldSpec::int("keep_runs", "Runs kept per model", 1, 100_000)
            .help("How many past runs (with their logs' tails) each model keeps.")
            .default("100"),
        FieldSpec::int("keep_activity_days", "Activity kept (days)", 1, 3650)
            .help("Gateway activity records older than this are dropped.")
            .default("30"),
        FieldSpec::int("keep_metrics_days", "Metrics history kept (days)", 1, 3650)
            .help("System and model charts keep one-minute points this long (the last hour at one a second).")
            .default("7"),
    ];

    fn cross_check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if let Some(ports) = &self.ports
            && !port_range_ok(ports)
        {
            errors.push(FieldError::new(
                "ports",
                Rule::Pattern,
                "must be a port range such as 8100-8199",
            ));
        }
        for (i, dir) in self.models_dirs.iter().enumerate() {
            if !dir.starts_with('/') {
                errors.push(FieldError::new(
                    format!("models_dirs[{i}]"),
                    Rule::AbsolutePath,
                    "must be an absolute path (starting with /)",
                ));
            }
        }
        errors
    }
}

/// `8100-8199` or one port; not port 0, first not after last.
pub fn port_range_ok(text: &str) -> bool {
    let (first, last) = text.split_once('-').unwrap_or((text, text));
    matches!(
        (first.trim().parse::<u16>(), last.trim().parse::<u16>()),
        (Ok(a), Ok(b)) if a > 0 && a <= b
    )
}

/// A setting a flag or environment variable decided, and how to change it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetByFlag {
    pub key: String,
    /// `--max-running` (or `CORRAL_MAX_RUNNING`).
    pub source: String,
}

/// What the installed llama-server says about itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LlamaServerInfo {
    /// The binary in use, or `None` when there is none.
    pub path: Option<String>,
    /// `version: 11434 (abc1234)`.
    pub version: Option<String>,
    /// `built with … for …`.
    pub build: Option<String>,
    /// `--list-devices`: one line per device (`CUDA0: NVIDIA … (24576 MiB, 23000 MiB free)`).
    pub devices: Vec<String>,
    /// The capability check: settings Corral can pass that this build has no flag for
    /// (`memory.load_mode (--load-mode)`); a model using one is refused before start.
    #[serde(default)]
    pub missing_flags: Vec<String>,
    /// Why it cannot be used, in words.
    pub problem: Option<String>,
}

/// Everything the Settings page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingsView {
    /// What the page saved.
    pub stored: CorralSettings,
    /// What applies now: the stored settings under the flags that were given.
    pub effective: CorralSettings,
    pub set_by_flag: Vec<SetByFlag>,
    pub llama_server: LlamaServerInfo,
}

impl SettingsView {
    pub fn flag_for(&self, key: &str) -> Option<&str> {
        self.set_by_flag
            .iter()
            .find(|s| s.key == key)
            .map(|s| s.source.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn port_ranges_and_folders_are_checked() {
        assert!(port_range_ok("8100-8199") && port_range_ok("9000"));
        for bad in ["", "x", "9000-8000", "0-10", "1-70000"] {
            assert!(!port_range_ok(bad), "{bad}");
        }
        let error = CorralSettings::parse(&json!({"ports": "9-1", "models_dirs": ["rel"]}));
        let fields: Vec<String> = match error {
            Err(crate::domain::AppError::Invalid { errors }) => {
                errors.into_iter().map(|e| e.field).collect()
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(fields, ["ports", "models_dirs[0]"]);
    }
}
