//! The models page: the registry as a table, with search, filters, sorting, bulk actions and
//! the dialogs to add, duplicate and delete.

pub mod actions_menu;
pub mod add_dialog;
pub mod bulk_bar;
pub mod delete_dialog;
pub mod device_section;
pub mod duplicate_dialog;
pub mod found_section;
pub mod group_section;
pub mod lazy_dialogs;
pub mod page;
pub mod state;
pub mod table;
pub mod virtual_section;
