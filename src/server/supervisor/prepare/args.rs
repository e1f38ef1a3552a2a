//! Model + seven config groups → `llama-server` arguments: a list of separate arguments, never a
//! shell string. Settings left at their default are left out, so llama-server's own defaults
//! apply. Each flag remembers the setting it came from, so a flag the installed server lacks
//! can be reported by the setting's name before start.

use serde_json::{Map, Value};

use crate::domain::config::extra_args;
use crate::domain::config::{
    AdvancedConfig, ConfigGroup, GpuConfig, LoraConfig, MemoryConfig, MultimodalConfig,
    SamplingConfig, ServingConfig,
};
use crate::domain::fields::{FieldSet, FieldSpec, Flag};
use crate::domain::run::UnsupportedSetting;
use crate::domain::{FieldError, Model, ModelSpec, Rule};
use crate::server::supervisor::prepare::capabilities::Capabilities;

/// One flag and its values, and the setting (`group.field`) it expresses.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedArg {
    pub setting: String,
    pub flag: String,
    pub values: Vec<String>,
}

/// The seven groups of one model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelConfig {
    pub sampling: SamplingConfig,
    pub memory: MemoryConfig,
    pub gpu: GpuConfig,
    pub advanced: AdvancedConfig,
    pub lora: LoraConfig,
    pub multimodal: MultimodalConfig,
    pub serving: ServingConfig,
}

impl ModelConfig {
    pub fn from_groups(groups: impl IntoIterator<Item = ConfigGroup>) -> ModelConfig {
        let mut config = ModelConfig::default();
        for group in groups {
            match group {
                ConfigGroup::Sampling(g) => config.sampling = g,
                ConfigGroup::Memory(g) => config.memory = g,
                ConfigGroup::Gpu(g) => config.gpu = g,
                ConfigGroup::Advanced(g) => config.advanced = g,
                ConfigGroup::Lora(g) => config.lora = g,
                ConfigGroup::Multimodal(g) => config.multimodal = g,
                ConfigGroup::Serving(g) => config.serving = g,
            }
        }
        config
    }
}

impl ModelConfig {
    /// The settings with the files `replace` names (by setting, as `named_files` spells them)
    /// passed differently: the open files a start hands on.
    pub fn with_files(
        &self,
        replace: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ModelConfig, crate::domain::AppError> {
        let groups = self
            .groups()
            .iter()
            .map(|group| group.with_files(replace))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ModelConfig::from_groups(groups))
    }

    /// Each group with its settings, in display order.
    pub fn groups(&self) -> [ConfigGroup; 7] {
        [
            ConfigGroup::Sampling(self.sampling.clone()),
            ConfigGroup::Memory(self.memory.clone()),
            ConfigGroup::Gpu(self.gpu.clone()),
            ConfigGroup::Advanced(self.advanced.clone()),
            ConfigGroup::Lora(self.lora.clone()),
            ConfigGroup::Multimodal(self.multimodal.clone()),
            ConfigGroup::Serving(self.serving.clone()),
        ]
    }
}

/// A stored scalar as llama-server reads it: numbers as Rust prints them (`1`, not `1.0`).
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Bool(on) => Some(on.to_string()),
        Value::Number(n) => Some(match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (None, Some(u), _) => u.to_string(),
            (None, None, Some(f)) => f.to_string(),
            (None, None, None) => n.to_string(),
        }),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(scalar).collect())
        .unwrap_or_default()
}

