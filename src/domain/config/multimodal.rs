//! Multimodal: the projector that lets a model see images or hear audio.

use serde::{Deserialize, Serialize};

use crate::domain::fields::{FieldSet, FieldSpec, Flag, InputKind};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MultimodalConfig {
    pub mmproj: Option<String>,
    pub mmproj_offload: Option<bool>,
    pub image_min_tokens: Option<i64>,
    pub image_max_tokens: Option<i64>,
}

impl FieldSet for MultimodalConfig {
    const FIELDS: &'static [FieldSpec] = &[
        FieldSpec::new(
            "mmproj",
            "Projector (mmproj)",
            InputKind::Path {
                keywords: &["auto"],
            },
        )
        .flag(Flag::PathOrAuto {
            path: "--mmproj",
            auto: "--mmproj-auto",
        })
        .help("Absolute path of the mmproj .gguf file, or 'auto' to look beside the model.")
        .default("none (text only)"),
        FieldSpec::toggle("mmproj_offload", "Projector on GPU")
            .flag(Flag::Switch {
                on: "--mmproj-offload",
                off: Some("--no-mmproj-offload"),
            })
            .help("Run the projector on the GPU.")
            .default("on"),
        FieldSpec::int("image_min_tokens", "Image tokens (min)", 0, 65_536)
            .passed_as("--image-min-tokens")
            .help("Fewest tokens an image is encoded into (dynamic-resolution models).")
            .default("from the model"),
        FieldSpec::int("image_max_tokens", "Image tokens (max)", 0, 65_536)
            .passed_as("--image-max-tokens")
            .help("Most tokens an image is encoded into (dynamic-resolution models).")
            .default("from the model"),
    ];
}
