//! The model page: the model's settings (general and seven config groups) and their history.

pub mod config_section;
pub mod file_section;
pub mod general_section;
pub mod history;
pub mod page;
pub mod run_section;
pub mod shape_preview;
pub mod use_section;
