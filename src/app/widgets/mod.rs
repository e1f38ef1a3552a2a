//! Building blocks shared by the pages; a page imports these, never another page.

pub mod chart;
pub mod copy_button;
pub mod dialog;
pub mod field_form;
pub mod local_time;
pub mod log_view;
pub mod menu;
pub mod named_dialog;
pub mod run_button;
pub mod status_badge;
pub mod toast;
pub mod unsaved_edits;
