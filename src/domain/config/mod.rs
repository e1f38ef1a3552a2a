//! The seven config groups of a model. Each group is a typed struct whose every field is optional:
//! empty means "llama-server's own default", so only what a person chose is ever passed on.

pub mod advanced;
pub mod extra_args;
pub mod gpu;
pub mod lora;
pub mod memory;
pub mod multimodal;
pub mod request_shape;
pub mod sampling;
pub mod serving;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use advanced::AdvancedConfig;
pub use gpu::GpuConfig;
pub use lora::LoraConfig;
pub use memory::MemoryConfig;
pub use multimodal::MultimodalConfig;
pub use sampling::SamplingConfig;
pub use serving::ServingConfig;

use crate::domain::error::AppError;
use crate::domain::fields::{FieldSet, FieldSpec, InputKind};

choice_enum! {
    /// Names one config group.
    pub enum ConfigGroupKind {
        Sampling => "sampling",
        Memory => "memory",
        Gpu => "gpu",
        Advanced => "advanced",
        Lora => "lora",
        Multimodal => "multimodal",
        Serving => "serving",
    }
}

/// One group's settings, tagged with the group: `{"group": "sampling", "config": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "group", content = "config", rename_all = "lowercase")]
pub enum ConfigGroup {
    Sampling(SamplingConfig),
    Memory(MemoryConfig),
    Gpu(GpuConfig),
    Advanced(AdvancedConfig),
    Lora(LoraConfig),
    Multimodal(MultimodalConfig),
    Serving(ServingConfig),
}

/// Runs `$body` with `$config` bound to the group's struct, whatever the group.
macro_rules! with_group {
    ($group:expr, $config:ident => $body:expr) => {
        match $group {
            ConfigGroup::Sampling($config) => $body,
            ConfigGroup::Memory($config) => $body,
            ConfigGroup::Gpu($config) => $body,
            ConfigGroup::Advanced($config) => $body,
            ConfigGroup::Lora($config) => $body,
            ConfigGroup::Multimodal($config) => $body,
            ConfigGroup::Serving($config) => $body,
        }
    };
}

impl ConfigGroupKind {
    pub fn title(self) -> &'static str {
        match self {
            ConfigGroupKind::Sampling => "Sampling",
            ConfigGroupKind::Memory => "Memory",
            ConfigGroupKind::Gpu => "GPU",
            ConfigGroupKind::Advanced => "Advanced",
            ConfigGroupKind::Lora => "LoRA and speculative decoding",
            ConfigGroupKind::Multimodal => "Multimodal",
            ConfigGroupKind::Serving => "Serving",
        }
    }

    pub fn summary(self) -> &'static str {
        match self {
            ConfigGroupKind::Sampling => {
                "How the next token is chosen. These become the server's defaults; requests may override them."
            }
            ConfigGroupKind::Memory => "How the model and its KV cache are held in memory.",
            ConfigGroupKind::Gpu => "Which devices run the model and how it is split across them.",
            ConfigGroupKind::Advanced => "Attention, RoPE scaling, reasoning and extra arguments.",
            ConfigGroupKind::Lora => {
                "Adapters, control vectors and a draft model for speculative decoding."
            }
            ConfigGroupKind::Multimodal => "The vision/audio projector and image token limits.",
            ConfigGroupKind::Serving => {
                "How clients reach the model through Corral's /v1 endpoint: its names, role, queue and idle unload."
            }
        }
    }

    pub fn fields(self) -> &'static [FieldSpec] {
        match self {
            ConfigGroupKind::Sampling => SamplingConfig::FIELDS,
            ConfigGroupKind::Memory => MemoryConfig::FIELDS,
            ConfigGroupKind::Gpu => GpuConfig::FIELDS,
            ConfigGroupKind::Advanced => AdvancedConfig::FIELDS,
            ConfigGroupKind::Lora => LoraConfig::FIELDS,
            ConfigGroupKind::Multimodal => MultimodalConfig::FIELDS,
            ConfigGroupKind::Serving => ServingConfig::FIELDS,
        }
    }

    /// The group with every field at its default.
    pub fn default_config(self) -> ConfigGroup {
        match self {
            ConfigGroupKind::Sampling => ConfigGroup::Sampling(Default::default()),
            ConfigGroupKind::Memory => ConfigGroup::Memory(Default::default()),
            ConfigGroupKind::Gpu => ConfigGroup::Gpu(Default::default()),
            ConfigGroupKind::Advanced => ConfigGroup::Advanced(Default::default()),
            ConfigGroupKind::Lora => ConfigGroup::Lora(Default::default()),
            ConfigGroupKind::Multimodal => ConfigGroup::Multimodal(Default::default()),
            ConfigGroupKind::Serving => ConfigGroup::Serving(Default::default()),
        }
    }

    /// Untrusted JSON → this group's settings, or every broken rule with its field.
    pub fn parse_config(self, value: &Value) -> Result<ConfigGroup, AppError> {
        Ok(match self {
            ConfigGroupKind::Sampling => ConfigGroup::Sampling(SamplingConfig::parse(value)?),
            ConfigGroupKind::Memory => ConfigGroup::Memory(MemoryConfig::parse(value)?),
            ConfigGroupKind::Gpu => ConfigGroup::Gpu(GpuConfig::parse(value)?),
            ConfigGroupKind::Advanced => ConfigGroup::Advanced(AdvancedConfig::parse(value)?),
            ConfigGroupKind::Lora => ConfigGroup::Lora(LoraConfig::parse(value)?),
            ConfigGroupKind::Multimodal => ConfigGroup::Multimodal(MultimodalConfig::parse(value)?),
            ConfigGroupKind::Serving => ConfigGroup::Serving(ServingConfig::parse(value)?),
        })
    }
}

