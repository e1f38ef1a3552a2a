//! GPU: devices, offload and splitting.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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
    /// Environment variables the model's process gets: which devices it sees, ggml's own
    /// switches (`CUDA_VISIBLE_DEVICES`, `GGML_*`; see `ENV_ALLOWED`).
    pub env: Map<String, Value>,
}

/// Variables a model's `env` may set: the device lists of CUDA and ROCm, and ggml's own
/// (`GGML_*`). Not `LLAMA_ARG_*` (llama-server reads settings from them, past the extra
/// arguments' review) nor anything else (`LD_PRELOAD`, `PATH`).
pub const ENV_ALLOWED: &[&str] = &[
    "CUDA_VISIBLE_DEVICES",
    "HIP_VISIBLE_DEVICES",
    "ROCR_VISIBLE_DEVICES",
    "GPU_DEVICE_ORDINAL",
];
/// A prefix any of whose variables `env` may set.
pub const ENV_ALLOWED_PREFIX: &str = "GGML_";
/// Most variables, and longest value, one model's `env` has.
pub const MAX_ENV: usize = 32;
pub const MAX_ENV_VALUE: usize = 1024;

/// Why `name` may not be set in a model's environment, if it may not.
pub fn env_refusal(name: &str) -> Option<String> {
    let shaped = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if !shaped {
        Some("a name is capital letters, digits and '_'".into())
    } else if name.starts_with("LLAMA_ARG_") {
        Some(
            "llama-server reads its settings from LLAMA_ARG_* variables; set the setting \
             itself instead"
                .into(),
        )
    } else if name.starts_with(ENV_ALLOWED_PREFIX) && names_a_file(name) {
        Some(
            "names a file or folder for the model server to load (GGML_BACKEND_PATH loads any \
             library): not allowed"
                .into(),
        )
    } else if ENV_ALLOWED.contains(&name) || name.starts_with(ENV_ALLOWED_PREFIX) {
        None
    } else {
        Some(format!(
            "only {} and {ENV_ALLOWED_PREFIX}* may be set",
            ENV_ALLOWED.join(", ")
        ))
    }
}

/// A variable whose name says it holds a path (`GGML_BACKEND_PATH`, `…_DIR`, `…_LIB`): ggml
/// loads what such a variable names, past the model folders and the review of extra
/// arguments.
fn names_a_file(name: &str) -> bool {
    const WORDS: &[&str] = &[
        "PATH",
        "PATHS",
        "DIR",
        "DIRS",
        "DIRECTORY",
        "FILE",
        "FILES",
        "LIB",
        "LIBS",
        "LIBRARY",
        "PLUGIN",
        "PLUGINS",
        "SO",
        "DLL",
        "DYLIB",
    ];
    name.split('_').any(|word| WORDS.contains(&word))
}

impl GpuConfig {
    /// The `env` entries as the process gets them, by name.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        self.env
            .iter()
            .filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_string())))
            .collect()
    }
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
        FieldSpec::json_object("env", "Environment", 8 * 1024)
            .help(
                "Variables the model's process gets, as JSON: {\"CUDA_VISIBLE_DEVICES\": \"0\"}. \
                 Device lists (CUDA_, HIP_, ROCR_VISIBLE_DEVICES) and GGML_* only.",
            )
            .default("none"),
    ];

    fn cross_check(&self) -> Vec<FieldError> {
        let mut errors = check_env(&self.env);
        let bad_split = self.tensor_split.as_deref().is_some_and(|split| {
            split.split(',').any(|part| {
                part.trim()
                    .parse::<f64>()
                    .map_or(true, |n| n.is_nan() || n < 0.0)
            })
        });
        if bad_split {
            errors.push(FieldError::new(
                "tensor_split",
                Rule::Pattern,
                "must be non-negative numbers separated by commas, e.g. 3,1",
            ));
        }
        errors
    }
}

fn check_env(env: &Map<String, Value>) -> Vec<FieldError> {
    if env.len() > MAX_ENV {
        return vec![FieldError::new(
            "env",
            Rule::MaxItems,
            format!("must have at most {MAX_ENV} variables"),
        )];
    }
    let mut errors = Vec::new();
    for (name, value) in env {
        let field = format!("env.{}", crate::domain::text::kept(name));
        if let Some(why) = env_refusal(name) {
            errors.push(FieldError::new(field, Rule::OneOf, why));
            continue;
        }
        match value.as_str() {
            None => errors.push(FieldError::new(field, Rule::Type, "must be text")),
            Some(text) if text.len() > MAX_ENV_VALUE || text.contains(['\0', '\n', '\r']) => {
                errors.push(FieldError::new(
                    field,
                    Rule::Pattern,
                    format!("must be one line of at most {MAX_ENV_VALUE} bytes"),
                ));
            }
            Some(_) => {}
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_models_environment_takes_device_lists_and_ggml_switches_only() {
        let ok = GpuConfig::parse(&json!({"env": {
            "CUDA_VISIBLE_DEVICES": "0,1", "GGML_CUDA_ENABLE_UNIFIED_MEMORY": "1"
        }}))
        .unwrap();
        assert_eq!(ok.env_vars().len(), 2);
        let Err(crate::domain::AppError::Invalid { errors }) = GpuConfig::parse(&json!({"env": {
            "LLAMA_ARG_CTX_SIZE": "9", "LD_PRELOAD": "/x.so", "GGML_A": 1,
            "GGML_BACKEND_PATH": "/tmp/evil.so",
            "HIP_VISIBLE_DEVICES": "0\n1", "lower": "x"
        }})) else {
            panic!("expected field errors");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "env.GGML_A",
                "env.GGML_BACKEND_PATH",
                "env.HIP_VISIBLE_DEVICES",
                "env.LD_PRELOAD",
                "env.LLAMA_ARG_CTX_SIZE",
                "env.lower"
            ]
        );
    }

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
