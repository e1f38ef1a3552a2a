//! GPU: devices, offload and splitting.

use serde::{Deserialize, Serialize};

use crate::domain::error::{FieldError, Rule};
use crate::domain::fields::{FieldSet, FieldSpec, Flag, InputKind};

choice_enum! {
    /// Words `--gpu-layers` accepts besides a count.
    pub enum LayersKeyword {
        Auto => "auto",
        All => "all",
    }
}

/// How many layers go to the GPU: a count, `auto` or `all`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum GpuLayers {
    Count(i64),
    Keyword(LayersKeyword),
}

choice_enum! {
    /// How a model is split across several GPUs.
    pub enum SplitMode {
        None => "none",
        Layer => "layer",
        Row => "row",
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GpuConfig {
    pub devices: Vec<String>,
    pub gpu_layers: Option<GpuLayers>,
    pub split_mode: Option<SplitMode>,
    pub tensor_split: Option<String>,
    pub main_gpu: Option<i64>,
    pub kv_offload: Option<bool>,
    pub repack: Option<bool>,
    pub fit: Option<bool>,
    pub fit_target_mib: Option<i64>,
    pub fit_min_ctx: Option<i64>,
}

pub const MAX_LAYERS: i64 = 10_000;

impl FieldSet for GpuConfig {
    const FIELDS: &'static [FieldSpec] = &[
        FieldSpec::list("devices", "Devices", 64)
            .flag(Flag::Joined("--device"))
            .help("Devices to use, one per line (e.g. CUDA0); 'none' keeps everything on the CPU.")
            .default("all available"),
        FieldSpec::new(
            "gpu_layers",
            "GPU layers",
            InputKind::IntegerOrKeyword {
                min: 0,
                max: MAX_LAYERS,
                keywords: LayersKeyword::NAMES,
            },
        )
        .passed_as("--gpu-layers")
        .help("Layers to offload to the GPU: a number, 'auto' or 'all'.")
        .default("auto"),
        FieldSpec::choice("split_mode", "Split mode", SplitMode::NAMES)
            .passed_as("--split-mode")
            .help("How to split across GPUs: by layer, by row, or not at all.")
            .default("layer"),
        FieldSpec::text("tensor_split", "Tensor split", 256)
            .passed_as("--tensor-split")
            .help("Share of the model per GPU, comma-separated (e.g. 3,1).")
            .default("proportional to free memory"),
        FieldSpec::int("main_gpu", "Main GPU", 0, 63)
            .passed_as("--main-gpu")
            .help(
                "The GPU for the whole model (split none) or for intermediate results (split row).",
            )
            .default("0"),
        FieldSpec::toggle("kv_offload", "KV cache offload")
            .flag(Flag::Switch {
                on: "--kv-offload",
                off: Some("--no-kv-offload"),
            })
            .help("Keep the KV cache on the GPU.")
            .default("on"),
        FieldSpec::toggle("repack", "Weight repacking")
            .flag(Flag::Switch {
                on: "--repack",
                off: Some("--no-repack"),
            })
            .help("Repack weights for faster CPU kernels.")
            .default("on"),
        FieldSpec::toggle("fit", "Fit to memory")
            .flag(Flag::Spelled("--fit", &[("true", "on"), ("false", "off")]))
            .help("Lower settings automatically so the model fits in device memory.")
            .default("on"),
        FieldSpec::int("fit_target_mib", "Fit margin (MiB)", 0, 1_048_576)
            .passed_as("--fit-target")
            .help("Device memory to leave free when fitting.")
            .default("1024"),
        FieldSpec::int("fit_min_ctx", "Fit minimum context", 0, 4_194_304)
            .passed_as("--fit-ctx")
            .help("Fitting never lowers the context below this.")
            .default("4096"),
    ];

    fn cross_check(&self) -> Vec<FieldError> {
        let bad_split = self.tensor_split.as_deref().is_some_and(|split| {
            split.split(',').any(|part| {
                part.trim()
                    .parse::<f64>()
                    .map_or(true, |n| n.is_nan() || n < 0.0)
            })
        });
        if bad_split {
            vec![FieldError::new(
                "tensor_split",
                Rule::Pattern,
                "must be non-negative numbers separated by commas, e.g. 3,1",
            )]
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn gpu_layers_take_a_count_or_a_keyword() {
        let all = GpuConfig::parse(&json!({"gpu_layers": "all"})).unwrap();
        assert_eq!(all.gpu_layers, Some(GpuLayers::Keyword(LayersKeyword::All)));
        let some = GpuConfig::parse(&json!({"gpu_layers": 20})).unwrap();
        assert_eq!(some.gpu_layers, Some(GpuLayers::Count(20)));
        assert!(GpuConfig::parse(&json!({"gpu_layers": "most"})).is_err());
        assert!(GpuConfig::parse(&json!({"gpu_layers": -3})).is_err());
    }

    #[test]
    fn a_tensor_split_must_be_numbers() {
        assert!(GpuConfig::parse(&json!({"tensor_split": "3,1"})).is_ok());
        assert!(GpuConfig::parse(&json!({"tensor_split": "3,x"})).is_err());
    }
}
