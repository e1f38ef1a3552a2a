//! Confirms deleting one model or several.

use std::collections::BTreeSet;

use leptos::prelude::*;

use crate::api::models::{bulk_delete_models, delete_model};
use crate::app::models::state::ModelsPageState;
use crate::app::widgets::dialog::Modal;
use crate::app::widgets::toast::use_toasts;
use crate::domain::Model;

#[component]
pub fn DeleteDialog(state: ModelsPageState) -> impl IntoView {
    let toasts = use_toasts();
    let open = Signal::derive(move || state.deleting.with(|d| !d.is_empty()));
    let title = Signal::derive(move || {
        state.deleting.with(|d| match d.as_slice() {
            [one] => format!("Delete {}?", one.spec.name),
            many => format!("Delete {} models?", many.len()),
        })
    });
    let close = move || state.deleting.set(Vec::new());
    let delete = Action::new(move |targets: &Vec<Model>| {
        let targets = targets.clone();
        let ids: Vec<i64> = targets.iter().map(|m| m.id).collect();
        async move {
            let result = match ids.as_slice() {
                [id] => delete_model(*id).await.map(|()| vec![*id]),
                _ => bulk_delete_models(ids.clone()).await,
            };
            match result {
                Ok(deleted) => {
                    let message = match targets.as_slice() {
                        [one] => format!("Deleted {}", one.spec.name),
                        many => format!("Deleted {} models", many.len()),
                    };
                    toasts.success(message);
                    let deleted: BTreeSet<i64> = deleted.into_iter().collect();
                    state
                        .selected
                        .update(|s| s.retain(|id| !deleted.contains(id)));
                    state.reload();
                }
                Err(error) => toasts.error(format!("Could not delete: {error}")),
            }
            close();
        }
    });
    let confirm = move |_| {
        delete.dispatch(state.deleting.get_untracked());
    };
    view! {
        <Modal open on_close=Callback::new(move |()| close()) title id="delete-model">
            <p>"This removes from Corral:"</p>
            <ul class="name-list">
                {move || state.deleting.get().into_iter().map(|m| view! { <li>{m.spec.name}</li> }).collect_view()}
            </ul>
            <p class="muted">"Their settings and history go too. The GGUF files stay on disk."</p>
            <div class="dialog-actions">
                <button type="button" on:click=move |_| close()>"Cancel"</button>
                <button type="button" class="danger" disabled=move || delete.pending().get() on:click=confirm>"Delete"</button>
            </div>
        </Modal>
    }
}
