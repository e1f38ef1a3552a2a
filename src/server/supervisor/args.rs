//! Model + six config groups → `llama-server` arguments: a list of separate arguments, never a
//! shell string. Settings left at their default are left out, so llama-server's own defaults
//! apply. Each flag remembers the setting it came from, so a flag the installed server lacks
//! can be reported by the setting's name before start.

use crate::domain::config::extra_args;
use crate::domain::config::gpu::GpuLayers;
use crate::domain::config::lora::ScaledPath;
use crate::domain::config::sampling::Mirostat;
use crate::domain::config::{
    AdvancedConfig, ConfigGroup, GpuConfig, LoraConfig, MemoryConfig, MultimodalConfig,
    SamplingConfig,
};
use crate::domain::{FieldError, Model, Rule};
use crate::server::supervisor::capabilities::Capabilities;

/// One flag and its values, and the setting (`group.field`) it expresses.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedArg {
    pub setting: String,
    pub flag: String,
    pub values: Vec<String>,
}

/// The six groups of one model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelConfig {
    pub sampling: SamplingConfig,
    pub memory: MemoryConfig,
    pub gpu: GpuConfig,
    pub advanced: AdvancedConfig,
    pub lora: LoraConfig,
    pub multimodal: MultimodalConfig,
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
            }
        }
        config
    }
}

/// Collects flags for settings that are set.
#[derive(Default)]
struct Plan {
    args: Vec<PlannedArg>,
}

impl Plan {
    fn push(&mut self, setting: &str, flag: &str, values: Vec<String>) {
        self.args.push(PlannedArg {
            setting: setting.to_string(),
            flag: flag.to_string(),
            values,
        });
    }
    fn value<T: ToString>(&mut self, setting: &str, flag: &str, value: &Option<T>) {
        if let Some(value) = value {
            self.push(setting, flag, vec![value.to_string()]);
        }
    }
    /// A tri-state switch: on, off, or llama-server's default.
    fn switch(&mut self, setting: &str, on: &str, off: &str, value: Option<bool>) {
        match value {
            Some(true) => self.push(setting, on, vec![]),
            Some(false) => self.push(setting, off, vec![]),
            None => {}
        }
    }
    /// A switch llama-server only has an "on" flag for, off by default: off needs no flag.
    fn on_only(&mut self, setting: &str, on: &str, value: Option<bool>) {
        if value == Some(true) {
            self.push(setting, on, vec![]);
        }
    }
    /// The same flag once per entry.
    fn each(&mut self, setting: &str, flag: &str, values: &[String]) {
        for value in values {
            self.push(setting, flag, vec![value.clone()]);
        }
    }
    /// One flag with the entries joined by commas.
    fn joined(&mut self, setting: &str, flag: &str, values: &[String]) {
        if !values.is_empty() {
            self.push(setting, flag, vec![values.join(",")]);
        }
    }
    fn scaled(&mut self, setting: &str, plain: &str, scaled: &str, items: &[ScaledPath]) {
        for item in items {
            match item.scale {
                Some(scale) => {
                    self.push(setting, scaled, vec![item.path.clone(), scale.to_string()])
                }
                None => self.push(setting, plain, vec![item.path.clone()]),
            }
        }
    }
}

fn layers(value: &Option<GpuLayers>) -> Option<String> {
    value.map(|layers| match layers {
        GpuLayers::Count(n) => n.to_string(),
        GpuLayers::Keyword(word) => word.as_str().to_string(),
    })
}

