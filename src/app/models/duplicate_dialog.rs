//! Duplicates a model with all its settings under a new name.

use leptos::prelude::*;
use serde_json::{Map, Value};

use crate::api::models::duplicate_model;
use crate::app::models::state::ModelsPageState;
use crate::app::widgets::dialog::Modal;
use crate::app::widgets::field_form::{FieldInputs, FormState};
use crate::app::widgets::toast::use_toasts;
use crate::domain::model::NAME_FIELD;
use crate::domain::{AppError, FieldError};

const FIELDS: &[crate::domain::fields::FieldSpec] = &[NAME_FIELD];

#[component]
pub fn DuplicateDialog(state: ModelsPageState) -> impl IntoView {
    let toasts = use_toasts();
    let form = FormState::new(FIELDS, &Map::new());
    let open = Signal::derive(move || state.duplicating.with(Option::is_some));
    let title = Signal::derive(move || {
        state.duplicating.with(|m| {
            m.as_ref()
                .map(|m| format!("Duplicate {}", m.spec.name))
                .unwrap_or_default()
        })
    });
    let reset = form.clone();
    Effect::new(move |_| {
        if let Some(source) = state.duplicating.get() {
            let mut values = Map::new();
            values.insert(
                "name".into(),
                Value::String(format!("{} (copy)", source.spec.name)),
            );
            reset.reset(&values);
        }
    });
    let save = form.save_action(
        move |value| {
            let source = state.duplicating.get_untracked().map(|m| m.id);
            let name = value["name"].as_str().unwrap_or_default().to_string();
            async move {
                match source {
                    Some(id) => duplicate_model(id, name).await,
                    None => Err(AppError::Invalid { errors: Vec::new() }),
                }
            }
        },
        move |_, copy| {
            state.duplicating.set(None);
            toasts.success(format!("Created {}", copy.spec.name));
            state.reload();
        },
    );
    let submitted = form.clone();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if state.duplicating.with_untracked(Option::is_none) {
            return;
        }
        submitted.submit(save, |value| {
            let errors: Vec<FieldError> = NAME_FIELD.check(&value["name"]);
            if errors.is_empty() {
                Ok(())
            } else {
                Err(AppError::Invalid { errors })
            }
        });
    };
    view! {
        <Modal open on_close=Callback::new(move |()| state.duplicating.set(None)) title id="duplicate-model">
            <form on:submit=on_submit novalidate>
                <p class="muted">"The copy gets every setting of the original and starts stopped."</p>
                <FieldInputs form=form.clone() fields=FIELDS prefix="duplicate"/>
                <div class="dialog-actions">
                    <button type="button" on:click=move |_| state.duplicating.set(None)>"Cancel"</button>
                    <button type="submit" class="primary" disabled=move || save.pending().get()>"Duplicate"</button>
                </div>
            </form>
        </Modal>
    }
}
