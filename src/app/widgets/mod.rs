//! Small building blocks shared by the pages.

pub mod dialog;
pub mod field_form;
pub mod toast;
