//! Corral's own settings, each described once (as ripgrep describes each flag once): its key,
//! label and help, rule, flag, environment variable, default, unit and when a change applies.
//! The command line (`server/boot/own_flags.rs`), the Settings page, the stored document and
//! what applies (`server/settings/`) are loops over [`SETTINGS`]; the owners that use a setting
//! name it by its key on their own field (`SupervisorSettings`, `Retention`), so adding a
//! setting is one entry here and the field that uses it.
//!
//! A setting is kept in the database and edited on the Settings page; a flag (or environment
//! variable) that was given wins, and the page says so. Unset means the flag's default.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::config::serving::LoadingState;
use crate::domain::error::{FieldError, Rule};
use crate::domain::fields::{FieldSet, FieldSpec, InputKind};
use crate::domain::model::MAX_NAME_LEN;

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

/// What a setting's value counts: the flag's value name in `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Path,
    Folder,
    PortRange,
    Count,
    Word,
    Seconds,
    Mib,
    /// A GPU and its MiB: `0=20000`.
    GpuMib,
    Days,
}

impl Unit {
    pub fn value_name(self) -> &'static str {
        match self {
            Unit::Path => "PATH",
            Unit::Folder => "FOLDER",
            Unit::PortRange => "FIRST-LAST",
            Unit::Count => "N",
            Unit::Word => "WORD",
            Unit::Seconds => "SECONDS",
            Unit::Mib => "MIB",
            Unit::GpuMib => "GPU=MIB",
            Unit::Days => "DAYS",
        }
    }
}

/// When a changed value takes effect (nothing needs a restart of Corral).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    /// At once (folders are scanned again; the next request reads it).
    AtOnce,
    /// From the next start on: it decides what a start may do; running models are left alone.
    NextStart,
    /// To models started afterwards; a running model keeps the value it was started with.
    StartedAfter,
    /// The next time history is trimmed (a run ends, a change is saved, the periodic sweep).
    NextTrim,
}

impl Applies {
    pub fn words(self) -> &'static str {
        match self {
            Applies::AtOnce => "at once",
            Applies::NextStart => "from the next model start",
            Applies::StartedAfter => "to models started afterwards",
            Applies::NextTrim => "when history is next trimmed",
        }
    }
}

/// One of Corral's own settings, described once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setting {
    /// Key (the stored document's and the owners' name), label, help, rule, default in words.
    pub field: FieldSpec,
    /// `--max-running`, without the dashes.
    pub flag: &'static str,
    pub env: &'static str,
    /// The default as the flag spells it (`8100-8199`); `None`: nothing (`llama-server` on PATH,
    /// no folders). `field.default` says it in words and starts with it.
    pub value: Option<&'static str>,
    pub unit: Unit,
    pub applies: Applies,
}

impl Setting {
    const fn new(field: FieldSpec, flag: &'static str, env: &'static str, unit: Unit) -> Setting {
        Setting {
            field,
            flag,
            env,
            value: None,
            unit,
            applies: Applies::NextStart,
        }
    }
    const fn value(mut self, value: &'static str) -> Setting {
        self.value = Some(value);
        self
    }
    const fn applies(mut self, applies: Applies) -> Setting {
        self.applies = applies;
        self
    }

    pub fn key(&self) -> &'static str {
        self.field.key
    }

    /// More than one value (`--models-dir` repeats).
    pub fn is_list(&self) -> bool {
        matches!(self.field.input, InputKind::List { .. })
    }

    /// The range or choices, in words: `1 to 64`, `stop-least-recent or refuse`.
    pub fn rule_in_words(&self) -> Option<String> {
        match self.field.input {
            InputKind::Integer { min, max } => Some(format!("{min} to {max}")),
            InputKind::Choice { options } => Some(options.join(" or ")),
            _ => None,
        }
    }

    /// What it is: the page's label and help, with the rule.
    pub fn summary(&self) -> String {
        let rule = self
            .rule_in_words()
            .map(|rule| format!(": {rule}"))
            .unwrap_or_default();
        format!("{}{rule}. {}", self.field.label, self.field.help)
    }

    /// The flag's `--help`: what it is, its default where `--help` cannot say it in words,
    /// and when a change applies.
    pub fn described(&self) -> String {
        let default = match self.value {
            Some(value) if value == self.field.default => String::new(),
            _ => format!(" Default: {}.", self.field.default),
        };
        format!("{}{default}{}", self.summary(), self.applies_in_words())
    }

    fn applies_in_words(&self) -> String {
        format!(
            " A change made on the Settings page applies {}; given here (or by the \
             variable), it wins over the page until Corral starts without it.",
            self.applies.words()
        )
    }
}

