//! Sampling: how the next token is chosen.

use serde::{Deserialize, Serialize};

use crate::domain::error::{FieldError, Rule};
use crate::domain::fields::{FieldSet, FieldSpec, Flag};

choice_enum! {
    /// Mirostat sampling (replaces top-k/top-p/typical when on).
    pub enum Mirostat {
        Off => "off",
        V1 => "v1",
        V2 => "v2",
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingConfig {
    pub temperature: Option<f64>,
    pub top_k: Option<i64>,
    pub top_p: Option<f64>,
    pub min_p: Option<f64>,
    pub typical_p: Option<f64>,
    pub top_n_sigma: Option<f64>,
    pub xtc_probability: Option<f64>,
    pub xtc_threshold: Option<f64>,
    pub repeat_last_n: Option<i64>,
    pub repeat_penalty: Option<f64>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
    pub dry_multiplier: Option<f64>,
    pub dry_base: Option<f64>,
    pub dry_allowed_length: Option<i64>,
    pub dry_penalty_last_n: Option<i64>,
    pub dry_sequence_breakers: Vec<String>,
    pub dynatemp_range: Option<f64>,
    pub dynatemp_exponent: Option<f64>,
    pub mirostat: Option<Mirostat>,
    pub mirostat_lr: Option<f64>,
    pub mirostat_ent: Option<f64>,
    pub samplers: Option<String>,
    pub seed: Option<i64>,
    pub grammar: Option<String>,
    pub json_schema: Option<String>,
}

const MAX_CONTEXT: i64 = 4_194_304;

/// Names llama-server accepts in `--samplers`.
pub const SAMPLER_NAMES: &[&str] = &[
    "penalties",
    "dry",
    "top_n_sigma",
    "top_k",
    "typ_p",
    "typical_p",
    "top_p",
    "min_p",
    "xtc",
    "temperature",
    "infill",
];

impl FieldSet for SamplingConfig {
    const FIELDS: &'static [FieldSpec] = &[
        FieldSpec::float("temperature", "Temperature", 0.0, 10.0)
            .passed_as("--temp")
            .help("Higher is more random; 0 always picks the most likely token.")
            .default("0.8"),
        FieldSpec::int("top_k", "Top-k", 0, 1_000_000)
            .passed_as("--top-k")
            .help("Keep only the k most likely tokens; 0 disables.")
            .default("40"),
        FieldSpec::float("top_p", "Top-p", 0.0, 1.0)
            .passed_as("--top-p")
            .help("Keep the smallest set of tokens whose probability adds up to p; 1 disables.")
            .default("0.95"),
        FieldSpec::float("min_p", "Min-p", 0.0, 1.0)
            .passed_as("--min-p")
            .help("Drop tokens less likely than this share of the top token; 0 disables.")
            .default("0.05"),
        FieldSpec::float("typical_p", "Typical-p", 0.0, 1.0)
            .passed_as("--typical")
            .help("Locally typical sampling; 1 disables.")
            .default("1.0"),
        FieldSpec::float("top_n_sigma", "Top-n-sigma", -1.0, 100.0)
            .passed_as("--top-nsigma")
            .help("Keep tokens within n standard deviations of the top logit; -1 disables.")
            .default("-1 (off)"),
        FieldSpec::float("xtc_probability", "XTC probability", 0.0, 1.0)
            .passed_as("--xtc-probability")
            .help("Chance of removing the most likely tokens (exclude top choices); 0 disables.")
            .default("0 (off)"),
        FieldSpec::float("xtc_threshold", "XTC threshold", 0.0, 1.0)
            .passed_as("--xtc-threshold")
            .help("Tokens above this probability may be excluded by XTC.")
            .default("0.1"),
        FieldSpec::int("repeat_last_n", "Repeat window", -1, MAX_CONTEXT)
            .passed_as("--repeat-last-n")
            .help("How many recent tokens the repeat penalty looks at; -1 is the whole context.")
            .default("64"),
        FieldSpec::float("repeat_penalty", "Repeat penalty", 0.0, 10.0)
            .passed_as("--repeat-penalty")
            .help("Penalise repeated tokens; 1 disables.")
            .default("1.0"),
        FieldSpec::float("presence_penalty", "Presence penalty", -2.0, 2.0)
            .passed_as("--presence-penalty")
            .help("Penalise tokens that already appeared at all.")
            .default("0.0"),
        FieldSpec::float("frequency_penalty", "Frequency penalty", -2.0, 2.0)
            .passed_as("--frequency-penalty")
            .help("Penalise tokens by how often they appeared.")
            .default("0.0"),
        FieldSpec::float("dry_multiplier", "DRY multiplier", 0.0, 100.0)
            .passed_as("--dry-multiplier")
            .help("Strength of the DRY repetition penalty; 0 disables.")
            .default("0 (off)"),
        FieldSpec::float("dry_base", "DRY base", 1.0, 100.0)
            .passed_as("--dry-base")
            .help("How fast the DRY penalty grows with the length of a repeat.")
            .default("1.75"),
        FieldSpec::int("dry_allowed_length", "DRY allowed length", 0, 10_000)
            .passed_as("--dry-allowed-length")
            .help("Repeats up to this length are not penalised.")
            .default("2"),
        FieldSpec::int("dry_penalty_last_n", "DRY window", -1, MAX_CONTEXT)
            .passed_as("--dry-penalty-last-n")
            .help("How many recent tokens DRY scans; -1 is the whole context.")
            .default("-1 (context size)"),
        FieldSpec::list("dry_sequence_breakers", "DRY sequence breakers", 64)
            .flag(Flag::Each("--dry-sequence-breaker"))
            .help("Strings that end a repeat for DRY, one per line; write a newline as \\n.")
            .default("newline, colon, quote, asterisk"),
        FieldSpec::float("dynatemp_range", "Dynamic temperature range", 0.0, 10.0)
            .passed_as("--dynatemp-range")
            .help("Temperature varies within ± this range by entropy; 0 disables.")
            .default("0 (off)"),
        FieldSpec::float(
            "dynatemp_exponent",
            "Dynamic temperature exponent",
            0.0,
            100.0,
        )
        .passed_as("--dynatemp-exp")
        .help("Shape of the dynamic temperature curve.")
        .default("1.0"),
        FieldSpec::choice("mirostat", "Mirostat", Mirostat::NAMES)
            .flag(Flag::Spelled(
                "--mirostat",
                &[("off", "0"), ("v1", "1"), ("v2", "2")],
            ))
            .help("Target a perplexity instead of top-k/top-p sampling.")
            .default("off"),
        FieldSpec::float("mirostat_lr", "Mirostat learning rate", 0.0, 1.0)
            .passed_as("--mirostat-lr")
            .help("Mirostat's eta.")
            .default("0.1"),
        FieldSpec::float("mirostat_ent", "Mirostat target entropy", 0.0, 100.0)
            .passed_as("--mirostat-ent")
            .help("Mirostat's tau.")
            .default("5.0"),
        FieldSpec::text("samplers", "Sampler order", 256)
            .passed_as("--samplers")
            .help("Samplers in order, separated by ';' (e.g. top_k;top_p;temperature).")
            .default("penalties;dry;top_n_sigma;top_k;typ_p;top_p;min_p;xtc;temperature"),
        FieldSpec::int("seed", "Seed", -1, u32::MAX as i64)
            .passed_as("--seed")
            .help("Random seed for reproducible output; -1 picks a new one each time.")
            .default("-1 (random)"),
        FieldSpec::long_text("grammar", "Grammar (GBNF)", 65_536)
            .passed_as("--grammar")
            .help("Constrain output to this GBNF grammar.")
            .default("none"),
        FieldSpec::long_text("json_schema", "JSON schema", 65_536)
            .passed_as("--json-schema")
            .help("Constrain output to JSON matching this schema (instead of a grammar).")
            .default("none"),
    ];

    fn cross_check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if let Some(samplers) = &self.samplers
            && let Some(bad) = samplers
                .split(';')
                .find(|s| !SAMPLER_NAMES.contains(&s.trim()))
        {
            errors.push(FieldError::new(
                "samplers",
                Rule::OneOf,
                format!(
                    "has an unknown sampler '{bad}'; known: {}",
                    SAMPLER_NAMES.join(", ")
                ),
            ));
        }
        if let Some(schema) = &self.json_schema
            && serde_json::from_str::<serde_json::Value>(schema).map_or(true, |v| !v.is_object())
        {
            errors.push(FieldError::new(
                "json_schema",
                Rule::Pattern,
                "must be a JSON object",
            ));
        }
        if self.grammar.is_some() && self.json_schema.is_some() {
            errors.push(FieldError::new(
                "json_schema",
                Rule::Conflict,
                "cannot be set together with a grammar",
            ));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::error::AppError;
    use serde_json::json;

    fn first_error(value: serde_json::Value) -> FieldError {
        match SamplingConfig::parse(&value) {
            Err(AppError::Invalid { errors }) => errors[0].clone(),
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn a_full_sampling_config_round_trips() {
        let config = SamplingConfig::parse(&json!({
            "temperature": 0.7, "top_k": 20, "mirostat": "v2", "seed": 42,
            "dry_sequence_breakers": ["\\n", ":"], "samplers": "top_k;temperature"
        }))
        .unwrap();
        assert_eq!(config.mirostat, Some(Mirostat::V2));
        assert_eq!(
            SamplingConfig::parse(&serde_json::Value::Object(config.to_object())).unwrap(),
            config
        );
    }

    #[test]
    fn a_temperature_out_of_range_is_rejected() {
        let error = first_error(json!({"temperature": 11}));
        assert_eq!(
            (error.field.as_str(), error.rule),
            ("temperature", Rule::Range)
        );
    }

    #[test]
    fn an_unknown_sampler_is_named() {
        let error = first_error(json!({"samplers": "top_k;magic"}));
        assert!(error.message.contains("'magic'"));
    }

    #[test]
    fn a_json_schema_must_be_json() {
        assert_eq!(
            first_error(json!({"json_schema": "{nope"})).field,
            "json_schema"
        );
    }

    #[test]
    fn grammar_and_json_schema_exclude_each_other() {
        let error = first_error(json!({"grammar": "root ::= \"a\"", "json_schema": "{}"}));
        assert_eq!(error.rule, Rule::Conflict);
    }
}