/// Every flag the settings call for, in a stable order. Host and port are the supervisor's.
pub fn plan(model: &Model, config: &ModelConfig) -> Vec<PlannedArg> {
    let mut p = Plan::default();
    let spec = &model.spec;
    p.push("model.path", "--model", vec![spec.path.clone()]);
    p.value("model.ctx_size", "--ctx-size", &spec.ctx_size);
    p.value("model.batch_size", "--batch-size", &spec.batch_size);
    p.value("model.ubatch_size", "--ubatch-size", &spec.ubatch_size);
    p.value("model.parallel", "--parallel", &spec.parallel);
    p.value("model.threads", "--threads", &spec.threads);
    p.value(
        "model.threads_batch",
        "--threads-batch",
        &spec.threads_batch,
    );
    p.value("model.cpu_mask", "--cpu-mask", &spec.cpu_mask);
    p.value("model.cpu_range", "--cpu-range", &spec.cpu_range);
    p.value(
        "model.cpu_strict",
        "--cpu-strict",
        &spec.cpu_strict.map(u8::from),
    );

    let s = &config.sampling;
    p.value("sampling.temperature", "--temp", &s.temperature);
    p.value("sampling.top_k", "--top-k", &s.top_k);
    p.value("sampling.top_p", "--top-p", &s.top_p);
    p.value("sampling.min_p", "--min-p", &s.min_p);
    p.value("sampling.typical_p", "--typical", &s.typical_p);
    p.value("sampling.top_n_sigma", "--top-nsigma", &s.top_n_sigma);
    p.value(
        "sampling.xtc_probability",
        "--xtc-probability",
        &s.xtc_probability,
    );
    p.value(
        "sampling.xtc_threshold",
        "--xtc-threshold",
        &s.xtc_threshold,
    );
    p.value(
        "sampling.repeat_last_n",
        "--repeat-last-n",
        &s.repeat_last_n,
    );
    p.value(
        "sampling.repeat_penalty",
        "--repeat-penalty",
        &s.repeat_penalty,
    );
    p.value(
        "sampling.presence_penalty",
        "--presence-penalty",
        &s.presence_penalty,
    );
    p.value(
        "sampling.frequency_penalty",
        "--frequency-penalty",
        &s.frequency_penalty,
    );
    p.value(
        "sampling.dry_multiplier",
        "--dry-multiplier",
        &s.dry_multiplier,
    );
    p.value("sampling.dry_base", "--dry-base", &s.dry_base);
    p.value(
        "sampling.dry_allowed_length",
        "--dry-allowed-length",
        &s.dry_allowed_length,
    );
    p.value(
        "sampling.dry_penalty_last_n",
        "--dry-penalty-last-n",
        &s.dry_penalty_last_n,
    );
    p.each(
        "sampling.dry_sequence_breakers",
        "--dry-sequence-breaker",
        &s.dry_sequence_breakers,
    );
    p.value(
        "sampling.dynatemp_range",
        "--dynatemp-range",
        &s.dynatemp_range,
    );
    p.value(
        "sampling.dynatemp_exponent",
        "--dynatemp-exp",
        &s.dynatemp_exponent,
    );
    let mirostat = s.mirostat.map(|m| match m {
        Mirostat::Off => 0,
        Mirostat::V1 => 1,
        Mirostat::V2 => 2,
    });
    p.value("sampling.mirostat", "--mirostat", &mirostat);
    p.value("sampling.mirostat_lr", "--mirostat-lr", &s.mirostat_lr);
    p.value("sampling.mirostat_ent", "--mirostat-ent", &s.mirostat_ent);
    p.value("sampling.samplers", "--samplers", &s.samplers);
    p.value("sampling.seed", "--seed", &s.seed);
    p.value("sampling.grammar", "--grammar", &s.grammar);
    p.value("sampling.json_schema", "--json-schema", &s.json_schema);

    let m = &config.memory;
    p.value("memory.load_mode", "--load-mode", &m.load_mode);
    p.value("memory.cache_ram_mib", "--cache-ram", &m.cache_ram_mib);
    p.value("memory.cache_type_k", "--cache-type-k", &m.cache_type_k);
    p.value("memory.cache_type_v", "--cache-type-v", &m.cache_type_v);
    p.value("memory.numa", "--numa", &m.numa);
    p.value(
        "memory.defrag_threshold",
        "--defrag-thold",
        &m.defrag_threshold,
    );

    let g = &config.gpu;
    p.joined("gpu.devices", "--device", &g.devices);
    p.value("gpu.gpu_layers", "--gpu-layers", &layers(&g.gpu_layers));
    p.value("gpu.split_mode", "--split-mode", &g.split_mode);
    p.value("gpu.tensor_split", "--tensor-split", &g.tensor_split);
    p.value("gpu.main_gpu", "--main-gpu", &g.main_gpu);
    p.switch(
        "gpu.kv_offload",
        "--kv-offload",
        "--no-kv-offload",
        g.kv_offload,
    );
    p.switch("gpu.repack", "--repack", "--no-repack", g.repack);
    p.value(
        "gpu.fit",
        "--fit",
        &g.fit.map(|on| if on { "on" } else { "off" }),
    );
    p.value("gpu.fit_target_mib", "--fit-target", &g.fit_target_mib);
    p.value("gpu.fit_min_ctx", "--fit-ctx", &g.fit_min_ctx);

    let a = &config.advanced;
    p.value("advanced.flash_attn", "--flash-attn", &a.flash_attn);
    p.value("advanced.rope_scaling", "--rope-scaling", &a.rope_scaling);
    p.value("advanced.rope_scale", "--rope-scale", &a.rope_scale);
    p.value(
        "advanced.rope_freq_base",
        "--rope-freq-base",
        &a.rope_freq_base,
    );
    p.value(
        "advanced.rope_freq_scale",
        "--rope-freq-scale",
        &a.rope_freq_scale,
    );
    p.value(
        "advanced.yarn_orig_ctx",
        "--yarn-orig-ctx",
        &a.yarn_orig_ctx,
    );
    p.value(
        "advanced.yarn_ext_factor",
        "--yarn-ext-factor",
        &a.yarn_ext_factor,
    );
    p.value(
        "advanced.yarn_attn_factor",
        "--yarn-attn-factor",
        &a.yarn_attn_factor,
    );
    p.value(
        "advanced.yarn_beta_slow",
        "--yarn-beta-slow",
        &a.yarn_beta_slow,
    );
    p.value(
        "advanced.yarn_beta_fast",
        "--yarn-beta-fast",
        &a.yarn_beta_fast,
    );
    p.on_only("advanced.swa_full", "--swa-full", a.swa_full);
    p.each(
        "advanced.override_tensors",
        "--override-tensor",
        &a.override_tensors,
    );
    p.on_only("advanced.cpu_moe", "--cpu-moe", a.cpu_moe);
    p.value("advanced.n_cpu_moe", "--n-cpu-moe", &a.n_cpu_moe);
    p.switch(
        "advanced.kv_unified",
        "--kv-unified",
        "--no-kv-unified",
        a.kv_unified,
    );
    p.value("advanced.pooling", "--pooling", &a.pooling);
    p.switch(
        "advanced.context_shift",
        "--context-shift",
        "--no-context-shift",
        a.context_shift,
    );
    p.joined("advanced.rpc_servers", "--rpc", &a.rpc_servers);
    p.each("advanced.override_kv", "--override-kv", &a.override_kv);
    p.value(
        "advanced.reasoning_format",
        "--reasoning-format",
        &a.reasoning_format,
    );
    p.value(
        "advanced.reasoning_budget",
        "--reasoning-budget",
        &a.reasoning_budget,
    );
    p.value(
        "advanced.sleep_idle_seconds",
        "--sleep-idle-seconds",
        &a.sleep_idle_seconds,
    );

    let l = &config.lora;
    p.scaled("lora.lora", "--lora", "--lora-scaled", &l.lora);
    p.scaled(
        "lora.control_vectors",
        "--control-vector",
        "--control-vector-scaled",
        &l.control_vectors,
    );
    p.value("lora.draft_model", "--model-draft", &l.draft_model);
    p.value("lora.draft_max", "--draft-max", &l.draft_max);
    p.value("lora.draft_min", "--draft-min", &l.draft_min);
    p.value("lora.draft_p_min", "--draft-p-min", &l.draft_p_min);
    p.value("lora.draft_ctx_size", "--ctx-size-draft", &l.draft_ctx_size);
    p.value(
        "lora.draft_gpu_layers",
        "--gpu-layers-draft",
        &layers(&l.draft_gpu_layers),
    );
    p.joined("lora.draft_devices", "--device-draft", &l.draft_devices);

    let mm = &config.multimodal;
    match mm.mmproj.as_deref() {
        Some("auto") => p.push("multimodal.mmproj", "--mmproj-auto", vec![]),
        Some(path) => p.push("multimodal.mmproj", "--mmproj", vec![path.to_string()]),
        None => {}
    }
    p.switch(
        "multimodal.mmproj_offload",
        "--mmproj-offload",
        "--no-mmproj-offload",
        mm.mmproj_offload,
    );
    p.value(
        "multimodal.image_min_tokens",
        "--image-min-tokens",
        &mm.image_min_tokens,
    );
    p.value(
        "multimodal.image_max_tokens",
        "--image-max-tokens",
        &mm.image_max_tokens,
    );
    p.args
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
                json!({"flash_attn": "on", "context_shift": true, "extra_args": ["--alias", "my model"]}),
            ),
            group(
                ConfigGroupKind::Lora,
                json!({"lora": [{"path": "/l/a.gguf", "scale": 0.5}, {"path": "/l/b.gguf"}]}),
            ),
            group(
                ConfigGroupKind::Multimodal,
                json!({"mmproj": "auto", "image_max_tokens": 1024}),
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
            "/l/a.gguf",
            "0.5",
            "--lora",
            "/l/b.gguf",
            "--mmproj-auto",
            "--image-max-tokens",
            "1024",
            "--alias",
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
                let Some(value) = field.example_value() else {
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
}