/// Every one of Corral's own settings, in the Settings page's order. The keys are the flags'
/// names with `_` for `-` (`max_running` is `--max-running`), except the repeated
/// `--models-dir`, whose key is the list's name.
pub const SETTINGS: &[Setting] = &[
    Setting::new(
        FieldSpec::path("llama_server", "llama-server binary")
            .help(
                "The llama-server to run, e.g. your GPU build. It must be a file named \
                 llama-server that only you can change; Corral checks it answers --version as \
                 llama.cpp does.",
            )
            .default("llama-server on PATH"),
        "llama-server",
        "CORRAL_LLAMA_SERVER",
        Unit::Path,
    ),
    Setting::new(
        FieldSpec::list("models_dirs", "Model folders", MAX_MODELS_DIRS)
            .help(
                "Folders watched for GGUF files (inside --model-roots when set): one per line \
                 on the page; the flag repeats, its variable separates them with commas.",
            )
            .default("none"),
        "models-dir",
        "CORRAL_MODELS_DIRS",
        Unit::Folder,
    )
    .applies(Applies::AtOnce),
    Setting::new(
        FieldSpec::text("ports", "Port range", 11)
            .help("Ports handed to llama-server on 127.0.0.1, such as 8100-8199.")
            .default("8100-8199"),
        "ports",
        "CORRAL_PORTS",
        Unit::PortRange,
    )
    .value("8100-8199"),
    Setting::new(
        FieldSpec::int("max_running", "Models running at once", 1, 64)
            .help("Starting one more does what 'When full' says.")
            .default("2"),
        "max-running",
        "CORRAL_MAX_RUNNING",
        Unit::Count,
    )
    .value("2"),
    Setting::new(
        FieldSpec::choice("when_full", "When full", WhenFull::NAMES)
            .help("Stop the least recently used model to make room, or refuse the start.")
            .default("stop-least-recent"),
        "when-full",
        "CORRAL_WHEN_FULL",
        Unit::Word,
    )
    .value("stop-least-recent"),
    Setting::new(
        FieldSpec::int("memory_budget_mib", "Memory budget (MiB)", 0, 16_777_216)
            .help(
                "Most memory the running models may take together, by their estimates (or what \
                 they were measured to use). Making room stops least recently used models until \
                 the new one fits; 0 leaves only the machine's free memory.",
            )
            .default("0 (none)"),
        "memory-budget-mib",
        "CORRAL_MEMORY_BUDGET_MIB",
        Unit::Mib,
    )
    .value("0"),
    Setting::new(
        FieldSpec::list("gpu_budget_mib", "GPU memory budgets (MiB)", 64)
            .help(
                "Most memory the running models may take together on a GPU, as GPU=MIB (such \
                 as 0=20000, GPU by NVML's number): one per line on the page; the flag repeats, \
                 its variable separates them with commas. Making room stops least recently \
                 used models on that GPU until the new one fits. A GPU without one allows its \
                 free memory less 1 GiB.",
            )
            .default("none (free memory less 1 GiB)"),
        "gpu-budget-mib",
        "CORRAL_GPU_BUDGET_MIB",
        Unit::GpuMib,
    ),
    Setting::new(
        FieldSpec::int("kv_disk_mib", "Kept KV cache disk (MiB)", 0, 16_777_216)
            .help(
                "Most disk the KV caches kept across stops (a model's 'Keep KV cache across \
                 stops') may take together in the data folder; the oldest saves are removed \
                 first. 0 keeps none.",
            )
            .default("4096"),
        "kv-disk-mib",
        "CORRAL_KV_DISK_MIB",
        Unit::Mib,
    )
    .value("4096")
    .applies(Applies::AtOnce),
    Setting::new(
        FieldSpec::choice("fit_check", "When a model will not fit", FitCheck::NAMES)
            .help("Refuse a start whose estimate exceeds the free memory, or warn and start.")
            .default("refuse"),
        "fit-check",
        "CORRAL_FIT_CHECK",
        Unit::Word,
    )
    .value("refuse"),
    Setting::new(
        FieldSpec::text("default_model", "Default model", MAX_NAME_LEN)
            .help(
                "The model (or virtual model) that serves a gateway request naming none; \
                 empty: such a request is refused.",
            )
            .default("none"),
        "default-model",
        "CORRAL_DEFAULT_MODEL",
        Unit::Word,
    )
    .applies(Applies::AtOnce),
    Setting::new(
        FieldSpec::choice(
            "loading_state",
            "Loading progress to clients",
            LoadingState::NAMES,
        )
        .help(
            "What a streamed chat that waits for its model to load hears meanwhile: the \
                 progress as reasoning, or nothing. A model's own setting wins.",
        )
        .default("off"),
        "loading-state",
        "CORRAL_LOADING_STATE",
        Unit::Word,
    )
    .value("off")
    .applies(Applies::AtOnce),
    Setting::new(
        FieldSpec::int("idle_ttl", "Unload when idle (s)", 0, 31_536_000)
            .help(
                "Stop a model after this long without a request; 0 never. A model's own \
                 setting wins.",
            )
            .default("0 (never)"),
        "idle-ttl",
        "CORRAL_IDLE_TTL",
        Unit::Seconds,
    )
    .value("0")
    .applies(Applies::StartedAfter),
    Setting::new(
        FieldSpec::int("stop_grace", "Stop grace (s)", 0, 3600)
            .help("Time between SIGTERM and SIGKILL when stopping a model.")
            .default("10"),
        "stop-grace",
        "CORRAL_STOP_GRACE",
        Unit::Seconds,
    )
    .value("10")
    .applies(Applies::StartedAfter),
    Setting::new(
        FieldSpec::int("load_timeout", "Load timeout (s)", 1, 86_400)
            .help(
                "How long loading may take before a model's log must show progress (more \
                 while it keeps logging), plus 'Load time per GiB' for each GiB of file.",
            )
            .default("30"),
        "load-timeout",
        "CORRAL_LOAD_TIMEOUT",
        Unit::Seconds,
    )
    .value("30")
    .applies(Applies::StartedAfter),
    Setting::new(
        FieldSpec::int("load_per_gib", "Load time per GiB (s)", 0, 86_400)
            .help("Added to 'Load timeout' for each GiB of model file.")
            .default("15"),
        "load-per-gib",
        "CORRAL_LOAD_PER_GIB",
        Unit::Seconds,
    )
    .value("15")
    .applies(Applies::StartedAfter),
    Setting::new(
        FieldSpec::int("keep_runs", "Runs kept per model", 1, 100_000)
            .help("How many past runs (with their logs' tails) each model keeps.")
            .default("100"),
        "keep-runs",
        "CORRAL_KEEP_RUNS",
        Unit::Count,
    )
    .value("100")
    .applies(Applies::NextTrim),
    Setting::new(
        FieldSpec::int("keep_changes", "Changes kept per model", 1, 100_000)
            .help("How many settings changes each model's history keeps.")
            .default("500"),
        "keep-changes",
        "CORRAL_KEEP_CHANGES",
        Unit::Count,
    )
    .value("500")
    .applies(Applies::NextTrim),
    Setting::new(
        FieldSpec::int("keep_activity_days", "Activity kept (days)", 1, 3650)
            .help("Gateway activity records older than this are dropped.")
            .default("30"),
        "keep-activity-days",
        "CORRAL_KEEP_ACTIVITY_DAYS",
        Unit::Days,
    )
    .value("30")
    .applies(Applies::NextTrim),
    Setting::new(
        FieldSpec::int("keep_metrics_days", "Metrics history kept (days)", 1, 3650)
            .help(
                "System and model charts keep one-minute points this long (the last hour at \
                 one a second).",
            )
            .default("7"),
        "keep-metrics-days",
        "CORRAL_KEEP_METRICS_DAYS",
        Unit::Days,
    )
    .value("7")
    .applies(Applies::NextTrim),
];

