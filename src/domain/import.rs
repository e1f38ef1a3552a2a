//! Importing models: from Corral's own export, and (in time) a llama-swap `config.yaml` or a
//! llama.cpp `--models-preset` INI. All or nothing; a dry run answers the same without writing.

use serde::{Deserialize, Serialize};

choice_enum! {
    /// What the imported text is.
    pub enum ImportFormat {
        Corral => "corral",
        LlamaSwap => "llama-swap",
        LlamaPreset => "llama-preset",
    }
}

choice_enum! {
    /// What an imported model whose name is taken does.
    pub enum OnConflict {
        /// Leaves the existing model as it is.
        Skip => "skip",
        /// Imports under a free name (`name-2`).
        Rename => "rename",
        /// Replaces the existing model's settings with the imported ones.
        Replace => "replace",
    }
}

/// What an import did, or a dry run would do, by model name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportReport {
    pub dry_run: bool,
    pub created: Vec<String>,
    pub changed: Vec<String>,
    pub skipped: Vec<String>,
    /// What the text held that has no place in Corral, in words.
    pub not_mapped: Vec<String>,
    /// Virtual models made (llama-swap's selectors).
    #[serde(default)]
    pub virtual_models: Vec<String>,
    /// Run-together groups made (llama-swap's groups).
    #[serde(default)]
    pub run_groups: Vec<String>,
}
