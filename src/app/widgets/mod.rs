//! Small building blocks shared by the pages.

pub mod chart;
pub mod dialog;
pub mod field_form;
pub mod toast;