/// The settings' fields, for the forms and the checks every field set has.
const FIELDS: [FieldSpec; SETTINGS.len()] = fields_of(SETTINGS);

const fn fields_of<const N: usize>(settings: &[Setting]) -> [FieldSpec; N] {
    let mut out = [settings[0].field; N];
    let mut i = 1;
    while i < N {
        out[i] = settings[i].field;
        i += 1;
    }
    out
}

pub fn setting(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key() == key)
}

/// The settings as a document, by key: what the page stored, the flags given, the defaults, or
/// what applies. A key that is absent (or `null`, or an empty list) is unset. Every value was
/// checked by its field when parsed; the owners read them into their own typed fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CorralSettings(Map<String, Value>);

impl CorralSettings {
    /// Every setting's default, as its flag spells it, read by its field.
    pub fn defaults() -> CorralSettings {
        CorralSettings(
            SETTINGS
                .iter()
                .filter_map(|s| Some((s.key().to_string(), s.field.text_to_value(s.value?))))
                .collect(),
        )
    }

    /// The value of a set key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|value| is_set(value))
    }

    /// Every set key with its value, in no particular order.
    pub fn set_values(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.0.iter().filter(|(_, value)| is_set(value))
    }

    /// `self` with `over`'s set values laid over it (flags over defaults, stored over flags).
    pub fn overlaid(&self, over: &CorralSettings) -> CorralSettings {
        let mut out = self.clone();
        for (key, value) in over.set_values() {
            out.0.insert(key.clone(), value.clone());
        }
        out
    }

    /// `self` without the keys `keep` refuses (the ones a flag decided).
    pub fn only(&self, keep: impl Fn(&str) -> bool) -> CorralSettings {
        CorralSettings(
            self.set_values()
                .filter(|(key, _)| keep(key))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        )
    }

    /// The settings the owner `object` (serialized with the settings' keys) holds.
    pub fn read_from(object: &Map<String, Value>) -> CorralSettings {
        CorralSettings(
            SETTINGS
                .iter()
                .filter_map(|s| Some((s.key().to_string(), object.get(s.key())?.clone())))
                .filter(|(_, value)| is_set(value))
                .collect(),
        )
    }

    /// The folders of `models_dirs`.
    pub fn models_dirs(&self) -> Vec<String> {
        self.list("models_dirs")
    }

    /// The entries of a list setting (none when unset or not a list).
    pub fn list(&self, key: &str) -> Vec<String> {
        self.get(key)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `self` with `folder` added to the model folders.
    pub fn with_models_dir(mut self, folder: String) -> CorralSettings {
        let mut dirs = self.models_dirs();
        dirs.push(folder);
        self.0.insert("models_dirs".into(), Value::from(dirs));
        self
    }

    /// `self` with `key` set to `value` (a page edit, a test); not checked until parsed.
    pub fn with(mut self, key: &str, value: Value) -> CorralSettings {
        self.0.insert(key.to_string(), value);
        self
    }
}