/// The flags one set field calls for, from its description.
fn field_args(setting: String, flag: Flag, value: &Value, args: &mut Vec<PlannedArg>) {
    let mut push = |flag: &str, values: Vec<String>| {
        args.push(PlannedArg {
            setting: setting.clone(),
            flag: flag.to_string(),
            values,
        })
    };
    match flag {
        Flag::NotPassed => {}
        Flag::Value(flag) => {
            if let Some(value) = scalar(value) {
                push(flag, vec![value]);
            }
        }
        Flag::Spelled(flag, words) => {
            if let Some(stored) = scalar(value)
                && let Some((_, word)) = words.iter().find(|(from, _)| *from == stored)
            {
                push(flag, vec![word.to_string()]);
            }
        }
        Flag::Switch { on, off } => match (value.as_bool(), off) {
            (Some(true), _) => push(on, vec![]),
            (Some(false), Some(off)) => push(off, vec![]),
            _ => {}
        },
        Flag::Each(flag) => {
            for item in strings(value) {
                push(flag, vec![item]);
            }
        }
        Flag::Joined(flag) => {
            let items = strings(value);
            if !items.is_empty() {
                push(flag, vec![items.join(",")]);
            }
        }
        Flag::Scaled { plain, scaled } => {
            for item in value.as_array().into_iter().flatten() {
                let Some(path) = item.get("path").and_then(scalar) else {
                    continue;
                };
                // llama-server reads one `FNAME:SCALE` value (the path holds no `:`).
                match item.get("scale").and_then(scalar) {
                    Some(scale) => push(scaled, vec![format!("{path}:{scale}")]),
                    None => push(plain, vec![path]),
                }
            }
        }
        Flag::Chosen(flags) => {
            if let Some(stored) = scalar(value)
                && let Some((_, flag)) = flags.iter().find(|(from, _)| *from == stored)
            {
                push(flag, vec![]);
            }
        }
        Flag::PathOrAuto { path, auto } => match value.as_str() {
            Some("auto") => push(auto, vec![]),
            Some(file) => push(path, vec![file.to_string()]),
            None => {}
        },
    }
}

/// Every flag the settings call for, in the order they are described. Host and port are the
/// supervisor's.
pub fn plan(model: &Model, config: &ModelConfig) -> Vec<PlannedArg> {
    let mut args = Vec::new();
    let mut described = |scope: &str, fields: &[FieldSpec], values: &Map<String, Value>| {
        for field in fields {
            if let Some(value) = values.get(field.key) {
                field_args(
                    format!("{scope}.{}", field.key),
                    field.flag,
                    value,
                    &mut args,
                );
            }
        }
    };
    described(ModelSpec::WHOLE, ModelSpec::FIELDS, &model.spec.to_object());
    for group in config.groups() {
        let kind = group.kind();
        described(kind.as_str(), kind.fields(), &group.to_object());
    }
    args
}

/// The plan as separate arguments, with the person's extra arguments last, each one argument.
pub fn argv(model: &Model, config: &ModelConfig) -> Vec<String> {
    plan(model, config)
        .into_iter()
        .flat_map(|arg| std::iter::once(arg.flag).chain(arg.values))
        .chain(config.advanced.extra_args.iter().cloned())
        .collect()
}

