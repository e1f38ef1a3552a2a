//! The settings page: Corral's own settings (stored, applied at once), the llama-server in use,
//! a backup to download, and Import and Export of models.

pub mod import_export;
pub mod page;
