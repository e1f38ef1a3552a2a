//! The models page's dialogs, each loaded when first opened: in the release bundle their code
//! (and the field forms they share with other pages) is a chunk of its own rather than part of
//! the first bundle. In other builds these are ordinary async functions (`split_points`).

use leptos::prelude::*;

use crate::app::models::add_dialog::AddModelDialog;
use crate::app::models::delete_dialog::DeleteDialog;
use crate::app::models::duplicate_dialog::DuplicateDialog;
use crate::app::models::state::ModelsPageState;
use crate::app::split_points::split_view;

split_view! {
    pub fn add_model_dialog(state: ModelsPageState) -> AnyView {
        view! { <AddModelDialog state/> }.into_any()
    }
}

split_view! {
    pub fn delete_dialog(state: ModelsPageState) -> AnyView {
        view! { <DeleteDialog state/> }.into_any()
    }
}

split_view! {
    pub fn duplicate_dialog(state: ModelsPageState) -> AnyView {
        view! { <DuplicateDialog state/> }.into_any()
    }
}
