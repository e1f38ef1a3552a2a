//! A registered model: what a person set (`ModelSpec`) plus what Corral knows (`Model`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::error::{AppError, FieldError, Rule};
use crate::domain::fields::{FieldSet, FieldSpec, Flag};
use crate::domain::kind::ModelKind;
use crate::domain::status::ModelStatus;

pub const MAX_NAME_LEN: usize = 80;

/// The name field, also used alone (the duplicate dialog).
pub const NAME_FIELD: FieldSpec = FieldSpec::text("name", "Name", MAX_NAME_LEN)
    .column("name")
    .required()
    .help("A unique name; scripts can address the model by it.");

/// The settings a person chooses for a model: name, file, family and the top-level run settings.
/// Every empty run setting means "llama-server's own default".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub name: String,
    pub kind: ModelKind,
    pub path: String,
    #[serde(default)]
    pub ctx_size: Option<i64>,
    #[serde(default)]
    pub batch_size: Option<i64>,
    #[serde(default)]
    pub ubatch_size: Option<i64>,
    #[serde(default)]
    pub parallel: Option<i64>,
    #[serde(default)]
    pub threads: Option<i64>,
    #[serde(default)]
    pub threads_batch: Option<i64>,
    #[serde(default)]
    pub cpu_mask: Option<String>,
    #[serde(default)]
    pub cpu_range: Option<String>,
    #[serde(default)]
    pub cpu_strict: Option<bool>,
}

impl FieldSet for ModelSpec {
    const WHOLE: &'static str = "model";
    const FIELDS: &'static [FieldSpec] = &[
        NAME_FIELD,
        FieldSpec::path("path", "Model path")
            .passed_as("--model")
            .column("path")
            .required()
            .help("Absolute path of the .gguf file (the first part of a split model)."),
        FieldSpec::choice("kind", "Kind", ModelKind::NAMES)
            .column("kind")
            .help("The model family, shown in the table and used by its Kind filter.")
            .default("guessed: from the file name, or from a found file's architecture"),
        FieldSpec::int("ctx_size", "Context size", 0, 4_194_304)
            .passed_as("--ctx-size")
            .column("ctx_size")
            .help("Tokens of context per server (-c); 0 takes the model's trained size.")
            .default("llama-server default (4096)"),
        FieldSpec::int("batch_size", "Batch size", 1, 1_048_576)
            .passed_as("--batch-size")
            .column("batch_size")
            .help("Logical maximum batch size (-b).")
            .default("llama-server default (2048)"),
        FieldSpec::int("ubatch_size", "Micro-batch size", 1, 1_048_576)
            .passed_as("--ubatch-size")
            .column("ubatch_size")
            .help("Physical maximum batch size (-ub); at most the batch size.")
            .default("llama-server default (512)"),
        FieldSpec::int("parallel", "Parallel slots", 1, 256)
            .passed_as("--parallel")
            .column("parallel")
            .help("How many requests are served at once (-np); each gets a share of the context.")
            .default("llama-server default (auto)"),
        FieldSpec::int("threads", "Threads", 1, 1024)
            .passed_as("--threads")
            .column("threads")
            .help("CPU threads for generation (-t).")
            .default("llama-server default (auto)"),
        FieldSpec::int("threads_batch", "Batch threads", 1, 1024)
            .passed_as("--threads-batch")
            .column("threads_batch")
            .help("CPU threads for prompt processing (-tb).")
            .default("same as Threads"),
        FieldSpec::text("cpu_mask", "CPU mask", 258)
            .passed_as("--cpu-mask")
            .column("cpu_mask")
            .help("Hex mask of CPUs to pin threads to (-C), e.g. 0xF0.")
            .default("no pinning"),
        FieldSpec::text("cpu_range", "CPU range", 32)
            .passed_as("--cpu-range")
            .column("cpu_range")
            .help("Range of CPUs to pin threads to (-Cr), e.g. 0-7.")
            .default("no pinning"),
        FieldSpec::toggle("cpu_strict", "Strict CPU placement")
            .flag(Flag::Spelled(
                "--cpu-strict",
                &[("false", "0"), ("true", "1")],
            ))
            .column("cpu_strict")
            .help("Pin each thread to one CPU (--cpu-strict).")
            .default("off"),
    ];

    fn cross_check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.name.trim().is_empty() {
            errors.push(FieldError::new("name", Rule::Required, "is required"));
        } else if self.name.trim() != self.name {
            errors.push(FieldError::new(
                "name",
                Rule::Pattern,
                "must not start or end with spaces",
            ));
        }
        if !self.path.to_ascii_lowercase().ends_with(".gguf") {
            errors.push(FieldError::new(
                "path",
                Rule::GgufFile,
                "must name a .gguf file",
            ));
        }
        if let (Some(batch), Some(ubatch)) = (self.batch_size, self.ubatch_size)
            && ubatch > batch
        {
            errors.push(FieldError::new(
                "ubatch_size",
                Rule::Range,
                "must not exceed the batch size",
            ));
        }
        if let Some(mask) = &self.cpu_mask {
            let digits = mask
                .strip_prefix("0x")
                .or_else(|| mask.strip_prefix("0X"))
                .unwrap_or(mask);
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
                errors.push(FieldError::new(
                    "cpu_mask",
                    Rule::Pattern,
                    "must be a hex mask such as 0xF0",
                ));
            }
        }
        if let Some(range) = &self.cpu_range {
            let bounds = range
                .split_once('-')
                .and_then(|(lo, hi)| Some((lo.parse::<u32>().ok()?, hi.parse::<u32>().ok()?)));
            if !matches!(bounds, Some((lo, hi)) if lo <= hi) {
                errors.push(FieldError::new(
                    "cpu_range",
                    Rule::Pattern,
                    "must be a range such as 0-7",
                ));
            }
        }
        errors
    }
}

