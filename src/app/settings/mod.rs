//! The settings page: Corral's own settings (stored, applied at once), the llama-server in use,
//! and a backup to download.

pub mod page;