impl ConfigGroup {
    pub fn kind(&self) -> ConfigGroupKind {
        match self {
            ConfigGroup::Sampling(_) => ConfigGroupKind::Sampling,
            ConfigGroup::Memory(_) => ConfigGroupKind::Memory,
            ConfigGroup::Gpu(_) => ConfigGroupKind::Gpu,
            ConfigGroup::Advanced(_) => ConfigGroupKind::Advanced,
            ConfigGroup::Lora(_) => ConfigGroupKind::Lora,
            ConfigGroup::Multimodal(_) => ConfigGroupKind::Multimodal,
            ConfigGroup::Serving(_) => ConfigGroupKind::Serving,
        }
    }

    /// The settings alone, as a JSON object.
    pub fn to_object(&self) -> serde_json::Map<String, Value> {
        with_group!(self, config => config.to_object())
    }

    /// Every file this group's settings name, as (setting, path) with the setting spelled as
    /// errors name it (`lora.lora[0].path`, `multimodal.mmproj`); keywords such as `auto` are
    /// not files. Read off the field descriptions, so a new path setting is covered at once.
    pub fn named_files(&self) -> Vec<(String, String)> {
        let group = self.kind().as_str();
        let values = self.to_object();
        let mut files = Vec::new();
        for spec in self.kind().fields() {
            let Some(value) = values.get(spec.key) else {
                continue;
            };
            match spec.input {
                InputKind::Path { keywords } => {
                    if let Some(path) = value.as_str().filter(|p| !keywords.contains(p)) {
                        files.push((format!("{group}.{}", spec.key), path.to_string()));
                    }
                }
                InputKind::ScaledPaths { .. } => {
                    let items = value.as_array().map(Vec::as_slice).unwrap_or_default();
                    for (i, item) in items.iter().enumerate() {
                        if let Some(path) = item.get("path").and_then(Value::as_str) {
                            files.push((format!("{group}.{}[{i}].path", spec.key), path.into()));
                        }
                    }
                }
                _ => {}
            }
        }
        files
    }
}

impl ConfigGroup {
    /// The group with each file `named_files` lists replaced where `replace` says (by the
    /// same setting names), the rest as it was.
    pub fn with_files(
        &self,
        replace: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ConfigGroup, AppError> {
        let group = self.kind().as_str();
        let mut values = self.to_object();
        for spec in self.kind().fields() {
            let Some(value) = values.get_mut(spec.key) else {
                continue;
            };
            match spec.input {
                InputKind::Path { .. } => {
                    if let Some(new) = replace(&format!("{group}.{}", spec.key)) {
                        *value = Value::String(new);
                    }
                }
                InputKind::ScaledPaths { .. } => {
                    let items = value
                        .as_array_mut()
                        .map(Vec::as_mut_slice)
                        .unwrap_or_default();
                    for (i, item) in items.iter_mut().enumerate() {
                        if let Some(new) = replace(&format!("{group}.{}[{i}].path", spec.key))
                            && let Some(object) = item.as_object_mut()
                        {
                            object.insert("path".into(), Value::String(new));
                        }
                    }
                }
                _ => {}
            }
        }
        self.kind().parse_config(&Value::Object(values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_of_every_group_is_described_once() {
        for kind in ConfigGroupKind::ALL {
            let mut keys: Vec<String> = kind.default_config().to_object().keys().cloned().collect();
            let mut described: Vec<String> =
                kind.fields().iter().map(|f| f.key.to_string()).collect();
            keys.sort();
            described.sort();
            assert_eq!(keys, described, "group {kind}");
            let unique: std::collections::BTreeSet<_> = described.iter().collect();
            assert_eq!(unique.len(), described.len(), "group {kind} repeats a key");
        }
    }

    #[test]
    fn every_described_field_has_a_label_help_and_default() {
        for kind in ConfigGroupKind::ALL {
            for field in kind.fields() {
                assert!(!field.label.is_empty(), "{kind}.{}", field.key);
                assert!(!field.help.is_empty(), "{kind}.{} has no help", field.key);
                assert!(
                    !field.default.is_empty(),
                    "{kind}.{} has no default",
                    field.key
                );
            }
        }
    }

    #[test]
    fn the_default_of_every_group_is_valid() {
        for kind in ConfigGroupKind::ALL {
            let json = Value::Object(kind.default_config().to_object());
            assert_eq!(kind.parse_config(&json).unwrap(), kind.default_config());
        }
    }

    #[test]
    fn every_choice_option_parses_into_its_group() {
        for kind in ConfigGroupKind::ALL {
            for field in kind.fields() {
                if let crate::domain::fields::InputKind::Choice { options } = field.input {
                    for option in options {
                        let mut json = serde_json::json!({ field.key: option });
                        // Sleeping when idle needs the idle time it sleeps after.
                        if field.key == "idle_action" {
                            json["idle_ttl_seconds"] = serde_json::json!(60);
                        }
                        assert!(
                            kind.parse_config(&json).is_ok(),
                            "{kind}.{} = {option}",
                            field.key
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_group_travels_tagged_with_its_name() {
        let json = serde_json::to_value(ConfigGroupKind::Gpu.default_config()).unwrap();
        assert_eq!(json["group"], "gpu");
        assert!(json["config"].is_object());
    }
}