impl ModelSpec {
    /// Parses a new model; a missing kind is guessed from the file name.
    pub fn parse_new(value: &Value) -> Result<ModelSpec, AppError> {
        let mut value = value.clone();
        if let Some(object) = value.as_object_mut() {
            let kind_missing = object.get("kind").is_none_or(Value::is_null);
            if kind_missing && let Some(path) = object.get("path").and_then(Value::as_str) {
                let guess = ModelKind::guess_from_path(path);
                object.insert("kind".into(), Value::String(guess.as_str().into()));
            }
        }
        ModelSpec::parse(&value)
    }
}

/// A registered model as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub id: i64,
    #[serde(flatten)]
    pub spec: ModelSpec,
    /// The file's size when it was last seen; `None` when the file was missing.
    pub size_bytes: Option<u64>,
    pub status: ModelStatus,
    /// Why the model is in `error`, in words a person can act on.
    pub status_reason: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

/// Which models a list shows. Shared so that the page filters exactly as the API does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFilter {
    #[serde(default)]
    pub status: Option<ModelStatus>,
    #[serde(default)]
    pub kind: Option<ModelKind>,
    /// Case-insensitive text looked for in the name and the path.
    #[serde(default)]
    pub search: Option<String>,
}

impl ModelFilter {
    pub fn matches(&self, model: &Model) -> bool {
        self.status.is_none_or(|s| s == model.status)
            && self.kind.is_none_or(|k| k == model.spec.kind)
            && self.search.as_deref().map(str::trim).is_none_or(|needle| {
                let needle = needle.to_lowercase();
                model.spec.name.to_lowercase().contains(&needle)
                    || model.spec.path.to_lowercase().contains(&needle)
            })
    }
}

choice_enum! {
    /// Columns the models table sorts by.
    pub enum SortKey {
        Name => "name",
        Kind => "kind",
        Path => "path",
        Size => "size",
        Status => "status",
        Created => "created",
    }
}

/// Rows of the models table drawn at first: what the page is server-rendered and hydrated with,
/// about one screen. Every row drawn costs about 10 µs of server render and 0.5–1 ms of
/// hydration in Chromium on the bench machine (`scripts/bench`); with every model drawn the page
/// was 12 MB at 10,000 models. A person who wants more asks for it ("Show more", search).
pub const FIRST_ROWS: usize = 25;

/// Rows each "Show more" adds once the first screen is drawn.
pub const MORE_ROWS: usize = 100;

/// The models table's first page in its first order (by name), and how many models there are:
/// what the models page is rendered and hydrated with. Every model arrives with the live
/// snapshot after hydration; carrying all of them in the page made it 3.8 MiB at 10,000.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirstRows {
    pub models: Vec<Model>,
    pub total: usize,
}

impl FirstRows {
    /// Models the first rows leave out.
    pub fn unseen(&self) -> usize {
        self.total.saturating_sub(self.models.len())
    }
}

/// Sorts in place; ties fall back to the name so the order is stable across renders. Names
/// compare ignoring ASCII case, as the database orders and compares them, so the first page the
/// server picks is the first page the browser sorts.
pub fn sort_models(models: &mut [Model], key: SortKey, descending: bool) {
    models.sort_by(|a, b| {
        let primary = match key {
            SortKey::Name => std::cmp::Ordering::Equal,
            SortKey::Kind => a.spec.kind.as_str().cmp(b.spec.kind.as_str()),
            SortKey::Path => a.spec.path.cmp(&b.spec.path),
            SortKey::Size => a.size_bytes.cmp(&b.size_bytes),
            SortKey::Status => a.status.as_str().cmp(b.status.as_str()),
            SortKey::Created => a.created_at.cmp(&b.created_at),
        };
        let ordering = primary.then_with(|| by_name(&a.spec.name, &b.spec.name));
        if descending {
            ordering.reverse()
        } else {
            ordering
        }
    });
}

