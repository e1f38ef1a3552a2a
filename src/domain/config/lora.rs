//! LoRA adapters, control vectors and the draft model for speculative decoding.

use serde::{Deserialize, Serialize};

use crate::domain::config::gpu::{GpuLayers, LayersKeyword, MAX_LAYERS};
use crate::domain::fields::{FieldSet, FieldSpec, Flag, InputKind};

/// A file applied with a strength: a LoRA adapter or a control vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaledPath {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoraConfig {
    pub lora: Vec<ScaledPath>,
    pub control_vectors: Vec<ScaledPath>,
    pub draft_model: Option<String>,
    pub draft_max: Option<i64>,
    pub draft_min: Option<i64>,
    pub draft_p_min: Option<f64>,
    pub draft_ctx_size: Option<i64>,
    pub draft_gpu_layers: Option<GpuLayers>,
    pub draft_devices: Vec<String>,
}

impl FieldSet for LoraConfig {
    const FIELDS: &'static [FieldSpec] = &[
        FieldSpec::new(
            "lora",
            "LoRA adapters",
            InputKind::ScaledPaths { max_items: 32 },
        )
        .flag(Flag::Scaled {
            plain: "--lora",
            scaled: "--lora-scaled",
        })
        .help("One adapter per line: an absolute path, optionally followed by a scale.")
        .default("none"),
        FieldSpec::new(
            "control_vectors",
            "Control vectors",
            InputKind::ScaledPaths { max_items: 32 },
        )
        .flag(Flag::Scaled {
            plain: "--control-vector",
            scaled: "--control-vector-scaled",
        })
        .help("One control vector per line: an absolute path, optionally followed by a scale.")
        .default("none"),
        FieldSpec::path("draft_model", "Draft model")
            .passed_as("--model-draft")
            .help("A small model of the same family that drafts tokens for the main model.")
            .default("none (no speculative decoding)"),
        FieldSpec::int("draft_max", "Draft tokens (max)", 0, 1024)
            .passed_as("--draft-max")
            .help("Most tokens drafted per step.")
            .default("16"),
        FieldSpec::int("draft_min", "Draft tokens (min)", 0, 1024)
            .passed_as("--draft-min")
            .help("Fewest tokens drafted per step.")
            .default("0"),
        FieldSpec::float("draft_p_min", "Draft acceptance probability", 0.0, 1.0)
            .passed_as("--draft-p-min")
            .help("Stop drafting when the draft model is less sure than this.")
            .default("0.75"),
        FieldSpec::int("draft_ctx_size", "Draft context size", 0, 4_194_304)
            .passed_as("--ctx-size-draft")
            .help("Context of the draft model; 0 takes the main model's.")
            .default("0 (same as the model)"),
        FieldSpec::new(
            "draft_gpu_layers",
            "Draft GPU layers",
            InputKind::IntegerOrKeyword {
                min: 0,
                max: MAX_LAYERS,
                keywords: LayersKeyword::NAMES,
            },
        )
        .passed_as("--gpu-layers-draft")
        .help("Layers of the draft model to offload: a number, 'auto' or 'all'.")
        .default("auto"),
        FieldSpec::list("draft_devices", "Draft devices", 64)
            .flag(Flag::Joined("--device-draft"))
            .help("Devices for the draft model, one per line.")
            .default("same as the model"),
    ];
}