/// Checks extra arguments again right before a start: each flag on Corral's reviewed list (a
/// database from an older Corral, or edited by hand, may hold anything), and each one present in
/// the installed server and read the way Corral reviewed it (a flag that took no value in the
/// reviewed build but takes one here would swallow the next argument).
pub fn check_extra(extra: &[String], caps: &Capabilities) -> Result<(), Vec<FieldError>> {
    let in_group = |error: FieldError| FieldError {
        field: format!("advanced.{}", error.field),
        ..error
    };
    let flags = extra_args::check(extra)
        .map_err(|errors| errors.into_iter().map(in_group).collect::<Vec<_>>())?;
    let errors: Vec<FieldError> = flags
        .into_iter()
        .filter_map(|found| {
            let spelling = extra_args::normalise(&extra[found.index]);
            let field = format!("advanced.extra_args[{}]", found.index);
            match caps.takes(&spelling) {
                None => Some(FieldError::new(
                    field,
                    Rule::Unsupported,
                    format!("the installed llama-server has no {spelling}"),
                )),
                Some(takes) if takes != found.flag.takes => Some(FieldError::new(
                    field,
                    Rule::NotAllowed,
                    format!(
                        "the installed llama-server reads {spelling} differently from the build \
                         Corral reviewed; remove it"
                    ),
                )),
                Some(_) => None,
            }
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The planned flags the installed build lacks, with the setting each came from.
pub fn unsupported(plan: &[PlannedArg], caps: &Capabilities) -> Vec<UnsupportedSetting> {
    plan.iter()
        .filter(|arg| !caps.has(&arg.flag))
        .map(|arg| UnsupportedSetting {
            setting: arg.setting.clone(),
            flag: arg.flag.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::config::ConfigGroupKind;
    use serde_json::json;

    fn model(extra: serde_json::Value) -> Model {
        let mut spec = json!({"name": "m", "path": "/models/a b.gguf"});
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        Model {
            id: 1,
            spec: crate::domain::ModelSpec::parse_new(&spec).unwrap(),
            size_bytes: None,
            status: crate::domain::ModelStatus::Stopped,
            status_reason: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn strings(args: Vec<String>) -> Vec<String> {
        args
    }

    #[test]
    fn defaults_are_left_out_entirely() {
        let args = strings(argv(&model(json!({})), &ModelConfig::default()));
        assert_eq!(
            args,
            ["--model", "/models/a b.gguf"],
            "a path with a space stays one argument"
        );
    }

    fn configured() -> ModelConfig {
        let group = |kind: ConfigGroupKind, value| kind.parse_config(&value).unwrap();
        ModelConfig::from_groups([
            group(
                ConfigGroupKind::Sampling,
                json!({"temperature": 0.7, "mirostat": "v2", "dry_sequence_breakers": ["\\n", "###"]}),
            ),
            group(
                ConfigGroupKind::Memory,
                json!({"load_mode": "mmap+mlock", "cache_type_k": "q8_0"}),
            ),
            group(
                ConfigGroupKind::Gpu,
                json!({"gpu_layers": "all", "devices": ["CUDA0", "CUDA1"], "kv_offload": false, "fit": true}),
            ),
            group(
                ConfigGroupKind::Advanced,
                json!({"flash_attn": "on", "context_shift": true, "extra_args": ["--tags", "my model"]}),
            ),
            group(
                ConfigGroupKind::Lora,
                json!({"lora": [{"path": "/l/a.gguf", "scale": 0.5}, {"path": "/l/b.gguf"}]}),
            ),
            group(
                ConfigGroupKind::Multimodal,
                json!({"mmproj": "auto", "image_max_tokens": 1024}),
            ),
            group(
                ConfigGroupKind::Serving,
                json!({"role": "embeddings", "aliases": ["e"], "idle_ttl_seconds": 5}),
            ),
        ])
    }

    #[test]
    fn every_group_becomes_its_flags() {
        let args = strings(argv(
            &model(json!({"ctx_size": 8192, "cpu_strict": true})),
            &configured(),
        ));
        let expected = [
            "--model",
            "/models/a b.gguf",
            "--ctx-size",
            "8192",
            "--cpu-strict",
            "1",
            "--temp",
            "0.7",
            "--dry-sequence-breaker",
            "\\n",
            "--dry-sequence-breaker",
            "###",
            "--mirostat",
            "2",
            "--load-mode",
            "mmap+mlock",
            "--cache-type-k",
            "q8_0",
            "--device",
            "CUDA0,CUDA1",
            "--gpu-layers",
            "all",
            "--no-kv-offload",
            "--fit",
            "on",
            "--flash-attn",
            "on",
            "--context-shift",
            "--lora-scaled",
            "/l/a.gguf:0.5",
            "--lora",
            "/l/b.gguf",
            "--mmproj-auto",
            "--image-max-tokens",
            "1024",
            "--embeddings",
            "--tags",
            "my model",
        ];
        assert_eq!(args, expected);
    }

    #[test]
    fn each_flag_names_the_setting_it_expresses() {
        let plan = plan(&model(json!({})), &configured());
        let load = plan.iter().find(|a| a.flag == "--load-mode").unwrap();
        assert_eq!(load.setting, "memory.load_mode");
        assert!(
            plan.iter()
                .all(|a| a.setting.contains('.') && a.flag.starts_with("--"))
        );
    }

    #[test]
    fn an_off_switch_without_an_off_flag_is_left_out() {
        let config = ModelConfig::from_groups([ConfigGroupKind::Advanced
            .parse_config(&json!({"swa_full": false, "cpu_moe": false, "context_shift": false}))
            .unwrap()]);
        let args = strings(argv(&model(json!({})), &config));
        assert_eq!(args, ["--model", "/models/a b.gguf", "--no-context-shift"]);
    }

    #[test]
    fn no_argument_is_ever_empty() {
        let args = strings(argv(&model(json!({})), &configured()));
        assert!(args.iter().all(|a| !a.is_empty()));
    }

    #[test]
    fn every_described_setting_has_a_flag() {
        // Set every field of every group to a valid non-default value: each must produce a flag.
        // (Free-text fields need content of their own kind and are covered above.)
        let mut config = ModelConfig::default();
        let mut expected = Vec::new();
        for kind in ConfigGroupKind::ALL {
            let mut object = serde_json::Map::new();
            for field in kind.fields() {
                // Corral's own settings (the serving group's queue and names) pass nothing.
                if field.flag == Flag::NotPassed && field.key != "extra_args" {
                    continue;
                }
                let value = match field.flag {
                    Flag::Chosen(flags) => flags.first().map(|(choice, _)| json!(choice)),
                    _ => field.example_value(),
                };
                let Some(value) = value else {
                    continue;
                };
                object.insert(field.key.to_string(), value);
                if field.key != "extra_args" {
                    expected.push(format!("{kind}.{}", field.key));
                }
            }
            config = ModelConfig::from_groups([
                ConfigGroup::Sampling(config.sampling.clone()),
                ConfigGroup::Memory(config.memory.clone()),
                ConfigGroup::Gpu(config.gpu.clone()),
                ConfigGroup::Advanced(config.advanced.clone()),
                ConfigGroup::Lora(config.lora.clone()),
                ConfigGroup::Multimodal(config.multimodal.clone()),
                ConfigGroup::Serving(config.serving.clone()),
                kind.parse_config(&serde_json::Value::Object(object))
                    .unwrap(),
            ]);
        }
        let settings: std::collections::BTreeSet<String> = plan(&model(json!({})), &config)
            .into_iter()
            .map(|a| a.setting)
            .collect();
        let missing: Vec<&String> = expected.iter().filter(|s| !settings.contains(*s)).collect();
        assert!(missing.is_empty(), "settings without a flag: {missing:?}");
    }

    #[test]
    fn numbers_and_words_are_passed_as_llama_server_reads_them() {
        let config = ModelConfig::from_groups([ConfigGroupKind::Sampling
            .parse_config(&json!({"temperature": 2.0, "mirostat": "off"}))
            .unwrap()]);
        let args = argv(&model(json!({"cpu_strict": false})), &config);
        assert_eq!(
            args,
            [
                "--model",
                "/models/a b.gguf",
                "--cpu-strict",
                "0",
                "--temp",
                "2",
                "--mirostat",
                "0"
            ]
        );
    }

    #[test]
    fn a_planned_flag_the_build_lacks_is_reported_by_its_setting() {
        let caps = Capabilities::parse(
            "-c,    --ctx-size N                     size of the prompt context\n",
        );
        let plan = vec![
            PlannedArg {
                setting: "model.ctx_size".into(),
                flag: "--ctx-size".into(),
                values: vec!["4096".into()],
            },
            PlannedArg {
                setting: "memory.draft_ctx_size".into(),
                flag: "--ctx-size-draft".into(),
                values: vec!["512".into()],
            },
        ];
        assert_eq!(
            unsupported(&plan, &caps),
            vec![UnsupportedSetting {
                setting: "memory.draft_ctx_size".into(),
                flag: "--ctx-size-draft".into()
            }]
        );
    }
}