fn is_set(value: &Value) -> bool {
    !(value.is_null() || value.as_array().is_some_and(Vec::is_empty))
}

impl FieldSet for CorralSettings {
    const WHOLE: &'static str = "settings";
    const FIELDS: &'static [FieldSpec] = &FIELDS;

    fn cross_check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if let Some(ports) = self.get("ports").and_then(Value::as_str)
            && !port_range_ok(ports)
        {
            errors.push(FieldError::new(
                "ports",
                Rule::Pattern,
                "must be a port range such as 8100-8199",
            ));
        }
        for (i, item) in self.list("gpu_budget_mib").iter().enumerate() {
            if let Err(message) = crate::domain::device_memory::parse_gpu_budget(item) {
                errors.push(FieldError::new(
                    format!("gpu_budget_mib[{i}]"),
                    Rule::Pattern,
                    message,
                ));
            }
        }
        for (i, dir) in self.models_dirs().iter().enumerate() {
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
pub fn parse_port_range(text: &str) -> Option<std::ops::RangeInclusive<u16>> {
    let (first, last) = text.split_once('-').unwrap_or((text, text));
    match (first.trim().parse::<u16>(), last.trim().parse::<u16>()) {
        (Ok(a), Ok(b)) if a > 0 && a <= b => Some(a..=b),
        _ => None,
    }
}

pub fn port_range_ok(text: &str) -> bool {
    parse_port_range(text).is_some()
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
    /// Which save `stored` is: a save sent with it is refused once another went first.
    #[serde(default)]
    pub revision: i64,
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

    #[test]
    fn every_default_passes_its_own_rule_and_its_words_start_with_it() {
        let defaults = CorralSettings::defaults();
        let parsed = CorralSettings::parse(&serde_json::to_value(&defaults).unwrap()).unwrap();
        assert_eq!(parsed, defaults);
        for s in SETTINGS {
            if let Some(value) = s.value {
                let words = s.field.default;
                assert!(
                    words == value || words.starts_with(&format!("{value} (")),
                    "{}: the default in words ({words}) is not the default ({value})",
                    s.key()
                );
            }
            assert_eq!(
                s.flag.replace('-', "_"),
                s.key().replace("models_dirs", "models_dir")
            );
            assert_eq!(s.env, format!("CORRAL_{}", s.key().to_uppercase()));
        }
    }

    /// The README's table of settings is this description, as Markdown.
    fn markdown_table() -> String {
        let mut out = String::from(
            "| flag | environment | default | a change applies | what it is |\n|---|---|---|---|---|\n",
        );
        for s in SETTINGS {
            let repeat = if s.is_list() { " (repeat)" } else { "" };
            out.push_str(&format!(
                "| `--{}`{repeat} | `{}` | {} | {} | {} |\n",
                s.flag,
                s.env,
                s.field.default,
                s.applies.words(),
                s.summary().replace('|', "\\|")
            ));
        }
        out
    }

    #[test]
    fn the_readmes_table_of_settings_is_their_description() {
        let readme = include_str!("../../README.md");
        let start = "<!-- settings: generated from SETTINGS in src/domain/settings.rs -->\n";
        let table = readme
            .split_once(start)
            .and_then(|(_, rest)| rest.split_once("<!-- settings end -->"))
            .map(|(table, _)| table);
        let expected = markdown_table();
        assert_eq!(
            table,
            Some(expected.as_str()),
            "put this between the README's settings markers:\n{expected}"
        );
    }
}
