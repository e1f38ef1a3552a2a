//! What a GGUF file's header says about the model in it: read by the server (never the tensor
//! data), shown by the pages, used by the memory estimate.

use serde::{Deserialize, Serialize};

/// A model file's metadata. Numbers the file does not state are `None`, never guessed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GgufMetadata {
    /// `general.architecture`: `llama`, `qwen3`, `gemma3`... `clip` for a projector.
    pub architecture: String,
    pub name: Option<String>,
    /// `general.size_label`, e.g. `8B`.
    pub size_label: Option<String>,
    /// The sum of every tensor's element count (GGUF has no key for it).
    pub parameters: u64,
    /// `general.file_type`, as its name (`Q4_K_M`) when known.
    pub file_type: Option<String>,
    /// Parameters per tensor type, largest first: the real quantization mix.
    pub tensor_types: Vec<TensorTypeShare>,
    pub context_length: Option<u64>,
    pub layers: Option<u64>,
    pub embedding_length: Option<u64>,
    pub head_count: Option<u64>,
    /// KV heads per layer (one entry per layer when the file gives an array, else one value
    /// for all).
    pub head_count_kv: Vec<u64>,
    pub key_length: Option<u64>,
    pub value_length: Option<u64>,
    pub sliding_window: Option<u64>,
    pub expert_count: Option<u64>,
    pub expert_used_count: Option<u64>,
    pub has_chat_template: bool,
    /// The chat template reads `tools`: the model can be offered tool calls.
    #[serde(default)]
    pub template_tools: bool,
    /// The chat template writes or toggles thinking (`<think>`, `enable_thinking`...).
    #[serde(default)]
    pub template_reasoning: bool,
    /// Entries of `tokenizer.ggml.tokens`.
    pub vocabulary_size: Option<u64>,
    /// For a projector (`clip`): what it projects for (`vision`, `audio`).
    pub projects_for: Vec<String>,
    /// For one part of a split model: (this part, of how many), counted from 1.
    pub split: Option<(u32, u32)>,
    /// Bytes of the file, every part of a split model together (unknown when read from a
    /// stream rather than a file).
    #[serde(default)]
    pub file_bytes: Option<u64>,
}

/// How many parameters are stored in one tensor type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorTypeShare {
    /// `F32`, `Q4_K`, `Q6_K`...
    pub kind: String,
    pub parameters: u64,
}

impl GgufMetadata {
    /// KV heads of layer `layer` (the single value when the file gives one for all).
    pub fn kv_heads(&self, layer: usize) -> Option<u64> {
        match self.head_count_kv.as_slice() {
            [] => self.head_count,
            [all] => Some(*all),
            per_layer => per_layer.get(layer).copied(),
        }
    }

    /// The type most parameters are stored in: what people call the quantization.
    pub fn main_tensor_type(&self) -> Option<&str> {
        self.tensor_types.first().map(|share| share.kind.as_str())
    }

    /// The quantization in words: the file type, and the tensor type most weights have when it
    /// differs (`Q4_K_M (mostly Q4_K)`).
    pub fn quantization(&self) -> String {
        match (&self.file_type, self.main_tensor_type()) {
            (Some(file_type), Some(main)) if file_type != main => {
                format!("{file_type} (mostly {main})")
            }
            (Some(file_type), _) => file_type.clone(),
            (None, Some(main)) => format!("mostly {main}"),
            (None, None) => "unknown".into(),
        }
    }

    /// The table's short form of what the file is.
    pub fn summary(&self, id: i64) -> FileSummary {
        FileSummary {
            id,
            parameters: self.parameters,
            quantization: self
                .file_type
                .clone()
                .or_else(|| self.main_tensor_type().map(str::to_string)),
            context_length: self.context_length,
            capabilities: Vec::new(),
        }
    }
}

/// What the models table shows of a registered model's file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileSummary {
    pub id: i64,
    pub parameters: u64,
    pub quantization: Option<String>,
    /// The training context.
    pub context_length: Option<u64>,
    /// What the model can do with its settings (`domain::capabilities`): `chat`, `vision`,
    /// `tools`...
    #[serde(default)]
    pub capabilities: Vec<String>,
}

impl FileSummary {
    /// `8.0 B · Q4_K_M · 128k context`.
    pub fn line(&self) -> String {
        let mut parts = vec![format_parameters(self.parameters)];
        parts.extend(self.quantization.clone());
        if let Some(context) = self.context_length {
            parts.push(if context >= 1024 && context % 1024 == 0 {
                format!("{}k context", context / 1024)
            } else {
                format!("{context} context")
            });
        }
        parts.join(" · ")
    }
}

/// What Corral could read of a model's file: its metadata, or why not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FileReport {
    Read(Box<GgufMetadata>),
    /// Missing, outside the model folders, unreadable or not GGUF, in words.
    Unreadable(String),
}

impl FileReport {
    /// About how many bytes the report holds (what a cache of many of them adds up to).
    pub fn retained_bytes(&self) -> usize {
        match self {
            FileReport::Unreadable(why) => why.len(),
            FileReport::Read(meta) => {
                let texts = [&meta.name, &meta.size_label, &meta.file_type]
                    .iter()
                    .map(|t| t.as_ref().map_or(0, String::len))
                    .sum::<usize>();
                std::mem::size_of::<GgufMetadata>()
                    + meta.architecture.len()
                    + texts
                    + meta.head_count_kv.len() * 8
                    + meta
                        .tensor_types
                        .iter()
                        .map(|t| t.kind.len() + 32)
                        .sum::<usize>()
                    + meta
                        .projects_for
                        .iter()
                        .map(|p| p.len() + 24)
                        .sum::<usize>()
            }
        }
    }

    /// The report without per-layer arrays, as lists of many files send it (a model's own
    /// page reads the whole header).
    pub fn without_per_layer(mut self) -> FileReport {
        if let FileReport::Read(meta) = &mut self
            && meta.head_count_kv.len() > 1
        {
            meta.head_count_kv.clear();
        }
        self
    }

    /// A projector (`clip`) file: paired with a model, never a model itself.
    pub fn is_projector(&self) -> bool {
        matches!(self, FileReport::Read(meta) if meta.architecture == "clip")
    }
}

/// A parameter count as people say it: `7.6 B`, `135 M`.
pub fn format_parameters(count: u64) -> String {
    let count = count as f64;
    if count >= 1e9 {
        format!("{:.1} B", count / 1e9)
    } else if count >= 1e6 {
        format!("{:.0} M", count / 1e6)
    } else if count >= 1e3 {
        format!("{:.0} K", count / 1e3)
    } else {
        format!("{count}")
    }
}
