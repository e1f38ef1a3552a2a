//! Advanced: attention, RoPE/YaRN, MoE, reasoning and extra arguments.

use serde::{Deserialize, Serialize};

use crate::domain::config::extra_args;
use crate::domain::error::{FieldError, Rule};
use crate::domain::fields::{FieldSet, FieldSpec, Flag};

choice_enum! {
    /// Flash attention (`--flash-attn`).
    pub enum FlashAttention {
        On => "on",
        Off => "off",
        Auto => "auto",
    }
}

choice_enum! {
    /// RoPE frequency scaling method.
    pub enum RopeScaling {
        None => "none",
        Linear => "linear",
        Yarn => "yarn",
    }
}

choice_enum! {
    /// Pooling for embedding models.
    pub enum Pooling {
        None => "none",
        Mean => "mean",
        Cls => "cls",
        Last => "last",
        Rank => "rank",
    }
}

choice_enum! {
    /// Where reasoning ("thinking") text goes in responses.
    pub enum ReasoningFormat {
        None => "none",
        Auto => "auto",
        Deepseek => "deepseek",
        DeepseekLegacy => "deepseek-legacy",
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdvancedConfig {
    pub flash_attn: Option<FlashAttention>,
    pub rope_scaling: Option<RopeScaling>,
    pub rope_scale: Option<f64>,
    pub rope_freq_base: Option<f64>,
    pub rope_freq_scale: Option<f64>,
    pub yarn_orig_ctx: Option<i64>,
    pub yarn_ext_factor: Option<f64>,
    pub yarn_attn_factor: Option<f64>,
    pub yarn_beta_slow: Option<f64>,
    pub yarn_beta_fast: Option<f64>,
    pub swa_full: Option<bool>,
    pub override_tensors: Vec<String>,
    pub cpu_moe: Option<bool>,
    pub n_cpu_moe: Option<i64>,
    pub kv_unified: Option<bool>,
    pub pooling: Option<Pooling>,
    pub context_shift: Option<bool>,
    pub rpc_servers: Vec<String>,
    pub override_kv: Vec<String>,
    pub reasoning_format: Option<ReasoningFormat>,
    pub reasoning_budget: Option<i64>,
    pub sleep_idle_seconds: Option<i64>,
    pub extra_args: Vec<String>,
}

impl FieldSet for AdvancedConfig {
    const FIELDS: &'static [FieldSpec] = &[
        FieldSpec::choice("flash_attn", "Flash attention", FlashAttention::NAMES)
            .passed_as("--flash-attn")
            .help("Faster, leaner attention where the backend supports it.")
            .default("auto"),
        FieldSpec::choice("rope_scaling", "RoPE scaling", RopeScaling::NAMES)
            .passed_as("--rope-scaling")
            .help("How positions are stretched to run beyond the trained context.")
            .default("from the model"),
        FieldSpec::float("rope_scale", "RoPE scale", 0.0, 1000.0)
            .passed_as("--rope-scale")
            .help("Context stretch factor (N times the trained context).")
            .default("from the model"),
        FieldSpec::float("rope_freq_base", "RoPE base frequency", 0.0, 1.0e12)
            .passed_as("--rope-freq-base")
            .help("Base frequency used by NTK-aware scaling.")
            .default("from the model"),
        FieldSpec::float("rope_freq_scale", "RoPE frequency scale", 0.0, 1000.0)
            .passed_as("--rope-freq-scale")
            .help("Frequency scaling factor (1/N of rope scale).")
            .default("from the model"),
        FieldSpec::int("yarn_orig_ctx", "YaRN original context", 0, 4_194_304)
            .passed_as("--yarn-orig-ctx")
            .help("The model's original training context for YaRN.")
            .default("from the model"),
        FieldSpec::float("yarn_ext_factor", "YaRN extrapolation mix", -1.0, 100.0)
            .passed_as("--yarn-ext-factor")
            .help("Extrapolation mix factor; -1 takes it from the model, 0 is full interpolation.")
            .default("-1 (from the model)"),
        FieldSpec::float("yarn_attn_factor", "YaRN attention factor", 0.0, 100.0)
            .passed_as("--yarn-attn-factor")
            .help("Scales sqrt(t) / attention magnitude.")
            .default("1.0"),
        FieldSpec::float("yarn_beta_slow", "YaRN beta slow", 0.0, 1000.0)
            .passed_as("--yarn-beta-slow")
            .help("High correction dimension (alpha).")
            .default("1.0"),
        FieldSpec::float("yarn_beta_fast", "YaRN beta fast", 0.0, 1000.0)
            .passed_as("--yarn-beta-fast")
            .help("Low correction dimension (beta).")
            .default("32.0"),
        FieldSpec::toggle("swa_full", "Full-size SWA cache")
            .flag(Flag::Switch {
                on: "--swa-full",
                off: None,
            })
            .help("Keep a full-size cache for sliding-window attention layers.")
            .default("off"),
        FieldSpec::list("override_tensors", "Override tensors", 64)
            .flag(Flag::Each("--override-tensor"))
            .help("Place tensors matching a pattern on a buffer type, one 'pattern=type' per line.")
            .default("none"),
        FieldSpec::toggle("cpu_moe", "All MoE experts on CPU")
            .flag(Flag::Switch {
                on: "--cpu-moe",
                off: None,
            })
            .help("Keep all mixture-of-experts weights in system memory.")
            .default("off"),
        FieldSpec::int("n_cpu_moe", "MoE layers on CPU", 0, 10_000)
            .passed_as("--n-cpu-moe")
            .help("Keep the experts of the first N layers in system memory.")
            .default("0"),
        FieldSpec::toggle("kv_unified", "Unified KV cache")
            .flag(Flag::Switch {
                on: "--kv-unified",
                off: Some("--no-kv-unified"),
            })
            .help("One KV buffer shared by all parallel slots.")
            .default("auto"),
        FieldSpec::choice("pooling", "Pooling", Pooling::NAMES)
            .passed_as("--pooling")
            .help("Pooling type for embedding models.")
            .default("from the model"),
        FieldSpec::toggle("context_shift", "Context shift")
            .flag(Flag::Switch {
                on: "--context-shift",
                off: Some("--no-context-shift"),
            })
            .help("Drop old tokens instead of failing when generation fills the context.")
            .default("off"),
        FieldSpec::list("rpc_servers", "RPC servers", 64)
            .flag(Flag::Joined("--rpc"))
            .help("Remote ggml RPC servers, one host:port per line.")
            .default("none"),
        FieldSpec::list("override_kv", "Override metadata", 64)
            .flag(Flag::Each("--override-kv"))
            .help("Override model metadata, one KEY=TYPE:VALUE per line.")
            .default("none"),
        FieldSpec::choice(
            "reasoning_format",
            "Reasoning format",
            ReasoningFormat::NAMES,
        )
        .passed_as("--reasoning-format")
        .help("Where thinking text goes in chat responses.")
        .default("auto"),
        FieldSpec::int("reasoning_budget", "Reasoning budget", -1, 0)
            .passed_as("--reasoning-budget")
            .help("-1 lets the model think freely; 0 turns thinking off.")
            .default("-1 (unlimited)"),
        FieldSpec::int("sleep_idle_seconds", "Sleep when idle (s)", 0, 31_536_000)
            .passed_as("--sleep-idle-seconds")
            .help("Unload the model after this many idle seconds; 0 never sleeps.")
            .default("never"),
        FieldSpec::list("extra_args", "Extra arguments", 128)
            .help(
                "Further llama-server flags that tune how the model runs, one argument per line \
                 (no shell quoting). Flags that run commands, touch files or change how Corral \
                 reaches the server are refused.",
            )
            .default("none"),
    ];

    fn cross_check(&self) -> Vec<FieldError> {
        let mut errors = extra_args::check(&self.extra_args)
            .err()
            .unwrap_or_default();
        for (i, server) in self.rpc_servers.iter().enumerate() {
            if !is_host_port(server) {
                errors.push(FieldError::new(
                    format!("rpc_servers[{i}]"),
                    Rule::Pattern,
                    "must be host:port, e.g. 192.168.1.20:50052",
                ));
            }
        }
        errors
    }
}

/// `host:port`: a name or address without spaces, commas or a scheme, and a port number.
fn is_host_port(text: &str) -> bool {
    let Some((host, port)) = text.rsplit_once(':') else {
        return false;
    };
    !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
        && port.parse::<u16>().is_ok_and(|p| p > 0)
}
