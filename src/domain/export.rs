//! Corral's export: every model with its settings, the virtual models and the run-together
//! groups, as one versioned JSON document, so a setup can be kept, moved to another machine,
//! or read by a script.

use serde::{Deserialize, Serialize};

use crate::domain::ModelSpec;
use crate::domain::config::ConfigGroup;
use crate::domain::run_group::RunGroup;
use crate::domain::virtual_model::VirtualModel;

/// What `format` says in every export.
pub const FORMAT: &str = "corral";
/// The export's layout; a later layout gets a higher number and imports read the older ones.
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportDocument {
    pub format: String,
    pub version: u32,
    /// Unix milliseconds.
    pub exported_at: i64,
    pub models: Vec<ExportedModel>,
    /// Names served by one of several models (read back by name after the models).
    #[serde(default)]
    pub virtual_models: Vec<VirtualModel>,
    /// Run-together groups, their members by model name.
    #[serde(default)]
    pub run_groups: Vec<RunGroup>,
}

/// One model: its own settings (name, file, family, run settings) and its seven groups,
/// aliases and serving included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedModel {
    #[serde(flatten)]
    pub spec: ModelSpec,
    pub groups: Vec<ConfigGroup>,
}