/// SQLite's `NOCASE`: ASCII letters folded, every other byte compared as it is.
fn by_name(a: &str, b: &str) -> std::cmp::Ordering {
    a.bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules_for(value: Value) -> Vec<(String, Rule)> {
        match ModelSpec::parse_new(&value) {
            Err(AppError::Invalid { errors }) => {
                errors.into_iter().map(|e| (e.field, e.rule)).collect()
            }
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn a_minimal_model_parses_and_its_kind_is_guessed() {
        let spec = ModelSpec::parse_new(&json!({"name": "q", "path": "/m/qwen3-8b.gguf"})).unwrap();
        assert_eq!(spec.kind, ModelKind::Qwen);
        assert_eq!(spec.ctx_size, None);
    }

    #[test]
    fn an_empty_name_is_required() {
        assert_eq!(
            rules_for(json!({"name": "  ", "path": "/m/a.gguf"})),
            [("name".into(), Rule::Required)]
        );
    }

    #[test]
    fn an_overlong_name_is_rejected() {
        let name = "x".repeat(MAX_NAME_LEN + 1);
        assert_eq!(
            rules_for(json!({"name": name, "path": "/m/a.gguf"})),
            [("name".into(), Rule::MaxLength)]
        );
    }

    #[test]
    fn a_relative_path_is_rejected() {
        assert_eq!(
            rules_for(json!({"name": "a", "path": "m/a.gguf"})),
            [("path".into(), Rule::AbsolutePath)]
        );
    }

    #[test]
    fn a_path_that_is_not_a_gguf_file_is_rejected() {
        assert_eq!(
            rules_for(json!({"name": "a", "path": "/m/a.bin"})),
            [("path".into(), Rule::GgufFile)]
        );
    }

    #[test]
    fn an_unknown_kind_lists_the_allowed_ones() {
        let errors =
            ModelSpec::parse_new(&json!({"name": "a", "path": "/m/a.gguf", "kind": "mistrall"}));
        let Err(AppError::Invalid { errors }) = errors else {
            panic!()
        };
        assert_eq!(errors[0].rule, Rule::OneOf);
        assert!(errors[0].message.contains("mistral"));
    }

    #[test]
    fn an_unknown_field_is_named() {
        assert_eq!(
            rules_for(json!({"name": "a", "path": "/m/a.gguf", "ctx": 4096})),
            [("ctx".into(), Rule::UnknownField)]
        );
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let rules =
            rules_for(json!({"name": "", "path": "rel", "ctx_size": -1, "threads": "many"}));
        let fields: Vec<&str> = rules.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["name", "path", "ctx_size", "threads"]);
    }

    #[test]
    fn a_micro_batch_larger_than_the_batch_is_rejected() {
        assert_eq!(
            rules_for(
                json!({"name": "a", "path": "/m/a.gguf", "batch_size": 256, "ubatch_size": 512})
            ),
            [("ubatch_size".into(), Rule::Range)]
        );
    }

    #[test]
    fn cpu_mask_and_range_must_be_well_formed() {
        let rules = rules_for(
            json!({"name": "a", "path": "/m/a.gguf", "cpu_mask": "0xZZ", "cpu_range": "7-2"}),
        );
        assert_eq!(
            rules,
            [
                ("cpu_mask".into(), Rule::Pattern),
                ("cpu_range".into(), Rule::Pattern)
            ]
        );
    }

    #[test]
    fn every_spec_field_is_described_once() {
        let spec = ModelSpec::parse_new(&json!({"name": "a", "path": "/m/a.gguf"})).unwrap();
        let mut keys: Vec<String> = spec.to_object().keys().cloned().collect();
        let mut described: Vec<String> = ModelSpec::FIELDS
            .iter()
            .map(|f| f.key.to_string())
            .collect();
        keys.sort();
        described.sort();
        assert_eq!(keys, described);
    }

    fn model(name: &str, status: ModelStatus, kind: ModelKind) -> Model {
        Model {
            id: 1,
            spec: ModelSpec::parse_new(
                &json!({"name": name, "path": "/m/x.gguf", "kind": kind.as_str()}),
            )
            .unwrap(),
            size_bytes: None,
            status,
            status_reason: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn the_filter_matches_status_kind_and_text_together() {
        let m = model("Qwen Coder", ModelStatus::Stopped, ModelKind::Qwen);
        let filter = |status, kind, search: Option<&str>| ModelFilter {
            status,
            kind,
            search: search.map(Into::into),
        };
        assert!(filter(None, None, Some("coder")).matches(&m));
        assert!(filter(Some(ModelStatus::Stopped), Some(ModelKind::Qwen), None).matches(&m));
        assert!(!filter(Some(ModelStatus::Running), None, None).matches(&m));
        assert!(!filter(None, Some(ModelKind::Llama), None).matches(&m));
        assert!(!filter(None, None, Some("llama")).matches(&m));
    }

    #[test]
    fn sorting_by_status_breaks_ties_by_name() {
        let mut models = vec![
            model("b", ModelStatus::Stopped, ModelKind::Other),
            model("a", ModelStatus::Stopped, ModelKind::Other),
            model("c", ModelStatus::Error, ModelKind::Other),
        ];
        sort_models(&mut models, SortKey::Status, false);
        let names: Vec<&str> = models.iter().map(|m| m.spec.name.as_str()).collect();
        assert_eq!(names, ["c", "a", "b"]);
    }
}
