//! The audit trail: who changed which settings, when (one entry per save).

use serde::{Deserialize, Serialize};

use crate::domain::fields::FieldChange;

/// One save of a model's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigChange {
    pub id: i64,
    pub model_id: i64,
    /// `model` for the top-level settings, else the config group's name.
    pub scope: String,
    pub changes: Vec<FieldChange>,
    /// Unix milliseconds.
    pub changed_at: i64,
}

/// Everything the model page shows, in one answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelDetail {
    pub model: crate::domain::Model,
    /// The seven config groups, in `ConfigGroupKind::ALL` order.
    pub groups: Vec<crate::domain::config::ConfigGroup>,
    /// Settings changes, newest first.
    pub history: Vec<ConfigChange>,
}
